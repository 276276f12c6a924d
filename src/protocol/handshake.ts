/**
 * The forward protocol's authentication phase (spec §2): HELO → PING → PONG. The server side builds
 * HELO, verifies PING in Fluentd's order and answers PONG; the client side (out_forward, tests)
 * builds PING from a HELO and verifies PONG. No sockets here: callers move the bytes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ProtocolError } from '../core/errors.js';
import { encode } from './msgpack.js';

/** The handshake failed (bad message, wrong key, refused credentials). */
export class HandshakeError extends ProtocolError {}

type Bytes = string | Uint8Array;

function toBytes(v: Bytes): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Lowercase hex SHA-512 over the raw byte concatenation of `parts` (strings as UTF-8). */
export function sha512Hex(...parts: Bytes[]): string {
  const h = createHash('sha512');
  for (const part of parts) h.update(toBytes(part));
  return h.digest('hex');
}

function isBytes(v: unknown): v is Bytes {
  return typeof v === 'string' || v instanceof Uint8Array;
}

function sameDigest(expected: string, got: unknown): boolean {
  if (!isBytes(got)) return false;
  const a = Buffer.from(expected, 'latin1');
  const b = toBytes(got);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`) are matched as IPv4. */
export function normalizeAddress(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Parses `addr` or `addr/prefix`; null when it is not an IP network. */
export function parseNetwork(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const v = isIP(address);
  if (v === 0 || extra !== undefined) return null;
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d+$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > max) return null;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

// ---------------------------------------------------------------------------------------------
// Server side

export interface SecurityUser { readonly username: string; readonly password: string }
export interface SecurityClient {
  readonly host: string | null;
  readonly network: string | null;
  readonly shared_key: string | null;
  readonly users: readonly string[];
}
/** The `<security>` section of in_forward, as resolved by its schema. */
export interface ServerSecurity {
  readonly self_hostname: string;
  readonly shared_key: string;
  readonly user_auth: boolean;
  readonly allow_anonymous_source: boolean;
  readonly user: readonly SecurityUser[];
  readonly client: readonly SecurityClient[];
}

interface AuthNode {
  readonly matcher: BlockList;
  readonly sharedKey: string;
  readonly users: readonly string[];
}

/** The verified `<security>` settings of a server, shared by all its connections. */
export class ServerAuth {
  private constructor(private readonly sec: ServerSecurity, private readonly nodes: readonly AuthNode[]) {}

  /** Resolves `<client> host` names (all their addresses); an unresolvable host rejects. */
  static async create(sec: ServerSecurity): Promise<ServerAuth> {
    const nodes: AuthNode[] = [];
    for (const client of sec.client) {
      const matcher = new BlockList();
      if (client.network !== null) {
        const net = parseNetwork(client.network);
        if (net === null) throw new Error(`<client> network '${client.network}' is not an IP network`);
        matcher.addSubnet(net.address, net.prefix, net.family);
      } else if (client.host !== null) {
        const addrs = isIP(client.host) ? [{ address: client.host, family: isIP(client.host) }] : await lookup(client.host, { all: true });
        for (const a of addrs) matcher.addAddress(normalizeAddress(a.address), a.family === 6 ? 'ipv6' : 'ipv4');
      }
      nodes.push({ matcher, sharedKey: client.shared_key ?? sec.shared_key, users: client.users });
    }
    return new ServerAuth(sec, nodes);
  }

  /** Starts the handshake of one connection (fresh nonce and auth salt). */
  session(keepalive: boolean): ServerHandshake {
    return new ServerHandshake(this.sec, this.nodes, keepalive);
  }
}

export interface PingResult {
  ok: boolean;
  /** Why the client was refused ('' on success). */
  reason: string;
  /** The PONG to send (either way). */
  pong: Buffer;
}

export class ServerHandshake {
  readonly nonce: Buffer = randomBytes(16);
  readonly auth: Buffer = randomBytes(16);

  constructor(
    private readonly sec: ServerSecurity,
    private readonly nodes: readonly AuthNode[],
    private readonly keepalive: boolean,
  ) {}

  helo(): Buffer {
    return encode(['HELO', { nonce: this.nonce, auth: this.auth, keepalive: this.keepalive }]);
  }

  /** Verifies a decoded PING from `peerAddress` in the order of spec §2.2. */
  checkPing(msg: unknown, peerAddress: string): PingResult {
    const fail = (reason: string): PingResult => ({ ok: false, reason, pong: encode(['PONG', false, reason, '', '']) });
    if (!Array.isArray(msg) || msg.length !== 6 || msg[0] !== 'PING') return fail('invalid ping message');
    const [, hostname, salt, digest, username, passDigest] = msg as unknown[];
    if (!isBytes(hostname) || !isBytes(salt)) return fail('invalid ping message');
    const ip = normalizeAddress(peerAddress);
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    const node = isIP(ip) ? this.nodes.find((n) => n.matcher.check(ip, family)) : undefined;
    if (node === undefined && !this.sec.allow_anonymous_source) return fail(`anonymous source host '${ip}' denied`);
    const sharedKey = node?.sharedKey ?? this.sec.shared_key;
    if (!sameDigest(sha512Hex(salt, hostname, this.nonce, sharedKey), digest)) return fail('shared_key mismatch');
    if (this.sec.user_auth) {
      const name = isBytes(username) ? toBytes(username).toString('utf8') : '';
      const allowed = node && node.users.length > 0 ? node.users : null;
      const ok = this.sec.user.some(
        (u) => u.username === name && (allowed === null || allowed.includes(u.username)) && sameDigest(sha512Hex(this.auth, name, u.password), passDigest),
      );
      if (!ok) return fail('username/password mismatch');
    }
    const serverDigest = sha512Hex(salt, this.sec.self_hostname, this.nonce, sharedKey);
    return { ok: true, reason: '', pong: encode(['PONG', true, '', this.sec.self_hostname, serverDigest]) };
  }
}

// ---------------------------------------------------------------------------------------------
// Client side

export interface Helo {
  nonce: Buffer;
  /** Empty when the server does not ask for user authentication. */
  auth: Buffer;
  keepalive: boolean;
}

/** Reads a decoded HELO. Throws HandshakeError when it is not one. */
export function parseHelo(msg: unknown): Helo {
  if (!Array.isArray(msg) || msg.length !== 2 || msg[0] !== 'HELO' || typeof msg[1] !== 'object' || msg[1] === null) {
    throw new HandshakeError('invalid format for HELO message');
  }
  const opts = msg[1] as Record<string, unknown>;
  if (!isBytes(opts.nonce)) throw new HandshakeError('HELO without nonce');
  return {
    nonce: toBytes(opts.nonce),
    auth: isBytes(opts.auth) ? toBytes(opts.auth) : Buffer.alloc(0),
    keepalive: opts.keepalive !== false,
  };
}

export interface ClientCredentials {
  selfHostname: string;
  sharedKey: string;
  username?: string;
  password?: string;
}

/** One client's side of the handshake; the salt is created once per instance, like out_forward's node. */
export class ClientHandshake {
  readonly salt: string;

  constructor(private readonly creds: ClientCredentials, salt?: string) {
    this.salt = salt ?? randomBytes(16).toString('hex');
  }

  ping(helo: Helo): Buffer {
    const { selfHostname, sharedKey } = this.creds;
    const username = this.creds.username ?? '';
    const password = this.creds.password ?? '';
    const passDigest = helo.auth.length > 0 ? sha512Hex(helo.auth, username, password) : '';
    return encode(['PING', selfHostname, this.salt, sha512Hex(this.salt, selfHostname, helo.nonce, sharedKey), username, passDigest]);
  }

  /** Verifies a decoded PONG; returns the server hostname. Throws HandshakeError. */
  verifyPong(msg: unknown, helo: Helo): string {
    if (!Array.isArray(msg) || msg.length !== 5 || msg[0] !== 'PONG') throw new HandshakeError('invalid format for PONG message');
    const [, ok, reason, hostname, digest] = msg as unknown[];
    if (ok !== true) throw new HandshakeError(`authentication failed: ${isBytes(reason) ? toBytes(reason).toString('utf8') : String(reason)}`);
    const host = isBytes(hostname) ? toBytes(hostname).toString('utf8') : '';
    if (host === this.creds.selfHostname) throw new HandshakeError('same hostname between input and output: invalid configuration');
    if (!sameDigest(sha512Hex(this.salt, host, helo.nonce, this.creds.sharedKey), digest)) throw new HandshakeError('shared key mismatch');
    return host;
  }
}
