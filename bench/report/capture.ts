/**
 * For benchmarks whose numbers the report can only read from what they print (today
 * `bench/handshake.ts`, whose file belongs to other work): their console output is kept while it
 * still goes to the terminal, and their tables and `<name> key=value …` lines are parsed here.
 */

/** Runs `fn` while recording every console.log line; the lines still reach the terminal. */
export async function captureLines<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]): void => {
    original(...args);
    lines.push(
      ...args
        .map((a) => (typeof a === 'string' ? a : String(a)))
        .join(' ')
        .split('\n'),
    );
  };
  try {
    return { value: await fn(), lines };
  } finally {
    console.log = original;
  }
}

/**
 * The last `<name> key=value …` line (as CONTRIBUTING.md §5 asks every benchmark to end with),
 * as a map; undefined when there is none.
 */
export function parseSummaryLine(lines: readonly string[], name: string): Record<string, string> | undefined {
  const prefix = `${name} `;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith(prefix)) continue;
    const pairs = line.slice(prefix.length).trim().split(/\s+/);
    if (pairs.length === 0 || !pairs.every((p) => /^[\w./-]+=\S*$/.test(p))) continue;
    return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
  }
  return undefined;
}

export interface HandshakeBackend {
  name: string;
  perSecond: number;
}

/**
 * Rows of the handshake table (`backend  handshakes/s  ms/handshake  ratio to fastest`): the
 * lines after its header and rule whose second column is a number.
 */
export function parseHandshakeTable(lines: readonly string[]): HandshakeBackend[] {
  const header = lines.findIndex((l) => /^backend\s+handshakes\/s\b/.test(l.trim()));
  if (header === -1) return [];
  const rows: HandshakeBackend[] = [];
  for (const line of lines.slice(header + 2)) {
    const cells = line.trim().split(/\s+/);
    const perSecond = Number(cells[1]);
    if (cells.length < 2 || cells[0] === '' || !Number.isFinite(perSecond)) break;
    rows.push({ name: cells[0]!, perSecond });
  }
  return rows;
}

/** What the report shows of the handshake benchmark, from its return value or its output. */
export interface HandshakeReport {
  backends: HandshakeBackend[];
  /** Its `handshake key=value …` line, when it prints one. */
  summary?: Record<string, string>;
  /** What `run()` returned, when it returned an object (kept as is in the JSON). */
  returned?: unknown;
}

/**
 * Prefers a returned object's `backends` (`{ name, perSecond }[]`) when it has one and falls back
 * to the printed table, so the report keeps working whichever shape `run()` ends up with.
 */
export function handshakeReport(returned: unknown, lines: readonly string[]): HandshakeReport {
  const fromReturn =
    typeof returned === 'object' &&
    returned !== null &&
    Array.isArray((returned as { backends?: unknown }).backends)
      ? ((returned as { backends: unknown[] }).backends.filter(
          (b): b is HandshakeBackend =>
            typeof b === 'object' &&
            b !== null &&
            typeof (b as HandshakeBackend).name === 'string' &&
            typeof (b as HandshakeBackend).perSecond === 'number',
        ) as HandshakeBackend[])
      : [];
  const report: HandshakeReport = {
    backends: fromReturn.length > 0 ? fromReturn : parseHandshakeTable(lines),
  };
  const summary = parseSummaryLine(lines, 'handshake');
  if (summary) report.summary = summary;
  if (typeof returned === 'object' && returned !== null) report.returned = returned;
  return report;
}

/** The gateway responder's numbers, when `run()` returned them (`HandshakeBenchResult.responder`). */
export interface ResponderNumbers {
  backend: string;
  peers: number;
  /** Answered initiations per second at an ordinary pace (mac1 only). */
  normalPerSecond: number;
  /** The same under load, with cookies (mac1 + mac2). */
  underLoadPerSecond: number;
}

/** Reads the responder figures out of what the handshake benchmark returned, if they are there. */
export function responderOf(h: HandshakeReport): ResponderNumbers | undefined {
  const r = (h.returned as { responder?: unknown } | undefined)?.responder as
    | {
        backend?: unknown;
        peers?: unknown;
        normal?: { perSecond?: unknown };
        underLoad?: { perSecond?: unknown };
      }
    | undefined;
  if (
    typeof r?.backend !== 'string' ||
    typeof r.peers !== 'number' ||
    typeof r.normal?.perSecond !== 'number' ||
    typeof r.underLoad?.perSecond !== 'number'
  ) {
    return undefined;
  }
  return {
    backend: r.backend,
    peers: r.peers,
    normalPerSecond: r.normal.perSecond,
    underLoadPerSecond: r.underLoad.perSecond,
  };
}
