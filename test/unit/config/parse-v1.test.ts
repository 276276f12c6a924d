import { describe, expect, it } from 'vitest';
import { parseV1 } from '../../../src/config/parse-v1.js';
import { configError, plain } from './parser-helpers.js';

const env = { HOME_DIR: '/home/x' };
const parse = (text: string) => parseV1(text, 'test.conf', { env, hostname: 'box', workerId: '0' });
/** Params of the first element (or root when it has none). */
const params = (text: string): Record<string, unknown> => {
  const root = parse(text);
  return plain(root.elements[0] ?? root).params;
};

describe('parseV1 structure', () => {
  it('builds a ROOT with nested elements, args and lines', () => {
    const root = parse([
      '# a comment',
      '<source>',
      '  @type forward',
      '  port 24224',
      '</source>',
      '',
      '<match a.** b.*>',
      '  @type forward',
      '  <buffer tag, time>',
      '    timekey 60',
      '  </buffer>',
      '  <server>',
      '    host 10.0.0.1',
      '  </server>',
      '</match>',
    ].join('\n'));
    expect(root.name).toBe('ROOT');
    expect(plain(root)).toEqual({
      name: 'ROOT', arg: '', params: {}, elements: [
        { name: 'source', arg: '', params: { '@type': 'forward', port: '24224' }, elements: [] },
        {
          name: 'match', arg: 'a.** b.*', params: { '@type': 'forward' }, elements: [
            { name: 'buffer', arg: 'tag, time', params: { timekey: '60' }, elements: [] },
            { name: 'server', arg: '', params: { host: '10.0.0.1' }, elements: [] },
          ],
        },
      ],
    });
    const match = root.elements[1];
    expect(match.line).toBe(7);
    expect(match.file).toBe('test.conf');
    expect(match.elements[0].line).toBe(9);
    expect(match.elements[0].params.get('timekey')).toMatchObject({ file: 'test.conf', line: 10 });
  });

  it('accepts a quoted element argument and rejects text after it', () => {
    expect(parse('<match "a b">\n</match>').elements[0].arg).toBe('a b');
    expect(parse("<match 'x.*' >\n</match>").elements[0].arg).toBe('x.*');
    expect(parse('<label "@#{ENV[\'HOME_DIR\']}">\n</label>').elements[0].arg).toBe('@/home/x');
    expect(configError(() => parse('<match "x" y>\n</match>')).message).toMatch(/test\.conf:1: expected '>' after the quoted argument/);
  });

  it('tolerates CRLF line endings and tag comments', () => {
    const root = parse('<source> # in\r\n  @type http\r\n  port 8888 \r\n</source> # end\r\n');
    expect(plain(root.elements[0]).params).toEqual({ '@type': 'http', port: '8888' });
  });

  it('keeps the later of duplicate keys', () => {
    expect(params('<source>\n a 1\n a 2\n</source>')).toEqual({ a: '2' });
  });

  it('names both tags on a mismatched close tag', () => {
    const err = configError(() => parse('<source>\n  @type x\n</match>\n'));
    expect(err.file).toBe('test.conf');
    expect(err.line).toBe(3);
    expect(err.message).toContain("expected '</source>' but got '</match>'");
  });

  it('reports an unclosed element at its open tag and a stray close tag where it is', () => {
    expect(configError(() => parse('\n<source>\n  @type x\n')).message).toMatch(/^test\.conf:2: <source> is never closed/);
    expect(configError(() => parse('a 1\n</source>\n')).message).toMatch(/^test\.conf:2: unexpected end tag '<\/source>'/);
  });

  it('rejects malformed tags', () => {
    expect(configError(() => parse('<source\n</source>')).message).toMatch(/test\.conf:1: expected '>'/);
    expect(configError(() => parse('< source>\n')).message).toMatch(/expected an element name/);
    expect(configError(() => parse('<match.x>\n</match>')).message).toMatch(/unexpected character '\.'/);
    expect(configError(() => parse('<source> extra\n</source>')).line).toBe(1);
    expect(configError(() => parse('<source>\n</source> x\n')).message).toMatch(/test\.conf:2: expected end of line/);
  });
});

describe('parseV1 reserved @ keys', () => {
  it('allows @type @id @label @log_level everywhere', () => {
    expect(params('<source>\n @type a\n @id b\n @label @X\n @log_level debug\n</source>'))
      .toEqual({ '@type': 'a', '@id': 'b', '@label': '@X', '@log_level': 'debug' });
  });

  it.each(['source', 'match', 'filter', 'system'])('rejects other @ keys directly in <%s>', (name) => {
    const err = configError(() => parse(`<${name}>\n  @foo bar\n</${name}>`));
    expect(err.line).toBe(2);
    expect(err.message).toContain("'@foo'");
  });

  it('rejects other @ keys at the top level but accepts them deeper, with a warning', () => {
    expect(configError(() => parse('@foo 1')).message).toContain('at the top level');
    const warnings: string[] = [];
    const root = parseV1('<match **>\n <buffer>\n  @foo 1\n </buffer>\n</match>', 'w.conf', { warnings });
    expect(root.elements[0].elements[0].params.get('@foo')?.value).toBe('1');
    expect(warnings).toEqual([expect.stringContaining("w.conf:3: '@' is a reserved prefix")]);
  });
});

describe('parseV1 comments and unquoted values', () => {
  it('strips a comment after whitespace but keeps a glued #', () => {
    expect(params('a abc # note\nb abc#x\nc #note\nd  two  words   \n')).toEqual({
      a: 'abc', b: 'abc#x', c: '#note', d: 'two  words',
    });
  });

  it('gives a bare key the empty string', () => {
    expect(params('<server>\n  standby\n  other   \n</server>')).toEqual({ standby: '', other: '' });
    expect(params('last')).toEqual({ last: '' });
  });

  it('skips comment lines and indented comments', () => {
    expect(params('# x\n   # y\n\ta 1\n')).toEqual({ a: '1' });
  });

  it('keeps ${} placeholders and quotes inside unquoted values', () => {
    expect(params('path /var/log/${tag}/a"b\'c.log')).toEqual({ path: '/var/log/${tag}/a"b\'c.log' });
  });
});

describe('parseV1 double-quoted strings', () => {
  it('processes escapes', () => {
    expect(params(String.raw`a "q\"s\'b\\r\rn\nt\tf\fb\bz\0e"`).a).toBe('q"s\'b\\r\rn\nt\tf\fb\bz\0e');
  });

  it('turns a backslash before a symbol into that symbol', () => {
    expect(params(String.raw`a "\$\{\#\."`).a).toBe('${#.');
  });

  it.each(['q', 'd', 'Z', '1', '9'])('rejects the escape \\%s with file and line', (c) => {
    const err = configError(() => parse(`<source>\n  a "x\\${c}"\n</source>`));
    expect(err.message).toBe(`test.conf:2: unexpected back-slash escape character '${c}'`);
    expect(err.code).toBe('LF_CONFIG_SYNTAX');
  });

  it('reports a bad escape on a later line of a multi-line string at that line', () => {
    expect(configError(() => parse('a "one\ntwo\n\\q"')).line).toBe(3);
  });

  it('keeps embedded newlines and removes backslash-newline continuations', () => {
    expect(params('a "one\n  two"\nb "x\\\ny"\nc 1').a).toBe('one\n  two');
    expect(params('a "one\n  two"\nb "x\\\ny"\nc 1')).toMatchObject({ b: 'xy', c: '1' });
    expect(params('b "x\\\r\ny"').b).toBe('xy');
  });

  it('keeps # literal inside quotes and allows a trailing comment', () => {
    expect(params('a "x # y" # z')).toEqual({ a: 'x # y' });
  });

  it('rejects text after the closing quote and unterminated strings', () => {
    expect(configError(() => parse('a "x" y')).message).toMatch(/test\.conf:1: expected end of line/);
    expect(configError(() => parse('a 1\nb "never\nends')).message).toMatch(/test\.conf:2: unterminated double-quoted/);
  });

  it('evaluates #{} and keeps \\#{ literal', () => {
    expect(params(String.raw`a "p-#{ENV['HOME_DIR']}-#{hostname}"` + '\n' + String.raw`b "\#{hostname}"`))
      .toEqual({ a: 'p-/home/x-box', b: '#{hostname}' });
  });

  it('handles double quotes inside the embedded code', () => {
    expect(params('a "#{ENV["HOME_DIR"]}"')).toEqual({ a: '/home/x' });
  });

  it('marks use_default and use_nil as special', () => {
    const root = parse('a "#{use_default}"\nb "x#{use_nil}"\nc "#{ENV[\'HOME_DIR\'] || use_default}"');
    expect(root.params.get('a')).toMatchObject({ value: '', special: 'default' });
    expect(root.params.get('b')).toMatchObject({ value: '', special: 'nil' });
    expect(root.params.get('c')?.special).toBeUndefined();
  });
});

describe('parseV1 single-quoted strings', () => {
  it('is literal except \\\' and \\\\', () => {
    expect(params(String.raw`a 'x\'y\\z\n#{hostname}' # c`)).toEqual({ a: String.raw`x'y\z\n#{hostname}` });
  });

  it('cannot contain a newline', () => {
    const err = configError(() => parse("<source>\n  a 'x\ny'\n</source>"));
    expect(err.line).toBe(2);
    expect(err.message).toContain('cannot contain a newline');
  });
});

describe('parseV1 JSON values', () => {
  it('stores compact JSON text', () => {
    expect(params('a [1, "two", {"k": null}]\nb {"x" : [ true ] }')).toEqual({
      a: '[1,"two",{"k":null}]', b: '{"x":[true]}',
    });
  });

  it('spans lines with # comments outside strings', () => {
    const root = parse([
      'h {',
      '  "a": "x # not a comment", # a comment',
      '  # a whole-line comment',
      '  "b": [1,',
      '        2] }  # after',
      'next 1',
    ].join('\n'));
    expect(plain(root).params).toEqual({ h: '{"a":"x # not a comment","b":[1,2]}', next: '1' });
    expect(root.params.get('next')?.line).toBe(6);
  });

  it('evaluates #{} in JSON strings', () => {
    expect(params(`a ["#{ENV['HOME_DIR']}", "#{worker_id}"]`)).toEqual({ a: '["/home/x","0"]' });
  });

  it('reports invalid and unterminated JSON at the opening line', () => {
    expect(configError(() => parse('x 1\na [foo]')).message).toMatch(/test\.conf:2: invalid JSON array/);
    expect(configError(() => parse('x 1\na {"k":\n 1\n')).message).toMatch(/test\.conf:2: got incomplete JSON object/);
  });
});
