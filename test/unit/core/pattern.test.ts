import { describe, expect, it } from 'vitest';
import { PatternError, TagPattern } from '../../../src/core/pattern.js';

const cases: Array<[string, string[], string[]]> = [
  ['**', ['a', 'a.b', 'a.b.c', ''], []],
  ['a', ['a'], ['b', 'a.b', 'ab']],
  ['a.*', ['a.b', 'a.'], ['a', 'a.b.c', 'ab']],
  ['a.**', ['a', 'a.b', 'a.b.c'], ['ab', 'b.a']],
  ['**.a', ['a', 'x.a', 'x.y.a'], ['xa', 'a.x']],
  ['a.**.b', ['a.b', 'a.x.b', 'a.x.y.b'], ['a', 'ab', 'a.xb']],
  ['a.{b,c}', ['a.b', 'a.c'], ['a.d', 'a.b.c']],
  ['a.{b,c.**}', ['a.b', 'a.c', 'a.c.d'], ['a.d', 'a.b.c']],
  ['{a,b}.{c,d}', ['a.c', 'b.d'], ['a', 'c.a']],
  ['a,b', ['a,b'], ['a', 'b']],
  ['a.* b.**', ['a.x', 'b', 'b.y.z'], ['a', 'c']],
  ['app-1.@x:y', ['app-1.@x:y'], ['app-1.x']],
  ['a\\*', ['a*'], ['ab']],
  ['/(?!a\\.).*/', ['b.c', 'x'], ['a.b']],
  ['health*', ['healthcheck', 'health'], ['x.health']],
];

describe('TagPattern', () => {
  for (const [pattern, yes, no] of cases) {
    it(`${pattern} matches ${yes.join(', ')} and not ${no.join(', ')}`, () => {
      const p = new TagPattern(pattern);
      for (const t of yes) expect(p.match(t), `${pattern} ~ ${t}`).toBe(true);
      for (const t of no) expect(p.match(t), `${pattern} !~ ${t}`).toBe(false);
    });
  }
  it('an empty argument means **', () => {
    expect(new TagPattern('').match('any.tag')).toBe(true);
  });
  it('rejects unbalanced braces and bad regexes', () => {
    expect(() => new TagPattern('a.{b,c')).toThrow(PatternError);
    expect(() => new TagPattern('/(/')).toThrow(PatternError);
  });
});
