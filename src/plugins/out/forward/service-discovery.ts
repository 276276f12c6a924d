/**
 * `<service_discovery>` for out_forward (Fluentd's service discovery plugin helper): where the list of
 * destination servers comes from. Three sources, as in Fluentd: `static` (`<service>` sections with
 * the parameters of `<server>`), `file` (./sd-file.ts) and `srv` (./sd-srv.ts). The `<server>`
 * sections are one more static source, after the `<service_discovery>` sections, as Fluentd adds them.
 *
 * A server is identified by all its fields (Fluentd's `discovery_id`): one listed twice is one node,
 * and one whose weight changed is a new node. When a source's list changes the live node list is
 * changed in place (the balancer and the heartbeats read it) and the weights are rebuilt: nodes still
 * listed keep their state (connections, heartbeat history), new ones are appended, removed ones get
 * no new chunk at once and are dropped — their kept-alive connections closed — once nothing is in
 * flight to them: a chunk waiting for its ack is acked, or rolled back and sent elsewhere, as with
 * any node. A removed server listed again before it was dropped comes back with its state.
 */
import type { Logger } from 'pino';
import { ConfigError, problemAt, type ConfigProblem } from '../../../config/errors.js';
import type { ConfigElement } from '../../../config/node.js';
import { defineParams, p, resolveParams } from '../../../config/schema.js';
import { errorMessage } from '../../../core/errors.js';
import { serverParams, type ForwardNode, type ServerConfig } from './node.js';
import { FileDiscovery, fileParams, ServiceListError } from './sd-file.js';
import { parseDnsServer, SrvDiscovery, srvParams } from './sd-srv.js';

/** One discovered server (Fluentd's `Service`): the `<server>` fields and the kind of its source. */
export type Service = ServerConfig & { readonly source: 'static' | 'file' | 'srv' };

/** A source of servers. */
export interface DiscoverySource {
  /** For logs: `server` for the `<server>` sections, else the `@type`. */
  readonly label: 'server' | 'static' | 'file' | 'srv';
  /** The servers listed now. */
  readonly services: readonly Service[];
  /** Starts watching; `changed` is called after `services` changed. srv looks up once first (rejects when it cannot). */
  start(changed: () => void): Promise<void>;
  stop(): void;
}

export const staticParams = defineParams({
  service: p.section({ desc: '@type static: one server, with the parameters of <server>', multi: true, required: true }, serverParams),
});

/**
 * The `<service_discovery>` section: resolved per `@type` by configureDiscovery (hence opaque); the
 * parameters listed here are the file and srv ones, for the docs.
 */
export const serviceDiscoverySection = p.section({
  desc: 'Servers found by a discovery plugin (at least one <server> or <service_discovery>): @type static (<service> sections with the parameters of <server>), file or srv',
  multi: true,
  opaque: true,
}, { ...fileParams, ...srvParams });

function serviceOf(s: ServerConfig, source: Service['source']): Service {
  return {
    source, host: s.host, port: s.port, name: s.name, weight: s.weight, standby: s.standby,
    username: s.username, password: s.password, shared_key: s.shared_key,
  };
}

export function serviceKey(s: Service): string {
  return JSON.stringify([s.source, s.host, s.port, s.name, s.weight, s.standby, s.username, s.password, s.shared_key]);
}

class StaticDiscovery implements DiscoverySource {
  readonly services: readonly Service[];
  constructor(readonly label: 'server' | 'static', servers: readonly ServerConfig[]) {
    this.services = servers.map((s) => serviceOf(s, 'static'));
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): void {}
}

/** One `<service_discovery>` section → its source; problems (with file:line) go to `problems`. */
function sourceOf(el: ConfigElement, problems: ConfigProblem[], log: Logger): DiscoverySource | null {
  const type = el.params.get('@type')?.value;
  if (!type) {
    problems.push(problemAt(el, "@type is required in <service_discovery>: static, file or srv", { param: '@type' }));
    return null;
  }
  const at = (message: string, param: string) => problems.push(problemAt(el, message, { param, type }));
  const resolve = <S extends Parameters<typeof resolveParams>[0]>(schema: S) => {
    const r = resolveParams(schema, el, { type });
    for (const w of r.warnings) log.warn(w);
    problems.push(...r.problems);
    return r.problems.length === 0 ? r.value : null;
  };
  if (type === 'static') {
    const c = resolve(staticParams);
    return c && new StaticDiscovery('static', c.service);
  }
  if (type === 'file') {
    const c = resolve(fileParams);
    if (!c) return null;
    try {
      return new FileDiscovery(c.path, c.conf_encoding, log);
    } catch (e) {
      if (e instanceof RangeError) at(`unknown encoding '${c.conf_encoding}'`, 'conf_encoding');
      else if (e instanceof ServiceListError) at(e.message, 'path');
      else throw e;
      return null;
    }
  }
  if (type === 'srv') {
    const c = resolve(srvParams);
    if (!c) return null;
    if (c.dns_server_host !== null && parseDnsServer(c.dns_server_host) === null) {
      at(`expected HOST or HOST:PORT, got '${c.dns_server_host}'`, 'dns_server_host');
      return null;
    }
    return new SrvDiscovery(c, log);
  }
  problems.push(problemAt(el, `unknown service discovery plugin '${type}': expected static, file or srv`, { param: '@type', code: 'LF_CONFIG_PLUGIN' }));
  return null;
}

/**
 * The sources of a config: one per `<service_discovery>`, then the `<server>` sections. Reads the
 * files now; throws a ConfigError listing every problem.
 */
export function configureDiscovery(
  sections: ReadonlyArray<{ readonly element: ConfigElement }>,
  servers: readonly ServerConfig[],
  log: Logger,
): DiscoverySource[] {
  const problems: ConfigProblem[] = [];
  const sources: DiscoverySource[] = [];
  for (const { element } of sections) {
    const source = sourceOf(element, problems, log);
    if (source) sources.push(source);
  }
  if (problems.length > 0) {
    for (const s of sources) s.stop();
    throw new ConfigError(problems);
  }
  if (servers.length > 0) sources.push(new StaticDiscovery('server', servers));
  return sources;
}

export interface DiscoveryHooks {
  build(service: Service): ForwardNode;
  /** The node list changed: rebuild the weights. */
  changed(): void;
  /** Chunks in flight to a node: sends under way and acks awaited. */
  inFlight(node: ForwardNode): number;
  /** A removed node has nothing in flight any more: close what is left of it. */
  drop(node: ForwardNode): void;
  log: Logger;
}

const SWEEP_MS = 100;

export class ServiceDiscovery {
  /** The live node list, in discovery order (changed in place). */
  readonly nodes: ForwardNode[] = [];
  private readonly keyOf = new Map<ForwardNode, string>();
  private readonly removed = new Map<string, ForwardNode>();
  private sweeper: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;

  /** Builds the nodes the sources list now (srv lists none before start). */
  constructor(private readonly sources: readonly DiscoverySource[], private readonly o: DiscoveryHooks) {
    this.apply(false);
  }

  get dynamic(): boolean {
    return this.sources.some((s) => s.label === 'srv');
  }

  /** Starts every source (srv looks its record up: rejects when that fails), then follows them. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const s of this.sources) await s.start(() => this.apply(true));
    this.apply(true);
  }

  private apply(notify: boolean): void {
    if (this.stopped) return;
    const wanted = new Map<string, { service: Service; from: DiscoverySource }>();
    for (const from of this.sources) {
      for (const service of from.services) {
        const key = serviceKey(service);
        if (!wanted.has(key)) wanted.set(key, { service, from });
      }
    }
    let changed = false;
    for (const node of [...this.nodes]) {
      const key = this.keyOf.get(node)!;
      if (wanted.has(key)) continue;
      this.nodes.splice(this.nodes.indexOf(node), 1);
      node.retired = true;
      this.removed.set(key, node);
      changed = true;
      this.o.log.info({ host: node.host, port: node.port, in_flight: this.o.inFlight(node) }, `removing forwarding server '${node.name}'`);
    }
    const present = new Set(this.nodes.map((n) => this.keyOf.get(n)));
    for (const [key, { service, from }] of wanted) {
      if (present.has(key)) continue;
      let node = this.removed.get(key);
      if (node) {
        this.removed.delete(key);
        node.retired = false;
      } else {
        node = this.o.build(service);
        this.keyOf.set(node, key);
      }
      this.nodes.push(node);
      changed = true;
      if (from.label !== 'server') {
        this.o.log.info({ host: node.host, port: node.port, weight: node.weight, standby: node.standby, service_discovery: from.label }, `adding forwarding server '${node.name}'`);
      }
    }
    if (changed && notify) this.o.changed();
    this.sweep();
  }

  /** Drops the removed nodes with nothing left in flight; polls until every one is dropped. */
  private sweep(): void {
    for (const [key, node] of this.removed) {
      if (this.o.inFlight(node) > 0) continue;
      this.removed.delete(key);
      this.keyOf.delete(node);
      try {
        this.o.drop(node);
      } catch (e) {
        this.o.log.warn({ host: node.host, port: node.port, error: errorMessage(e) }, 'closing a removed forwarding server failed');
      }
      this.o.log.debug({ host: node.host, port: node.port }, `forwarding server '${node.name}' dropped: nothing left in flight`);
    }
    if (this.removed.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    } else if (this.removed.size > 0 && !this.sweeper && this.started) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** Removed nodes still waiting for their chunks to settle. */
  get draining(): readonly ForwardNode[] {
    return [...this.removed.values()];
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sources) s.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}
