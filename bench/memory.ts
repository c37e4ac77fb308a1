/**
 * Engine memory (issue 13): the real headless client (`src-client/cli.ts`, the engine as the
 * desktop app runs it, without Electron) on the connectivity topology of the system tests — dev
 * portal, coturn, one gateway behind a cone NAT, the client behind another — in network
 * namespaces. Measured three times in one run:
 *
 *   idle       signed in, the two resources of the base config, no connection
 *   resources  1,000 more CIDR resources pushed by the portal (config reload), routes applied
 *   loaded     … and 100 concurrent TCP downloads through the gateway (curl, 32 KiB/s each, so
 *              that all of them are open and moving data while the memory is read)
 *
 * as in the reliability scenario "1,000 resources and 100 concurrent connections on one client".
 * Each time: `process.memoryUsage()` of the client after two full GCs, read through the Node
 * inspector (`bench/memory/inspect.ts`), so RSS and V8 heap come from the same moment and the
 * client needs no code for it; the median of five such readings over 1.2 s, because RSS moves by
 * megabytes between readings as freed pages go back to the OS (heap used is the steadier figure).
 *
 * Why the real client and not the simulation: the simulation runs portal, gateways and client in
 * one process, so its heap cannot be split by owner; here the process is the client alone.
 * What the figures include: the client runs from source under tsx (as `npm run client`), so RSS
 * holds Node itself, tsx's loader thread and the compiled sources. The reference row is a Node
 * process started the same way (tsx, inspector) that runs nothing: subtract it for the engine's
 * own share. Heap is the main isolate's (the headless client has no worker threads).
 *
 * Needs root. Last line: `memory idle_rss_mib=<a> idle_heap_mib=<b> loaded_rss_mib=<c>
 * loaded_heap_mib=<d> reference_rss_mib=<e>`. `run()` returns the numbers (`MemoryResult`).
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { removeStale } from '../e2e/system/netns.js';
import { buildTopology, type ConnectivityTopology } from '../e2e/system/connectivity/topology.js';
import { RESOURCE_IP, System } from '../e2e/system/connectivity/system.js';
import type { ClientStatus } from '../src-engine/client/client-runtime.js';
import { readStatus } from '../src-client/status.js';
import { printTable } from './table.js';

const REPO = new URL('../', import.meta.url).pathname;
const TSX_LOADER = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const BASE = 'fzm';
const CLIENT_INSPECT_PORT = 9229;
const REFERENCE_INSPECT_PORT = 9230;
const RESOURCES = 1_000;
const CONNECTIONS = 100;
const STATUS_TIMEOUT_MS = 30_000;
/** Left alone before each reading, so that start-up and reload work has settled. */
const SETTLE_MS = 5_000;
/**
 * Per download: far more than is read at 32 KiB/s before the reading. With 1 MiB, some servers
 * had sent everything into the client's socket buffer (curl still reading it, the connection in
 * CLOSE-WAIT) before the reading; these stay ESTABLISHED and keep data moving through the tunnel
 * until the topology is torn down.
 */
const DOWNLOAD_BYTES = 256 * 1024 * 1024;
const DOWNLOAD_RATE = '32k';

/** Bytes → MiB. */
const MIB = 1024 * 1024;

export interface MemorySample {
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

export interface MemoryPoint {
  name: 'idle' | 'resources' | 'loaded';
  label: string;
  /** Resources in the client's status. */
  resources: number;
  /** Connections to gateways (WireGuard peers) in the client's status. */
  gatewayConnections: number;
  /** Established TCP connections of the client host to the resource (the downloads). */
  tcpConnections: number;
  memory: MemorySample;
}

export interface MemoryResult {
  method: string;
  /** Node + tsx + inspector, running nothing, started as the client is. */
  reference: MemorySample;
  points: MemoryPoint[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Reads the `process.memoryUsage()` JSON lines `bench/memory/inspect.ts` prints (other lines are
 * ignored) into MiB, each field the median over the readings.
 */
export function parseMemoryUsage(text: string): MemorySample {
  const readings = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Partial<Record<keyof NodeJS.MemoryUsage, number>>);
  if (readings.length === 0) throw new Error(`no memoryUsage readings in: ${text.slice(0, 500)}`);
  const mib = (key: keyof NodeJS.MemoryUsage): number => {
    const values = readings.map((m) => m[key]);
    if (!values.every((v): v is number => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`memoryUsage has no ${key}: ${JSON.stringify(readings)}`);
    }
    return median(values) / MIB;
  };
  return {
    rssMiB: mib('rss'),
    heapUsedMiB: mib('heapUsed'),
    heapTotalMiB: mib('heapTotal'),
    externalMiB: mib('external'),
    arrayBuffersMiB: mib('arrayBuffers'),
  };
}

async function readMemory(topo: ConnectivityTopology, port: number): Promise<MemorySample> {
  const res = await topo.client.exec(
    process.execPath,
    ['--import', TSX_LOADER, join(REPO, 'bench/memory/inspect.ts'), String(port)],
    { timeoutMs: 30_000, cwd: REPO },
  );
  return parseMemoryUsage(res.stdout);
}

async function establishedTo(topo: ConnectivityTopology, ip: string): Promise<number> {
  const res = await topo.client.exec('ss', ['-Htn', 'state', 'established', 'dst', ip], {
    allowFailure: true,
  });
  return res.stdout.split('\n').filter((line) => line.trim() !== '').length;
}

async function point(
  topo: ConnectivityTopology,
  system: System,
  name: MemoryPoint['name'],
  label: string,
): Promise<MemoryPoint> {
  // Not System.status()'s 3 s: with 1,002 resources and 100 downloads on two shared cores, one
  // full run's client took longer to write its status (a large JSON) than that.
  const t0 = performance.now();
  const status: ClientStatus = await readStatus(system.statusSocket, STATUS_TIMEOUT_MS);
  const statusMs = performance.now() - t0;
  const before = await establishedTo(topo, RESOURCE_IP);
  const memory = await readMemory(topo, CLIENT_INSPECT_PORT);
  // The fewer of before and after: every one counted was open during the whole reading.
  const tcpConnections = Math.min(before, await establishedTo(topo, RESOURCE_IP));
  const p: MemoryPoint = {
    name,
    label,
    resources: status.resources.length,
    gatewayConnections: status.connections.length,
    tcpConnections,
    memory,
  };
  console.log(
    `  ${label}: RSS ${memory.rssMiB.toFixed(1)} MiB, heap used ${memory.heapUsedMiB.toFixed(1)} MiB` +
      ` (${p.resources} resources, ${p.gatewayConnections} gateway connection(s), ${tcpConnections} TCP;` +
      ` status answered in ${statusMs.toFixed(0)} ms)`,
  );
  return p;
}

async function reachable(topo: ConnectivityTopology, ip: string, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if ((await topo.ping(ip, { count: 1, waitS: 1 })).received > 0) return;
  }
  throw new Error(`${ip} did not answer through the tunnel within ${withinMs} ms`);
}

export async function run(): Promise<MemoryResult> {
  if (process.getuid?.() !== 0) {
    throw new Error('the memory benchmark needs root (it builds network namespaces); run it with sudo');
  }
  await removeStale({ base: BASE });
  const topo = await buildTopology({
    base: BASE,
    ipv6: false,
    gateways: 1,
    clientNat: 'cone',
    siteNat: 'cone',
  });
  try {
    // Filled in later: the portal re-reads its config when it changes.
    const resources: string[] = [];
    const policies: string[] = [];
    const system = new System(topo, {
      resources,
      policies,
      clientEnv: { NODE_OPTIONS: `--inspect=127.0.0.1:${CLIENT_INSPECT_PORT}` },
    });
    await system.start(1);
    const reference = topo.spawnTsx('client', join(REPO, 'bench/memory/idle.ts'), [], {
      NODE_OPTIONS: `--inspect=127.0.0.1:${REFERENCE_INSPECT_PORT}`,
    });
    await reference.waitForOutput(/READY/, 30_000);

    console.log(`headless client in namespaces; readings after ${SETTLE_MS / 1000} s and two GCs`);
    await delay(SETTLE_MS);
    const referenceMemory = await readMemory(topo, REFERENCE_INSPECT_PORT);
    console.log(
      `  reference (Node + tsx + inspector, nothing loaded): RSS ${referenceMemory.rssMiB.toFixed(1)} MiB,` +
        ` heap used ${referenceMemory.heapUsedMiB.toFixed(1)} MiB`,
    );
    const points = [await point(topo, system, 'idle', 'idle (signed in, 2 resources)')];

    for (let i = 0; i < RESOURCES; i++) {
      resources.push(`{ name: R${i}, type: cidr, address: 10.230.${i >> 8}.${i & 255}/32, site: HQ }`);
      policies.push(`{ group: engineering, resource: R${i} }`);
    }
    await system.writeConfig();
    const total = RESOURCES + 2;
    await system.waitForStatus(
      (s) => s.resources.length === total && (s.interface?.routes.length ?? 0) >= total,
      120_000,
      `the ${total} resources and their routes`,
    );
    await delay(SETTLE_MS);
    points.push(await point(topo, system, 'resources', `${RESOURCES.toLocaleString('en')} resources`));

    await reachable(topo, RESOURCE_IP, 30_000);
    // Never finished: the topology's teardown ends them (curl's own --max-time is the backstop).
    const downloads = Array.from({ length: CONNECTIONS }, () =>
      topo.curl(`http://${RESOURCE_IP}/bytes?n=${DOWNLOAD_BYTES}`, {
        timeoutMs: 300_000,
        args: ['--limit-rate', DOWNLOAD_RATE],
      }),
    );
    for (const d of downloads) d.catch(() => undefined);
    const started = Date.now();
    while ((await establishedTo(topo, RESOURCE_IP)) < CONNECTIONS) {
      if (Date.now() - started > 25_000) {
        throw new Error(`fewer than ${CONNECTIONS} TCP connections after 25 s`);
      }
      await delay(250);
    }
    console.log(
      `  ${CONNECTIONS} TCP connections open after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    await delay(1_000);
    points.push(
      await point(
        topo,
        system,
        'loaded',
        `${RESOURCES.toLocaleString('en')} resources + ${CONNECTIONS} TCP connections`,
      ),
    );
    if (points[2]!.tcpConnections < CONNECTIONS) {
      throw new Error(
        `only ${points[2]!.tcpConnections} of ${CONNECTIONS} TCP connections stayed open while measuring`,
      );
    }

    const mib = (x: number): string => x.toFixed(1);
    console.log('\nclient engine memory (MiB; after two GCs; reference = Node + tsx + inspector alone)');
    printTable(
      ['state', 'RSS', 'RSS − ref', 'heap used', 'heap − ref', 'external', 'resources', 'TCP conns'],
      [
        [
          'reference',
          mib(referenceMemory.rssMiB),
          '',
          mib(referenceMemory.heapUsedMiB),
          '',
          mib(referenceMemory.externalMiB),
          '',
          '',
        ],
        ...points.map((p) => [
          p.label,
          mib(p.memory.rssMiB),
          mib(p.memory.rssMiB - referenceMemory.rssMiB),
          mib(p.memory.heapUsedMiB),
          mib(p.memory.heapUsedMiB - referenceMemory.heapUsedMiB),
          mib(p.memory.externalMiB),
          String(p.resources),
          String(p.tcpConnections),
        ]),
      ],
    );
    const idle = points[0]!.memory;
    const loaded = points[2]!.memory;
    console.log(
      `memory idle_rss_mib=${mib(idle.rssMiB)} idle_heap_mib=${mib(idle.heapUsedMiB)}` +
        ` loaded_rss_mib=${mib(loaded.rssMiB)} loaded_heap_mib=${mib(loaded.heapUsedMiB)}` +
        ` reference_rss_mib=${mib(referenceMemory.rssMiB)}`,
    );
    return {
      method:
        'real headless client (src-client, run from source under tsx) in network namespaces with the dev portal,' +
        ' coturn and one gateway; process.memoryUsage() after two GCs through the Node inspector, median of five' +
        ' readings over 1.2 s (RSS moves by megabytes as freed pages go back to the OS; heap used is steadier)',
      reference: referenceMemory,
      points,
    };
  } finally {
    await topo.destroy();
  }
}
