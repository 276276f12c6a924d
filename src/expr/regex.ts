/**
 * Ruby regexps and the string operations built on them: translating `/…/imx` to a JS RegExp, Ruby's
 * `sub`/`gsub` replacement escapes (`\1`, `\k<name>`, `\0`), `split` (awk mode, limits, trailing empty
 * fields dropped) and `tr`/`delete` character sets.
 */
import { RRegex } from './values.js';

const POSIX: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: '\\s', xdigit: '0-9a-fA-F',
  word: '\\w', punct: '!-\\/:-@\\[-`{-~', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f', print: '\\x20-\\x7e', graph: '\\x21-\\x7e',
};

/** Ruby regexp source + flags → JS RegExp. Ruby's `^`/`$` are line anchors (JS `m`); Ruby `m` is JS `s`. */
export function translateRegex(source: string, flags: string): RegExp {
  let js = 'm';
  for (const f of flags) {
    if (f === 'i') js += 'i';
    else if (f === 'm') js += 's';
    else if (f === 'x') throw new Error('the x (extended) flag is not supported');
    else if (f !== 'o' && f !== 'u' && f !== 'n') throw new Error(`unknown regexp flag '${f}'`);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const d = source[i + 1] ?? '';
      i++;
      if (d === 'A') out += inClass ? 'A' : '(?<![\\s\\S])';
      else if (d === 'z') out += inClass ? 'z' : '(?![\\s\\S])';
      else if (d === 'Z') out += inClass ? 'Z' : '(?=\\n?(?![\\s\\S]))';
      else if (d === 'h') out += inClass ? '0-9a-fA-F' : '[0-9a-fA-F]';
      else if (d === 'H') out += inClass ? '' : '[^0-9a-fA-F]';
      else if ('GKRXp'.includes(d)) throw new Error(`\\${d} is not supported`);
      else out += `\\${d}`;
      continue;
    }
    if (inClass && c === '[' && source[i + 1] === ':') {
      const m = /^\[:(\^?)([a-z]+):\]/.exec(source.slice(i));
      if (!m || !Object.hasOwn(POSIX, m[2]!) || m[1]) throw new Error(`unsupported character class ${source.slice(i, i + 12)}`);
      out += POSIX[m[2]!];
      i += m[0].length - 1;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    else if (!inClass && c === '(' && source[i + 1] === '?' && !/^\(\?(?:[:=!]|<[=!]|<[A-Za-z_])/.test(source.slice(i))) {
      throw new Error('inline options and comments (?…) are not supported');
    }
    out += c;
  }
  return new RegExp(out, js);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Ruby's sub/gsub replacement text for one match. */
function expandReplacement(rep: string, m: RegExpExecArray | RegExpMatchArray, input: string): string {
  if (!rep.includes('\\')) return rep;
  const idx = m.index ?? 0;
  return rep.replace(/\\(\d|&|`|'|\\|k<([A-Za-z_][A-Za-z0-9_]*)>)/g, (_all, what: string, name?: string) => {
    if (name !== undefined) return m.groups?.[name] ?? '';
    if (what === '&') return m[0];
    if (what === '`') return input.slice(0, idx);
    if (what === "'") return input.slice(idx + m[0].length);
    if (what === '\\') return '\\';
    return m[Number(what)] ?? '';
  });
}

/** `sub`/`gsub` with a string or regexp pattern and a string replacement. */
export function substitute(s: string, pattern: string | RRegex, rep: string, global: boolean): string {
  const re = typeof pattern === 'string' ? new RegExp(escapeRe(pattern), global ? 'g' : '') : global ? pattern.global : pattern.re;
  return s.replace(re, (...args: unknown[]) => {
    const hasGroups = typeof args[args.length - 1] === 'object';
    const groupCount = args.length - (hasGroups ? 3 : 2);
    const m = args.slice(0, groupCount) as string[] as unknown as RegExpMatchArray;
    m.index = args[groupCount] as number;
    if (hasGroups) m.groups = args[args.length - 1] as Record<string, string>;
    return expandReplacement(rep, m, s);
  });
}

const AWK_WS = /[ \t\n\v\f\r]+/g;

/** Ruby String#split. */
export function split(s: string, pattern: string | RRegex | null, limit: number): string[] {
  if (s === '') return [];
  let re: RegExp;
  let str = s;
  if (pattern === null || pattern === ' ') {
    str = s.replace(/^[ \t\n\v\f\r]+/, '');
    re = new RegExp(AWK_WS.source, 'g');
  } else if (typeof pattern === 'string') {
    re = new RegExp(escapeRe(pattern), 'g');
  } else {
    re = new RegExp(pattern.re.source, pattern.re.flags + 'g');
  }
  // the ES split algorithm (which Ruby's agrees with), plus Ruby's limit and trailing-field rules
  const out: string[] = [];
  let fields = 0;
  let p = 0;
  let q = 0;
  while (q < str.length) {
    if (limit > 0 && fields >= limit - 1) break;
    re.lastIndex = q;
    const m = re.exec(str);
    if (!m || m.index >= str.length) break;
    q = m.index;
    const e = q + m[0].length;
    if (e === p) { q++; continue; }
    out.push(str.slice(p, q), ...m.slice(1).filter((g): g is string => g !== undefined));
    fields++;
    p = e;
    q = p;
  }
  out.push(str.slice(p));
  if (limit === 0) while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/** A `tr`/`delete` character set: ranges `a-z`, leading `^` negates. */
function charSet(spec: string): { chars: string[]; negate: boolean } {
  const negate = spec.length > 1 && spec.startsWith('^');
  const body = Array.from(negate ? spec.slice(1) : spec);
  const chars: string[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && i + 1 < body.length) { chars.push(body[++i]!); continue; }
    if (body[i + 1] === '-' && i + 2 < body.length) {
      const a = c.codePointAt(0)!, b = body[i + 2]!.codePointAt(0)!;
      for (let x = a; x <= b; x++) chars.push(String.fromCodePoint(x));
      i += 2;
      continue;
    }
    chars.push(c);
  }
  return { chars, negate };
}

export function tr(s: string, from: string, to: string): string {
  const f = charSet(from);
  const t = charSet(to).chars;
  const last = t[t.length - 1] ?? '';
  return Array.from(s).map((c) => {
    const i = f.chars.indexOf(c);
    if (f.negate) return i < 0 ? last : c;
    if (i < 0) return c;
    return t.length === 0 ? '' : (t[i] ?? last);
  }).join('');
}

export function deleteChars(s: string, spec: string): string {
  const f = charSet(spec);
  return Array.from(s).filter((c) => f.chars.includes(c) === f.negate).join('');
}

export function squeeze(s: string, spec?: string): string {
  const f = spec === undefined ? null : charSet(spec);
  const chars = Array.from(s);
  return chars.filter((c, i) => i === 0 || c !== chars[i - 1] || (f !== null && f.chars.includes(c) === f.negate)).join('');
}
