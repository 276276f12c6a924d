/**
 * The closed set of embedded Ruby expressions Fluentd configs use inside double-quoted strings:
 * `"#{ENV['X'] || 'fallback'}"`, `"#{hostname}"`, `"#{use_default}"` … Nothing is ever handed to
 * eval/Function: expressions are tokenised, parsed into a tiny tree and interpreted here.
 */
import os from 'node:os';
import type { SpecialValue } from './node.js';
import { syntaxError } from './errors.js';

export interface EmbedOptions {
  env?: NodeJS.ProcessEnv;
  hostname?: string;
  workerId?: string;
}

export interface EmbedContext {
  env: NodeJS.ProcessEnv;
  hostname: string;
  workerId: string;
}

/** Where the string being evaluated starts, for error messages. */
export interface Where {
  file: string;
  line: number;
}

/** A double-quoted string after escapes and `#{}`; `special` makes the whole parameter default/nil. */
export interface ExpandedString {
  value: string;
  special?: SpecialValue;
}

export const SUPPORTED_EXPRESSIONS =
  "ENV['NAME'], ENV[\"NAME\"], ENV.fetch('NAME'), ENV.fetch('NAME', 'default'), 'literal', " +
  'a || b, Socket.gethostname, hostname, worker_id, use_nil, use_default';

export function makeEmbedContext(opts: EmbedOptions = {}): EmbedContext {
  const env = opts.env ?? process.env;
  return {
    env,
    hostname: opts.hostname ?? os.hostname(),
    workerId: opts.workerId ?? env.SERVERENGINE_WORKER_ID ?? '',
  };
}

// ---------------------------------------------------------------------------------------------
// Locating `#{ … }`

/** Skips a quoted Ruby string starting at `start` (the quote); returns the index after it, or -1. */
function skipRubyString(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i + 1;
  }
  return -1;
}

/**
 * Given the index just after `#{`, returns the index of the matching `}` (quotes and nested braces
 * inside the code are skipped), or -1 when the code never ends.
 */
export function findEmbeddedEnd(text: string, start: number): number {
  let depth = 1;
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = skipRubyString(text, i);
      if (i < 0) return -1;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
    i++;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Expression language

type Token = { kind: 'ident' | 'str' | 'punct'; text: string };

type Expr =
  | { k: 'env'; name: string }
  | { k: 'fetch'; name: string; fallback?: string }
  | { k: 'str'; value: string }
  | { k: 'hostname' }
  | { k: 'worker_id' }
  | { k: 'special'; special: SpecialValue }
  | { k: 'or'; items: Expr[] };

/** Ruby semantics: `null` is nil (falls through `||`); an empty string is truthy. */
type Value = { text: string | null; special?: SpecialValue };

class Unsupported extends Error {}

function readRubyString(code: string, start: number): { value: string; end: number } {
  const quote = code[start];
  let value = '';
  for (let i = start + 1; i < code.length; i++) {
    const c = code[i];
    if (c === quote) return { value, end: i + 1 };
    if (quote === '"' && c === '#' && code[i + 1] === '{') throw new Unsupported();
    if (c !== '\\') { value += c; continue; }
    const n = code[++i];
    if (n === undefined) break;
    if (quote === "'") value += n === "'" || n === '\\' ? n : `\\${n}`;
    else value += ({ n: '\n', t: '\t', r: '\r', '0': '\0' } as Record<string, string>)[n] ?? n;
  }
  throw new Unsupported();
}

function tokenize(code: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < code.length) {
    const c = code[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"' || c === "'") {
      const s = readRubyString(code, i);
      tokens.push({ kind: 'str', text: s.value });
      i = s.end;
      continue;
    }
    if (code.startsWith('||', i)) { tokens.push({ kind: 'punct', text: '||' }); i += 2; continue; }
    if ('[](),'.includes(c)) { tokens.push({ kind: 'punct', text: c }); i++; continue; }
    const m = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(code.slice(i));
    if (!m) throw new Unsupported();
    tokens.push({ kind: 'ident', text: m[0] });
    i += m[0].length;
  }
  return tokens;
}

class ExprParser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Expr {
    const e = this.parseOr();
    if (this.i !== this.tokens.length) throw new Unsupported();
    return e;
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Unsupported();
    return t;
  }

  private expect(text: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) throw new Unsupported();
  }

  private str(): string {
    const t = this.next();
    if (t.kind !== 'str') throw new Unsupported();
    return t.text;
  }

  private peekPunct(text: string): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && t.kind === 'punct' && t.text === text;
  }

  private parseOr(): Expr {
    const items = [this.parseTerm()];
    while (this.peekPunct('||')) {
      this.i++;
      items.push(this.parseTerm());
    }
    return items.length === 1 ? items[0] : { k: 'or', items };
  }

  private parseTerm(): Expr {
    const t = this.next();
    if (t.kind === 'str') return { k: 'str', value: t.text };
    if (t.kind !== 'ident') throw new Unsupported();
    switch (t.text) {
      case 'ENV': {
        this.expect('[');
        const name = this.str();
        this.expect(']');
        return { k: 'env', name };
      }
      case 'ENV.fetch': {
        this.expect('(');
        const name = this.str();
        let fallback: string | undefined;
        if (this.peekPunct(',')) { this.i++; fallback = this.str(); }
        this.expect(')');
        return { k: 'fetch', name, fallback };
      }
      case 'Socket.gethostname':
      case 'hostname':
        return { k: 'hostname' };
      case 'worker_id':
        return { k: 'worker_id' };
      case 'use_nil':
        return { k: 'special', special: 'nil' };
      case 'use_default':
        return { k: 'special', special: 'default' };
      default:
        throw new Unsupported();
    }
  }
}

function evaluate(e: Expr, ctx: EmbedContext, code: string, where: Where): Value {
  switch (e.k) {
    case 'str': return { text: e.value };
    case 'env': return { text: ctx.env[e.name] ?? null };
    case 'hostname': return { text: ctx.hostname };
    case 'worker_id': return { text: ctx.workerId };
    case 'special': return { text: null, special: e.special };
    case 'fetch': {
      const v = ctx.env[e.name] ?? e.fallback;
      if (v === undefined) {
        throw syntaxError(where.file, where.line,
          `#{${code}}: environment variable ${e.name} is not set (give ENV.fetch a default or set it)`,
          'LF_CONFIG_EMBEDDED');
      }
      return { text: v };
    }
    case 'or': {
      let last: Value = { text: null };
      for (const item of e.items) {
        last = evaluate(item, ctx, code, where);
        if (last.special || last.text !== null) return last;
      }
      return last;
    }
  }
}

/** Evaluates the code between `#{` and `}`. Throws LF_CONFIG_EMBEDDED for anything outside the set. */
export function evaluateEmbedded(code: string, ctx: EmbedContext, where: Where): Value {
  let expr: Expr;
  try {
    expr = new ExprParser(tokenize(code)).parse();
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
    throw syntaxError(where.file, where.line,
      `unsupported embedded expression "#{${code}}": logferry evaluates only ${SUPPORTED_EXPRESSIONS}`,
      'LF_CONFIG_EMBEDDED');
  }
  return evaluate(expr, ctx, code.trim(), where);
}

// ---------------------------------------------------------------------------------------------
// Strings

const ESCAPES: Record<string, string> = {
  '"': '"', "'": "'", '\\': '\\', r: '\r', n: '\n', t: '\t', f: '\f', b: '\b', '0': '\0',
};

export interface ExpandOptions {
  /** Process v1 backslash escapes (double-quoted strings); false for JSON strings (already unescaped). */
  escapes: boolean;
  /** YAML `!fluent/s`: `use_nil` yields '' instead of a nil parameter (as Fluentd's YAML loader does). */
  nilAsEmpty?: boolean;
}

/**
 * Expands the body of a double-quoted string (without its quotes): escapes, `\`+newline continuation,
 * `#{…}` expressions and literal `\#{`. Error lines count the newlines inside the string.
 */
export function expandString(raw: string, ctx: EmbedContext, where: Where, opts: ExpandOptions): ExpandedString {
  let out = '';
  let special: SpecialValue | undefined;
  let line = where.line;
  const at = (): Where => ({ file: where.file, line });
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\n') line++;
    if (c === '\\' && opts.escapes) {
      const n = raw[++i];
      if (n === undefined) { out += '\\'; break; }
      if (n === '\n') { line++; continue; }
      if (n in ESCAPES) { out += ESCAPES[n]; continue; }
      if (/[A-Za-z0-9]/.test(n)) throw syntaxError(where.file, line, `unexpected back-slash escape character '${n}'`);
      out += n;
      continue;
    }
    if (c === '#' && raw[i + 1] === '{') {
      const end = findEmbeddedEnd(raw, i + 2);
      if (end < 0) throw syntaxError(where.file, line, `expected '}' to end the embedded code "${raw.slice(i)}"`);
      const code = raw.slice(i + 2, end);
      const v = evaluateEmbedded(code, ctx, at());
      if (v.special === 'nil' && opts.nilAsEmpty) { /* interpolates as '' */ }
      else if (v.special) special ??= v.special;
      out += v.text ?? '';
      for (const ch of code) if (ch === '\n') line++;
      i = end;
      continue;
    }
    out += c;
  }
  return special ? { value: '', special } : { value: out };
}

/** Expands `#{}` inside every string of a parsed JSON value (strings inside JSON params). */
export function expandJsonStrings(value: unknown, ctx: EmbedContext, where: Where): unknown {
  if (typeof value === 'string') {
    if (!value.includes('#{')) return value;
    const r = expandString(value, ctx, where, { escapes: false });
    if (r.special) {
      throw syntaxError(where.file, where.line,
        `use_nil/use_default cannot be used inside a JSON value ("${value}")`, 'LF_CONFIG_EMBEDDED');
    }
    return r.value;
  }
  if (Array.isArray(value)) return value.map((v) => expandJsonStrings(v, ctx, where));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandJsonStrings(v, ctx, where);
    return out;
  }
  return value;
}
