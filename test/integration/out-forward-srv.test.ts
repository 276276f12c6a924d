/**
 * `<service_discovery> @type srv` against a real DNS server on 127.0.0.1 (a few dozen lines of DNS
 * wire format over node:dgram, below, answering SRV and A queries for a fixed zone): the forwarder
 * sends to the SRV targets by their weights, follows a changed answer after `interval`, keeps its
 * list when the record disappears, and refuses to start when the record cannot be looked up.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, range, startForwarder, startReceiver, stopAll, waitForSeqs, type Forwarder } from './out-forward-util.js';

interface Srv { priority: number; weight: number; port: number; target: string }

/** An authoritative-only DNS server over UDP: SRV and A records of `srv` and `a`, NXDOMAIN otherwise. */
class TinyDns {
  readonly srv = new Map<string, Srv[]>();
  readonly a = new Map<string, string>();
  readonly queries: string[] = [];
  port = 0;
  private constructor(private readonly sock: Socket) {}

  static async start(): Promise<TinyDns> {
    const dns = new TinyDns(createSocket('udp4'));
    dns.sock.on('message', (msg, peer) => {
      const reply = dns.answer(msg);
      if (reply) dns.sock.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((r) => dns.sock.bind(0, '127.0.0.1', () => r()));
    dns.port = dns.sock.address().port;
    return dns;
  }

  private answer(q: Buffer): Buffer | null {
    if (q.length < 12 || q.readUInt16BE(4) !== 1) return null;
    const labels: string[] = [];
    let at = 12;
    for (let len = q[at]!; len !== 0; len = q[at]!) {
      labels.push(q.toString('ascii', at + 1, at + 1 + len));
      at += 1 + len;
    }
    const type = q.readUInt16BE(at + 1);
    const question = q.subarray(12, at + 5);
    const name = labels.join('.').toLowerCase();
    this.queries.push(`${type === 33 ? 'SRV' : type === 1 ? 'A' : type} ${name}`);
    const rdatas: Buffer[] = [];
    if (type === 33) for (const r of this.srv.get(name) ?? []) rdatas.push(Buffer.concat([u16(r.priority), u16(r.weight), u16(r.port), encodeName(r.target)]));
    if (type === 1 && this.a.has(name)) rdatas.push(Buffer.from(this.a.get(name)!.split('.').map(Number)));
    const known = this.srv.has(name) || this.a.has(name);
    const flags = 0x8000 | 0x0400 | (q.readUInt16BE(2) & 0x0100) | (known ? 0 : 3); // QR, AA, RD echoed, NXDOMAIN
    const header = Buffer.concat([q.subarray(0, 2), u16(flags), u16(1), u16(rdatas.length), u16(0), u16(0)]);
    // each answer: name as a pointer to the question, type, class IN, TTL 0 (nothing cached), rdata
    const answers = rdatas.map((d) => Buffer.concat([u16(0xc00c), u16(type), u16(1), Buffer.alloc(4), u16(d.length), d]));
    return Buffer.concat([header, question, ...answers]);
  }

  stop(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

let dns: TinyDns | null = null;
afterEach(async () => {
  await stopAll();
  await dns?.stop();
  dns = null;
});

const RECORD = '_fluentd._tcp.example.test';
const sd = (extra = '') => `  <service_discovery>\n    @type srv\n    service fluentd\n    hostname example.test\n    dns_server_host 127.0.0.1:${dns!.port}\n    interval 0.3\n${extra}  </service_discovery>\n`;
const nodes = (fwd: Forwarder) => fwd.out.nodeStats().map((n) => [n.name, n.host, n.port, n.weight, n.standby]);

describe('service discovery by SRV record', () => {
  it('sends to the SRV targets by weight, follows a changed answer, keeps the list when the record goes', async () => {
    dns = await TinyDns.start();
    const [a, b, c] = [await startReceiver(), await startReceiver(), await startReceiver()];
    for (const h of ['a', 'b', 'c']) dns.a.set(`${h}.example.test`, '127.0.0.1');
    // listed out of priority order: the nodes come in priority order (as Fluentd sorts them)
    dns.srv.set(RECORD, [{ priority: 20, weight: 2, port: b.port, target: 'b.example.test' }, { priority: 10, weight: 1, port: a.port, target: 'a.example.test' }]);
    const fwd = await startForwarder(`${sd()}  require_ack_response true\n  heartbeat_type none\n${fastBuffer()}`);
    expect(nodes(fwd)).toEqual([['a.example.test', '127.0.0.1', a.port, 1, false], ['b.example.test', '127.0.0.1', b.port, 2, false]]);
    expect(dns.queries).toEqual(expect.arrayContaining([`SRV ${RECORD}`, 'A a.example.test', 'A b.example.test']));

    for (let i = 0; i < 24; i++) await fwd.emit(range(i * 2, 2), `test.w${i}`);
    await waitForSeqs(() => [...a.records(), ...b.records()], 48);
    const [atA, atB] = [a.records().length, b.records().length];
    expect(atA).toBeGreaterThan(0);
    expect(atB).toBeGreaterThan(atA); // weight 2 against weight 1

    dns.srv.set(RECORD, [{ priority: 10, weight: 5, port: c.port, target: 'c.example.test' }]);
    await waitFor(() => nodes(fwd).length === 1 && nodes(fwd)[0]![0] === 'c.example.test', 5000, 'the new answer to be used');
    expect(nodes(fwd)).toEqual([['c.example.test', '127.0.0.1', c.port, 5, false]]);
    for (let i = 0; i < 6; i++) await fwd.emit(range(100 + i * 2, 2), `test.c${i}`);
    const { seqs, duplicates } = await waitForSeqs(c.records, 12);
    expect([seqs.size, duplicates]).toEqual([12, 0]);
    expect([a.records().length, b.records().length]).toEqual([atA, atB]);
    expect(fwd.logs()).toMatch(/removing forwarding server 'a\.example\.test'/);
    expect(fwd.logs()).toMatch(/adding forwarding server 'c\.example\.test' host="127\.0\.0\.1" port=\d+ weight=5 standby=false service_discovery="srv"/);

    dns.srv.delete(RECORD);
    await waitFor(() => /sd_srv: cannot look up the SRV record, keeping the previous list target="_fluentd\._tcp\.example\.test" error=".*ENOTFOUND/.test(fwd.logs()), 5000, 'the lookup failure to be logged');
    expect(nodes(fwd).map((n) => n[0])).toEqual(['c.example.test']);
    await fwd.emit(range(200, 2), 'test.kept');
    await waitFor(() => c.records().some((r) => r.seq === 201), 5000, 'events at C after the record went');
  });

  it('dns_lookup false keeps the target name as the host', async () => {
    dns = await TinyDns.start();
    dns.srv.set(RECORD, [{ priority: 1, weight: 7, port: 24299, target: 'agg.example.test' }]);
    const fwd = await startForwarder(`${sd('    dns_lookup false\n')}  heartbeat_type none\n${fastBuffer()}`);
    expect(nodes(fwd)).toEqual([['agg.example.test', 'agg.example.test', 24299, 7, false]]);
    expect(dns.queries).toEqual([`SRV ${RECORD}`]);
  });

  it('refuses to start when the SRV record cannot be looked up', async () => {
    dns = await TinyDns.start();
    await expect(startForwarder(`${sd()}  heartbeat_type none\n${fastBuffer()}`)).rejects.toThrow(/sd_srv: cannot look up _fluentd\._tcp\.example\.test: .*ENOTFOUND/);
  });
});
