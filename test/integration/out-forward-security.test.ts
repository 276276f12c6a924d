/**
 * out_forward's `<security>` handshake and `transport tls` against our in_forward on loopback:
 * right and wrong shared keys, user/password auth, and TLS with a CA made here by the openssl CLI
 * (server certificate verified against tls_ca_cert_path, host name checks, insecure mode, client
 * certificates for mutual TLS).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, range, startForwarder, startReceiver, stopAll, waitForSeqs } from './out-forward-util.js';

afterEach(stopAll);

const OPTS = '  heartbeat_interval 0.1\n  recover_wait 0.2\n  hard_timeout 2\n  require_ack_response true\n  ack_response_timeout 2\n';
const SERVER_SECURITY = (extra = '') => `  <security>\n    self_hostname server.test\n    shared_key s3cret\n${extra}  </security>`;

function server(port: number, extra = ''): string {
  return `  <server>\n    host 127.0.0.1\n    port ${port}\n${extra}  </server>\n`;
}
function clientSecurity(key = 's3cret'): string {
  return `  <security>\n    self_hostname client.test\n    shared_key ${key}\n  </security>\n`;
}

/** Delivers 5 events, or shows the forwarder's error without the receiver storing anything. */
async function expectRefused(fwd: Awaited<ReturnType<typeof startForwarder>>, records: () => unknown[], error: RegExp): Promise<void> {
  await fwd.emit(range(1, 5));
  await waitFor(() => error.test(fwd.logs()), 8000, `the forwarder to log ${error}`);
  expect(records()).toEqual([]);
  expect(fwd.buffered.buffer.queue.length + fwd.buffered.buffer.dequeued.size + fwd.buffered.buffer.stage.size).toBeGreaterThan(0);
}

describe('<security> handshake', () => {
  it('the right shared key is accepted', async () => {
    const rcv = await startReceiver(SERVER_SECURITY());
    const fwd = await startForwarder(`${server(rcv.port)}${clientSecurity()}${OPTS}${fastBuffer()}`);
    await fwd.emit(range(1, 5));
    expect((await waitForSeqs(rcv.records, 5)).duplicates).toBe(0);
  });

  it('a wrong shared key is refused with the failure PONG; the node is detached and nothing is lost', async () => {
    const rcv = await startReceiver(SERVER_SECURITY());
    const fwd = await startForwarder(`${server(rcv.port)}${clientSecurity('wrong')}${OPTS}${fastBuffer()}`);
    await expectRefused(fwd, rcv.records, /detached forwarding server '127\.0\.0\.1:\d+' .*reason="handshake failed: authentication failed: shared_key mismatch"/);
    expect(rcv.logs()).toMatch(/handshake failed, closing connection .*reason="shared_key mismatch"/);
  });

  it('a per-server shared_key overrides <security> shared_key', async () => {
    const rcv = await startReceiver(SERVER_SECURITY());
    const fwd = await startForwarder(`${server(rcv.port, '    shared_key s3cret\n')}${clientSecurity('other')}${OPTS}${fastBuffer()}`);
    await fwd.emit(range(1, 3));
    await waitForSeqs(rcv.records, 3);
  });

  it('user/password auth: the right password is accepted, a wrong one refused', async () => {
    const users = '    user_auth true\n    <user>\n      username alice\n      password wonderland\n    </user>\n';
    const rcv = await startReceiver(SERVER_SECURITY(users));
    const fwd = await startForwarder(`${server(rcv.port, '    username alice\n    password wonderland\n')}${clientSecurity()}${OPTS}${fastBuffer()}`);
    await fwd.emit(range(1, 3));
    await waitForSeqs(rcv.records, 3);
    const bad = await startReceiver(SERVER_SECURITY(users));
    const fwd2 = await startForwarder(`${server(bad.port, '    username alice\n    password nope\n')}${clientSecurity()}${OPTS}${fastBuffer()}`);
    await expectRefused(fwd2, bad.records, /authentication failed: username\/password mismatch/);
  });
});

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
let dir = '';

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8', cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A certificate signed by the test CA. */
function issue(name: string, san: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

beforeAll(() => {
  if (!hasOpenssl) return;
  dir = mkdtempSync(join(tmpdir(), 'logferry-ofwd-tls-'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=logferry test CA');
  issue('server', 'DNS:localhost,IP:127.0.0.1');
  issue('client', 'DNS:client.test');
});

const p = (f: string) => join(dir, f);
const tlsSource = (extra = '') => `  <transport tls>\n    cert_path ${p('server.pem')}\n    private_key_path ${p('server.key')}\n${extra}  </transport>`;

describe.runIf(hasOpenssl)('transport tls', () => {
  it('verifies the server certificate against tls_ca_cert_path and the <server> name; also with <security>', async () => {
    const rcv = await startReceiver(`${tlsSource()}\n${SERVER_SECURITY()}`);
    const fwd = await startForwarder(`${server(rcv.port, '    name localhost\n')}  transport tls\n  tls_ca_cert_path ${p('ca.pem')}\n${clientSecurity()}${OPTS}${fastBuffer()}`);
    await fwd.emit(range(1, 5));
    await waitForSeqs(rcv.records, 5);
  });

  it('refuses a server its CAs do not vouch for, unless tls_insecure_mode', async () => {
    const rcv = await startReceiver(tlsSource());
    const fwd = await startForwarder(`${server(rcv.port, '    name localhost\n')}  transport tls\n${OPTS}${fastBuffer()}`);
    await expectRefused(fwd, rcv.records, /TLS certificate verification failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    const fwd2 = await startForwarder(`${server(rcv.port)}  transport tls\n  tls_insecure_mode true\n${OPTS}${fastBuffer()}`);
    await fwd2.emit(range(1, 2), 'test.insecure');
    await waitForSeqs(rcv.records, 2);
  });

  it('checks the host name unless tls_verify_hostname false', async () => {
    const rcv = await startReceiver(tlsSource());
    const ca = `  transport tls\n  tls_ca_cert_path ${p('ca.pem')}\n`;
    const fwd = await startForwarder(`${server(rcv.port, '    name wrong.example\n')}${ca}${OPTS}${fastBuffer()}`);
    await expectRefused(fwd, rcv.records, /TLS certificate does not match wrong\.example/);
    const fwd2 = await startForwarder(`${server(rcv.port, '    name wrong.example\n')}${ca}  tls_verify_hostname false\n${OPTS}${fastBuffer()}`);
    await fwd2.emit(range(1, 2), 'test.noverify');
    await waitForSeqs(rcv.records, 2);
  });

  it('presents a client certificate to a server that requires one (mutual TLS)', async () => {
    const rcv = await startReceiver(tlsSource(`    client_cert_auth true\n    ca_path ${p('ca.pem')}\n`));
    const base = `${server(rcv.port, '    name localhost\n')}  transport tls\n  tls_ca_cert_path ${p('ca.pem')}\n${OPTS}`;
    const fwd = await startForwarder(`${base}  tls_client_cert_path ${p('client.pem')}\n  tls_client_private_key_path ${p('client.key')}\n${fastBuffer()}`);
    await fwd.emit(range(1, 3));
    await waitForSeqs(rcv.records, 3);
    const fwd2 = await startForwarder(`${base}${fastBuffer()}`);
    await fwd2.emit(range(10, 2), 'test.nocert');
    await waitFor(() => /failed to flush the buffer/.test(fwd2.logs()), 8000, 'the refused connection');
    expect(rcv.records().filter((r) => (r.seq as number) >= 10)).toEqual([]);
  });
});
