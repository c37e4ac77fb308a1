/** Starts `peer-main.ts` in a namespace and talks to it over its stdin/stdout. */
import { fileURLToPath } from 'node:url';
import type { NetnsHarness, Netns, NsProcess } from '../system/netns.js';
import type { PeerCommand, PeerConfig, PeerStats, PingResult } from './protocol.js';

const MAIN = fileURLToPath(new URL('./peer-main.ts', import.meta.url));
/** tsx's loader by URL, so the peer starts the same from any working directory. */
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class PeerClient {
  private nextId = 1;
  private buffer = '';
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private readyResult: { port: number } | undefined;

  private constructor(readonly process: NsProcess) {
    process.child.stdout?.on('data', (chunk: string) => this.onData(chunk));
  }

  /** Spawns the peer in `ns` and waits until it listens. */
  static async start(
    harness: NetnsHarness,
    ns: Netns,
    config: PeerConfig,
    label = 'our-peer',
  ): Promise<PeerClient> {
    const proc = harness.spawnIn(ns.name, process.execPath, ['--import', TSX, MAIN, JSON.stringify(config)], {
      label,
      stdin: 'pipe',
    });
    const client = new PeerClient(proc);
    await proc.waitForOutput(/RPC \{"id":0/, 30_000, 'stdout');
    return client;
  }

  get port(): number {
    return this.readyResult?.port ?? -1;
  }

  initiate(timeoutMs?: number): Promise<{ handshakeMs: number }> {
    return this.call({ cmd: 'initiate', timeoutMs });
  }

  ping(
    count: number,
    options: { window?: number; timeoutMs?: number; payloadSize?: number } = {},
  ): Promise<PingResult> {
    return this.call({ cmd: 'ping', count, ...options });
  }

  skip(ms: number): Promise<unknown> {
    return this.call({ cmd: 'skip', ms });
  }

  rebind(): Promise<{ port: number }> {
    return this.call({ cmd: 'rebind' });
  }

  stats(): Promise<PeerStats> {
    return this.call({ cmd: 'stats' });
  }

  waitHandshakes(count: number, timeoutMs?: number): Promise<PeerStats> {
    return this.call({ cmd: 'waitHandshakes', count, timeoutMs });
  }

  async exit(): Promise<void> {
    if (!this.process.running) return;
    await this.call({ cmd: 'exit' }).catch(() => undefined);
    await this.process.waitForExit(5_000).catch(() => this.process.kill('SIGKILL'));
  }

  private call<T>(command: PeerCommand): Promise<T> {
    const id = this.nextId++;
    const stdin = this.process.child.stdin;
    if (!stdin || !this.process.running)
      return Promise.reject(new Error(`${this.process.label} is not running`));
    return new Promise<T>((resolve, reject) => {
      const onExit = (): void => reject(new Error(`${this.process.label} exited during ${command.cmd}`));
      void this.process.exited.then(onExit);
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
      if (reply.id === 0) this.readyResult = reply.result as { port: number };
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    }
  }
}
