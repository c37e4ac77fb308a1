import { describe, expect, it } from 'vitest';
import { ADDR_SIZE } from '../tun/batch.js';
import { EndpointCache, readRecord, writeRecord } from './address-record.js';

describe('address records', () => {
  it('round-trip IPv4 and IPv6 endpoints', () => {
    const buf = new Uint8Array(ADDR_SIZE * 2);
    writeRecord({ address: '10.99.0.2', port: 51820 }, buf, 0);
    writeRecord({ address: 'fd00::1:2', port: 443 }, buf, ADDR_SIZE);
    expect([...buf.subarray(0, 8)]).toEqual([4, 0, 0xca, 0x6c, 10, 99, 0, 2]);
    expect(readRecord(buf, 0)).toEqual({ address: '10.99.0.2', port: 51820 });
    expect(readRecord(buf, ADDR_SIZE)).toEqual({ address: 'fd00::1:2', port: 443 });
    expect(() => writeRecord({ address: 'example.com', port: 1 }, buf, 0)).toThrow(/not an IP/);
  });

  it('returns the same endpoint object for the same record', () => {
    const cache = new EndpointCache(2);
    const buf = new Uint8Array(ADDR_SIZE * 3);
    writeRecord({ address: '10.0.0.1', port: 1 }, buf, 0);
    writeRecord({ address: '10.0.0.1', port: 2 }, buf, ADDR_SIZE);
    writeRecord({ address: '10.0.0.1', port: 1 }, buf, 2 * ADDR_SIZE);
    const a = cache.fromRecord(buf, 0);
    const b = cache.fromRecord(buf, ADDR_SIZE);
    expect(cache.fromRecord(buf, 2 * ADDR_SIZE)).toBe(a);
    expect(b).toEqual({ address: '10.0.0.1', port: 2 });
    const out = new Uint8Array(ADDR_SIZE);
    cache.toRecord(b, out, 0);
    expect(out).toEqual(buf.subarray(ADDR_SIZE, 2 * ADDR_SIZE));
  });
});
