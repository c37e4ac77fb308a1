/**
 * The Windows TUN service. NEVER RUN: written without a Windows machine; it type-checks.
 *
 * The service (LocalSystem) owns the wintun adapter (node-tun's wintun.dll driver) and talks to
 * the app over a named pipe with the same frames and requests as on Linux. Packets cannot be
 * handed over as an fd, so the `open` response names a per-session packet pipe through which
 * the service relays them (2-byte length + packet). Addresses and routes are set with
 * %SystemRoot%\System32\netsh.exe by absolute path, DNS per interface with netsh too.
 *
 * Who is calling: Node's named pipes expose neither the client's process id nor its token, and
 * cannot carry a security descriptor, so this service cannot yet do what SO_PEERCRED and the
 * socket's mode do on Linux. Until a native GetNamedPipeClientProcessId + OpenProcessToken check
 * (and a pipe DACL for the group) exists, `identifyClient` throws and every connection is
 * refused with a clear error: safer than a service that any local user could drive.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TunDevice } from 'node-tun';
import {
  FrameDecoder,
  encodeFrame,
  HelperError,
  type ApplyConfig,
} from '../../src-engine/platform/tun-helper/protocol.js';
import { canonicalCidr, parseStrictCidr } from '../../src-engine/platform/tun-helper/rules.js';
import { encodePacket, PacketPipeDecoder } from '../../src-engine/platform/tun-helper/windows-client.js';
import type { Logger } from '../../src-engine/portal/log.js';
import type { DeviceBackend, OpenedDevice, PeerInfo } from '../backend.js';
import type { UidLimiter } from '../limits.js';
import { HelperSession, TunnelLock, type ResponseSink } from '../session.js';

const NETSH = join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'netsh.exe');
const run = promisify(execFile);

export const NEVER_RUN_ON_WINDOWS =
  'the TUN service has never run on Windows: it cannot identify named-pipe clients yet (needs a native GetNamedPipeClientProcessId/OpenProcessToken check), so it refuses every connection';

/** The caller of a pipe connection. Not implemented (see the top of this file). */
export function identifyClient(_socket: Socket): PeerInfo {
  throw new HelperError('permission-denied', NEVER_RUN_ON_WINDOWS);
}

let adapterCounter = 0;

export class WintunBackend implements DeviceBackend {
  private tun: TunDevice | undefined;
  private packetServer: Server | undefined;
  private client: Socket | undefined;
  private routes = new Set<string>();
  private addresses = new Set<string>();

  constructor(private readonly pipeBase: string) {}

  async open(): Promise<OpenedDevice> {
    const name = `fz-tun${adapterCounter++}`;
    this.tun = TunDevice.open({ name });
    const packetPipe = `${this.pipeBase}-packets-${process.pid}-${adapterCounter}`;
    this.packetServer = createServer((socket) => this.relay(socket));
    await new Promise<void>((resolve, reject) => {
      this.packetServer!.once('error', reject);
      this.packetServer!.listen(packetPipe, resolve);
    });
    return { name: this.tun.name, mtu: 1280, packetPipe };
  }

  async apply(config: ApplyConfig): Promise<void> {
    const name = this.tun?.name;
    if (!name) throw new Error('apply before open');
    for (const family of ['ipv4', 'ipv6'] as const)
      await run(NETSH, [
        'interface',
        family,
        'set',
        'subinterface',
        name,
        `mtu=${config.mtu}`,
        'store=active',
      ]);
    for (const address of config.addresses) {
      if (this.addresses.has(address)) continue;
      const p = parseStrictCidr(address)!;
      await run(NETSH, [
        'interface',
        p.family === 4 ? 'ipv4' : 'ipv6',
        'add',
        'address',
        name,
        address,
        'store=active',
      ]);
    }
    this.addresses = new Set(config.addresses);
    const wanted = new Set(config.routes.map(canonicalCidr));
    for (const route of this.routes)
      if (!wanted.has(route)) await run(NETSH, routeArgs('delete', route, name)).catch(() => undefined);
    for (const route of wanted) if (!this.routes.has(route)) await run(NETSH, routeArgs('add', route, name));
    this.routes = wanted;
    if (config.dns) {
      const v4 = config.dns.servers.filter((s) => !s.includes(':'));
      for (const [i, server] of v4.entries())
        await run(NETSH, [
          'interface',
          'ipv4',
          i === 0 ? 'set' : 'add',
          'dnsservers',
          name,
          ...(i === 0 ? ['static'] : []),
          server,
          'validate=no',
        ]);
    }
  }

  async close(): Promise<void> {
    const name = this.tun?.name;
    if (name)
      for (const route of this.routes)
        await run(NETSH, routeArgs('delete', route, name)).catch(() => undefined);
    this.routes.clear();
    this.client?.destroy();
    this.packetServer?.close();
    // Closing the session removes the adapter (wintun adapters of a process go with it).
    this.tun?.close();
    this.tun = undefined;
  }

  /** Packets between the adapter and the one app connection of this session. */
  private relay(socket: Socket): void {
    const tun = this.tun;
    if (!tun || this.client) {
      socket.destroy();
      return;
    }
    this.client = socket;
    const SLOT = 2048;
    const buffer = new Uint8Array(SLOT * 64);
    const lengths = new Uint32Array(64);
    tun.startReading(
      buffer,
      SLOT,
      0,
      lengths,
      64,
      (count) => {
        for (let i = 0; i < count; i++)
          socket.write(encodePacket(buffer.subarray(i * SLOT, i * SLOT + lengths[i]!)));
      },
      () => socket.destroy(),
    );
    const decoder = new PacketPipeDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const packet of decoder.push(chunk)) tun.writePacket(packet);
    });
    socket.on('close', () => tun.stopReading());
  }
}

function routeArgs(verb: 'add' | 'delete', cidr: string, name: string): string[] {
  return ['interface', cidr.includes(':') ? 'ipv6' : 'ipv4', verb, 'route', cidr, name, 'store=active'];
}

export interface WindowsHelperServiceOptions {
  readonly pipePath: string;
  readonly limiter: UidLimiter;
  readonly logger: Logger;
}

export class WindowsHelperService {
  private server: Server | undefined;
  private readonly sessions = new Set<HelperSession>();
  private readonly lock = new TunnelLock();

  constructor(private readonly options: WindowsHelperServiceOptions) {}

  async listen(): Promise<void> {
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.pipePath, resolve);
    });
    this.options.logger.warn(NEVER_RUN_ON_WINDOWS);
  }

  async close(): Promise<void> {
    this.server?.close();
    await Promise.allSettled([...this.sessions].map((s) => s.end()));
  }

  private accept(socket: Socket): void {
    const { logger, limiter } = this.options;
    let peer: PeerInfo;
    try {
      peer = identifyClient(socket);
    } catch (error) {
      logger.warn('connection refused', { error: (error as Error).message });
      socket.end(
        encodeFrame({
          id: null,
          ok: false,
          error: { code: 'permission-denied', message: (error as Error).message },
        }),
      );
      return;
    }
    const limited = limiter.connect(peer.uid);
    if (limited) {
      socket.end(encodeFrame({ id: null, ok: false, error: { code: 'rate-limited', message: limited } }));
      return;
    }
    const sink: ResponseSink = {
      send: (response) => void socket.write(encodeFrame(response)),
      end: () => socket.end(),
    };
    const session = new HelperSession(
      peer,
      sink,
      () => new WintunBackend(this.options.pipePath),
      this.lock,
      limiter,
      logger,
    );
    this.sessions.add(session);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) session.onFrame(frame, 0);
      } catch (error) {
        session.onBadStream(error as HelperError);
      }
    });
    socket.on('close', () => {
      limiter.disconnect(peer.uid);
      void session.end().finally(() => this.sessions.delete(session));
    });
  }
}
