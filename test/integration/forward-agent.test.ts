/**
 * in_forward / in_unix through the real agent (in-process): cross-field validation reported
 * before anything starts, an emit failure closing the connection without an ack, and requests of
 * one connection answered in order while a slow emit holds only that connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineParams } from '../../src/config/schema.js';
import type { Agent } from '../../src/core/agent.js';
import { defineOutput } from '../../src/core/plugin.js';
import { lookup, register } from '../../src/core/registry.js';
import { encode } from '../../src/protocol/msgpack.js';
import { buildFromText, captured } from '../helpers/agent.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';

function problems(source: string, type = 'forward'): string[] {
  const r = buildFromText(`
<source>
  @type ${type}
${source}
</source>
<match **>
  @type null
</match>`);
  return r.problems.map((p) => `${p.param ?? ''}: ${p.message}`);
}

describe('configuration checks', () => {
  it('accepts every documented parameter', () => {
    expect(problems(`
  port 24225
  bind 127.0.0.1
  backlog 128
  linger_timeout 0
  blocking_timeout 0.5
  resolve_hostname true
  send_keepalive_packet true
  chunk_size_warn_limit 8m
  chunk_size_limit 16m
  decompression_size_limit 64m
  skip_invalid_event false
  source_address_key addr
  source_hostname_key host
  tag fixed
  add_tag_prefix pre
  deny_keepalive false
  <transport tcp>
    linger_timeout 0
  </transport>
  <security>
    self_hostname me
    shared_key k
    user_auth true
    allow_anonymous_source false
    <user>
      username u
      password p
    </user>
    <client>
      network 10.0.0.0/8
      users u
    </client>
  </security>`)).toEqual([]);
  });

  it('reports each cross-field problem', () => {
    expect(problems('  deny_keepalive true\n  send_keepalive_packet true')).toEqual([
      'send_keepalive_packet: send_keepalive_packet and deny_keepalive cannot both be true',
    ]);
    expect(problems('  source_hostname_key h\n  resolve_hostname false')).toEqual([
      'resolve_hostname: resolve_hostname must be true (or unset) when source_hostname_key is set',
    ]);
    expect(problems('  tag ""\n  add_tag_prefix ""')).toEqual(['tag: tag must not be empty', 'add_tag_prefix: add_tag_prefix must not be empty']);
    expect(problems('  <security>\n    self_hostname me\n    shared_key k\n    user_auth true\n  </security>')).toEqual([
      'user_auth: user_auth true needs at least one <user> in <security>',
    ]);
    expect(problems('  <security>\n    self_hostname me\n    shared_key k\n    allow_anonymous_source false\n  </security>')).toEqual([
      'allow_anonymous_source: allow_anonymous_source false needs at least one <client> in <security>',
    ]);
    expect(problems('  <security>\n    self_hostname me\n    shared_key k\n    <client>\n      network 10.0.0.0/99\n    </client>\n  </security>')).toEqual([
      "network: '10.0.0.0/99' is not an IP network (address/prefix)",
    ]);
    expect(problems('  <security>\n    shared_key k\n  </security>')).toEqual(['self_hostname: is required']);
    expect(problems('  <transport tls>\n  </transport>')).toEqual(['cert_path: <transport tls> needs a certificate; set cert_path and private_key_path']);
    expect(problems('  <transport tls>\n    insecure true\n  </transport>')).toEqual([
      'cert_path: generating a self-signed certificate is not supported; set cert_path and private_key_path',
    ]);
    expect(problems('  <transport tls>\n    cert_path /nonexistent/cert.pem\n    min_version TLSv1_2\n  </transport>')).toEqual([
      'min_version: min_version and max_version must be given together',
      'private_key_path: private_key_path is required with cert_path',
      'cert_path: /nonexistent/cert.pem does not exist',
    ]);
    expect(problems('  <transport udp>\n  </transport>')).toEqual(["<transport>: unknown transport 'udp' (expected tcp or tls)"]);
    expect(problems('  tag ""', 'unix')).toEqual(['tag: tag must not be empty']);
  });
});

/** The agent built from `text` (no problems), started; the port its forward input listens on, its logs. */
async function startAgent(text: string): Promise<{ agent: Agent; port: number; logs(): string }> {
  const built = buildFromText(text);
  expect(built.problems).toEqual([]);
  await built.agent!.start();
  return { agent: built.agent!, port: Number(/listening port port=(\d+)/.exec(built.logs())![1]), logs: built.logs };
}

describe('emit failures', () => {
  let agent: Agent | null = null;
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });

  it('closes the connection without an ack when the output refuses the events', async () => {
    const started = await startAgent(`
<source>
  @type forward
  @id fwd_in
  port 0
  bind 127.0.0.1
</source>
<match fluent.**>
  @type null
</match>
<match refused.**>
  @type test_capture
  fail true
</match>
<match **>
  @type test_capture
  @id accepted
</match>`);
    agent = started.agent;
    const port = started.port;
    const ok = await RawClient.open(port);
    const bad = await RawClient.open(port);
    try {
      await ok.write(encode(['fine', 1_750_000_000, { a: 1 }, { chunk: 'ok' }]));
      expect(await ok.waitForValues(1)).toEqual([{ ack: 'ok' }]);
      await bad.write(encode(['refused.x', 1_750_000_000, { a: 1 }, { chunk: 'no-ack' }]));
      await bad.waitClosed();
      expect(bad.received.length).toBe(0);
      expect(captured.get('accepted')?.map((e) => e.tag)).toEqual(['fine']);
      const input = agent.plugins.find((p) => p.id === 'fwd_in')!;
      expect(input.metrics.rejected.get('emit_failed')).toBe(1);
      expect(input.metrics.emit_records).toBe(1);
      await waitFor(() => started.logs().includes('emit failed, closing connection without ack'), 5000, 'the warning');
    } finally {
      ok.destroy();
      bad.destroy();
    }
  });
});

/** A real output whose writes wait until the test releases them. */
const held: Array<() => void> = [];
if (!lookup('output', 'test_hold')) {
  register(defineOutput({
    type: 'test_hold',
    desc: 'test: resolve each write only when the test releases it',
    params: defineParams({}),
    create: () => ({ process: () => new Promise<void>((resolve) => held.push(resolve)) }),
  }));
}

describe('ordering and back-pressure', () => {
  let agent: Agent | null = null;
  afterEach(async () => {
    for (const r of held.splice(0)) r();
    await agent?.stop();
    agent = null;
  });

  it('a pending emit holds only its own connection, whose later requests wait their turn', async () => {
    const started = await startAgent(`
<source>
  @type forward
  port 0
  bind 127.0.0.1
</source>
<match fluent.**>
  @type null
</match>
<match hold.**>
  @type test_hold
</match>
<match **>
  @type test_capture
  @id order_out
</match>`);
    agent = started.agent;
    const port = started.port;
    const slow = await RawClient.open(port);
    const other = await RawClient.open(port);
    try {
      await slow.write(encode(['hold.a', 1_750_000_000, { n: 1 }, { chunk: 'first' }]));
      await waitFor(() => held.length === 1, 5000, 'the held write');
      await slow.write(encode(['later', 1_750_000_000, { n: 2 }, { chunk: 'second' }]));
      await other.write(encode(['later', 1_750_000_000, { n: 3 }, { chunk: 'other' }]));
      expect(await other.waitForValues(1)).toEqual([{ ack: 'other' }]);
      expect(slow.received.length).toBe(0);
      expect(captured.get('order_out')?.map((e) => e.record.n)).toEqual([3]);
      held.shift()!();
      expect(await slow.waitForValues(2)).toEqual([{ ack: 'first' }, { ack: 'second' }]);
      expect(captured.get('order_out')?.map((e) => e.record.n)).toEqual([3, 2]);
    } finally {
      slow.destroy();
      other.destroy();
    }
  });
});
