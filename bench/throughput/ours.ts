/**
 * Registration point for our tunnel (issue 3, deliverable 5a). Two kinds use it:
 *
 *   ours      ours (a) ⇄ ours (b)
 *   ours-wg   ours (a) ⇄ wireguard-go (b)
 *
 * Contract: "ours" is a script run in a namespace as
 *
 *   ip netns exec <ns> <process.execPath> [...nodeArgs] --import <tsx loader> <script> '<OursTunnelConfig as JSON>'
 *
 * The script creates the TUN interface `ifname`, gives it `address` and `mtu`, brings it up,
 * routes `peerAllowedIps` through it, binds UDP `listenAddress:listenPort`, and runs WireGuard
 * with the one peer. It prints a line starting with `READY` on stdout once the interface is up
 * and the socket is bound (the handshake may still be pending: the benchmark pings until the
 * tunnel answers).
 * It runs until SIGTERM (SIGKILL follows after a grace period). Its process total CPU (all
 * threads, worker_threads included) and that of its children count as tunnel CPU. Logging on
 * the data path would be measured too.
 *
 * To register: set `OURS_TUNNEL` below, or run with `BENCH_OURS_SCRIPT=<path to script>`.
 */
import { fileURLToPath } from 'node:url';
import { genKeyPair } from '../../e2e/system/wireguard-go.js';
import type { TunnelConfig } from '../../src-engine/host/protocol.js';
import type { Netns, NsProcess } from '../../e2e/system/netns.js';
import { INNER_A, INNER_B, INNER_PREFIX, WG_MTU, WG_PORT, type Tunnel, type TunnelKind } from './kind.js';
import { startWireguardGo } from './wireguard-go.js';

/** The JSON object passed as the last argument of the script. */
export interface OursTunnelConfig {
  /** TUN interface to create, e.g. `fzours` (at most 15 characters; TUN names are per namespace). */
  ifname: string;
  /** Our static private key, base64 (from `wg genkey`). */
  privateKey: string;
  /** The peer's static public key, base64. */
  peerPublicKey: string;
  /** Underlay address to bind the UDP socket to, e.g. `10.99.0.1`. */
  listenAddress: string;
  /** UDP port to bind, e.g. 51820. */
  listenPort: number;
  /** The peer's underlay endpoint, `<ipv4>:<port>`, e.g. `10.99.0.2:51820`. */
  peerEndpoint: string;
  /** Our inner address with prefix, e.g. `10.98.0.1/24`. */
  address: string;
  /** The peer's allowed IPs (CIDRs routed into the tunnel), e.g. [`10.98.0.2/32`]. */
  peerAllowedIps: string[];
  /** Interface MTU, 1420 (as wireguard-go). */
  mtu: number;
  /** Force a crypto backend for this tunnel (default: BENCH_OURS_BACKEND, else the fastest). */
  cryptoBackend?: 'sodium' | 'node' | 'noble';
}

/** How to start our tunnel. */
export interface OursTunnelProgram {
  /** Absolute path of the script (TypeScript is fine: it runs under tsx's loader). */
  script: string;
  /** Extra Node options placed before `--import`, e.g. ['--max-semi-space-size=64']. */
  nodeArgs?: string[];
  /** Extra environment variables, e.g. { FZ_CRYPTO: 'noble' }. */
  env?: Record<string, string>;
  /** How long to wait for `READY` (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * Turns the benchmark's config into the JSON the script takes, when the script has its own
   * config format (default: the OursTunnelConfig itself).
   */
  mapConfig?: (config: OursTunnelConfig) => unknown;
}

/**
 * The registered program; undefined until our tunnel exists. For example (with
 * `import { fileURLToPath } from 'node:url'`):
 *
 *   {
 *     script: fileURLToPath(new URL('../../e2e/wg-tunnel/tunnel-main.ts', import.meta.url)),
 *     mapConfig: (c) => ({
 *       privateKey: c.privateKey,
 *       interfaceName: c.ifname,
 *       addresses: [c.address],
 *       mtu: c.mtu,
 *       listen: { address: c.listenAddress, port: c.listenPort },
 *       peers: [{ publicKey: c.peerPublicKey, endpoint: splitEndpoint(c.peerEndpoint), allowedIps: c.peerAllowedIps }],
 *     }),
 *   }
 */
export const OURS_TUNNEL: OursTunnelProgram | undefined = {
  script: fileURLToPath(new URL('../../e2e/wg-tunnel/tunnel-main.ts', import.meta.url)),
  // BENCH_OURS_PROFILE=<dir> writes a V8 CPU profile per thread (main and engine worker) there.
  nodeArgs: process.env.BENCH_OURS_PROFILE
    ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_OURS_PROFILE]
    : [],
  mapConfig: (c): TunnelConfig => ({
    privateKey: c.privateKey,
    interfaceName: c.ifname,
    addresses: [c.address],
    mtu: c.mtu,
    listen: { address: c.listenAddress, port: c.listenPort },
    peers: [
      { publicKey: c.peerPublicKey, endpoint: splitEndpoint(c.peerEndpoint), allowedIps: c.peerAllowedIps },
    ],
    // Firezone's peers send unpadded; padding costs a copy per packet and hides nothing here.
    padding: process.env.BENCH_OURS_PADDING === '1',
    cryptoBackend: c.cryptoBackend ?? parseBackend(process.env.BENCH_OURS_BACKEND),
    batchSize: process.env.BENCH_OURS_BATCH ? Number(process.env.BENCH_OURS_BATCH) : undefined,
    // BENCH_OURS_LANES=2 forces the crypto worker and the second TUN queue (default: the engine's
    // own choice, 2 only with more than two cores).
    cryptoLanes: parseLanes(process.env.BENCH_OURS_LANES),
  }),
};

function parseLanes(value: string | undefined): TunnelConfig['cryptoLanes'] {
  if (value === undefined || value === '') return undefined;
  if (value === '1' || value === '2') return value === '2' ? 2 : 1;
  throw new Error(`BENCH_OURS_LANES must be 1 or 2, not ${JSON.stringify(value)}`);
}

function parseBackend(value: string | undefined): TunnelConfig['cryptoBackend'] {
  if (value === undefined || value === '') return undefined;
  if (value === 'sodium' || value === 'node' || value === 'noble') return value;
  throw new Error(`BENCH_OURS_BACKEND must be sodium, node or noble, not ${JSON.stringify(value)}`);
}

/** The program from BENCH_OURS_SCRIPT (which wins) or OURS_TUNNEL; undefined if neither. */
export function oursProgram(): OursTunnelProgram | undefined {
  const fromEnv = process.env.BENCH_OURS_SCRIPT;
  return fromEnv ? { ...OURS_TUNNEL, script: fromEnv } : OURS_TUNNEL;
}

/** tsx's loader by URL, so the script starts the same from any working directory. */
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const IFNAME = 'fzours';

/** `10.99.0.2:51820` → { address: '10.99.0.2', port: 51820 } (IPv4 endpoints only). */
export function splitEndpoint(endpoint: string): { address: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  return { address: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) };
}

/** Starts our tunnel in `ns` and waits for `READY`. */
export async function startOurs(
  ns: Netns,
  config: OursTunnelConfig,
  env: Record<string, string> = {},
): Promise<NsProcess> {
  const program = oursProgram();
  if (!program) throw new Error(unregistered);
  const json = JSON.stringify(program.mapConfig ? program.mapConfig(config) : config);
  const args = [...(program.nodeArgs ?? []), '--import', TSX, program.script, json];
  const proc = ns.spawn(process.execPath, args, {
    env: { ...program.env, ...env },
    label: `[${ns.name}] ours`,
  });
  // `READY` alone or followed by details (`READY {"interfaceName":…}`).
  await proc.waitForOutput(/^READY\b/m, program.readyTimeoutMs ?? 30_000, 'stdout');
  return proc;
}

const unregistered =
  'our tunnel is not registered: set OURS_TUNNEL in bench/throughput/ours.ts or BENCH_OURS_SCRIPT';

function oursConfig(
  keys: { privateKey: string; peerPublicKey: string },
  self: { underlay: string; inner: string },
  peer: { underlay: string; inner: string },
): OursTunnelConfig {
  return {
    ifname: IFNAME,
    ...keys,
    listenAddress: self.underlay,
    listenPort: WG_PORT,
    peerEndpoint: `${peer.underlay}:${WG_PORT}`,
    address: `${self.inner}/${INNER_PREFIX}`,
    peerAllowedIps: [`${peer.inner}/32`],
    mtu: WG_MTU,
  };
}

function tunnel(
  pids: number[],
  stop: () => Promise<void>[],
  ours: { side: string; proc: NsProcess }[] = [],
): Tunnel {
  return {
    innerA: INNER_A,
    innerB: INNER_B,
    pids,
    teardown: async () => {
      await Promise.all(stop());
      for (const { side, proc } of ours) console.log(dropsLine(side, proc.output));
    },
  };
}

/**
 * Every place our tunnel can lose a packet, from the STATS line it prints at exit: the kernel's
 * TUN queue towards us and its stack after our writes, the UDP socket's receive buffer, sends the
 * kernel refused, and the data path's own drops (socket stayed full, TUN write refused, no peer).
 */
export function dropsLine(side: string, output: string): string {
  const line = output.split('\n').findLast((l) => l.startsWith('STATS '));
  if (!line) return `drops ours (${side}): no STATS line`;
  const s = JSON.parse(line.slice(6)) as {
    tun: Record<string, number>;
    udp: Record<string, number>;
    device: Record<string, number>;
    crypto?: Record<string, number>;
  };
  const fields: [string, number | undefined][] = [
    ['tun-queue', s.tun.kernelQueueDrops],
    ['tun-stack', s.tun.kernelWriteDrops],
    ['tun-invalid', s.tun.droppedInvalid],
    ['udp-receive-buffer', s.udp.receiveDrops],
    ['udp-send-refused', s.udp.sendErrors],
    ['udp-truncated', s.udp.truncated],
    ...Object.entries(s.device).filter(([k]) => /drop/i.test(k)),
  ];
  const offload = `tun-super-reads=${s.tun.superReads ?? 0} tun-coalesced-writes=${s.tun.coalescedWrites ?? 0}`;
  const c = s.crypto;
  // With the crypto worker: how much of the AEAD work it did.
  const lanes =
    c && c.lanes === 2
      ? `; crypto-lanes=2 aead-jobs=${c.jobs ?? 0} by-worker=${c.byWorker ?? 0} parallel-runs=${c.parallelRuns ?? 0}/${c.runs ?? 0}`
      : '';
  return `drops ours (${side}): ${fields.map(([k, v]) => `${k}=${v ?? 'n/a'}`).join(' ')}; ${offload}${lanes}`;
}

const unavailable = (): string | undefined => (oursProgram() ? undefined : unregistered);

/**
 * Ours on both ends, differing only in what `extra` adds to each end's config and `env` to its
 * environment. Each end prints its drop counters when the tunnel is torn down.
 */
function oursPair(
  name: string,
  label: string,
  extra: Partial<OursTunnelConfig> = {},
  env: Record<string, string> = {},
): TunnelKind {
  return {
    name,
    label,
    requires: ['wg'],
    unavailable,
    async setup({ harness, a, b, underlayA, underlayB }) {
      const [ka, kb] = [await genKeyPair(), await genKeyPair()];
      const sideA = { underlay: underlayA, inner: INNER_A };
      const sideB = { underlay: underlayB, inner: INNER_B };
      const [pa, pb] = await Promise.all([
        startOurs(
          a,
          {
            ...oursConfig({ privateKey: ka.privateKey, peerPublicKey: kb.publicKey }, sideA, sideB),
            ...extra,
          },
          env,
        ),
        startOurs(
          b,
          {
            ...oursConfig({ privateKey: kb.privateKey, peerPublicKey: ka.publicKey }, sideB, sideA),
            ...extra,
          },
          env,
        ),
      ]);
      return tunnel([pa.pid, pb.pid], () => [pa.stop(harness.graceMs), pb.stop(harness.graceMs)], [
        { side: 'a', proc: pa },
        { side: 'b', proc: pb },
      ]);
    },
  };
}

export const oursKind: TunnelKind = oursPair('ours', 'ours ⇄ ours');

/** Ours ⇄ ours without TUN offloads (FZ_TUN_OFFLOAD=0): what offloads are worth, in the same run. */
export const oursPlainKind: TunnelKind = oursPair(
  'ours-plain',
  'ours ⇄ ours (no TUN offloads)',
  {},
  { FZ_TUN_OFFLOAD: '0' },
);

/** Ours ⇄ ours with the @noble-only backend: what an Electron build gets if sodium-native fails to load. */
export const oursNobleKind: TunnelKind = oursPair('ours-noble', 'ours ⇄ ours (@noble only)', {
  cryptoBackend: 'noble',
});

export const oursWgKind: TunnelKind = {
  name: 'ours-wg',
  label: 'ours (a) ⇄ wireguard-go (b)',
  requires: ['wg', 'wireguard-go'],
  unavailable,
  async setup({ harness, a, b, underlayA, underlayB }) {
    const [ka, kb] = [await genKeyPair(), await genKeyPair()];
    const wb = await startWireguardGo(
      b,
      { keys: kb, inner: INNER_B, port: WG_PORT },
      { publicKey: ka.publicKey, inner: INNER_A, endpoint: `${underlayA}:${WG_PORT}` },
    );
    const pa = await startOurs(
      a,
      oursConfig(
        { privateKey: ka.privateKey, peerPublicKey: kb.publicKey },
        { underlay: underlayA, inner: INNER_A },
        { underlay: underlayB, inner: INNER_B },
      ),
    );
    return tunnel([pa.pid, wb.process.pid], () => [pa.stop(harness.graceMs), wb.stop()]);
  },
};
