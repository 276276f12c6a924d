/** record_modifier (filter and output) through the real agent: spec §5 and the §6 pipeline. */
import { afterEach, describe, expect, it } from 'vitest';
import { EventTime } from '../../../src/core/event-time.js';
import { configProblems, driver, filterDriver, type Driver } from '../../helpers/driver.js';

let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
});

const T0 = 1700000000;

async function modify(body: string, tag: string, records: Array<Record<string, unknown>>) {
  d = await filterDriver(`@type record_modifier\n${body}`);
  await d.feed(tag, records, T0);
  return d;
}

describe('record_modifier filter', () => {
  it('applies <record> entries in order, in place: later entries see earlier ones (spec example)', async () => {
    const input = { x: '3' };
    const dr = await modify('<record>\n a ${record["x"].to_i * 2}\n b ${record["a"] + 1}\n</record>', 'app', [input]);
    expect(dr.emitted[0]!.record).toEqual({ x: '3', a: 6, b: 7 });
    expect(input).toEqual({ x: '3', a: 6, b: 7 }); // the input record object itself changed, as in Fluentd
  });

  it('values: whole ${…} keeps the type, mixed text interpolates, plain text is verbatim', async () => {
    const dr = await modify(`<record>
  n \${record["n"]}
  s n=\${record["n"]} tag=\${tag}
  part \${tag_parts[1]}
  plain {"not":"json"}
  esc a\\tb
  t \${Time.at(time).utc.strftime("%H:%M:%S")}
  sec \${time.to_i}
  raw_time \${time}
</record>`, 'svc.api', [{ n: 5 }]);
    expect(dr.emitted[0]!.record).toEqual({
      n: 5, s: 'n=5 tag=svc.api', part: 'api', plain: '{"not":"json"}', esc: 'a\\tb', t: '22:13:20', sec: T0, raw_time: new EventTime(T0, 0),
    });
  });

  it('whitelist_keys keeps the listed keys plus the <record> keys (spec example)', async () => {
    const dr = await modify('whitelist_keys x\n<record>\n y 1\n</record>', 'app', [{ x: 1, z: 2 }]);
    expect(dr.emitted[0]!.record).toEqual({ x: 1, y: '1' });
    expect(Object.keys(dr.emitted[0]!.record)).toEqual(['x', 'y']);
  });

  it('remove_keys takes record accessors', async () => {
    const dr = await modify('remove_keys a,$.n.x,$.l[1]', 'app', [{ a: 1, b: 2, n: { x: 1, y: 2 }, l: [1, 2, 3] }]);
    expect(dr.emitted[0]!.record).toEqual({ b: 2, n: { y: 2 }, l: [1, 3] });
  });

  it('<replace> substitutes with groups, only when the field exists and matches', async () => {
    const dr = await modify(`<replace>
  key msg
  expression /^(?<user>[a-z]+)@(\\w+)$/
  replace \\k<user> at \\2
</replace>
<replace>
  key absent
  expression /x/
  replace y
</replace>`, 'app', [{ msg: 'bob@example' }, { msg: 'no match here' }, { other: 1 }]);
    expect(dr.emitted.map((e) => e.record)).toEqual([{ msg: 'bob at example' }, { msg: 'no match here' }, { other: 1 }]);
  });

  it('char_encoding: utf-8 alone is a no-op; FROM:utf-8 decodes binary fields', async () => {
    const sjis = new Uint8Array([0x82, 0xa0]); // "あ" in Shift_JIS
    const dr = await modify('char_encoding shift_jis:utf-8', 'app', [{ bin: sjis, text: 'あ', nested: { list: [sjis] } }]);
    expect(dr.emitted[0]!.record).toEqual({ bin: 'あ', text: 'あ', nested: { list: ['あ'] } });
    await dr.close();
    d = null;
    const dr2 = await modify('char_encoding utf-8', 'app', [{ text: 'é' }]);
    expect(dr2.emitted[0]!.record).toEqual({ text: 'é' });
  });

  it('config errors: bad expression (named), remove_keys with whitelist_keys, prepare_value, encodings', () => {
    const bad = (body: string) => configProblems(`<filter **>\n  @type record_modifier\n${body}\n</filter>`).problems.join('\n');
    expect(bad('<record>\n  x ${record.instance_eval("1")}\n</record>')).toMatch(/<record> x .*`\$\{record\.instance_eval\("1"\)\}`: 'instance_eval' is not allowed/);
    expect(bad('<record>\n  x ${tag_prefix[0]}\n</record>')).toContain("unknown identifier 'tag_prefix'");
    expect(bad('remove_keys a\nwhitelist_keys b')).toContain('remove_keys and whitelist_keys are exclusive');
    expect(bad('prepare_value @foo = 1')).toMatch(/prepare_value: .*not supported/);
    expect(bad('char_encoding utf-8:euc-jp')).toContain('only utf-8 is supported as the target encoding');
    expect(bad('char_encoding nope:utf-8')).toContain("unknown encoding 'nope'");
    expect(bad('<replace>\n  key a\n  expression /(/\n  replace b\n</replace>')).toContain('invalid regexp');
  });

  it('a record whose expression fails goes to @ERROR; the others go on', async () => {
    const dr = await modify('<record>\n up ${record["name"].upcase}\n</record>', 'app', [{ name: 'a' }, { id: 2 }, { name: 'c' }]);
    expect(dr.emitted.map((e) => e.record.up)).toEqual(['A', 'C']);
    expect(dr.errors.map((e) => e.record)).toEqual([{ id: 2 }]);
    expect(dr.logs()).toContain("undefined method `upcase' for nil");
  });
});

describe('record_modifier output', () => {
  it('re-emits modified records under a static tag', async () => {
    d = await driver(`<match app.**>
  @type record_modifier
  tag out.static
  remove_keys drop,$.not_an_accessor
  <record>
    from \${tag}
  </record>
</match>`);
    await d.feed('app.x', [{ a: 1, drop: 2, '$.not_an_accessor': 3 }], T0);
    expect(d.emitted).toEqual([{ tag: 'out.static', time: T0, record: { a: 1, from: 'app.x' } }]);
  });

  it('a ${…} tag is evaluated per record after the modification; records are grouped by tag (spec example)', async () => {
    d = await driver(`<match app.**>
  @type record_modifier
  tag out.\${record["lvl"]}.\${tag_parts[1]}
  <record>
    lvl \${record["level"].downcase}
  </record>
</match>`);
    await d.feed('app.x', [{ level: 'WARN', n: 1 }, { level: 'INFO', n: 2 }, { level: 'WARN', n: 3 }], T0);
    expect(d.emitted.map((e) => [e.tag, e.record.n])).toEqual([['out.warn.x', 1], ['out.warn.x', 3], ['out.info.x', 2]]);
  });

  it('a failing expression fails the whole stream (to @ERROR through the router)', async () => {
    d = await driver('<match app.**>\n  @type record_modifier\n  tag out\n  <record>\n    x ${record["a"]["b"]}\n  </record>\n</match>');
    await d.feed('app.x', [{ a: { b: 1 } }, { a: null }], T0);
    expect(d.emitted).toEqual([]);
    expect(d.errors).toHaveLength(2);
    expect(d.logs()).toContain("undefined method `[]' for nil");
  });

  it('requires tag', () => {
    expect(configProblems('<match **>\n  @type record_modifier\n</match>').problems.join('\n')).toMatch(/tag: is required/);
  });
});

describe('the flow-metrics pipeline of spec §6 (copy → record_modifier outputs → record_transformer)', () => {
  it('turns flowcounter summaries into one value per metric with the fluentd tag', async () => {
    d = await driver(`<match flowcount>
  @type copy
  deep_copy true
  <store>
    @type record_modifier
    tag quantico.fluentd.messages.bytes
  </store>
  <store>
    @type record_modifier
    tag quantico.fluentd.messages.count
  </store>
</match>
<filter quantico.fluentd.messages.**>
  @type record_transformer
  enable_ruby true
  remove_keys bytes,bytes_rate,count,count_rate,tag
  <record>
    value \${record[tag_parts[3]]}
    fluentd-tag \${record['tag']}
  </record>
</filter>`);
    await d.feed('flowcount', [{ count: 3, bytes: 87, count_rate: 2.99, bytes_rate: 86.96, tag: 'nginx.access' }]);
    await d.feed('flowcount', [{ count: 1, bytes: 11, count_rate: 0.99, bytes_rate: 10.99, tag: 'haproxy' }]);
    expect(d.emitted.map((e) => `${e.tag} ${JSON.stringify(e.record)}`)).toEqual([
      'quantico.fluentd.messages.bytes {"value":87,"fluentd-tag":"nginx.access"}',
      'quantico.fluentd.messages.count {"value":3,"fluentd-tag":"nginx.access"}',
      'quantico.fluentd.messages.bytes {"value":11,"fluentd-tag":"haproxy"}',
      'quantico.fluentd.messages.count {"value":1,"fluentd-tag":"haproxy"}',
    ]);
  });
});
