/**
 * Entry point for reading a config: picks the v1 or YAML parser and appends `--inline-config` text.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConfigElement } from './node.js';
import { syntaxError } from './errors.js';
import type { EmbedOptions } from './embedded.js';
import { parseV1, parseV1Into } from './parse-v1.js';
import { parseYaml } from './parse-yaml.js';

export type ConfigFormat = 'guess' | 'yaml' | 'v1';

export interface ParseTextOptions extends EmbedOptions {
  format?: ConfigFormat;
  /** Collects non-fatal parser notes (deprecated spellings, suspicious includes …). */
  warnings?: string[];
}

export interface LoadOptions extends ParseTextOptions {
  /** `-i/--inline-config` text; literal `\n` sequences become newlines. */
  inline?: string;
}

/** The file name inline config errors are reported under. */
export const INLINE_FILE = '(inline)';

function isYaml(file: string, format: ConfigFormat | undefined): boolean {
  if (format === 'yaml') return true;
  if (format === 'v1') return false;
  const ext = path.extname(file).toLowerCase();
  return ext === '.yaml' || ext === '.yml';
}

/** Parses config text already in memory; `file` names it in errors and anchors relative includes. */
export function parseConfigText(text: string, file: string, opts: ParseTextOptions = {}): ConfigElement {
  return isYaml(file, opts.format) ? parseYaml(text, file, opts) : parseV1(text, file, opts);
}

function readConfigFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw syntaxError(file, 0, `cannot read config file ${file}: ${reason}`, 'LF_CONFIG_STRUCTURE');
  }
}

/**
 * Reads and parses the config at `file`. Inline text is parsed with the v1 rules as if appended to
 * the file (relative includes resolve against the config's directory), under the name `(inline)`.
 */
export function loadConfig(file: string, opts: LoadOptions = {}): ConfigElement {
  const root = parseConfigText(readConfigFile(file), file, opts);
  if (opts.inline) {
    const text = opts.inline.replace(/\\n/g, '\n');
    parseV1Into(root, text, INLINE_FILE, { ...opts, baseDir: path.dirname(path.resolve(file)) });
  }
  return root;
}
