/**
 * fluent.conf (v1 syntax) → ConfigElement tree. A character scanner over the whole text: values may
 * span lines (double-quoted strings, JSON), and every error carries the file and 1-based line.
 * `@include` globs and paths are resolved by include-paths.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConfigElement, ConfigParam } from './node.js';
import { newElement, setParam } from './node.js';
import { syntaxError } from './errors.js';
import type { EmbedContext, EmbedOptions, ExpandedString } from './embedded.js';
import { expandJsonStrings, expandString, findEmbeddedEnd, makeEmbedContext } from './embedded.js';
import { expandIncludeGlob, realPathOf, suspiciousIncludes } from './include-paths.js';

// Re-exported so importers of the include helpers from here (parse-yaml.ts, tests) need no change.
export { expandIncludeGlob, realPathOf, suspiciousIncludes } from './include-paths.js';

export interface V1Options extends EmbedOptions {
  /** Collects non-fatal notes (legacy `include`, `@xxx` keys in nested sections, backup-looking includes). */
  warnings?: string[];
  /** Directory relative `@include` paths resolve against; defaults to the directory of `file`. */
  baseDir?: string;
}

const RESERVED_KEYS = new Set(['@type', '@id', '@label', '@log_level']);
/** Directives where an unknown `@xxx` key is an error (deeper sections only warn). */
const STRICT_AT_ELEMENTS = new Set(['ROOT', 'source', 'match', 'filter', 'system']);

interface ParseState {
  ctx: EmbedContext;
  warnings: string[];
  /** Real paths of the files being parsed, outermost first: detects include cycles. */
  chain: string[];
}

/** Parses v1 config text into a `ROOT` element. */
export function parseV1(text: string, file: string, opts: V1Options = {}): ConfigElement {
  const root = newElement('ROOT', '', file, 1);
  parseV1Into(root, text, file, opts);
  return root;
}

/** Parses v1 config text and appends its params and elements to `target` (used for --inline-config). */
export function parseV1Into(target: ConfigElement, text: string, file: string, opts: V1Options = {}): void {
  const state: ParseState = {
    ctx: makeEmbedContext(opts),
    warnings: opts.warnings ?? [],
    chain: [realPathOf(path.resolve(file))],
  };
  const baseDir = opts.baseDir ?? path.dirname(path.resolve(file));
  new V1Reader(text, file, baseDir, state).parseBody(target, null);
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r';

class V1Reader {
  private readonly text: string;
  private readonly lineStarts: number[] = [0];
  private pos = 0;

  constructor(text: string, private readonly file: string, private readonly baseDir: string,
    private readonly state: ParseState) {
    this.text = text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
    for (let i = 0; i < this.text.length; i++) if (this.text[i] === '\n') this.lineStarts.push(i + 1);
  }

  /** Parses params and elements into `el` until `</closeName>` (or the end of the text when null). */
  parseBody(el: ConfigElement, closeName: string | null): void {
    for (;;) {
      this.skipBlankLinesAndComments();
      if (this.eof()) {
        if (closeName === null) return;
        throw syntaxError(el.file, el.line,
          `<${closeName}> is never closed: expected '</${closeName}>' but got the end of the file`);
      }
      if (this.text.startsWith('</', this.pos)) {
        this.readCloseTag(closeName);
        return;
      }
      if (this.peek() === '<') el.elements.push(this.readElement());
      else this.readParamLine(el);
    }
  }

  // -- positions ---------------------------------------------------------------------------------

  private lineAt(pos: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= pos) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  }

  private fail(pos: number, message: string): never {
    throw syntaxError(this.file, this.lineAt(pos), message);
  }

  private eof(): boolean { return this.pos >= this.text.length; }
  private peek(): string | undefined { return this.text[this.pos]; }

  private endOfLine(): number {
    const nl = this.text.indexOf('\n', this.pos);
    return nl < 0 ? this.text.length : nl;
  }

  private skipSpaces(): void { this.take(/[ \t\r]*/y); }
  private skipBlankLinesAndComments(): void { this.take(/(?:[ \t\r\n]|#[^\n]*)*/y); }

  /** After a tag or a quoted/JSON value only spaces and a comment may follow on the line. */
  private expectLineEnd(what: string): void {
    this.skipSpaces();
    if (this.peek() === '#') this.pos = this.endOfLine();
    if (this.eof()) return;
    if (this.peek() !== '\n') {
      this.fail(this.pos, `expected end of line after the ${what}, got '${this.text.slice(this.pos, this.endOfLine())}'`);
    }
    this.pos++;
  }

  // -- elements ----------------------------------------------------------------------------------

  /** Matches `re` (sticky) at the current position and moves past it; '' when it does not match. */
  private take(re: RegExp): string {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    this.pos += m ? m[0].length : 0;
    return m ? m[0] : '';
  }

  private readName(): string { return this.take(/[A-Za-z0-9_]+/y); }

  private readCloseTag(closeName: string | null): void {
    const start = this.pos;
    this.pos += 2;
    const name = this.readName();
    this.skipSpaces();
    if (this.peek() !== '>') this.fail(this.pos, `expected '>' to end the tag '</${name}'`);
    this.pos++;
    this.expectLineEnd(`end tag '</${name}>'`);
    if (closeName === null) this.fail(start, `unexpected end tag '</${name}>': no element is open here`);
    if (name !== closeName) this.fail(start, `unmatched end tag: expected '</${closeName}>' but got '</${name}>'`);
  }

  private readElement(): ConfigElement {
    const start = this.pos;
    this.pos++;
    const name = this.readName();
    if (!name) this.fail(start, `expected an element name after '<' (letters, digits, '_')`);
    if (this.eof() || this.peek() === '\n') this.fail(start, `expected '>' to end the tag '<${name}'`);
    if (!isBlank(this.peek()) && this.peek() !== '>') {
      this.fail(this.pos, `unexpected character '${this.peek() ?? ''}' after the element name '<${name}'`);
    }
    this.skipSpaces();
    const arg = this.readElementArg(name, start);
    this.pos++; // '>'
    this.expectLineEnd(`tag '<${name}>'`);
    const el = newElement(name, arg, this.file, this.lineAt(start));
    this.parseBody(el, name);
    return el;
  }

  /** Reads the argument up to (not including) `>`: one quoted string, or raw text trimmed. */
  private readElementArg(name: string, start: number): string {
    const q = this.peek();
    if (q === '"' || q === "'") {
      const v = q === '"' ? this.readDoubleQuoted() : { value: this.readSingleQuoted() };
      if (v.special) this.fail(start, `use_nil/use_default cannot be used in the argument of <${name}>`);
      this.skipSpaces();
      if (this.peek() !== '>') this.fail(this.pos, `expected '>' after the quoted argument of <${name}>`);
      return v.value;
    }
    const close = this.text.indexOf('>', this.pos);
    if (close < 0 || close > this.endOfLine()) this.fail(start, `expected '>' to end the tag '<${name}'`);
    const arg = this.text.slice(this.pos, close).trim();
    this.pos = close;
    return arg;
  }

  // -- parameters --------------------------------------------------------------------------------

  private readParamLine(el: ConfigElement): void {
    const start = this.pos;
    const key = this.take(/\S+/y);
    this.skipSpaces();
    const bare = this.eof() || this.peek() === '\n';
    if (key === '@include' || (key === 'include' && el.name === 'ROOT')) {
      if (bare) this.fail(start, `${key} needs a path or glob`);
      if (key === 'include') this.warn(start, "'include' is deprecated; use '@include' instead");
      this.include(el, this.readLiteral().value, start);
      return;
    }
    if (key.startsWith('@') && !RESERVED_KEYS.has(key)) this.checkReservedPrefix(el, key, start);
    const v: ExpandedString = bare ? { value: '' } : this.readLiteral();
    const param: ConfigParam = { value: v.value, file: this.file, line: this.lineAt(start) };
    if (v.special) param.special = v.special;
    setParam(el, key, param);
  }

  private checkReservedPrefix(el: ConfigElement, key: string, start: number): void {
    const where = el.name === 'ROOT' ? 'at the top level' : `in <${el.name}>`;
    const message = `'@' is a reserved prefix: '${key}' is not allowed ${where} ` +
      '(only @type, @id, @label, @log_level and @include)';
    if (STRICT_AT_ELEMENTS.has(el.name)) this.fail(start, message);
    this.warn(start, `${message}; accepted in a nested section for now`);
  }

  private warn(pos: number, message: string): void {
    this.state.warnings.push(`${this.file}:${this.lineAt(pos)}: ${message}`);
  }

  /** The first non-space character picks the literal kind (spec §2.3). */
  private readLiteral(): ExpandedString {
    const c = this.peek();
    let v: ExpandedString;
    if (c === '"') v = this.readDoubleQuoted();
    else if (c === "'") v = { value: this.readSingleQuoted() };
    else if (c === '[' || c === '{') v = { value: this.readJson() };
    else return { value: this.readUnquoted() };
    this.expectLineEnd('value');
    return v;
  }

  /** Runs to the end of the line; a `#` after whitespace starts a comment; trailing blanks dropped. */
  private readUnquoted(): string {
    const eol = this.endOfLine();
    let value = this.text.slice(this.pos, eol);
    const comment = /[ \t]#/.exec(value);
    if (comment) value = value.slice(0, comment.index);
    this.pos = eol;
    return value.replace(/[ \t\r]+$/, '');
  }

  private readDoubleQuoted(): ExpandedString {
    const start = this.pos++;
    const bodyStart = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail(start, 'unterminated double-quoted string: expected a closing \'"\'');
      if (c === '"') break;
      if (c === '\\') {
        this.pos += 2;
      } else if (c === '#' && this.text[this.pos + 1] === '{') {
        const end = findEmbeddedEnd(this.text, this.pos + 2);
        if (end < 0) this.fail(this.pos, "expected '}' to end the embedded code '#{'");
        this.pos = end + 1;
      } else {
        this.pos++;
      }
    }
    const raw = this.text.slice(bodyStart, this.pos);
    this.pos++;
    return expandString(raw, this.state.ctx, { file: this.file, line: this.lineAt(start) }, { escapes: true });
  }

  private readSingleQuoted(): string {
    const start = this.pos++;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail(start, "unterminated single-quoted string: expected a closing \"'\"");
      if (c === '\n') this.fail(start, 'a single-quoted string cannot contain a newline; use a double-quoted string');
      this.pos++;
      if (c === "'") return out;
      const n = this.peek();
      if (c === '\\' && (n === "'" || n === '\\')) {
        out += n;
        this.pos++;
      } else {
        out += c;
      }
    }
  }

  /** A JSON array/object, possibly spanning lines, with `#` comments outside strings. Compact text. */
  private readJson(): string {
    const start = this.pos;
    const kind = this.peek() === '[' ? 'array' : 'object';
    let depth = 0;
    let inString = false;
    let buf = '';
    do {
      const c = this.peek();
      if (c === undefined) {
        this.fail(start, `got incomplete JSON ${kind} configuration: it is not closed before the end of the file`);
      }
      if (inString) {
        buf += c;
        if (c === '\\') buf += this.text[++this.pos] ?? '';
        else if (c === '"') inString = false;
      } else if (c === '#') {
        this.pos = this.endOfLine();
        continue;
      } else {
        buf += c;
        if (c === '"') inString = true;
        else if (c === '[' || c === '{') depth++;
        else if (c === ']' || c === '}') depth--;
      }
      this.pos++;
    } while (depth > 0);
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf);
    } catch (err) {
      this.fail(start, `invalid JSON ${kind}: ${(err as Error).message}; ` +
        `quote the value if it is a plain string starting with '${buf[0]}'`);
    }
    const where = { file: this.file, line: this.lineAt(start) };
    return JSON.stringify(expandJsonStrings(parsed, this.state.ctx, where));
  }

  // -- @include ----------------------------------------------------------------------------------

  private include(target: ConfigElement, spec: string, pos: number): void {
    if (/^https?:\/\//i.test(spec)) {
      this.fail(pos, `remote includes are not supported (${spec}): download the file and @include it by path`);
    }
    const local = spec.replace(/^file:\/\//i, '');
    const pattern = path.resolve(this.baseDir, local);
    const files = expandIncludeGlob(pattern);
    for (const f of suspiciousIncludes(pattern, files)) {
      this.warn(pos, `@include ${spec} matched ${f}, which looks like a backup file`);
    }
    for (const f of files) this.includeFile(target, f, pos);
  }

  private includeFile(target: ConfigElement, file: string, pos: number): void {
    const real = realPathOf(file);
    const chain = this.state.chain;
    if (chain.includes(real)) {
      this.fail(pos, `include cycle: ${[...chain.slice(chain.indexOf(real)), real].join(' -> ')}`);
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      this.fail(pos, `cannot read included file ${file}: ${(err as Error).message}`);
    }
    chain.push(real);
    try {
      new V1Reader(text, file, path.dirname(file), this.state).parseBody(target, null);
    } finally {
      chain.pop();
    }
  }
}
