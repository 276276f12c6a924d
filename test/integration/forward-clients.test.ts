/**
 * in_forward against real client libraries: npm fluent-logger in its three event modes with and
 * without acks, and Debian's python3-fluent-logger. Events are read back from the daemon's stdout.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { type ForwardDaemon, startForward, stdoutTime } from './forward-util.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fluentLogger = require('fluent-logger') as {
  createFluentSender(prefix: string, opts: Record<string, unknown>): Sender;
  EventTime: new (sec: number, nsec: number) => unknown;
};
interface Sender {
  emit(label: string, data: object, time?: unknown, cb?: (err?: Error) => void): void;
  end(label?: string, data?: object, cb?: () => void): void;
  on(ev: string, cb: (e: Error) => void): void;
}

const PYTHON = '/usr/bin/python3';
const hasPythonLogger = spawnSync(PYTHON, ['-c', 'from fluent import sender'], { stdio: 'ignore' }).status === 0;

let fwd: ForwardDaemon | null = null;
const senders: Sender[] = [];

afterEach(async () => {
  for (const s of senders.splice(0)) s.end();
  await fwd?.daemon.stop();
  fwd = null;
});

function sender(prefix: string, opts: Record<string, unknown>): Sender {
  const s = fluentLogger.createFluentSender(prefix, { host: '127.0.0.1', port: fwd!.port, timeout: 3.0, reconnectInterval: 600000, ...opts });
  s.on('error', () => { /* asserted through callbacks and stdout */ });
  senders.push(s);
  return s;
}

function emitAcked(s: Sender, label: string, data: object, time?: unknown): Promise<void> {
  return new Promise((resolve, reject) => s.emit(label, data, time, (err) => (err ? reject(err) : resolve())));
}

describe('npm fluent-logger', () => {
  const T = 1_750_000_000;
  for (const eventMode of ['Message', 'PackedForward', 'CompressedPackedForward'] as const) {
    for (const requireAckResponse of [false, true]) {
      it(`${eventMode} mode ${requireAckResponse ? 'with' : 'without'} requireAckResponse reaches stdout`, async () => {
        fwd = await startForward();
        const s = sender('npm', { eventMode, requireAckResponse, flushInterval: 20 });
        const sent = [
          emitAcked(s, 'int', { n: 1, mode: eventMode }, T),
          emitAcked(s, 'evt', { n: 2, nested: { a: [1, 'two'] } }, new fluentLogger.EventTime(T + 1, 987654321)),
          emitAcked(s, 'int', { n: 3, text: 'ünïcødé' }, T + 2),
        ];
        if (requireAckResponse) await Promise.all(sent); // resolved only once the server acked
        const events = await fwd.daemon.waitForEvents(3);
        const byN = new Map(events.map((e) => [e.record.n, e]));
        expect(byN.get(1)).toEqual({ tag: 'npm.int', time: stdoutTime(T), record: { n: 1, mode: eventMode } });
        expect(byN.get(2)).toEqual({ tag: 'npm.evt', time: stdoutTime(T + 1, 987654321), record: { n: 2, nested: { a: [1, 'two'] } } });
        expect(byN.get(3)).toEqual({ tag: 'npm.int', time: stdoutTime(T + 2), record: { n: 3, text: 'ünïcødé' } });
        if (!requireAckResponse) await Promise.all(sent);
      });
    }
  }

  it('sends many events over one connection in PackedForward mode without losing any', async () => {
    fwd = await startForward();
    const s = sender('bulk', { eventMode: 'PackedForward', requireAckResponse: true, flushInterval: 10 });
    const sent: Array<Promise<void>> = [];
    for (let i = 0; i < 2000; i++) sent.push(emitAcked(s, 'x', { i, pad: 'p'.repeat(100) }, T));
    await Promise.all(sent);
    const events = await fwd.daemon.waitForEvents(2000, 20000);
    expect(new Set(events.map((e) => e.record.i)).size).toBe(2000);
  });
});

describe.runIf(hasPythonLogger)('python3 fluent-logger (Debian)', () => {
  function runPython(code: string): { status: number | null; stdout: string; stderr: string } {
    const dir = mkdtempSync(join(tmpdir(), 'logferry-py-'));
    const file = join(dir, 'send.py');
    writeFileSync(file, code);
    const r = spawnSync(PYTHON, [file], { encoding: 'utf8', timeout: 20000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('sends integer-second events', async () => {
    fwd = await startForward();
    const r = runPython(`
from fluent import sender
s = sender.FluentSender('py', host='127.0.0.1', port=${fwd.port})
ok = s.emit_with_time('app', 1750000000, {'k': 'v', 'n': 1})
ok = ok and s.emit_with_time('app', 1750000001, {'k': 'w', 'n': 2})
print('OK' if ok else 'FAIL %r' % s.last_error)
s.close()
`);
    expect(r.stdout.trim(), r.stderr).toBe('OK');
    const events = await fwd.daemon.waitForEvents(2);
    expect(events).toEqual([
      { tag: 'py.app', time: stdoutTime(1_750_000_000), record: { k: 'v', n: 1 } },
      { tag: 'py.app', time: stdoutTime(1_750_000_001), record: { k: 'w', n: 2 } },
    ]);
  });

  it('sends EventTime with nanosecond_precision=True', async () => {
    fwd = await startForward();
    const r = runPython(`
from fluent import sender
s = sender.FluentSender('py', host='127.0.0.1', port=${fwd.port}, nanosecond_precision=True)
ok = s.emit_with_time('ns', 1750000000.5, {'precise': True})
print('OK' if ok else 'FAIL %r' % s.last_error)
s.close()
`);
    expect(r.stdout.trim(), r.stderr).toBe('OK');
    const [e] = await fwd.daemon.waitForEvents(1);
    expect(e).toEqual({ tag: 'py.ns', time: stdoutTime(1_750_000_000, 500_000_000), record: { precise: true } });
  });
});
