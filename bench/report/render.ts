/**
 * The pure half of `npm run bench -- report`: turns the collected results into the Markdown
 * report, the README's section, and the throughput plot; and swaps the README's marked section.
 * No I/O here, so all of it is unit-tested (`render.test.ts`).
 */
import type { DnsResult } from '../dns.js';
import type { MemoryResult } from '../memory.js';
import type { SetupResult } from '../setup.js';
import type { DirSummary, PingSummary, ThroughputResult } from '../throughput.js';
import { responderOf, type HandshakeReport } from './capture.js';
import { barChartSvg } from './svg.js';

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  /** Short commit hash of HEAD, with `+` when the working tree had changes. */
  commit: string;
  /** 1-minute load average when the report started. */
  loadAverage: number;
}

/** A benchmark's result, or why there is none; seconds = its wall time. */
export type Outcome<T> = { result: T; seconds: number } | { error: string; seconds: number };

export interface ReportData {
  /** ISO 8601 start time, UTC. */
  date: string;
  machine: MachineInfo;
  /** The BENCH_* variables set for the run. */
  settings: Record<string, string>;
  throughput?: Outcome<ThroughputResult>;
  setup?: Outcome<SetupResult>;
  dns?: Outcome<DnsResult>;
  handshake?: Outcome<HandshakeReport>;
  memory?: Outcome<MemoryResult>;
}

/** `report-2026-01-31T09-05-00Z`: the ISO date and time, with `-` for `:` (portable file names). */
export function reportStem(date: Date): string {
  return `report-${date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-')}`;
}

/**
 * Replaces what lies between the README's markers (kept themselves) with `content`. Throws when
 * the markers are missing, doubled or out of order, rather than guess where the section goes.
 */
export function replaceMarkedSection(text: string, content: string): string {
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start === -1 || end === -1)
    throw new Error(`the README has no ${README_START} … ${README_END} section`);
  if (text.indexOf(README_START, start + 1) !== -1 || text.indexOf(README_END, end + 1) !== -1) {
    throw new Error('the README has more than one bench section');
  }
  if (end < start) throw new Error(`${README_END} comes before ${README_START} in the README`);
  const body = content.endsWith('\n') ? content : `${content}\n`;
  return `${text.slice(0, start + README_START.length)}\n${body}${text.slice(end)}`;
}

// ---------------------------------------------------------------------------------------------
// Formatting

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A number, maybe with a unit or a second number after a slash, or a placeholder. */
const NUMERIC = /^(n\/a|–|[-+]?\d[\d.,]*\s*(%|µs|ns|ms|×)?(\s*\/\s*(n\/a|[-+]?\d[\d.,]*))?)?$/;

/**
 * A GitHub-flavoured Markdown table: the first column and columns of text left-aligned, columns
 * whose every cell is a number (or n/a) right-aligned.
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const numeric = (i: number): boolean =>
    rows.length > 0 && rows.every((r) => NUMERIC.test((r[i] ?? '').trim()));
  const rule = `|${header.map((_, i) => (i > 0 && numeric(i) ? ' ---: ' : ' --- ')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function ms(p: PingSummary | undefined): [string, string] {
  return [fixed(p?.p50Ms, 3), fixed(p?.p99Ms, 3)];
}

function loss(p: PingSummary | undefined): string {
  return p ? `${(p.loss * 100).toFixed(1)} %` : 'n/a';
}

const DIRS = [
  ['fwd', 'a→b'],
  ['rev', 'b→a'],
] as const;

function failed<T>(o: Outcome<T> | undefined): string | undefined {
  if (o === undefined) return 'not run';
  return 'error' in o ? `failed: ${o.error}` : undefined;
}

function ok<T>(o: Outcome<T> | undefined): T | undefined {
  return o !== undefined && 'result' in o ? o.result : undefined;
}

// ---------------------------------------------------------------------------------------------
// Plot

export const PLOT_SERIES = [
  { name: 'a→b, 1 stream', color: '#1f6fb2', pick: (d: { fwd: DirSummary }) => d.fwd.mbps1 },
  { name: 'a→b, 4 streams', color: '#7fb2e0', pick: (d: { fwd: DirSummary }) => d.fwd.mbps4 },
  { name: 'b→a, 1 stream', color: '#d9822b', pick: (d: { rev: DirSummary }) => d.rev.mbps1 },
  { name: 'b→a, 4 streams', color: '#f2c08f', pick: (d: { rev: DirSummary }) => d.rev.mbps4 },
] as const;

/** The throughput plot: Mbit/s per kind (x: the kind's short name), per direction and stream count. */
export function throughputSvg(t: ThroughputResult, date: string): string {
  return barChartSvg({
    title: `iperf3 TCP throughput per tunnel kind (${t.seconds} s runs, ${date.slice(0, 10)})`,
    // Kinds come and go (BENCH_KINDS, new variants): their set-ups are in the report's table.
    xLabel: 'tunnel kind (both ends; what each kind is: the table in bench/results/latest.md)',
    yLabel: 'Mbit/s',
    series: PLOT_SERIES.map(({ name, color }) => ({ name, color })),
    groups: t.kinds.map((k) => ({ label: k.name, values: PLOT_SERIES.map((s) => s.pick(k)) })),
  });
}

// ---------------------------------------------------------------------------------------------
// Report sections

function header(d: ReportData): string[] {
  const m = d.machine;
  const settings = Object.entries(d.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return [
    `# Benchmark report, ${d.date}`,
    '',
    'Written by `npm run bench -- report` (`bench/report.ts`); every number below comes from this one run.',
    'Absolute numbers move by ±20 % between runs on a shared machine: compare within the report.',
    '',
    markdownTable(
      ['run', ''],
      [
        ['date (UTC)', d.date],
        ['CPU', `${m.cpu}, ${m.cores} cores`],
        ['memory', `${m.memoryGiB.toFixed(1)} GiB`],
        ['OS, kernel', `${m.os}, Linux ${m.kernel}`],
        ['Node', m.node],
        ['commit', m.commit],
        ['load average at start', m.loadAverage.toFixed(2)],
        ['settings', settings === '' ? 'defaults' : settings],
      ],
    ),
  ];
}

function throughputSection(d: ReportData, plot: string | undefined): string[] {
  const out = ['', '## Throughput and CPU per GB', ''];
  const why = failed(d.throughput);
  const t = ok(d.throughput);
  if (why !== undefined || t === undefined) return [...out, `Not measured (${why}).`];
  out.push(
    `wireguard-go, OpenVPN and our tunnel in the same run (\`bench/throughput.ts\`): two network namespaces over a veth` +
      ` per kind, iperf3 TCP for ${t.seconds} s per run, 1 and 4 streams, both directions (a→b: the iperf3 client` +
      ` sends; b→a: -R). CPU = tunnel processes of both ends, seconds per GB received. Ping: ${t.pingCount} echoes` +
      ` at 10 ms through the idle tunnel, from the sending side.`,
    '',
    markdownTable(
      [
        'kind',
        'dir',
        'Mbit/s 1 stream',
        'Mbit/s 4 streams',
        'CPU s/GB 1 stream',
        'CPU s/GB 4 streams',
        'cores 1 stream',
        'ping p50 ms',
        'ping p99 ms',
        'loss',
      ],
      t.kinds.flatMap((k) =>
        DIRS.map(([dir, label]) => {
          const r = k[dir];
          return [
            k.label,
            label,
            fixed(r.mbps1, 0),
            fixed(r.mbps4, 0),
            fixed(r.cpuSPerGb1, 2),
            fixed(r.cpuSPerGb4, 2),
            fixed(r.cores1, 2),
            ...ms(r.ping),
            loss(r.ping),
          ];
        }),
      ),
    ),
    '',
    `Ratios, ours over the peer, 1 stream a→b (higher is better): ours/best-peer ${fixed(t.ratios.oursBestPeer, 2)}` +
      ` (best peer: ${t.bestPeer ?? 'n/a'}), ours/wireguard-go ${fixed(t.ratios.oursWireguardGo, 2)},` +
      ` ours/openvpn ${fixed(t.ratios.oursOpenvpn, 2)}.`,
  );
  for (const s of t.skipped) out.push('', `Skipped: ${s}.`);
  for (const k of t.kinds) if (k.error) out.push('', `Failed: ${k.name}: ${k.error}`);
  if (plot) out.push('', `![Throughput per tunnel kind](${plot})`);
  out.push(
    '',
    '### Ping under load',
    '',
    `The same ping (${t.loadedPingCount} echoes at 10 ms, from the sending side) during a further 1-stream iperf3 run` +
      " in the same direction, started half a second into it; Mbit/s is that run's.",
    '',
    markdownTable(
      ['kind', 'dir', 'Mbit/s', 'ping p50 ms', 'ping p99 ms', 'loss', 'idle p50 ms'],
      t.kinds.flatMap((k) =>
        DIRS.map(([dir, label]) => {
          const r = k[dir];
          return [
            k.label,
            label,
            fixed(r.mbpsDuringPing, 0),
            ...ms(r.pingLoaded),
            loss(r.pingLoaded),
            fixed(r.ping?.p50Ms, 3),
          ];
        }),
      ),
    ),
  );
  return out;
}

function setupSection(d: ReportData): string[] {
  const out = ['', '## Connection set-up', ''];
  const why = failed(d.setup);
  const s = ok(d.setup);
  if (why !== undefined || s === undefined) return [...out, `Not measured (${why}).`];
  const rtts = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
  out.push(
    `From the first packet to a resource without a connection to its reply (\`bench/setup.ts\`), in the deterministic` +
      ` simulation with ${s.hopMs} ms one-way per hop; in multiples of the path RTT, median of ${s.seeds} seeds.` +
      ` Phases: portal (authorization), ICE (pair selected), WireGuard (handshake), first packet (its reply).`,
    '',
    markdownTable(
      [
        'path',
        'selected pair',
        'RTT ms',
        'set-up ms',
        'set-up RTTs',
        'portal',
        'ICE',
        'WireGuard',
        'first packet',
      ],
      s.paths.map((p) => [
        p.name,
        p.selectedPairs.join(', '),
        p.rttMs.toFixed(0),
        p.setupMs.toFixed(0),
        p.setupRtts.toFixed(2),
        rtts(p.phasesRtts.portal),
        rtts(p.phasesRtts.ice),
        rtts(p.phasesRtts.wireguard),
        rtts(p.phasesRtts.firstPacket),
      ]),
    ),
  );
  return out;
}

function dnsSection(d: ReportData): string[] {
  const out = ['', '## DNS latency', ''];
  const why = failed(d.dns);
  const r = ok(d.dns);
  if (why !== undefined || r === undefined) return [...out, `Not measured (${why}).`];
  out.push(
    `The client's stub resolver (\`bench/dns.ts\`), ${r.queries.toLocaleString('en')} UDP A queries per path, µs from the` +
      " query's bytes in to the reply's bytes out; forwarded names against an in-process upstream that answers at" +
      ' once (our own overhead only). Resource matcher: ns per lookup with 10 and 10,000 resources.',
    '',
    markdownTable(
      ['what', 'p50', 'p99'],
      [
        [
          'resource name (answered locally)',
          `${r.resource.p50Us.toFixed(1)} µs`,
          `${r.resource.p99Us.toFixed(1)} µs`,
        ],
        ['forwarded name', `${r.forwarded.p50Us.toFixed(1)} µs`, `${r.forwarded.p99Us.toFixed(1)} µs`],
        ['matcher, 10 resources', `${r.matcher.ns10.toFixed(0)} ns`, ''],
        [
          'matcher, 10,000 resources',
          `${r.matcher.ns10k.toFixed(0)} ns (${r.matcher.ratio10kOver10.toFixed(2)}× the 10)`,
          '',
        ],
      ],
    ),
  );
  return out;
}

function handshakeSection(d: ReportData): string[] {
  const out = ['', '## Handshakes per second', ''];
  const why = failed(d.handshake);
  const h = ok(d.handshake);
  if (why !== undefined || h === undefined) return [...out, `Not measured (${why}).`];
  out.push(
    'Full WireGuard handshakes (initiation, response, first transport message, with MACs and timers) per second on' +
      ' one thread, per crypto backend (`bench/handshake.ts`).',
    '',
  );
  out.push(
    h.backends.length > 0
      ? markdownTable(
          ['backend', 'handshakes/s'],
          h.backends.map((b) => [b.name, b.perSecond.toFixed(0)]),
        )
      : 'No per-backend table in its output.',
  );
  const responder = responderOf(h);
  if (responder) {
    out.push(
      '',
      `The gateway's responder alone (${responder.backend}, ${responder.peers} known clients, initiations made outside` +
        ' the timed region): answered initiations per second.',
      '',
      markdownTable(
        ['gateway responder', 'initiations/s'],
        [
          ['mac1 (normal load)', responder.normalPerSecond.toFixed(0)],
          ['mac1 + mac2 cookie (under load)', responder.underLoadPerSecond.toFixed(0)],
        ],
      ),
    );
  }
  if (h.summary) {
    out.push(
      '',
      `Summary line: \`handshake ${Object.entries(h.summary)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}\`.`,
    );
  }
  return out;
}

const STATE_LABEL: Record<string, string> = {
  idle: 'idle: signed in, 2 resources',
  resources: '1,000 resources',
  loaded: '1,000 resources + 100 TCP connections',
};

function memorySection(d: ReportData): string[] {
  const out = ['', '## Engine memory', ''];
  const why = failed(d.memory);
  const m = ok(d.memory);
  if (why !== undefined || m === undefined) return [...out, `Not measured (${why}).`];
  const ref = m.reference;
  out.push(
    `The headless client's engine (\`bench/memory.ts\`): ${m.method}. The reference row is Node with the tsx loader` +
      ' and the inspector, started the same way and running nothing; "− ref" is what the engine adds to it.',
    '',
    markdownTable(
      [
        'state',
        'resources',
        'gateway connections',
        'TCP connections',
        'RSS MiB',
        'RSS − ref',
        'heap used MiB',
        'heap − ref',
        'external MiB',
      ],
      [
        [
          'reference (Node + tsx)',
          '',
          '',
          '',
          ref.rssMiB.toFixed(1),
          '',
          ref.heapUsedMiB.toFixed(1),
          '',
          ref.externalMiB.toFixed(1),
        ],
        ...m.points.map((p) => [
          STATE_LABEL[p.name] ?? p.label,
          String(p.resources),
          String(p.gatewayConnections),
          String(p.tcpConnections),
          p.memory.rssMiB.toFixed(1),
          (p.memory.rssMiB - ref.rssMiB).toFixed(1),
          p.memory.heapUsedMiB.toFixed(1),
          (p.memory.heapUsedMiB - ref.heapUsedMiB).toFixed(1),
          p.memory.externalMiB.toFixed(1),
        ]),
      ],
    ),
  );
  return out;
}

/** The whole report as Markdown; `plot` is the image's path relative to the report, if any. */
export function renderReport(d: ReportData, options: { plot?: string } = {}): string {
  return `${[
    ...header(d),
    ...throughputSection(d, options.plot),
    ...setupSection(d),
    ...dnsSection(d),
    ...handshakeSection(d),
    ...memorySection(d),
  ].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// README section

/**
 * The README's short version: one throughput table (a→b and b→a, 1 and 4 streams, CPU per GB,
 * ping idle and under load), one table of the other numbers, the plot, and a link to the whole
 * report. Paths are relative to the repository root.
 */
export function renderReadmeSection(d: ReportData, links: { report: string; plot: string }): string {
  const m = d.machine;
  const out = [
    `Latest \`npm run bench -- report\`, ${d.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores), Linux ${m.kernel},` +
      ` Node ${m.node}; the whole report, with methods and the set-up phases: [${links.report}](${links.report}).` +
      ' Every row comes from the same run; on a shared machine absolute numbers move by ±20 %.',
    '',
  ];
  const t = ok(d.throughput);
  if (t) {
    out.push(
      markdownTable(
        [
          'tunnel (iperf3 TCP)',
          'Mbit/s a→b 1 / 4 streams',
          'Mbit/s b→a 1 / 4 streams',
          'CPU s/GB a→b',
          'ping p50 / p99 ms',
          'under load p50 / p99 ms',
        ],
        t.kinds.map((k) => [
          k.label,
          `${fixed(k.fwd.mbps1, 0)} / ${fixed(k.fwd.mbps4, 0)}`,
          `${fixed(k.rev.mbps1, 0)} / ${fixed(k.rev.mbps4, 0)}`,
          fixed(k.fwd.cpuSPerGb1, 2),
          `${fixed(k.fwd.ping?.p50Ms, 2)} / ${fixed(k.fwd.ping?.p99Ms, 2)}`,
          `${fixed(k.fwd.pingLoaded?.p50Ms, 2)} / ${fixed(k.fwd.pingLoaded?.p99Ms, 2)}`,
        ]),
      ),
      '',
      `![Throughput per tunnel kind](${links.plot})`,
      '',
    );
  } else {
    out.push(`Throughput: not measured (${failed(d.throughput)}).`, '');
  }

  const rows: string[][] = [];
  if (t) {
    rows.push([
      'throughput, ours over the best peer (1 stream a→b)',
      `${fixed(t.ratios.oursBestPeer, 2)}× (${t.bestPeer ?? 'n/a'})`,
    ]);
  }
  const s = ok(d.setup);
  for (const p of s?.paths ?? []) {
    rows.push([
      `connection set-up, ${p.name}`,
      `${p.setupRtts.toFixed(2)} RTTs (${p.setupMs.toFixed(0)} ms at ${p.rttMs.toFixed(0)} ms RTT)`,
    ]);
  }
  const dns = ok(d.dns);
  if (dns) {
    rows.push([
      'DNS, resource name p50 / p99',
      `${dns.resource.p50Us.toFixed(1)} / ${dns.resource.p99Us.toFixed(1)} µs`,
    ]);
    rows.push([
      'DNS, forwarded name p50 / p99',
      `${dns.forwarded.p50Us.toFixed(1)} / ${dns.forwarded.p99Us.toFixed(1)} µs`,
    ]);
  }
  const h = ok(d.handshake);
  if (h) {
    for (const b of h.backends) rows.push([`handshakes/s, ${b.name}`, b.perSecond.toFixed(0)]);
    const responder = responderOf(h);
    if (responder) {
      rows.push([
        'gateway responder, initiations/s (normal / under load with cookies)',
        `${responder.normalPerSecond.toFixed(0)} / ${responder.underLoadPerSecond.toFixed(0)}`,
      ]);
    } else {
      for (const [k, v] of Object.entries(h.summary ?? {})) rows.push([`handshake ${k}`, v]);
    }
  }
  const mem = ok(d.memory);
  for (const p of mem?.points ?? []) {
    rows.push([
      `engine memory, ${STATE_LABEL[p.name] ?? p.label}`,
      `RSS ${p.memory.rssMiB.toFixed(0)} MiB (${(p.memory.rssMiB - mem!.reference.rssMiB).toFixed(0)} over bare Node + tsx), heap ${p.memory.heapUsedMiB.toFixed(1)} MiB`,
    ]);
  }
  for (const [name, o] of [
    ['set-up', d.setup],
    ['DNS', d.dns],
    ['handshakes', d.handshake],
    ['memory', d.memory],
  ] as const) {
    const why = failed(o as Outcome<unknown> | undefined);
    if (why !== undefined) rows.push([name, why]);
  }
  out.push(markdownTable(['measure', 'latest'], rows));
  return `${out.join('\n')}\n`;
}
