/**
 * Schema fragments shared by the forward-protocol servers (in_forward, in_unix) and, for
 * `<transport>`, by every server-helper plugin: declared once here, composed into plugin schemas.
 */
import { p } from '../config/schema.js';
import type { ValidationProblem } from '../core/plugin.js';
import { parseNetwork } from './handshake.js';

export { validateTransport } from './tls.js';

/** `<security>` of a forward server (spec §3.1). */
export const securitySection = p.section(
  { desc: 'Authenticate clients with a shared key (and optionally users) before accepting events' },
  {
    self_hostname: p.string({ required: true, desc: 'Hostname this server reports in PONG' }),
    shared_key: p.string({ required: true, secret: true, desc: 'Default shared key clients must prove they know' }),
    user_auth: p.bool({ default: false, desc: 'Also require a username and password (at least one <user>)' }),
    allow_anonymous_source: p.bool({ default: true, desc: 'Accept clients that match no <client> (false: at least one <client>)' }),
    user: p.section(
      { desc: 'A username/password pair accepted with user_auth', multi: true },
      {
        username: p.string({ required: true, desc: 'User name' }),
        password: p.string({ required: true, secret: true, desc: 'Password' }),
      },
    ),
    client: p.section(
      { desc: 'A known client, by host or network, optionally with its own key and users', multi: true },
      {
        host: p.string({ default: null, desc: 'Client host name or address (resolved at start)' }),
        network: p.string({ default: null, desc: 'Client network in CIDR notation' }),
        shared_key: p.string({ default: null, secret: true, desc: 'Shared key of this client (default: <security> shared_key)' }),
        users: p.array({ default: [], desc: 'Usernames this client may use (empty: any <user>)' }),
      },
    ),
  },
);

const TLS_VERSIONS = ['TLSv1_1', 'TLSv1_2', 'TLSv1_3', 'TLS1_1', 'TLS1_2', 'TLS1_3'] as const;

/** `<transport tcp|tls>` of a server plugin (spec §3.2). */
export const transportSection = p.section(
  { desc: 'Transport of the listening socket', argDesc: 'tcp (default) or tls' },
  {
    linger_timeout: p.integer({ default: 0, min: 0, desc: 'SO_LINGER seconds for accepted sockets (not applied: Node exposes no SO_LINGER)' }),
    receive_buffer_size: p.size({ default: null, desc: 'SO_RCVBUF of accepted sockets (not applied: Node exposes no SO_RCVBUF for TCP)' }),
    version: p.enum(TLS_VERSIONS, { default: 'TLSv1_2', desc: 'TLS version (pins min and max when they are unset)' }),
    min_version: p.enum(TLS_VERSIONS, { default: null, desc: 'Lowest TLS version (with max_version)' }),
    max_version: p.enum(TLS_VERSIONS, { default: null, desc: 'Highest TLS version (with min_version)' }),
    ciphers: p.string({ default: 'ALL:!aNULL:!eNULL:!SSLv2', desc: 'OpenSSL cipher list' }),
    insecure: p.bool({ default: false, desc: 'Skip secure defaults' }),
    ensure_fips: p.bool({ default: false, desc: 'Fail unless OpenSSL runs in FIPS mode' }),
    ca_path: p.string({ default: null, desc: 'CA bundle used to verify client certificates' }),
    cert_path: p.string({ default: null, desc: 'Server certificate (PEM, may hold the chain)' }),
    private_key_path: p.string({ default: null, desc: 'Private key of cert_path' }),
    private_key_passphrase: p.string({ default: null, secret: true, desc: 'Passphrase of the private key' }),
    client_cert_auth: p.bool({ default: false, desc: 'Require and verify a client certificate' }),
    ca_cert_path: p.string({ default: null, desc: 'CA certificate to sign a generated server certificate' }),
    ca_private_key_path: p.string({ default: null, desc: 'Private key of ca_cert_path' }),
    ca_private_key_passphrase: p.string({ default: null, secret: true, desc: 'Passphrase of ca_private_key_path' }),
    cert_verifier: p.string({ default: null, desc: 'Custom verifier (Ruby only, not supported)' }),
    generate_private_key_length: p.integer({ default: 2048, desc: 'Key length of generated certificates' }),
    generate_cert_country: p.string({ default: 'US', desc: 'Country of generated certificates' }),
    generate_cert_state: p.string({ default: 'CA', desc: 'State of generated certificates' }),
    generate_cert_locality: p.string({ default: 'Mountain View', desc: 'Locality of generated certificates' }),
    generate_cert_common_name: p.string({ default: null, desc: 'Common name of generated certificates (default: hostname)' }),
    generate_cert_expiration: p.time({ default: 10 * 365 * 86400, desc: 'Validity of generated certificates' }),
    generate_cert_digest: p.enum(['sha1', 'sha256', 'sha384', 'sha512'] as const, { default: 'sha256', desc: 'Digest of generated certificates' }),
  },
);

type SecurityValue = NonNullable<import('../config/schema.js').ParamsOf<{ s: typeof securitySection }>['s']>;

/** Cross-field checks of `<security>`. */
export function validateSecurity(sec: SecurityValue | null): ValidationProblem[] {
  if (sec === null) return [];
  const out: ValidationProblem[] = [];
  if (sec.user_auth && sec.user.length === 0) out.push({ param: 'user_auth', message: 'user_auth true needs at least one <user> in <security>' });
  if (!sec.allow_anonymous_source && sec.client.length === 0) {
    out.push({ param: 'allow_anonymous_source', message: 'allow_anonymous_source false needs at least one <client> in <security>' });
  }
  const names = new Set(sec.user.map((u) => u.username));
  for (const c of sec.client) {
    if ((c.host === null) === (c.network === null)) out.push({ param: '<client>', message: 'exactly one of host and network is required in <client>' });
    if (c.network !== null && parseNetwork(c.network) === null) out.push({ param: 'network', message: `'${c.network}' is not an IP network (address/prefix)` });
    for (const u of c.users) if (!names.has(u)) out.push({ param: 'users', message: `<client> users names '${u}', which no <user> defines` });
  }
  return out;
}
