/**
 * out_forward's `<service_discovery>` configuration: a section without `<server>` is enough, neither
 * is an error, each @type is checked with file:line, a server list file is read (and checked) at
 * configure, `<server>` and discovered servers make one node list. Plus the list file's format.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BufferedOutput } from '../../../src/buffer/buffered-output.js';
import { formatProblem } from '../../../src/config/errors.js';
import type { ForwardOutput } from '../../../src/plugins/out/forward.js';
import { parseServiceList, ServiceListError } from '../../../src/plugins/out/forward/sd-file.js';
import { parseDnsServer } from '../../../src/plugins/out/forward/sd-srv.js';
import { buildFromText } from '../../helpers/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'logferry-sd-'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Builds `<match test.**> @type forward` + body (line 1 is `<match>`, line 3 the first body line). */
function build(body: string) {
  const r = buildFromText(`<match test.**>\n  @type forward\n${body}\n</match>\n`);
  const problems = r.problems.map(formatProblem).map((s) => s.replace(/^.*test\.conf:/, 'test.conf:'));
  const out = r.agent ? ((r.agent.plugins.find((p) => p.kind === 'output')!.instance as BufferedOutput).writer as ForwardOutput) : null;
  return { problems, out, logs: r.logs };
}

const nodes = (out: ForwardOutput | null) => out!.nodes.map((n) => [n.name, n.host, n.port, n.weight, n.standby]);

describe('<service_discovery> configuration', () => {
  it('a <service_discovery> without <server> is enough; static <service> takes the <server> parameters and defaults', () => {
    const { problems, out } = build(`  <service_discovery>
    @type static
    <service>
      host 127.0.0.1
      port 24301
      name one
    </service>
    <service>
      host 127.0.0.2
      weight 10
      standby true
    </service>
  </service_discovery>`);
    expect(problems).toEqual([]);
    expect(nodes(out)).toEqual([['one', '127.0.0.1', 24301, 60, false], ['127.0.0.2:24224', '127.0.0.2', 24224, 10, true]]);
  });

  it('neither <server> nor <service_discovery> is an error at the <match>', () => {
    expect(build('  heartbeat_type none').problems).toEqual([
      'test.conf:1 <match test.**> @type forward: <server>: at least one <server> or <service_discovery> section is required',
    ]);
  });

  it('an unknown or missing @type is an error at its line', () => {
    expect(build('  <service_discovery>\n    @type consul\n  </service_discovery>').problems).toEqual([
      "test.conf:4 <service_discovery>: @type: unknown service discovery plugin 'consul': expected static, file or srv",
    ]);
    expect(build('  <service_discovery>\n    path /x.yaml\n  </service_discovery>').problems).toEqual([
      'test.conf:3 <service_discovery>: @type: @type is required in <service_discovery>: static, file or srv',
    ]);
  });

  it('required parameters of each type, with file:line', () => {
    expect(build('  <service_discovery>\n    @type srv\n    hostname example.test\n  </service_discovery>').problems).toEqual([
      'test.conf:3 <service_discovery> @type srv: service: is required',
    ]);
    expect(build('  <service_discovery>\n    @type static\n  </service_discovery>').problems).toEqual([
      'test.conf:3 <service_discovery> @type static: <service>: at least one <service> section is required',
    ]);
    expect(build('  <service_discovery>\n    @type static\n    <service>\n      port 1\n    </service>\n  </service_discovery>').problems).toEqual([
      'test.conf:5 <service> @type static: host: is required',
    ]);
    expect(build('  <service_discovery>\n    @type srv\n    service fluentd\n    hostname example.test\n    dns_server_host 10.0.0.1:99999\n  </service_discovery>').problems).toEqual([
      "test.conf:7 <service_discovery> @type srv: dns_server_host: expected HOST or HOST:PORT, got '10.0.0.1:99999'",
    ]);
  });

  it('file: without path, the default /etc/fluent/sd.yaml must exist (as in Fluentd)', () => {
    if (existsSync('/etc/fluent/sd.yaml')) return;
    expect(build('  <service_discovery>\n    @type file\n  </service_discovery>').problems).toEqual([
      'test.conf:3 <service_discovery> @type file: path: sd_file: path=/etc/fluent/sd.yaml not found',
    ]);
  });

  it('file: a missing or invalid list at start is an error at the path line, with the reason', () => {
    const sd = (path: string, extra = '') => `  heartbeat_type none\n  <service_discovery>\n    @type file\n    path ${path}\n${extra}  </service_discovery>`;
    expect(build(sd(join(dir, 'none.yaml'))).problems).toEqual([`test.conf:6 <service_discovery> @type file: path: sd_file: path=${join(dir, 'none.yaml')} not found`]);
    const bad = file('bad.yaml', '- host: 127.0.0.1\n  port: 70000\n');
    expect(build(sd(bad)).problems).toEqual([`test.conf:6 <service_discovery> @type file: path: sd_file: path=${bad}: entry 1: port: must be at most 65535, got 70000`]);
    const json = file('bad.json', '[{"host": "127.0.0.1", "port": 1},');
    expect(build(sd(json)).problems).toEqual([expect.stringMatching(new RegExp(`^test\\.conf:6 .*path: sd_file: path=${json}: not valid JSON: `))]);
    const empty = file('empty.yaml', '[]\n');
    expect(build(sd(empty)).problems).toEqual(['test.conf:1 <match test.**> @type forward: <server>: forward output requires at least one node: every server list is empty']);
    const ok = file('ok.yaml', '- host: 127.0.0.1\n  port: 24224\n');
    expect(build(sd(ok, '    conf_encoding klingon\n')).problems).toEqual(["test.conf:7 <service_discovery> @type file: conf_encoding: unknown encoding 'klingon'"]);
  });

  it('file: JSON or YAML by extension, entries with the keys of <server>; unknown keys are ignored with a warning', () => {
    const json = file('servers.json', JSON.stringify([{ host: '127.0.0.1', port: 24230, name: 'j1', weight: 5 }, { host: '127.0.0.3', port: '24231', standby: true, shared_key: 'k' }]));
    const { problems, out } = build(`  heartbeat_type none\n  <service_discovery>\n    @type file\n    path ${json}\n  </service_discovery>`);
    expect(problems).toEqual([]);
    expect(nodes(out)).toEqual([['j1', '127.0.0.1', 24230, 5, false], ['127.0.0.3:24231', '127.0.0.3', 24231, 60, true]]);
    const yaml = file('servers.yml', "- 'host': 127.0.0.1\n  'port': 24224\n  'weight': 1\n  'name': server1\n  'wieght': 3\n");
    const y = build(`  heartbeat_type none\n  <service_discovery>\n    @type file\n    path ${yaml}\n  </service_discovery>`);
    expect(nodes(y.out)).toEqual([['server1', '127.0.0.1', 24224, 1, false]]);
    expect(y.logs()).toMatch(/sd_file: keys <server> does not have are ignored .*keys=\["wieght"\]/);
  });

  it('mixed: discovered servers first, then <server> (as Fluentd adds them); a server listed twice is one node', () => {
    const yaml = file('mixed.yaml', '- host: 127.0.0.1\n  port: 24240\n  name: f1\n- host: 127.0.0.1\n  port: 24240\n  name: f1\n');
    const { problems, out } = build(`  heartbeat_type none
  <server>
    host 127.0.0.1
    port 24250
    name s1
  </server>
  <service_discovery>
    @type file
    path ${yaml}
  </service_discovery>
  <service_discovery>
    @type static
    <service>
      host 127.0.0.1
      port 24260
      name st1
    </service>
  </service_discovery>`);
    expect(problems).toEqual([]);
    expect(nodes(out).map((n) => n[0])).toEqual(['f1', 'st1', 's1']);
    expect(out!.registered_nodes_count).toBe(3);
  });

  it('unknown parameters in a <service_discovery> are warned about with the nearest name', () => {
    const yaml = file('warn.yaml', '- host: 127.0.0.1\n  port: 24224\n');
    const { problems, logs } = build(`  heartbeat_type none\n  <service_discovery>\n    @type file\n    path ${yaml}\n    intervall 5\n  </service_discovery>`);
    expect(problems).toEqual([]);
    expect(logs()).toMatch(/test\.conf:7 <service_discovery>: parameter 'intervall' is not used/);
  });
});

describe('server list file format', () => {
  it('reads entries with <server> defaults; host and port are required (as in Fluentd)', () => {
    expect(parseServiceList('- host: a.test\n  port: 1\n', false).services).toEqual([
      { source: 'file', host: 'a.test', port: 1, name: null, weight: 60, standby: false, username: '', password: '', shared_key: null },
    ]);
    expect(() => parseServiceList('- host: a.test\n', false)).toThrow(/entry 1: port is required/);
    expect(() => parseServiceList('- port: 1\n', false)).toThrow(/entry 1: host is required/);
    expect(() => parseServiceList('- host: a\n  port: 1\n- host: b\n  port: x\n', false)).toThrow(/entry 2: port: /);
    expect(() => parseServiceList('- host: a\n  port: 1\n  weight: -1\n', false)).toThrow(/entry 1: weight: must be at least 0/);
    expect(() => parseServiceList('host: a\nport: 1\n', false)).toThrow(/expected a list of servers, got a map/);
    expect(() => parseServiceList('', false)).toThrow(ServiceListError);
    expect(() => parseServiceList('- host: [a, b]\n  port: 1\n', false)).toThrow(/entry 1: host: expected a single value, got a list/);
  });

  it('parses dns_server_host as HOST or HOST:PORT', () => {
    expect(parseDnsServer('127.0.0.1:8600')).toEqual({ host: '127.0.0.1', port: 8600 });
    expect(parseDnsServer('::1')).toEqual({ host: '::1', port: null });
    expect(parseDnsServer('[::1]:53')).toEqual({ host: '::1', port: 53 });
    expect(parseDnsServer('dns.test')).toEqual({ host: 'dns.test', port: null });
    expect(parseDnsServer('a:b:c:d:x')).toBeNull();
  });
});
