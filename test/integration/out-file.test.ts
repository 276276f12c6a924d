/**
 * out_file and secondary_file against the real daemon: events POSTed to in_http, files read back
 * from a temp dir. The daemon runs with TZ=UTC so time columns and file names are predictable.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { ExtensionCodec, decodeMulti } from '@msgpack/msgpack';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startDaemon, writeConfig, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

/** 2023-11-14T22:13:20Z: with timekey 1 its chunks are named `.20231114221320`. */
const T = 1700000000;
const STAMP = '20231114221320';
const TIME_COL = '2023-11-14T22:13:20+0000';

let daemon: Daemon | null = null;
let port = 0;
const dirs: string[] = [];

afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'logferry-out-file-'));
  dirs.push(d);
  return d;
}

/** One second per chunk, flushed once its second is over. */
const BUFFER = (keys = 'tag,time', extra = '') => `<buffer ${keys}>
    timekey 1
    timekey_wait 0
    timekey_use_utc true
    flush_mode interval
    flush_interval 1
    ${extra}
  </buffer>`;

async function start(match: string): Promise<Daemon> {
  port = await freePort();
  daemon = await startDaemon(`
<source>
  @type http
  port ${port}
  bind 127.0.0.1
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type file
  ${match}
</match>
`, { env: { TZ: 'UTC' } });
  await daemon.waitForOutput('listening port');
  return daemon;
}

function post(tag: string, records: Array<Record<string, unknown>>): Promise<number> {
  const body = JSON.stringify(records.map((r) => ({ time: T, ...r })));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/${tag}`, headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function send(tag: string, records: Array<Record<string, unknown>>): Promise<void> {
  expect(await post(tag, records)).toBe(200);
}

/** Waits until `path` exists and holds `lines` newline-terminated lines; returns them. */
function linesOf(path: string, lines: number, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): Promise<string[]> {
  return waitFor(() => {
    if (!existsSync(path)) return null;
    const l = read(path).split('\n').slice(0, -1);
    return l.length >= lines ? l : null;
  }, 15000, `${lines} lines in ${path}; daemon stdout:\n${daemon?.stdout()}`);
}

describe('out_file', () => {
  it('writes time<TAB>tag<TAB>json lines to <path>.<timekey>_0.log', async () => {
    const dir = tempDir();
    await start(`path ${dir}/out/app\n  ${BUFFER()}`);
    await send('test.a', [{ msg: 'one' }, { msg: 'two', n: 2 }]);
    const lines = await linesOf(join(dir, 'out', `app.${STAMP}_0.log`), 2);
    expect(lines).toEqual([`${TIME_COL}\ttest.a\t{"msg":"one"}`, `${TIME_COL}\ttest.a\t{"msg":"two","n":2}`]);
    expect(readdirSync(join(dir, 'out'))).toEqual([`app.${STAMP}_0.log`]);
  });

  it('append false: each chunk gets the next unused _N file', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  ${BUFFER()}`);
    await send('test.a', [{ n: 1 }]);
    await linesOf(join(dir, `app.${STAMP}_0.log`), 1);
    await send('test.a', [{ n: 2 }]);
    const second = await linesOf(join(dir, `app.${STAMP}_1.log`), 1);
    expect(second).toEqual([`${TIME_COL}\ttest.a\t{"n":2}`]);
    expect(readFileSync(join(dir, `app.${STAMP}_0.log`), 'utf8')).toBe(`${TIME_COL}\ttest.a\t{"n":1}\n`);
  });

  it('append true: every chunk is appended to one file without _N', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  append true\n  ${BUFFER()}`);
    const path = join(dir, `app.${STAMP}.log`);
    await send('test.a', [{ n: 1 }]);
    await linesOf(path, 1);
    await send('test.a', [{ n: 2 }]);
    expect(await linesOf(path, 2)).toEqual([`${TIME_COL}\ttest.a\t{"n":1}`, `${TIME_COL}\ttest.a\t{"n":2}`]);
    expect(readdirSync(dir)).toEqual([`app.${STAMP}.log`]);
  });

  it('<buffer time> as Fluentd configs write it: each line still has its tag (chunks are split by tag too)', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  append true\n  ${BUFFER('time')}`);
    const path = join(dir, `app.${STAMP}.log`);
    await send('web.access', [{ who: 'web' }]);
    await send('db.slow', [{ who: 'db' }]);
    expect((await linesOf(path, 2)).sort()).toEqual([`${TIME_COL}\tdb.slow\t{"who":"db"}`, `${TIME_COL}\tweb.access\t{"who":"web"}`]);
    expect(readdirSync(dir)).toEqual([`app.${STAMP}.log`]);
  });

  it('a format without the tag keeps Fluentd\'s default chunk key (time): two tags share one chunk and one file', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  <format>\n    @type json\n  </format>\n  <buffer>\n    timekey 1\n    timekey_wait 0\n    timekey_use_utc true\n    flush_mode interval\n    flush_interval 1\n  </buffer>`);
    await post('web.access', [{ who: 'web' }]);
    await post('db.slow', [{ who: 'db' }]);
    const lines = await linesOf(join(dir, `app.${STAMP}_0.log`), 2);
    expect(lines.sort()).toEqual(['{"who":"db"}', '{"who":"web"}']);
    expect(readdirSync(dir)).toEqual([`app.${STAMP}_0.log`]); // one chunk: not split by tag
  });

  it('expands ${tag} in path, one directory per tag', async () => {
    const dir = tempDir();
    await start(`path ${dir}/\${tag}/app\n  ${BUFFER()}`);
    await send('web.access', [{ who: 'web' }]);
    await send('db.slow', [{ who: 'db' }]);
    expect(await linesOf(join(dir, 'web.access', `app.${STAMP}_0.log`), 1)).toEqual([`${TIME_COL}\tweb.access\t{"who":"web"}`]);
    expect(await linesOf(join(dir, 'db.slow', `app.${STAMP}_0.log`), 1)).toEqual([`${TIME_COL}\tdb.slow\t{"who":"db"}`]);
  });

  it('compress gzip writes .log.gz readable with zlib', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  compress gzip\n  append true\n  ${BUFFER()}`);
    const path = join(dir, `app.${STAMP}.log.gz`);
    const gunzip = (p: string) => gunzipSync(readFileSync(p)).toString('utf8');
    await send('test.z', [{ n: 1 }]);
    await linesOf(path, 1, gunzip);
    await send('test.z', [{ n: 2 }]); // a second gzip member in the same file
    expect(await linesOf(path, 2, gunzip)).toEqual([`${TIME_COL}\ttest.z\t{"n":1}`, `${TIME_COL}\ttest.z\t{"n":2}`]);
  });

  it('<format> @type json writes the records only', async () => {
    const dir = tempDir();
    await start(`path ${dir}/app\n  <format>\n    @type json\n  </format>\n  ${BUFFER('time')}`);
    await send('test.j', [{ a: 1 }, { b: 'x' }]);
    expect(await linesOf(join(dir, `app.${STAMP}_0.log`), 2)).toEqual(['{"a":1}', '{"b":"x"}']);
  });

  it('retries a chunk whose file cannot be written (EISDIR) and delivers it once the path is free', async () => {
    const dir = tempDir();
    const path = join(dir, `app.${STAMP}.log`);
    mkdirSync(path); // the target is a directory: appending to it fails with EISDIR
    const d = await start(`path ${dir}/app\n  append true\n  ${BUFFER('tag,time', 'retry_wait 0.2\n    retry_max_interval 0.5\n    retry_randomize false')}`);
    await send('test.r', [{ n: 1 }, { n: 2 }]);
    await d.waitForOutput('failed to flush the buffer.', 15000);
    expect(d.stdout()).toMatch(/EISDIR/);
    rmSync(path, { recursive: true });
    expect(await linesOf(path, 2)).toEqual([`${TIME_COL}\ttest.r\t{"n":1}`, `${TIME_COL}\ttest.r\t{"n":2}`]);
    await d.waitForOutput('retry succeeded.', 15000);
    expect(readFileSync(path, 'utf8').split('\n').length - 1).toBe(2);
  });

  it('with retry_max_times 1 the chunk lands in <secondary> @type secondary_file as msgpack', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, `app.${STAMP}.log`));
    const d = await start(`path ${dir}/app\n  append true\n  ${BUFFER('tag,time', 'retry_max_times 1\n    retry_randomize false')}
  <secondary>
    @type secondary_file
    directory ${dir}/secondary/\${tag}
  </secondary>`);
    await send('test.s', [{ n: 1 }, { n: 2, s: 'two' }]);
    const dump = join(dir, 'secondary', 'test.s', 'dump.bin.0');
    await waitFor(() => existsSync(dump), 15000, `${dump}; daemon stdout:\n${d.stdout()}`);
    const entries = [...decodeMulti(readFileSync(dump), { extensionCodec: eventTimeCodec() })] as Array<[{ sec: number } | number, Record<string, unknown>]>;
    expect(entries.map(([, r]) => r)).toEqual([{ n: 1 }, { n: 2, s: 'two' }]);
    expect(entries.map(([t]) => (typeof t === 'number' ? t : t.sec))).toEqual([T, T]);
    expect(existsSync(join(dir, 'secondary', 'test.s', 'dump.bin.1'))).toBe(false);
  });

  it('a ${key} value that would leave the directory is unrecoverable: the chunk goes to <secondary>', async () => {
    const dir = tempDir();
    const d = await start(`path ${dir}/out/\${sub}/app\n  ${BUFFER('tag,time,sub')}
  <secondary>
    @type secondary_file
    directory ${dir}/secondary
    append true
  </secondary>`);
    await send('test.t', [{ sub: '../escaped', n: 1 }, { sub: 'ok', n: 2 }]);
    expect(await linesOf(join(dir, 'out', 'ok', `app.${STAMP}_0.log`), 1)).toEqual([`${TIME_COL}\ttest.t\t{"sub":"ok","n":2}`]);
    const dump = join(dir, 'secondary', 'dump.bin');
    await waitFor(() => existsSync(dump), 15000, `${dump}; daemon stdout:\n${d.stdout()}`);
    const entries = [...decodeMulti(readFileSync(dump), { extensionCodec: eventTimeCodec() })] as Array<[unknown, Record<string, unknown>]>;
    expect(entries.map(([, r]) => r)).toEqual([{ sub: '../escaped', n: 1 }]);
    expect(d.stdout()).toContain('chunk written to <secondary> after primary failure');
    expect(d.stdout()).not.toContain('failed to flush the buffer.'); // no retry for an unrecoverable chunk
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(readdirSync(join(dir, 'out'))).toEqual(['ok']);
  });
});

describe('out_file / secondary_file config errors (--dry-run)', () => {
  async function dryRun(match: string): Promise<{ code: number | null; stderr: string }> {
    const dir = tempDir();
    const { path } = writeConfig(`<match **>\n  ${match}\n</match>\n`, 'fluent.conf', dir);
    return runCli(['-c', path, '--dry-run']);
  }

  it('accepts a valid out_file with secondary_file', async () => {
    const r = await dryRun(`@type file\n  path /tmp/x/\${tag}/%Y%m%d/app\n  <buffer tag,time>\n    timekey 1d\n  </buffer>\n  <secondary>\n    @type secondary_file\n    directory /tmp/x/failed/\${tag}\n  </secondary>`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('rejects secondary_file outside <secondary>', async () => {
    const r = await dryRun('@type secondary_file\n  directory /tmp/x');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('secondary_file can only be used inside <secondary>');
  });

  it('rejects placeholders that are not chunk keys', async () => {
    const r = await dryRun('@type file\n  path /tmp/x/${host}/app\n  <buffer tag,time>\n    timekey 60\n  </buffer>');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('${host} is not a <buffer> chunk key');
  });

  it('rejects time placeholders coarser than the timekey', async () => {
    const r = await dryRun('@type file\n  path /tmp/x/%Y%m%d/app\n  <buffer tag,time>\n    timekey 1h\n  </buffer>');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('insufficient timestamp placeholders');
  });


  it('rejects a secondary_file basename with / and placeholders the primary keys lack', async () => {
    const primary = '@type file\n  path /tmp/x/app\n  <buffer tag,time>\n    timekey 60\n  </buffer>';
    const slash = await dryRun(`${primary}\n  <secondary>\n    @type secondary_file\n    directory /tmp/x\n    basename a/b\n  </secondary>`);
    expect(slash.code).toBe(1);
    expect(slash.stderr).toContain('basename: must not contain /');
    const key = await dryRun(`${primary}\n  <secondary>\n    @type secondary_file\n    directory /tmp/x/\${host}\n  </secondary>`);
    expect(key.code).toBe(1);
    expect(key.stderr).toContain('${host} is not a <buffer> chunk key');
  });
});

/** Decodes Fluentd's EventTime (ext 0: uint32 seconds, uint32 nanoseconds) independently of src/. */
function eventTimeCodec(): ExtensionCodec {
  const codec = new ExtensionCodec();
  codec.register({
    type: 0,
    encode: () => null,
    decode: (data: Uint8Array) => {
      const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      return { sec: b.readUInt32BE(0), nsec: b.readUInt32BE(4) };
    },
  });
  return codec;
}
