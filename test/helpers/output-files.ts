/** Reading what out_file wrote in e2e tests: every JSON line of every file under a directory. */
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
