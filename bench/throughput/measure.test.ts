import { describe, expect, it } from 'vitest';
import { parseIperfJson, parsePingRtts, parseProcStat, percentile } from './measure.js';

describe('throughput measurement parsers', () => {
  it('reads utime+stime and the reaped children from /proc/<pid>/stat', () => {
    // A command name with spaces and parentheses; fields 14..17 are 120, 30, 7, 3.
    const stat = '4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 500 0 0 0 120 30 7 3 20 0 9 0 1000';
    expect(parseProcStat(stat)).toEqual({ ppid: 17, self: 150, reaped: 10 });
  });

  it('takes Mbit/s and bytes from sum_received and retransmits from sum_sent', () => {
    const json = JSON.stringify({
      end: {
        sum_sent: { bytes: 700_000_000, bits_per_second: 560e6, retransmits: 1234 },
        sum_received: { bytes: 690_000_000, bits_per_second: 552e6 },
      },
    });
    expect(parseIperfJson(json)).toEqual({ mbps: 552, bytes: 690_000_000, retransmits: 1234 });
  });

  it('reports iperf3 errors and non-JSON output', () => {
    expect(() => parseIperfJson(JSON.stringify({ error: 'unable to connect to server' }))).toThrow(
      'iperf3: unable to connect to server',
    );
    expect(() => parseIperfJson('iperf3: error')).toThrow('no JSON');
  });

  it('parses per-packet ping lines, not the summary', () => {
    const out = [
      'PING 10.98.0.2 (10.98.0.2) 56(84) bytes of data.',
      '64 bytes from 10.98.0.2: icmp_seq=1 ttl=64 time=0.512 ms',
      '64 bytes from 10.98.0.2: icmp_seq=2 ttl=64 time=0.48 ms',
      '64 bytes from 10.98.0.2: icmp_seq=3 ttl=64 time=12.0 ms',
      '--- 10.98.0.2 ping statistics ---',
      'rtt min/avg/max/mdev = 0.480/4.330/12.000/5.424 ms',
    ].join('\n');
    expect(parsePingRtts(out)).toEqual([0.512, 0.48, 12]);
  });

  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});
