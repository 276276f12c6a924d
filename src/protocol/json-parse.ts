/**
 * JSON records as Fluentd reads them: `2.0` stays a Float (a WholeFloat, src/core/float.ts), `2` an
 * Integer. JSON.parse cannot tell them apart and Node 20 has no source access in revivers, so:
 *
 *   1. a text with no digit followed by `.`, `e` or `E` has no float literal: plain JSON.parse;
 *   2. otherwise the number literals are listed in document order by a small scan that skips
 *      strings, and JSON.parse (which still does all validation) runs with a reviver that meets the
 *      numbers in that same order (they are leaves) and wraps the whole ones written as floats.
 *
 * The reviver walks the parsed objects, not the text, so its order differs from the text's when an
 * object has a key that is an array index (`"1"`: JS puts those first) or a key given twice (the
 * earlier value is gone). The scan refuses the first; a count or value mismatch catches the second;
 * either way the text is parsed again plainly (floats read as numbers, as before).
 */
import { WholeFloat } from '../core/float.js';

const FLOAT_HINT = /[0-9][.eE]/;
const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;
const FLOAT_LITERAL = /[.eE]/;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/** The number literals of `text` in order, or null when an object key could reorder the walk. */
function numberLiterals(text: string): string[] | null {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = ++i;
      let escaped = false;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i += 2;
        } else if (d === 0x22) break;
        else i++;
      }
      const end = i++;
      let j = i;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === 0x3a) {
        // a key: an escaped one may spell an index ("\u0031"); an index key is walked first
        if (escaped) return null;
        const key = text.slice(start, end);
        if (INDEX_KEY.test(key) && Number(key) < 4294967295) return null;
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i++;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      out.push(text.slice(start, i));
    } else i++;
  }
  return out;
}

/** Parses JSON (throws as JSON.parse does), keeping whole-valued float literals as WholeFloat. */
export function parseJsonKeepingFloats(text: string): unknown {
  if (!FLOAT_HINT.test(text)) return JSON.parse(text);
  const literals = numberLiterals(text);
  if (literals === null) return JSON.parse(text);
  let next = 0;
  let inOrder = true;
  const value: unknown = JSON.parse(text, (_key, v: unknown) => {
    if (typeof v !== 'number') return v;
    const literal = literals[next++];
    if (literal === undefined || Number(literal) !== v) {
      inOrder = false;
      return v;
    }
    return Number.isInteger(v) && FLOAT_LITERAL.test(literal) ? new WholeFloat(v) : v;
  });
  return inOrder && next === literals.length ? value : JSON.parse(text);
}
