/** Helpers shared by the monitoring tests (monitor_agent, Prometheus, DogStatsD, health). */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTime } from '../../src/core/event-time.js';
import { encode } from '../../src/protocol/msgpack.js';

/**
 * A destination directory that starts out dead: a regular file sits where out_file needs a
 * directory, so every write fails (retryable). `revive()` replaces it with a real directory.
 */
export function deadDestination(): { dir: string; path: string; revive(): void; written(): string } {
  const dir = mkdtempSync(join(tmpdir(), 'logferry-monitor-'));
  const path = join(dir, 'dest');
  writeFileSync(path, 'a regular file where out_file needs a directory');
  return {
    dir,
    path,
    revive() {
      unlinkSync(path);
      mkdirSync(path);
    },
    written: () => {
      try {
        return readdirSync(path).map((f) => readFileSync(join(path, f), 'utf8')).join('');
      } catch {
        return '';
      }
    },
  };
}

/** An out_file `<match>` writing into `path`, retrying fast and forever. */
export function fileOutput(pattern: string, id: string, path: string, bufferExtra = ''): string {
  return `
<match ${pattern}>
  @type file
  @id ${id}
  path ${path}/out
  append true
  <format>
    @type json
  </format>
  <buffer tag>
    flush_mode immediate
    retry_wait 0.05
    retry_max_interval 0.2
    retry_forever true
${bufferExtra}
  </buffer>
</match>`;
}

export function forwardSource(port: number, id = 'in_fwd'): string {
  return `
<source>
  @type forward
  @id ${id}
  port ${port}
  bind 127.0.0.1
</source>`;
}

/** `n` msgpack `[time, {i, msg}]` entries, for a PackedForward body. */
export function packedEntries(n: number, msg: string): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => encode([new EventTime(1700000000, i), { i, msg }])));
}

export function httpSource(port: number, id = 'in_http'): string {
  return `
<source>
  @type http
  @id ${id}
  port ${port}
  bind 127.0.0.1
</source>`;
}

/** POSTs records as a JSON array to in_http; resolves with the status. */
export async function postRecords(port: number, tag: string, records: object[]): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/${tag}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(records) });
  await res.arrayBuffer();
  return res.status;
}

export interface Fetched {
  status: number;
  contentType: string | null;
  text: string;
}

export async function get(url: string): Promise<Fetched> {
  const res = await fetch(url);
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

export type PluginObject = Record<string, unknown> & { plugin_id: string; type: string };

export async function plugins(port: number, query = ''): Promise<PluginObject[]> {
  const r = await get(`http://127.0.0.1:${port}/api/plugins.json${query}`);
  if (r.status !== 200) throw new Error(`plugins.json answered ${r.status}: ${r.text}`);
  return (JSON.parse(r.text) as { plugins: PluginObject[] }).plugins;
}

export async function plugin(port: number, id: string): Promise<PluginObject> {
  const list = await plugins(port, `?@id=${encodeURIComponent(id)}`);
  if (list.length !== 1) throw new Error(`no plugin ${id}`);
  return list[0]!;
}

/** Prometheus text format: `name{labels} value` lines as a list. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when absent. */
export function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
