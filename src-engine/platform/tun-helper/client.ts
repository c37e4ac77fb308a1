/**
 * The app's side of the privileged TUN helper (Linux; macOS speaks the same protocol over the
 * same kind of socket): the app runs unprivileged, the helper creates the device, passes its fd
 * and applies addresses, routes and DNS within its rules. One connection per provider, open from
 * `open()` to `close()`; when it ends (the app quits or dies), the helper removes everything.
 */
import { closeFd, UnixSocket } from 'node-tun';
import type { ClientInterfaceConfig } from '../../client/client-runtime.js';
import type { Logger } from '../../portal/log.js';
import { silentLogger } from '../../portal/log.js';
import type { TunDevice } from '../../tun/device.js';
import { TUN_MTU } from '../../tun/device.js';
import { LinuxTunDevice } from '../../tun/linux.js';
import { TunProviderError, type TunProvider } from '../tun-provider.js';
import {
  DEFAULT_DARWIN_SOCKET,
  DEFAULT_LINUX_SOCKET,
  openResultSchema,
  responseSchema,
  type ApplyConfig,
  type HelperResponse,
} from './protocol.js';
import { UnixFrameConnection } from './unix-connection.js';

export interface HelperTunProviderOptions {
  /** Default: /run/fz-tun-helper/helper.sock (Linux), /var/run/fz-tun-helper/helper.sock (macOS). */
  readonly socketPath?: string;
  readonly logger?: Logger;
  /** How long one request may take (a config with thousands of routes takes a while). */
  readonly requestTimeoutMs?: number;
}

/** The helper's answer to a request, already checked against the response schema. */
type Reply = { result: unknown; fds: number[] };

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export function defaultHelperSocket(platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? DEFAULT_DARWIN_SOCKET : DEFAULT_LINUX_SOCKET;
}

/** The engine's interface config as the helper's `apply` request carries it. */
export function toApplyConfig(config: ClientInterfaceConfig, mtu = TUN_MTU): ApplyConfig {
  return {
    addresses: [`${config.ipv4}/32`, `${config.ipv6}/128`],
    mtu,
    routes: [...config.routes],
    dns: { servers: [...config.dnsServers], searchDomain: config.searchDomain },
  };
}

/** Maps a helper error code to the provider's. */
function providerCode(code: string): TunProviderError['code'] {
  if (code === 'permission-denied') return 'permission-denied';
  if (code === 'failed') return 'tun-unavailable';
  return 'refused';
}

export class HelperTunProvider implements TunProvider {
  readonly kind = 'helper' as const;
  private readonly socketPath: string;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private connection: UnixFrameConnection | undefined;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private device: string | undefined;
  private tun: TunDevice | undefined;
  private lost: Error | undefined;

  constructor(options: HelperTunProviderOptions = {}) {
    this.socketPath = options.socketPath ?? defaultHelperSocket();
    this.logger = options.logger ?? silentLogger;
    this.timeoutMs = options.requestTimeoutMs ?? 120_000;
  }

  async open(): Promise<TunDevice> {
    if (this.tun) throw new Error('the TUN device is already open');
    this.connect();
    const reply = await this.request({ type: 'open' });
    const parsed = openResultSchema.safeParse(reply.result);
    const fd = reply.fds.shift();
    this.closeFds(reply.fds);
    if (!parsed.success || !parsed.data.fd || fd === undefined) {
      if (fd !== undefined) this.closeFds([fd]);
      throw new TunProviderError('tun-unavailable', 'the TUN helper answered open without a device fd');
    }
    try {
      this.tun = new LinuxTunDevice({ fd });
    } catch (error) {
      this.closeFds([fd]);
      throw new TunProviderError(
        'tun-unavailable',
        `the fd from the TUN helper is not a TUN device: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.device = parsed.data.device;
    this.logger.info('TUN device from the helper', { device: this.device, socket: this.socketPath });
    return this.tun;
  }

  async apply(config: ClientInterfaceConfig): Promise<void> {
    if (!this.device) throw new Error('apply before open');
    await this.request({ type: 'apply', device: this.device, config: toApplyConfig(config) });
  }

  async close(): Promise<void> {
    const tun = this.tun;
    const device = this.device;
    this.tun = undefined;
    this.device = undefined;
    tun?.close();
    const connection = this.connection;
    if (!connection || connection.isClosed) return;
    try {
      if (device) await this.request({ type: 'close', device });
    } finally {
      connection.close();
      this.connection = undefined;
    }
  }

  /** Sends one request and waits for its answer; refusals reject with a mapped TunProviderError. */
  request(body: Record<string, unknown>): Promise<Reply> {
    const connection = this.connection;
    if (!connection || connection.isClosed)
      return Promise.reject(
        new TunProviderError('helper-unavailable', this.lost?.message ?? 'not connected to the TUN helper'),
      );
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new TunProviderError('helper-unavailable', `the TUN helper did not answer ${String(body.type)}`),
        );
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      try {
        connection.send({ id, ...body });
      } catch (error) {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new TunProviderError('helper-unavailable', (error as Error).message, { cause: error }));
      }
    });
  }

  private connect(): void {
    if (this.connection && !this.connection.isClosed) return;
    let socket: UnixSocket;
    try {
      socket = UnixSocket.connect(this.socketPath);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EACCES' || code === 'EPERM')
        throw new TunProviderError(
          'permission-denied',
          `Not allowed to use the TUN helper at ${this.socketPath}: add your user to the group fz-tunnel and sign in again.`,
          { cause: error },
        );
      throw new TunProviderError(
        'helper-unavailable',
        `The TUN helper is not running (${this.socketPath}: ${code ?? (error as Error).message}); start fz-tun-helper.service.`,
        { cause: error },
      );
    }
    this.lost = undefined;
    this.connection = new UnixFrameConnection(socket, {
      onFrame: (payload, fds) => this.onFrame(payload, fds),
      onClose: (reason) => this.onClose(reason),
    });
  }

  private onFrame(payload: Uint8Array, fds: number[]): void {
    let response: HelperResponse;
    try {
      response = responseSchema.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch {
      this.closeFds(fds);
      this.connection?.close();
      return;
    }
    const waiter = response.id === null ? undefined : this.waiting.get(response.id);
    if (!waiter) {
      // A refusal without id (the helper could not read the request, or refused the connection):
      // it concerns the oldest request in flight.
      const oldest = [...this.waiting.entries()][0];
      if (response.ok || !oldest) {
        this.closeFds(fds);
        return;
      }
      this.settle(oldest[0], oldest[1], response, fds);
      return;
    }
    this.settle(response.id!, waiter, response, fds);
  }

  private settle(id: number, waiter: Waiter, response: HelperResponse, fds: number[]): void {
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    if (response.ok) {
      waiter.resolve({ result: response.result, fds });
      return;
    }
    this.closeFds(fds);
    this.logger.warn('the TUN helper refused a request', {
      code: response.error.code,
      message: response.error.message,
    });
    waiter.reject(new TunProviderError(providerCode(response.error.code), response.error.message));
  }

  private onClose(reason: Error | undefined): void {
    this.lost = new Error(`the connection to the TUN helper ended${reason ? `: ${reason.message}` : ''}`);
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      waiter.reject(new TunProviderError('helper-unavailable', this.lost.message, { cause: reason }));
    }
  }

  private closeFds(fds: readonly number[]): void {
    for (const fd of fds) {
      try {
        closeFd(fd);
      } catch {
        // not ours any more
      }
    }
  }
}
