/**
 * `<service_discovery> @type file` (Fluentd's sd_file): the servers listed in a file, `.json` read as
 * JSON and anything else as YAML, a list of entries with the keys of `<server>` (`host` and `port`
 * required, as in Fluentd; the other keys default as in `<server>`). The file is watched — its
 * directory through fs.watch, so a rename over it (editors) or a swapped symlink (Kubernetes
 * ConfigMaps) is seen, plus a stat poll as a fallback — and read again when anything there changed;
 * only a different text counts as a change. A file that became unreadable or invalid is logged (once
 * per reason) and the previous list is kept.
 */
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher, type StatsListener } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { newElement, setParam } from '../../../config/node.js';
import { defineParams, p, resolveParams } from '../../../config/schema.js';
import { errorMessage } from '../../../core/errors.js';
import { serverParams } from './node.js';
import type { DiscoverySource, Service } from './service-discovery.js';

export const fileParams = defineParams({
  path: p.string({ default: '/etc/fluent/sd.yaml', desc: '@type file: the server list, YAML or JSON (by extension .yaml/.yml/.json), each entry with the keys of <server> (host and port required); re-read when it changes' }),
  conf_encoding: p.string({ default: 'utf-8', desc: '@type file: encoding of the server list file' }),
});

/** After the last change event, wait this long before reading (a write may come in pieces). */
const SETTLE_MS = 50;
/** The stat poll behind fs.watch. */
const POLL_MS = 1000;

/** The file cannot be read or does not hold a valid server list. */
export class ServiceListError extends Error {}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  return Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `a ${typeof v}`;
}

/** One entry, coerced and checked exactly as a `<server>` section is. */
function toService(entry: unknown, n: number, unknownKeys: Set<string>): Service {
  const at = `entry ${n}`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new ServiceListError(`${at}: expected a map with host and port, got ${describe(entry)}`);
  const el = newElement('service', '', '', 0);
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (!(key in serverParams)) {
      unknownKeys.add(key);
      continue;
    }
    if (value === null || value === undefined) continue;
    if (typeof value === 'object') throw new ServiceListError(`${at}: ${key}: expected a single value, got ${describe(value)}`);
    setParam(el, key, { value: String(value), file: '', line: 0 });
  }
  for (const key of ['host', 'port']) {
    if (!el.params.has(key)) throw new ServiceListError(`${at}: ${key} is required (an entry needs host and port)`);
  }
  const r = resolveParams(serverParams, el);
  if (r.problems.length > 0) throw new ServiceListError(`${at}: ${r.problems.map((q) => `${q.param}: ${q.message}`).join('; ')}`);
  const s = r.value;
  return {
    source: 'file', host: s.host, port: s.port, name: s.name, weight: s.weight, standby: s.standby,
    username: s.username, password: s.password, shared_key: s.shared_key,
  };
}

/** Parses a server list file's text. Keys `<server>` does not have are returned, not rejected (as Fluentd ignores them). */
export function parseServiceList(text: string, json: boolean): { services: Service[]; unknownKeys: string[] } {
  let data: unknown;
  try {
    data = json ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ServiceListError(`not valid ${json ? 'JSON' : 'YAML'}: ${errorMessage(e).split('\n')[0]}`);
  }
  if (!Array.isArray(data)) throw new ServiceListError(`expected a list of servers, got ${describe(data)}`);
  const unknownKeys = new Set<string>();
  const services = data.map((entry, i) => toService(entry, i + 1, unknownKeys));
  return { services, unknownKeys: [...unknownKeys] };
}

export class FileDiscovery implements DiscoverySource {
  readonly label = 'file';
  services: readonly Service[];
  private readonly decoder: TextDecoder;
  private readonly json: boolean;
  /** The text of the last valid list. */
  private text: string;
  private dirWatcher: FSWatcher | null = null;
  private poll: StatsListener | null = null;
  private settle: NodeJS.Timeout | null = null;
  private lastError: string | null = null;
  private changed: (() => void) | null = null;
  private stopped = false;

  /** Reads the list now: throws RangeError for an unknown encoding, ServiceListError for the file. */
  constructor(readonly path: string, private readonly encoding: string, private readonly log: Logger) {
    this.decoder = new TextDecoder(encoding, { fatal: true });
    this.json = extname(path).toLowerCase() === '.json';
    const first = this.read();
    this.text = first.text;
    this.services = first.services;
  }

  private read(): { text: string; services: Service[] } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ServiceListError(code === 'ENOENT' ? `sd_file: path=${this.path} not found` : `sd_file: path=${this.path} couldn't open: ${errorMessage(e)}`);
    }
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      throw new ServiceListError(`sd_file: path=${this.path} is not valid ${this.encoding}`);
    }
    try {
      const { services, unknownKeys } = parseServiceList(text, this.json);
      if (unknownKeys.length > 0) this.log.warn({ path: this.path, keys: unknownKeys }, 'sd_file: keys <server> does not have are ignored');
      return { text, services };
    } catch (e) {
      if (e instanceof ServiceListError) throw new ServiceListError(`sd_file: path=${this.path}: ${e.message}`);
      throw e;
    }
  }

  start(changed: () => void): Promise<void> {
    if (this.changed || this.stopped) return Promise.resolve();
    this.changed = changed;
    try {
      this.dirWatcher = watch(dirname(this.path), { persistent: false }, () => this.schedule());
      this.dirWatcher.on('error', (e) => this.log.debug({ path: this.path, error: e.message }, 'sd_file: directory watch failed, polling only'));
    } catch (e) {
      this.log.debug({ path: this.path, error: errorMessage(e) }, 'sd_file: cannot watch the directory, polling only');
    }
    this.poll = () => this.schedule();
    watchFile(this.path, { persistent: false, interval: POLL_MS }, this.poll);
    return Promise.resolve();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.settle) clearTimeout(this.settle);
    this.settle = setTimeout(() => {
      this.settle = null;
      this.reload();
    }, SETTLE_MS);
    this.settle.unref();
  }

  /** Reads the file again; calls `changed` when the list is another one. */
  reload(): void {
    if (this.stopped) return;
    let next: { text: string; services: Service[] };
    try {
      next = this.read();
    } catch (e) {
      const reason = errorMessage(e);
      if (reason !== this.lastError) this.log.warn({ path: this.path, error: reason }, 'sd_file: cannot use the server list file, keeping the previous list');
      this.lastError = reason;
      return;
    }
    this.lastError = null;
    if (next.text === this.text) return;
    this.text = next.text;
    this.services = next.services;
    this.log.info({ path: this.path, servers: next.services.length }, 'sd_file: server list file changed');
    this.changed?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.settle) clearTimeout(this.settle);
    this.settle = null;
    this.dirWatcher?.close();
    this.dirWatcher = null;
    if (this.poll) unwatchFile(this.path, this.poll);
    this.poll = null;
  }
}
