/**
 * Tokenizer for the Ruby subset inside `${…}`. Double-quoted strings keep their `#{…}` parts as
 * token lists (tokenized here, parsed by the parser), so nothing is ever re-read as source text.
 * Characters that only serve code we refuse (backticks, `$globals`, `@ivars`, `;`, `::`, `:symbols`,
 * assignment, blocks) are rejected here with the reason.
 */

export class ExprSyntaxError extends Error {
  /** The expression or template text that failed (set by compileExpr / compileTemplate). */
  source = '';
  constructor(message: string, readonly pos: number) {
    super(message);
    this.name = 'ExprSyntaxError';
  }
}

/** A piece of a double-quoted string: literal text, or the tokens of one `#{…}`. */
export type StrPart = string | { tokens: Token[]; pos: number };

export type Token =
  | { t: 'int' | 'float'; v: number; pos: number; sp: boolean }
  | { t: 'str'; parts: StrPart[]; pos: number; sp: boolean }
  | { t: 'regex'; source: string; flags: string; pos: number; sp: boolean }
  | { t: 'ident' | 'const' | 'op'; v: string; pos: number; sp: boolean }
  | { t: 'eof'; pos: number; sp: boolean };

const OPS = ['...', '**', '==', '!=', '<=>', '<=', '>=', '&&', '||', '=~', '!~', '=>', '&.', '..', '::',
  '(', ')', '[', ']', '{', '}', ',', '.', '?', ':', '<', '>', '!', '+', '-', '*', '/', '%'];
// longest first
OPS.sort((a, b) => b.length - a.length);

const REFUSED: Record<string, string> = {
  '`': 'backticks (shell commands) are not allowed',
  '$': 'global variables ($…) are not allowed',
  '@': 'instance variables (@…) are not allowed',
  ';': 'multiple statements (;) are not supported',
  '|': 'blocks and bitwise operators are not supported',
  '&': 'bitwise operators are not supported',
  '^': 'bitwise operators are not supported',
  '~': 'bitwise operators are not supported',
  '\\': 'unexpected backslash',
  '=': 'assignment is not supported',
};

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', s: ' ', e: '\x1b', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };

/** Reads one backslash escape of a double-quoted string at `i` (just after `\`); returns [text, next]. */
export function readEscape(src: string, i: number): [string, number] {
  const c = src[i];
  if (c === undefined) return ['\\', i];
  if (/[0-7]/.test(c)) {
    const m = /^[0-7]{1,3}/.exec(src.slice(i))![0];
    return [String.fromCharCode(parseInt(m, 8)), i + m.length];
  }
  if (c === 'x') {
    const m = /^[0-9a-fA-F]{1,2}/.exec(src.slice(i + 1));
    if (m) return [String.fromCharCode(parseInt(m[0], 16)), i + 1 + m[0].length];
  }
  if (c === 'u') {
    const m = /^(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{4}))/.exec(src.slice(i + 1));
    if (m) return [String.fromCodePoint(parseInt(m[1] ?? m[2]!, 16)), i + 1 + m[0].length];
  }
  if (SIMPLE_ESCAPES[c] !== undefined) return [SIMPLE_ESCAPES[c], i + 1];
  return [c, i + 1];
}

/**
 * Reads the body of a double-quoted string from `start` up to `close` (a quote character, or null
 * for "to the end of the text"). `openers` are the interpolation starters (`#{`, and `${` for the
 * record templates); `escapes` turns backslash escapes on.
 */
export function readInterpolated(src: string, start: number, close: string | null, openers: readonly string[], escapes = true): { parts: StrPart[]; end: number } {
  const parts: StrPart[] = [];
  let lit = '';
  let i = start;
  for (;;) {
    if (i >= src.length) {
      if (close !== null) throw new ExprSyntaxError('unterminated string', start - 1);
      break;
    }
    const c = src[i]!;
    if (close !== null && c === close) { i++; break; }
    if (c === '\\' && escapes) {
      const [text, next] = readEscape(src, i + 1);
      lit += text;
      i = next;
      continue;
    }
    const opener = openers.find((o) => src.startsWith(o, i));
    if (opener) {
      if (lit) parts.push(lit);
      lit = '';
      const { tokens, end } = tokenizeFrom(src, i + opener.length, true);
      parts.push({ tokens, pos: i });
      i = end + 1;
      continue;
    }
    lit += c;
    i++;
  }
  if (lit || parts.length === 0) parts.push(lit);
  return { parts, end: i };
}

function isValueToken(tok: Token | undefined): boolean {
  if (!tok) return false;
  if (tok.t === 'op') return tok.v === ')' || tok.v === ']' || tok.v === '}';
  return tok.t !== 'eof';
}

export function tokenize(src: string): Token[] {
  return tokenizeFrom(src, 0, false).tokens;
}

/**
 * Tokenizes from `start`. With `untilBrace`, stops at the `}` closing an interpolation (nested
 * braces counted) and returns its index as `end`.
 */
function tokenizeFrom(src: string, start: number, untilBrace: boolean): { tokens: Token[]; end: number } {
  const tokens: Token[] = [];
  let depth = 0;
  let i = start;
  let sp = false;
  const push = (tok: Token) => { tokens.push(tok); sp = false; };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { sp = true; i++; continue; }
    const pos = i;
    if (/[0-9]/.test(c)) {
      const m = /^[0-9][0-9_]*(\.[0-9][0-9_]*)?([eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      const text = m[0].replace(/_/g, '');
      const isFloat = m[1] !== undefined || m[2] !== undefined;
      push({ t: isFloat ? 'float' : 'int', v: Number(text), pos, sp });
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) throw new ExprSyntaxError(`unsupported number literal near '${src.slice(pos, i + 1)}'`, pos);
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      let name = m;
      i += m.length;
      const prev = tokens[tokens.length - 1];
      const afterDot = prev?.t === 'op' && (prev.v === '.' || prev.v === '&.');
      // a method name may end with `?` (`nil?`, `include?`); only right after `.` so `a ? b : c` stays a ternary
      if (afterDot && src[i] === '?' && src[i + 1] !== '=') { name += '?'; i++; }
      if (src[i] === '!' && src[i + 1] !== '=' && src[i + 1] !== '~') throw new ExprSyntaxError(`'${name}!' is not supported (bang methods modify their receiver)`, pos);
      push({ t: /^[A-Z]/.test(name) ? 'const' : 'ident', v: name, pos, sp });
      continue;
    }
    if (c === '"') {
      const { parts, end } = readInterpolated(src, i + 1, '"', ['#{']);
      push({ t: 'str', parts, pos, sp });
      i = end;
      continue;
    }
    if (c === "'") {
      let s = '';
      let j = i + 1;
      for (;; j++) {
        if (j >= src.length) throw new ExprSyntaxError('unterminated string', pos);
        if (src[j] === '\\' && (src[j + 1] === "'" || src[j + 1] === '\\')) { s += src[++j]; continue; }
        if (src[j] === "'") break;
        s += src[j];
      }
      push({ t: 'str', parts: [s], pos, sp });
      i = j + 1;
      continue;
    }
    if (c === '/' && !isValueToken(tokens[tokens.length - 1])) {
      let j = i + 1;
      let inClass = false;
      let body = '';
      for (;; j++) {
        if (j >= src.length) throw new ExprSyntaxError('unterminated regexp', pos);
        const d = src[j]!;
        if (d === '\\') { body += d + (src[j + 1] ?? ''); j++; continue; }
        if (d === '#' && src[j + 1] === '{') throw new ExprSyntaxError('interpolation in a regexp is not supported', j);
        if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        body += d;
      }
      const flags = /^[a-z]*/.exec(src.slice(j + 1))![0];
      push({ t: 'regex', source: body, flags, pos, sp });
      i = j + 1 + flags.length;
      continue;
    }
    if (c === ':' && /[A-Za-z_"']/.test(src[i + 1] ?? '') && (i === start || /[\s(,[]/.test(src[i - 1]!))) {
      throw new ExprSyntaxError('symbols (:name) are not supported', pos);
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      if (op === '::') throw new ExprSyntaxError("constant paths (::) are not allowed", pos);
      if (op === '{') depth++;
      if (op === '}') {
        if (untilBrace && depth === 0) return { tokens: [...tokens, { t: 'eof', pos, sp }], end: i };
        depth--;
      }
      push({ t: 'op', v: op, pos, sp });
      i += op.length;
      continue;
    }
    throw new ExprSyntaxError(REFUSED[c] ?? `unexpected character '${c}'`, pos);
  }
  if (untilBrace) throw new ExprSyntaxError('unterminated #{…} / ${…}', start);
  tokens.push({ t: 'eof', pos: i, sp });
  return { tokens, end: i };
}
