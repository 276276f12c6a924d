/**
 * Every registered plugin, on a minimal config: starts, stops twice, closes twice, and moves its
 * counters when fed. A new plugin must get a minimal config here (the first test fails otherwise).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { listPlugins } from '../../../src/core/registry.js';
import { buildFromText } from '../../helpers/agent.js';

const dir = () => mkdtempSync(join(tmpdir(), 'logferry-lifecycle-'));

/** The body of a minimal directive for each @type (inputs bind port 0 on loopback). */
const MINIMAL: Record<string, { kind: 'input' | 'filter' | 'output'; body: () => string; fed?: boolean }> = {
  forward: { kind: 'input', body: () => 'port 0\nbind 127.0.0.1' },
  unix: { kind: 'input', body: () => `path ${join(dir(), 'sock')}` },
  http: { kind: 'input', body: () => 'port 0\nbind 127.0.0.1' },
  monitor_agent: { kind: 'input', body: () => 'port 0\nbind 127.0.0.1' },
  prometheus: { kind: 'input', body: () => 'port 0\nbind 127.0.0.1' },
  prometheus_monitor: { kind: 'input', body: () => '' },
  prometheus_output_monitor: { kind: 'input', body: () => '' },
  dogstatsd_monitor: { kind: 'input', body: () => 'host 127.0.0.1\nport 9' },
  grep: { kind: 'filter', body: () => '<regexp>\n key k\n pattern /./\n</regexp>' },
  record_transformer: { kind: 'filter', body: () => '<record>\n added 1\n</record>' },
  record_modifier: { kind: 'filter', body: () => '<record>\n added 1\n</record>' },
  parser: { kind: 'filter', body: () => 'key_name k\n<parse>\n @type none\n</parse>' },
  stdout: { kind: 'output', body: () => '<format>\n @type json\n</format>' },
  null: { kind: 'output', body: () => '' },
  relabel: { kind: 'output', body: () => '@label @SINK' },
  file: { kind: 'output', body: () => `path ${join(dir(), 'out')}` },
  forward_out: { kind: 'output', body: () => '<server>\n host 127.0.0.1\n port 9\n</server>\nheartbeat_type none' },
  copy: { kind: 'output', body: () => '<store>\n @type null\n</store>' },
  flowcounter: { kind: 'output', body: () => 'count_keys *\nunit second' },
  record_modifier_out: { kind: 'output', body: () => 'tag modified' },
  dogstatsd: { kind: 'output', body: () => 'host 127.0.0.1\nport 9\nuse_tag_as_key true' },
  kinesis_firehose: { kind: 'output', body: () => 'region us-east-1\ndelivery_stream_name s\nendpoint_url http://127.0.0.1:9\naws_key_id AKIDTEST\naws_sec_key secret' },
};
/** Registry entries whose @type is shared by an input and an output, or that cannot stand alone. */
const KEY: Record<string, string> = { 'output:forward': 'forward_out', 'output:record_modifier': 'record_modifier_out' };
const SKIP = new Set(['output:secondary_file']); // only valid inside <secondary>; covered by out-file tests

function keyOf(kind: string, type: string): string {
  return KEY[`${kind}:${type}`] ?? type;
}

const all = (['input', 'filter', 'output'] as const).flatMap((kind) => listPlugins(kind).map((d) => ({ kind, type: d.type })));

describe('every registered plugin', () => {
  it('has a minimal config in this test', () => {
    const missing = all.filter((p) => !SKIP.has(`${p.kind}:${p.type}`) && !MINIMAL[keyOf(p.kind, p.type)] && !p.type.startsWith('test_') && !p.type.startsWith('driver_'));
    expect(missing).toEqual([]);
  });

  for (const p of all) {
    const key = keyOf(p.kind, p.type);
    const m = MINIMAL[key];
    if (!m || SKIP.has(`${p.kind}:${p.type}`)) continue;
    it(`${p.kind} ${p.type}: start, stop twice, close twice, counts what it is fed`, async () => {
      const directive = p.kind === 'input' ? '<source>' : p.kind === 'filter' ? '<filter lifecycle.**>' : '<match lifecycle.**>';
      const close = p.kind === 'input' ? '</source>' : p.kind === 'filter' ? '</filter>' : '</match>';
      const r = buildFromText(`
${directive}
  @type ${p.type}
  @id subject
${m.body()}
${close}
<match **>
  @type null
</match>
<label @SINK>
  <match **>
    @type null
  </match>
</label>`);
      expect(r.problems).toEqual([]);
      const agent = r.agent!;
      await agent.start();
      const entry = agent.plugins.find((x) => x.id === 'subject')!;
      if (p.kind !== 'input') {
        await agent.emit('lifecycle.test', EventStream.fromEvents([{ time: EventTime.now(), record: { k: 'v', n: 1 } }]));
        expect(entry.metrics.emit_records).toBe(1);
      }
      await entry.instance.stop?.();
      await agent.stop();
      await agent.stop();
      await entry.instance.close?.();
    });
  }
});
