/**
 * Connectivity scenarios (`npm run test:system -- connectivity`): the real portal, coturn, headless
 * gateways and the headless client in network namespaces with NAT, driven by ping, curl and
 * status. Each scenario builds its own topology, and fails on any warning or error line of our
 * processes that it does not expect.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { removeStale } from '../netns.js';
import { saveArtifacts, startLinkCaptures } from '../artifacts.js';
import { HELLO, resourceBytesSha256 } from './resource-data.js';
import { ADDRESSES, buildTopology, type ConnectivityTopology, type TopologyOptions } from './topology.js';
import { FORBIDDEN_IP, RESOURCE_B_IP, RESOURCE_IP, System } from './system.js';

/** Warnings that are expected in every run. */
const EXPECTED: readonly RegExp[] = [
  // Peers' host candidates on other private networks are unreachable through NAT: checks to them fail.
  /unreachable host candidate/,
  // The test portal speaks plain HTTP inside the namespaces.
  /portal URL is not encrypted/,
];

let current: { topo: ConnectivityTopology; system: System } | undefined;

afterEach(async (context) => {
  const world = current;
  current = undefined;
  if (!world) return;
  if (context.task.result?.state === 'fail') {
    const saved = saveArtifacts(world.topo, context.task.name);
    console.error(
      `--- logs of the failed scenario "${context.task.name}" (all of them: ${saved}) ---\n${world.topo.logs(6000)}`,
    );
  }
  await world.topo.destroy();
});

async function world(
  options: TopologyOptions,
  gateways = 1,
): Promise<{ topo: ConnectivityTopology; system: System }> {
  await removeStale();
  const topo = await buildTopology({ ipv6: false, ...options, gateways: options.gateways ?? gateways });
  startLinkCaptures(topo);
  const system = new System(topo);
  current = { topo, system };
  await system.start(gateways);
  return current;
}

function expectNoWarnings(system: System, allowed: readonly RegExp[] = []): void {
  expect(system.warnings([...EXPECTED, ...allowed])).toEqual([]);
}

describe('connectivity scenarios', () => {
  it('direct path behind cone NAT: ping and curl a CIDR resource; status shows direct', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    // The first echoes wait for the flow (portal grant, ICE, handshake): under load that can take
    // longer than a 1 s burst, so the path is set up first, then measured.
    const first = await topo.ping(RESOURCE_IP, { count: 1, waitS: 10 });
    expect(first.received).toBe(1);
    const ping = await topo.ping(RESOURCE_IP, { count: 5, intervalS: 0.2, waitS: 3 });
    expect(ping.received).toBeGreaterThanOrEqual(4);
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 10_000 });
    expect(page.status).toBe(200);
    expect(page.body).toBe(HELLO);
    const status = await system.status();
    expect(status.connections).toHaveLength(1);
    expect(status.connections[0]).toMatchObject({ state: 'connected', path: { relayed: false } });
    expect(status.connections[0]!.rttMs).toBeGreaterThan(0);
    expectNoWarnings(system);
  }, 120_000);

  it('symmetric NAT on both sides: works through coturn; status shows relayed', async () => {
    const { topo, system } = await world({ clientNat: 'symmetric', siteNat: 'symmetric' });
    const ping = await topo.ping(RESOURCE_IP, { count: 8, intervalS: 0.25, waitS: 5 });
    expect(ping.received).toBeGreaterThanOrEqual(5);
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 10_000 });
    expect(page.body).toBe(HELLO);
    const status = await system.status();
    expect(status.connections[0]).toMatchObject({ state: 'connected', path: { relayed: true } });
    expectNoWarnings(system);
  }, 120_000);

  it('20 % loss on the client link: a 10 MB download completes with the right checksum', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    // Connect first, then make the link lossy.
    expect((await topo.ping(RESOURCE_IP, { count: 3, intervalS: 0.2, waitS: 3 })).received).toBeGreaterThan(
      0,
    );
    // As netem on one side of the link: 20 % of what reaches the client (the download's data) is lost.
    await topo.impair('client-lan', { lossPercent: 20, direction: 'down' });
    const n = 10 * 1024 * 1024;
    const download = await topo.curl(`http://${RESOURCE_IP}/bytes?n=${n}`, {
      sha256: true,
      timeoutMs: 170_000,
    });
    expect(download.bytes).toBe(n);
    expect(download.sha256).toBe(resourceBytesSha256(n));
    await topo.clearImpairment('client-lan');
    expectNoWarnings(system);
  }, 240_000);

  it('the client roams to a new address mid-download: the same TCP connection survives', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect((await topo.ping(RESOURCE_IP, { count: 3, intervalS: 0.2, waitS: 3 })).received).toBeGreaterThan(
      0,
    );
    const n = 20 * 1024 * 1024;
    // A slow download (rate-limited on the resource side of the path) that is still running
    // when the client's address changes.
    await topo.impair('client-lan', { rateMbit: 20, direction: 'down' });
    const download = topo.curl(`http://${RESOURCE_IP}/bytes?n=${n}`, { sha256: true, timeoutMs: 110_000 });
    await delay(2_000);
    const before = await system.status();
    const roamedAt = Date.now();
    await topo.roamClient();
    // The new address is noticed (0.5 s poll), the session reset, and a fresh handshake completed:
    // Firezone's roaming target is a new handshake within 2 s of the change.
    const rehandshaken = await system.waitForStatus(
      (s) => s.connections.some((c) => c.lastHandshakeAt !== undefined && c.lastHandshakeAt >= roamedAt),
      30_000,
      'a handshake after roaming',
    );
    const handshakeMs =
      Math.min(
        ...rehandshaken.connections.map((c) => c.lastHandshakeAt ?? -Infinity).filter((at) => at >= roamedAt),
      ) - roamedAt;
    console.log(`roaming: new handshake ${handshakeMs} ms after the address change`);
    expect(handshakeMs).toBeLessThanOrEqual(2_000);
    const result = await download;
    expect(result.bytes).toBe(n);
    expect(result.sha256).toBe(resourceBytesSha256(n));
    const after = await system.status();
    expect(after.portal.status).toBe('joined');
    expect(before.connections[0]?.state).toBe('connected');
    // The portal notes the client's new session (it reconnected from its new address).
    expectNoWarnings(system, [
      /client device connected again/,
      /portal connection lost; reconnecting.*(ENETUNREACH|EADDRNOTAVAIL)/,
    ]);
  }, 180_000);

  it('two gateways: flows spread over both; one killed, its traffic moves to the other within 10 s', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'none' }, 2);
    // Both resources asked for at once: the portal balances them over the two gateways.
    const [a, b] = await Promise.all([
      topo.ping(RESOURCE_IP, { count: 5, intervalS: 0.2, waitS: 3 }),
      topo.ping(RESOURCE_B_IP, { count: 5, intervalS: 0.2, waitS: 3 }),
    ]);
    expect(a.received).toBeGreaterThan(0);
    expect(b.received).toBeGreaterThan(0);
    const status = await system.status();
    const gatewayOf = (name: string): string | undefined =>
      status.resources.find((r) => r.name === name)?.gatewayId;
    expect(status.connections).toHaveLength(2);
    expect(gatewayOf('Resources A')).not.toBe(gatewayOf('Resources B'));

    // Kill the gateway serving resource A (the site is not NATed here, so the path's remote
    // address names the gateway host); keep pinging A until replies come back.
    const serving = gatewayOf('Resources A')!;
    const remote = status.connections.find((c) => c.id === serving)?.path?.remote ?? '';
    const victim = [1, 2].find((i) => remote.startsWith(`${ADDRESSES.gateway(i).ipv4}:`));
    expect(victim, `no gateway host at ${remote}`).toBeDefined();
    const killedAt = Date.now();
    await topo.killAll(topo.gateway(victim!));
    let movedAfterMs: number | undefined;
    while (Date.now() - killedAt < 20_000 && movedAfterMs === undefined) {
      const p = await topo.ping(RESOURCE_IP, { count: 1, waitS: 1 });
      if (p.received > 0) movedAfterMs = Date.now() - killedAt;
    }
    expect(movedAfterMs, 'traffic never moved to the other gateway').toBeDefined();
    expect(movedAfterMs!).toBeLessThanOrEqual(10_000);
    const after = await system.status();
    expect(after.resources.find((r) => r.name === 'Resources A')?.gatewayId).not.toBe(serving);
    expectNoWarnings(system, [/portal connection lost/, /gateway did not acknowledge/]);
  }, 150_000);

  it('a policy removed from the portal config: access ends within 2 s', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect((await topo.ping(RESOURCE_IP, { count: 3, intervalS: 0.2, waitS: 3 })).received).toBeGreaterThan(
      0,
    );
    const changedAt = Date.now();
    await system.setLanPolicy(false);
    let endedAfterMs: number | undefined;
    while (Date.now() - changedAt < 10_000 && endedAfterMs === undefined) {
      const p = await topo.ping(RESOURCE_IP, { count: 1, waitS: 0.3 });
      if (p.received === 0) endedAfterMs = Date.now() - changedAt;
    }
    expect(endedAfterMs, 'access never ended').toBeDefined();
    expect(endedAfterMs!).toBeLessThanOrEqual(2_000);
    // It stays ended, and the client no longer lists or routes the resource.
    expect((await topo.ping(RESOURCE_IP, { count: 3, intervalS: 0.2, waitS: 1 })).received).toBe(0);
    const status = await system.status();
    expect(status.resources.map((r) => r.name)).not.toContain('Resources A');
    expect(status.interface?.routes).not.toContain('10.203.0.0/26');
    expectNoWarnings(system);
  }, 120_000);

  it('a resource the user has no policy for: no route, no flow, nothing reaches it', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    // Count every packet that arrives for the forbidden address on the resource host.
    await topo.resourceHost.nft(
      `table inet fz_probe {\n chain input {\n  type filter hook input priority 0;\n  ip daddr ${FORBIDDEN_IP} counter\n }\n}\n`,
    );
    const status = await system.status();
    expect(status.resources.map((r) => r.name)).not.toContain('Forbidden');
    expect(status.interface?.routes.some((r) => r.startsWith('10.203.0.128'))).toBe(false);
    expect((await topo.ping(FORBIDDEN_IP, { count: 3, intervalS: 0.2, waitS: 1 })).received).toBe(0);
    // Even forced into the tunnel by a route of our own, the client engine sends it nowhere.
    const tun = status.interface
      ? (await topo.client.exec('ip', ['-o', 'link'])).stdout.match(/tun-fzclient/)?.[0]
      : undefined;
    expect(tun).toBe('tun-fzclient');
    await topo.client.ip('route', 'add', `${FORBIDDEN_IP}/32`, 'dev', 'tun-fzclient');
    expect((await topo.ping(FORBIDDEN_IP, { count: 3, intervalS: 0.2, waitS: 1 })).received).toBe(0);
    const counter = await topo.resourceHost.exec('nft', ['list', 'table', 'inet', 'fz_probe']);
    expect(counter.stdout).toMatch(/counter packets 0 bytes 0/);
    expect((await system.status()).drops.no_route).toBeGreaterThan(0);
    expect((await system.status()).connections).toHaveLength(0);
    expectNoWarnings(system);
  }, 120_000);
});
