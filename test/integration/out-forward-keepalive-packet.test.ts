/**
 * out_forward `send_keepalive_packet true` (with `keepalive true`): the kept-alive data connection
 * has TCP keepalive on, with its idle time derived from keepalive_timeout (half of it, at most 15 s).
 * Checked on the real socket as the kernel reports it in /proc/net/tcp: the `tr` field of the
 * connection is 2 while a keepalive timer is armed, and `tm->when` is the time left (clock ticks,
 * USER_HZ = 100). An idle established socket without keepalive has no timer (tr 0).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, RawReceiver, startForwarder, stopAll } from './out-forward-util.js';

const USER_HZ = 100;

interface TcpRow {
  local: string;
  remote: string;
  state: number;
  txQueue: number;
  /** 0 none, 1 retransmit / loss probe, 2 keepalive (sk_timer), 3 TIME_WAIT, 4 zero window probe. */
  timer: number;
  /** Time until the timer fires, in seconds. */
  whenSec: number;
}

function hexAddr(field: string): string {
  const [ip, port] = field.split(':') as [string, string];
  const b = Buffer.from(ip, 'hex');
  return `${b[3]}.${b[2]}.${b[1]}.${b[0]}:${parseInt(port, 16)}`; // IPv4, little-endian on x86/arm
}

/** IPv4 TCP sockets of this network namespace. */
function tcpRows(): TcpRow[] {
  return readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1).map((line) => {
    const f = line.trim().split(/\s+/);
    const [, tx] = f[4]!.split(':') as [string, string];
    const [timer, when] = f[5]!.split(':') as [string, string];
    return {
      local: hexAddr(f[1]!), remote: hexAddr(f[2]!), state: parseInt(f[3]!, 16), txQueue: parseInt(tx, 16),
      timer: parseInt(timer, 16), whenSec: parseInt(when, 16) / USER_HZ,
    };
  });
}

/** The forwarder's established connections to the receiver (the client side of each). */
function clientSockets(port: number): TcpRow[] {
  return tcpRows().filter((r) => r.state === 1 && r.remote === `127.0.0.1:${port}`);
}

/**
 * Sends one chunk over a kept-alive connection and waits until it is idle (all data acked); also
 * returns how long that took at most (the connection is younger than that).
 */
async function idleKeptAliveSocket(options: string): Promise<{ row: TcpRow; elapsedSec: number }> {
  const rcv = await RawReceiver.start();
  const fwd = await startForwarder(`  <server>\n    host 127.0.0.1\n    port ${rcv.port}\n  </server>\n  heartbeat_type none\n  keepalive true\n${options}${fastBuffer()}`);
  const started = Date.now();
  await fwd.emit([{ seq: 1 }]);
  await waitFor(() => rcv.messages.length === 1, 5000, 'the chunk at the receiver');
  // no retransmit timer left (the kernel saw the ACK): what remains is the idle connection's own timer
  const row = await waitFor(() => {
    const rows = clientSockets(rcv.port);
    return rows.length === 1 && rows[0]!.txQueue === 0 && rows[0]!.timer !== 1 ? rows[0]! : null;
  }, 5000, 'one idle established connection to the receiver');
  const elapsedSec = (Date.now() - started) / 1000;
  expect(rcv.connections).toBe(1);
  return { row, elapsedSec };
}

afterEach(stopAll);

describe('send_keepalive_packet', () => {
  it('turns TCP keepalive on for the kept-alive connection, probing after half of keepalive_timeout', async () => {
    const { row, elapsedSec } = await idleKeptAliveSocket('  send_keepalive_packet true\n  keepalive_timeout 20\n');
    expect(row.timer).toBe(2);
    // armed at connect for 10 s (keepalive_timeout 20 / 2), not the system's default of 2 hours
    expect(row.whenSec).toBeLessThanOrEqual(10);
    expect(row.whenSec).toBeGreaterThanOrEqual(10 - elapsedSec - 0.02);
  });

  it('caps the probe delay at 15 s (keepalive_timeout unset)', async () => {
    const { row, elapsedSec } = await idleKeptAliveSocket('  send_keepalive_packet true\n');
    expect(row.timer).toBe(2);
    expect(row.whenSec).toBeLessThanOrEqual(15);
    expect(row.whenSec).toBeGreaterThanOrEqual(15 - elapsedSec - 0.02);
  });

  it('leaves TCP keepalive off without it', async () => {
    const { row } = await idleKeptAliveSocket('');
    expect(row.timer).toBe(0);
  });
});
