/**
 * One app connection to the helper (platform-neutral): frames in, checked requests run one at a
 * time against this session's device only, responses out, every action logged. When the
 * connection ends, whatever the session set up is removed.
 *
 * Refusals change nothing: a request is parsed and checked completely (./protocol + ./rules in
 * src-engine/platform/tun-helper) before anything runs, and a request for a device that is not
 * this session's never reaches the backend.
 */
import {
  HelperError,
  parseRequest,
  requestIdOf,
  type HelperRequest,
} from '../src-engine/platform/tun-helper/protocol.js';
import type { Logger } from '../src-engine/portal/log.js';
import type { DeviceBackend, PeerInfo } from './backend.js';
import type { UidLimiter } from './limits.js';

/** How a session answers; the transport (Unix socket, named pipe) provides it. */
export interface ResponseSink {
  send(response: unknown, fd?: number): void;
  /** Closes the connection after what was sent. */
  end(): void;
}

/** Only one tunnel at a time on the host: policy routing and DNS are host-wide. */
export class TunnelLock {
  holder: HelperSession | undefined;
}

let nextSessionId = 1;

export class HelperSession {
  readonly id = nextSessionId++;
  private device: string | undefined;
  private backend: DeviceBackend | undefined;
  private chain: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    readonly peer: PeerInfo,
    private readonly sink: ResponseSink,
    private readonly createBackend: (peer: PeerInfo) => DeviceBackend,
    private readonly lock: TunnelLock,
    private readonly limiter: UidLimiter,
    private readonly logger: Logger,
  ) {}

  /** A frame's payload arrived; `fds` came with it (the helper takes none: they are closed by the caller). */
  onFrame(payload: Uint8Array, fdCount: number): void {
    if (this.ended) return;
    const who = this.who();
    const limited = this.limiter.request(this.peer.uid);
    if (limited) {
      this.refuse(requestIdOf(payload), new HelperError('rate-limited', limited), 'request');
      return;
    }
    if (fdCount > 0) {
      this.refuse(
        requestIdOf(payload),
        new HelperError('bad-request', 'the helper accepts no file descriptors'),
        'request',
      );
      return;
    }
    let request: HelperRequest;
    try {
      request = parseRequest(payload);
    } catch (error) {
      this.refuse(requestIdOf(payload), error as HelperError, 'request');
      return;
    }
    // One at a time, in order: an apply must not overtake the open it depends on.
    this.chain = this.chain
      .then(() => this.run(request))
      .catch((error: unknown) => {
        this.logger.error('request failed unexpectedly', { ...who, error: String(error) });
      });
  }

  /** The stream carried a frame that cannot be read: answer once, then close. */
  onBadStream(error: HelperError): void {
    this.refuse(null, error, 'frame');
    this.sink.end();
  }

  /** The connection is gone: remove everything of this session. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.chain;
    await this.teardown('connection closed');
  }

  private async run(request: HelperRequest): Promise<void> {
    if (this.ended) return;
    const fields = { ...this.who(), request: request.type, id: request.id };
    try {
      switch (request.type) {
        case 'open': {
          if (this.device !== undefined)
            throw new HelperError(
              'refused',
              `this connection already has the device ${this.device}; one per connection`,
            );
          const holder = this.lock.holder;
          if (holder !== undefined && holder !== this)
            throw new HelperError(
              'refused',
              `the tunnel is in use by another session (uid ${holder.peer.uid}); one tunnel at a time`,
            );
          this.lock.holder = this;
          const backend = this.createBackend(this.peer);
          let opened;
          try {
            opened = await backend.open();
          } catch (error) {
            this.lock.holder = undefined;
            await backend.close().catch(() => undefined);
            throw error;
          }
          this.backend = backend;
          this.device = opened.name;
          this.sink.send(
            {
              id: request.id,
              ok: true,
              result: {
                device: opened.name,
                mtu: opened.mtu,
                ...(opened.fd !== undefined ? { fd: true } : {}),
                ...(opened.packetPipe !== undefined ? { packetPipe: opened.packetPipe } : {}),
              },
            },
            opened.fd,
          );
          this.logger.info('open: device created', { ...fields, device: opened.name, outcome: 'ok' });
          return;
        }
        case 'apply': {
          this.ownDevice(request.device);
          const { config } = request;
          await this.backend!.apply(config);
          this.sink.send({ id: request.id, ok: true });
          this.logger.info('apply: configured', {
            ...fields,
            device: request.device,
            addresses: config.addresses.join(','),
            mtu: config.mtu,
            routes: config.routes.length,
            dnsServers: config.dns?.servers.length ?? 0,
            outcome: 'ok',
          });
          return;
        }
        case 'close': {
          this.ownDevice(request.device);
          await this.teardown('close request');
          this.sink.send({ id: request.id, ok: true });
          this.logger.info('close: removed', { ...fields, device: request.device, outcome: 'ok' });
          return;
        }
      }
    } catch (error) {
      const helperError =
        error instanceof HelperError ? error : new HelperError('failed', (error as Error).message);
      this.refuse(request.id, helperError, request.type);
    }
  }

  /** Throws unless `device` is the one this session opened. */
  private ownDevice(device: string): void {
    if (this.device === undefined) throw new HelperError('refused', 'no device is open on this connection');
    if (device !== this.device)
      throw new HelperError('refused', `the device ${device} is not this connection's (${this.device})`);
  }

  private async teardown(why: string): Promise<void> {
    const backend = this.backend;
    const device = this.device;
    this.backend = undefined;
    this.device = undefined;
    if (this.lock.holder === this) this.lock.holder = undefined;
    if (!backend) return;
    try {
      await backend.close();
      this.logger.info('session cleaned up', { ...this.who(), device, why, outcome: 'ok' });
    } catch (error) {
      this.logger.error('session clean-up failed', { ...this.who(), device, why, error: String(error) });
    }
  }

  private refuse(id: number | null, error: HelperError, what: string): void {
    this.logger.warn(`${what} refused`, { ...this.who(), id, code: error.code, error: error.message });
    this.sink.send({ id, ok: false, error: { code: error.code, message: error.message } });
  }

  private who(): Record<string, number> {
    return { session: this.id, uid: this.peer.uid, pid: this.peer.pid };
  }
}
