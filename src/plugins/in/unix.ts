/**
 * `@type unix`: the forward protocol over a unix domain socket (Docker's `unix://` address, local
 * clients). Same connection handling as in_forward, acks included; no handshake, no heartbeat.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { LogThrottle } from '../../core/log.js';
import { defineInput, type InputInstance, type PluginContext } from '../../core/plugin.js';
import { ConnectionSet, type ForwardSettings } from './forward/connection.js';
import { decoderOptions, protocolParams, validateProtocol } from './forward/params.js';

export const DEFAULT_SOCKET_PATH = process.env.FLUENT_SOCKET || '/var/run/fluent/fluent.sock';

export const params = defineParams({
  path: p.string({ default: DEFAULT_SOCKET_PATH, desc: 'Path of the unix domain socket (an existing file there is replaced)' }),
  backlog: p.integer({ default: null, min: 1, desc: 'Listen backlog (system default when unset)' }),
  permission: p.string({ default: null, desc: 'Octal file mode of the socket, e.g. 0660 (default: as created under the umask)' }),
  ...protocolParams,
});
export type UnixInputConfig = ParamsOf<typeof params>;

export class UnixInput implements InputInstance {
  private server: Server | null = null;
  private readonly connections = new ConnectionSet();

  constructor(private readonly c: UnixInputConfig, private readonly ctx: PluginContext) {}

  async start(): Promise<void> {
    if (this.server) return;
    const path = this.c.path;
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
      this.ctx.log.warn({ path }, 'found an existing socket file, replacing it');
      unlinkSync(path);
    }
    mkdirSync(dirname(path), { recursive: true });
    const settings: ForwardSettings = {
      ctx: this.ctx,
      decoder: decoderOptions(this.c),
      auth: null,
      denyKeepalive: this.c.deny_keepalive,
      chunkSizeWarnLimit: this.c.chunk_size_warn_limit,
      sourceAddressKey: null,
      sourceHostnameKey: null,
      resolver: null,
      throttle: new LogThrottle(),
    };
    let n = 0;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      this.connections.accept(socket, settings, { address: null, label: `unix:${path}#${++n}` });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, backlog: this.c.backlog ?? undefined }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.ctx.log.error({ error: e.message }, 'unix socket server error'));
    if (this.c.permission !== null) chmodSync(path, parseInt(this.c.permission, 8));
    this.server = server;
    this.ctx.log.info({ path }, 'listening fluent socket');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) server.close(); // also removes the socket file
    await this.connections.stop();
  }

  close(): void {
    this.connections.destroyAll();
  }
}

export default defineInput({
  type: 'unix',
  desc: 'Receive events over the Fluentd forward protocol on a unix domain socket',
  params,
  validate: (c) => {
    const out = validateProtocol(c);
    if (c.permission !== null && !/^0?[0-7]{3}$/.test(c.permission)) out.push({ param: 'permission', message: 'expected an octal mode such as 0660' });
    return out;
  },
  create: (c, ctx) => new UnixInput(c, ctx),
});
