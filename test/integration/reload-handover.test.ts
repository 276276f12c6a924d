/**
 * The reload hand-over in-process (what worker.ts does on SIGUSR2): listening sockets parked and
 * claimed (core/listeners.ts), arrivals during the swap queued and replayed, HTTP keep-alive
 * connections kept, a listener on the same port of another kind closed first, unclaimed ones closed
 * at the end; memory chunks handed to the matching output (buffer/handover.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request, Agent as HttpAgent } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { armHandover, collectReceivers, disarmHandover } from '../../src/buffer/handover.js';
import { beginHandover, endHandover } from '../../src/core/listeners.js';
import { encode } from '../../src/protocol/msgpack.js';
import { buildFromText, sinkRecords } from '../helpers/agent.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

function post(port: number, agent: HttpAgent, path: string, body: string): Promise<{ status: number; socket: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function httpConf(port: number, sink: string): string {
  return `<source>\n  @type http\n  port ${port}\n  bind 127.0.0.1\n</source>\n<match **>\n  @type test_sink\n  @id ${sink}\n</match>\n`;
}

/** What worker.ts does: build the next pipeline, stop the old one with hand-over armed, start the next. */
async function swap(newText: string, old: { agent: { stop(): Promise<void> } }, during?: () => Promise<void>) {
  collectReceivers();
  const next = buildFromText(newText);
  expect(next.problems).toEqual([]);
  armHandover();
  beginHandover();
  await old.agent.stop();
  const pending = during?.();
  await next.agent!.start();
  await endHandover();
  disarmHandover();
  await pending;
  return next;
}

describe('reload hand-over (in-process)', () => {
  it('keeps the HTTP port and its keep-alive connections; a request made during the swap is answered by the new pipeline', async () => {
    const port = await freePort();
    const first = buildFromText(httpConf(port, 'h1'));
    await first.agent!.start();
    const ka = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const a = await post(port, ka, '/app.a', '{"n":1}');
    expect(a.status).toBe(200);
    let during: Promise<{ status: number; socket: unknown }> | null = null;
    const second = await swap(httpConf(port, 'h2'), first as never, async () => {
      during = post(port, new HttpAgent(), '/app.during', '{"n":2}'); // arrives while nothing serves it
      await new Promise((r) => setTimeout(r, 50));
    });
    expect((await during!).status).toBe(200);
    const b = await post(port, ka, '/app.b', '{"n":3}');
    expect(b.status).toBe(200);
    expect(b.socket).toBe(a.socket); // the same keep-alive connection
    ka.destroy();
    await second.agent!.stop();
    expect(sinkRecords('h1')).toEqual([{ n: 1 }]); // no successor with its @id: flushed at the swap
    expect(sinkRecords('h2')).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it('hands memory chunks to the output with the same @id, type and chunk keys instead of flushing them', async () => {
    const port = await freePort();
    const conf = (failTimes: number) => httpConf(port, 'm').replace('@id m', `@id m\n  fail_times ${failTimes}\n  <buffer>\n    flush_mode interval\n    flush_interval 60\n    retry_wait 60\n  </buffer>`);
    const first = buildFromText(conf(1000)); // its destination would refuse every write
    await first.agent!.start();
    for (let n = 0; n < 3; n++) expect((await post(port, new HttpAgent(), '/app.m', `{"n":${n}}`)).status).toBe(200);
    const second = await swap(conf(0), first as never);
    expect(first.logs()).toMatch(/memory buffer chunks handed over to the reloaded configuration chunks=1 records=3/);
    await second.agent!.flushAll();
    await waitFor(() => sinkRecords('m').length === 3, 5000, 'the handed-over records written by the new output');
    expect(sinkRecords('m')).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    await second.agent!.stop();
  });

  it('closes a parked listener when the new config puts another kind on its port, and the unclaimed ones at the end', async () => {
    const port = await freePort();
    const other = await freePort();
    const first = buildFromText(`${httpConf(port, 'k1')}<source>\n  @type http\n  port ${other}\n  bind 127.0.0.1\n</source>\n`);
    await first.agent!.start();
    const fwd = `<source>\n  @type forward\n  port ${port}\n  bind 127.0.0.1\n</source>\n<match **>\n  @type test_sink\n  @id k2\n</match>\n`;
    const second = await swap(fwd, first as never);
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(other, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true); // no longer configured: closed
    expect(second.logs()).toMatch(new RegExp(`listening port port=${port} bind="127.0.0.1" transport="tcp"`));
    await second.agent!.stop();
  });

  const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasOpenssl)('carries a TLS connection over and re-reads the certificate for new ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logferry-reload-tls-'));
    const newCert = () => {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return readFileSync(join(dir, 'cert.pem'));
    };
    const port = await freePort();
    const conf = (id: string) => `<source>\n  @type forward\n  port ${port}\n  bind 127.0.0.1\n  <transport tls>\n    cert_path ${join(dir, 'cert.pem')}\n    private_key_path ${join(dir, 'key.pem')}\n  </transport>\n</source>\n<match **>\n  @type test_sink\n  @id ${id}\n</match>\n`;
    const open = (ca: Buffer) => new Promise<TLSSocket>((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve(sock));
      sock.once('error', reject);
    });
    const send = (sock: TLSSocket, n: number) => new Promise<void>((resolve, reject) => {
      sock.once('data', () => resolve()); // the ack
      sock.once('close', () => reject(new Error('the connection was closed')));
      sock.write(encode(['tls.r', 1_750_000_000, { n }, { chunk: `t${n}` }]));
    });
    const oldCa = newCert();
    const started = buildFromText(conf('t1'));
    await started.agent!.start();
    const sock = await open(oldCa);
    await send(sock, 1);
    const newCa = newCert(); // same paths, new key and certificate
    const second = await swap(conf('t2'), started as never);
    await send(sock, 2); // the open connection goes on under the new pipeline
    const fresh = await open(newCa); // new connections get the new certificate
    await send(fresh, 3);
    await expect(open(oldCa)).rejects.toThrow();
    sock.destroy();
    fresh.destroy();
    await second.agent!.stop();
    expect(sinkRecords('t1')).toEqual([{ n: 1 }]);
    expect(sinkRecords('t2')).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it('keeps the monitor_agent and prometheus ports bound: a scrape made during the swap is answered by the new pipeline', async () => {
    const [mPort, pPort] = [await freePort(), await freePort()];
    const conf = (id: string) => `<source>\n  @type monitor_agent\n  port ${mPort}\n  bind 127.0.0.1\n</source>\n<source>\n  @type prometheus\n  port ${pPort}\n  bind 127.0.0.1\n</source>\n<match **>\n  @type test_sink\n  @id ${id}\n</match>\n`;
    const get = (port: number, path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    const first = buildFromText(conf('before'));
    await first.agent!.start();
    expect((await get(mPort, '/api/plugins.json')).body).toContain('"plugin_id":"before"');
    let scrapes: Promise<Array<{ status: number; body: string }>> | null = null;
    const second = await swap(conf('after'), first as never, async () => {
      // nothing serves these ports now: without the hand-over they would be refused
      scrapes = Promise.all([get(mPort, '/api/plugins.json'), get(pPort, '/metrics')]);
      await new Promise((r) => setTimeout(r, 50));
    });
    const [plugins, metrics] = await scrapes!;
    expect(plugins.status).toBe(200);
    expect(plugins.body).toContain('"plugin_id":"after"');
    expect(plugins.body).not.toContain('"plugin_id":"before"');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('logferry_healthy 1');
    await second.agent!.stop();
    await expect(get(mPort, '/api/plugins.json')).rejects.toThrow(/ECONNREFUSED/);
  });
});
