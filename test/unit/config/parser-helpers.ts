import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConfigElement } from '../../../src/config/node.js';
import { ConfigError } from '../../../src/config/errors.js';

export interface Plain {
  name: string;
  arg: string;
  params: Record<string, string | { value: string; special: string }>;
  elements: Plain[];
}

/** The tree without files and lines: what two equivalent configs must share. */
export function plain(el: ConfigElement): Plain {
  const params: Plain['params'] = {};
  for (const [k, p] of el.params) params[k] = p.special ? { value: p.value, special: p.special } : p.value;
  return { name: el.name, arg: el.arg, params, elements: el.elements.map(plain) };
}

/** Runs `fn`, expecting a ConfigError; returns it. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** A fresh temp dir with the given files written (paths relative to it). */
export function tempTree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logferry-parser-'));
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  return dir;
}

export function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
