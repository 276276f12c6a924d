/**
 * out_forward's parameters (spec §4, Fluentd's names and defaults): the one schema that drives
 * coercion, checks, `--help-plugin forward` and the docs. `<server>` and `<service_discovery>` are
 * fragments declared beside the code that reads them (./node.ts, ./service-discovery.ts).
 */
import { defineParams, p, type ParamsOf } from '../../../config/schema.js';
import { serverParams } from './node.js';
import { serviceDiscoverySection } from './service-discovery.js';
import { TLS_VERSIONS } from './settings.js';

export const params = defineParams({
  transport: p.enum(['tcp', 'tls'] as const, { default: 'tcp', desc: 'Data connection type' }),
  send_timeout: p.time({ default: 60, min: 0.001, desc: 'Abandon a socket write after this long' }),
  connect_timeout: p.time({ default: null, min: 0.001, desc: 'TCP connect timeout (default: send_timeout)' }),
  heartbeat_type: p.enum(['transport', 'tcp', 'udp', 'none'] as const, { default: 'transport', desc: 'How nodes are probed: transport (connect), udp, none (always available); tcp is an alias of transport' }),
  heartbeat_interval: p.time({ default: 1, min: 0.01, desc: 'Heartbeat (and failure check) period' }),
  recover_wait: p.time({ default: 10, min: 0, desc: 'A detached node returns after this long of steady heartbeats' }),
  hard_timeout: p.time({ default: 60, min: 0.01, desc: 'Detach a node silent for this long; also the handshake timeout' }),
  phi_threshold: p.integer({ default: 16, min: 1, desc: 'Phi accrual threshold for detaching a node' }),
  phi_failure_detector: p.bool({ default: true, desc: 'Use the phi accrual failure detector (hard_timeout always applies)' }),
  require_ack_response: p.bool({ default: false, desc: 'Wait for the receiver to ack each chunk (at-least-once)' }),
  ack_response_timeout: p.time({ default: 190, min: 1, desc: 'Roll a chunk back (and disable its node) when no ack came within this' }),
  read_interval_msec: p.integer({ default: 50, min: 0, desc: 'Accepted for compatibility; reads are event-driven here' }),
  read_length: p.size({ default: 512, min: 1, desc: 'Accepted for compatibility; reads are event-driven here' }),
  expire_dns_cache: p.time({ default: null, min: 0, desc: 'Cache looked-up addresses this long (default and 0: look up on every new connection)' }),
  dns_round_robin: p.bool({ default: false, desc: 'Pick a random address among those a host resolves to' }),
  ignore_network_errors_at_startup: p.bool({ default: false, desc: 'Accepted for compatibility; hosts are resolved on connect, so startup never fails on DNS' }),
  verify_connection_at_startup: p.bool({ default: false, desc: 'Connect (and authenticate) to every server at start; fail to start otherwise' }),
  compress: p.enum(['text', 'gzip', 'zstd'] as const, { default: 'text', desc: 'Compress chunks on the wire (gzip also makes a text buffer store gzip)' }),
  keepalive: p.bool({ default: false, desc: 'Reuse data connections between chunks' }),
  keepalive_timeout: p.time({ default: null, min: 0.01, desc: 'Recycle a kept-alive connection once it is this old (default: never)' }),
  send_keepalive_packet: p.bool({ default: false, desc: 'TCP keepalive probes on kept-alive connections (needs keepalive)' }),
  time_as_integer: p.bool({ default: false, desc: 'Not supported (chunks are forwarded as stored, with EventTime)' }),
  tls_version: p.enum(TLS_VERSIONS, { default: 'TLSv1_2', desc: 'TLS version (pins min and max)' }),
  tls_ciphers: p.string({ default: 'ALL:!aNULL:!eNULL:!SSLv2', desc: 'OpenSSL cipher list' }),
  tls_insecure_mode: p.bool({ default: false, desc: 'Skip every certificate check' }),
  tls_allow_self_signed_cert: p.bool({ default: false, desc: 'Accept a self-signed server certificate' }),
  tls_verify_hostname: p.bool({ default: true, desc: 'Check the certificate names the host (or <server> name when host is an IP)' }),
  tls_ca_cert_path: p.array({ default: null, desc: 'CA certificate files trusted besides the system roots' }),
  tls_cert_path: p.array({ default: null, desc: 'Legacy: replaces tls_ca_cert_path' }),
  tls_client_cert_path: p.string({ default: null, desc: 'Client certificate for mutual TLS' }),
  tls_client_private_key_path: p.string({ default: null, desc: 'Private key of tls_client_cert_path' }),
  tls_client_private_key_passphrase: p.string({ default: null, secret: true, desc: 'Passphrase of the client private key' }),
  tls_cert_thumbprint: p.string({ default: null, desc: 'Windows certificate store only (not supported)' }),
  tls_cert_logical_store_name: p.string({ default: null, desc: 'Windows certificate store only (not supported)' }),
  tls_cert_use_enterprise_store: p.bool({ default: true, desc: 'Windows certificate store only (ignored)' }),
  host: p.string({ default: null, desc: 'Obsoleted: use <server>' }),
  port: p.integer({ default: null, desc: 'Obsoleted: use <server>' }),
  server: p.section({ desc: 'A destination node (at least one <server> or <service_discovery>)', multi: true }, serverParams),
  service_discovery: serviceDiscoverySection,
  security: p.section({ desc: 'Authenticate to the servers with the handshake' }, {
    self_hostname: p.string({ required: true, desc: 'Hostname sent in PING (must differ from the server\'s)' }),
    shared_key: p.string({ required: true, secret: true, desc: 'Default shared key' }),
  }),
});
export type ForwardOutputConfig = ParamsOf<typeof params>;
