import { describe, expect, it } from 'vitest';
import { captureLines, handshakeReport, parseHandshakeTable, parseSummaryLine } from './capture.js';

// What bench/handshake.ts prints (its two tables and last line).
const HANDSHAKE_OUTPUT = `backend  handshakes/s  ms/handshake  ratio to fastest
-------  ------------  ------------  ----------------
sodium           2393         0.418              1.00
node             1321         0.757              0.55
noble              88        11.397              0.04

gateway responder                backend  peers  answered  responses/s  µs/response  ratio to full exchange
-------------------------------  -------  -----  --------  -----------  -----------  ----------------------
mac1 (normal load)                sodium    512      4096         3914        255.5                    1.64
handshake responder_per_s=3914`.split('\n');

describe('parseSummaryLine', () => {
  it('reads the last `<name> key=value …` line', () => {
    const lines = [
      'dns resource_p50_us=1.0',
      'noise',
      'dns resource_p50_us=13.3 forwarded_p50_us=4.1 matcher_10k_over_10=0.70',
    ];
    expect(parseSummaryLine(lines, 'dns')).toEqual({
      resource_p50_us: '13.3',
      forwarded_p50_us: '4.1',
      matcher_10k_over_10: '0.70',
    });
  });

  it('ignores lines of other benchmarks and prose that starts with the name', () => {
    expect(parseSummaryLine(['handshake took long', 'dns a=1'], 'handshake')).toBeUndefined();
    expect(parseSummaryLine(HANDSHAKE_OUTPUT, 'handshake')).toEqual({ responder_per_s: '3914' });
    expect(parseSummaryLine(['throughput ours/best-peer=1.57 ours/openvpn=n/a'], 'throughput')).toEqual({
      'ours/best-peer': '1.57',
      'ours/openvpn': 'n/a',
    });
  });
});

describe('handshake results', () => {
  it('parses the per-backend table and stops at its end', () => {
    expect(parseHandshakeTable(HANDSHAKE_OUTPUT)).toEqual([
      { name: 'sodium', perSecond: 2393 },
      { name: 'node', perSecond: 1321 },
      { name: 'noble', perSecond: 88 },
    ]);
    expect(parseHandshakeTable(['nothing here'])).toEqual([]);
  });

  it('takes backends from a returned object when it has them, else from the output', () => {
    const returned = { backends: [{ name: 'sodium', perSecond: 2500.5 }], extra: 1 };
    expect(handshakeReport(returned, HANDSHAKE_OUTPUT)).toEqual({
      backends: [{ name: 'sodium', perSecond: 2500.5 }],
      summary: { responder_per_s: '3914' },
      returned,
    });
    expect(handshakeReport(undefined, HANDSHAKE_OUTPUT).backends).toHaveLength(3);
    expect(handshakeReport({ other: true }, HANDSHAKE_OUTPUT).backends).toHaveLength(3);
  });
});

describe('captureLines', () => {
  it('records console.log lines, returns the value, and restores console.log', async () => {
    const original = console.log;
    const seen: string[] = [];
    console.log = (...args: unknown[]) => void seen.push(args.join(' '));
    try {
      const { value, lines } = await captureLines(async () => {
        console.log('a\nb', 3);
        return 42;
      });
      expect(value).toBe(42);
      expect(lines).toEqual(['a', 'b 3']);
      expect(seen).toEqual(['a\nb 3']); // still printed
    } finally {
      console.log = original;
    }
  });

  it('restores console.log when the benchmark throws', async () => {
    const before = console.log;
    await expect(captureLines(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(console.log).toBe(before);
  });
});
