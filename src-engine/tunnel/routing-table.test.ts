import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpAddress } from '../packet/index.js';
import { filtersAllow } from './filters.js';
import { RoutingTable } from './routing-table.js';

const ip = (text: string): Uint8Array => parseIpAddress(text)!;

describe('RoutingTable (docs/protocol.md §6.2 precedence)', () => {
  it('picks the entry whose filters open the protocol, then the longest prefix', () => {
    const table = new RoutingTable<string>();
    table.insert('b-broad', '10.0.0.0/8', [{ protocol: 'icmp' }], 'broad');
    table.insert(
      'a-specific',
      '10.0.0.0/24',
      [{ protocol: 'udp', port_range_start: 80, port_range_end: 80 }],
      'specific',
    );
    expect(table.lookup(ip('10.0.0.5'), 'icmp')?.value).toBe('broad');
    const udp = table.lookup(ip('10.0.0.5'), 'udp')!;
    expect(udp.value).toBe('specific');
    expect(filtersAllow(udp.filters, { protocol: 'udp', port: 80 })).toBe(true);
    // UDP/81: still the specific resource, whose filter then rejects it (the caller says prohibited).
    expect(filtersAllow(udp.filters, { protocol: 'udp', port: 81 })).toBe(false);
    expect(table.lookup(ip('10.1.0.5'), 'udp')?.value).toBe('broad');
    expect(table.lookup(ip('11.0.0.1'), 'icmp')).toBeUndefined();
  });

  it('breaks ties by the higher resource id and keeps families apart', () => {
    const table = new RoutingTable<string>();
    table.insert('aaa', '192.168.1.0/24', [], 'a');
    table.insert('bbb', '192.168.1.0/24', [], 'b');
    table.insert('v6', 'fd00:1::/64', [], 'v6');
    expect(table.lookup(ip('192.168.1.9'), 'tcp')?.value).toBe('b');
    expect(table.lookup(ip('fd00:1::9'), 'tcp')?.value).toBe('v6');
    expect(table.lookup(ip('fd00:2::9'), 'tcp')).toBeUndefined();
    table.remove('bbb');
    expect(table.lookup(ip('192.168.1.9'), 'tcp')?.value).toBe('a');
  });

  it('answers as a scan of all entries with 32-bit arithmetic would, whatever the cache holds', () => {
    const u32 = (a: Uint8Array): number => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 8, max: 32 })), {
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 20 }),
        (nets, probes) => {
          const table = new RoutingTable<number>();
          const entries = nets.map(([low, prefix], i) => {
            const text = `10.${low >> 8}.${low & 0xff}.0`;
            table.insert(`r${String(i).padStart(2, '0')}`, `${text}/${prefix}`, [], i);
            return {
              net: (u32(ip(text)) & maskOf(prefix)) >>> 0,
              prefix,
              id: `r${String(i).padStart(2, '0')}`,
            };
          });
          for (const low of probes) {
            const address = ip(`10.${low >> 8}.${low & 0xff}.1`);
            const a = u32(address);
            const expected = entries
              .filter((e) => (a & maskOf(e.prefix)) >>> 0 === e.net)
              .sort((x, y) => y.prefix - x.prefix || (y.id > x.id ? 1 : -1))[0];
            expect(table.lookup(address, 'tcp')?.id).toBe(expected?.id);
          }
        },
      ),
    );
  });
});
