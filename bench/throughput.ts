/**
 * Tunnel throughput (issue 3, deliverable 5): the same two-namespace topology per tunnel kind,
 * all measured in one run so that ratios are meaningful. Per kind and direction: iperf3 TCP with
 * 1 and 4 streams, tunnel CPU seconds (both ends) per GB moved, ping RTT p50/p99 through the
 * idle tunnel, and ping RTT under load: the same pings during a further 1-stream iperf3 run in
 * that direction (a run of its own, so the pinging cannot touch the throughput and CPU columns;
 * printed as a separate table). Measurements are interleaved across kinds (every kind's 1-stream forward run, then
 * every kind's 4-stream run, ...) so that load from elsewhere on the machine hits all kinds alike.
 *
 *   sudo npm run bench -- throughput
 *   BENCH_SECONDS=3 BENCH_KINDS=wireguard-go,openvpn npx tsx bench/index.ts throughput
 *
 * Environment: BENCH_SECONDS (iperf3 -t, default 10), BENCH_KINDS (comma list; default every
 * available kind), BENCH_PING_COUNT (idle ping, default 500; under load the ping count follows
 * from BENCH_SECONDS), BENCH_OURS_SCRIPT (see throughput/ours.ts). `run()` also returns the
 * numbers (`ThroughputResult`) for `bench/report.ts`.
 * Needs root (network namespaces). The last line is
 *   throughput ours/best-peer=<r> ours/wireguard-go=<r> ours/openvpn=<r>
 * where each ratio is ours ⇄ ours over the peer, single stream, forward direction.
 */
import { accessSync, constants } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { NetnsHarness, pidAlive, removeStale, type Netns } from '../e2e/system/netns.js';
import type { Tunnel, TunnelKind } from './throughput/kind.js';
import {
  cpuSeconds,
  iperf,
  ping,
  waitForTunnel,
  type IperfResult,
  type PingResult,
} from './throughput/measure.js';
import { openvpnKind } from './throughput/openvpn.js';
import { oursKind, oursNobleKind, oursPlainKind, oursWgKind } from './throughput/ours.js';
import { wireguardGoKind } from './throughput/wireguard-go.js';
import { printTable } from './table.js';

/** Every kind, in table order. Peers first: they are the references for the ratios. */
export const KINDS: readonly TunnelKind[] = [
  wireguardGoKind,
  openvpnKind,
  oursKind,
  oursPlainKind,
  oursWgKind,
  oursNobleKind,
];
const PEERS = ['wireguard-go', 'openvpn'] as const;
const SUBJECTS = ['ours', 'ours-plain', 'ours-wg', 'ours-noble'] as const;
const UNDERLAY: [string, string] = ['10.99.0.1', '10.99.0.2'];
const BASE = 'fzb';

type Dir = 'fwd' | 'rev';
const DIRS: readonly Dir[] = ['fwd', 'rev'];
const DIR_LABEL: Record<Dir, string> = { fwd: 'a→b', rev: 'b→a' };

interface DirResult {
  one?: IperfResult;
  four?: IperfResult;
  ping?: PingResult;
  /** The iperf3 run that carried the ping under load, and that ping. */
  loadedRun?: IperfResult;
  loadedPing?: PingResult;
}

/** Ping RTT percentiles and loss. */
export interface PingSummary {
  p50Ms: number;
  p99Ms: number;
  /** Share of echoes without a reply, 0..1. */
  loss: number;
  sent: number;
}

/** One kind, one direction; a field is missing when that measurement failed or did not run. */
export interface DirSummary {
  mbps1?: number;
  mbps4?: number;
  retransmits1?: number;
  retransmits4?: number;
  /** Tunnel CPU seconds (both ends) per GB received. */
  cpuSPerGb1?: number;
  cpuSPerGb4?: number;
  /** Tunnel CPU seconds per wall second during the 1-stream run. */
  cores1?: number;
  /** Ping through the idle tunnel. */
  ping?: PingSummary;
  /** Ping during a 1-stream iperf3 run in this direction, from the sending side. */
  pingLoaded?: PingSummary;
  /** Mbit/s of the iperf3 run that carried the ping under load. */
  mbpsDuringPing?: number;
}

export interface KindSummary {
  name: string;
  label: string;
  fwd: DirSummary;
  rev: DirSummary;
  /** First line of the error, when the kind failed (some fields may still be there). */
  error?: string;
}

export interface ThroughputResult {
  seconds: number;
  pingCount: number;
  /** Pings sent under load per direction. */
  loadedPingCount: number;
  kinds: KindSummary[];
  /** Kinds not measured, with the reason. */
  skipped: string[];
  /** The faster peer (wireguard-go or OpenVPN), 1 stream a→b. */
  bestPeer?: string;
  /** The last line's ratios (ours over the peer, 1 stream a→b); missing when not measurable. */
  ratios: { oursBestPeer?: number; oursWireguardGo?: number; oursOpenvpn?: number };
}

interface Live {
  kind: TunnelKind;
  a: Netns;
  b: Netns;
  tunnel?: Tunnel;
  error?: Error;
  results: Record<Dir, DirResult>;
}

// ---------------------------------------------------------------------------------------------
// Configuration and preflight

function envNumber(name: string, fallback: number, integer: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${raw}`);
  }
  return value;
}

function selectKinds(): { kinds: TunnelKind[]; skipped: string[] } {
  const raw = process.env.BENCH_KINDS;
  if (raw === undefined || raw.trim() === '') {
    const skipped = KINDS.filter((k) => k.unavailable?.()).map((k) => `${k.name} (${k.unavailable?.()})`);
    return { kinds: KINDS.filter((k) => !k.unavailable?.()), skipped };
  }
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !KINDS.some((k) => k.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_KINDS: unknown kind(s) ${unknown.join(', ')}; known: ${KINDS.map((k) => k.name).join(', ')}`,
    );
  }
  const kinds = KINDS.filter((k) => names.includes(k.name));
  for (const k of kinds) {
    const why = k.unavailable?.();
    if (why) throw new Error(`BENCH_KINDS asks for ${k.name}, but ${why}`);
  }
  return { kinds, skipped: [] };
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function preflight(kinds: readonly TunnelKind[]): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the throughput benchmark needs root (it builds network namespaces); run it with sudo');
  }
  const needed = new Set(['ip', 'ss', 'ping', 'iperf3', ...kinds.flatMap((k) => k.requires)]);
  const missing = [...needed].filter((cmd) => !onPath(cmd));
  if (missing.length > 0) {
    throw new Error(
      `missing command(s): ${missing.join(', ')}. Install them with \`sudo bash scripts/setup.sh\`` +
        ` (Debian packages: iproute2, iputils-ping, iperf3, wireguard-go, wireguard-tools, openvpn, openssl).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

async function fail(live: Live, err: unknown, harness: NetnsHarness): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  live.error = new Error(`${message}\n--- process logs ---\n${harness.logs(1500)}`);
  console.error(`  ${live.kind.name}: FAILED: ${firstLine(err)}`);
  await live.tunnel?.teardown().catch(() => undefined);
  live.tunnel = undefined;
  // Whatever a half-built tunnel left running must not load the machine while others are measured.
  const mine = new Set([live.a.name, live.b.name]);
  await Promise.all(
    harness.trackedProcesses.filter((p) => mine.has(p.netns ?? '')).map((p) => p.stop(harness.graceMs)),
  );
}

function assertAlive(live: Live): void {
  const dead = live.tunnel?.pids.filter((pid) => !pidAlive(pid)) ?? [];
  if (dead.length > 0) throw new Error(`tunnel process(es) ${dead.join(', ')} died during the run`);
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

function cpuPerGb(r: IperfResult | undefined): number | undefined {
  return r && r.bytes > 0 ? r.cpuSeconds / (r.bytes / 1e9) : undefined;
}

/**
 * Pings sent under load: 80 a second (`-i 0.01` asks for 100, a loaded machine sends fewer) for
 * the run less its first half second, so that the pings end before the transfer does.
 */
export function loadedPingCount(seconds: number): number {
  return Math.max(10, Math.floor((seconds - 0.5) * 80));
}

/** Half a second after the iperf3 client starts: past its connection set-up. */
const LOADED_PING_DELAY_MS = 500;

async function measureAll(
  harness: NetnsHarness,
  lives: Live[],
  seconds: number,
  pingCount: number,
): Promise<void> {
  for (const live of lives) {
    console.log(`  setting up ${live.kind.label}`);
    try {
      const ctx = { harness, a: live.a, b: live.b, underlayA: UNDERLAY[0], underlayB: UNDERLAY[1] };
      live.tunnel = await live.kind.setup(ctx);
      await waitForTunnel(live.a, live.tunnel.innerB);
    } catch (err) {
      await fail(live, err, harness);
    }
  }
  const steps: { dir: Dir; what: 'one' | 'four' | 'ping' | 'loaded' }[] = DIRS.flatMap((dir) => [
    { dir, what: 'one' as const },
    { dir, what: 'four' as const },
    { dir, what: 'ping' as const },
    { dir, what: 'loaded' as const },
  ]);
  for (const { dir, what } of steps) {
    for (const live of lives) {
      const tunnel = live.tunnel;
      if (!tunnel) continue;
      const reverse = dir === 'rev';
      const tag = `  ${live.kind.name} ${DIR_LABEL[dir]}`;
      try {
        if (what === 'ping') {
          const [from, to] = reverse ? [live.b, tunnel.innerA] : [live.a, tunnel.innerB];
          const p = await ping(from, to, pingCount);
          live.results[dir].ping = p;
          console.log(
            `${tag} ping: p50 ${fmt(p.p50, 3)} ms, p99 ${fmt(p.p99, 3)} ms, ${p.rtts.length}/${p.sent}`,
          );
        } else if (what === 'loaded') {
          // From the sending side, as the idle ping: the echo requests queue behind the bulk data.
          const [from, to] = reverse ? [live.b, tunnel.innerA] : [live.a, tunnel.innerB];
          let pinging: Promise<PingResult> | undefined;
          const r = await iperf(live.a, live.b, tunnel.innerB, {
            seconds,
            streams: 1,
            reverse,
            pids: tunnel.pids,
            onStart: () => {
              pinging = delay(LOADED_PING_DELAY_MS).then(() => ping(from, to, loadedPingCount(seconds)));
              // Awaited below; a rejection before then must not count as unhandled.
              pinging.catch(() => undefined);
            },
          });
          const p = await pinging!;
          live.results[dir].loadedRun = r;
          live.results[dir].loadedPing = p;
          console.log(
            `${tag} ping under load (1 stream, ${fmt(r.mbps, 0)} Mbit/s): p50 ${fmt(p.p50, 3)} ms,` +
              ` p99 ${fmt(p.p99, 3)} ms, ${p.rtts.length}/${p.sent}`,
          );
        } else {
          const streams = what === 'one' ? 1 : 4;
          const r = await iperf(live.a, live.b, tunnel.innerB, {
            seconds,
            streams,
            reverse,
            pids: tunnel.pids,
          });
          live.results[dir][what] = r;
          console.log(
            `${tag} ${streams} stream(s): ${fmt(r.mbps, 0)} Mbit/s, ${r.retransmits ?? 'n/a'} retr,` +
              ` ${fmt(cpuPerGb(r), 2)} CPU s/GB, ${fmt(r.cpuSeconds / r.wallSeconds, 2)} cores`,
          );
        }
        assertAlive(live);
      } catch (err) {
        await fail(live, err, harness);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

function ratio(x: number | undefined, y: number | undefined): string {
  return x === undefined || y === undefined || !(y > 0) ? 'n/a' : (x / y).toFixed(2);
}

function lossOf(p: PingResult): number {
  return (p.sent - p.rtts.length) / p.sent;
}

function report(lives: Live[], skipped: string[]): ThroughputResult['ratios'] & { bestPeer?: string } {
  console.log('\nthroughput per tunnel kind (a→b: iperf3 client in a sends; b→a: -R, server sends;');
  console.log(
    'CPU = both tunnel ends, s per GB received; cores = CPU s / wall s; ping from the sender side)',
  );
  const rows: string[][] = [];
  for (const live of lives) {
    for (const dir of DIRS) {
      const { one, four, ping: p } = live.results[dir];
      rows.push([
        live.kind.label,
        DIR_LABEL[dir],
        fmt(one?.mbps, 0),
        fmt(four?.mbps, 0),
        one || four ? `${one?.retransmits ?? 'n/a'}/${four?.retransmits ?? 'n/a'}` : 'n/a',
        fmt(cpuPerGb(one), 2),
        fmt(cpuPerGb(four), 2),
        fmt(one ? one.cpuSeconds / one.wallSeconds : undefined, 2),
        fmt(p?.p50, 3),
        fmt(p?.p99, 3),
        p ? `${(((p.sent - p.rtts.length) / p.sent) * 100).toFixed(1)}%` : 'n/a',
      ]);
    }
  }
  printTable(
    [
      'kind',
      'dir',
      'Mbit/s 1st',
      'Mbit/s 4st',
      'retr 1st/4st',
      'CPU s/GB 1st',
      'CPU s/GB 4st',
      'cores 1st',
      'ping p50 ms',
      'ping p99 ms',
      'loss',
    ],
    rows,
  );
  for (const s of skipped) console.log(`skipped: ${s}`);
  for (const live of lives) {
    if (live.error) console.log(`FAILED ${live.kind.name}: ${firstLine(live.error)}`);
  }

  console.log(
    '\nping under load (during an iperf3 1-stream run in the same direction, from the sending side;' +
      ' Mbit/s = that run)',
  );
  printTable(
    ['kind', 'dir', 'Mbit/s', 'ping p50 ms', 'ping p99 ms', 'loss'],
    lives.flatMap((live) =>
      DIRS.map((dir) => {
        const { loadedRun: r, loadedPing: p } = live.results[dir];
        return [
          live.kind.label,
          DIR_LABEL[dir],
          fmt(r?.mbps, 0),
          fmt(p?.p50, 3),
          fmt(p?.p99, 3),
          p ? `${(lossOf(p) * 100).toFixed(1)}%` : 'n/a',
        ];
      }),
    ),
  );

  const byName = new Map(lives.map((l) => [l.kind.name, l]));
  const fwdOne = (name: string): number | undefined => byName.get(name)?.results.fwd.one?.mbps;
  const peers = PEERS.filter((p) => fwdOne(p) !== undefined);
  const best = peers.length > 0 ? peers.reduce((x, y) => (fwdOne(y)! > fwdOne(x)! ? y : x)) : undefined;
  const subjects = SUBJECTS.filter((s) => byName.get(s)?.results.fwd.one !== undefined);

  console.log(
    `\nratios (Mbit/s: higher is better; CPU s/GB: lower is better; best-peer = ${best ?? 'n/a'},` +
      ' the faster peer, 1 stream, a→b)',
  );
  if (subjects.length === 0) {
    const why = oursKind.unavailable?.() ?? 'ours was not measured (not selected, or it failed)';
    console.log(`n/a: ${why}`);
  } else {
    const refs = [...PEERS, ...(best ? [best] : [])];
    const rowsR = subjects.flatMap((s) =>
      refs.map((ref, i) => {
        const subject = byName.get(s)!.results;
        const peer = byName.get(ref)?.results;
        return [
          `${s}/${i === PEERS.length ? 'best-peer' : ref}`,
          ...DIRS.flatMap((d) => [
            ratio(subject[d].one?.mbps, peer?.[d].one?.mbps),
            ratio(subject[d].four?.mbps, peer?.[d].four?.mbps),
          ]),
          ratio(cpuPerGb(subject.fwd.one), cpuPerGb(peer?.fwd.one)),
        ];
      }),
    );
    printTable(['ratio', 'a→b 1st', 'a→b 4st', 'b→a 1st', 'b→a 4st', 'CPU s/GB a→b 1st'], rowsR);
  }
  const ours = fwdOne('ours');
  console.log(
    `throughput ours/best-peer=${ratio(ours, best && fwdOne(best))}` +
      ` ours/wireguard-go=${ratio(ours, fwdOne('wireguard-go'))} ours/openvpn=${ratio(ours, fwdOne('openvpn'))}`,
  );
  const num = (x: number | undefined, y: number | undefined): number | undefined =>
    x === undefined || y === undefined || !(y > 0) ? undefined : x / y;
  return {
    bestPeer: best,
    oursBestPeer: num(ours, best && fwdOne(best)),
    oursWireguardGo: num(ours, fwdOne('wireguard-go')),
    oursOpenvpn: num(ours, fwdOne('openvpn')),
  };
}

function finite(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}

function pingSummary(p: PingResult | undefined): PingSummary | undefined {
  return p && { p50Ms: p.p50, p99Ms: p.p99, loss: lossOf(p), sent: p.sent };
}

function dirSummary(r: DirResult): DirSummary {
  return {
    mbps1: finite(r.one?.mbps),
    mbps4: finite(r.four?.mbps),
    retransmits1: r.one?.retransmits,
    retransmits4: r.four?.retransmits,
    cpuSPerGb1: finite(cpuPerGb(r.one)),
    cpuSPerGb4: finite(cpuPerGb(r.four)),
    cores1: finite(r.one ? r.one.cpuSeconds / r.one.wallSeconds : undefined),
    ping: pingSummary(r.ping),
    pingLoaded: pingSummary(r.loadedPing),
    mbpsDuringPing: finite(r.loadedRun?.mbps),
  };
}

// ---------------------------------------------------------------------------------------------

export async function run(): Promise<ThroughputResult> {
  const seconds = envNumber('BENCH_SECONDS', 10, false);
  const pingCount = envNumber('BENCH_PING_COUNT', 500, true);
  const { kinds, skipped } = selectKinds();
  preflight(kinds);
  await removeStale({ base: BASE });
  cpuSeconds([process.pid]); // fails early if /proc is unreadable
  console.log(
    `kinds: ${kinds.map((k) => k.name).join(', ')}; iperf3 TCP ${seconds} s; ping -i 0.01 -c ${pingCount};` +
      ` ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at start`,
  );

  const harness = new NetnsHarness({ base: BASE });
  const lives: Live[] = [];
  try {
    for (const kind of kinds) {
      const a = await harness.createNamespace();
      const b = await harness.createNamespace();
      await harness.connect(a, b, { ipv4: [`${UNDERLAY[0]}/24`, `${UNDERLAY[1]}/24`] });
      lives.push({ kind, a, b, results: { fwd: {}, rev: {} } });
    }
    await measureAll(harness, lives, seconds, pingCount);
  } finally {
    await Promise.all(lives.map((l) => l.tunnel?.teardown().catch(() => undefined)));
    await harness.cleanup();
  }
  for (const live of lives)
    if (live.error) console.error(`\n${live.kind.name} failed:\n${live.error.message}`);
  if (lives.some((l) => l.error)) process.exitCode = 1;
  const { bestPeer, ...ratios } = report(lives, skipped);
  return {
    seconds,
    pingCount,
    loadedPingCount: loadedPingCount(seconds),
    kinds: lives.map((l) => ({
      name: l.kind.name,
      label: l.kind.label,
      fwd: dirSummary(l.results.fwd),
      rev: dirSummary(l.results.rev),
      ...(l.error ? { error: firstLine(l.error) } : {}),
    })),
    skipped,
    bestPeer,
    ratios,
  };
}
