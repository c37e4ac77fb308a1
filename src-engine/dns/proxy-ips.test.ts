import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpAddress } from '../packet/address.js';
import { ProxyIpAllocator, processProxyIpAllocator } from './proxy-ips.js';

function assigned(allocator: ProxyIpAllocator, name: string, ids: readonly string[] = ['r']) {
  const result = allocator.assign(name, ids);
  if (!result.ok) throw new Error(`assign failed: ${result.error}`);
  return result.record;
}

describe('ProxyIpAllocator', () => {
  it('hands out 4 + 4 sequential addresses, IPv4 hosts from .1, IPv6 from the network address', () => {
    const allocator = new ProxyIpAllocator();
    const first = assigned(allocator, 'gitlab.mycorp.com');
    expect(first.ipv4).toEqual(['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4']);
    expect(first.ipv6).toEqual([
      'fd00:2021:1111:8000::',
      'fd00:2021:1111:8000::1',
      'fd00:2021:1111:8000::2',
      'fd00:2021:1111:8000::3',
    ]);
    const second = assigned(allocator, 'wiki.mycorp.com');
    expect(second.ipv4).toEqual(['100.96.0.5', '100.96.0.6', '100.96.0.7', '100.96.0.8']);
    expect(second.ipv6[0]).toBe('fd00:2021:1111:8000::4');
  });

  it('gives a name the same addresses every time (case and trailing dot ignored)', () => {
    const allocator = new ProxyIpAllocator();
    const first = allocator.assign('App.Corp.Example.', ['a']);
    const again = allocator.assign('app.corp.example', ['a', 'b']);
    expect(first.ok && first.fresh).toBe(true);
    expect(again.ok && !again.fresh).toBe(true);
    if (!first.ok || !again.ok) return;
    expect(again.record.ipv4).toEqual(first.record.ipv4);
    expect(again.record.ipv6).toEqual(first.record.ipv6);
    expect(again.record.name).toBe('app.corp.example');
    expect(again.record.resourceIds).toEqual(['a', 'b']);
    expect(allocator.size).toBe(1);
  });

  it('looks a proxy address up by text or bytes, any spelling', () => {
    const allocator = new ProxyIpAllocator();
    assigned(allocator, 'one.example', ['r1']);
    const two = assigned(allocator, 'two.example', ['r2', 'r3']);
    expect(allocator.lookup('100.96.0.7')).toBe(two);
    expect(allocator.lookup(parseIpAddress('fd00:2021:1111:8000::7')!)).toBe(two);
    expect(allocator.lookup('FD00:2021:1111:8000:0:0:0:4')?.name).toBe('two.example');
    expect(allocator.lookup('100.96.0.9')).toBeUndefined();
    expect(allocator.lookup('not an ip')).toBeUndefined();
    expect(allocator.lookup(new Uint8Array(5))).toBeUndefined();
    expect(allocator.get('ONE.example.')?.resourceIds).toEqual(['r1']);
  });

  it('skips the sentinel range 100.100.111.0/24 in the real IPv4 range', () => {
    const allocator = new ProxyIpAllocator();
    // 100.100.111.0 is at offset 290560 in 100.96.0.0/11; hosts start at offset 1, so the first
    // 72639 names take offsets 1..290556 and the 72640th straddles the sentinel range.
    let last: readonly string[] = [];
    for (let i = 0; i < 72_640; i++) last = assigned(allocator, `n${i}.example`).ipv4;
    expect(last).toEqual(['100.100.110.253', '100.100.110.254', '100.100.110.255', '100.100.112.0']);
    const next = assigned(allocator, 'after.example');
    expect(next.ipv4).toEqual(['100.100.112.1', '100.100.112.2', '100.100.112.3', '100.100.112.4']);
  });

  it('skips ranges in both families and never crosses into them', () => {
    const allocator = new ProxyIpAllocator({
      ipv4Range: '10.0.0.0/28',
      ipv6Range: 'fd00::/124',
      skip: ['10.0.0.4/30', 'fd00::2/127'],
    });
    const a = assigned(allocator, 'a.test');
    expect(a.ipv4).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.8']);
    expect(a.ipv6).toEqual(['fd00::', 'fd00::1', 'fd00::4', 'fd00::5']);
    const b = assigned(allocator, 'b.test');
    expect(b.ipv4).toEqual(['10.0.0.9', '10.0.0.10', '10.0.0.11', '10.0.0.12']);
  });

  it('reports exhaustion without throwing and without taking addresses', () => {
    // 14 IPv4 hosts (3 names), 8 IPv6 addresses (2 names): IPv6 runs out first.
    const allocator = new ProxyIpAllocator({ ipv4Range: '10.0.0.0/28', ipv6Range: 'fd00::/125', skip: [] });
    assigned(allocator, 'a.test');
    assigned(allocator, 'b.test');
    expect(allocator.assign('c.test', ['r'])).toEqual({ ok: false, error: 'exhausted', family: 'ipv6' });
    expect(allocator.get('c.test')).toBeUndefined();
    expect(allocator.lookup('10.0.0.9')).toBeUndefined(); // c.test's IPv4 were not taken
    // Known names still get theirs.
    expect(allocator.assign('a.test', ['r']).ok).toBe(true);
    const v4Only = new ProxyIpAllocator({ ipv4Range: '10.0.0.0/29', skip: [] });
    assigned(v4Only, 'a.test'); // hosts .1-.6: one name
    expect(v4Only.assign('b.test', [])).toEqual({ ok: false, error: 'exhausted', family: 'ipv4' });
  });

  it('refuses names no resource could have', () => {
    expect(new ProxyIpAllocator().assign('a..b', [])).toEqual({ ok: false, error: 'invalid_name' });
  });

  it('never hands out an address twice (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-d]{1,3}(\.[a-d]{1,3}){0,2}$/), { maxLength: 60 }),
        (names) => {
          const allocator = new ProxyIpAllocator();
          const owner = new Map<string, string>();
          for (const name of names) {
            const record = assigned(allocator, name);
            for (const ip of [...record.ipv4, ...record.ipv6]) {
              const previous = owner.get(ip);
              expect(previous === undefined || previous === record.name).toBe(true);
              owner.set(ip, record.name);
              expect(allocator.lookup(ip)).toBe(record);
            }
          }
          expect(owner.size).toBe(allocator.size * 8);
        },
      ),
    );
  });

  it('has one allocator per process', () => {
    expect(processProxyIpAllocator()).toBe(processProxyIpAllocator());
  });
});
