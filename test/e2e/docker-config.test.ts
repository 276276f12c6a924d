/**
 * config/docker.conf as shipped (ports moved to free ones): records as Docker's fluentd log driver
 * sends them (Message mode, EventTime, container_id/container_name/source/log, optional ack) over TCP
 * and the unix socket; a container tagged docker.json.* has its JSON log lines parsed into fields,
 * and a line that is not JSON passes on unchanged.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { EventTime } from '../../src/core/event-time.js';
import { encode } from '../../src/protocol/msgpack.js';
import { ROOT, startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from '../integration/forward-util.js';

let d: Daemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

const container = { container_id: 'f'.repeat(64), container_name: '/web', source: 'stdout' };

it('takes Docker log driver records over TCP and unix; parses JSON lines of docker.json.* containers', async () => {
  const port = await freePort();
  const sock = join(mkdtempSync(join(tmpdir(), 'logferry-docker-')), 'docker.sock');
  const text = readFileSync(join(ROOT, 'config', 'docker.conf'), 'utf8').replace('port 24224', `port ${port}`).replace('/tmp/logferry-docker.sock', sock);
  d = await startDaemon(text, { env: { TZ: 'UTC' } });
  const tcp = await RawClient.open(port);
  const t = new EventTime(1_750_000_000, 123_000_000);
  await tcp.write(encode(['docker.json.web', t, { ...container, log: '{"level":"info","latency":2.0,"msg":"ok"}' }, { chunk: 'c1' }]));
  await tcp.write(encode(['docker.json.web', t, { ...container, log: 'not json at all' }, { chunk: 'c2' }]));
  expect(await tcp.waitForValues(2)).toEqual([{ ack: 'c1' }, { ack: 'c2' }]);
  const unix = await RawClient.open(sock);
  await unix.write(encode(['docker.web', t, { ...container, source: 'stderr', log: '{"not":"parsed"}' }]));
  const docker = () => d!.events().filter((e) => e.tag.startsWith('docker.'));
  const events = await waitFor(() => (docker().length >= 3 ? docker() : null), 10000, 'three docker events');
  tcp.destroy();
  unix.destroy();
  expect(events).toEqual([
    { tag: 'docker.json.web', time: '2025-06-15 15:06:40.123000000 +0000', record: { ...container, level: 'info', latency: 2, msg: 'ok' } },
    { tag: 'docker.json.web', time: '2025-06-15 15:06:40.123000000 +0000', record: { ...container, log: 'not json at all' } },
    { tag: 'docker.web', time: '2025-06-15 15:06:40.123000000 +0000', record: { ...container, source: 'stderr', log: '{"not":"parsed"}' } },
  ]);
  expect(d.stdout()).toContain('"latency":2.0'); // the float stays a float
});
