import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../../src/config/load.js';
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

const YAML_TEXT = 'config:\n  - match:\n      $tag: x\n      $type: stdout\n';
const V1_TEXT = '<match x>\n  @type stdout\n</match>\n';

describe('loadConfig', () => {
  it('names the path when the file is missing or unreadable', () => {
    const dir = tree({});
    const missing = path.join(dir, 'nope.conf');
    const err = configError(() => loadConfig(missing));
    expect(err.file).toBe(missing);
    expect(err.message).toContain(`cannot read config file ${missing}: no such file`);
    expect(configError(() => loadConfig(dir)).message).toContain('it is a directory');
  });

  it('guesses YAML from .yaml/.yml and honours an explicit format', () => {
    const dir = tree({ 'a.yaml': YAML_TEXT, 'b.yml': YAML_TEXT, 'c.conf': YAML_TEXT, 'd.yaml': V1_TEXT });
    const expected = plain(parseConfigText(V1_TEXT, 'x.conf'));
    expect(plain(loadConfig(path.join(dir, 'a.yaml')))).toEqual(expected);
    expect(plain(loadConfig(path.join(dir, 'b.yml'), { format: 'guess' }))).toEqual(expected);
    expect(plain(loadConfig(path.join(dir, 'c.conf'), { format: 'yaml' }))).toEqual(expected);
    expect(plain(loadConfig(path.join(dir, 'd.yaml'), { format: 'v1' }))).toEqual(expected);
  });

  it('appends inline config, turning literal \\n into newlines, under the name (inline)', () => {
    const dir = tree({ 'fluent.conf': V1_TEXT, 'extra.conf': '<filter x>\n</filter>' });
    const root = loadConfig(path.join(dir, 'fluent.conf'), {
      inline: '<source>\\n  @type dummy\\n</source>\\n@include extra.conf',
    });
    expect(root.elements.map((e) => e.name)).toEqual(['match', 'source', 'filter']);
    expect(root.elements[1]).toMatchObject({ file: '(inline)', line: 1 });
    expect(root.elements[1].params.get('@type')).toEqual({ value: 'dummy', file: '(inline)', line: 2 });
    expect(root.elements[2].file).toBe(path.join(dir, 'extra.conf'));
  });

  it('reports inline syntax errors against (inline)', () => {
    const dir = tree({ 'fluent.conf': V1_TEXT });
    const err = configError(() => loadConfig(path.join(dir, 'fluent.conf'), { inline: 'a 1\\nb "\\q"' }));
    expect(err.message).toBe("(inline):2: unexpected back-slash escape character 'q'");
  });

  it('passes env, hostname and worker id to embedded code', () => {
    const dir = tree({ 'fluent.conf': 'a "#{ENV[\'X\']}/#{hostname}/#{worker_id}"' });
    const root = loadConfig(path.join(dir, 'fluent.conf'), { env: { X: 'x' }, hostname: 'h', workerId: '4' });
    expect(root.params.get('a')?.value).toBe('x/h/4');
  });

  it('ignores a UTF-8 byte order mark', () => {
    const dir = tree({});
    fs.writeFileSync(path.join(dir, 'bom.conf'), `\uFEFF${V1_TEXT}`);
    expect(loadConfig(path.join(dir, 'bom.conf')).elements[0].name).toBe('match');
  });
});

describe('config fixtures', () => {
  const fixtures = fileURLToPath(new URL('../../fixtures/config', import.meta.url));

  it.each(['valid/v1-full.conf', 'valid/fluent.yaml', 'valid/v0-aggregator.conf'])('parses %s', (name) => {
    expect(loadConfig(path.join(fixtures, name)).elements.length).toBeGreaterThan(0);
  });

  it.each(['bad-escape.conf', 'embedded-ruby.conf', 'unclosed.conf', 'yaml-bad.yaml'])(
    'rejects invalid/%s with its expected message', (name) => {
      const file = path.join(fixtures, 'invalid', name);
      const expected = /^# expect: (.*)$/m.exec(fs.readFileSync(file, 'utf8'))![1];
      expect(configError(() => loadConfig(file)).message).toContain(expected);
    });
});
