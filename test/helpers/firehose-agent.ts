/**
 * For Firehose tests: `<match>` text for a kinesis_firehose output pointed at the local endpoint,
 * access to the running output inside an in-process agent (test/helpers/driver.ts), and a tiny
 * CONNECT proxy to check `http_proxy`.
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { BufferedOutput } from '../../src/buffer/buffered-output.js';
import type { KinesisFirehoseOutput } from '../../src/plugins/out/kinesis_firehose.js';
import type { Driver } from './driver.js';
import { TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from './firehose-endpoint.js';

// never let the SDK's default chain reach for a metadata service from a test
process.env.AWS_EC2_METADATA_DISABLED = 'true';

export const STATIC_KEYS = `aws_key_id ${TEST_ACCESS_KEY_ID}\n  aws_sec_key ${TEST_SECRET_ACCESS_KEY}`;

/** Buffer settings that flush at once and retry quickly. */
export const FAST_BUFFER = `<buffer>
    flush_mode immediate
    flush_thread_interval 0.05
    flush_thread_burst_interval 0
    retry_wait 0.2
    retry_max_interval 0.5
    retry_randomize false
  </buffer>`;

export interface MatchOptions {
  pattern?: string;
  id?: string;
  stream?: string;
  endpoint: string;
  /** Extra lines inside <match> (credentials default to the static test keys). */
  extra?: string;
  credentials?: string;
  buffer?: string;
}

export function firehoseMatch(o: MatchOptions): string {
  return `<match ${o.pattern ?? 'app.**'}>
  @type kinesis_firehose
  @id ${o.id ?? 'fh'}
  region us-west-2
  delivery_stream_name ${o.stream ?? 'test-stream'}
  endpoint_url ${o.endpoint}
  ${o.credentials ?? STATIC_KEYS}
  ${o.extra ?? ''}
  ${o.buffer ?? FAST_BUFFER}
</match>`;
}

/** The BufferedOutput and the Firehose writer inside it, by @id. */
export function firehoseOf(d: Driver, id = 'fh'): { bo: BufferedOutput; out: KinesisFirehoseOutput } {
  const entry = d.agent.plugins.find((p) => p.id === id);
  if (!entry) throw new Error(`no plugin ${id}`);
  const bo = entry.instance as BufferedOutput;
  return { bo, out: bo.writer as unknown as KinesisFirehoseOutput };
}

/** An HTTP proxy that only does CONNECT tunnels, recording each target. */
export async function startConnectProxy(): Promise<{ url: string; targets: string[]; close(): Promise<void> }> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => { res.writeHead(405); res.end(); });
  server.on('connect', (req, client: Socket) => {
    targets.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Each line's `seq` field, for loss and duplicate counting. */
export function seqs(lines: string[]): number[] {
  return lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
}

/** Sequence numbers in 0..n-1 missing from `got`, and how many extra copies arrived. */
export function lossAndDuplicates(got: number[], n: number): { lost: number[]; duplicates: number } {
  const seen = new Set(got);
  const lost: number[] = [];
  for (let i = 0; i < n; i++) if (!seen.has(i)) lost.push(i);
  return { lost, duplicates: got.length - seen.size };
}
