import { describe, expect, it } from 'vitest';
import { parseMemoryUsage } from './memory.js';

describe('parseMemoryUsage', () => {
  it('reads a process.memoryUsage() JSON line into MiB', () => {
    const usage = {
      rss: 130 * 1048576,
      heapTotal: 32 * 1048576,
      heapUsed: 20.5 * 1048576,
      external: 3 * 1048576,
      arrayBuffers: 1048576,
    };
    expect(parseMemoryUsage(`Debugger attached.\n${JSON.stringify(usage)}\n`)).toEqual({
      rssMiB: 130,
      heapUsedMiB: 20.5,
      heapTotalMiB: 32,
      externalMiB: 3,
      arrayBuffersMiB: 1,
    });
  });

  it('takes the median of each field over several readings', () => {
    const line = (rss: number, heapUsed: number): string =>
      JSON.stringify({
        rss: rss * 1048576,
        heapTotal: 0,
        heapUsed: heapUsed * 1048576,
        external: 0,
        arrayBuffers: 0,
      });
    const sample = parseMemoryUsage([line(120, 20), line(105, 22), line(118, 21)].join('\n'));
    expect(sample.rssMiB).toBe(118);
    expect(sample.heapUsedMiB).toBe(21);
    expect(parseMemoryUsage([line(100, 20), line(110, 30)].join('\n')).rssMiB).toBe(105);
  });

  it('refuses output without the numbers', () => {
    expect(() => parseMemoryUsage('{"rss": 1}')).toThrow('memoryUsage has no heapUsed');
    expect(() => parseMemoryUsage('no JSON')).toThrow('no memoryUsage readings');
  });
});
