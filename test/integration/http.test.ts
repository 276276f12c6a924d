/**
 * in_http against the real daemon: requests over loopback, events read back from out_stdout lines.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { request, Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { runCli, startDaemon, writeConfig, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Local port of the client socket (tells whether a connection was reused). */
  localPort: number | undefined;
}

let daemon: Daemon | null = null;
let port = 0;

afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

/** Starts the daemon with one http source (extra source lines appended) printing to stdout in UTC. */
async function start(sourceLines = ''): Promise<Daemon> {
  port = await freePort();
  daemon = await startDaemon(`
<source>
  @type http
  port ${port}
  bind 127.0.0.1
${sourceLines}
</source>
<match health* fluent.**>
  @type null
</match>
<match **>
  @type stdout
</match>
`, { env: { TZ: 'UTC' } });
  await daemon.waitForOutput('listening port');
  return daemon;
}

function send(method: string, path: string, body?: string | Buffer, headers: OutgoingHttpHeaders = {}, agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body: b, text: b.toString('utf8'), localPort: req.socket?.localPort });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const post = (path: string, body?: string | Buffer, headers: OutgoingHttpHeaders = {}) => send('POST', path, body, headers);
const json = (path: string, value: unknown, headers: OutgoingHttpHeaders = {}) =>
  post(path, JSON.stringify(value), { 'Content-Type': 'application/json', ...headers });
const form = (path: string, fields: Record<string, string | Buffer>) => {
  const body = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? encodeURIComponent(v) : [...v].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`).join('&');
  return post(path, body, { 'Content-Type': 'application/x-www-form-urlencoded' });
};

/** Waits for `n` events and returns them all. */
function events(n: number) {
  return daemon!.waitForEvents(n);
}

/** Posts a marker event and waits for it: everything sent before it has been printed by then. */
async function settle(): Promise<void> {
  const id = Math.random().toString(36).slice(2);
  expect((await json('/marker', { id })).status).toBe(200);
  await waitFor(() => daemon!.events().some((e) => e.tag === 'marker' && e.record.id === id), 10000, 'marker event');
}

/** Writes raw bytes on a new connection; resolves with everything received once the server closes it. */
function raw(parts: Array<string | Buffer>, opts: { until?: (text: string) => boolean; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => (opts.until ? reject(new Error(`no complete answer; got:\n${text}`)) : done(false)), opts.timeoutMs ?? 5000);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.until?.(text)) done(false);
    });
    s.on('error', () => done(true));
    s.on('close', () => done(true));
    s.on('connect', () => {
      for (const p of parts) s.write(p);
    });
  });
}

describe('in_http: content types', () => {
  it('reads a JSON object body; the path becomes the tag', async () => {
    await start();
    const r = await json('/app/log', { message: 'hello', n: 1 });
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(r.headers['content-type']).toBe('text/plain');
    const [e] = await events(1);
    expect(e).toMatchObject({ tag: 'app.log', record: { message: 'hello', n: 1 } });
  });

  it('emits one event per object of a JSON array, skipping other elements', async () => {
    await start();
    expect((await json('/arr', [{ a: 1 }, 2, 'x', null, { b: 2 }])).status).toBe(200);
    const ev = await events(2);
    expect(ev.map((e) => [e.tag, e.record])).toEqual([['arr', { a: 1 }], ['arr', { b: 2 }]]);
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'arr')).toHaveLength(2);
  });

  it('reads application/csp-report as JSON', async () => {
    await start();
    expect((await post('/csp', '{"csp-report":{"blocked-uri":"x"}}', { 'Content-Type': 'application/csp-report' })).status).toBe(200);
    expect((await events(1))[0]).toMatchObject({ tag: 'csp', record: { 'csp-report': { 'blocked-uri': 'x' } } });
  });

  it('reads form fields json=, msgpack= and ndjson=', async () => {
    await start();
    expect((await form('/f.json', { json: '{"k":"a b+c&d"}' })).status).toBe(200);
    expect((await form('/f.msgpack', { msgpack: encode({ k: 'mp', n: 300 }) })).status).toBe(200);
    expect((await form('/f.ndjson', { ndjson: '{"i":1}\n{"i":2}\n' })).status).toBe(200);
    const ev = await events(4);
    expect(ev.map((e) => [e.tag, e.record])).toEqual([
      ['f.json', { k: 'a b+c&d' }],
      ['f.msgpack', { k: 'mp', n: 300 }],
      ['f.ndjson', { i: 1 }],
      ['f.ndjson', { i: 2 }],
    ]);
  });

  it('reads json= from the query string of a POST without a body', async () => {
    await start();
    expect((await post(`/q?json=${encodeURIComponent('{"from":"query"}')}`)).status).toBe(200);
    expect((await events(1))[0]).toMatchObject({ tag: 'q', record: { from: 'query' } });
  });

  it('reads an application/x-ndjson body, one event per line', async () => {
    await start();
    const r = await post('/nd', '{"i":1}\r\n{"i":2}\n\n{"i":3}\n', { 'Content-Type': 'application/x-ndjson' });
    expect(r.status).toBe(200);
    expect((await events(3)).map((e) => e.record)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
  });

  it('reads an application/msgpack body: a map, or an array of maps', async () => {
    await start();
    expect((await post('/mp', encode({ one: 1 }), { 'Content-Type': 'application/msgpack' })).status).toBe(200);
    expect((await post('/mp', encode([{ two: 2 }, 5, { three: 3 }]), { 'Content-Type': 'application/msgpack' })).status).toBe(200);
    expect((await events(3)).map((e) => e.record)).toEqual([{ one: 1 }, { two: 2 }, { three: 3 }]);
  });

  it('reads multipart/form-data fields', async () => {
    await start();
    const b = 'XyZb0undary';
    const body = `--${b}\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"via":"multipart"}\r\n--${b}--\r\n`;
    expect((await post('/mf', body, { 'Content-Type': `multipart/form-data; boundary=${b}` })).status).toBe(200);
    expect((await events(1))[0]).toMatchObject({ tag: 'mf', record: { via: 'multipart' } });
  });

  it('with <parse> @type none, takes the raw body as the message field', async () => {
    await start('  <parse>\n    @type none\n  </parse>');
    expect((await post('/raw?time=1700000000', 'just a line of text', { 'Content-Type': 'text/plain' })).status).toBe(200);
    const [e] = await events(1);
    expect(e).toMatchObject({ tag: 'raw', time: '2023-11-14 22:13:20.000000000 +0000', record: { message: 'just a line of text' } });
  });

  it('ignores the body of another content type (only query parameters count)', async () => {
    await start();
    const r = await post('/other', '{"a":1}', { 'Content-Type': 'text/plain' });
    expect(r.status).toBe(400);
    expect(r.text).toBe("400 Bad Request\n'json', 'ndjson' or 'msgpack' parameter is required\n");
  });

  it('decompresses gzip and deflate bodies; a broken one is answered 400', async () => {
    await start();
    const gz = await post('/gz', gzipSync(JSON.stringify({ z: 'gzip' })), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(gz.status).toBe(200);
    const df = await post('/df', deflateSync(JSON.stringify({ z: 'deflate' })), { 'Content-Type': 'application/json', 'Content-Encoding': 'deflate' });
    expect(df.status).toBe(200);
    expect((await events(2)).map((e) => [e.tag, e.record])).toEqual([['gz', { z: 'gzip' }], ['df', { z: 'deflate' }]]);
    const bad = await post('/bad', Buffer.from('not gzip at all'), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/^400 Bad Request\nfailed to decode payload/);
  });
});

describe('in_http: event time', () => {
  it('takes the time parameter (float epoch seconds) and keeps a record time field then', async () => {
    await start();
    expect((await post('/t?time=1700000000.5', 'json={"a":1,"time":"kept"}', { 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(200);
    const [e] = await events(1);
    expect(e!.time).toBe('2023-11-14 22:13:20.500000000 +0000');
    expect(e!.record).toEqual({ a: 1, time: 'kept' });
  });

  it('treats time=0 as now', async () => {
    await start();
    const before = Date.now();
    expect((await form('/t0', { json: '{"a":1}', time: '0' })).status).toBe(200);
    const [e] = await events(1);
    const printed = Date.parse(e!.time.replace(' ', 'T').replace(/\.(\d{3})\d+ \+0000$/, '.$1Z'));
    expect(printed).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(printed).toBeLessThanOrEqual(Date.now());
  });

  it('removes the record time field and uses it', async () => {
    await start();
    expect((await json('/rt', [{ a: 1, time: 1600000000 }, { a: 2, time: 1600000001.25 }])).status).toBe(200);
    const ev = await events(2);
    expect(ev.map((e) => [e.time, e.record])).toEqual([
      ['2020-09-13 12:26:40.000000000 +0000', { a: 1 }],
      ['2020-09-13 12:26:41.250000000 +0000', { a: 2 }],
    ]);
  });

  it('answers 400 for a non-numeric record time field', async () => {
    await start();
    const r = await json('/rt', { a: 1, time: 'yesterday' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/^400 Bad Request\n'time' field must be a number/);
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'rt')).toEqual([]);
  });
});

describe('in_http: errors', () => {
  it('answers 400 for bad JSON and emits nothing', async () => {
    await start();
    const r = await post('/bad', '{"a":', { 'Content-Type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.text).toMatch(/^400 Bad Request\ninvalid JSON: .+\n$/);
    expect((await post('/bad', '{"a":1}\nnope\n', { 'Content-Type': 'application/x-ndjson' })).status).toBe(400);
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'bad')).toEqual([]);
  });

  it('answers 400 when no json, ndjson or msgpack parameter is given', async () => {
    await start();
    const r = await post('/missing', 'a=1', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(400);
    expect(r.text).toBe("400 Bad Request\n'json', 'ndjson' or 'msgpack' parameter is required\n");
  });

  it('answers 413 for a body over body_size_limit (declared, streamed, or Expect: 100-continue)', async () => {
    await start('  body_size_limit 1k');
    const big = JSON.stringify({ pad: 'x'.repeat(2000) });
    const declared = await raw([`POST /big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`, big]);
    expect(declared.text).toMatch(/^HTTP\/1\.1 413 Request Entity Too Large\r\n/);
    expect(declared.closed).toBe(true);
    // chunked: no length up front, the server stops at the chunk that crosses the limit
    const streamed = await raw([
      'POST /big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      `258\r\n${'y'.repeat(600)}\r\n`,
      `258\r\n${'y'.repeat(600)}\r\n`,
    ], { until: (t) => t.includes('Too large') });
    expect(streamed.text).toMatch(/^HTTP\/1\.1 413 Request Entity Too Large\r\n[\s\S]*\r\n\r\nToo large$/);
    const expect100 = await raw(['POST /big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n']);
    expect(expect100.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(expect100.closed).toBe(true);
    // a real client writing a body much larger than the socket buffers still reads the answer
    const huge = await post('/big', Buffer.alloc(4_000_000, 'a'), { 'Content-Type': 'application/json' });
    expect(huge.status).toBe(413);
    expect(huge.text).toBe('Too large');
    // a body just under the limit still goes through
    expect((await json('/small', { pad: 'x'.repeat(900) })).status).toBe(200);
    expect((await events(1))[0]!.tag).toBe('small');
    expect(daemon!.events().filter((e) => e.tag === 'big')).toEqual([]);
  });

  it('answers 413 when a compressed body inflates over decompression_size_limit', async () => {
    await start('  decompression_size_limit 10k');
    const r = await post('/bomb', gzipSync(JSON.stringify({ pad: 'z'.repeat(50_000) })), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(413);
    expect((await post('/ok', gzipSync('{"a":1}'), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' })).status).toBe(200);
    expect((await events(1))[0]).toMatchObject({ tag: 'ok', record: { a: 1 } });
  });

  it('survives garbage and aborted requests, answering the next request normally', async () => {
    await start();
    const garbage = await raw(['\x00\x01 not http at all\r\n\r\n']);
    expect(garbage.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage.closed).toBe(true);
    await raw(['POST /cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'], { timeoutMs: 200 });
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'cut')).toEqual([]);
  });
});

describe('in_http: record additions and tag prefix', () => {
  it('adds HTTP_* headers, REMOTE_ADDR and QUERY_* parameters', async () => {
    await start('  add_http_headers true\n  add_remote_addr true\n  add_query_params true\n  add_tag_prefix web');
    expect((await json('/hdr?user-id=7&json_x=1', { a: 1 }, { 'X-Custom-Thing': 'v1' })).status).toBe(200);
    expect((await json('/xff', { a: 2 }, { 'X-Forwarded-For': '10.1.2.3, 192.168.0.1' })).status).toBe(200);
    const [one, two] = await events(2);
    expect(one!.tag).toBe('web.hdr');
    expect(one!.record).toMatchObject({ a: 1, HTTP_X_CUSTOM_THING: 'v1', HTTP_CONTENT_TYPE: 'application/json', REMOTE_ADDR: '127.0.0.1', QUERY_USER_ID: '7', QUERY_JSON_X: '1' });
    expect(one!.record.HTTP_HOST).toBe(`127.0.0.1:${port}`);
    expect(two).toMatchObject({ tag: 'web.xff', record: { a: 2, REMOTE_ADDR: '10.1.2.3', HTTP_X_FORWARDED_FOR: '10.1.2.3, 192.168.0.1' } });
  });

  it('adds nothing by default', async () => {
    await start();
    expect((await json('/plain', { a: 1 }, { 'X-Custom': 'v' })).status).toBe(200);
    expect((await events(1))[0]!.record).toEqual({ a: 1 });
  });
});

describe('in_http: CORS', () => {
  const cors = '  cors_allow_origins ["https://app.example.com", "https://*.example.org"]\n  cors_allow_credentials true';

  it('answers a preflight for an allowed origin and refuses others', async () => {
    await start(cors);
    const ok = await send('OPTIONS', '/c', undefined, { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' });
    expect(ok.status).toBe(200);
    expect(ok.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
      'access-control-allow-credentials': 'true',
    });
    const wild = await send('OPTIONS', '/c', undefined, { Origin: 'https://a.b.example.org', 'Access-Control-Request-Method': 'POST' });
    expect(wild.status).toBe(200);
    expect(wild.headers['access-control-allow-origin']).toBe('https://a.b.example.org');
    expect((await send('OPTIONS', '/c', undefined, { Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'POST' })).status).toBe(403);
    expect((await send('OPTIONS', '/c', undefined, { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' })).status).toBe(403);
  });

  it('refuses a POST from an unlisted origin (403, nothing emitted); listed and absent origins pass', async () => {
    await start(cors);
    const no = await json('/c', { from: 'evil' }, { Origin: 'https://evil.example.net' });
    expect(no.status).toBe(403);
    expect(no.headers.connection).toBe('close');
    const yes = await json('/c', { from: 'app' }, { Origin: 'https://app.example.com' });
    expect(yes.status).toBe(200);
    expect(yes.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(yes.headers['access-control-allow-credentials']).toBe('true');
    expect((await json('/c', { from: 'server' })).status).toBe(200);
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'c').map((e) => e.record.from)).toEqual(['app', 'server']);
  });

  it('allows any origin with *', async () => {
    await start('  cors_allow_origins ["*"]');
    const r = await json('/any', { a: 1 }, { Origin: 'https://whoever.test' });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  it('refuses a preflight when CORS is not enabled', async () => {
    await start();
    expect((await send('OPTIONS', '/c', undefined, { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' })).status).toBe(403);
  });

  it('rejects cors_allow_credentials without explicit origins, and a non-tcp transport, at config time', async () => {
    const { path } = writeConfig('<source>\n  @type http\n  cors_allow_credentials true\n</source>\n<match **>\n  @type stdout\n</match>\n');
    const r = await runCli(['-c', path, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/cors_allow_credentials/);
    const tls = writeConfig('<source>\n  @type http\n  <transport tls>\n  </transport>\n</source>\n<match **>\n  @type stdout\n</match>\n');
    const t = await runCli(['-c', tls.path, '--dry-run']);
    expect(t.code).toBe(1);
    expect(t.stdout + t.stderr).toMatch(/transport 'tls' is not supported/);
  });
});

describe('in_http: responses', () => {
  it('answers with a 1x1 GIF when respond_with_empty_img is set', async () => {
    await start('  respond_with_empty_img true');
    const r = await json('/img', { a: 1 });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^image\/gif/);
    expect(r.body.length).toBe(35);
    expect(r.body.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect(r.body.readUInt16LE(6)).toBe(1); // width
    expect(r.body.readUInt16LE(8)).toBe(1); // height
    expect((await events(1))[0]!.tag).toBe('img');
  });

  it('answers 204 when use_204_response is set', async () => {
    await start('  use_204_response true');
    const r = await json('/nc', { a: 1 });
    expect(r.status).toBe(204);
    expect(r.body.length).toBe(0);
    expect((await events(1))[0]!.tag).toBe('nc');
  });

  it('answers GET with 200 and emits nothing', async () => {
    await start();
    const r = await send('GET', `/get?json=${encodeURIComponent('{"a":1}')}`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    await settle();
    expect(daemon!.events().filter((e) => e.tag === 'get')).toEqual([]);
  });

  it('answers the container health check (GET and POST) with 200 and prints nothing', async () => {
    await start();
    const url = '/healthcheck?json=%7B%22log%22%3A%22health+check%22%7D';
    expect((await send('GET', url)).status).toBe(200);
    expect((await post(url)).status).toBe(200);
    await settle();
    expect(daemon!.events().map((e) => e.tag)).toEqual(['marker']);
    expect(daemon!.stdout()).not.toContain('health check');
  });
});

describe('in_http: connections', () => {
  it('reuses a kept-alive connection for several requests', async () => {
    await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await send('POST', '/ka', '{"n":1}', { 'Content-Type': 'application/json' }, agent);
      const b = await send('POST', '/ka', '{"n":2}', { 'Content-Type': 'application/json' }, agent);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.headers.connection).toMatch(/keep-alive/i);
      expect(b.localPort).toBe(a.localPort);
      expect((await events(2)).map((e) => e.record.n)).toEqual([1, 2]);
    } finally {
      agent.destroy();
    }
  });

  it('serves two pipelined requests on one raw connection and closes on Connection: close', async () => {
    await start();
    const body = '{"p":1}';
    const req = (conn: string) => `POST /pipe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: ${conn}\r\n\r\n${body}`;
    const r = await raw([req('keep-alive'), req('close')]);
    expect(r.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(r.closed).toBe(true);
    expect(await events(2)).toHaveLength(2);
  });

  it('closes an HTTP/1.0 connection after the answer unless keep-alive is asked for', async () => {
    await start();
    const body = 'json={"v":10}';
    const r = await raw([`POST /v10 HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`]);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.closed).toBe(true);
    const kept = await raw([`POST /v10 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`], { timeoutMs: 500 });
    expect(kept.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(kept.closed).toBe(false);
    expect(await events(2)).toHaveLength(2);
  });

  it('closes an idle kept-alive connection after keepalive_timeout', async () => {
    await start('  keepalive_timeout 1');
    const t0 = Date.now();
    const r = await raw(['POST /idle?json=%7B%7D HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 5000 });
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });
});
