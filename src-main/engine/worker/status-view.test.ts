import { describe, expect, it } from 'vitest';
import type { ClientStatus } from '../../../src-engine/client/client-runtime.js';
import { engineStatusOf, resourcesOf, sessionFailure } from './status-view.js';

type R = ClientStatus['resources'][number];

function resource(over: Partial<R>): R {
  return {
    id: 'r1',
    name: 'HQ LAN',
    address: '10.0.0.0/24',
    type: 'cidr',
    gatewayId: undefined,
    siteOffline: false,
    sites: [{ id: 's1', name: 'HQ' }],
    addressDescription: 'the LAN',
    canBeDisabled: false,
    flow: { state: 'idle' },
    ...over,
  };
}

function status(resources: R[], connections: ClientStatus['connections'] = []): ClientStatus {
  return {
    portal: { status: 'joined', since: 0 },
    signedInAs: undefined,
    deviceId: 'd',
    interface: undefined,
    resources,
    connections,
    relays: [],
    dns: { names: [] } as unknown as ClientStatus['dns'],
    drops: {},
  };
}

describe('engine status', () => {
  it('is connected only once the session is joined and the interface applied', () => {
    expect(engineStatusOf({ status: 'joined', since: 1 }, undefined, 0)).toMatchObject({
      state: 'connecting',
      phase: 'tunnel',
    });
    expect(
      engineStatusOf({ status: 'joined', since: 1 }, { ipv4: '100.64.0.2', ipv6: 'fd00::2' }, 0),
    ).toEqual({
      state: 'connected',
      ipv4: '100.64.0.2',
      ipv6: 'fd00::2',
    });
  });

  it('a reconnect shows the attempt, why, and when it retries', () => {
    const s = engineStatusOf(
      {
        status: 'reconnecting',
        attempt: 2,
        delayMs: 4000,
        retryAt: 10_000,
        lastError: { kind: 'network', message: 'ECONNREFUSED' },
      },
      undefined,
      7_500,
    );
    expect(s).toEqual({
      state: 'connecting',
      phase: 'portal',
      attempt: 3,
      reason: 'cannot reach the portal: ECONNREFUSED',
      retryInMs: 2500,
    });
  });

  it('a refused token is an authentication failure, a network error is not', () => {
    expect(sessionFailure({ kind: 'http', status: 403 }).code).toBe('authentication-failed');
    expect(
      sessionFailure({ kind: 'budget_exhausted', last: { kind: 'network', message: 'EHOSTUNREACH' } }),
    ).toMatchObject({ code: 'portal-unreachable', message: expect.stringContaining('EHOSTUNREACH') });
  });
});

describe('resources', () => {
  it('maps each flow state, with diagnostics for a connected one', () => {
    const established = new Map<string, number>();
    const list = resourcesOf(
      status(
        [
          resource({ id: 'a', name: 'A', flow: { state: 'connected', gatewayId: 'g1' }, gatewayId: 'g1' }),
          resource({ id: 'b', name: 'B', flow: { state: 'connecting', since: 5 } }),
          resource({
            id: 'c',
            name: 'C',
            flow: { state: 'failed', failure: { reason: 'forbidden', at: 7 } },
          }),
          resource({ id: 'd', name: 'D', flow: { state: 'failed', failure: { reason: 'weird', at: 8 } } }),
          resource({ id: 'e', name: 'E', type: 'internet', canBeDisabled: true, address: '0.0.0.0/0' }),
          resource({ id: 'f', name: 'F', type: 'static_device_pool' }),
        ],
        [
          {
            id: 'g1',
            state: 'connected',
            path: {
              local: '10.0.0.2:1',
              remote: '10.9.0.1:3478',
              localKind: 'host',
              remoteKind: 'relay',
              relayed: true,
            },
            rttMs: 1.234,
            txBytes: 10,
            rxBytes: 20,
            lastHandshakeAt: 99,
            resources: ['a'],
          },
        ],
      ),
      established,
      1000,
    );
    expect(list.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(list[0]).toMatchObject({
      sites: [{ id: 's1', name: 'HQ', status: 'online' }],
      addressDescription: 'the LAN',
      connection: {
        state: 'connected',
        diagnostics: {
          path: 'relayed',
          gatewayId: 'g1',
          remoteAddress: '10.9.0.1:3478',
          relayAddress: '10.9.0.1:3478',
          rttMs: 1.2,
          txBytes: 10,
          rxBytes: 20,
          lastHandshakeAt: 99,
          establishedAt: 99,
        },
      },
    });
    expect(list[1]!.connection).toEqual({ state: 'connecting', since: 5 });
    expect(list[2]!.connection).toMatchObject({ state: 'failed', reason: 'forbidden', at: 7 });
    expect(list[3]!.connection).toMatchObject({ state: 'failed', reason: 'unknown' });
    expect(list[4]).toMatchObject({ type: 'internet', canBeDisabled: true });
    // The time it was first seen up stays; a gateway that went away is forgotten.
    resourcesOf(
      status([resource({ id: 'a', flow: { state: 'connected', gatewayId: 'g1' } })]),
      established,
      2000,
    );
    expect(established.get('g1')).toBe(99);
    resourcesOf(status([resource({ id: 'a' })]), established, 3000);
    expect(established.size).toBe(0);
  });

  it('an offline site shows as offline', () => {
    const [r] = resourcesOf(status([resource({ siteOffline: true })]), new Map(), 0);
    expect(r!.sites[0]!.status).toBe('offline');
  });
});
