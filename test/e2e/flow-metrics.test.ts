/**
 * The monitoring pipeline of the Fluentd/Datadog post (config/examples/flow-metrics.conf) run end to
 * end: logferry as a child process, events in over forward from npm fluent-logger, DogStatsD
 * datagrams captured on a real UDP socket. Only ports and the flush interval of the copy in the
 * temp dir differ from the shipped file. Needs `npx tsc -p tsconfig.json` first.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { udpCapture, type UdpCapture } from '../helpers/udp-capture.js';
import { waitFor } from '../helpers/wait.js';

const require = createRequire(import.meta.url);
const fluentLogger = require('fluent-logger') as {
  createFluentSender(prefix: string, opts: Record<string, unknown>): Sender;
};
interface Sender {
  emit(label: string, data: object, cb?: (err?: Error) => void): void;
  end(): void;
  on(ev: string, cb: (e: Error) => void): void;
}

const CONFIG = join(ROOT, 'config', 'examples', 'flow-metrics.conf');
const LINE = /^quantico\.fluentd\.messages\.(bytes|count):(\d+)\|c\|#fluentd-tag:(app\.nginx|service\.haproxy)$/;

let daemon: Daemon | null = null;
let udp: UdpCapture | null = null;
const senders: Sender[] = [];

afterEach(async () => {
  for (const s of senders.splice(0)) s.end();
  await daemon?.stop();
  daemon = null;
  await udp?.close();
  udp = null;
});

/** The shipped config with test ports and a 1 s DogStatsD flush instead of 5 s. */
function testConfig(forwardPort: number, statsdPort: number): string {
  const text = readFileSync(CONFIG, 'utf8');
  const out = text
    .replace(/^(\s*)port 24224$/m, `$1port ${forwardPort}`)
    .replace(/^(\s*)port 8125$/m, `$1port ${statsdPort}`)
    .replace(/^(\s*)flush_interval 5s$/m, '$1flush_interval 1s');
  expect(out.match(new RegExp(`port (${forwardPort}|${statsdPort})$`, 'gm'))?.length).toBe(2);
  expect(out).toMatch(/flush_interval 1s/);
  return out;
}

function sender(prefix: string, port: number): Sender {
  const s = fluentLogger.createFluentSender(prefix, { host: '127.0.0.1', port, eventMode: 'PackedForward', requireAckResponse: true, flushInterval: 50, timeout: 3.0, reconnectInterval: 600000 });
  s.on('error', () => { /* a failed send fails its callback */ });
  senders.push(s);
  return s;
}

const emit = (s: Sender, label: string, data: object) => new Promise<void>((resolve, reject) => s.emit(label, data, (e) => (e ? reject(e) : resolve())));

/** Sum of the values of the lines for one metric and fluentd-tag. */
function total(lines: string[], metric: 'bytes' | 'count', tag: string): number {
  return lines.map((l) => LINE.exec(l)).filter((m) => m && m[1] === metric && m[3] === tag).reduce((s, m) => s + Number(m![2]), 0);
}

describe('flow-metrics pipeline (config/examples/flow-metrics.conf)', () => {
  it('turns forwarded events into per-tag DogStatsD count and bytes metrics', async () => {
    const forwardPort = await freePort();
    udp = await udpCapture();
    daemon = await startDaemon(testConfig(forwardPort, udp.port), { name: 'flow-metrics.conf' });

    const app = sender('app', forwardPort);
    const service = sender('service', forwardPort);
    // one packed message per tag: each tag's events are counted in the same flowcounter interval
    await Promise.all([
      ...[1, 2, 3].map(() => emit(app, 'nginx', { host: 'web1', message: 'GET / 200' })),
      emit(service, 'haproxy', { message: 'x' }),
    ]);

    await waitFor(() => {
      const l = udp!.lines();
      return total(l, 'count', 'app.nginx') === 3 && total(l, 'bytes', 'app.nginx') === 87
        && total(l, 'count', 'service.haproxy') === 1 && total(l, 'bytes', 'service.haproxy') === 11;
    }, 20000, `the four metrics in datagrams; got ${JSON.stringify(udp.datagrams)}\n${daemon.stdout()}`);

    const lines = udp.lines();
    for (const l of lines) expect(l).toMatch(LINE);
    const nonZero = lines.filter((l) => !/:0\|c\|/.test(l)).sort();
    expect(nonZero).toEqual([
      'quantico.fluentd.messages.bytes:11|c|#fluentd-tag:service.haproxy',
      'quantico.fluentd.messages.bytes:87|c|#fluentd-tag:app.nginx',
      'quantico.fluentd.messages.count:1|c|#fluentd-tag:service.haproxy',
      'quantico.fluentd.messages.count:3|c|#fluentd-tag:app.nginx',
    ]);
    // tags seen once keep being reported with 0 every interval (flowcounter delete_idle false)
    await waitFor(() => udp!.lines().includes('quantico.fluentd.messages.count:0|c|#fluentd-tag:app.nginx'), 10000, 'a zero count line');
    // each datagram carries one metric name (chunks are per tag), at most 50 lines, no trailing newline
    for (const d of udp.datagrams) {
      const names = new Set(d.split('\n').map((l) => l.split(':')[0]));
      expect(names.size).toBe(1);
      expect(d.split('\n').length).toBeLessThanOrEqual(50);
      expect(d.endsWith('\n')).toBe(false);
    }
    // the events themselves reached the real destination (stdout here) unchanged
    const delivered = daemon.events().map((e) => `${e.tag} ${JSON.stringify(e.record)}`).sort();
    expect(delivered).toEqual([
      'app.nginx {"host":"web1","message":"GET / 200"}',
      'app.nginx {"host":"web1","message":"GET / 200"}',
      'app.nginx {"host":"web1","message":"GET / 200"}',
      'service.haproxy {"message":"x"}',
    ]);
    expect(await daemon.stop()).toBe(0);
    daemon = null;
  });
});
