/**
 * in_forward with <security> against the real daemon: the HELO/PING/PONG handshake over raw
 * sockets (right key, wrong key, users, <client> restrictions) and npm fluent-logger's handshake.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientHandshake, parseHelo } from '../../src/protocol/handshake.js';
import { decode, encode } from '../../src/protocol/msgpack.js';
import { type ForwardDaemon, RawClient, startForward, stdoutTime } from './forward-util.js';

const require = createRequire(import.meta.url);
const fluentLogger = require('fluent-logger') as {
  createFluentSender(prefix: string, opts: Record<string, unknown>): {
    emit(label: string, data: object, time?: unknown, cb?: (err?: Error) => void): void;
    end(): void;
    on(ev: string, cb: (e: Error) => void): void;
  };
};

const T = 1_750_000_000;
let fwd: ForwardDaemon | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await fwd?.daemon.stop();
  fwd = null;
});

const SECURITY = `
  <security>
    self_hostname server.test
    shared_key s3cret
  </security>`;

async function client(): Promise<RawClient> {
  const c = await RawClient.open(fwd!.port);
  clients.push(c);
  return c;
}

/** Reads HELO, sends PING, returns the decoded PONG (and the client state to verify it). */
async function handshake(c: RawClient, creds: { sharedKey: string; username?: string; password?: string }) {
  const [heloMsg] = await c.waitForValues(1);
  const helo = parseHelo(heloMsg);
  const hs = new ClientHandshake({ selfHostname: 'client.test', ...creds });
  await c.write(hs.ping(helo));
  const values = await c.waitForValues(2);
  return { pong: values[1] as unknown[], hs, helo };
}

describe('shared-key handshake', () => {
  it('accepts the right key: PONG verifies, then events flow and are acked', async () => {
    fwd = await startForward(SECURITY);
    const c = await client();
    const { pong, hs, helo } = await handshake(c, { sharedKey: 's3cret' });
    expect(pong.slice(0, 4)).toEqual(['PONG', true, '', 'server.test']);
    expect(hs.verifyPong(pong, helo)).toBe('server.test');
    expect(helo.nonce).toHaveLength(16);
    await c.write(encode(['sec.ok', T, { a: 1 }, { chunk: 'c1' }]));
    expect((await c.waitForValues(3))[2]).toEqual({ ack: 'c1' });
    expect(await fwd.daemon.waitForEvents(1)).toEqual([{ tag: 'sec.ok', time: stdoutTime(T), record: { a: 1 } }]);
  });

  it('refuses a wrong key with PONG false and a reason, then closes', async () => {
    fwd = await startForward(SECURITY);
    const c = await client();
    const { pong } = await handshake(c, { sharedKey: 'wrong' });
    expect(pong).toEqual(['PONG', false, 'shared_key mismatch', '', '']);
    await c.waitClosed();
    await fwd.daemon.waitForOutput(/handshake failed, closing connection peer="127\.0\.0\.1:\d+" reason="shared_key mismatch"/);
  });

  it('does not accept events before the handshake', async () => {
    fwd = await startForward(SECURITY);
    const c = await client();
    await c.waitForValues(1);
    await c.write(encode(['sneaky', T, { a: 1 }, { chunk: 'x' }]));
    await c.waitClosed();
    expect((c.values()[1] as unknown[]).slice(0, 3)).toEqual(['PONG', false, 'invalid ping message']);
    expect(fwd.daemon.events()).toEqual([]);
  });

  it('checks users with user_auth', async () => {
    fwd = await startForward(`
  <security>
    self_hostname server.test
    shared_key s3cret
    user_auth true
    <user>
      username alice
      password wonderland
    </user>
  </security>`);
    const good = await client();
    const ok = await handshake(good, { sharedKey: 's3cret', username: 'alice', password: 'wonderland' });
    expect(ok.pong[1]).toBe(true);
    const bad = await client();
    const refused = await handshake(bad, { sharedKey: 's3cret', username: 'alice', password: 'nope' });
    expect(refused.pong).toEqual(['PONG', false, 'username/password mismatch', '', '']);
    await bad.waitClosed();
  });

  it('uses the <client> shared key and refuses anonymous sources when asked to', async () => {
    fwd = await startForward(`
  <security>
    self_hostname server.test
    shared_key default-key
    allow_anonymous_source false
    <client>
      network 127.0.0.0/8
      shared_key loopback-key
    </client>
  </security>`);
    const c = await client();
    const { pong } = await handshake(c, { sharedKey: 'default-key' });
    expect(pong[2]).toBe('shared_key mismatch');
    const c2 = await client();
    expect((await handshake(c2, { sharedKey: 'loopback-key' })).pong[1]).toBe(true);
  });

  it('npm fluent-logger completes the handshake with its security option', async () => {
    fwd = await startForward(SECURITY);
    const s = fluentLogger.createFluentSender('npmsec', {
      host: '127.0.0.1', port: fwd.port, requireAckResponse: true, timeout: 3.0,
      security: { clientHostname: 'client.test', sharedKey: 's3cret', username: '', password: '' },
    });
    s.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => s.emit('x', { secure: true }, T, (err) => (err ? reject(err) : resolve())));
      expect(await fwd.daemon.waitForEvents(1)).toEqual([{ tag: 'npmsec.x', time: stdoutTime(T), record: { secure: true } }]);
    } finally {
      s.end();
    }
  });

  it('HELO is msgpack with binary nonce and auth', async () => {
    fwd = await startForward(SECURITY);
    const c = await client();
    await c.waitForValues(1);
    const helo = decode(c.received) as [string, Record<string, unknown>];
    expect(helo[0]).toBe('HELO');
    expect(helo[1].nonce).toBeInstanceOf(Uint8Array);
    expect(helo[1].auth).toBeInstanceOf(Uint8Array);
    expect(helo[1].keepalive).toBe(true);
  });
});
