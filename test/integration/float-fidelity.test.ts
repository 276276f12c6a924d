/**
 * A whole float stays a Float end to end (in-process agent, real loopback sockets): a forward
 * event `{"f": 2.0}` (msgpack float64) is written by out_file as `"f":2.0`; after a
 * record_transformer it still leaves out_forward as a float64 (its computed fields too), and a
 * stream nobody decodes is forwarded byte for byte. JSON inputs (in_http, forward's JSON mode) read
 * `2.0` as a Float too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WholeFloat } from '../../src/core/float.js';
import type { Agent } from '../../src/core/agent.js';
import { decodeAll, encode } from '../../src/protocol/msgpack.js';
import { buildFromText, sink } from '../helpers/agent.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';
import { RawReceiver, stopAll } from './out-forward-util.js';

const T = 1_700_000_000;
const f64 = (n: number): Buffer => { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(n, 1); return b; };
/** The msgpack of key `k` followed by the float64 `n`. */
const floatField = (k: string, n: number): Buffer => Buffer.concat([Buffer.from([0xa0 + k.length]), Buffer.from(k), f64(n)]);

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await stopAll();
});

/** The agent built from `text`, started, stopped after the test. */
async function started(text: string): Promise<Agent> {
  const r = buildFromText(text);
  if (!r.agent) throw new Error(r.problems.map((p) => `${p.param ?? ''}: ${p.message}`).join('\n'));
  const agent = r.agent;
  await agent.start();
  cleanup.push(() => agent.stop());
  return agent;
}

/** The port an input (forward, http) listens on. */
const portOf = (agent: Agent, id: string): number => (agent.plugins.find((p) => p.id === id)!.instance as unknown as { port: number }).port;

it('the client really sends float64 (the test encodes a WholeFloat as such)', () => {
  expect(encode({ f: new WholeFloat(2) })).toEqual(Buffer.concat([Buffer.from([0x81]), floatField('f', 2)]));
});

describe('float fidelity through the agent', () => {
  it('in_forward → out_file json / record_transformer → out_forward, test_sink; pass-through untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logferry-float-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const rcv = await RawReceiver.start();
    const agent = await started(`
<source>
  @type forward
  @id fin
  port 0
  bind 127.0.0.1
</source>
<match file.**>
  @type file
  path ${dir}/float
  <format>
    @type json
  </format>
  <buffer []>
    flush_mode immediate
  </buffer>
</match>
<filter {fwd,sink}.**>
  @type record_transformer
  enable_ruby true
  <record>
    double \${record["f"] * 2}
    label f=\${record["f"]}
  </record>
</filter>
<match sink.**>
  @type test_sink
  @id fsink
  <buffer>
    flush_mode immediate
  </buffer>
</match>
<match {fwd,pass}.**>
  @type forward
  heartbeat_type none
  <server>
    host 127.0.0.1
    port ${rcv.port}
  </server>
  <buffer tag>
    flush_mode immediate
  </buffer>
</match>
`);
    const port = portOf(agent, 'fin');

    const record = { f: new WholeFloat(2), i: 2, g: 2.5 };
    const entries = encode([T, record]);
    expect(entries.includes(floatField('f', 2))).toBe(true);
    const client = await RawClient.open(port);
    cleanup.push(() => client.destroy());
    for (const tag of ['file.a', 'fwd.a', 'sink.a', 'pass.a']) {
      await client.write(encode([tag, [[T, record]]]));
    }

    // out_file <format> @type json
    const path = join(dir, 'float_0.log');
    const text = await waitFor(() => { try { return readFileSync(path, 'utf8'); } catch { return null; } }, 10000, path);
    expect(text).toBe('{"f":2.0,"i":2,"g":2.5}\n');

    // out_forward: the transformed record re-encoded, f and double as float64 on the wire
    await waitFor(() => rcv.messages.length >= 2, 10000, 'two forwarded messages');
    const byTag = new Map(rcv.messages.map((m) => [m.request.tag, m.request.entries]));
    const fwd = byTag.get('fwd.a')!;
    expect(fwd.includes(floatField('f', 2))).toBe(true);
    expect(fwd.includes(floatField('double', 4))).toBe(true);
    expect(decodeAll(fwd)).toEqual([[T, { f: new WholeFloat(2), i: 2, g: 2.5, double: new WholeFloat(4), label: 'f=2.0' }]]);
    // nobody decoded pass.a: its bytes are the client's
    expect(byTag.get('pass.a')).toEqual(entries);

    // test_sink: the decoded records keep the Float
    await waitFor(() => sink('fsink').chunks.length >= 1, 10000, 'a chunk in test_sink');
    expect(sink('fsink').chunks[0]!.records).toEqual([{ f: new WholeFloat(2), i: 2, g: 2.5, double: new WholeFloat(4), label: 'f=2.0' }]);
  });

  it('JSON inputs: in_http and forward in JSON mode read 2.0 as a Float (out_file prints it back)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logferry-float-json-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const agent = await started(`
<source>
  @type forward
  @id fin
  port 0
  bind 127.0.0.1
</source>
<source>
  @type http
  @id hin
  port 0
  bind 127.0.0.1
</source>
<match **>
  @type file
  path ${dir}/\${tag}
  <format>
    @type json
  </format>
  <buffer tag>
    flush_mode immediate
  </buffer>
</match>
`);
    const port = (name: string) => portOf(agent, name);
    const res = await fetch(`http://127.0.0.1:${port('hin')}/http.a`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"f":2.0,"i":2,"e":1e2,"s":"1.0"}' });
    expect(res.status).toBe(200);
    const client = await RawClient.open(port('fin'));
    cleanup.push(() => client.destroy());
    await client.write(Buffer.from(`["json.a", ${T}, {"f": 3.0, "i": 3}]`));
    const read = (tag: string) => waitFor(() => { try { return readFileSync(join(dir, `${tag}_0.log`), 'utf8'); } catch { return null; } }, 10000, `${tag}_0.log`);
    expect(await read('http.a')).toBe('{"f":2.0,"i":2,"e":100.0,"s":"1.0"}\n');
    expect(await read('json.a')).toBe('{"f":3.0,"i":3}\n');
  });
});
