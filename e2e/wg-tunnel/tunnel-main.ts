/**
 * A headless WireGuard interface built from our engine: the engine host starts the worker,
 * which opens a real TUN (node-tun), configures it, and runs the batched data path.
 * Prints `READY <json>` once the interface is up; `STATS <json>` on SIGUSR1 and at exit.
 * Used by the real-TUN interop test, the throughput benchmark and the demo.
 *
 * Usage: tunnel-main.ts '<TunnelConfig as JSON>'
 */
import { EngineHost } from '../../src-engine/host/engine-host.js';
import type { TunnelConfig } from '../../src-engine/host/protocol.js';

const config = JSON.parse(process.argv[2] ?? '') as TunnelConfig;
const host = new EngineHost();
// Every error the worker reports is fatal to the tunnel (e.g. the interface was deleted).
host.on('error', (err) => {
  console.error(`engine error: ${err.message}`);
  void shutdown(1);
});
host.on('event', (e) => console.error(`engine event: ${e.event} (peer ${e.peer.slice(0, 8)}…)`));

async function printStats(): Promise<void> {
  console.log(`STATS ${JSON.stringify(await host.stats())}`);
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await printStats().catch(() => undefined);
  await host.stop();
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('SIGUSR1', () => void printStats());
host.on('exit', (code) => {
  if (!stopping) {
    console.error(`engine worker exited unexpectedly (${code})`);
    process.exit(1);
  }
});

try {
  const started = await host.start(config);
  console.log(`READY ${JSON.stringify(started)}`);
} catch (err) {
  console.error(`failed to start: ${(err as Error).message}`);
  process.exit(1);
}
