/**
 * JSON records keep their floats (src/protocol/json-parse.ts): whole-valued float literals become
 * WholeFloat, everything else is exactly what JSON.parse gives; texts whose reviver walk could differ
 * from the text order (index-like keys, repeated keys, escaped keys) fall back to plain JSON.parse.
 * A seeded generator checks 500 random documents against the value it built them from.
 */
import { describe, expect, it } from 'vitest';
import { WholeFloat } from '../../../src/core/float.js';
import { seededRandom } from '../../../src/core/random.js';
import { parseJsonKeepingFloats } from '../../../src/protocol/json-parse.js';

/** The value with every WholeFloat replaced by its number (what JSON.parse gives). */
function plain(v: unknown): unknown {
  if (v instanceof WholeFloat) return v.value;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const hasFloat = (v: unknown): boolean => v instanceof WholeFloat || (v !== null && typeof v === 'object' && Object.values(v).some(hasFloat));

describe('parseJsonKeepingFloats', () => {
  it('keeps whole float literals as Floats; integers, fractions and strings as JSON.parse gives them', () => {
    const v = parseJsonKeepingFloats('{"i":2,"f":2.0,"g":2.5,"e":1e3,"E":-3E+0,"s":"v1.0 \\"2.0\\" 3e5","n":[1.0,2,{"x":-0.0,"y":10}]}');
    expect(v).toEqual({
      i: 2, f: new WholeFloat(2), g: 2.5, e: new WholeFloat(1000), E: new WholeFloat(-3), s: 'v1.0 "2.0" 3e5',
      n: [new WholeFloat(1), 2, { x: new WholeFloat(-0), y: 10 }],
    });
    expect(parseJsonKeepingFloats('7.0')).toEqual(new WholeFloat(7));
    expect(parseJsonKeepingFloats('{"a":1,"b":"x"}')).toEqual({ a: 1, b: 'x' });
  });

  it('falls back to plain numbers when the walk could differ from the text: index keys, repeated keys, escaped keys', () => {
    for (const text of ['{"b":2.0,"1":2}', '{"a":1.0,"a":1}', '{"a":1,"a":{"y":2.0}}', '{"\\u0031":2,"b":2.0}']) {
      const v = parseJsonKeepingFloats(text);
      expect(v).toEqual(JSON.parse(text));
      expect(hasFloat(v)).toBe(false);
    }
    // a key that only looks numeric keeps the floats
    expect(parseJsonKeepingFloats('{"01":2.0,"1.5":3.0}')).toEqual({ '01': new WholeFloat(2), '1.5': new WholeFloat(3) });
  });

  it('throws what JSON.parse throws', () => {
    expect(() => parseJsonKeepingFloats('{"a":1.0,}')).toThrow(SyntaxError);
    expect(() => parseJsonKeepingFloats('[1.0')).toThrow(SyntaxError);
  });

  it('matches the value 500 random documents were built from', () => {
    const rand = seededRandom(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const str = () => pick(['', 'a', 'v1.0', '2.0', 'x"y', 'back\\slash', 'é', '1e5', '{"k":1.0}', 'tab\there']);
    const key = () => pick(['a', 'b', 'k1', 'ip', '2x', '_', 'é', 'a.b', '-1', '1.0']);
    function gen(depth: number): { text: string; value: unknown } {
      const r = rand();
      if (depth > 3 || r < 0.5) {
        const kind = pick(['int', 'float', 'whole', 'exp', 'str', 'lit']);
        const n = Math.floor(rand() * 2000) - 1000;
        if (kind === 'int') return { text: String(n), value: n };
        if (kind === 'float') return { text: `${n}.25`, value: n + (n < 0 ? -0.25 : 0.25) };
        if (kind === 'whole') return { text: `${n}.0`, value: new WholeFloat(n) };
        if (kind === 'exp') return { text: `${n}e2`, value: new WholeFloat(n * 100) };
        if (kind === 'str') {
          const s = str();
          return { text: JSON.stringify(s), value: s };
        }
        const l = pick([true, false, null]);
        return { text: String(l), value: l };
      }
      if (r < 0.75) {
        const items = Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
        return { text: `[${items.map((x) => x.text).join(', ')}]`, value: items.map((x) => x.value) };
      }
      const keys = [...new Set(Array.from({ length: Math.floor(rand() * 4) }, key))];
      const fields = keys.map((k) => ({ k, ...gen(depth + 1) }));
      return { text: `{ ${fields.map((f) => `${JSON.stringify(f.k)} : ${f.text}`).join(',\n')} }`, value: Object.fromEntries(fields.map((f) => [f.k, f.value])) };
    }
    let floats = 0;
    for (let i = 0; i < 500; i++) {
      const { text, value } = gen(0);
      const got = parseJsonKeepingFloats(text);
      expect(got, text).toEqual(value);
      expect(plain(got), text).toEqual(JSON.parse(text));
      if (hasFloat(value)) floats++;
    }
    expect(floats).toBeGreaterThan(100); // the generator did exercise floats
  });
});
