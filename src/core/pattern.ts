/**
 * Tag patterns of <match> and <filter>: `*` (one part, may be empty), `**` (zero or more parts),
 * `{a,b}` alternation (nestable), `\` escapes, `/regex/` anchored regexes; an argument holds several
 * whitespace-separated patterns and matches when any does. Compiled once into one RegExp.
 */
export class TagPattern {
  private readonly re: RegExp;
  constructor(readonly source: string) {
    const parts = source.trim().split(/\s+/).filter((s) => s !== '');
    const alts = (parts.length === 0 ? ['**'] : parts).map(compileOne);
    this.re = new RegExp(`^(?:${alts.join('|')})$`);
  }
  match(tag: string): boolean {
    return this.re.test(tag);
  }
}

export class PatternError extends Error {}

function compileOne(p: string): string {
  if (p.length >= 2 && p.startsWith('/') && p.endsWith('/')) {
    const body = p.slice(1, -1);
    try {
      new RegExp(body);
    } catch (e) {
      throw new PatternError(`invalid regular expression pattern ${p}: ${(e as Error).message}`);
    }
    return `(?:${body})`;
  }
  const [re, end] = translate(p, 0, false);
  if (end !== p.length) throw new PatternError(`unbalanced '}' in pattern ${JSON.stringify(p)}`);
  return re;
}

const SPECIAL = /[.*+?^${}()|[\]\\/]/;

/** Translates from `i` until the end (or a `,`/`}` when inside braces); returns [regex, index]. */
function translate(p: string, i: number, inBraces: boolean): [string, number] {
  const out: string[] = [];
  while (i < p.length) {
    const c = p[i]!;
    if (inBraces && (c === ',' || c === '}')) break;
    if (c === '*') {
      if (p[i + 1] === '*') {
        i += 2;
        if (p[i] === '.') {
          out.push('(?:.*\\.)?');
          i++;
        } else if (out[out.length - 1] === '\\.') {
          out.pop();
          out.push('(?:\\..*)?');
        } else {
          out.push('.*');
        }
      } else {
        out.push('[^.]*');
        i++;
      }
    } else if (c === '{') {
      const alts: string[] = [];
      i++;
      for (;;) {
        const [sub, j] = translate(p, i, true);
        alts.push(sub);
        i = j;
        if (p[i] === ',') { i++; continue; }
        if (p[i] === '}') { i++; break; }
        throw new PatternError(`unclosed '{' in pattern ${JSON.stringify(p)}`);
      }
      out.push(`(?:${alts.join('|')})`);
    } else if (c === '\\' && i + 1 < p.length) {
      const n = p[i + 1]!;
      out.push(SPECIAL.test(n) ? `\\${n}` : n);
      i += 2;
    } else {
      out.push(SPECIAL.test(c) ? `\\${c}` : c);
      i++;
    }
  }
  return [out.join(''), i];
}
