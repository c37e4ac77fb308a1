/**
 * Revocation must take access away, whatever the peers do: an offline client, a session that
 * ignores its close frame, a gateway that acknowledges late or is offline when a grant goes, a
 * portal restarted on a changed config. Each case drives the sans-IO core directly.
 */
import { describe, expect, it } from 'vitest';
import { parseUserAgent } from '../../src-engine/portal/user-agent.js';
import { type Frame } from '../../src-engine/portal/frame.js';
import { EXAMPLE_IDS, exampleCatalog } from '../sim/example-catalog.js';
import type { Catalog } from './catalog.js';
import { PortalSignalling, type ClientSessionInfo, type GatewaySessionInfo } from './core.js';
import { MemoryGrantStore } from './grants.js';

const T0 = Date.UTC(2026, 11, 1);
const HOUR = 3600;
const CLIENT_KEY = Buffer.alloc(32, 1).toString('base64');
const GATEWAY_KEY = Buffer.alloc(32, 2).toString('base64');

function clientInfo(overrides: Partial<ClientSessionInfo> = {}): ClientSessionInfo {
  return {
    kind: 'client',
    device: {
      id: 'client-1',
      name: 'laptop',
      ipv4: '100.64.0.2',
      ipv6: 'fd00:2021:1111::2',
      pskBase: new Uint8Array(32).fill(7),
    },
    actorId: EXAMPLE_IDS.alice,
    tokenId: 'token-alice',
    tokenExpiresAt: T0 / 1000 + 30 * 24 * HOUR,
    publicKey: CLIENT_KEY,
    userAgent: parseUserAgent('Debian/12 gui-client/0.1.0 (x86_64; 6.1.0)')!,
    ...overrides,
  };
}

function gatewayInfo(id = 'gateway-1'): GatewaySessionInfo {
  return {
    kind: 'gateway',
    device: {
      id,
      name: id,
      ipv4: '100.64.0.9',
      ipv6: 'fd00:2021:1111::9',
      pskBase: new Uint8Array(32).fill(9),
    },
    siteId: EXAMPLE_IDS.siteHq,
    tokenId: `token-${id}`,
    publicKey: GATEWAY_KEY,
    userAgent: parseUserAgent('Debian/12 gateway/0.1.0 (x86_64; 6.1.0)')!,
  };
}

interface Harness {
  core: PortalSignalling;
  grants: MemoryGrantStore;
  /** Frames and closes sent so far, per session. */
  out: Map<string, Frame[]>;
  closed: Set<string>;
  flush(): void;
  frames(session: string, event?: string): Frame[];
  join(session: string, topic: string, now?: number): void;
  send(session: string, topic: string, event: string, payload: unknown, now?: number): void;
}

let refCounter = 0;

function harness(
  options: { catalog?: Catalog; grants?: MemoryGrantStore; tokenValid?: (id: string) => boolean } = {},
): Harness {
  const grants = options.grants ?? new MemoryGrantStore();
  let refs = 0;
  const core = new PortalSignalling({
    catalog: options.catalog ?? exampleCatalog(),
    grants,
    ingestKey: new Uint8Array(32),
    newRef: () => `ref-${++refs}`,
    ...(options.tokenValid ? { isTokenValid: options.tokenValid } : {}),
  });
  const out = new Map<string, Frame[]>();
  const closed = new Set<string>();
  const h: Harness = {
    core,
    grants,
    out,
    closed,
    flush() {
      for (let o = core.pollOutput(); o; o = core.pollOutput()) {
        if (o.kind === 'close') closed.add(o.session);
        else out.set(o.session, [...(out.get(o.session) ?? []), o.frame]);
      }
    },
    frames(session, event) {
      h.flush();
      const list = out.get(session) ?? [];
      return event === undefined ? list : list.filter((f) => f.event === event);
    },
    join(session, topic, now = T0) {
      core.handleFrame(session, { topic, event: 'phx_join', payload: null, ref: ++refCounter }, now);
      h.flush();
    },
    send(session, topic, event, payload, now = T0) {
      core.handleFrame(session, { topic, event, payload, ref: ++refCounter }, now);
      h.flush();
    },
  };
  return h;
}

/** Client `c` and gateway `g` joined; the client holds a grant for the LAN resource. */
function granted(h: Harness, now = T0, client = clientInfo()): string {
  expect(h.core.connect('g', gatewayInfo(), now)).toMatchObject({ ok: true });
  h.join('g', 'gateway', now);
  expect(h.core.connect('c', client, now)).toMatchObject({ ok: true });
  h.join('c', 'client', now);
  h.send(
    'c',
    'client',
    'request_authorization',
    { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] },
    now,
  );
  const create = h.frames('g', 'create_authorization').at(-1)!;
  const ref = (create.payload as { ref: string }).ref;
  h.send('g', 'gateway', 'authorization_created', { ref }, now);
  expect(h.frames('c', 'authorization_created')).toHaveLength(1);
  expect([...h.grants.all()]).toHaveLength(1);
  return ref;
}

function gatewayInitAuthorizations(h: Harness, session: string): unknown[] {
  const init = h.frames(session, 'init').at(-1)!;
  return (init.payload as { authorizations: unknown[] }).authorizations;
}

describe('revocation', () => {
  it("revoking an offline client's token withdraws its grants, and they do not come back in the gateway's init", () => {
    const h = harness();
    granted(h);
    h.core.disconnect('c', T0 + 1000);
    h.core.revokeTokens(['token-alice'], T0 + 2000);
    expect(h.frames('g', 'reject_access')).toEqual([
      expect.objectContaining({ payload: { client_id: 'client-1', resource_id: EXAMPLE_IDS.lan } }),
    ]);
    // The gateway reconnects: its init lists nothing.
    h.core.disconnect('g', T0 + 3000);
    h.core.connect('g2', gatewayInfo(), T0 + 4000);
    h.join('g2', 'gateway', T0 + 4000);
    expect(gatewayInitAuthorizations(h, 'g2')).toEqual([]);
  });

  it('a grant whose token became invalid while the portal did not notice is never listed in init', () => {
    const revoked = new Set<string>();
    const h = harness({ tokenValid: (id) => !revoked.has(id) });
    granted(h);
    h.core.disconnect('c', T0 + 1000);
    h.core.disconnect('g', T0 + 1000);
    revoked.add('token-alice'); // e.g. revoked by the CLI while this portal was down
    h.core.connect('g2', gatewayInfo(), T0 + 2000);
    h.join('g2', 'gateway', T0 + 2000);
    expect(gatewayInitAuthorizations(h, 'g2')).toEqual([]);
    expect([...h.grants.all()]).toEqual([]);
  });

  it('a revoked session is ended at once: frames it sends after the close are not served', () => {
    const h = harness();
    h.core.connect('g', gatewayInfo(), T0);
    h.join('g', 'gateway');
    h.core.connect('c', clientInfo(), T0);
    h.join('c', 'client');
    h.core.revokeTokens(['token-alice'], T0 + 1000);
    expect(h.frames('c', 'disconnect')).toHaveLength(1);
    expect(h.closed.has('c')).toBe(true);
    // The client ignores the close frame and keeps asking for access.
    h.send(
      'c',
      'client',
      'request_authorization',
      { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] },
      T0 + 2000,
    );
    h.send('c', 'client', 'phx_join', null, T0 + 2000);
    expect(h.frames('g', 'create_authorization')).toEqual([]);
    expect(h.frames('c', 'init')).toHaveLength(1); // only the first join's
    expect(h.core.sessionIds()).not.toContain('c');
  });

  it('an expired session is ended at its expiry and cannot obtain an authorization afterwards', () => {
    const h = harness();
    h.core.connect('g', gatewayInfo(), T0);
    h.join('g', 'gateway');
    h.core.connect('c', clientInfo({ tokenExpiresAt: T0 / 1000 + 60 }), T0);
    h.join('c', 'client');
    h.core.handleTimeout(T0 + 61_000);
    h.flush();
    expect(h.closed.has('c')).toBe(true);
    h.send(
      'c',
      'client',
      'request_authorization',
      { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] },
      T0 + 62_000,
    );
    expect(h.frames('g', 'create_authorization')).toEqual([]);
  });

  it('a grant acknowledged after its token was revoked is not kept, and the gateway is told to drop it', () => {
    const h = harness();
    h.core.connect('g', gatewayInfo(), T0);
    h.join('g', 'gateway');
    h.core.connect('c', clientInfo(), T0);
    h.join('c', 'client');
    h.send('c', 'client', 'request_authorization', {
      resource_id: EXAMPLE_IDS.lan,
      connected_gateway_ids: [],
    });
    const ref = (h.frames('g', 'create_authorization')[0]!.payload as { ref: string }).ref;
    h.core.revokeTokens(['token-alice'], T0 + 500);
    h.send('g', 'gateway', 'authorization_created', { ref }, T0 + 600);
    expect([...h.grants.all()]).toEqual([]);
    expect(h.frames('g', 'reject_access')).toEqual([
      expect.objectContaining({ payload: { client_id: 'client-1', resource_id: EXAMPLE_IDS.lan } }),
    ]);
    expect(h.frames('c', 'authorization_created')).toEqual([]);
  });

  it('a gateway acknowledgement that arrives after the timeout is rejected, not left untracked', () => {
    const h = harness();
    h.core.connect('g', gatewayInfo(), T0);
    h.join('g', 'gateway');
    h.core.connect('c', clientInfo(), T0);
    h.join('c', 'client');
    h.send('c', 'client', 'request_authorization', {
      resource_id: EXAMPLE_IDS.lan,
      connected_gateway_ids: [],
    });
    const ref = (h.frames('g', 'create_authorization')[0]!.payload as { ref: string }).ref;
    h.core.handleTimeout(T0 + 15_001);
    h.flush();
    expect(h.frames('c', 'authorization_creation_failed')).toHaveLength(1);
    h.send('g', 'gateway', 'authorization_created', { ref }, T0 + 16_000);
    expect(h.frames('g', 'reject_access')).toEqual([
      expect.objectContaining({ payload: { client_id: 'client-1', resource_id: EXAMPLE_IDS.lan } }),
    ]);
    expect([...h.grants.all()]).toEqual([]);
  });

  it('a late acknowledgement does not reject a newer authorization of the same pair', () => {
    const h = harness();
    h.core.connect('g', gatewayInfo(), T0);
    h.join('g', 'gateway');
    h.core.connect('c', clientInfo(), T0);
    h.join('c', 'client');
    h.send('c', 'client', 'request_authorization', {
      resource_id: EXAMPLE_IDS.lan,
      connected_gateway_ids: [],
    });
    h.send(
      'c',
      'client',
      'request_authorization',
      { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] },
      T0 + 2000,
    );
    const [first, second] = h
      .frames('g', 'create_authorization')
      .map((f) => (f.payload as { ref: string }).ref);
    h.send('g', 'gateway', 'authorization_created', { ref: second }, T0 + 2100);
    h.send('g', 'gateway', 'authorization_created', { ref: first }, T0 + 2200);
    expect(h.frames('g', 'reject_access')).toEqual([]);
    expect([...h.grants.all()]).toHaveLength(1);
  });

  it('a grant deleted while its gateway is offline is withdrawn when that gateway returns', () => {
    const h = harness();
    granted(h);
    h.core.disconnect('g', T0 + 1000);
    const catalog = exampleCatalog();
    h.core.setCatalog(
      { ...catalog, policies: catalog.policies.filter((p) => p.resourceId !== EXAMPLE_IDS.lan) },
      T0 + 2000,
    );
    h.core.connect('g2', gatewayInfo(), T0 + 3000);
    h.join('g2', 'gateway', T0 + 3000);
    // Not in init (the gateway drops what init does not list) and, for a gateway that kept state
    // across the reconnect, an explicit reject_access as well.
    expect(gatewayInitAuthorizations(h, 'g2')).toEqual([]);
    expect(h.frames('g2', 'reject_access')).toEqual([
      expect.objectContaining({ payload: { client_id: 'client-1', resource_id: EXAMPLE_IDS.lan } }),
    ]);
  });

  it('grants stored before a restart on a changed config are checked against the new config', () => {
    const grants = new MemoryGrantStore();
    const first = harness({ grants });
    granted(first);
    const catalog = exampleCatalog();
    // The portal restarts with a config whose policy for the LAN is gone.
    const h = harness({
      grants,
      catalog: { ...catalog, policies: catalog.policies.filter((p) => p.resourceId !== EXAMPLE_IDS.lan) },
    });
    h.core.connect('g', gatewayInfo(), T0 + 5000);
    h.join('g', 'gateway', T0 + 5000);
    expect(gatewayInitAuthorizations(h, 'g')).toEqual([]);
    expect(h.frames('g', 'reject_access')).toHaveLength(1);
    expect([...grants.all()]).toEqual([]);
  });

  it("a grant's lifetime follows the token's and the policy's", () => {
    const catalog = exampleCatalog();
    const policyEnds = T0 / 1000 + 2 * HOUR;
    const h = harness({
      catalog: {
        ...catalog,
        policies: catalog.policies.map((p) =>
          p.resourceId === EXAMPLE_IDS.lan ? { ...p, expiresAt: policyEnds } : p,
        ),
      },
    });
    granted(h, T0, clientInfo({ tokenExpiresAt: T0 / 1000 + 30 * 24 * HOUR }));
    const create = h.frames('g', 'create_authorization')[0]!.payload as { expires_at: number };
    expect(create.expires_at).toBe(policyEnds);
    expect([...h.grants.all()][0]!.expiresAt).toBe(policyEnds);

    // A token that ends first bounds it instead.
    const h2 = harness();
    const tokenEnds = T0 / 1000 + HOUR;
    granted(h2, T0, clientInfo({ tokenExpiresAt: tokenEnds }));
    expect((h2.frames('g', 'create_authorization')[0]!.payload as { expires_at: number }).expires_at).toBe(
      tokenEnds,
    );
  });

  it('an expired policy grants nothing: the resource leaves the client and its grants go', () => {
    const catalog = exampleCatalog();
    const policyEnds = T0 / 1000 + 60;
    const h = harness({
      catalog: {
        ...catalog,
        policies: catalog.policies.map((p) =>
          p.resourceId === EXAMPLE_IDS.lan ? { ...p, expiresAt: policyEnds } : p,
        ),
      },
    });
    granted(h);
    expect(h.core.pollTimeout()).toBeLessThanOrEqual(policyEnds * 1000);
    h.core.handleTimeout(policyEnds * 1000);
    h.flush();
    expect(h.frames('c', 'resource_deleted').map((f) => f.payload)).toEqual([EXAMPLE_IDS.lan]);
    expect([...h.grants.all()]).toEqual([]);
    h.send(
      'c',
      'client',
      'request_authorization',
      { resource_id: EXAMPLE_IDS.lan, connected_gateway_ids: [] },
      policyEnds * 1000 + 1,
    );
    expect(h.frames('c', 'authorization_creation_failed').at(-1)!.payload).toMatchObject({
      reason: 'not_found',
    });
  });
});
