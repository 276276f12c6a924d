/**
 * `@type unix`: the forward protocol over a unix domain socket (Docker's `unix://` address, local
 * clients). Same connection handling as in_forward, acks included; no handshake, no heartbeat.
 */
import cluster from 'node:cluster';
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { claimListener, handoverActive, releaseListener, type ListenSpec } from '../../core/listeners.js';
import { LogThrottle } from '../../core/log.js';
import { defineInput, type InputInstance, type PluginContext } from '../../core/plugin.js';
import { ConnectionSet, type ForwardSettings, type HandedConnections } from './forward/connection.js';
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

  get open_connections(): number {
    return this.connections.size;
  }

  private get spec(): ListenSpec {
    return { proto: 'unix', address: this.c.path, port: 0 };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const path = this.c.path;
    const claimed = await claimListener<Server>(this.spec, 'unix'); // reload: the previous pipeline's socket
    // under a supervisor the socket is shared: a live one was bound for another worker and must stay
    if (!claimed && existsSync(path) && !(cluster.isWorker && (await socketAnswers(path)))) {
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
    const server = claimed?.handle ?? createServer({ allowHalfOpen: true });
    server.on('connection', (socket) => {
      this.connections.accept(socket, settings, { address: null, label: `unix:${path}#${++n}` });
    });
    if (!claimed) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path, backlog: this.c.backlog ?? undefined }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    server.on('error', (e) => this.ctx.log.error({ error: e.message }, 'unix socket server error'));
    if (this.c.permission !== null) chmodSync(path, parseInt(this.c.permission, 8));
    this.server = server;
    if (claimed) {
      if (claimed.carry) this.connections.adopt(claimed.carry as HandedConnections, settings);
      claimed.resume();
    }
    this.ctx.log.info({ path }, 'listening fluent socket');
  }

  /** Closes the socket; during a reload parks it, and the open connections once stopped, for the next pipeline. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    const carry: HandedConnections = { conns: [], destroy() { for (const c of this.conns) c.destroy(); } };
    if (server) await releaseListener(this.spec, 'unix', server, ['connection', 'error'], () => { server.close(); }, carry); // close also removes the socket file
    await this.connections.stop();
    if (handoverActive()) carry.conns.push(...this.connections.handOff().conns);
  }

  close(): void {
    this.connections.destroyAll();
  }
}

/** True when something accepts connections on the unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
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
