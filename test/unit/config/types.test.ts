import { describe, expect, it } from 'vitest';
import { CoerceError, toArray, toBool, toEnum, toFloat, toHash, toInteger, toSize, toTime } from '../../../src/config/types.js';

describe('value types', () => {
  it('integer', () => {
    expect(toInteger('42')).toBe(42);
    expect(toInteger(' -7 ')).toBe(-7);
    expect(() => toInteger('10k')).toThrow(CoerceError);
    expect(() => toInteger('')).toThrow(CoerceError);
  });
  it('float', () => {
    expect(toFloat('0.5')).toBe(0.5);
    expect(toFloat('3')).toBe(3);
    expect(toFloat('1e3')).toBe(1000);
    expect(() => toFloat('abc')).toThrow(CoerceError);
  });
  it('size in powers of 1024', () => {
    expect(toSize('1024')).toBe(1024);
    expect(toSize('8k')).toBe(8192);
    expect(toSize('10kb')).toBe(10240);
    expect(toSize('8m')).toBe(8 * 1024 ** 2);
    expect(toSize('2GB')).toBe(2 * 1024 ** 3);
    expect(toSize('1t')).toBe(1024 ** 4);
    expect(toSize('1.5m')).toBe(1.5 * 1024 ** 2);
    expect(() => toSize('lots')).toThrow(CoerceError);
  });
  it('time in seconds', () => {
    expect(toTime('60s')).toBe(60);
    expect(toTime('5m')).toBe(300);
    expect(toTime('1h')).toBe(3600);
    expect(toTime('1d')).toBe(86400);
    expect(toTime('0.5')).toBe(0.5);
    expect(toTime('10')).toBe(10);
    expect(() => toTime('10ms')).toThrow(/ambiguous/);
    expect(() => toTime('soon')).toThrow(CoerceError);
  });
  it('bool with Fluentd spellings', () => {
    expect(toBool('true')).toBe(true);
    expect(toBool('yes')).toBe(true);
    expect(toBool('')).toBe(true);
    expect(toBool('false')).toBe(false);
    expect(toBool('no')).toBe(false);
    expect(() => toBool('TRUE')).toThrow(CoerceError);
    expect(() => toBool('1')).toThrow(CoerceError);
  });
  it('enum', () => {
    expect(toEnum('gzip', ['text', 'gzip'])).toBe('gzip');
    expect(() => toEnum('zip', ['text', 'gzip'])).toThrow(/one of text, gzip/);
  });
  it('array: JSON or comma list', () => {
    expect(toArray('["a", 1]')).toEqual(['a', 1]);
    expect(toArray('a, b ,c')).toEqual(['a', 'b', 'c']);
    expect(toArray('')).toEqual([]);
    expect(() => toArray('[1,')).toThrow(CoerceError);
  });
  it('hash: JSON or k:v list split on the first colon', () => {
    expect(toHash('{"a":1}')).toEqual({ a: 1 });
    expect(toHash('k1:v1, k2:http://x')).toEqual({ k1: 'v1', k2: 'http://x' });
    expect(toHash('lonely')).toEqual({ lonely: null });
    expect(() => toHash('{"a":')).toThrow(CoerceError);
    expect(() => toHash('[1]')).toThrow(CoerceError);
  });
});
