import { describe, expect, it } from 'vitest';
import {
  CLIENT_EGRESS,
  CLIENT_INGRESS,
  GATEWAY_EGRESS,
  GATEWAY_INGRESS,
  parseMessage,
  validateOutgoing,
} from './parse.js';

const UUID_A = '733e8d14-c18d-4931-af30-3639fa09c0c0';
const UUID_B = 'd263d490-a0bb-452a-8990-01d27a1f1144';
const UUID_C = 'ef42a07f-0000-4000-8000-000000000001';
const KEY = Buffer.alloc(32, 1).toString('base64');

// The example `init` of docs/protocol.md §3.6, with ids filled in.
const INIT = {
  interface: {
    ipv4: '100.72.112.111',
    ipv6: 'fd00:2021:1111::13:efb9',
    upstream_do53: [{ ip: '1.1.1.1' }],
    upstream_doh: [],
    upstream_dns: [{ protocol: 'ip_port', address: '1.1.1.1:53' }],
    search_domain: 'corp.example',
  },
  resources: [
    {
      id: UUID_A,
      type: 'dns',
      address: '**.mycorp.com',
      name: 'MyCorp',
      address_description: null,
      sites: [{ id: UUID_C, name: 'HQ' }],
      filters: [],
    },
  ],
  relays: [
    {
      id: UUID_B,
      type: 'turn',
      addr: '203.0.113.7:3478',
      username: '1719367575:ZQHcVGkdnfgGmcP1',
      password: 'ZWYi',
      expires_at: 1719367575,
    },
  ],
  authorizations: [],
  flow_logs: { api_url: 'https://flow.example', upload_interval_secs: 0, upload_batch_size: 0 },
};

function parseClient(event: string, payload: unknown) {
  return parseMessage(CLIENT_INGRESS, event, payload);
}

describe('client ingress schemas', () => {
  it('parses the documented init and fills defaults', () => {
    const outcome = parseClient('init', INIT);
    expect(outcome.kind).toBe('message');
    if (outcome.kind !== 'message' || outcome.message.event !== 'init') throw new Error('unreachable');
    const resource = outcome.message.payload.resources[0]!;
    expect(resource).toMatchObject({ type: 'dns', ip_stack: 'dual', sites: [{ id: UUID_C, name: 'HQ' }] });
    expect(outcome.warnings).toEqual([]);
  });

  it('ignores unknown fields', () => {
    const outcome = parseClient('init', {
      ...INIT,
      brand_new: 1,
      interface: { ...INIT.interface, future: true },
    });
    expect(outcome.kind).toBe('message');
    if (outcome.kind !== 'message') throw new Error('unreachable');
    expect(outcome.message.payload).not.toHaveProperty('brand_new');
  });

  it('rejects wrong types with an error naming the event and field', () => {
    const outcome = parseClient('init', { ...INIT, interface: { ...INIT.interface, ipv4: 42 } });
    expect(outcome.kind).toBe('invalid');
    if (outcome.kind !== 'invalid') throw new Error('unreachable');
    expect(outcome.error.event).toBe('init');
    expect(outcome.error.field).toBe('interface.ipv4');
    expect(outcome.error.message).toMatch(/^init: field "interface\.ipv4": /);
  });

  it('requires interface and flow_logs in init', () => {
    const { flow_logs: _dropped, ...withoutFlowLogs } = INIT;
    const outcome = parseClient('init', withoutFlowLogs);
    expect(outcome.kind === 'invalid' && outcome.error.field).toBe('flow_logs');
  });

  it('skips a broken resource or relay with a warning and ignores unknown resource types', () => {
    const outcome = parseClient('init', {
      ...INIT,
      resources: [
        ...INIT.resources,
        { id: UUID_B, type: 'cidr', address: 'not-a-network', name: 'x', sites: [] },
        { id: UUID_C, type: 'quantum_tunnel', name: 'future' },
      ],
      relays: [...INIT.relays, { id: UUID_A, type: 'turn', addr: 'nowhere' }],
    });
    if (outcome.kind !== 'message' || outcome.message.event !== 'init') throw new Error('expected a message');
    expect(outcome.message.payload.resources).toHaveLength(1);
    expect(outcome.message.payload.relays).toHaveLength(1);
    expect(outcome.warnings).toEqual([
      expect.stringMatching(/^resources\[1\] skipped: field "address"/),
      expect.stringMatching(/^relays\[1\] skipped: field "addr"/),
    ]);
  });

  it('ignores resource_created_or_updated of an unknown type, parses legacy gateway_groups', () => {
    expect(parseClient('resource_created_or_updated', { id: UUID_A, type: 'quantum_tunnel' })).toMatchObject({
      kind: 'ignored',
    });
    const outcome = parseClient('resource_created_or_updated', {
      id: UUID_A,
      type: 'internet',
      gateway_groups: [{ id: UUID_C, name: 'HQ' }],
    });
    expect(outcome).toMatchObject({
      kind: 'message',
      message: {
        payload: { type: 'internet', name: 'Internet Resource', sites: [{ id: UUID_C, name: 'HQ' }] },
      },
    });
  });

  it('parses resource_deleted as a bare UUID string', () => {
    expect(parseClient('resource_deleted', UUID_A)).toMatchObject({
      kind: 'message',
      message: { payload: UUID_A },
    });
    expect(parseClient('resource_deleted', { id: UUID_A }).kind).toBe('invalid');
  });

  it('reads authorization_created with the legacy site key and maps unknown fail reasons', () => {
    const created = parseClient('authorization_created', {
      resource_id: UUID_A,
      gateway_id: UUID_B,
      gateway_public_key: KEY,
      gateway_ipv4: '100.72.145.83',
      gateway_ipv6: 'fd00:2021:1111::5:bcfd',
      gateway_group_id: UUID_C,
      preshared_key: KEY,
      client_ice_credentials: { username: 'resc', password: 'rqi3ibvfikfaxj3wgp7muh' },
      gateway_ice_credentials: { username: 'jbi4', password: 'a6oeevhlutevykcifd5r2a' },
    });
    expect(created).toMatchObject({
      kind: 'message',
      message: { payload: { site_id: UUID_C, use_iceless: false } },
    });
    const failed = parseClient('authorization_creation_failed', {
      resource_id: UUID_A,
      reason: 'cosmic_rays',
    });
    expect(failed).toMatchObject({
      kind: 'message',
      message: { payload: { reason: 'unknown', violated_properties: [] } },
    });
  });

  it('rejects a key that is not 32 bytes of base64', () => {
    const outcome = parseClient('authorization_created', {
      resource_id: UUID_A,
      gateway_id: UUID_B,
      gateway_public_key: 'short',
      gateway_ipv4: '100.72.145.83',
      gateway_ipv6: 'fd00:2021:1111::5:bcfd',
      site_id: UUID_C,
      preshared_key: KEY,
      client_ice_credentials: { username: 'a', password: 'b' },
      gateway_ice_credentials: { username: 'a', password: 'b' },
    });
    expect(outcome.kind === 'invalid' && outcome.error.message).toMatch(
      /authorization_created: field "gateway_public_key"/,
    );
  });

  it('skips candidates that are not SDP candidate lines (§5.3)', () => {
    const outcome = parseClient('ice_candidates', {
      gateway_id: UUID_B,
      candidates: [
        'candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host',
        'garbage',
        'candidate:2 1 udp xyz 1.2.3.4 1 typ host',
        7,
      ],
    });
    if (outcome.kind !== 'message' || outcome.message.event !== 'ice_candidates')
      throw new Error('unreachable');
    expect(outcome.message.payload.candidates).toEqual([
      'candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host',
    ]);
    expect(outcome.warnings).toHaveLength(3);
  });

  it('classifies unknown and obsolete events', () => {
    expect(parseClient('teleport', {})).toEqual({ kind: 'unknown_event', event: 'teleport' });
    expect(parseClient('access_authorization_expiry_updated', {}).kind).toBe('ignored');
    expect(parseClient('disconnect', { reason: 'token_expired' }).kind).toBe('message');
  });
});

describe('gateway ingress schemas', () => {
  it('parses create_authorization with expires_at null or missing', () => {
    const payload = {
      ref: 'opaque',
      resource: { id: UUID_A, type: 'cidr', address: '172.20.0.0/16', name: 'MyCorp Network', filters: [] },
      client: {
        id: UUID_B,
        public_key: KEY,
        preshared_key: KEY,
        ipv4: '100.93.74.51',
        ipv6: 'fd00:2021:1111::f:853b',
      },
      client_ice_credentials: { username: 'hgwh', password: 'j2fqufatn7xlrrvv6fsvea' },
      gateway_ice_credentials: { username: 'ejqt', password: 'zfjrrjdkbci42t2axyd45a' },
    };
    const outcome = parseMessage(GATEWAY_INGRESS, 'create_authorization', payload);
    expect(outcome).toMatchObject({
      kind: 'message',
      message: { payload: { expires_at: null, use_iceless: false } },
    });
    const bad = parseMessage(GATEWAY_INGRESS, 'create_authorization', {
      ...payload,
      resource: { id: UUID_A, type: 'dns' },
    });
    expect(bad.kind === 'invalid' && bad.error.field).toBe('resource.address');
  });

  it('requires config and flow_logs in init', () => {
    const outcome = parseMessage(GATEWAY_INGRESS, 'init', {
      interface: { ipv4: '100.64.0.2', ipv6: 'fd00:2021:1111::2' },
      flow_logs: { api_url: '', upload_interval_secs: 0, upload_batch_size: 0 },
    });
    expect(outcome.kind === 'invalid' && outcome.error.field).toBe('config');
  });
});

describe('egress validation', () => {
  it('accepts valid messages and applies defaults', () => {
    expect(validateOutgoing(CLIENT_EGRESS, 'request_authorization', { resource_id: UUID_A })).toEqual({
      resource_id: UUID_A,
      connected_gateway_ids: [],
    });
    expect(validateOutgoing(GATEWAY_EGRESS, 'authorization_created', { ref: 'x' })).toEqual({ ref: 'x' });
  });

  it('throws a PortalMessageError naming the field', () => {
    expect(() =>
      validateOutgoing(CLIENT_EGRESS, 'new_gateway_ice_candidates', {
        gateway_id: UUID_A,
        candidates: ['nope'],
      }),
    ).toThrow(/new_gateway_ice_candidates: field "candidates\.0"/);
    expect(() =>
      validateOutgoing(CLIENT_EGRESS, 'request_authorization', {
        resource_id: UUID_A,
        ipv4: '10.0.0.1',
        ipv6: '::1',
      }),
    ).toThrow(/at most one of "ipv4" and "ipv6"/);
  });
});
