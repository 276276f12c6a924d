/**
 * filter_grep through the real agent: Fluentd's documented examples, <and>/<or>, the old
 * regexpN/excludeN form, record_accessor keys, Ruby to_s of non-string values, Ruby regexp
 * semantics, and the config errors Fluentd raises.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { resolveParams } from '../../../src/config/schema.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { buildRules, GrepFilter, params } from '../../../src/plugins/filter/grep.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { configProblems, driver, type Driver } from '../../helpers/driver.js';
import { packedStream } from '../../helpers/packed.js';

let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
});

async function run(filterBody: string, records: Record<string, unknown>[], packed = false): Promise<Record<string, unknown>[]> {
  d = await driver(`<filter app.**>\n  @type grep\n${filterBody}\n</filter>`);
  if (packed) await d.agent.emit('app.x', packedStream(records));
  else await d.feed('app.x', records);
  return d.emitted.map((e) => e.record);
}

describe('grep filter', () => {
  it('keeps what every <regexp> matches and no <exclude> matches (Fluentd docs example)', async () => {
    const kept = await run(`
  <regexp>
    key message
    pattern /cool/
  </regexp>
  <regexp>
    key hostname
    pattern /^web\\d+\\.example\\.com$/
  </regexp>
  <exclude>
    key message
    pattern /uncool/
  </exclude>`, [
      { message: "It's cool outside today", hostname: 'web001.example.com' },
      { message: "That's not cool", hostname: 'web1337.example.com' },
      { message: 'I am cool but you are uncool', hostname: 'db001.example.com' },
      { hostname: 'web001.example.com' },
      { message: "It's cool outside today" },
    ]);
    expect(kept).toEqual([
      { message: "It's cool outside today", hostname: 'web001.example.com' },
      { message: "That's not cool", hostname: 'web1337.example.com' },
    ]);
  });

  it('<or> keeps a record when any regexp matches; several <exclude>s drop on any match', async () => {
    const kept = await run(`
  <or>
    <regexp>
      key status
      pattern /^5\\d\\d$/
    </regexp>
    <regexp>
      key path
      pattern /\\.css$/
    </regexp>
  </or>
  <exclude>
    key host
    pattern /^test/
  </exclude>
  <exclude>
    key env
    pattern dev
  </exclude>`, [
      { status: 503, path: '/a' },
      { status: 200, path: '/s.css' },
      { status: 200, path: '/a' },
      { status: 500, path: '/a', host: 'testhost' },
      { status: 500, path: '/a', env: 'dev1' },
    ]);
    // 503 is an Integer in the record: matched as its to_s "503"
    expect(kept).toEqual([{ status: 503, path: '/a' }, { status: 200, path: '/s.css' }]);
  });

  it('<and> of excludes drops only records matching all of them', async () => {
    const kept = await run(`
  <and>
    <exclude>
      key container_name
      pattern /^app\\d{2}/
    </exclude>
    <exclude>
      key log_level
      pattern /^(?:debug|trace)$/
    </exclude>
  </and>`, [
      { container_name: 'app01', log_level: 'debug' },
      { container_name: 'app01', log_level: 'info' },
      { container_name: 'db01', log_level: 'debug' },
    ]);
    expect(kept).toEqual([{ container_name: 'app01', log_level: 'info' }, { container_name: 'db01', log_level: 'debug' }]);
  });

  it('old regexpN / excludeN take "key pattern" (pattern used as written, spaces kept) and warn as deprecated', async () => {
    const body = `
  regexp1 message ERROR .*failed
  exclude1 host ^canary`;
    expect(configProblems(`<filter **>\n@type grep\n${body}\n</filter>`).warnings.join('\n')).toMatch(/regexp1' is deprecated: Use <regexp> section/);
    const kept = await run(body, [
      { message: 'ERROR login failed', host: 'web1' },
      { message: 'ERRORlogin failed', host: 'web1' },
      { message: 'ERROR login failed', host: 'canary1' },
    ], true);
    expect(kept).toEqual([{ message: 'ERROR login failed', host: 'web1' }]);
  });

  it('reads nested fields with record_accessor keys; a missing field is matched as ""', async () => {
    const kept = await run(`
  <regexp>
    key $.kubernetes.labels.app
    pattern /^api$/
  </regexp>
  <regexp>
    key $['tags'][1]
    pattern ^b$
  </regexp>
  <exclude>
    key trace_id
    pattern /./
  </exclude>`, [
      { kubernetes: { labels: { app: 'api' } }, tags: ['a', 'b'] },
      { kubernetes: { labels: { app: 'api' } }, tags: ['a', 'b'], trace_id: 'x' },
      { kubernetes: { labels: { app: 'web' } }, tags: ['a', 'b'] },
      { kubernetes: 'flat', tags: ['a', 'b'] },
    ]);
    expect(kept).toEqual([{ kubernetes: { labels: { app: 'api' } }, tags: ['a', 'b'] }]);
  });

  it('uses Ruby regexp semantics: ^ is a line anchor, \\A a string anchor, /i ignores case', async () => {
    const kept = await run(`
  <regexp>
    key message
    pattern /^error/i
  </regexp>
  <exclude>
    key message
    pattern /\\Askip/
  </exclude>`, [
      { message: 'first line\nERROR on the second' },
      { message: 'skip\nerror here' },
      { message: 'x skip\nerror here' },
      { message: 'no problem' },
    ]);
    expect(kept).toEqual([{ message: 'first line\nERROR on the second' }, { message: 'x skip\nerror here' }]);
  });

  it('hands on the very same stream (packed bytes untouched) when every event is kept', () => {
    const el = parseConfigText('<filter **>\n@type grep\n<regexp>\nkey message\npattern .\n</regexp>\n</filter>', 't.conf').elements[0]!;
    const f = new GrepFilter(buildRules(resolveParams(params, el).value).rules);
    const stream = EventStream.fromPacked(Buffer.concat([encode([1, { message: 'a' }]), encode([1, { message: 'b' }])]), 2);
    expect(f.filter('app.x', stream)).toBe(stream);
    const some = EventStream.fromEvents([{ time: 1, record: { message: 'a' } }, { time: 1, record: {} }]);
    expect(f.filter('app.x', some)?.events().map((e) => e.record)).toEqual([{ message: 'a' }]);
    expect(f.filter('app.x', EventStream.fromEvents([{ time: 1, record: {} }]))).toBeNull();
  });

  it('reports Fluentd\'s config errors', () => {
    const problems = (body: string) => configProblems(`<filter **>\n@type grep\n${body}\n</filter>`).problems.join('\n');
    expect(problems('regexp1 onlykey')).toMatch(/regexp1 does not contain 2 parameters/);
    expect(problems('regexp1 a x\nregexp2 a y')).toMatch(/regexp2 contains a duplicated key, a/);
    expect(problems('<regexp>\nkey a\npattern x\n</regexp>\n<regexp>\nkey a\npattern y\n</regexp>')).toMatch(/Duplicate key: a/);
    expect(problems('<and>\n<regexp>\nkey a\npattern x\n</regexp>\n<exclude>\nkey b\npattern y\n</exclude>\n</and>')).toMatch(/Do not specify both <regexp> and <exclude> in <and>/);
    expect(problems('<or>\n<regexp>\nkey a\npattern x\n</regexp>\n<regexp>\nkey a\npattern y\n</regexp>\n</or>')).toMatch(/Duplicate key in <or>: a/);
    expect(problems('<regexp>\nkey a\npattern /(unclosed/\n</regexp>')).toMatch(/a: .*(Unterminated|Invalid)/i);
    expect(problems('<regexp>\nkey a\npattern /x(?i)y/\n</regexp>')).toMatch(/not supported/);
    expect(problems('<regexp>\nkey $.a..b\npattern x\n</regexp>')).toMatch(/invalid record accessor/);
    expect(problems('<regexp>\nkey a\n</regexp>')).toMatch(/pattern: is required/);
  });
});
