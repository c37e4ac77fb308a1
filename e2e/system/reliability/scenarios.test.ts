/**
 * Reliability scenarios (`npm run test:system -- reliability`): the real portal, coturn, gateway
 * and headless client in network namespaces, while parts of the system go away and come back.
 * Each builds its own topology and fails on any warning or error line of our processes that it
 * does not expect.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { removeStale } from '../netns.js';
import { saveArtifacts, startLinkCaptures } from '../artifacts.js';
import {
  ADDRESSES,
  buildTopology,
  type ConnectivityTopology,
  type TopologyOptions,
} from '../connectivity/topology.js';
import { RESOURCE_B_IP, RESOURCE_IP, System, type SystemOptions } from '../connectivity/system.js';
import { resourceBytesSha256 } from '../connectivity/resource-data.js';

const REPO = new URL('../../../', import.meta.url).pathname;

/** Warnings that are expected in every run. */
const EXPECTED: readonly RegExp[] = [
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
  systemOptions: SystemOptions = {},
): Promise<{ topo: ConnectivityTopology; system: System }> {
  await removeStale();
  const topo = await buildTopology({ ipv6: false, gateways: 1, ...options });
  startLinkCaptures(topo);
  const system = new System(topo, systemOptions);
  current = { topo, system };
  await system.start(1);
  return current;
}

function expectNoWarnings(system: System, allowed: readonly RegExp[] = []): void {
  expect(system.warnings([...EXPECTED, ...allowed])).toEqual([]);
}

/** Pings once a `intervalMs` for `forMs`; returns how many of the pings got a reply. */
async function pingFor(
  topo: ConnectivityTopology,
  ip: string,
  forMs: number,
  intervalMs = 1_000,
): Promise<{ sent: number; answered: number }> {
  let sent = 0;
  let answered = 0;
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    const started = Date.now();
    const p = await topo.ping(ip, { count: 1, waitS: 1 });
    sent++;
    if (p.received > 0) answered++;
    await delay(Math.max(0, intervalMs - (Date.now() - started)));
  }
  return { sent, answered };
}

async function reachable(
  topo: ConnectivityTopology,
  ip: string,
  withinMs: number,
): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < withinMs) {
    const p = await topo.ping(ip, { count: 1, waitS: 1 });
    if (p.received > 0) return Date.now() - start;
  }
  return undefined;
}

describe('reliability scenarios', () => {
  it('portal down: existing tunnels keep working, a new flow waits; the portal returns, everything works', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();

    await system.portal.stop();
    await system.waitForStatus((s) => s.portal.status === 'reconnecting', 15_000, 'the client to notice');
    // The tunnel to the gateway does not need the portal.
    const during = await pingFor(topo, RESOURCE_IP, 15_000);
    expect(during.answered).toBe(during.sent);
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 10_000 });
    expect(page.status).toBe(200);
    // A resource never asked for needs the portal's grant: no answer while it is away, and the
    // status says why (the portal session is reconnecting).
    expect((await topo.ping(RESOURCE_B_IP, { count: 2, waitS: 1 })).received).toBe(0);
    const status = await system.status();
    expect(status.portal.status).toBe('reconnecting');
    expect(status.resources.find((r) => r.name === 'Resources B')?.flow.state).toBe('connecting');

    await system.startPortal();
    await system.waitForStatus((s) => s.portal.status === 'joined', 60_000, 'the client to rejoin');
    expect(
      await reachable(topo, RESOURCE_B_IP, 20_000),
      'resource B after the portal returned',
    ).toBeDefined();
    expect(await reachable(topo, RESOURCE_IP, 10_000)).toBeDefined();
    expectNoWarnings(system, [/portal connection lost/, /reconnecting/, /gateway did not acknowledge/]);
  }, 180_000);

  it('relay restart: a relayed flow comes back through the new relay', async () => {
    const { topo, system } = await world({ clientNat: 'symmetric', siteNat: 'symmetric' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    await system.waitForStatus(
      (s) => s.connections.some((c) => c.state === 'connected' && c.path?.relayed === true),
      15_000,
      'a relayed connection',
    );
    await topo.relay!.restart();
    // The allocations died with coturn: the client and the gateway allocate again and the
    // connection moves to the new relayed candidates.
    const back = await reachable(topo, RESOURCE_IP, 60_000);
    expect(back, 'the flow never came back after the relay restarted').toBeDefined();
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 15_000 });
    expect(page.status).toBe(200);
    expectNoWarnings(system, [
      /relay/i,
      /allocation/i,
      /connection to gateway failed/,
      /gateway did not acknowledge/,
      /TURN/,
    ]);
  }, 180_000);

  it('token expired: the client is signed out, its tunnel is torn down and it exits', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' }, { tokenTtl: '25s' });
    expect(await reachable(topo, RESOURCE_IP, 15_000)).toBeDefined();
    const client = system.client!;
    const deadline = Date.now() + 60_000;
    while (client.running && Date.now() < deadline) await delay(250);
    expect(client.running, 'the client kept running with an expired token').toBe(false);
    expect(client.output).toMatch(/signed out/);
    // No TUN, no routes into it: nothing of the tunnel is left on the client.
    const links = await topo.client.exec('ip', ['-o', 'link', 'show']);
    expect(links.stdout).not.toMatch(/tun-fzclient/);
    expect((await topo.ping(RESOURCE_IP, { count: 2, waitS: 1 })).received).toBe(0);
    expectNoWarnings(system, [/signed out/, /token/]);
  }, 180_000);

  it('a 1280-byte MTU on the client link: TCP and large UDP still get through the tunnel', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    // IPv6's minimum MTU: the tunnel's full-size packets (1280 inside, 1340 outside) no longer
    // fit in one frame of the client's own link.
    await topo.mtu('client-lan', 1280);
    const n = 2 * 1024 * 1024;
    const download = await topo.curl(`http://${RESOURCE_IP}/bytes?n=${n}`, {
      sha256: true,
      timeoutMs: 60_000,
    });
    expect(download.bytes).toBe(n);
    expect(download.sha256).toBe(resourceBytesSha256(n));
    const echo = await largeUdpEcho(topo, RESOURCE_IP, 1200, 20);
    expect(echo.received, `${echo.received} of 20 large datagrams came back`).toBeGreaterThanOrEqual(18);
    expectNoWarnings(system);
  }, 180_000);
  it('1,000 resources and 100 concurrent connections on one client', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => i);
    const { topo, system } = await world(
      { clientNat: 'cone', siteNat: 'cone' },
      {
        resources: many.map(
          (i) => `{ name: R${i}, type: cidr, address: 10.230.${i >> 8}.${i & 255}/32, site: HQ }`,
        ),
        policies: many.map((i) => `{ group: engineering, resource: R${i} }`),
      },
    );
    const status = await system.waitForStatus(
      (s) => s.resources.length === 1002 && (s.interface?.routes.length ?? 0) >= 1002,
      60_000,
      'the 1,002 resources and their routes',
    );
    expect(status.resources.filter((r) => /^R\d+$/.test(r.name))).toHaveLength(1000);
    // Every route reaches the kernel's table for the tunnel (applied after the status shows them).
    let routes = 0;
    const until = Date.now() + 30_000;
    while (routes < 1000 && Date.now() < until) {
      const table = await topo.client.exec('ip', ['-4', 'route', 'show', 'table', '539098368'], {
        allowFailure: true,
      });
      routes = table.stdout.split('\n').filter((line) => line.startsWith('10.230.')).length;
      if (routes < 1000) await delay(250);
    }
    expect(routes).toBe(1000);
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    // 100 TCP connections at once through the one gateway, each with the right bytes.
    const n = 64 * 1024;
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        topo.curl(`http://${RESOURCE_IP}/bytes?n=${n}`, { sha256: true, timeoutMs: 60_000 }),
      ),
    );
    expect(results.filter((r) => r.bytes === n && r.sha256 === resourceBytesSha256(n))).toHaveLength(100);
    expectNoWarnings(system);
  }, 240_000);
  it('portal restart: the client rejoins at once, flows keep working, a new one gets its grant', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    const pinging = pingFor(topo, RESOURCE_IP, 12_000, 500);
    await system.portal.stop();
    await system.startPortal();
    await system.waitForStatus((s) => s.portal.status === 'joined', 60_000, 'the client to rejoin');
    // Not one echo lost to the restart: the tunnel never depended on the portal.
    const during = await pinging;
    expect(during.answered).toBe(during.sent);
    expect(await reachable(topo, RESOURCE_B_IP, 20_000), 'a new flow after the restart').toBeDefined();
    expectNoWarnings(system, [/portal connection lost/, /reconnecting/, /gateway did not acknowledge/]);
  }, 180_000);

  it('gateway restart: the flow comes back through the new gateway process within seconds', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    await system.gateways[1]!.stop();
    await system.startGateway(1);
    const back = await reachable(topo, RESOURCE_IP, 30_000);
    expect(back, 'the flow never came back after the gateway restarted').toBeDefined();
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 15_000 });
    expect(page.status).toBe(200);
    expectNoWarnings(system, [/connection to gateway failed/, /gateway did not acknowledge/, /Goodbye/i]);
  }, 180_000);
  it('a handshake flood against the gateway: it answers with cookies and a legitimate client still connects', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    const db = new Database(join(system.dir, 'portal-data', 'portal.sqlite3'), { readonly: true });
    const row = db.prepare(`SELECT public_key FROM devices WHERE kind = 'gateway'`).get() as
      { public_key: string } | undefined;
    db.close();
    expect(row?.public_key).toBeTruthy();
    // From the site router, next to the gateway on its LAN (the site's NAT would drop a flood
    // from the Internet before it reached the gateway).
    const flood = topo.spawnTsx('site-router', join(REPO, 'e2e/system/reliability/handshake-flood.ts'), [
      ADDRESSES.gateway(1).ipv4,
      '52625',
      row!.public_key,
      '20',
    ]);
    await delay(2_000);
    // The client's first packet needs a handshake with the flooded gateway.
    const connectedAfter = await reachable(topo, RESOURCE_IP, 15_000);
    expect(connectedAfter, 'the client never connected during the flood').toBeDefined();
    const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 10_000 });
    expect(page.status).toBe(200);
    await flood.waitForExit(40_000);
    const [, sent, cookies] = /SENT (\d+) COOKIES (\d+)/.exec(flood.output) ?? [];
    expect(Number(sent)).toBeGreaterThan(10_000);
    // Under load the gateway stops doing the expensive work and answers with cookies.
    expect(Number(cookies)).toBeGreaterThan(0);
    expectNoWarnings(system);
  }, 180_000);
  it('site offline: a new flow fails with the reason "offline"; the gateway returns and it works', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    await system.gateways[1]!.stop();
    // Resource B was never used: its first packet asks the portal, which has no gateway online.
    expect((await topo.ping(RESOURCE_B_IP, { count: 2, waitS: 1 })).received).toBe(0);
    const failed = await system.waitForStatus(
      (s) => s.resources.find((r) => r.name === 'Resources B')?.flow.state === 'failed',
      15_000,
      'the flow to fail',
    );
    expect(failed.resources.find((r) => r.name === 'Resources B')?.flow).toMatchObject({
      state: 'failed',
      failure: { reason: 'offline' },
    });
    await system.startGateway(1);
    expect(await reachable(topo, RESOURCE_B_IP, 30_000), 'resource B once the site is back').toBeDefined();
    expectNoWarnings(system, [/site offline/]);
  }, 180_000);

  it('client restart: the same device gets the same tunnel address and reaches its resources again', async () => {
    const { topo, system } = await world({ clientNat: 'cone', siteNat: 'cone' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    const before = (await system.status()).interface?.ipv4;
    await system.client!.stop();
    await system.startClient();
    const after = await system.waitForStatus((s) => s.interface !== undefined, 30_000, 'the client to join');
    expect(after.interface?.ipv4).toBe(before);
    expect(await reachable(topo, RESOURCE_IP, 20_000), 'the resource after the restart').toBeDefined();
    expectNoWarnings(system, [/Goodbye/i, /gateway did not acknowledge/]);
  }, 180_000);
  it('20 % loss on a relayed path: a download through coturn completes with the right checksum', async () => {
    const { topo, system } = await world({ clientNat: 'symmetric', siteNat: 'symmetric' });
    expect(await reachable(topo, RESOURCE_IP, 20_000)).toBeDefined();
    await system.waitForStatus(
      (s) => s.connections.some((c) => c.state === 'connected' && c.path?.relayed === true),
      15_000,
      'a relayed connection',
    );
    await topo.impair('client-lan', { lossPercent: 20, direction: 'down' });
    const n = 2 * 1024 * 1024;
    const download = await topo.curl(`http://${RESOURCE_IP}/bytes?n=${n}`, {
      sha256: true,
      timeoutMs: 120_000,
    });
    expect(download.bytes).toBe(n);
    expect(download.sha256).toBe(resourceBytesSha256(n));
    await topo.clearImpairment('client-lan');
    expectNoWarnings(system, [/relay/i, /allocation/i, /TURN/, /retransmi/i]);
  }, 180_000);
});

/** Sends `count` UDP datagrams of `size` bytes to the resource's echo port; counts the echoes. */
async function largeUdpEcho(
  topo: ConnectivityTopology,
  ip: string,
  size: number,
  count: number,
): Promise<{ received: number }> {
  const script = `
const s = require('node:dgram').createSocket('udp4');
const seen = new Set();
s.on('message', (m) => { if (m.length === ${size}) seen.add(m.readUInt32BE(0)); });
s.bind(0, () => {
  for (let i = 0; i < ${count}; i++) {
    const b = Buffer.alloc(${size}, 0x5a);
    b.writeUInt32BE(i, 0);
    setTimeout(() => s.send(b, 7, '${ip}'), i * 50);
  }
  setTimeout(() => { console.log('RESULT ' + seen.size); s.close(); }, ${count} * 50 + 3000);
});`;
  const res = await topo.client.exec(process.execPath, ['-e', script], { timeoutMs: 30_000 });
  return { received: Number(/RESULT (\d+)/.exec(res.stdout)?.[1] ?? 0) };
}
