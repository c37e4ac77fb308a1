import { describe, expect, it } from 'vitest';
import type { ThroughputResult } from '../throughput.js';
import {
  README_END,
  README_START,
  markdownTable,
  renderReadmeSection,
  renderReport,
  replaceMarkedSection,
  reportStem,
  throughputSvg,
  type ReportData,
} from './render.js';

const ping = (p50Ms: number, p99Ms: number, loss = 0) => ({ p50Ms, p99Ms, loss, sent: 500 });

const throughput: ThroughputResult = {
  seconds: 10,
  pingCount: 500,
  loadedPingCount: 760,
  kinds: [
    {
      name: 'wireguard-go',
      label: 'wireguard-go ⇄ wireguard-go',
      fwd: {
        mbps1: 574.4,
        mbps4: 564,
        cpuSPerGb1: 21.6,
        cores1: 1.2,
        ping: ping(0.504, 0.72),
        pingLoaded: ping(3.3, 33.6, 0.017),
        mbpsDuringPing: 560,
      },
      rev: { mbps1: 482, mbps4: 483, ping: ping(0.537, 0.74) },
    },
    {
      name: 'ours',
      label: 'ours ⇄ ours',
      fwd: {
        mbps1: 1220,
        mbps4: 1281,
        cpuSPerGb1: 10.3,
        ping: ping(0.467, 0.682),
        pingLoaded: ping(9.29, 29),
      },
      rev: { mbps1: 1119 },
    },
    {
      name: 'openvpn',
      label: 'OpenVPN ⇄ OpenVPN (AES-256-GCM)',
      fwd: {},
      rev: {},
      error: 'openvpn did not start',
    },
  ],
  skipped: ['ours-noble (not registered)'],
  bestPeer: 'wireguard-go',
  ratios: { oursBestPeer: 2.124, oursWireguardGo: 2.124 },
};

const data: ReportData = {
  date: '2026-01-31T09:05:00Z',
  machine: {
    cpu: 'AMD EPYC',
    cores: 2,
    memoryGiB: 8,
    kernel: '6.1.0-18-amd64',
    os: 'Debian GNU/Linux 12 (bookworm)',
    node: 'v20.19.0',
    commit: 'abc1234',
    loadAverage: 0.25,
  },
  settings: { BENCH_SECONDS: '10' },
  throughput: { result: throughput, seconds: 400 },
  setup: {
    result: {
      hopMs: 10,
      seeds: 7,
      paths: [
        {
          name: 'direct',
          selectedPairs: ['host→host'],
          rttMs: 20,
          setupMs: 120,
          setupRtts: 6,
          phasesRtts: { portal: 2, ice: 2, wireguard: 1, firstPacket: 1 },
        },
        {
          name: 'relayed',
          selectedPairs: ['host→relay'],
          rttMs: 40,
          setupMs: 490,
          setupRtts: 12.25,
          phasesRtts: { portal: 1, ice: NaN, wireguard: 1, firstPacket: 1 },
        },
      ],
    },
    seconds: 3,
  },
  dns: {
    result: {
      queries: 20000,
      resource: { p50Us: 13.34, p99Us: 47.5 },
      forwarded: { p50Us: 4.1, p99Us: 23.5 },
      matcher: { ns10: 651, ns10k: 458, ratio10kOver10: 0.7 },
    },
    seconds: 2,
  },
  handshake: {
    result: { backends: [{ name: 'sodium', perSecond: 2393 }], summary: { responder_per_s: '3914' } },
    seconds: 7,
  },
  memory: { error: 'the memory benchmark needs root', seconds: 0 },
};

describe('reportStem', () => {
  it('is the ISO date and time without milliseconds and with - for :', () => {
    expect(reportStem(new Date('2026-01-31T09:05:07.123Z'))).toBe('report-2026-01-31T09-05-07Z');
  });
});

describe('markdownTable', () => {
  it('right-aligns columns of numbers, left-aligns text, and escapes pipes', () => {
    expect(markdownTable(['a', 'b'], [['x|y', '1']])).toBe('| a | b |\n| --- | ---: |\n| x\\|y | 1 |');
    expect(
      markdownTable(
        ['a', 'b', 'c'],
        [
          ['1', 'a→b', '0.5 %'],
          ['2', 'b→a', 'n/a'],
        ],
      ),
    ).toContain('| --- | --- | ---: |');
    expect(
      markdownTable(
        ['a', 'b'],
        [
          ['x', '574 / 564'],
          ['y', '13.3 µs'],
        ],
      ),
    ).toContain('| --- | ---: |');
    expect(markdownTable(['a', 'b'], [])).toBe('| a | b |\n| --- | --- |');
  });
});

describe('renderReport', () => {
  const md = renderReport(data, { plot: 'throughput.svg' });

  it('has the machine, kernel, Node and date in its header', () => {
    expect(md.startsWith('# Benchmark report, 2026-01-31T09:05:00Z\n')).toBe(true);
    for (const text of [
      'AMD EPYC, 2 cores',
      'Linux 6.1.0-18-amd64',
      'v20.19.0',
      'abc1234',
      'BENCH_SECONDS=10',
    ]) {
      expect(md).toContain(text);
    }
  });

  it('has every kind and direction with n/a for what was not measured, the ratios and the plot', () => {
    expect(md).toContain(
      '| wireguard-go ⇄ wireguard-go | a→b | 574 | 564 | 21.60 | n/a | 1.20 | 0.504 | 0.720 | 0.0 % |',
    );
    expect(md).toContain('| ours ⇄ ours | b→a | 1119 | n/a | n/a | n/a | n/a | n/a | n/a | n/a |');
    expect(md).toContain('ours/best-peer 2.12 (best peer: wireguard-go)');
    expect(md).toContain('ours/openvpn n/a');
    expect(md).toContain('Failed: openvpn: openvpn did not start');
    expect(md).toContain('Skipped: ours-noble (not registered).');
    expect(md).toContain('![Throughput per tunnel kind](throughput.svg)');
  });

  it('has ping under load next to the idle ping', () => {
    expect(md).toContain('### Ping under load');
    expect(md).toContain('| wireguard-go ⇄ wireguard-go | a→b | 560 | 3.300 | 33.600 | 1.7 % | 0.504 |');
  });

  it('has set-up in RTTs (– for a phase without its own duration), DNS and handshakes', () => {
    expect(md).toContain('| direct | host→host | 20 | 120 | 6.00 | 2.00 | 2.00 | 1.00 | 1.00 |');
    expect(md).toContain('| relayed | host→relay | 40 | 490 | 12.25 | 1.00 | – | 1.00 | 1.00 |');
    expect(md).toContain('| resource name (answered locally) | 13.3 µs | 47.5 µs |');
    expect(md).toContain('| sodium | 2393 |');
    expect(md).toContain('`handshake responder_per_s=3914`');
  });

  it('says why a benchmark has no numbers', () => {
    expect(md).toContain('## Engine memory\n\nNot measured (failed: the memory benchmark needs root).');
    expect(renderReport({ ...data, dns: undefined })).toContain('## DNS latency\n\nNot measured (not run).');
  });

  it('shows no plot unless asked to', () => {
    expect(renderReport(data)).not.toContain('![');
  });

  it('shows the gateway responder when the handshake benchmark returned it', () => {
    const returned = {
      backends: [{ name: 'sodium', perSecond: 2393 }],
      responder: {
        backend: 'sodium',
        peers: 512,
        normal: { perSecond: 3914.2, perCpuSecond: 4000, answered: 4096, seconds: 1 },
        underLoad: { perSecond: 5101, perCpuSecond: 5200, answered: 5120, seconds: 1 },
      },
    };
    const withResponder: ReportData = {
      ...data,
      handshake: { result: { backends: returned.backends, returned }, seconds: 7 },
    };
    expect(renderReport(withResponder)).toContain('| mac1 + mac2 cookie (under load) | 5101 |');
    expect(renderReadmeSection(withResponder, { report: 'r.md', plot: 'p.svg' })).toContain(
      '| gateway responder, initiations/s (normal / under load with cookies) | 3914 / 5101 |',
    );
  });
});

describe('renderReadmeSection', () => {
  const section = renderReadmeSection(data, {
    report: 'bench/results/latest.md',
    plot: 'bench/results/throughput.svg',
  });

  it('links the whole report and shows the plot', () => {
    expect(section).toContain('[bench/results/latest.md](bench/results/latest.md)');
    expect(section).toContain('![Throughput per tunnel kind](bench/results/throughput.svg)');
    expect(section).toContain('2026-01-31 on AMD EPYC (2 cores), Linux 6.1.0-18-amd64, Node v20.19.0');
  });

  it('has one throughput row per kind and the other measures', () => {
    expect(section).toContain(
      '| wireguard-go ⇄ wireguard-go | 574 / 564 | 482 / 483 | 21.60 | 0.50 / 0.72 | 3.30 / 33.60 |',
    );
    expect(section).toContain(
      '| throughput, ours over the best peer (1 stream a→b) | 2.12× (wireguard-go) |',
    );
    expect(section).toContain('| connection set-up, relayed | 12.25 RTTs (490 ms at 40 ms RTT) |');
    expect(section).toContain('| DNS, resource name p50 / p99 | 13.3 / 47.5 µs |');
    expect(section).toContain('| handshake responder_per_s | 3914 |');
    expect(section).toContain('| memory | failed: the memory benchmark needs root |');
  });

  it('shows no plot when throughput was not measured', () => {
    const without = renderReadmeSection(
      { ...data, throughput: { error: 'no root', seconds: 0 } },
      {
        report: 'bench/results/latest.md',
        plot: 'bench/results/throughput.svg',
      },
    );
    expect(without).not.toContain('![');
    expect(without).toContain('Throughput: not measured (failed: no root).');
  });
});

describe('replaceMarkedSection', () => {
  const readme = `# Title\n\nintro\n\n${README_START}\nold table\n${README_END}\n\n## Next\n`;

  it('replaces only what lies between the markers and keeps them', () => {
    const out = replaceMarkedSection(readme, 'new table\n');
    expect(out).toBe(`# Title\n\nintro\n\n${README_START}\nnew table\n${README_END}\n\n## Next\n`);
  });

  it('is idempotent and adds the missing final newline', () => {
    const once = replaceMarkedSection(readme, 'new table');
    expect(replaceMarkedSection(once, 'new table')).toBe(once);
    expect(once).toContain('new table\n<!-- bench:end -->');
  });

  it('refuses a README without, with doubled, or with swapped markers', () => {
    expect(() => replaceMarkedSection('# Title\n', 'x')).toThrow('no <!-- bench:start -->');
    expect(() => replaceMarkedSection(`${readme}${README_START}\n`, 'x')).toThrow('more than one');
    expect(() => replaceMarkedSection(`${README_END}\n${README_START}\n`, 'x')).toThrow('comes before');
  });
});

describe('throughputSvg', () => {
  it('plots each kind by its short name with the run length and date in the title', () => {
    const svg = throughputSvg(throughput, data.date);
    expect(svg).toContain('(10 s runs, 2026-01-31)');
    for (const name of [
      'wireguard-go',
      'ours',
      'openvpn',
      'a→b, 1 stream',
      'b→a, 4 streams',
      '1220',
      '1281',
    ]) {
      expect(svg).toContain(`>${name}</text>`);
    }
  });
});
