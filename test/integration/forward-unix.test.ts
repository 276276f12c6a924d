/**
 * in_unix against the real daemon: the forward protocol over a unix socket, with acks, from a raw
 * socket, npm fluent-logger (`path`) and python fluent-logger (`unix://`).
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient, stdoutTime } from './forward-util.js';

const require = createRequire(import.meta.url);
const fluentLogger = require('fluent-logger') as {
  createFluentSender(prefix: string, opts: Record<string, unknown>): {
    emit(label: string, data: object, time?: unknown, cb?: (err?: Error) => void): void;
    end(): void;
    on(ev: string, cb: (e: Error) => void): void;
  };
};
const PYTHON = '/usr/bin/python3';
const hasPythonLogger = spawnSync(PYTHON, ['-c', 'from fluent import sender'], { stdio: 'ignore' }).status === 0;
const T = 1_750_000_000;

let daemon: Daemon | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await daemon?.stop();
  daemon = null;
});

async function start(extra = ''): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'logferry-unix-')), 'sub', 'fluent.sock');
  daemon = await startDaemon(`
<source>
  @type unix
  path ${path}
${extra}
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type stdout
</match>
`, { env: { TZ: 'UTC' } });
  await daemon.waitForOutput('listening fluent socket');
  return path;
}

describe('in_unix', () => {
  it('accepts Message and Forward requests and acks them', async () => {
    const path = await start();
    const c = await RawClient.open(path);
    clients.push(c);
    await c.write(encode(['unix.msg', T, { a: 1 }, { chunk: 'u1' }]));
    await c.write(encode(['unix.fw', [[T, { b: 2 }]], { chunk: 'u2' }]));
    expect(await c.waitForValues(2)).toEqual([{ ack: 'u1' }, { ack: 'u2' }]);
    expect(await daemon!.waitForEvents(2)).toEqual([
      { tag: 'unix.msg', time: stdoutTime(T), record: { a: 1 } },
      { tag: 'unix.fw', time: stdoutTime(T), record: { b: 2 } },
    ]);
  });

  it('works with npm fluent-logger over `path` and removes the socket file on stop', async () => {
    const path = await start('  add_tag_prefix via');
    const s = fluentLogger.createFluentSender('npm', { path, requireAckResponse: true, timeout: 3.0 });
    s.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => s.emit('u', { over: 'unix' }, T, (err) => (err ? reject(err) : resolve())));
    } finally {
      s.end();
    }
    expect(await daemon!.waitForEvents(1)).toEqual([{ tag: 'via.npm.u', time: stdoutTime(T), record: { over: 'unix' } }]);
    await daemon!.stop();
    daemon = null;
    await waitFor(() => !existsSync(path), 5000, 'the socket file to be removed');
  });

  it.runIf(hasPythonLogger)('works with python fluent-logger over unix://', async () => {
    const path = await start();
    const file = join(mkdtempSync(join(tmpdir(), 'logferry-py-')), 'send.py');
    writeFileSync(file, `
from fluent import sender
s = sender.FluentSender('py', host='unix://${path}', nanosecond_precision=True)
ok = s.emit_with_time('sock', 1750000000.25, {'x': 1})
print('OK' if ok else 'FAIL %r' % s.last_error)
s.close()
`);
    const r = spawnSync(PYTHON, [file], { encoding: 'utf8', timeout: 20000 });
    expect(r.stdout.trim(), r.stderr).toBe('OK');
    expect(await daemon!.waitForEvents(1)).toEqual([{ tag: 'py.sock', time: stdoutTime(T, 250_000_000), record: { x: 1 } }]);
  });
});
