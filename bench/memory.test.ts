import { describe, expect, it } from 'vitest';
import { parseMemoryUsage } from './memory.js';

describe('parseMemoryUsage', () => {
  it('reads the last line of process.memoryUsage() JSON into MiB', () => {
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

  it('refuses output without the numbers', () => {
    expect(() => parseMemoryUsage('{"rss": 1}')).toThrow('memoryUsage has no heapUsed');
    expect(() => parseMemoryUsage('no JSON')).toThrow();
  });
});
