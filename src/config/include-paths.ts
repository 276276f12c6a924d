/**
 * `@include` path handling shared by the v1 and YAML parsers: glob expansion (`*` and `?` in any
 * segment), real paths for include-cycle detection, and spotting backup-looking files a glob
 * picked up.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Resolves symlinks so a cycle is found whatever path spelling reached a file. */
export function realPathOf(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

const hasGlob = (s: string): boolean => /[*?]/.test(s);

/** `*` = any run of characters within one path segment, `?` = one character; no leading dot. */
function segmentMatcher(segment: string): (name: string) => boolean {
  const body = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${body}$`);
  return (name) => re.test(name) && (!name.startsWith('.') || segment.startsWith('.'));
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false; // missing, or a path through a non-directory
  }
}

/**
 * Expands an absolute path that may contain `*`/`?` (in any segment) into existing files, sorted.
 * A plain path to a missing file yields nothing, as in Fluentd.
 */
export function expandIncludeGlob(pattern: string): string[] {
  const abs = path.resolve(pattern);
  if (!hasGlob(abs)) return isFile(abs) ? [abs] : [];
  const { root } = path.parse(abs);
  let current = [root];
  for (const segment of abs.slice(root.length).split(path.sep).filter(Boolean)) {
    const next: string[] = [];
    const matches = hasGlob(segment) ? segmentMatcher(segment) : null;
    for (const dir of current) {
      if (!matches) {
        next.push(path.join(dir, segment));
        continue;
      }
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) if (matches(name)) next.push(path.join(dir, name));
    }
    current = next;
  }
  return current.filter(isFile).sort();
}

/** Files a `*.conf`-style glob picked up that look like editor/backup leftovers (`x.bak.conf`, `x_old.conf`). */
export function suspiciousIncludes(pattern: string, files: string[]): string[] {
  if (!hasGlob(path.basename(pattern))) return [];
  return files.filter((f) => /[._-](bak|backup|old|orig|save|swp|tmp)\.[A-Za-z]+$|~$/i.test(path.basename(f)));
}
