import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ClientHandshake, HandshakeError, type ServerSecurity, ServerAuth, normalizeAddress, parseHelo, parseNetwork,
} from '../../../src/protocol/handshake.js';
import { decode, encode } from '../../../src/protocol/msgpack.js';

/** SHA-512 hex computed here, independently of the code under test. */
function sha(...parts: Array<string | Buffer>): string {
  const h = createHash('sha512');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
  return h.digest('hex');
}

function security(over: Partial<ServerSecurity> = {}): ServerSecurity {
  return { self_hostname: 'server.local', shared_key: 'secret', user_auth: false, allow_anonymous_source: true, user: [], client: [], ...over };
}

async function session(over: Partial<ServerSecurity> = {}) {
  const auth = await ServerAuth.create(security(over));
  const s = auth.session(true);
  const helo = decode(s.helo()) as [string, { nonce: Uint8Array; auth: Uint8Array; keepalive: boolean }];
  return { s, helo };
}

describe('server handshake', () => {
  it('sends HELO with 16-byte binary nonce and auth salt', async () => {
    const { s, helo } = await session();
    expect(helo[0]).toBe('HELO');
    expect(Buffer.from(helo[1].nonce)).toEqual(s.nonce);
    expect(helo[1].nonce).toHaveLength(16);
    expect(helo[1].auth).toHaveLength(16);
    expect(helo[1].keepalive).toBe(true);
    expect(s.helo()[1 + 5 + 1 + 6]).toBe(0xc4); // fixarray, "HELO", fixmap, "nonce" → bin8
  });

  it('accepts a PING with the right key and signs the PONG', async () => {
    const { s } = await session();
    const salt = 'a'.repeat(32);
    const ping = ['PING', 'client.local', salt, sha(salt, 'client.local', s.nonce, 'secret'), '', ''];
    const r = s.checkPing(ping, '127.0.0.1');
    expect(r.ok).toBe(true);
    expect(decode(r.pong)).toEqual(['PONG', true, '', 'server.local', sha(salt, 'server.local', s.nonce, 'secret')]);
  });

  it('hashes binary salts as raw bytes', async () => {
    const { s } = await session();
    const salt = Buffer.from([0, 255, 1, 254]);
    const r = s.checkPing(['PING', 'c', salt, sha(salt, 'c', s.nonce, 'secret'), '', ''], '10.0.0.1');
    expect(r.ok).toBe(true);
  });

  it('refuses a wrong key, a malformed PING and anonymous sources in order', async () => {
    const { s } = await session();
    const bad = s.checkPing(['PING', 'c', 'salt', sha('salt', 'c', s.nonce, 'wrong'), '', ''], '127.0.0.1');
    expect(bad).toMatchObject({ ok: false, reason: 'shared_key mismatch' });
    expect(decode(bad.pong)).toEqual(['PONG', false, 'shared_key mismatch', '', '']);
    expect(s.checkPing(['PING', 'c', 'salt', 'x', ''], '127.0.0.1').reason).toBe('invalid ping message');
    expect(s.checkPing({ PING: 1 }, '127.0.0.1').reason).toBe('invalid ping message');
    const { s: s2 } = await session({ allow_anonymous_source: false, client: [{ host: null, network: '10.0.0.0/8', shared_key: null, users: [] }] });
    const ping = (key: string) => ['PING', 'c', 'salt', sha('salt', 'c', s2.nonce, key), '', ''];
    expect(s2.checkPing(ping('secret'), '192.168.1.1').reason).toBe("anonymous source host '192.168.1.1' denied");
    expect(s2.checkPing(ping('secret'), '::ffff:10.1.2.3').ok).toBe(true);
  });

  it('uses the shared key of the matching <client>', async () => {
    const { s } = await session({
      client: [
        { host: '127.0.0.1', network: null, shared_key: 'loopback-key', users: [] },
        { host: null, network: 'fd00::/8', shared_key: null, users: [] },
      ],
    });
    const ping = (key: string) => ['PING', 'c', 'salt', sha('salt', 'c', s.nonce, key), '', ''];
    expect(s.checkPing(ping('loopback-key'), '127.0.0.1').ok).toBe(true);
    expect(s.checkPing(ping('secret'), '127.0.0.1').reason).toBe('shared_key mismatch');
    expect(s.checkPing(ping('secret'), 'fd00::1').ok).toBe(true);
    expect(decode(s.checkPing(ping('loopback-key'), '127.0.0.1').pong)).toEqual(['PONG', true, '', 'server.local', sha('salt', 'server.local', s.nonce, 'loopback-key')]);
  });

  it('checks users with the auth salt, restricted by <client> users', async () => {
    const users = [{ username: 'alice', password: 'pw1' }, { username: 'bob', password: 'pw2' }];
    const { s } = await session({ user_auth: true, user: users, client: [{ host: null, network: '10.0.0.0/8', shared_key: null, users: ['alice'] }] });
    const ping = (u: string, pw: string) => ['PING', 'c', 'salt', sha('salt', 'c', s.nonce, 'secret'), u, sha(s.auth, u, pw)];
    expect(s.checkPing(ping('alice', 'pw1'), '127.0.0.1').ok).toBe(true);
    expect(s.checkPing(ping('bob', 'pw2'), '127.0.0.1').ok).toBe(true);
    expect(s.checkPing(ping('bob', 'pw1'), '127.0.0.1').reason).toBe('username/password mismatch');
    expect(s.checkPing(ping('bob', 'pw2'), '10.0.0.5').reason).toBe('username/password mismatch');
    expect(s.checkPing(ping('alice', 'pw1'), '10.0.0.5').ok).toBe(true);
  });

  it('rejects an unresolvable <client> host at creation', async () => {
    await expect(ServerAuth.create(security({ client: [{ host: 'no-such-host.invalid', network: null, shared_key: null, users: [] }] }))).rejects.toThrow();
  });
});

describe('client handshake', () => {
  it('builds PING from HELO and verifies the PONG of a real server session', async () => {
    const { s, helo } = await session({ user_auth: true, user: [{ username: 'u', password: 'p' }] });
    const client = new ClientHandshake({ selfHostname: 'client.local', sharedKey: 'secret', username: 'u', password: 'p' }, 'f'.repeat(32));
    const h = parseHelo(helo);
    const ping = decode(client.ping(h)) as unknown[];
    expect(ping).toEqual(['PING', 'client.local', 'f'.repeat(32), sha('f'.repeat(32), 'client.local', s.nonce, 'secret'), 'u', sha(s.auth, 'u', 'p')]);
    const r = s.checkPing(ping, '127.0.0.1');
    expect(r.ok).toBe(true);
    expect(client.verifyPong(decode(r.pong), h)).toBe('server.local');
  });

  it('sends an empty password digest when HELO has no auth salt', () => {
    const client = new ClientHandshake({ selfHostname: 'c', sharedKey: 'k' });
    expect(client.salt).toMatch(/^[0-9a-f]{32}$/);
    const h = parseHelo(['HELO', { nonce: Buffer.alloc(16, 7), auth: '', keepalive: false }]);
    expect(h.keepalive).toBe(false);
    const ping = decode(client.ping(h)) as unknown[];
    expect(ping[4]).toBe('');
    expect(ping[5]).toBe('');
  });

  it('fails on a refused, malformed, same-host or wrongly signed PONG', () => {
    const client = new ClientHandshake({ selfHostname: 'c', sharedKey: 'k' }, 'salt');
    const h = parseHelo(['HELO', { nonce: Buffer.alloc(16, 1), auth: Buffer.alloc(0), keepalive: true }]);
    expect(() => client.verifyPong(['PONG', false, 'shared_key mismatch', '', ''], h)).toThrow('authentication failed: shared_key mismatch');
    expect(() => client.verifyPong(['PONG', true, ''], h)).toThrow('invalid format for PONG message');
    expect(() => client.verifyPong(['PONG', true, '', 'c', sha('salt', 'c', h.nonce, 'k')], h)).toThrow(/same hostname/);
    expect(() => client.verifyPong(['PONG', true, '', 's', sha('salt', 's', h.nonce, 'other')], h)).toThrow(HandshakeError);
    expect(client.verifyPong(['PONG', true, '', 's', sha('salt', 's', h.nonce, 'k')], h)).toBe('s');
    expect(() => parseHelo(['PONG'])).toThrow(HandshakeError);
    expect(() => parseHelo(encode('x'))).toThrow(HandshakeError);
  });
});

describe('address helpers', () => {
  it('parses networks and normalises mapped addresses', () => {
    expect(parseNetwork('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseNetwork('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    expect(parseNetwork('10.0.0.0/33')).toBeNull();
    expect(parseNetwork('host.example/8')).toBeNull();
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('::1')).toBe('::1');
  });
});
