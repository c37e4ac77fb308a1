/**
 * The usual tools, run in a host's namespace with time-outs and parsed results: curl, ping,
 * iperf3 (client) and dig.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from './host.js';

export interface CurlResult {
  status: number;
  /** The body as UTF-8 (empty when `sha256` was asked for). */
  body: string;
  bytes: number;
  /** Hex SHA-256 of the body, when asked for. */
  sha256?: string;
  timeTotalS: number;
}

export interface CurlOptions {
  timeoutMs?: number;
  /** Hash the body instead of returning it (for large downloads); needs `tmpDir`. */
  sha256?: boolean;
  tmpDir?: string;
  /** Extra curl arguments (e.g. ['--interface', 'eth0']). */
  args?: string[];
}

let downloads = 0;

export async function curl(host: Host, url: string, options: CurlOptions = {}): Promise<CurlResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let file: string | undefined;
  if (options.sha256) {
    if (options.tmpDir === undefined) throw new Error('curl with sha256 needs tmpDir');
    file = join(options.tmpDir, `curl-${process.pid}-${downloads++}.bin`);
  }
  const marker = '\n@@curl@@';
  const res = await host.exec(
    'curl',
    [
      '-sS',
      '--max-time',
      String(Math.max(1, Math.ceil(timeoutMs / 1000))),
      '-g',
      ...(file !== undefined ? ['-o', file] : []),
      '-w',
      `${marker}%{http_code} %{size_download} %{time_total}`,
      ...(options.args ?? []),
      url,
    ],
    { timeoutMs: timeoutMs + 5_000 },
  );
  const at = res.stdout.lastIndexOf(marker);
  const [status, bytes, time] = res.stdout
    .slice(at + marker.length)
    .trim()
    .split(' ');
  const result: CurlResult = {
    status: Number(status),
    body: file === undefined ? res.stdout.slice(0, at) : '',
    bytes: Number(bytes),
    timeTotalS: Number(time),
  };
  if (file !== undefined) {
    try {
      result.sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    } finally {
      rmSync(file, { force: true });
    }
  }
  return result;
}

export interface PingResult {
  transmitted: number;
  received: number;
  lossPercent: number;
  /** Average round-trip time, or null when nothing came back. */
  avgRttMs: number | null;
  output: string;
  /** Why nothing was sent (e.g. "connect: Network is unreachable"), when ping could not send. */
  error?: string;
}

export interface PingOptions {
  count?: number;
  /** Seconds between echoes (root may go down to 0.001). */
  intervalS?: number;
  /** Seconds to wait for each reply. */
  waitS?: number;
  /** Payload size (-s). */
  size?: number;
  /** Set DF / prohibit fragmentation (-M do), for path-MTU checks. */
  dontFragment?: boolean;
}

/** ping (v4 or v6 from the address); never throws on loss, only on a failure to run. */
export async function ping(host: Host, destination: string, options: PingOptions = {}): Promise<PingResult> {
  const count = options.count ?? 3;
  const intervalS = options.intervalS ?? 0.2;
  const waitS = options.waitS ?? 2;
  const args = [
    ...(destination.includes(':') ? ['-6'] : ['-4']),
    '-n',
    '-q',
    '-c',
    String(count),
    '-i',
    String(intervalS),
    '-W',
    String(waitS),
    ...(options.size !== undefined ? ['-s', String(options.size)] : []),
    ...(options.dontFragment ? ['-M', 'do'] : []),
    destination,
  ];
  const res = await host.exec('ping', args, {
    allowFailure: true,
    timeoutMs: (count * intervalS + waitS + 10) * 1000,
  });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(res.stdout);
  if (!m) {
    // No statistics: ping could not send at all (e.g. "Network is unreachable": no route).
    if (res.code === 2 && res.stderr.trim() !== '') {
      return {
        transmitted: 0,
        received: 0,
        lossPercent: 100,
        avgRttMs: null,
        output: res.stdout,
        error: res.stderr.trim(),
      };
    }
    throw new Error(`ping ${destination} from ${host.name} failed: ${res.stderr || res.stdout}`);
  }
  const transmitted = Number(m[1]);
  const received = Number(m[2]);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(res.stdout);
  return {
    transmitted,
    received,
    lossPercent: transmitted === 0 ? 100 : (100 * (transmitted - received)) / transmitted,
    avgRttMs: rtt ? Number(rtt[1]) : null,
    output: res.stdout,
  };
}

export interface Iperf3Options {
  seconds?: number;
  udp?: boolean;
  /** Target bitrate, e.g. '50M' (UDP default in iperf3 is 1 Mbit/s). */
  bitrate?: string;
  /** Server sends, client receives (-R). */
  reverse?: boolean;
  port?: number;
  parallel?: number;
}

export interface Iperf3Result {
  /** Received bits per second (TCP: sum_received; UDP: the receiver's rate). */
  bitsPerSecond: number;
  bytes: number;
  /** UDP only. */
  lostPercent?: number;
  report: unknown;
}

export async function iperf3(host: Host, server: string, options: Iperf3Options = {}): Promise<Iperf3Result> {
  const seconds = options.seconds ?? 2;
  const res = await host.exec(
    'iperf3',
    [
      '-c',
      server,
      '-J',
      '-t',
      String(seconds),
      '-p',
      String(options.port ?? 5201),
      '--connect-timeout',
      '3000',
      ...(options.udp ? ['-u'] : []),
      ...(options.bitrate !== undefined ? ['-b', options.bitrate] : []),
      ...(options.reverse ? ['-R'] : []),
      ...(options.parallel !== undefined ? ['-P', String(options.parallel)] : []),
    ],
    { timeoutMs: (seconds + 15) * 1000, allowFailure: true },
  );
  let report: {
    error?: string;
    end?: {
      sum_received?: { bits_per_second: number; bytes: number };
      sum?: { bits_per_second: number; bytes: number; lost_percent?: number };
    };
  };
  try {
    report = JSON.parse(res.stdout) as typeof report;
  } catch {
    throw new Error(`iperf3 from ${host.name} to ${server}: no JSON report\n${res.stderr || res.stdout}`);
  }
  if (report.error !== undefined || res.code !== 0) {
    throw new Error(`iperf3 from ${host.name} to ${server} failed: ${report.error ?? res.stderr}`);
  }
  const sum = options.udp ? report.end?.sum : report.end?.sum_received;
  if (!sum) throw new Error(`iperf3 report without a summary: ${res.stdout.slice(0, 2000)}`);
  return {
    bitsPerSecond: sum.bits_per_second,
    bytes: sum.bytes,
    ...(options.udp ? { lostPercent: report.end?.sum?.lost_percent ?? 0 } : {}),
    report,
  };
}

export interface DigOptions {
  server: string;
  port?: number;
  type?: 'A' | 'AAAA' | 'TXT' | 'CNAME' | 'PTR' | 'SRV' | 'ANY';
  timeoutS?: number;
  tries?: number;
  /** Ask over TCP (`+tcp`). */
  tcp?: boolean;
}

export interface DigResult {
  /** NOERROR, NXDOMAIN, SERVFAIL, …, or TIMEOUT. */
  status: string;
  /** The answer records' data (`+short` style). */
  answers: string[];
  output: string;
}

export async function dig(host: Host, name: string, options: DigOptions): Promise<DigResult> {
  const timeoutS = options.timeoutS ?? 2;
  const tries = options.tries ?? 2;
  const res = await host.exec(
    'dig',
    [
      `@${options.server}`,
      '-p',
      String(options.port ?? 53),
      name,
      options.type ?? 'A',
      `+time=${timeoutS}`,
      `+tries=${tries}`,
      ...(options.tcp ? ['+tcp'] : []),
      '+noall',
      '+comments',
      '+answer',
    ],
    { allowFailure: true, timeoutMs: (timeoutS * tries + 10) * 1000 },
  );
  if (res.code === 9 || /connection timed out|no servers could be reached/.test(res.stdout)) {
    return { status: 'TIMEOUT', answers: [], output: res.stdout };
  }
  if (res.code !== 0) throw new Error(`dig from ${host.name} failed: ${res.stderr || res.stdout}`);
  const status = /status: ([A-Z]+)/.exec(res.stdout)?.[1] ?? 'UNKNOWN';
  const answers = res.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.trim().split(/\s+/).slice(4).join(' '));
  return { status, answers, output: res.stdout };
}
