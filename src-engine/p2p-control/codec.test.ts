import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIpAddress } from '../packet/index.js';
import {
  buildAssignedIps,
  buildDomainStatus,
  buildGoodbye,
  decodeP2pControl,
  encodeP2pControl,
  isP2pControl,
  isP2pControlError,
  isValidDomainName,
  type P2pControlEvent,
} from './codec.js';

const EXAMPLE_JSON =
  '{"resource":"03000143-e25e-45c7-aafb-144990e57dcd","domain":"gitlab.mycorp.com","proxy_ips":' +
  '["100.96.0.1","100.96.0.2","100.96.0.3","100.96.0.4","fd00:2021:1111:8000::",' +
  '"fd00:2021:1111:8000::1","fd00:2021:1111:8000::2","fd00:2021:1111:8000::3"]}';
const EXAMPLE = {
  resource: '03000143-e25e-45c7-aafb-144990e57dcd',
  domain: 'gitlab.mycorp.com',
  proxyIps: [
    '100.96.0.1',
    '100.96.0.2',
    '100.96.0.3',
    '100.96.0.4',
    'fd00:2021:1111:8000::',
    'fd00:2021:1111:8000::1',
    'fd00:2021:1111:8000::2',
    'fd00:2021:1111:8000::3',
  ],
};

/** The expected packet written out by hand: IPv6 header fields, FZ header, then `json`. */
function handBuilt(kind: number, json: string): Uint8Array {
  const body = Buffer.from(json, 'utf8');
  const length = 8 + body.length;
  return Uint8Array.from([
    0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
    length >> 8, length & 0xff, // payload length
    0xff, // next header 255
    0x00, // hop limit 0
    ...new Array<number>(16).fill(0), // source ::
    ...new Array<number>(16).fill(0), // destination ::
    kind, 0, 0, 0, 0, 0, 0, 0, // FZ header
    ...body,
  ]); // prettier-ignore
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function expectError(value: unknown, code: string): void {
  expect(isP2pControlError(value)).toBe(true);
  expect((value as { error: string }).error).toBe(code);
}

describe('p2p control codec: literal bytes', () => {
  it('builds and reads the 48-byte Goodbye of docs/protocol.md §1.2', () => {
    const expected =
      '60000000' + '0008' + 'ff' + '00' + '00'.repeat(16) + '00'.repeat(16) + '0200000000000000';
    const packet = buildGoodbye();
    expect(packet.length).toBe(48);
    expect(hex(packet)).toBe(expected);
    expect(isP2pControl(packet)).toBe(true);
    expect(decodeP2pControl(Buffer.from(expected, 'hex'))).toEqual({ kind: 'goodbye' });
  });

  it('builds the AssignedIps example of §1.3 byte for byte and reads it back', () => {
    const packet = buildAssignedIps(EXAMPLE);
    const expected = handBuilt(0, EXAMPLE_JSON);
    expect(isP2pControlError(packet)).toBe(false);
    expect(hex(packet as Uint8Array)).toBe(hex(expected));
    expect(expected.length).toBe(48 + EXAMPLE_JSON.length);
    expect(decodeP2pControl(expected)).toEqual({ kind: 'assigned_ips', ...EXAMPLE });
  });

  it('builds DomainStatus byte for byte, both statuses, and reads them back', () => {
    for (const status of ['Active', 'Inactive'] as const) {
      const json = `{"resource":"03000143-e25e-45c7-aafb-144990e57dcd","domain":"gitlab.mycorp.com","status":"${status}"}`;
      const fields = { resource: EXAMPLE.resource, domain: EXAMPLE.domain, status };
      const packet = buildDomainStatus(fields);
      expect(hex(packet as Uint8Array)).toBe(hex(handBuilt(1, json)));
      expect(decodeP2pControl(handBuilt(1, json))).toEqual({ kind: 'domain_status', ...fields });
    }
  });

  it('reads an unknown status string as Inactive, and a non-string status as bad fields', () => {
    const json = '{"resource":"03000143-e25e-45c7-aafb-144990e57dcd","domain":"a.b","status":"Paused"}';
    expect(decodeP2pControl(handBuilt(1, json))).toMatchObject({ kind: 'domain_status', status: 'Inactive' });
    const active = json.replace('Paused', 'active'); // case matters: PascalCase only
    expect(decodeP2pControl(handBuilt(1, active))).toMatchObject({ status: 'Inactive' });
    const number = '{"resource":"03000143-e25e-45c7-aafb-144990e57dcd","domain":"a.b","status":1}';
    expectError(decodeP2pControl(handBuilt(1, number)), 'bad_fields');
  });

  it('reports unknown kinds with their code, whatever the payload', () => {
    for (const code of [3, 7, 128, 255]) {
      expect(decodeP2pControl(handBuilt(code, 'not json at all'))).toEqual({ kind: 'unknown', code });
      expect(decodeP2pControl(encodeP2pControl(code, new Uint8Array(0)) as Uint8Array)).toEqual({
        kind: 'unknown',
        code,
      });
    }
  });

  it('ignores the reserved header bytes, unknown JSON keys and bytes after the payload', () => {
    const packet = handBuilt(0, EXAMPLE_JSON.replace('{', '{"future":[1,2],'));
    packet.fill(0xaa, 41, 48);
    const padded = new Uint8Array(packet.length + 13);
    padded.set(packet);
    padded.fill(0x55, packet.length);
    expect(decodeP2pControl(padded)).toEqual({ kind: 'assigned_ips', ...EXAMPLE });
  });

  it('lowercases the UUID and canonicalises proxy IPs on both sides', () => {
    const json =
      '{"resource":"03000143-E25E-45C7-AAFB-144990E57DCD","domain":"Gitlab.MyCorp.com",' +
      '"proxy_ips":["100.96.0.1","FD00:2021:1111:8000:0:0:0:1"]}';
    expect(decodeP2pControl(handBuilt(0, json))).toEqual({
      kind: 'assigned_ips',
      resource: EXAMPLE.resource,
      domain: 'Gitlab.MyCorp.com',
      proxyIps: ['100.96.0.1', 'fd00:2021:1111:8000::1'],
    });
    const built = buildAssignedIps({
      resource: EXAMPLE.resource.toUpperCase(),
      domain: EXAMPLE.domain,
      proxyIps: EXAMPLE.proxyIps.map((ip) => (ip.endsWith('::') ? `${ip}0` : ip.replace('::', ':0:0:0:'))),
    });
    expect(hex(built as Uint8Array)).toBe(hex(handBuilt(0, EXAMPLE_JSON)));
  });

  it('fits the worst case: a 253-character domain with 8 of the longest addresses', () => {
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(domain.length).toBe(253);
    const withExampleIps = buildAssignedIps({ ...EXAMPLE, domain }) as Uint8Array;
    expect(withExampleIps.length - 48).toBe(481);
    const longest = [
      ...new Array<string>(4).fill('255.255.255.255'),
      ...[1, 2, 3, 4].map((i) => `ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff${i}`),
    ];
    const worst = buildAssignedIps({ ...EXAMPLE, domain, proxyIps: longest }) as Uint8Array;
    expect(isP2pControlError(worst)).toBe(false);
    expect(worst.length).toBeLessThanOrEqual(1280);
    expect(decodeP2pControl(worst)).toMatchObject({ kind: 'assigned_ips', domain, proxyIps: longest });
  });
});

describe('p2p control codec: refusals', () => {
  it('recognises by header only: IPv6, Next Header 255, :: to ::', () => {
    const good = buildGoodbye();
    expect(isP2pControl(good)).toBe(true);
    const mutate = (at: number, value: number): Uint8Array => {
      const copy = Uint8Array.from(good);
      copy[at] = value;
      return copy;
    };
    expect(isP2pControl(mutate(0, 0x45))).toBe(false); // IPv4
    expect(isP2pControl(mutate(6, 17))).toBe(false); // UDP
    expect(isP2pControl(mutate(8, 0xfd))).toBe(false); // source not ::
    expect(isP2pControl(mutate(39, 1))).toBe(false); // destination ::1
    expect(isP2pControl(good.subarray(0, 39))).toBe(false);
    expect(isP2pControl(mutate(1, 0xff))).toBe(true); // traffic class / flow label are not looked at
    expectError(decodeP2pControl(mutate(6, 17)), 'not_p2p_control');
    expectError(decodeP2pControl(new Uint8Array(0)), 'not_p2p_control');
  });

  it('rejects a payload shorter than the FZ header, and a Payload Length past the bytes', () => {
    for (const declared of [0, 1, 7]) {
      const packet = Uint8Array.from(buildGoodbye());
      packet[5] = declared;
      expectError(decodeP2pControl(packet), 'too_short');
    }
    expectError(decodeP2pControl(buildGoodbye().subarray(0, 47)), 'truncated');
    const packet = Uint8Array.from(buildGoodbye());
    packet[5] = 9;
    expectError(decodeP2pControl(packet), 'truncated');
  });

  it('rejects packets over 1280 bytes and refuses to build them', () => {
    const big = encodeP2pControl(0, new Uint8Array(1280 - 48)) as Uint8Array;
    expect(big.length).toBe(1280);
    expectError(encodeP2pControl(0, new Uint8Array(1280 - 47)), 'too_long');
    const over = new Uint8Array(1281);
    over.set(big);
    expectError(decodeP2pControl(over), 'too_long');
    expectError(encodeP2pControl(256, new Uint8Array(0)), 'bad_fields');
  });

  it('names what is wrong with the payload', () => {
    expectError(decodeP2pControl(handBuilt(0, '')), 'not_json');
    expectError(decodeP2pControl(handBuilt(0, '{"resource":')), 'not_json');
    const badUtf8 = encodeP2pControl(1, Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])) as Uint8Array;
    expectError(decodeP2pControl(badUtf8), 'not_utf8');
    const bom = encodeP2pControl(1, Buffer.from(`\ufeff${EXAMPLE_JSON}`, 'utf8')) as Uint8Array;
    expectError(decodeP2pControl(bom), 'not_json');
    const cases: string[] = [
      'null',
      '[]',
      '"x"',
      EXAMPLE_JSON.replace('03000143-e25e', '03000143-e25x'),
      EXAMPLE_JSON.replace('gitlab.mycorp.com', 'gitlab.mycorp.com.'),
      EXAMPLE_JSON.replace('gitlab.mycorp.com', 'gitlab..com'),
      EXAMPLE_JSON.replace('gitlab.mycorp.com', 'git lab.com'),
      EXAMPLE_JSON.replace('gitlab.mycorp.com', `${'a'.repeat(64)}.com`),
      EXAMPLE_JSON.replace('100.96.0.1', '100.96.0.256'),
      EXAMPLE_JSON.replace('100.96.0.1', '100.96.0.01'),
      EXAMPLE_JSON.replace('"100.96.0.1"', '1'),
      EXAMPLE_JSON.replace(',"proxy_ips"', ',"proxy_ipz"'),
    ];
    for (const json of cases) expectError(decodeP2pControl(handBuilt(0, json)), 'bad_fields');
  });

  it('does not re-check the proxy IP count on receipt', () => {
    const json = '{"resource":"03000143-e25e-45c7-aafb-144990e57dcd","domain":"a.b","proxy_ips":["::1"]}';
    expect(decodeP2pControl(handBuilt(0, json))).toMatchObject({ proxyIps: ['::1'] });
  });

  it('refuses to build what breaks the sender rules', () => {
    const v4 = EXAMPLE.proxyIps.slice(0, 4);
    const v6 = EXAMPLE.proxyIps.slice(4);
    expect(isP2pControlError(buildAssignedIps({ ...EXAMPLE, proxyIps: v4 }))).toBe(false);
    expect(isP2pControlError(buildAssignedIps({ ...EXAMPLE, proxyIps: v6 }))).toBe(false);
    expectError(buildAssignedIps({ ...EXAMPLE, proxyIps: v4.slice(0, 3) }), 'bad_fields');
    expectError(buildAssignedIps({ ...EXAMPLE, proxyIps: [...v6, ...v4] }), 'bad_fields');
    expectError(buildAssignedIps({ ...EXAMPLE, proxyIps: [...v4.slice(0, 3), 'x'] }), 'bad_fields');
    expectError(buildAssignedIps({ ...EXAMPLE, resource: 'nope' }), 'bad_fields');
    expectError(buildAssignedIps({ ...EXAMPLE, domain: 'a'.repeat(254) }), 'bad_fields');
    expectError(buildDomainStatus({ ...EXAMPLE, status: 'Maybe' as 'Active' }), 'bad_fields');
  });

  it('validates DNS names', () => {
    expect(isValidDomainName('localhost')).toBe(true);
    expect(isValidDomainName('_sip._tcp.example.com')).toBe(true);
    expect(isValidDomainName('x'.repeat(63))).toBe(true);
    expect(isValidDomainName('x'.repeat(64))).toBe(false);
    expect(isValidDomainName('')).toBe(false);
    expect(isValidDomainName('.')).toBe(false);
    expect(isValidDomainName('a.')).toBe(false);
    expect(isValidDomainName('.a')).toBe(false);
    expect(isValidDomainName('*.a')).toBe(false);
    expect(isValidDomainName('ä.com')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const labelArb = fc.stringMatching(/^[a-z0-9_-]{1,63}$/);
const domainArb = fc
  .array(labelArb, { minLength: 1, maxLength: 8 })
  .map((labels) => labels.join('.'))
  .filter((name) => name.length <= 253);
const ipsArb = fc.oneof(
  fc.array(fc.ipV4(), { minLength: 4, maxLength: 4 }),
  fc.array(fc.ipV6(), { minLength: 4, maxLength: 4 }),
  fc
    .tuple(
      fc.array(fc.ipV4(), { minLength: 4, maxLength: 4 }),
      fc.array(fc.ipV6(), { minLength: 4, maxLength: 4 }),
    )
    .map(([a, b]) => [...a, ...b]),
);
const canonical = (ip: string): string => formatIp(parseIpAddress(ip)!);

describe('p2p control codec: properties', () => {
  it('AssignedIps round-trips (canonical addresses, lowercase UUID)', () => {
    fc.assert(
      fc.property(fc.uuid(), domainArb, ipsArb, (resource, domain, proxyIps) => {
        const packet = buildAssignedIps({ resource, domain, proxyIps });
        expect(isP2pControlError(packet)).toBe(false);
        const bytes = packet as Uint8Array;
        expect(bytes.length).toBeLessThanOrEqual(1280);
        const decoded = decodeP2pControl(bytes);
        expect(decoded).toEqual({
          kind: 'assigned_ips',
          resource: resource.toLowerCase(),
          domain,
          proxyIps: proxyIps.map(canonical),
        });
        const again = buildAssignedIps(decoded as Extract<P2pControlEvent, { kind: 'assigned_ips' }>);
        expect(hex(again as Uint8Array)).toBe(hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('DomainStatus round-trips', () => {
    fc.assert(
      fc.property(fc.uuid(), domainArb, fc.constantFrom('Active', 'Inactive'), (resource, domain, status) => {
        const packet = buildDomainStatus({ resource, domain, status: status as 'Active' | 'Inactive' });
        expect(decodeP2pControl(packet as Uint8Array)).toEqual({
          kind: 'domain_status',
          resource: resource.toLowerCase(),
          domain,
          status,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => {
        const result = decodeP2pControl(bytes);
        expect(typeof result).toBe('object');
        isP2pControl(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on random bytes behind a valid header, nor on random JSON', () => {
    const payloadArb = fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      fc.json().map((text) => Buffer.from(text, 'utf8')),
      fc
        .record({
          resource: fc.anything(),
          domain: fc.anything(),
          proxy_ips: fc.anything(),
          status: fc.anything(),
        })
        .map((value) => Buffer.from(JSON.stringify(value) ?? '', 'utf8')),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), payloadArb, (code, payload) => {
        const packet = encodeP2pControl(code, payload);
        if (isP2pControlError(packet)) return;
        expect(typeof decodeP2pControl(packet)).toBe('object');
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on mutated valid packets, and keeps what it accepts within its rules', () => {
    const validArb = fc.oneof(
      fc
        .tuple(fc.uuid(), domainArb, ipsArb)
        .map(([resource, domain, proxyIps]) => buildAssignedIps({ resource, domain, proxyIps })),
      fc
        .tuple(fc.uuid(), domainArb)
        .map(([resource, domain]) => buildDomainStatus({ resource, domain, status: 'Active' })),
      fc.constant(buildGoodbye()),
    );
    const mutationArb = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ op: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
        fc.record({ op: fc.constant('grow' as const), at: fc.nat({ max: 64 }), value: fc.nat(255) }),
      ),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(validArb, mutationArb, (valid, mutations) => {
        let bytes = Uint8Array.from(valid as Uint8Array);
        for (const { op, at, value } of mutations) {
          if (op === 'set' && bytes.length > 0) bytes[at % bytes.length] = value;
          if (op === 'cut') bytes = bytes.subarray(0, at % (bytes.length + 1));
          if (op === 'grow') {
            const grown = new Uint8Array(bytes.length + at);
            grown.set(bytes);
            grown.fill(value, bytes.length);
            bytes = grown;
          }
        }
        const result = decodeP2pControl(bytes);
        if (isP2pControlError(result)) return;
        if (result.kind === 'assigned_ips' || result.kind === 'domain_status') {
          expect(isValidDomainName(result.domain)).toBe(true);
          expect(result.resource).toMatch(/^[0-9a-f-]{36}$/);
        }
        if (result.kind === 'assigned_ips') {
          for (const ip of result.proxyIps) expect(parseIpAddress(ip)).not.toBeNull();
        }
      }),
      { numRuns: 1000 },
    );
  });
});
