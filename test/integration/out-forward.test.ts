/**
 * out_forward on real loopback sockets (forwarder in-process): the exact bytes of a chunk on the
 * wire, gzip sent as stored, the chunk id kept across retries, our out_forward into our in_forward
 * with acks, "no nodes available" keeping chunks until a node comes, and the config checks.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStream } from '../../src/core/event-stream.js';
import { EventTime } from '../../src/core/event-time.js';
import { zstdAvailable } from '../../src/plugins/out/forward/message.js';
import { decodeAll } from '../../src/protocol/msgpack.js';
import { buildFromText } from '../helpers/agent.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, range, RawReceiver, startForwarder, startReceiver, stopAll, T, waitForSeqs } from './out-forward-util.js';

afterEach(stopAll);

const HB = '  heartbeat_interval 0.1\n  recover_wait 0.2\n  hard_timeout 2\n';

function server(port: number, extra = ''): string {
  return `  <server>\n    host 127.0.0.1\n    port ${port}\n${extra}  </server>\n`;
}

const packed = (records: Array<Record<string, unknown>>) =>
  EventStream.fromEvents(records.map((record, i) => ({ time: new EventTime(T + i, 0), record }))).packed();

describe('the wire format', () => {
  it('sends a chunk as one PackedForward: str32 body of the chunk bytes, option {size, compressed, chunk}', async () => {
    const rcv = await RawReceiver.start();
    const fwd = await startForwarder(`${server(rcv.port)}${HB}  require_ack_response true\n${fastBuffer()}`);
    await fwd.emit([{ a: 1 }, { b: 'two' }]);
    await waitFor(() => rcv.messages.length >= 1, 10000, 'a message');
    const { raw, request } = rcv.messages[0]!;
    const tag = Buffer.from('test.data');
    const body = packed([{ a: 1 }, { b: 'two' }]);
    expect(raw[0]).toBe(0x93);
    expect(raw.subarray(1, 2 + tag.length)).toEqual(Buffer.concat([Buffer.from([0xa0 | tag.length]), tag]));
    let at = 2 + tag.length;
    expect(raw[at]).toBe(0xdb); // str32, as Fluentd sends it
    expect(raw.readUInt32BE(at + 1)).toBe(body.length);
    at += 5;
    expect(raw.subarray(at, at + body.length)).toEqual(body);
    const option = raw.subarray(at + body.length);
    expect(option.subarray(0, 7)).toEqual(Buffer.from([0x83, 0xa4, ...Buffer.from('size'), 0x02]));
    const decoded = decodeAll(option)[0] as Record<string, unknown>;
    expect(Object.keys(decoded)).toEqual(['size', 'compressed', 'chunk']);
    expect(decoded.compressed).toBe('text');
    const chunk = decoded.chunk as string;
    expect(chunk).toMatch(/^[A-Za-z0-9+/]{22}==\n$/);
    expect(Buffer.from(chunk, 'base64')).toHaveLength(16);
    expect(request.mode).toBe('packed');
    await waitFor(() => fwd.buffered.buffer.queue.length === 0 && fwd.buffered.buffer.dequeued.size === 0, 5000, 'the ack to commit the chunk');
  });

  it('omits chunk without require_ack_response, and sends the stored gzip members as they are', async () => {
    const rcv = await RawReceiver.start();
    const fwd = await startForwarder(`${server(rcv.port)}${HB}  compress gzip\n${fastBuffer('', 0.5)}`);
    await fwd.emit([{ part: 1 }]);
    await fwd.emit([{ part: 2 }]);
    await waitFor(() => rcv.messages.length >= 1, 10000, 'a message');
    const { raw, request } = rcv.messages[0]!;
    expect(request.option).toEqual({ size: 2, compressed: 'gzip' });
    // two appends are two gzip members; the chunk is sent as stored, not recompressed
    const expected = Buffer.concat([gzipSync(packed([{ part: 1 }])), gzipSync(packed([{ part: 2 }]))]);
    const len = raw.readUInt32BE(2 + 'test.data'.length + 1);
    const body = raw.subarray(2 + 'test.data'.length + 5, 2 + 'test.data'.length + 5 + len);
    expect(body).toEqual(expected);
    expect(request.mode).toBe('compressed');
    expect(gunzipSync(body).length).toBeGreaterThan(0);
  });

  it('keeps the chunk id when the chunk is retried after the connection closed without an ack', async () => {
    const rcv = await RawReceiver.start();
    rcv.policy = (_m, nth) => (nth === 1 ? 'close' : 'ack');
    const fwd = await startForwarder(`${server(rcv.port)}${HB}  require_ack_response true\n  ack_response_timeout 1\n${fastBuffer()}`);
    await fwd.emit(range(1, 3));
    await waitFor(() => rcv.messages.length >= 2, 10000, 'the resend');
    expect(rcv.messages[1]!.chunk).toBe(rcv.messages[0]!.chunk);
    expect(rcv.messages[1]!.raw).toEqual(rcv.messages[0]!.raw);
    expect(rcv.messages[1]!.conn).not.toBe(rcv.messages[0]!.conn);
    await waitFor(() => fwd.buffered.buffer.queue.length === 0 && fwd.buffered.buffer.dequeued.size === 0, 5000, 'the commit');
    expect(fwd.buffered.retry).toBeNull(); // an ack failure rolls back without advancing the retry state
    expect(fwd.logs()).toMatch(/destination node closed the connection/);
  });
});

describe('out_forward to in_forward', () => {
  it('delivers with acks over kept-alive connections, gzip and text, tag preserved', async () => {
    const rcv = await startReceiver();
    const fwd = await startForwarder(`${server(rcv.port)}${HB}  require_ack_response true\n  keepalive true\n  compress gzip\n${fastBuffer()}`);
    for (let i = 0; i < 5; i++) await fwd.emit(range(i * 10, 10), `test.k${i % 2}`);
    const { seqs, duplicates } = await waitForSeqs(rcv.records, 50);
    expect(seqs.size).toBe(50);
    expect(duplicates).toBe(0);
    await waitFor(() => fwd.buffered.buffer.dequeued.size === 0, 5000, 'every ack');
    const stats = fwd.out.nodeStats()[0]!;
    expect(stats).toMatchObject({ state: 'up', available: true, sent_records: 50, ack_errors: 0 });
    expect(stats.acked_chunks).toBe(stats.sent_chunks);
    expect(fwd.out.healthy_nodes_count).toBe(1);
    expect(fwd.out.registered_nodes_count).toBe(1);
  });

  it('"no nodes are available" keeps the chunks buffered and retried; they arrive once a node answers', async () => {
    const port = await freePort();
    const fwd = await startForwarder(`${server(port)}  heartbeat_interval 0.1\n  recover_wait 0.2\n  hard_timeout 0.3\n  require_ack_response true\n${fastBuffer()}`);
    await fwd.emit(range(1, 20));
    await waitFor(() => /detached forwarding server '127\.0\.0\.1:\d+' host="127\.0\.0\.1" port=\d+ hard_timeout=true/.test(fwd.logs()), 5000, 'the node to be detached');
    expect(fwd.out.healthy_nodes_count).toBe(0);
    expect(fwd.out.nodeStats()[0]!.state).toBe('down');
    await waitFor(() => fwd.logs().includes('no nodes are available'), 5000, 'a flush failing on no nodes');
    expect(fwd.buffered.buffer.queue.length + fwd.buffered.buffer.stage.size).toBeGreaterThan(0);
    expect(fwd.buffered.retry).not.toBeNull();
    const rcv = await startReceiver('', port);
    const { seqs, duplicates } = await waitForSeqs(rcv.records, 20);
    expect([seqs.size, duplicates]).toEqual([20, 0]);
    expect(fwd.logs()).toMatch(/recovered forwarding server '127\.0\.0\.1:\d+' host="127\.0\.0\.1" port=\d+/);
  });
});

describe('configuration', () => {
  function problems(body: string): string[] {
    const r = buildFromText(`<match test.**>\n  @type forward\n${body}\n</match>\n`);
    return r.problems.map((p) => `${p.param ?? ''}: ${p.message}`);
  }
  const srv = '  <server>\n    host 127.0.0.1\n  </server>';

  it('accepts every documented parameter', () => {
    expect(problems(`${srv}
  transport tcp
  send_timeout 60
  connect_timeout 5
  heartbeat_type udp
  heartbeat_interval 1
  recover_wait 10
  hard_timeout 60
  phi_threshold 16
  phi_failure_detector true
  require_ack_response true
  ack_response_timeout 190
  read_interval_msec 50
  read_length 512
  expire_dns_cache 0
  ignore_network_errors_at_startup false
  verify_connection_at_startup false
  compress gzip
  keepalive true
  keepalive_timeout 30
  send_keepalive_packet true
  tls_version TLSv1_2
  tls_insecure_mode false
  tls_allow_self_signed_cert false
  tls_verify_hostname true
  <server>
    host 127.0.0.2
    name second
    port 24225
    shared_key k2
    username u
    password p
    standby
    weight 10
  </server>
  <security>
    self_hostname me
    shared_key k
  </security>`)).toEqual([]);
  });

  it('reports each cross-field problem', () => {
    expect(problems(`${srv}\n  time_as_integer true`)).toEqual([expect.stringMatching(/^time_as_integer: time_as_integer is not supported/)]);
    expect(problems(`${srv}\n  host 10.0.0.1\n  port 24224`)).toEqual(['host: host is obsoleted: use <server> sections', 'port: port is obsoleted: use <server> sections']);
    expect(problems(`${srv}\n  send_keepalive_packet true`)).toEqual(['send_keepalive_packet: send_keepalive_packet needs keepalive true']);
    expect(problems(`${srv}\n  dns_round_robin true\n  heartbeat_type udp`)).toEqual([expect.stringMatching(/^dns_round_robin: dns_round_robin cannot be used with heartbeat_type udp/)]);
    expect(problems(`${srv}\n  ack_response_timeout 0.5`)).toEqual(['ack_response_timeout: must be at least 1, got 0.5']);
    expect(problems(`${srv}\n  transport tls\n  tls_ca_cert_path /nonexistent/ca.pem`)).toEqual(['tls_ca_cert_path: /nonexistent/ca.pem does not exist or is not readable']);
    expect(problems(`${srv}\n  tls_cert_thumbprint abc`)).toEqual([expect.stringMatching(/Windows certificate store/)]);
    expect(problems('  require_ack_response true')).toEqual(['<server>: at least one <server> or <service_discovery> section is required']);
    expect(problems(`${srv}\n  <buffer time>\n    timekey 60\n  </buffer>`)).toEqual([': tag must be a chunk key of @type forward']);
    expect(problems(`${srv}\n  compress zstd`)).toEqual(zstdAvailable ? [] : ['compress: compress zstd needs a Node.js with zlib zstd support; use gzip']);
  });

  it('verify_connection_at_startup refuses to start when a server cannot be reached', async () => {
    const dead = await freePort();
    const r = buildFromText(`<match test.**>\n  @type forward\n  verify_connection_at_startup true\n  connect_timeout 1\n${server(dead, '    name nowhere\n')}</match>\n`);
    await expect(r.agent!.start()).rejects.toThrow(/verify_connection_at_startup: cannot connect to nowhere: connect ECONNREFUSED/);
    await r.agent!.stop();
  });
});
