/**
 * Measurements through a tunnel: iperf3 TCP (JSON), tunnel CPU from /proc, ping RTT percentiles.
 * Everything runs inside the benchmark's namespaces; nothing touches the host's network.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Netns } from '../../e2e/system/netns.js';

const IPERF_PORT = 5201;
/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK); 100 on Linux). */
const CLK_TCK = 100;

// ---------------------------------------------------------------------------------------------
// CPU accounting

interface ProcStat {
  ppid: number;
  /** utime + stime of the process (all its threads), in ticks. */
  self: number;
  /** cutime + cstime: children already reaped, in ticks. */
  reaped: number;
}

/** Parses /proc/<pid>/stat (the command name may contain spaces and parentheses). */
export function parseProcStat(text: string): ProcStat {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field n is fields[n - 3].
  const num = (n: number): number => Number(fields[n - 3]);
  return { ppid: num(4), self: num(14) + num(15), reaped: num(16) + num(17) };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone
  }
}

/**
 * CPU seconds used so far by `pids`, their threads and their descendants (live ones from
 * /proc, exited ones through the reaped-children totals).
 */
export function cpuSeconds(pids: readonly number[]): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (pid: number): void => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const stat = readStat(pid);
    if (!stat) return;
    ticks += stat.self + stat.reaped;
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const pid of pids) visit(pid);
  return ticks / CLK_TCK;
}

// ---------------------------------------------------------------------------------------------
// iperf3

export interface IperfResult {
  /** Received bit rate (end.sum_received), Mbit/s. */
  mbps: number;
  /** Bytes received. */
  bytes: number;
  /** TCP retransmits of the sender, when iperf3 reports them. */
  retransmits: number | undefined;
  /** Tunnel CPU seconds (both ends) during the client's run. */
  cpuSeconds: number;
  /** Wall time of the client's run, seconds. */
  wallSeconds: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes?: number; bits_per_second?: number };
    sum_sent?: { retransmits?: number };
  };
}

/** Extracts the numbers from `iperf3 -c … -J` output; throws on an iperf3 error. */
export function parseIperfJson(text: string): Pick<IperfResult, 'mbps' | 'bytes' | 'retransmits'> {
  let json: IperfJson;
  try {
    json = JSON.parse(text) as IperfJson;
  } catch {
    throw new Error(`iperf3 printed no JSON:\n${text.slice(0, 2000)}`);
  }
  if (json.error) throw new Error(`iperf3: ${json.error}`);
  const received = json.end?.sum_received;
  if (received?.bits_per_second === undefined || received.bytes === undefined) {
    throw new Error('iperf3 JSON has no end.sum_received');
  }
  return {
    mbps: received.bits_per_second / 1e6,
    bytes: received.bytes,
    retransmits: json.end?.sum_sent?.retransmits,
  };
}

async function waitForListen(ns: Netns, port: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { stdout } = await ns.exec('ss', ['-Hltn', `sport = :${port}`]);
    if (stdout.trim().length > 0) return;
    if (!alive()) throw new Error('iperf3 server exited before listening');
    if (Date.now() > deadline) throw new Error(`iperf3 server not listening on ${port} after 10 s`);
    await delay(25);
  }
}

/**
 * One iperf3 TCP test: a one-shot server (`-s -1`) in `server` bound to `serverIp`, the client
 * in `client`; `reverse` (-R) makes the server the sender.
 */
export async function iperf(
  client: Netns,
  server: Netns,
  serverIp: string,
  options: {
    seconds: number;
    streams: number;
    reverse: boolean;
    pids: readonly number[];
    /**
     * Called just before the iperf3 client starts (the server is already listening), so that a
     * measurement such as ping under load starts with the transfer rather than before it.
     */
    onStart?: () => void;
  },
): Promise<IperfResult> {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', serverIp, '-p', String(IPERF_PORT)], {
    label: `[${server.name}] iperf3 -s`,
  });
  try {
    await waitForListen(server, IPERF_PORT, () => srv.running);
    const args = ['-c', serverIp, '-p', String(IPERF_PORT), '-t', String(options.seconds), '-J'];
    if (options.streams > 1) args.push('-P', String(options.streams));
    if (options.reverse) args.push('-R');
    const cpu0 = cpuSeconds(options.pids);
    const t0 = performance.now();
    options.onStart?.();
    const res = await client.exec('iperf3', args, {
      timeoutMs: options.seconds * 1000 + 30_000,
      allowFailure: true,
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(options.pids) - cpu0;
    const parsed = parseIperfJson(res.stdout);
    return { ...parsed, cpuSeconds: cpu, wallSeconds };
  } finally {
    await srv.stop(1_000);
  }
}

// ---------------------------------------------------------------------------------------------
// ping

export interface PingResult {
  sent: number;
  /** RTTs in ms, one per echo reply. */
  rtts: number[];
  p50: number;
  p99: number;
}

/** RTTs (ms) from ping's per-packet lines (`… icmp_seq=N ttl=64 time=0.123 ms`). */
export function parsePingRtts(output: string): number[] {
  const rtts: number[] = [];
  for (const m of output.matchAll(/icmp_seq=\d+ .*time=([\d.]+) ms/g)) rtts.push(Number(m[1]));
  return rtts;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** `ping -i 0.01 -c <count>` from `ns` to `ip`; loss shows as rtts.length < sent. */
export async function ping(ns: Netns, ip: string, count: number): Promise<PingResult> {
  const res = await ns.exec('ping', ['-n', '-i', '0.01', '-W', '1', '-c', String(count), ip], {
    timeoutMs: count * 50 + 15_000,
    allowFailure: true,
  });
  const rtts = parsePingRtts(res.stdout);
  if (rtts.length === 0) throw new Error(`no ping replies from ${ip}:\n${res.stdout}${res.stderr}`);
  return { sent: count, rtts, p50: percentile(rtts, 50), p99: percentile(rtts, 99) };
}

/** Pings once a second-ish until `ip` answers (the first packet starts a WireGuard handshake). */
export async function waitForTunnel(ns: Netns, ip: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await ns.exec('ping', ['-n', '-c', '1', '-W', '1', ip], { allowFailure: true });
    if (res.code === 0) return;
    if (Date.now() > deadline) throw new Error(`tunnel does not pass traffic: no answer from ${ip}`);
    await delay(200);
  }
}
