/**
 * `<service_discovery> @type srv` (Fluentd's sd_srv): the servers named by the DNS SRV record
 * `_SERVICE._PROTO.HOSTNAME`, looked up at start (a failure stops the start, as Fluentd's configure
 * does) and again every `interval`. As in Fluentd: records are ordered by priority (otherwise unused),
 * a record's weight is the server's load-balancing weight (0 excludes it), its target is the server's
 * name and, with `dns_lookup`, is resolved to its first address (through the same DNS server) to be
 * the host; no server is standby. An answer that fails or is empty keeps the previous list (a
 * failure is logged once per reason).
 */
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { defineParams, p, type ParamsOf } from '../../../config/schema.js';
import { errorMessage } from '../../../core/errors.js';
import type { DiscoverySource, Service } from './service-discovery.js';

export const srvParams = defineParams({
  service: p.string({ required: true, desc: '@type srv: service name without the underscore (RFC 2782): the record is _SERVICE._PROTO.HOSTNAME' }),
  proto: p.string({ default: 'tcp', desc: '@type srv: protocol without the underscore' }),
  hostname: p.string({ required: true, desc: '@type srv: domain name of the record' }),
  dns_server_host: p.string({ default: null, desc: '@type srv: DNS server to ask, ADDRESS or ADDRESS:PORT (default: the system resolvers)' }),
  interval: p.time({ default: 60, min: 0.01, desc: '@type srv: look the record up again this often' }),
  dns_lookup: p.bool({ default: true, desc: "@type srv: resolve each record's target to an address (else the target name is the host)" }),
  shared_key: p.string({ default: null, secret: true, desc: '@type srv: handshake key of the discovered servers (default: <security> shared_key)' }),
  username: p.string({ default: '', desc: '@type srv: user for user_auth' }),
  password: p.string({ default: '', secret: true, desc: '@type srv: password for user_auth' }),
});
export type SrvConfig = ParamsOf<typeof srvParams>;

/** `dns_server_host` split into host and port; null when it is neither HOST nor HOST:PORT. */
export function parseDnsServer(spec: string): { host: string; port: number | null } | null {
  if (isIP(spec) !== 0) return { host: spec, port: null };
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec) ?? /^([^:[\]\s]+)(?::(\d+))?$/.exec(spec);
  if (!m) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { host: m[1]!, port };
}

/** The same servers, in whatever order the DNS server rotated them to. */
function sameServices(a: readonly Service[], b: readonly Service[]): boolean {
  const keys = new Set(a.map((s) => JSON.stringify(s)));
  return a.length === b.length && b.every((s) => keys.has(JSON.stringify(s)));
}

export class SrvDiscovery implements DiscoverySource {
  readonly label = 'srv';
  readonly target: string;
  services: readonly Service[] = [];
  private readonly resolver = new Resolver({ timeout: 3000, tries: 2 });
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  private lastError: string | null = null;
  private changed: (() => void) | null = null;
  private stopped = false;

  constructor(private readonly c: SrvConfig, private readonly log: Logger) {
    this.target = `_${c.service}._${c.proto}.${c.hostname}`;
  }

  async start(changed: () => void): Promise<void> {
    if (this.changed || this.stopped) return;
    if (this.c.dns_server_host !== null) {
      const server = parseDnsServer(this.c.dns_server_host)!;
      const address = isIP(server.host) !== 0 ? server.host : (await lookup(server.host)).address;
      const host = isIP(address) === 6 ? `[${address}]` : address;
      this.resolver.setServers([server.port === null ? address : `${host}:${server.port}`]);
    }
    try {
      this.services = await this.fetch();
    } catch (e) {
      throw new Error(`sd_srv: cannot look up ${this.target}: ${errorMessage(e)}`);
    }
    this.log.info({ target: this.target, servers: this.services.length }, 'sd_srv: SRV record looked up');
    this.changed = changed;
    if (this.stopped) return;
    this.timer = setInterval(() => void this.refresh(), this.c.interval * 1000);
    this.timer.unref();
  }

  private async fetch(): Promise<Service[]> {
    const records = (await this.resolver.resolveSrv(this.target))
      .filter((r) => r.name !== '' && r.name !== '.') // "." : the service is decidedly not available here
      .sort((a, b) => a.priority - b.priority);
    return Promise.all(records.map(async (r): Promise<Service> => ({
      source: 'srv',
      host: this.c.dns_lookup ? await this.address(r.name) : r.name,
      port: r.port,
      name: r.name,
      weight: r.weight,
      standby: false,
      username: this.c.username,
      password: this.c.password,
      shared_key: this.c.shared_key,
    })));
  }

  /** The target's first address, IPv4 first (Ruby's Resolv::DNS#getaddress takes the first too). */
  private async address(name: string): Promise<string> {
    try {
      return (await this.resolver.resolve4(name))[0]!;
    } catch (e4) {
      try {
        return (await this.resolver.resolve6(name))[0]!;
      } catch {
        throw e4;
      }
    }
  }

  private async refresh(): Promise<void> {
    if (this.refreshing || this.stopped) return;
    this.refreshing = true;
    try {
      const next = await this.fetch();
      this.lastError = null;
      if (this.stopped || next.length === 0 || sameServices(next, this.services)) return;
      this.services = next;
      this.log.info({ target: this.target, servers: next.length }, 'sd_srv: SRV record changed');
      this.changed?.();
    } catch (e) {
      const reason = errorMessage(e);
      if (!this.stopped && reason !== this.lastError) this.log.warn({ target: this.target, error: reason }, 'sd_srv: cannot look up the SRV record, keeping the previous list');
      this.lastError = reason;
    } finally {
      this.refreshing = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.resolver.cancel();
  }
}
