/** The built-in per-tag flow counters are filled for every input and output with no config. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../../src/core/agent.js';
import { EventTime } from '../../../src/core/event-time.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { buildFromText, captured } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';
import { RawClient } from '../../integration/forward-util.js';

describe('per-tag flow metrics', () => {
  let agent: Agent | null = null;
  afterEach(async () => { await agent?.stop(); agent = null; captured.clear(); });

  it('counts records and bytes per tag on the input and the output, without decoding', async () => {
    const r = buildFromText(`
<source>
  @type forward
  @id in
  port 0
  bind 127.0.0.1
</source>
<match app.**>
  @type test_capture
  @id out
</match>`);
    expect(r.problems).toEqual([]);
    agent = r.agent!;
    await agent.start();
    const port = (/listening port port=(\d+)/.exec(r.logs()) ?? [])[1];
    const entries = Buffer.concat([0, 1, 2].map((i) => encode([new EventTime(1700000000, i), { i, msg: 'hello' }])));
    const c = await RawClient.open(Number(port));
    await c.write(encode(['app.web', entries, { size: 3, chunk: 'x1' }]));
    await c.write(encode(['app.db', entries.subarray(0, entries.length), { size: 3, chunk: 'x2' }]));
    await c.waitForValues(2);
    c.destroy();
    await waitFor(() => (captured.get('out')?.length ?? 0) >= 6, 5000, 'six events captured');
    const input = agent.plugins.find((p) => p.id === 'in')!.metrics.flow;
    const output = agent.plugins.find((p) => p.id === 'out')!.metrics.flow;
    expect(input.get('app.web')).toEqual({ records: 3, bytes: entries.length, unsized: 0 });
    expect(input.get('app.db')).toEqual({ records: 3, bytes: entries.length, unsized: 0 });
    expect(output.get('app.web')).toEqual({ records: 3, bytes: entries.length, unsized: 0 });
    expect(output.total()).toEqual({ records: 6, bytes: 2 * entries.length, unsized: 0 });
  });
});
