import { describe, expect, it } from 'vitest';
import type { EmbedContext } from '../../../src/config/embedded.js';
import { evaluateEmbedded, expandString, findEmbeddedEnd, makeEmbedContext } from '../../../src/config/embedded.js';
import { parseV1 } from '../../../src/config/parse-v1.js';
import { configError } from './parser-helpers.js';

const ctx: EmbedContext = makeEmbedContext({ env: { A: 'a', EMPTY: '', SERVERENGINE_WORKER_ID: '3' }, hostname: 'host1' });
const where = { file: 'e.conf', line: 7 };
const ev = (code: string) => evaluateEmbedded(code, ctx, where);

describe('evaluateEmbedded', () => {
  it('reads ENV with either quote style; unset is nil', () => {
    expect(ev("ENV['A']")).toEqual({ text: 'a' });
    expect(ev(' ENV["A"] ')).toEqual({ text: 'a' });
    expect(ev("ENV['NOPE']")).toEqual({ text: null });
  });

  it('supports ENV.fetch with and without a default', () => {
    expect(ev("ENV.fetch('A', 'd')")).toEqual({ text: 'a' });
    expect(ev("ENV.fetch('NOPE', 'd')")).toEqual({ text: 'd' });
    expect(ev('ENV.fetch("A")')).toEqual({ text: 'a' });
    const err = configError(() => ev("ENV.fetch('NOPE')"));
    expect(err.code).toBe('LF_CONFIG_EMBEDDED');
    expect(err.message).toMatch(/^e\.conf:7: .*NOPE is not set/);
  });

  it('falls through nil but not the empty string on ||, like Ruby', () => {
    expect(ev("ENV['NOPE'] || 'x'")).toEqual({ text: 'x' });
    expect(ev("ENV['EMPTY'] || 'x'")).toEqual({ text: '' });
    expect(ev("ENV['NOPE'] || ENV['NOPE2'] || ENV['A'] || 'z'")).toEqual({ text: 'a' });
    expect(ev("ENV['NOPE'] || ENV['NOPE2']")).toEqual({ text: null });
  });

  it('knows hostname, Socket.gethostname, worker_id and string literals', () => {
    expect(ev('hostname')).toEqual({ text: 'host1' });
    expect(ev('Socket.gethostname')).toEqual({ text: 'host1' });
    expect(ev('worker_id')).toEqual({ text: '3' });
    expect(ev("'lit'")).toEqual({ text: 'lit' });
    expect(ev('"d\\"q"')).toEqual({ text: 'd"q' });
  });

  it('defaults worker_id to SERVERENGINE_WORKER_ID, else empty', () => {
    expect(makeEmbedContext({ env: {} }).workerId).toBe('');
    expect(makeEmbedContext({ env: {}, workerId: '2' }).workerId).toBe('2');
  });

  it('returns use_nil / use_default as special, short-circuiting ||', () => {
    expect(ev('use_nil')).toEqual({ text: null, special: 'nil' });
    expect(ev("ENV['NOPE'] || use_default")).toEqual({ text: null, special: 'default' });
    expect(ev("ENV['A'] || use_default")).toEqual({ text: 'a' });
    expect(ev("use_default || 'x'")).toEqual({ text: null, special: 'default' });
  });

  it.each([
    "File.read('/etc/passwd')",
    '`id`',
    "ENV['A'].upcase",
    'system("ls")',
    '1 + 1',
    "ENV['A'] && 'x'",
    '"a#{hostname}"',
    '',
  ])('rejects %s naming it and the supported set', (code) => {
    const err = configError(() => ev(code));
    expect(err.code).toBe('LF_CONFIG_EMBEDDED');
    expect(err.message).toContain(`#{${code}}`);
    expect(err.message).toContain('use_default');
    expect(err.line).toBe(7);
  });
});

describe('expandString', () => {
  it('concatenates text around several expressions', () => {
    expect(expandString("x-#{ENV['A']}-#{hostname}-#{ENV['NOPE']}.", ctx, where, { escapes: true }))
      .toEqual({ value: 'x-a-host1-.' });
  });

  it('makes the whole value special for use_nil; YAML mode turns use_nil into text', () => {
    expect(expandString('a#{use_nil}b', ctx, where, { escapes: true })).toEqual({ value: '', special: 'nil' });
    expect(expandString('a#{use_nil}b', ctx, where, { escapes: true, nilAsEmpty: true })).toEqual({ value: 'ab' });
  });

  it('finds the end of code containing braces and quoted braces', () => {
    const s = "#{ENV.fetch('}', '{')} rest";
    expect(findEmbeddedEnd(s, 2)).toBe(s.indexOf(' rest') - 1);
    expect(findEmbeddedEnd('#{ENV[', 2)).toBe(-1);
  });
});

describe('embedded code in a v1 file', () => {
  it('is rejected at the line of the string, naming the expression', () => {
    const err = configError(() => parseV1('<match **>\n  @type stdout\n  x "#{`rm -rf /`}"\n</match>', 'm.conf'));
    expect(err.message).toMatch(/^m\.conf:3: unsupported embedded expression "#\{`rm -rf \/`\}"/);
  });

  it('uses process.env when no env is given', () => {
    process.env.LOGFERRY_PARSER_TEST = 'yes';
    try {
      expect(parseV1('a "#{ENV[\'LOGFERRY_PARSER_TEST\']}"', 'p.conf').params.get('a')?.value).toBe('yes');
    } finally {
      delete process.env.LOGFERRY_PARSER_TEST;
    }
  });
});
