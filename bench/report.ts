/**
 * `npm run bench -- report` (issue 13): runs the throughput (against wireguard-go and OpenVPN,
 * with ping idle and under load), handshake, DNS, set-up and engine-memory benchmarks in this one
 * process, then writes
 *
 *   bench/results/report-<ISO date and time>.md and .json   this run, kept
 *   bench/results/latest.md, latest.json, throughput.svg     the newest run
 *
 * and replaces the README's section between `<!-- bench:start -->` and `<!-- bench:end -->` with
 * the newest table and the plot. Each benchmark still prints its own tables as it runs. One that
 * fails is reported as failed and the others still run; the exit code is then 1.
 *
 * Needs root (throughput and memory build network namespaces) and a quiet machine: on a shared
 * one, run it under the benchmark lock (`flock /tmp/fz-bench.lock npm run bench -- report`).
 * Environment: everything the benchmarks read (BENCH_SECONDS, BENCH_KINDS, …);
 * BENCH_REPORT_ONLY=<comma list of throughput,handshake,dns,setup,memory> to try the report with
 * some of them (the others show as not run; commit only a full run); and
 * BENCH_REPORT_RENDER=<a report's .json> to write the files and the README section again from
 * that run's numbers, measuring nothing (after a change to the rendering).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { captureLines, handshakeReport } from './report/capture.js';
import {
  renderReadmeSection,
  renderReport,
  replaceMarkedSection,
  reportStem,
  throughputSvg,
  type MachineInfo,
  type Outcome,
  type ReportData,
} from './report/render.js';

const REPO = new URL('../', import.meta.url).pathname;
const RESULTS = join(REPO, 'bench/results');
const PARTS = ['throughput', 'handshake', 'dns', 'setup', 'memory'] as const;
type Part = (typeof PARTS)[number];

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) return m[1];
  } catch {
    // not Linux, or no os-release: the kernel line still says what it is
  }
  return process.platform;
}

function commit(): string {
  try {
    const git = (args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
    const head = git(['rev-parse', '--short', 'HEAD']);
    // Other work in the same tree shows here too: the report says the numbers are not HEAD's alone.
    return git(['status', '--porcelain', '--untracked-files=no']) === ''
      ? head
      : `${head}+ (uncommitted changes)`;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    os: osName(),
    node: process.version,
    commit: commit(),
    loadAverage: loadavg()[0] ?? 0,
  };
}

function selectedParts(): Set<Part> {
  const raw = process.env.BENCH_REPORT_ONLY;
  if (raw === undefined || raw.trim() === '') return new Set(PARTS);
  const names = raw.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(PARTS as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new Error(`BENCH_REPORT_ONLY: unknown ${unknown.join(', ')}; known: ${PARTS.join(', ')}`);
  return new Set(names as Part[]);
}

/** Absolute paths of this checkout are dropped from messages: the report is committed. */
function repoRelative(text: string): string {
  return text.split(REPO).join('');
}

async function timed<T>(name: Part, fn: () => Promise<T>): Promise<Outcome<T>> {
  console.log(`\n== report: ${name} ==`);
  const start = performance.now();
  const seconds = (): number => Math.round((performance.now() - start) / 100) / 10;
  try {
    const result = await fn();
    return { result, seconds: seconds() };
  } catch (err) {
    const message = repoRelative((err instanceof Error ? err.message : String(err)).split('\n')[0]!);
    console.error(
      `report: ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return { error: message, seconds: seconds() };
  }
}

async function measure(): Promise<ReportData> {
  const parts = selectedParts();
  const started = new Date();
  const data: ReportData = {
    date: started.toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: machineInfo(),
    settings: Object.fromEntries(
      Object.entries(process.env)
        .filter((e): e is [string, string] => e[0].startsWith('BENCH_') && e[1] !== undefined)
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
  };
  console.log(
    `report: ${[...parts].join(', ')}; ${data.machine.cpu} × ${data.machine.cores}, Linux ${data.machine.kernel},` +
      ` Node ${data.machine.node}, commit ${data.machine.commit}`,
  );

  // The throughput runs first, while nothing of the report's own has loaded the machine yet.
  if (parts.has('throughput')) {
    data.throughput = await timed('throughput', async () => (await import('./throughput.js')).run());
  }
  if (parts.has('handshake')) {
    data.handshake = await timed('handshake', async () => {
      // Only its run() is used, whatever it returns: the file is being changed by other work.
      const { run: runHandshake } = await import('./handshake.js');
      const { value, lines } = await captureLines(async () => (await runHandshake()) as unknown);
      return handshakeReport(value, lines);
    });
  }
  if (parts.has('dns')) data.dns = await timed('dns', async () => (await import('./dns.js')).run());
  if (parts.has('setup')) data.setup = await timed('setup', async () => (await import('./setup.js')).run());
  if (parts.has('memory'))
    data.memory = await timed('memory', async () => (await import('./memory.js')).run());
  return data;
}

/** Writes the report files and the README section from `data` (the same files for the same data). */
function writeOutputs(data: ReportData): void {
  mkdirSync(RESULTS, { recursive: true });
  const stem = reportStem(new Date(data.date));
  const json = `${repoRelative(JSON.stringify(data, null, 2))}\n`;
  const svg =
    data.throughput && 'result' in data.throughput
      ? throughputSvg(data.throughput.result, data.date)
      : undefined;
  const written: string[] = [];
  const write = (name: string, text: string): void => {
    writeFileSync(join(RESULTS, name), text);
    written.push(`bench/results/${name}`);
  };
  write(`${stem}.md`, repoRelative(renderReport(data)));
  write(`${stem}.json`, json);
  if (svg !== undefined) write('throughput.svg', svg);
  // latest.md shows the plot only when it is this run's (a failed throughput leaves the old one).
  write('latest.md', repoRelative(renderReport(data, svg !== undefined ? { plot: 'throughput.svg' } : {})));
  write('latest.json', json);

  const readmePath = join(REPO, 'README.md');
  // The section shows the plot only with this run's throughput table, i.e. when it was written.
  const section = repoRelative(
    renderReadmeSection(data, { report: 'bench/results/latest.md', plot: 'bench/results/throughput.svg' }),
  );
  writeFileSync(readmePath, replaceMarkedSection(readFileSync(readmePath, 'utf8'), section));
  written.push('README.md (section between <!-- bench:start --> and <!-- bench:end -->)');

  console.log(`\nreport written:\n${written.map((w) => `  ${w}`).join('\n')}`);
  const failures = PARTS.filter((p) => {
    const o = data[p];
    return o !== undefined && 'error' in o;
  });
  if (failures.length > 0) process.exitCode = 1;
  const parts = PARTS.filter((p) => data[p] !== undefined);
  console.log(
    `report parts=${parts.length} failed=${failures.length} file=bench/results/${stem}.md` +
      (failures.length > 0 ? ` failed_parts=${failures.join(',')}` : ''),
  );
}

export async function run(): Promise<ReportData> {
  const from = process.env.BENCH_REPORT_RENDER;
  // Rendering again from a report's JSON, with no measuring: after a change to the rendering.
  const data =
    from !== undefined && from !== ''
      ? (JSON.parse(readFileSync(from, 'utf8')) as ReportData)
      : await measure();
  writeOutputs(data);
  return data;
}
