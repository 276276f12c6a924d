/**
 * in_forward with `<transport tls>` against the real daemon, with a certificate made by the openssl
 * CLI for the test: raw TLS client with ack, npm fluent-logger with `tls`, version pinning.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeAll, encode } from '../../src/protocol/msgpack.js';
import { waitFor } from '../helpers/wait.js';
import { type ForwardDaemon, startForward, stdoutTime } from './forward-util.js';

const require = createRequire(import.meta.url);
const fluentLogger = require('fluent-logger') as {
  createFluentSender(prefix: string, opts: Record<string, unknown>): {
    emit(label: string, data: object, time?: unknown, cb?: (err?: Error) => void): void;
    end(): void;
    on(ev: string, cb: (e: Error) => void): void;
  };
};

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
const T = 1_750_000_000;
let dir = '';
let fwd: ForwardDaemon | null = null;
const sockets: TLSSocket[] = [];

beforeAll(() => {
  if (!hasOpenssl) return;
  dir = mkdtempSync(join(tmpdir(), 'logferry-tls-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await fwd?.daemon.stop();
  fwd = null;
});

function transport(extra = ''): string {
  return `  <transport tls>\n    cert_path ${join(dir, 'cert.pem')}\n    private_key_path ${join(dir, 'key.pem')}\n${extra}  </transport>`;
}

function tlsConnect(opts: Record<string, unknown> = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: fwd!.port, ca: readFileSync(join(dir, 'cert.pem')), servername: 'localhost', ...opts }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

describe.runIf(hasOpenssl)('<transport tls>', () => {
  it('accepts a TLS client and acks over TLS (TLS 1.2 by default)', async () => {
    fwd = await startForward(transport());
    await fwd.daemon.waitForOutput('transport="tls"');
    const s = await tlsConnect();
    expect(s.getProtocol()).toBe('TLSv1.2');
    let received = Buffer.alloc(0);
    s.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    s.write(encode(['tls.msg', T, { secure: 1 }, { chunk: 't1' }]));
    await waitFor(() => received.length > 0, 10000, 'the ack');
    expect(decodeAll(received)).toEqual([{ ack: 't1' }]);
    expect(await fwd.daemon.waitForEvents(1)).toEqual([{ tag: 'tls.msg', time: stdoutTime(T), record: { secure: 1 } }]);
  });

  it('refuses a client that only speaks TLS 1.3 when version pins TLS 1.2', async () => {
    fwd = await startForward(transport());
    await expect(tlsConnect({ minVersion: 'TLSv1.3' })).rejects.toThrow();
    await fwd.daemon.waitForOutput('TLS handshake failed');
  });

  it('min_version/max_version override version; npm fluent-logger connects with tls', async () => {
    fwd = await startForward(transport('    min_version TLSv1_2\n    max_version TLSv1_3\n'));
    const s = fluentLogger.createFluentSender('npmtls', {
      host: '127.0.0.1', port: fwd.port, tls: true, requireAckResponse: true, timeout: 3.0,
      tlsOptions: { ca: readFileSync(join(dir, 'cert.pem')), servername: 'localhost' },
    });
    s.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => s.emit('x', { over: 'tls' }, T, (err) => (err ? reject(err) : resolve())));
    } finally {
      s.end();
    }
    expect(await fwd.daemon.waitForEvents(1)).toEqual([{ tag: 'npmtls.x', time: stdoutTime(T), record: { over: 'tls' } }]);
    const raw = await tlsConnect();
    expect(raw.getProtocol()).toBe('TLSv1.3');
  });
});
