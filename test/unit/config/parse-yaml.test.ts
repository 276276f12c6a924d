import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseYaml } from '../../../src/config/parse-yaml.js';
import { parseV1 } from '../../../src/config/parse-v1.js';
import { loadConfig } from '../../../src/config/load.js';
import { configError, plain, removeTree, tempTree } from './parser-helpers.js';

const opts = { env: { TAG: 'app' }, hostname: 'yhost', workerId: '1' };
const yaml = (text: string) => parseYaml(text, 'f.yaml', opts);
const v1 = (text: string) => parseV1(text, 'f.conf', opts);

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) removeTree(d);
  dirs = [];
});

describe('parseYaml', () => {
  it('builds the same tree as the equivalent v1 config', () => {
    const y = yaml(`
system:
  log_level: debug
  workers: 2
  log:
    format: json
config:
  - source:
      $type: forward
      $id: in_fw
      $label: '@MAIN'
      port: 24224
      bind: 0.0.0.0
  - filter:
      $tag: 'app.**'
      $type: record_transformer
      enable_ruby: false
      record:
        host: "\${hostname}"
  - match:
      $tag: 'a.** b.*'
      $type: forward
      $log_level: warn
      ratio: 0.5
      weight: 5.0
      keys: [a, b, 3]
      buffer:
        $type: file
        $arg: [tag, time]
        path: /var/log/buf
        timekey: 60
      server:
        - host: 10.0.0.1
          port: 24224
        - host: 10.0.0.2
          standby: true
  - label:
      $name: '@MAIN'
      config:
        - match:
            $tag: '**'
            $type: stdout
  - worker:
      $arg: 0-1
      config:
        - source:
            $type: http
            port: 8888
`);
    const c = v1(`
<system>
  log_level debug
  workers 2
  <log>
    format json
  </log>
</system>
<source>
  @type forward
  @id in_fw
  @label @MAIN
  port 24224
  bind 0.0.0.0
</source>
<filter app.**>
  @type record_transformer
  enable_ruby false
  <record>
    host \${hostname}
  </record>
</filter>
<match a.** b.*>
  @type forward
  @log_level warn
  ratio 0.5
  weight 5.0
  keys ["a","b",3]
  <buffer tag,time>
    @type file
    path /var/log/buf
    timekey 60
  </buffer>
  <server>
    host 10.0.0.1
    port 24224
  </server>
  <server>
    host 10.0.0.2
    standby true
  </server>
</match>
<label @MAIN>
  <match **>
    @type stdout
  </match>
</label>
<worker 0-1>
  <source>
    @type http
    port 8888
  </source>
</worker>
`);
    expect(plain(y)).toEqual(plain(c));
  });

  it('records file and line for elements and params', () => {
    const root = yaml('config:\n  - source:\n      $type: forward\n\n      port: 1\n  - match:\n      $tag: x\n');
    expect(root.elements[0]).toMatchObject({ name: 'source', file: 'f.yaml', line: 2 });
    expect(root.elements[0].params.get('port')).toEqual({ value: '1', file: 'f.yaml', line: 5 });
    expect(root.elements[1].line).toBe(6);
  });

  it('turns scalars into text the way Fluentd prints them', () => {
    const p = plain(yaml(`config:
  - source:
      a: true
      b: false
      c: 5
      d: 0.5
      e: 1e3
      f: yes
      g: off
      h:
      i: '007'
      j: ~
      k: "true"
      m: !!str yes
`).elements[0]).params;
    expect(p).toEqual({ a: 'true', b: 'false', c: '5', d: '0.5', e: '1000.0', f: 'true', g: 'false', h: '', i: '007', j: '', k: 'true', m: 'yes' });
  });

  it('supports !fluent/json and !fluent/s', () => {
    const root = yaml(`config:
  - match:
      $tag: '**'
      h: !fluent/json {a: 1, b: [x]}
      l: !fluent/json [1, 2]
      s: !fluent/s "tag-#{ENV['TAG']}-#{hostname}-#{worker_id}\\\\n"
      d: !fluent/s "#{use_default}"
      n: !fluent/s "#{use_nil}"
`);
    expect(plain(root.elements[0]).params).toEqual({
      h: '{"a":1,"b":["x"]}', l: '[1,2]', s: 'tag-app-yhost-1\n', d: { value: '', special: 'default' }, n: '',
    });
  });

  it('rejects unsupported embedded code in !fluent/s at its line', () => {
    const err = configError(() => yaml('config:\n  - source:\n      x: !fluent/s "#{`id`}"\n'));
    expect(err.code).toBe('LF_CONFIG_EMBEDDED');
    expect(err.message).toMatch(/^f\.yaml:3: unsupported embedded expression/);
  });

  it('applies << merge keys with explicit keys winning', () => {
    const root = yaml(`common: &common
  port: 1
  bind: 127.0.0.1
config:
  - source:
      $type: forward
      port: 2
      <<: *common
`);
    expect(plain(root.elements[0]).params).toEqual({ '@type': 'forward', port: '2', bind: '127.0.0.1' });
  });

  it('joins a $tag list with commas', () => {
    expect(yaml("config:\n  - match:\n      $tag: ['a', 'b']\n").elements[0].arg).toBe('a,b');
  });

  it('includes YAML lists relative to the including file, sorted by glob', () => {
    const dir = tempTree({
      'fluent.yaml': 'config:\n  - source:\n      $type: forward\n  - !include conf.d/*.yaml\n  - !include missing.yaml\n',
      'conf.d/2.yaml': '- match:\n    $tag: two\n    $type: stdout\n',
      'conf.d/1.yaml': '- !include ../more/x.yaml\n- match:\n    $tag: one\n    $type: stdout\n',
      'more/x.yaml': '- filter:\n    $tag: x\n    $type: grep\n',
    });
    dirs.push(dir);
    const root = loadConfig(path.join(dir, 'fluent.yaml'));
    expect(root.elements.map((e) => `${e.name} ${e.arg}`.trim())).toEqual(['source', 'filter x', 'match one', 'match two']);
    expect(root.elements[2]).toMatchObject({ file: path.join(dir, 'conf.d/1.yaml'), line: 2 });
  });

  it('detects YAML include cycles and non-list included files', () => {
    const dir = tempTree({
      'a.yaml': 'config:\n  - !include b.yaml\n',
      'b.yaml': '- !include a.yaml\n',
      'c.yaml': 'config:\n  - !include d.yaml\n',
      'd.yaml': 'source: {}\n',
    });
    dirs.push(dir);
    const loop = configError(() => loadConfig(path.join(dir, 'a.yaml')));
    expect(loop.message).toContain('include cycle');
    expect(loop.file).toBe(path.join(dir, 'b.yaml'));
    const notList = configError(() => loadConfig(path.join(dir, 'c.yaml')));
    expect(notList.message).toMatch(/d\.yaml:1: an !include-d YAML file must be a list/);
  });

  it('reports YAML syntax errors and structural mistakes with file and line', () => {
    expect(configError(() => yaml('config:\n  - match:\n      a: 1\n    b: [\n')).message).toMatch(/^f\.yaml:\d+: invalid YAML/);
    expect(configError(() => yaml('config:\n  - sauce:\n      $type: x\n')).message)
      .toMatch(/^f\.yaml:2: unknown config item 'sauce'/);
    expect(configError(() => yaml('config:\n  - source:\n      $bogus: 1\n')).message).toMatch(/^f\.yaml:3: unsupported key '\$bogus'/);
    expect(configError(() => yaml('config: {source: 1}\n')).message).toMatch(/f\.yaml:1: `config:` must be a list/);
    expect(configError(() => yaml('config:\n  - source:\n      x: !ruby/object 1\n')).message).toMatch(/^f\.yaml:3: unknown YAML tag !ruby\/object/);
    expect(configError(() => yaml('config:\n  - source:\n      <<: !include x.yaml\n')).message).toMatch(/^f\.yaml:3: `<<: !include` is not supported/);
  });

  it('treats an empty document as an empty config', () => {
    expect(plain(yaml('# nothing\n'))).toEqual({ name: 'ROOT', arg: '', params: {}, elements: [] });
  });
});
