/**
 * Starts `turn-peer-main.ts` (our TurnClient over a node:dgram socket) in a namespace and talks
 * to it over its stdin/stdout, one JSON command per line, for `turn-interop.test.ts`.
 */
import { fileURLToPath } from 'node:url';
import type { TurnStats } from '../../src-engine/ice/turn/client.js';
import type { TurnEvent } from '../../src-engine/ice/turn/events.js';
import type { TransportAddress } from '../../src-engine/ice/transport-address.js';
import type { Netns, NetnsHarness, NsProcess } from './netns.js';

const MAIN = fileURLToPath(new URL('./turn-peer-main.ts', import.meta.url));
/** tsx's loader by URL, so the peer starts the same from any working directory. */
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface TurnPeerConfig {
  readonly name: string;
  readonly bind: TransportAddress;
  readonly servers: readonly TransportAddress[];
  readonly username: string;
  readonly password: string;
  /** The credentials' expiry as the portal sends it (unix seconds). */
  readonly expiresAtUnix?: number;
  readonly lifetimeSeconds?: number;
}

export interface ReceivedData {
  readonly peer: TransportAddress;
  readonly hex: string;
  readonly channel: number | undefined;
}

export interface TurnPeerStatus {
  readonly state: string;
  readonly relayed: readonly TransportAddress[];
  readonly srflx: TransportAddress | undefined;
  readonly local: TransportAddress | undefined;
  readonly stats: TurnStats | undefined;
  readonly drops: Record<string, number>;
  readonly events: readonly TurnEvent[];
}

export type TurnPeerCommand =
  | { cmd: 'allocate'; timeoutMs?: number }
  | { cmd: 'permission'; peer: TransportAddress }
  | { cmd: 'bind'; peer: TransportAddress }
  | { cmd: 'send'; peer: TransportAddress; hex: string; via: 'auto' | 'indication' }
  | { cmd: 'receive'; count: number; timeoutMs?: number }
  | { cmd: 'skip'; ms: number }
  | { cmd: 'waitEvent'; type: TurnEvent['type']; since?: number; timeoutMs?: number }
  | { cmd: 'status' }
  | { cmd: 'free' }
  | { cmd: 'exit' };

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class TurnPeer {
  private nextId = 1;
  private buffer = '';
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private localAddress: TransportAddress | undefined;

  private constructor(readonly process: NsProcess) {
    process.child.stdout?.on('data', (chunk: string) => this.onData(chunk));
  }

  static async start(harness: NetnsHarness, ns: Netns, config: TurnPeerConfig): Promise<TurnPeer> {
    const proc = harness.spawnIn(ns.name, process.execPath, ['--import', TSX, MAIN, JSON.stringify(config)], {
      label: `turn-peer ${config.name}`,
      stdin: 'pipe',
    });
    const peer = new TurnPeer(proc);
    await proc.waitForOutput(/RPC \{"id":0/, 30_000, 'stdout');
    return peer;
  }

  /** The address the peer's socket is bound to. */
  get local(): TransportAddress {
    if (!this.localAddress) throw new Error('turn peer not ready');
    return this.localAddress;
  }

  allocate(timeoutMs?: number): Promise<TurnPeerStatus> {
    return this.call({ cmd: 'allocate', timeoutMs });
  }
  permission(peer: TransportAddress): Promise<TurnEvent> {
    return this.call({ cmd: 'permission', peer });
  }
  bind(peer: TransportAddress): Promise<TurnEvent> {
    return this.call({ cmd: 'bind', peer });
  }
  send(
    peer: TransportAddress,
    data: Uint8Array,
    via: 'auto' | 'indication' = 'auto',
  ): Promise<{ sent: boolean; channelData?: boolean }> {
    return this.call({ cmd: 'send', peer, hex: Buffer.from(data).toString('hex'), via });
  }
  receive(count: number, timeoutMs?: number): Promise<ReceivedData[]> {
    return this.call({ cmd: 'receive', count, timeoutMs });
  }
  skip(ms: number): Promise<TurnPeerStatus> {
    return this.call({ cmd: 'skip', ms });
  }
  waitEvent(type: TurnEvent['type'], since?: number, timeoutMs?: number): Promise<TurnEvent> {
    return this.call({ cmd: 'waitEvent', type, since, timeoutMs });
  }
  status(): Promise<TurnPeerStatus> {
    return this.call({ cmd: 'status' });
  }
  free(): Promise<TurnPeerStatus> {
    return this.call({ cmd: 'free' });
  }

  async exit(): Promise<void> {
    if (!this.process.running) return;
    await this.call({ cmd: 'exit' }).catch(() => undefined);
    await this.process.waitForExit(5_000).catch(() => this.process.kill('SIGKILL'));
  }

  private call<T>(command: TurnPeerCommand): Promise<T> {
    const id = this.nextId++;
    const stdin = this.process.child.stdin;
    if (!stdin || !this.process.running) {
      return Promise.reject(new Error(`${this.process.label} is not running`));
    }
    return new Promise<T>((resolve, reject) => {
      void this.process.exited.then(() =>
        reject(new Error(`${this.process.label} exited during ${command.cmd}`)),
      );
      this.waiting.set(id, (reply) => {
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(`${command.cmd}: ${reply.error ?? 'failed'}`));
      });
      stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (!line.startsWith('RPC ')) continue;
      const reply = JSON.parse(line.slice(4)) as Reply;
      if (reply.id === 0) this.localAddress = (reply.result as { local: TransportAddress }).local;
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    }
  }
}
