/** The daemon as a child process: --dry-run on every fixture, --help/--version, clean SIGTERM stop. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, runCli, startDaemon, type Daemon } from '../helpers/daemon.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'config');
const list = (d: string) => readdirSync(join(FIXTURES, d)).filter((f) => /\.(conf|ya?ml)$/.test(f)).sort();

describe('logferry --dry-run', () => {
  for (const f of list('valid')) {
    it(`accepts valid/${f}`, async () => {
      const r = await runCli(['--dry-run', '-c', join(FIXTURES, 'valid', f)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/finished dry run mode/);
      expect(r.stdout).not.toMatch(/worker is now running/);
    });
  }
  for (const f of list('invalid')) {
    it(`rejects invalid/${f} with its message`, async () => {
      const path = join(FIXTURES, 'invalid', f);
      const expected = /^# expect: (.*)$/m.exec(readFileSync(path, 'utf8'))?.[1];
      expect(expected, 'fixture must open with "# expect: <fragment>"').toBeTruthy();
      const r = await runCli(['--dry-run', '-c', path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(expected!);
      expect(r.stderr).toContain(f);
    });
  }
  it('names a missing config file', async () => {
    const r = await runCli(['--dry-run', '-c', '/nonexistent/fluent.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/fluent.conf');
  });
  it('the shipped configs pass', async () => {
    const files = [
      ...readdirSync(join(ROOT, 'config')).filter((x) => /\.(conf|ya?ml)$/.test(x)).map((f) => join('config', f)),
      ...readdirSync(join(ROOT, 'config', 'examples')).filter((x) => /\.(conf|ya?ml)$/.test(x)).map((f) => join('config', 'examples', f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const r = await runCli(['--dry-run', '-c', join(ROOT, f)]);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
    }
  });
  it('-i appends inline config', async () => {
    const r = await runCli(['--dry-run', '-c', join(FIXTURES, 'valid', 'v0-aggregator.conf'), '-i', '<match extra.**>\\n  @type nul\\n</match>']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown output plugin 'nul'/);
  });
});

describe('logferry command line', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`logferry ${pkg.version}`);
  });
  it('--help lists options and plugins', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--dry-run/);
    expect(r.stdout).toMatch(/outputs: .*stdout/);
  });
  it('--help-plugin renders a plugin schema', async () => {
    const r = await runCli(['--help-plugin', 'stdout']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/@type stdout \(output\)/);
    expect(r.stdout).toMatch(/<format>/);
  });
  it('rejects an unknown option with exit 2', async () => {
    const r = await runCli(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option --bogus/);
  });
});

describe('daemon lifecycle', () => {
  let d: Daemon | null = null;
  afterEach(async () => { await d?.stop('SIGKILL'); d = null; });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} stops it with exit 0`, async () => {
      d = await startDaemon('<match **>\n  @type stdout\n</match>\n');
      expect(d.stdout()).toMatch(/\[info\]: #0 starting fluentd worker pid=\d+/);
      const code = await d.stop(sig);
      expect(code).toBe(0);
      expect(d.stdout()).toMatch(/shutting down fluentd worker/);
    });
  }
  it('writes JSON logs with --log-format json', async () => {
    d = await startDaemon('<match **>\n  @type stdout\n</match>\n', { args: ['--log-format', 'json'] });
    const first = d.stdout().split('\n').find((l) => l.includes('starting fluentd worker'))!;
    const obj = JSON.parse(first) as Record<string, unknown>;
    expect(obj.level).toBe('info');
    expect(obj.message).toMatch(/^starting fluentd worker pid=\d+ ppid=\d+ worker=0$/);
    expect(obj.worker_id).toBe(0);
    expect(obj.pid).toBe(d.proc.pid);
  });
});
