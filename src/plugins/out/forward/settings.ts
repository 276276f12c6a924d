/**
 * out_forward's config turned into what its parts need: client TLS options (Fluentd's tls_* names:
 * the version pins min and max, extra CA files are added to the system roots, client certificate
 * for mutual TLS) and cross-field checks.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { rootCertificates, type ConnectionOptions, type SecureVersion } from 'node:tls';
import type { ValidationProblem } from '../../../core/plugin.js';
import type { TlsClientSettings } from './connection.js';
import { zstdAvailable } from './message.js';

/** The tls_* part of the config. */
export interface TlsConfig {
  readonly transport: 'tcp' | 'tls';
  readonly tls_version: string;
  readonly tls_ciphers: string;
  readonly tls_insecure_mode: boolean;
  readonly tls_allow_self_signed_cert: boolean;
  readonly tls_verify_hostname: boolean;
  readonly tls_ca_cert_path: readonly string[] | null;
  readonly tls_cert_path: readonly string[] | null;
  readonly tls_client_cert_path: string | null;
  readonly tls_client_private_key_path: string | null;
  readonly tls_client_private_key_passphrase: string | null;
  readonly tls_cert_thumbprint: string | null;
  readonly tls_cert_logical_store_name: string | null;
}

interface CheckedConfig extends TlsConfig {
  readonly host: string | null;
  readonly port: number | null;
  readonly heartbeat_type: string;
  readonly dns_round_robin: boolean;
  readonly send_keepalive_packet: boolean;
  readonly keepalive: boolean;
  readonly time_as_integer: boolean;
  readonly compress: string;
  readonly server: ReadonlyArray<{ readonly host: string; readonly weight: number }>;
  readonly service_discovery: readonly unknown[];
}

export const TLS_VERSIONS = ['TLSv1_1', 'TLSv1_2', 'TLSv1_3', 'TLS1_1', 'TLS1_2', 'TLS1_3'] as const;

function secureVersion(v: string): SecureVersion {
  return `TLSv${v.replace(/^TLSv?/, '').replace('_', '.')}` as SecureVersion;
}

/** CA files: the legacy tls_cert_path replaces tls_ca_cert_path when set (as in Fluentd). */
function caFiles(c: TlsConfig): readonly string[] {
  return c.tls_cert_path ?? c.tls_ca_cert_path ?? [];
}

export function validateForward(c: CheckedConfig): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  if (c.host !== null) out.push({ param: 'host', message: 'host is obsoleted: use <server> sections' });
  if (c.port !== null) out.push({ param: 'port', message: 'port is obsoleted: use <server> sections' });
  if (c.time_as_integer) {
    out.push({ param: 'time_as_integer', message: 'time_as_integer is not supported: chunks are forwarded as stored, with EventTime (v0.12 receivers cannot read them)' });
  }
  if (c.send_keepalive_packet && !c.keepalive) out.push({ param: 'send_keepalive_packet', message: 'send_keepalive_packet needs keepalive true' });
  if (c.dns_round_robin && c.heartbeat_type === 'udp') {
    out.push({ param: 'dns_round_robin', message: 'dns_round_robin cannot be used with heartbeat_type udp; use transport or none' });
  }
  if (c.compress === 'zstd' && !zstdAvailable) out.push({ param: 'compress', message: 'compress zstd needs a Node.js with zlib zstd support; use gzip' });
  if (c.server.length === 0 && c.service_discovery.length === 0) {
    out.push({ param: '<server>', message: 'at least one <server> or <service_discovery> section is required' });
  }
  if (c.server.length > 0 && c.service_discovery.length === 0 && c.server.every((s) => s.weight === 0)) {
    out.push({ param: '<server>', message: 'every <server> has weight 0: no node could ever be used' });
  }
  for (const key of ['tls_cert_thumbprint', 'tls_cert_logical_store_name'] as const) {
    if (c[key] !== null) out.push({ param: key, message: `${key} uses the Windows certificate store, which is not supported` });
  }
  if (c.transport !== 'tls') return out;
  for (const f of caFiles(c)) {
    try {
      accessSync(f, constants.R_OK);
    } catch {
      out.push({ param: c.tls_cert_path ? 'tls_cert_path' : 'tls_ca_cert_path', message: `${f} does not exist or is not readable` });
    }
  }
  if ((c.tls_client_cert_path === null) !== (c.tls_client_private_key_path === null)) {
    out.push({ param: 'tls_client_cert_path', message: 'tls_client_cert_path and tls_client_private_key_path must be given together' });
  }
  return out;
}

/** Reads the certificate files; null for `transport tcp`. */
export function tlsClientSettings(c: TlsConfig): TlsClientSettings | null {
  if (c.transport !== 'tls') return null;
  const version = secureVersion(c.tls_version);
  const options: ConnectionOptions = { minVersion: version, maxVersion: version };
  const files = caFiles(c);
  if (files.length > 0) options.ca = [...rootCertificates, ...files.map((f) => readFileSync(f, 'utf8'))];
  if (!c.tls_insecure_mode) options.ciphers = c.tls_ciphers;
  if (c.tls_client_cert_path !== null && c.tls_client_private_key_path !== null) {
    options.cert = readFileSync(c.tls_client_cert_path);
    options.key = readFileSync(c.tls_client_private_key_path);
    if (c.tls_client_private_key_passphrase !== null) options.passphrase = c.tls_client_private_key_passphrase;
  }
  return {
    options,
    insecure: c.tls_insecure_mode,
    allowSelfSigned: c.tls_allow_self_signed_cert,
    verifyHostname: c.tls_verify_hostname,
  };
}
