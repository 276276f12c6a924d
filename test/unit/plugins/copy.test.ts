/**
 * out_copy through the real agent (spec §1): every store gets every event in order, buffered and
 * unbuffered stores, ignore_error / ignore_if_prev_success (including the fallback-chain gotcha),
 * copy modes against a store that mutates records in place, store lifecycles, routing of stores
 * that re-emit, and config errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineParams } from '../../../src/config/schema.js';
import type { EventStream } from '../../../src/core/event-stream.js';
import { defineOutput } from '../../../src/core/plugin.js';
import { lookup, register } from '../../../src/core/registry.js';
import { captured, sink } from '../../helpers/agent.js';
import { configProblems, driver, type Driver } from '../../helpers/driver.js';
import { packedStream } from '../../helpers/packed.js';
import { waitFor } from '../../helpers/wait.js';

/** `<plugin id>:<tag>` in the order outputs received streams, across outputs. */
const arrivals: string[] = [];

if (!lookup('output', 'test_order')) {
  register(defineOutput({
    type: 'test_order',
    desc: 'test: records the order in which outputs receive streams',
    params: defineParams({}),
    create: (_c, ctx) => ({ process(tag: string) { arrivals.push(`${ctx.id}:${tag}`); } }),
  }));
  register(defineOutput({
    type: 'test_mutate',
    desc: 'test: changes the records it receives in place (as record_modifier does)',
    params: defineParams({}),
    create: () => ({
      process(_tag: string, stream: EventStream) {
        for (const e of stream.events()) {
          e.record.top = 'changed';
          (e.record.nested as Record<string, unknown>).b = 2;
        }
      },
    }),
  }));
}

let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
  arrivals.length = 0;
  captured.clear();
});

/** What the test_capture output with this @id received. */
const cap = (id: string) => captured.get(id) ?? [];

describe('copy output', () => {
  it('gives every store every event, buffered stores included, and counts each store\'s emits', async () => {
    d = await driver(`
<match app.**>
  @type copy
  @id copy
  <store>
    @type test_capture
    @id first
  </store>
  <store>
    type test_sink
    @id sunk
    <buffer>
      flush_mode immediate
    </buffer>
  </store>
</match>
`);
    await d.feed('app.a', [{ n: 1 }, { n: 2 }]);
    await d.agent.emit('app.b', packedStream([{ n: 3 }]));
    expect(cap('first').map((e) => `${e.tag}:${e.record.n}`)).toEqual(['app.a:1', 'app.a:2', 'app.b:3']);
    await waitFor(() => sink('sunk').chunks.flatMap((c) => c.records).length === 3, 5000, 'buffered store');
    expect(sink('sunk').chunks.flatMap((c) => c.records)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const copy = d!.agent.plugins.find((p) => p.id === 'copy')!;
    expect(copy.metrics.emit_records).toBe(3);
    expect(d!.warnings.join('\n')).not.toMatch(/is not used/);
  });

  it('drives the stores\' lifecycles and flushes buffered stores at shutdown', async () => {
    d = await driver(`
<match **>
  @type copy
  <store>
    @type test_sink
    @id lazy
    <buffer>
      flush_interval 1h
    </buffer>
  </store>
</match>
`);
    expect(sink('lazy').lifecycle).toEqual(['start']);
    await d.feed('t', [{ n: 1 }]);
    expect(sink('lazy').chunks).toEqual([]);
    await d.close();
    d = null;
    expect(sink('lazy').lifecycle).toEqual(['start', 'stop', 'close']);
    expect(sink('lazy').chunks.flatMap((c) => c.records)).toEqual([{ n: 1 }]);
  });

  it('runs a store\'s whole downstream route before the next store starts', async () => {
    d = await driver(`
<match app.**>
  @type copy
  <store>
    @type relabel
    @label @A
  </store>
  <store>
    @type test_order
    @id second
  </store>
</match>
<label @A>
  <match **>
    @type test_order
    @id in_label
  </match>
</label>
`);
    await d.feed('app.x', [{ n: 1 }]);
    await d.feed('app.y', [{ n: 2 }]);
    expect(arrivals).toEqual(['in_label:app.x', 'second:app.x', 'in_label:app.y', 'second:app.y']);
  });

  it('a failing store stops the rest and fails the emit (to @ERROR here); with ignore_error it is logged and the rest run', async () => {
    const conf = (arg: string) => `
<match **>
  @type copy
  <store ${arg}>
    @type test_capture
    @id bad
    fail true
  </store>
  <store>
    @type test_capture
    @id good
  </store>
</match>
`;
    d = await driver(conf(''));
    await d.feed('t', [{ n: 1 }]); // the failure sends the whole stream to @ERROR (the driver declares one)
    expect(d.errors.map((e) => e.record)).toEqual([{ n: 1 }]);
    expect(cap('good')).toEqual([]);
    expect(d.logs()).toMatch(/emit transaction failed.*capture refused/);
    await d.close();
    d = await driver(conf('ignore_error'));
    await d.feed('t', [{ n: 1 }]);
    expect(cap('good').map((e) => e.record)).toEqual([{ n: 1 }]);
    await waitFor(() => /ignore emit error/.test(d!.logs()), 3000, 'error log');
  });

  it('ignore_if_prev_success: a fallback runs only after a failure; a skipped store sets no success flag', async () => {
    d = await driver(`
<match primary_ok>
  @type copy
  <store ignore_error>
    @type test_capture
    @id a1
  </store>
  <store ignore_if_prev_success>
    @type test_capture
    @id b1
  </store>
  <store ignore_if_prev_success ignore_error>
    @type test_capture
    @id c1
  </store>
</match>
<match primary_bad>
  @type copy
  <store ignore_error>
    @type test_capture
    @id a2
    fail true
  </store>
  <store ignore_if_prev_success>
    @type test_capture
    @id b2
  </store>
</match>
`);
    await d.feed('primary_ok', [{ n: 1 }]);
    await d.feed('primary_bad', [{ n: 2 }]);
    expect(cap('a1').length).toBe(1);
    expect(cap('b1').length).toBe(0);
    expect(cap('c1').length).toBe(1); // Fluentd's gotcha: B was skipped, so C's predecessor has no success
    expect(cap('b2').map((e) => e.record)).toEqual([{ n: 2 }]);
  });

  describe('copy modes, with a first store that mutates records in place', () => {
    const conf = (mode: string) => `
<match **>
  @type copy
  ${mode}
  <store>
    @type test_mutate
  </store>
  <store>
    @type test_capture
    @id seen
  </store>
</match>
`;
    const record = () => ({ top: 'orig', nested: { b: 1 } });

    it('no_copy: later stores see the mutation', async () => {
      d = await driver(conf(''));
      await d.feed('t', [record()]);
      expect(cap('seen')[0]!.record).toEqual({ top: 'changed', nested: { b: 2 } });
    });

    it('shallow (and deep_copy true, deprecated): top-level copies, nested maps still shared', async () => {
      d = await driver(conf('copy_mode shallow'));
      await d.feed('t', [record()]);
      expect(cap('seen')[0]!.record).toEqual({ top: 'orig', nested: { b: 2 } });
      await d.close();
      expect(configProblems(conf('deep_copy true')).warnings.join('\n')).toMatch(/'deep_copy' is deprecated/);
      d = await driver(conf('deep_copy true'));
      await d.feed('t', [record()]);
      expect(cap('seen')[0]!.record).toEqual({ top: 'orig', nested: { b: 2 } });
    });

    it('deep and marshal: nothing is shared', async () => {
      for (const mode of ['deep', 'marshal']) {
        d = await driver(conf(`copy_mode ${mode}`));
        const r = record();
        await d.feed('t', [r]);
        expect(cap('seen')[0]!.record).toEqual({ top: 'orig', nested: { b: 1 } });
        expect(r).toEqual({ top: 'orig', nested: { b: 1 } });
        await d.close();
        d = null;
      }
    });

    it('a packed stream gives each store fresh records in every copying mode', async () => {
      d = await driver(conf('copy_mode shallow'));
      await d.agent.emit('t', packedStream([record()]));
      expect(cap('seen')[0]!.record).toEqual({ top: 'orig', nested: { b: 1 } });
    });
  });

  it('a store that re-emits without @label emits where the copy lives; with @label into that label', async () => {
    d = await driver(`
<label @IN>
  <match flowcount>
    @type test_capture
    @id counted_in_label
  </match>
  <match app.**>
    @type copy
    <store>
      @type flowcounter
      unit second
      aggregate all
    </store>
    <store>
      @type relabel
      @label @OUT
    </store>
  </match>
</label>
<match app.**>
  @type relabel
  @label @IN
</match>
<label @OUT>
  <match **>
    @type test_capture
    @id out
  </match>
</label>
`);
    await d.feed('app.x', [{ n: 1 }]);
    expect(cap('out').map((e) => e.tag)).toEqual(['app.x']);
    const counted = await waitFor(() => cap('counted_in_label')[0], 5000, 'flowcount event in @IN');
    expect(counted.record.count).toBe(1);
  });

  it('reports config errors in stores', () => {
    const problems = (stores: string) => configProblems(`<match **>\n@type copy\n${stores}\n</match>`).problems.join('\n');
    expect(problems('')).toMatch(/at least one <store> section is required/);
    expect(problems('<store>\ntag x\n</store>')).toMatch(/Missing '@type' parameter in <store> section/);
    expect(problems('<store ignore_if_prev_success>\n@type null\n</store>')).toMatch(/ignore_if_prev_success must specify 2nd or later <store> directives/);
    expect(problems('<store>\n@type nosuch\n</store>')).toMatch(/unknown output plugin 'nosuch'/);
    expect(problems('<store>\n@type test_sink\n<buffer>\nflush_mode bogus\n</buffer>\n</store>')).toMatch(/flush_mode/);
    expect(problems('<store>\n@type flowcounter\naggregate all\noutput_style tagged\n</store>')).toMatch(/aggregate must be 'tag'/);
    expect(problems('<store>\n@type null\n</store>')).toBe('');
  });
});
