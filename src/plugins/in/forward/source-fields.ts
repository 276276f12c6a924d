/**
 * `source_address_key` / `source_hostname_key`: the sender's address and hostname (reverse DNS,
 * cached) added to every record a connection receives.
 */
import { reverse } from 'node:dns/promises';
import { EventStream } from '../../../core/event-stream.js';

/** Reverse DNS with a small cache; the address itself when it does not resolve. */
export class HostnameResolver {
  private cache = new Map<string, Promise<string>>();

  resolve(ip: string): Promise<string> {
    let p = this.cache.get(ip);
    if (p === undefined) {
      if (this.cache.size >= 1024) this.cache.clear();
      const timeout = new Promise<string>((r) => setTimeout(() => r(ip), 5000).unref());
      p = Promise.race([reverse(ip).then((names) => names[0] ?? ip, () => ip), timeout]);
      this.cache.set(ip, p);
    }
    return p;
  }
}

export interface SourceFieldSettings {
  readonly sourceAddressKey: string | null;
  readonly sourceHostnameKey: string | null;
  /** Null: the hostname field gets the address itself. */
  readonly resolver: HostnameResolver | null;
}

/** A copy of `stream` with the configured source fields set; `address` is '' for unix sockets. */
export async function addSourceFields(stream: EventStream, s: SourceFieldSettings, address: string): Promise<EventStream> {
  const { sourceAddressKey, sourceHostnameKey, resolver } = s;
  const hostname = sourceHostnameKey !== null ? (resolver && address ? await resolver.resolve(address) : address) : null;
  const events = stream.events();
  for (const e of events) {
    if (sourceAddressKey !== null) e.record[sourceAddressKey] = address;
    if (sourceHostnameKey !== null) e.record[sourceHostnameKey] = hostname;
  }
  return EventStream.fromEvents(events);
}
