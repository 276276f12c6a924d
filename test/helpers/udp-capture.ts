/** A UDP socket on 127.0.0.1 that keeps every datagram it receives, as text (a stand-in DogStatsD Agent). */
import { createSocket } from 'node:dgram';

export interface UdpCapture {
  port: number;
  /** Datagrams in arrival order. */
  datagrams: string[];
  /** Every line of every datagram. */
  lines(): string[];
  close(): Promise<void>;
}

export async function udpCapture(port = 0): Promise<UdpCapture> {
  const sock = createSocket('udp4');
  const datagrams: string[] = [];
  sock.on('message', (m) => datagrams.push(m.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => resolve());
  });
  return {
    port: sock.address().port,
    datagrams,
    lines: () => datagrams.flatMap((d) => d.split('\n')),
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
