/**
 * `<transport tls>` of a server plugin turned into Node TLS server options (spec §3.2): Fluentd's
 * version pinning (`version` fixes min and max unless both are given), cipher list, client
 * certificate auth. Certificates are read from files; generating them is not supported.
 */
import { getFips } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { SecureVersion, TlsOptions } from 'node:tls';
import type { ValidationProblem } from '../core/plugin.js';

/** The resolved `<transport>` section (see transportSection in params.ts). */
export interface TransportConfig {
  readonly arg: string;
  readonly version: string;
  readonly min_version: string | null;
  readonly max_version: string | null;
  readonly ciphers: string;
  readonly insecure: boolean;
  readonly ensure_fips: boolean;
  readonly ca_path: string | null;
  readonly cert_path: string | null;
  readonly private_key_path: string | null;
  readonly private_key_passphrase: string | null;
  readonly client_cert_auth: boolean;
  readonly ca_cert_path: string | null;
  readonly cert_verifier: string | null;
}

/** `tcp` or `tls` (the section argument; tcp when there is no section or no argument). */
export function transportKind(t: TransportConfig | null): string {
  return t === null || t.arg.trim() === '' ? 'tcp' : t.arg.trim();
}

function secureVersion(v: string): SecureVersion {
  return `TLSv${v.replace(/^TLSv?/, '').replace('_', '.')}` as SecureVersion;
}

/** Cross-field checks of `<transport>`. */
export function validateTransport(t: TransportConfig | null): ValidationProblem[] {
  if (t === null) return [];
  const kind = transportKind(t);
  if (kind !== 'tcp' && kind !== 'tls') return [{ param: '<transport>', message: `unknown transport '${kind}' (expected tcp or tls)` }];
  const out: ValidationProblem[] = [];
  if ((t.min_version === null) !== (t.max_version === null)) out.push({ param: 'min_version', message: 'min_version and max_version must be given together' });
  if (kind === 'tcp') return out;
  if (t.cert_verifier !== null) out.push({ param: 'cert_verifier', message: 'cert_verifier (Ruby code) is not supported' });
  if (t.cert_path === null) {
    const why = t.ca_cert_path !== null ? 'generating a certificate signed by ca_cert_path is not supported'
      : t.insecure ? 'generating a self-signed certificate is not supported' : '<transport tls> needs a certificate';
    out.push({ param: 'cert_path', message: `${why}; set cert_path and private_key_path` });
  } else if (t.private_key_path === null) {
    out.push({ param: 'private_key_path', message: 'private_key_path is required with cert_path' });
  }
  for (const key of ['cert_path', 'private_key_path', 'ca_path'] as const) {
    const path = t[key];
    if (path !== null && !existsSync(path)) out.push({ param: key, message: `${path} does not exist` });
  }
  return out;
}

/** Node TLS server options for a validated `<transport tls>`; reads the certificate files. */
export function tlsServerOptions(t: TransportConfig): TlsOptions {
  if (t.ensure_fips && !getFips()) throw new Error('ensure_fips is set but OpenSSL is not in FIPS mode');
  const pinned = t.min_version === null;
  const opts: TlsOptions = {
    cert: readFileSync(t.cert_path!),
    key: readFileSync(t.private_key_path!),
    minVersion: secureVersion(pinned ? t.version : t.min_version!),
    maxVersion: secureVersion(pinned ? t.version : t.max_version!),
  };
  if (t.private_key_passphrase !== null) opts.passphrase = t.private_key_passphrase;
  if (!t.insecure) opts.ciphers = t.ciphers;
  if (t.ca_path !== null) opts.ca = readFileSync(t.ca_path);
  if (t.client_cert_auth) {
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  }
  return opts;
}
