/**
 * `<service_discovery> @type file` on real loopback sockets: the forwarder follows a watched server
 * list file from aggregator A to aggregator B (real in_forward receivers) with acks and sequence
 * numbers — every event arrives exactly once overall; a node still listed keeps its state; an invalid
 * file is warned about and the previous list kept; `<server>` nodes stay while the file's come and go;
 * a chunk in flight to a removed node is either acked by it or rolled back and sent to the new node,
 * never lost.
 */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, range, RawReceiver, startForwarder, startReceiver, stopAll, waitForSeqs, type Forwarder } from './out-forward-util.js';

afterEach(stopAll);

const ACKS = '  require_ack_response true\n  heartbeat_interval 0.1\n  recover_wait 0.2\n  hard_timeout 3\n  keepalive true\n';

function listFile(): { path: string; write(servers: Array<{ name: string; port: number }>): void } {
  const path = join(mkdtempSync(join(tmpdir(), 'logferry-sd-file-')), 'servers.yaml');
  return {
    path,
    write(servers) {
      const text = servers.map((s) => `- host: 127.0.0.1\n  port: ${s.port}\n  name: ${s.name}\n`).join('') || '[]\n';
      writeFileSync(`${path}.tmp`, text);
      renameSync(`${path}.tmp`, path); // how editors and ConfigMap updates replace a file
    },
  };
}

const sdFile = (path: string) => `  <service_discovery>\n    @type file\n    path ${path}\n  </service_discovery>\n`;
const names = (fwd: Forwarder) => fwd.out.nodes.map((n) => n.name).join(',');
const settled = (fwd: Forwarder) =>
  waitFor(() => fwd.buffered.buffer.queue.length === 0 && fwd.buffered.buffer.dequeued.size === 0 && fwd.buffered.buffer.stage.size === 0, 15000, 'every chunk committed');

describe('service discovery from a file', () => {
  it('moves traffic from A to B when the file changes: each acked event arrives once; an invalid file keeps B', async () => {
    const a = await startReceiver();
    const b = await startReceiver();
    const list = listFile();
    list.write([{ name: 'a', port: a.port }]);
    const fwd = await startForwarder(`${sdFile(list.path)}${ACKS}${fastBuffer()}`);
    expect(names(fwd)).toBe('a');
    for (let i = 0; i < 4; i++) await fwd.emit(range(i * 5, 5), `test.s${i}`);
    await waitForSeqs(a.records, 20);

    // keep events coming while the list changes under them
    let seq = 20;
    let sending = true;
    const pump = (async () => {
      while (sending) {
        await fwd.emit(range(seq, 5), `test.p${seq % 3}`);
        seq += 5;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    list.write([{ name: 'b', port: b.port }]);
    await waitFor(() => names(fwd) === 'b', 5000, 'the node list to become [b]');
    const atSwitch = seq;
    await waitFor(() => seq >= atSwitch + 20 || null, 5000, 'more events sent after the switch');
    sending = false;
    await pump;
    const switchedAt = seq;
    await fwd.emit(range(switchedAt, 10), 'test.after');
    const all = () => [...a.records(), ...b.records()];
    const { seqs, duplicates } = await waitForSeqs(all, switchedAt + 10);
    expect([seqs.size, duplicates]).toEqual([switchedAt + 10, 0]);
    await settled(fwd);
    expect(all()).toHaveLength(switchedAt + 10);
    const atA = new Set(a.records().map((r) => r.seq as number));
    for (let s = switchedAt; s < switchedAt + 10; s++) expect(atA.has(s)).toBe(false);
    const logs = fwd.logs();
    expect(logs).toMatch(/adding forwarding server 'b' host="127\.0\.0\.1" port=\d+ weight=60 standby=false service_discovery="file"/);
    expect(logs).toMatch(/removing forwarding server 'a' host="127\.0\.0\.1" port=\d+ in_flight=\d+/);
    await waitFor(() => fwd.out.discovery.draining.length === 0, 5000, 'A to be dropped');

    // an invalid file: warned about with the reason, B stays, traffic goes on
    const bNode = fwd.out.nodes[0]!;
    const sentToB = bNode.counters.sent_chunks;
    writeFileSync(list.path, '- host: 127.0.0.1\n  port: [unclosed\n'); // in place, not renamed
    await waitFor(() => /sd_file: cannot use the server list file, keeping the previous list .*error="sd_file: path=.*servers\.yaml: not valid YAML: /.test(fwd.logs()), 5000, 'the warning');
    expect(names(fwd)).toBe('b');
    await fwd.emit(range(1000, 5), 'test.invalid');
    await waitFor(() => b.records().some((r) => r.seq === 1004), 5000, 'events after the invalid file at B');

    // B listed again with A: B keeps its node (state, counters), A comes back as a new node
    list.write([{ name: 'a', port: a.port }, { name: 'b', port: b.port }]);
    await waitFor(() => names(fwd) === 'b,a', 5000, 'the node list to become [b, a]');
    expect(fwd.out.nodes[0]).toBe(bNode);
    expect(bNode.counters.sent_chunks).toBeGreaterThan(sentToB);
    await settled(fwd);
  });

  it('mixed with <server>: the servers of the file come and go, the <server> stays', async () => {
    const a = await startReceiver();
    const s = await startReceiver();
    const list = listFile();
    list.write([{ name: 'a', port: a.port }]);
    const fwd = await startForwarder(`  <server>\n    host 127.0.0.1\n    port ${s.port}\n    name s\n  </server>\n${sdFile(list.path)}${ACKS}${fastBuffer()}`);
    expect(names(fwd)).toBe('a,s');
    list.write([]);
    await waitFor(() => names(fwd) === 's', 5000, 'the node list to become [s]');
    for (let i = 0; i < 4; i++) await fwd.emit(range(i * 3, 3), `test.m${i}`);
    const { seqs, duplicates } = await waitForSeqs(s.records, 12);
    expect([seqs.size, duplicates, a.records().length]).toEqual([12, 0, 0]);
  });

  /** A chunk sent to A (answering with `policy`), then the file lists B only: A drains. */
  async function removeWhileInFlight(policy: RawReceiver['policy']) {
    const a = await RawReceiver.start();
    a.policy = policy;
    const b = await startReceiver();
    const list = listFile();
    list.write([{ name: 'a', port: a.port }]);
    const fwd = await startForwarder(`${sdFile(list.path)}${ACKS}  ack_response_timeout 30\n${fastBuffer()}`);
    await fwd.emit(range(1, 5));
    await waitFor(() => a.messages.length === 1, 5000, 'the chunk at A');
    list.write([{ name: 'b', port: b.port }]);
    await waitFor(() => names(fwd) === 'b', 5000, 'the node list to become [b]');
    return { a, b, fwd };
  }

  it('a chunk in flight to a removed node is acked by it, not sent again; then the node is dropped', async () => {
    const { a, b, fwd } = await removeWhileInFlight(() => 1200); // A acks late
    expect(fwd.logs()).toMatch(/removing forwarding server 'a' .*in_flight=1/);
    expect(fwd.out.discovery.draining.map((n) => n.name)).toEqual(['a']);
    await settled(fwd);
    await waitFor(() => fwd.out.discovery.draining.length === 0, 5000, 'A to be dropped once its ack came');
    expect(a.messages).toHaveLength(1);
    expect(b.records()).toEqual([]);
    expect(fwd.agent.plugins.find((p) => p.id === 'fwd_out')!.metrics.rollback_count).toBe(0);
  });

  it('a chunk in flight to a removed node that goes away is rolled back and delivered by the new node', async () => {
    const { a, b, fwd } = await removeWhileInFlight(() => 'none'); // A never acks
    expect(fwd.buffered.buffer.dequeued.size).toBe(1); // still waiting for A's ack
    await a.stop(); // A goes away with the chunk unacked
    const { seqs, duplicates } = await waitForSeqs(b.records, 5);
    expect([[...seqs].sort(), duplicates]).toEqual([[1, 2, 3, 4, 5], 0]);
    await settled(fwd);
    await waitFor(() => fwd.out.discovery.draining.length === 0, 5000, 'A to be dropped');
    expect(fwd.logs()).toMatch(/destination node closed the connection/);
  });
});
