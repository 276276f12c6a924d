import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expandIncludeGlob, parseV1 } from '../../../src/config/parse-v1.js';
import { loadConfig } from '../../../src/config/load.js';
import { configError, plain, removeTree, tempTree } from './parser-helpers.js';

let dirs: string[] = [];
const tree = (files: Record<string, string>): string => {
  const dir = tempTree(files);
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs) removeTree(d);
  dirs = [];
});

describe('@include', () => {
  it('splices a relative file at the point of the directive', () => {
    const dir = tree({
      'fluent.conf': '<system>\n</system>\n@include common/in.conf\n<match **>\n</match>\n',
      'common/in.conf': '<source>\n  @type forward\n</source>\n',
    });
    const root = loadConfig(path.join(dir, 'fluent.conf'));
    expect(root.elements.map((e) => e.name)).toEqual(['system', 'source', 'match']);
    const source = root.elements[1];
    expect(source.file).toBe(path.join(dir, 'common/in.conf'));
    expect(source.line).toBe(1);
    expect(source.params.get('@type')).toMatchObject({ file: path.join(dir, 'common/in.conf'), line: 2 });
  });

  it('expands globs in sorted order, skipping dot files, directories and non-matches', () => {
    const dir = tree({
      'fluent.conf': '@include conf.d/*.conf',
      'conf.d/b.conf': '<match b>\n</match>',
      'conf.d/a.conf': '<match a>\n</match>',
      'conf.d/.hidden.conf': '<match hidden>\n</match>',
      'conf.d/c.txt': '<match txt>\n</match>',
      'conf.d/sub.conf/x': '',
      'conf.d/a?.conf': '<match q>\n</match>',
    });
    const root = loadConfig(path.join(dir, 'fluent.conf'));
    expect(root.elements.map((e) => e.arg)).toEqual(['a', 'q', 'b']);
    expect(expandIncludeGlob(path.join(dir, 'conf.d/?.conf')).map((f) => path.basename(f))).toEqual(['a.conf', 'b.conf']);
    expect(expandIncludeGlob(path.join(dir, '*/a.conf'))).toEqual([path.join(dir, 'conf.d/a.conf')]);
  });

  it('lands params and sections in the enclosing element', () => {
    const dir = tree({
      'fluent.conf': '<match **>\n  @type copy\n  @include stores/*.conf\n  flush_interval 5s\n</match>\n',
      'stores/1.conf': 'shared_key s\n<store>\n  @type stdout\n</store>\n',
      'stores/2.conf': '<store>\n  @type null\n</store>\n',
    });
    expect(plain(loadConfig(path.join(dir, 'fluent.conf')).elements[0])).toEqual({
      name: 'match', arg: '**', params: { '@type': 'copy', shared_key: 's', flush_interval: '5s' },
      elements: [
        { name: 'store', arg: '', params: { '@type': 'stdout' }, elements: [] },
        { name: 'store', arg: '', params: { '@type': 'null' }, elements: [] },
      ],
    });
  });

  it('resolves nested includes against the included file directory', () => {
    const dir = tree({
      'fluent.conf': '@include sub/a.conf',
      'sub/a.conf': '@include inner/b.conf\na 1',
      'sub/inner/b.conf': 'b 2',
    });
    expect(plain(loadConfig(path.join(dir, 'fluent.conf'))).params).toEqual({ b: '2', a: '1' });
  });

  it('accepts absolute, quoted and file:// paths', () => {
    const dir = tree({ 'my dir/x.conf': 'x 1', 'y.conf': 'y 2', 'z.conf': 'z 3' });
    const text = `@include "${dir}/my dir/x.conf"\n@include ${dir}/y.conf\n@include file://${dir}/z.conf`;
    expect(plain(parseV1(text, path.join(dir, 'main.conf'))).params).toEqual({ x: '1', y: '2', z: '3' });
  });

  it('silently includes nothing for a missing file or an empty glob', () => {
    const dir = tree({ 'fluent.conf': '@include nope.conf\n@include none/*.conf\n<source>\n  @include gone.conf\n</source>' });
    const root = loadConfig(path.join(dir, 'fluent.conf'));
    expect(plain(root)).toEqual({ name: 'ROOT', arg: '', params: {}, elements: [{ name: 'source', arg: '', params: {}, elements: [] }] });
  });

  it('detects include cycles at the offending directive', () => {
    const dir = tree({
      'a.conf': '# a\n@include b.conf',
      'b.conf': 'x 1\n\n@include a.conf',
    });
    const err = configError(() => loadConfig(path.join(dir, 'a.conf')));
    expect(err.file).toBe(path.join(dir, 'b.conf'));
    expect(err.line).toBe(3);
    expect(err.message).toContain('include cycle');
    expect(err.message).toContain(`${path.join(dir, 'a.conf')} -> ${path.join(dir, 'b.conf')} -> ${path.join(dir, 'a.conf')}`);
    const self = tree({ 's.conf': '@include *.conf' });
    expect(configError(() => loadConfig(path.join(self, 's.conf'))).message).toContain('include cycle');
  });

  it('allows including the same file twice when it is not a cycle', () => {
    const dir = tree({ 'main.conf': '<a>\n@include p.conf\n</a>\n<b>\n@include p.conf\n</b>', 'p.conf': 'k v' });
    expect(loadConfig(path.join(dir, 'main.conf')).elements.map((e) => e.params.get('k')?.value)).toEqual(['v', 'v']);
  });

  it('reports errors inside an included file with its name and line', () => {
    const dir = tree({
      'fluent.conf': '<source>\n  @type forward\n</source>\n@include bad.conf\n',
      'bad.conf': '# fine\n<match **>\n  x "bad \\z"\n</match>\n',
    });
    const err = configError(() => loadConfig(path.join(dir, 'fluent.conf')));
    expect(err.message).toBe(`${path.join(dir, 'bad.conf')}:3: unexpected back-slash escape character 'z'`);
  });

  it('does not let an included file close the enclosing element', () => {
    const dir = tree({ 'main.conf': '<source>\n@include close.conf\n</source>', 'close.conf': '</source>' });
    const err = configError(() => loadConfig(path.join(dir, 'main.conf')));
    expect(err.file).toBe(path.join(dir, 'close.conf'));
    expect(err.message).toContain("unexpected end tag '</source>'");
  });

  it('treats legacy `include` as an include only at the top level, with a warning', () => {
    const dir = tree({ 'main.conf': 'include x.conf\n<record>\n  include yes\n</record>', 'x.conf': 'x 1' });
    const warnings: string[] = [];
    const root = loadConfig(path.join(dir, 'main.conf'), { warnings });
    expect(plain(root)).toEqual({
      name: 'ROOT', arg: '', params: { x: '1' },
      elements: [{ name: 'record', arg: '', params: { include: 'yes' }, elements: [] }],
    });
    expect(warnings).toEqual([`${path.join(dir, 'main.conf')}:1: 'include' is deprecated; use '@include' instead`]);
  });

  it('warns when a glob picks up backup-looking files', () => {
    const dir = tree({ 'main.conf': '@include d/*.conf', 'd/a.conf': 'a 1', 'd/a.bak.conf': 'a 2', 'd/b_old.conf': 'b 1' });
    const warnings: string[] = [];
    loadConfig(path.join(dir, 'main.conf'), { warnings });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('a.bak.conf');
    expect(warnings[1]).toContain('b_old.conf');
  });

  it('rejects remote includes clearly and an include without a path', () => {
    const err = configError(() => parseV1('\n@include https://example.com/x.conf', 'r.conf'));
    expect(err.message).toMatch(/^r\.conf:2: remote includes are not supported \(https:\/\/example\.com\/x\.conf\)/);
    expect(configError(() => parseV1('<source>\n  @include\n</source>', 'r.conf')).message).toMatch(/r\.conf:2: @include needs a path/);
  });
});
