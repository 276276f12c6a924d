import { beforeEach, describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { EmitError } from '../../../src/core/errors.js';
import { buildFromText, captured } from '../../helpers/agent.js';

const ev = (n = 1, extra: Record<string, unknown> = {}) => EventStream.fromEvents(Array.from({ length: n }, (_, i) => ({ time: 100 + i, record: { i, ...extra } })));

beforeEach(() => captured.clear());

function agentOf(text: string) {
  const r = buildFromText(text);
  expect(r.problems).toEqual([]);
  return r.agent!;
}

describe('routing', () => {
  it('first matching <match> wins and later ones never see the event', async () => {
    const a = agentOf(`
<match app.**>
  @type test_capture
  @id first
</match>
<match app.web>
  @type test_capture
  @id second
</match>
<match **>
  @type test_capture
  @id rest
</match>`);
    await a.emit('app.web', ev());
    await a.emit('other', ev());
    expect(captured.get('first')?.map((e) => e.tag)).toEqual(['app.web']);
    expect(captured.get('second')).toBeUndefined();
    expect(captured.get('rest')?.map((e) => e.tag)).toEqual(['other']);
  });

  it('applies every matching filter in file order, none after the match', async () => {
    const a = agentOf(`
<filter app.**>
  @type test_mark
  @id f1
</filter>
<filter other.**>
  @type test_mark
  @id not_me
</filter>
<filter app.* app.x>
  @type test_mark
  @id f2
</filter>
<match app.**>
  @type test_capture
  @id out
</match>
<filter **>
  @type test_mark
  @id too_late
</filter>`);
    await a.emit('app.x', ev());
    expect(captured.get('out')![0]!.record.path).toBe('/f1/f2');
  });

  it('a filter that drops everything stops the stream', async () => {
    const a = agentOf(`
<filter **>
  @type test_mark
  drop_key gone
</filter>
<match **>
  @type test_capture
  @id out
</match>`);
    await a.emit('t', ev(2, { gone: 1 }));
    expect(captured.get('out')).toBeUndefined();
  });

  it('routes sources with @label and relabel outputs into <label>', async () => {
    const a = agentOf(`
<match to.label>
  @type relabel
  @label @L
</match>
<match **>
  @type test_capture
  @id root
</match>
<label @L>
  <filter **>
    @type test_mark
    @id lf
  </filter>
  <match **>
    @type test_capture
    @id in_label
  </match>
</label>`);
    await a.emit('to.label', ev());
    await a.emit('stays', ev());
    expect(captured.get('in_label')?.map((e) => [e.tag, e.record.path])).toEqual([['to.label', '/lf']]);
    expect(captured.get('root')?.map((e) => e.tag)).toEqual(['stays']);
  });

  it('drops unmatched tags with a throttled warning', async () => {
    const r = buildFromText('<match only.this>\n  @type test_capture\n  @id o\n</match>');
    for (let i = 0; i < 5; i++) await r.agent!.emit('nobody.wants', ev());
    expect(r.agent!.rootRouter.unmatched).toBe(5);
    // 1st, 2nd and 4th occurrence are logged
    expect(r.logs().match(/no patterns matched tag="nobody.wants"/g)).toHaveLength(3);
  });

  it('sends records that fail to @ERROR, keeping the tag', async () => {
    const a = agentOf(`
<filter **>
  @type test_explode
</filter>
<match **>
  @type test_capture
  @id out
</match>
<label @ERROR>
  <match **>
    @type test_capture
    @id err
  </match>
</label>`);
    await a.emit('app', EventStream.fromEvents([{ time: 1, record: { ok: 1 } }, { time: 2, record: { bad: true } }]));
    await new Promise((r) => setImmediate(r));
    expect(captured.get('out')?.map((e) => e.record)).toEqual([{ ok: 1 }]);
    expect(captured.get('err')?.map((e) => [e.tag, e.record])).toEqual([['app', { bad: true }]]);
  });

  it('a failing output rejects the emit when there is no @ERROR label', async () => {
    const r = buildFromText('<match **>\n  @type test_capture\n  fail true\n</match>');
    await expect(r.agent!.emit('t', ev())).rejects.toBeInstanceOf(EmitError);
    expect(r.logs()).toMatch(/emit transaction failed tag="t" error="capture refused"/);
  });

  it('with @ERROR declared, a failing stream is diverted there and the emit resolves', async () => {
    const a = agentOf(`
<filter **>
  @type test_explode
  whole true
</filter>
<match **>
  @type test_capture
  @id out
</match>
<label @ERROR>
  <match **>
    @type test_capture
    @id err
  </match>
</label>`);
    await expect(a.emit('t', ev(3))).resolves.toBeUndefined();
    expect(captured.get('err')).toHaveLength(3);
    expect(captured.get('out')).toBeUndefined();
  });

  it('own log lines become fluent.* events in @FLUENT_LOG without looping', async () => {
    const r = buildFromText(`
<match nothing>
  @type null
</match>
<label @FLUENT_LOG>
  <match fluent.warn>
    @type test_capture
    @id logs
  </match>
</label>`);
    const a = r.agent!;
    await a.start();
    await a.emit('unrouted.tag', ev());
    await new Promise((res) => setTimeout(res, 50));
    const logs = captured.get('logs') ?? [];
    expect(logs.length).toBe(1);
    expect(logs[0]!.record).toMatchObject({ message: 'no patterns matched tag="unrouted.tag"', tag: 'unrouted.tag' });
    await a.stop();
  });
});
