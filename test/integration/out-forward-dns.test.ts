/**
 * out_forward follows a host whose addresses change (a load balancer): the name is looked up again
 * for every new connection, unless expire_dns_cache caches it. The resolver is the only thing
 * replaced here (the host `aggregator.test` answers with whatever `answer` holds); the receivers are
 * real sockets on 127.0.0.1 and 127.0.0.2.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, RawReceiver, startForwarder, stopAll } from './out-forward-util.js';

const dns = vi.hoisted(() => ({ answer: '127.0.0.1', lookups: 0 }));

vi.mock('node:dns/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns/promises')>();
  const lookup = (host: string, opts?: unknown) => {
    if (host !== 'aggregator.test') return (real.lookup as (h: string, o?: unknown) => unknown)(host, opts);
    dns.lookups++;
    return Promise.resolve([{ address: dns.answer, family: 4 }]);
  };
  return { ...real, lookup, default: { ...real, lookup } };
});

afterEach(stopAll);

describe('DNS', () => {
  it('looks the host up on every new connection and follows a changed address', async () => {
    const a = await RawReceiver.start(0, '127.0.0.1');
    const b = await RawReceiver.start(a.port, '127.0.0.2');
    dns.answer = '127.0.0.1';
    dns.lookups = 0;
    const fwd = await startForwarder(`  <server>\n    host aggregator.test\n    port ${a.port}\n  </server>\n  heartbeat_type none\n${fastBuffer()}`);
    for (let i = 0; i < 3; i++) await fwd.emit([{ seq: i }], `test.d${i}`);
    await waitFor(() => a.messages.length >= 3, 5000, '3 chunks to the first address');
    expect(dns.lookups).toBeGreaterThanOrEqual(3);
    dns.answer = '127.0.0.2';
    for (let i = 3; i < 6; i++) await fwd.emit([{ seq: i }], `test.d${i}`);
    await waitFor(() => b.messages.length >= 3, 5000, '3 chunks to the new address');
    expect(a.messages).toHaveLength(3);
  });

  it('expire_dns_cache N keeps the address for N seconds', async () => {
    const a = await RawReceiver.start(0, '127.0.0.1');
    dns.answer = '127.0.0.1';
    dns.lookups = 0;
    const fwd = await startForwarder(`  <server>\n    host aggregator.test\n    port ${a.port}\n  </server>\n  heartbeat_type none\n  expire_dns_cache 60\n${fastBuffer()}`);
    for (let i = 0; i < 4; i++) await fwd.emit([{ seq: i }], `test.e${i}`);
    await waitFor(() => a.messages.length >= 4, 5000, '4 chunks');
    expect(a.connections).toBe(4);
    expect(dns.lookups).toBe(1);
  });
});
