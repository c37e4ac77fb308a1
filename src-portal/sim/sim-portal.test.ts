import { describe, expect, it } from 'vitest';
import { defaultBackend } from '../../src-engine/wireguard/crypto/index.js';
import { deriveIceCredentials, derivePresharedKey } from '../../src-engine/portal/credentials.js';
import type { ClientIngressMessage, GatewayIngressMessage } from '../../src-engine/portal/messages/parse.js';
import type { SessionEvent } from '../../src-engine/portal/session-core.js';
import { EXAMPLE_IDS, exampleCatalog } from './example-catalog.js';
import { SimPortalLink } from './sim-link.js';
import { SimPortal } from './sim-portal.js';

const CLIENT_UA = 'Debian/12 gui-client/0.1.0 (x86_64; 6.1.0)';
const GATEWAY_UA = 'Debian/12 gateway/0.1.0 (x86_64; 6.1.0)';
const crypto = defaultBackend();

function publicKey(seed: number): string {
  return Buffer.from(crypto.x25519PublicKey(new Uint8Array(32).fill(seed))).toString('base64');
}

const CANDIDATE_A = 'candidate:1 1 udp 2130706431 192.0.2.10 52625 typ host';
const CANDIDATE_B = 'candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 52625';

function messages<M>(events: SessionEvent<'client' | 'gateway'>[]): M[] {
  return events.flatMap((event) => (event.type === 'message' ? [event.message as M] : []));
}

interface World {
  sim: SimPortal;
  client: SimPortalLink<'client'>;
  gateway: SimPortalLink<'gateway'>;
  clientToken: string;
  gatewayToken: string;
}

function world(options: { latencyMs?: number; seed?: string } = {}): World {
  const sim = new SimPortal({
    catalog: exampleCatalog(),
    latencyMs: options.latencyMs ?? 5,
    seed: options.seed ?? 's1',
  });
  const clientToken = sim.mintClientToken('alice@acme.test', 3600_000);
  const gatewayToken = sim.mintGatewayToken('HQ');
  const gateway = new SimPortalLink(sim, {
    role: 'gateway',
    token: gatewayToken,
    publicKey: publicKey(2),
    deviceId: 'gateway-1',
    userAgent: GATEWAY_UA,
  });
  const client = new SimPortalLink(sim, {
    role: 'client',
    token: clientToken,
    publicKey: publicKey(1),
    deviceId: '6b3e2d8a-3f62-4d39-a0a4-3b5d0c2f5e11',
    userAgent: CLIENT_UA,
  });
  return { sim, client, gateway, clientToken, gatewayToken };
}

function joinBoth(w: World): { clientInit: ClientIngressMessage; gatewayInit: GatewayIngressMessage } {
  w.gateway.start();
  w.client.start();
  w.sim.runUntilIdle(1_000);
  expect(w.client.state.status).toBe('joined');
  expect(w.gateway.state.status).toBe('joined');
  const clientInit = messages<ClientIngressMessage>(w.client.drainEvents()).find((m) => m.event === 'init')!;
  const gatewayInit = messages<GatewayIngressMessage>(w.gateway.drainEvents()).find(
    (m) => m.event === 'init',
  )!;
  return { clientInit, gatewayInit };
}

describe('SimPortal', () => {
  it('sends init per policy to a joined client and gateway', () => {
    const w = world();
    const { clientInit, gatewayInit } = joinBoth(w);
    expect(clientInit.event).toBe('init');
    if (clientInit.event !== 'init' || gatewayInit.event !== 'init') throw new Error('unreachable');
    expect(clientInit.payload.resources.map((r) => r.id).sort()).toEqual(
      [EXAMPLE_IDS.wiki, EXAMPLE_IDS.lan, EXAMPLE_IDS.internet, EXAMPLE_IDS.labHosts].sort(),
    );
    expect(clientInit.payload.interface.upstream_do53).toEqual([{ ip: '1.1.1.1' }]);
    expect(clientInit.payload.relays).toHaveLength(1);
    expect(gatewayInit.payload.config.ipv4_masquerade_enabled).toBe(true);
    expect(gatewayInit.payload.authorizations).toEqual([]);

    const bobToken = w.sim.mintClientToken('bob@acme.test');
    const bob = new SimPortalLink(w.sim, {
      role: 'client',
      token: bobToken,
      publicKey: publicKey(3),
      deviceId: 'bob-laptop',
      userAgent: CLIENT_UA,
    });
    bob.start();
    w.sim.runUntilIdle(1_000);
    const bobInit = messages<ClientIngressMessage>(bob.drainEvents()).find((m) => m.event === 'init');
    if (bobInit?.event !== 'init') throw new Error('bob got no init');
    expect(bobInit.payload.resources.map((r) => r.id)).toEqual([EXAMPLE_IDS.wiki]);
  });

  it('authorizes a flow with derived secrets and relays candidates in order', () => {
    const w = world();
    joinBoth(w);
    expect(
      w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] }),
    ).toBe(true);
    w.sim.runUntilIdle(1_000);
    const create = messages<GatewayIngressMessage>(w.gateway.drainEvents()).find(
      (m) => m.event === 'create_authorization',
    );
    if (create?.event !== 'create_authorization') throw new Error('no create_authorization');
    const clientDevice = w.client.device!;
    const gatewayDevice = w.gateway.device!;
    expect(create.payload.client.id).toBe(clientDevice.id);
    const ice = deriveIceCredentials(
      { id: clientDevice.id, publicKey: publicKey(1) },
      { id: gatewayDevice.id, publicKey: publicKey(2) },
    );
    expect(create.payload.client_ice_credentials).toEqual(ice.initiator);
    expect(create.payload.gateway_ice_credentials).toEqual(ice.receiver);
    expect(create.payload.client.preshared_key).toBe(
      derivePresharedKey(
        { id: clientDevice.id, publicKey: publicKey(1), pskBase: clientDevice.pskBase },
        { id: gatewayDevice.id, publicKey: publicKey(2), pskBase: gatewayDevice.pskBase },
      ),
    );

    // The gateway sends its candidates before acknowledging: the portal must hold them until the
    // client has `authorization_created` (§9.11).
    w.gateway.send('broadcast_ice_candidates', { client_ids: [clientDevice.id], candidates: [CANDIDATE_B] });
    w.gateway.send('authorization_created', { ref: create.payload.ref });
    w.sim.runUntilIdle(1_000);
    const toClient = messages<ClientIngressMessage>(w.client.drainEvents()).map((m) => m.event);
    expect(toClient).toEqual(['authorization_created', 'ice_candidates']);

    w.client.send('new_gateway_ice_candidates', { gateway_id: gatewayDevice.id, candidates: [CANDIDATE_A] });
    w.sim.runUntilIdle(1_000);
    const toGateway = messages<GatewayIngressMessage>(w.gateway.drainEvents());
    expect(toGateway).toEqual([
      { event: 'ice_candidates', payload: { client_id: clientDevice.id, candidates: [CANDIDATE_A] } },
    ]);
  });

  it('answers not_found for unknown or forbidden resources and offline without gateways', () => {
    const w = world();
    joinBoth(w);
    w.client.send('request_authorization', { resource_id: '00000000-0000-4000-8000-000000000000' });
    w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.labHosts }); // Lab has no gateway
    w.sim.runUntilIdle(1_000);
    const failures = messages<ClientIngressMessage>(w.client.drainEvents()).flatMap((m) =>
      m.event === 'authorization_creation_failed' ? [m.payload.reason] : [],
    );
    expect(failures).toEqual(['not_found', 'offline']);
  });

  it('moves an unacknowledged authorization to another gateway of the site', () => {
    const w = world();
    joinBoth(w);
    const second = new SimPortalLink(w.sim, {
      role: 'gateway',
      token: w.sim.mintGatewayToken('HQ'),
      publicKey: publicKey(4),
      deviceId: 'gateway-2',
      userAgent: GATEWAY_UA,
    });
    second.start();
    w.sim.runUntilIdle(1_000);
    second.drainEvents();
    w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan });
    w.sim.advanceBy(100);
    const first = [w.gateway, second].find((g) =>
      g.drainEvents().some((e) => e.type === 'message' && e.message.event === 'create_authorization'),
    )!;
    const other = first === w.gateway ? second : w.gateway;
    w.sim.advanceBy(15_000); // the chosen gateway never acknowledges
    const retry = messages<GatewayIngressMessage>(other.drainEvents()).find(
      (m) => m.event === 'create_authorization',
    );
    if (retry?.event !== 'create_authorization') throw new Error('no failover');
    other.send('authorization_created', { ref: retry.payload.ref });
    w.sim.runUntilIdle(1_000);
    const created = messages<ClientIngressMessage>(w.client.drainEvents()).find(
      (m) => m.event === 'authorization_created',
    );
    if (created?.event !== 'authorization_created') throw new Error('no authorization_created');
    expect(created.payload.gateway_id).toBe(other.device!.id);
  });

  it('signs the client out on revocation and rejects its access on the gateway', () => {
    const w = world();
    joinBoth(w);
    w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan });
    w.sim.runUntilIdle(1_000);
    const create = messages<GatewayIngressMessage>(w.gateway.drainEvents()).find(
      (m) => m.event === 'create_authorization',
    );
    if (create?.event !== 'create_authorization') throw new Error('no create_authorization');
    w.gateway.send('authorization_created', { ref: create.payload.ref });
    w.sim.runUntilIdle(1_000);
    w.sim.revokeToken(w.clientToken);
    w.sim.runUntilIdle(60_000);
    expect(w.client.state).toMatchObject({ status: 'signed_out', reason: 'token_expired' });
    expect(messages<GatewayIngressMessage>(w.gateway.drainEvents())).toContainEqual({
      event: 'reject_access',
      payload: { client_id: w.client.device?.id ?? create.payload.client.id, resource_id: EXAMPLE_IDS.lan },
    });
  });

  it('reconnects after a portal restart and gives the gateway its authorizations back', () => {
    const w = world();
    joinBoth(w);
    w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan });
    w.sim.runUntilIdle(1_000);
    const create = messages<GatewayIngressMessage>(w.gateway.drainEvents()).find(
      (m) => m.event === 'create_authorization',
    );
    if (create?.event !== 'create_authorization') throw new Error('no create_authorization');
    w.gateway.send('authorization_created', { ref: create.payload.ref });
    w.sim.runUntilIdle(1_000);
    w.client.drainEvents();
    w.sim.restart();
    w.sim.runUntilIdle(5_000);
    expect(w.client.state.status).toBe('joined');
    expect(w.gateway.state.status).toBe('joined');
    const init = messages<GatewayIngressMessage>(w.gateway.drainEvents()).find((m) => m.event === 'init');
    if (init?.event !== 'init') throw new Error('no init after restart');
    expect(init.payload.authorizations).toEqual([
      {
        client_id: create.payload.client.id,
        resource_id: EXAMPLE_IDS.lan,
        expires_at: create.payload.expires_at,
      },
    ]);
  });

  it('pushes relay, interface and resource changes, deletes first', () => {
    const w = world();
    joinBoth(w);
    const catalog = exampleCatalog();
    w.sim.setCatalog({
      ...catalog,
      resources: catalog.resources.map((resource) =>
        resource.id === EXAMPLE_IDS.lan ? { ...resource, siteId: EXAMPLE_IDS.siteLab } : resource,
      ),
      relays: [{ ...catalog.relays[0]!, secret: 'rotated-secret' }],
      dns: { ...catalog.dns, upstreamDo53: ['9.9.9.9'] },
    });
    w.sim.runUntilIdle(1_000);
    const events = messages<ClientIngressMessage>(w.client.drainEvents());
    expect(events.map((m) => m.event)).toEqual([
      'resource_deleted',
      'resource_created_or_updated',
      'config_changed',
      'relays_presence',
    ]);
    const presence = events[3]!;
    if (presence.event !== 'relays_presence') throw new Error('unreachable');
    expect(presence.payload.disconnected_ids).toEqual([EXAMPLE_IDS.relay]);
    expect(presence.payload.connected).toHaveLength(1);
    const gatewayEvents = messages<GatewayIngressMessage>(w.gateway.drainEvents()).map((m) => m.event);
    expect(gatewayEvents).toEqual(['relays_presence']);
  });

  it('answers no_relays with the current relays', () => {
    const w = world();
    joinBoth(w);
    w.client.send('no_relays', {});
    w.sim.runUntilIdle(1_000);
    const presence = messages<ClientIngressMessage>(w.client.drainEvents()).find(
      (m) => m.event === 'relays_presence',
    );
    if (presence?.event !== 'relays_presence') throw new Error('no relays_presence');
    expect(presence.payload).toMatchObject({
      disconnected_ids: [],
      connected: [{ id: EXAMPLE_IDS.relay, type: 'turn' }],
    });
  });

  it('moves a pending authorization at once when its gateway disconnects', () => {
    const w = world();
    joinBoth(w);
    const second = new SimPortalLink(w.sim, {
      role: 'gateway',
      token: w.sim.mintGatewayToken('HQ'),
      publicKey: publicKey(4),
      deviceId: 'gateway-2',
      userAgent: GATEWAY_UA,
    });
    second.start();
    w.sim.runUntilIdle(1_000);
    second.drainEvents();
    w.gateway.drainEvents();
    w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan });
    w.sim.advanceBy(100);
    const chosen = [w.gateway, second].find((g) =>
      g.drainEvents().some((e) => e.type === 'message' && e.message.event === 'create_authorization'),
    )!;
    const other = chosen === w.gateway ? second : w.gateway;
    chosen.stop();
    w.sim.advanceBy(100);
    expect(messages<GatewayIngressMessage>(other.drainEvents()).map((m) => m.event)).toEqual([
      'create_authorization',
    ]);
  });

  it('drops candidates for pairs without an authorization and counts them', () => {
    const w = world();
    joinBoth(w);
    w.client.send('new_gateway_ice_candidates', {
      gateway_id: w.gateway.device!.id,
      candidates: [CANDIDATE_A],
    });
    w.gateway.send('broadcast_ice_candidates', {
      client_ids: [w.client.device!.id],
      candidates: [CANDIDATE_B],
    });
    w.sim.runUntilIdle(1_000);
    expect(messages(w.client.drainEvents())).toEqual([]);
    expect(messages(w.gateway.drainEvents())).toEqual([]);
    expect(w.sim.signalling.drops.get('candidates_without_authorization')).toBe(2);
  });

  it('answers version_mismatch when only incompatible gateways are online', () => {
    const sim = new SimPortal({ catalog: exampleCatalog() });
    const gateway = new SimPortalLink(sim, {
      role: 'gateway',
      token: sim.mintGatewayToken('HQ'),
      publicKey: publicKey(2),
      deviceId: 'old-gateway',
      userAgent: 'Debian/12 gateway/0.3.0 (x86_64; 6.1.0)', // client 0.1 accepts gateways 0.0–0.2
    });
    const client = new SimPortalLink(sim, {
      role: 'client',
      token: sim.mintClientToken('alice@acme.test'),
      publicKey: publicKey(1),
      deviceId: 'laptop',
      userAgent: CLIENT_UA,
    });
    gateway.start();
    client.start();
    sim.runUntilIdle(1_000);
    client.send('request_authorization', { resource_id: EXAMPLE_IDS.lan });
    sim.runUntilIdle(1_000);
    const failed = messages<ClientIngressMessage>(client.drainEvents()).find(
      (m) => m.event === 'authorization_creation_failed',
    );
    expect(failed?.payload).toMatchObject({ reason: 'version_mismatch' });
  });

  it('is deterministic for a seed', () => {
    const run = (): string[] => {
      const w = world({ seed: 'repeat' });
      joinBoth(w);
      w.client.send('request_authorization', { resource_id: EXAMPLE_IDS.wiki });
      w.sim.runUntilIdle(1_000);
      return [...w.client.drainEvents(), ...w.gateway.drainEvents()].map((e) => JSON.stringify(e));
    };
    expect(run()).toEqual(run());
  });
});
