/**
 * out_file in e2e tests: the JSON-lines output with a fast file buffer the crash and workers tests
 * share, and reading back every JSON line of every file under a directory.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Records of all JSON-line files under `dir` (any depth); [] while the directory does not exist. */
export function jsonLinesUnder<T = Record<string, unknown>>(dir: string): T[] {
  const out: T[] = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return out;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const f = join(dir, name);
    if (!statSync(f).isFile()) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as T);
      } catch {
        throw Object.assign(new Error(`not a JSON line in ${f}: ${line.slice(0, 200)}`), { fatal: true });
      }
    }
  }
  return out;
}

/**
 * A `<match>` body: out_file writing JSON lines to `path` (appended), through a file buffer in
 * `bufferPath` that flushes every 0.2 s in 4 KiB chunks and retries forever every ≤ 0.5 s.
 */
export function jsonFileOutput(path: string, bufferPath: string): string {
  return `  @type file
  path ${path}
  append true
  <format>
    @type json
  </format>
  <buffer tag>
    @type file
    path ${bufferPath}
    flush_mode interval
    flush_interval 0.2
    flush_thread_interval 0.1
    flush_thread_burst_interval 0
    retry_wait 0.2
    retry_max_interval 0.5
    retry_forever true
    chunk_limit_size 4k
  </buffer>`;
}
