import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  candidatePriority,
  checkLocalCandidate,
  fnv1a64,
  localFoundation,
  makeLocalCandidate,
  pairPriority,
  parseCandidate,
  sortByPriority,
  writeCandidate,
  type LocalCandidateInit,
} from './candidate.js';

function parsed(sdp: string) {
  const result = parseCandidate(sdp);
  if (!result.ok) throw new Error(`rejected (${result.error}): ${sdp}`);
  return result.candidate;
}

function local(init: LocalCandidateInit, pref = 65534) {
  const checked = checkLocalCandidate(init);
  if (!checked.ok) throw new Error(checked.reason);
  return makeLocalCandidate(checked.init, pref);
}

describe('parseCandidate', () => {
  it("reads Firezone's relay, srflx and host lines", () => {
    expect(
      parsed(
        'candidate:7031633958891736544 1 udp 50331391 35.244.108.190 53909 typ relay raddr 0.0.0.0 rport 0',
      ),
    ).toEqual({
      kind: 'relay',
      address: { address: '35.244.108.190', port: 53909 },
      priority: 50331391,
      foundation: '7031633958891736544',
      related: { address: '0.0.0.0', port: 0 },
    });
    const srflx = parsed(
      'candidate:1 1 UDP 1694498815 198.51.100.7 52625 typ srflx raddr 192.0.2.10 rport 52625',
    );
    expect(srflx.kind).toBe('srflx');
    expect(srflx.related).toEqual({ address: '192.0.2.10', port: 52625 });
    const host = parsed('candidate:2 1 udp 2130706431 2001:DB8::0:1 4000 typ host generation 0 network-id 1');
    expect(host).toMatchObject({
      kind: 'host',
      address: { address: '2001:db8::1', port: 4000 },
      related: undefined,
    });
  });

  it.each([
    ['a=candidate:1 1 udp 1 192.0.2.1 1 typ host', 'not_a_candidate'],
    ['candidate:1 1 udp x 192.0.2.1 1 typ host', 'bad_priority'],
    ['candidate:1 1 udp 0 192.0.2.1 1 typ host', 'bad_priority'],
    ['candidate:1 1 udp 2147483648 192.0.2.1 1 typ host', 'bad_priority'],
    ['candidate:1 1 udp -5 192.0.2.1 1 typ host', 'bad_priority'],
    ['candidate:1 2 udp 1 192.0.2.1 1 typ host', 'unsupported_component'],
    ['candidate:1 1 tcp 1 192.0.2.1 1 typ host tcptype passive', 'unsupported_transport'],
    ['candidate:1 1 udp 1 host.example 1 typ host', 'bad_address'],
    ['candidate:1 1 udp 1 4f1c7e0b-aaaa.local 1 typ host', 'bad_address'],
    ['candidate:1 1 udp 1 0.0.0.0 1 typ host', 'bad_address'],
    ['candidate:1 1 udp 1 192.0.2.1 0 typ host', 'bad_port'],
    ['candidate:1 1 udp 1 192.0.2.1 65536 typ host', 'bad_port'],
    ['candidate:1 1 udp 1 192.0.2.1 1 typ constructor', 'bad_type'],
    ['candidate:1 1 udp 1 192.0.2.1 1 type host', 'bad_type'],
    ['candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 1.2.3.4', 'bad_related_address'],
    ['candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr x rport 1', 'bad_related_address'],
    ['candidate:1 1 udp 1 192.0.2.1 1 typ host generation', 'bad_extension'],
    ['candidate:1  1 udp 1 192.0.2.1 1 typ host', 'not_a_candidate'],
    ['candidate:fo_o 1 udp 1 192.0.2.1 1 typ host', 'bad_foundation'],
    [`candidate:${'1'.repeat(33)} 1 udp 1 192.0.2.1 1 typ host`, 'bad_foundation'],
    [`candidate:1 1 udp 1 192.0.2.1 1 typ host x ${'y'.repeat(1100)}`, 'too_long'],
  ])('rejects %s (%s)', (sdp, error) => {
    expect(parseCandidate(sdp)).toEqual({ ok: false, error });
  });

  it('never throws on arbitrary text, and whatever it accepts is a valid candidate', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'candidate:1',
        '1',
        'udp',
        'UDP',
        '2130706431',
        '192.0.2.1',
        '::1',
        'typ',
        'host',
        'relay',
      ),
      fc.constantFrom('raddr', 'rport', '0', '65535', '__proto__', 'constructor', 'fe80::1%eth0', ''),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.array(token, { maxLength: 14 }).map((t) => t.join(' ')),
        ),
        (text) => {
          const result = parseCandidate(text);
          if (result.ok) {
            const c = result.candidate;
            expect(c.priority).toBeGreaterThan(0);
            expect(c.address.port).toBeGreaterThan(0);
            expect(['host', 'srflx', 'prflx', 'relay']).toContain(c.kind);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('writeCandidate', () => {
  const host = local({
    kind: 'host',
    address: { address: '192.0.2.10', port: 52625 },
    base: { address: '192.0.2.10', port: 52625 },
  });
  const srflx = local({
    kind: 'srflx',
    address: { address: '198.51.100.7', port: 40000 },
    base: { address: '192.0.2.10', port: 52625 },
  });
  const relay = local({
    kind: 'relay',
    address: { address: '2001:db8::5', port: 50000 },
    base: { address: '2001:db8::5', port: 50000 },
  });

  it('writes RFC 8839 lines with related addresses for srflx (its base) and relay (hidden)', () => {
    expect(writeCandidate(host)).toBe(
      `candidate:${host.foundation} 1 udp ${host.priority} 192.0.2.10 52625 typ host`,
    );
    expect(writeCandidate(srflx)).toMatch(/ typ srflx raddr 192\.0\.2\.10 rport 52625$/);
    expect(writeCandidate(relay)).toMatch(/ typ relay raddr :: rport 0$/);
  });

  it('round-trips through the parser', () => {
    for (const c of [host, srflx, relay]) {
      expect(parsed(writeCandidate(c))).toEqual({
        kind: c.kind,
        address: c.address,
        priority: c.priority,
        foundation: c.foundation,
        related: c.kind === 'host' ? undefined : c.kind === 'srflx' ? c.base : { address: '::', port: 0 },
      });
    }
  });

  it('round-trips any valid candidate (property)', () => {
    const ipv4 = fc.tuple(
      fc.integer({ min: 1, max: 223 }),
      fc.nat(255),
      fc.nat(255),
      fc.integer({ min: 1, max: 254 }),
    );
    fc.assert(
      fc.property(
        ipv4,
        fc.integer({ min: 1, max: 65535 }),
        fc.constantFrom('host', 'srflx', 'relay' as const),
        fc.integer({ min: 0, max: 65535 }),
        ([a, b, c, d], port, kind, pref) => {
          const address = { address: `${a}.${b}.${c}.${d}`, port };
          const base = kind === 'srflx' ? { address: '10.0.0.1', port: 1 } : address;
          const candidate = local({ kind, address, base }, pref);
          const back = parsed(writeCandidate(candidate));
          expect(back.address).toEqual(address);
          expect(back.priority).toBe(candidate.priority);
          expect(back.foundation).toBe(candidate.foundation);
          expect(back.kind).toBe(kind);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sorts a batch highest priority first', () => {
    expect(sortByPriority([relay, host, srflx]).map((c) => c.kind)).toEqual(['host', 'srflx', 'relay']);
  });
});

describe('priorities and foundations', () => {
  it('computes RFC 8445 §5.1.2.1 priorities', () => {
    expect(candidatePriority('host', 65535)).toBe(126 * 2 ** 24 + 65535 * 256 + 255);
    expect(candidatePriority('relay', 0)).toBe(255);
    expect(candidatePriority('prflx', 1)).toBe(110 * 2 ** 24 + 256 + 255);
    // Type dominates local preference.
    expect(candidatePriority('srflx', 65535)).toBeLessThan(candidatePriority('prflx', 0));
  });

  it('computes RFC 8445 §6.1.2.3 pair priorities, the same number for both agents', () => {
    const g = candidatePriority('host', 65535);
    const d = candidatePriority('relay', 65535);
    expect(pairPriority(g, d)).toBe((BigInt(d) << 32n) + 2n * BigInt(g) + 1n);
    expect(pairPriority(d, g)).toBe((BigInt(d) << 32n) + 2n * BigInt(g));
    expect(pairPriority(5, 5)).toBe((5n << 32n) + 10n);
  });

  it('derives stable 64-bit FNV-1a foundations from kind and base address', () => {
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n.toString());
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn.toString());
    const base = { address: '192.0.2.1', port: 1 };
    expect(localFoundation('host', base)).toBe(localFoundation('host', { ...base, port: 2 }));
    expect(localFoundation('host', base)).not.toBe(localFoundation('srflx', base));
    expect(localFoundation('relay', base)).toMatch(/^[0-9]{1,20}$/);
  });

  it('rejects unusable local candidates', () => {
    const a = { address: '192.0.2.1', port: 1 };
    expect(
      checkLocalCandidate({ kind: 'host', address: a, base: { address: '192.0.2.2', port: 1 } }).ok,
    ).toBe(false);
    expect(checkLocalCandidate({ kind: 'srflx', address: a, base: { address: '::1', port: 1 } }).ok).toBe(
      false,
    );
    expect(checkLocalCandidate({ kind: 'host', address: { address: 'x', port: 1 }, base: a }).ok).toBe(false);
    expect(checkLocalCandidate({ kind: 'host', address: a, base: a, localPreference: 70000 }).ok).toBe(false);
    const v6 = checkLocalCandidate({
      kind: 'host',
      address: { address: '2001:DB8:0::1', port: 9 },
      base: { address: '2001:db8::1', port: 9 },
    });
    expect(v6.ok && v6.init.address.address).toBe('2001:db8::1');
  });
});
