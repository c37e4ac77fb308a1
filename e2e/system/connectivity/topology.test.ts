/**
 * The connectivity topology itself: routing through the NAT routers, the gateways' reach to the
 * resource host, the NAT types' mapping and filtering behaviour (with hole punching), coturn with
 * TURN REST credentials, link impairment, roaming, and a clean-up that leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNamespaces, pidAlive, removeStale, type NsProcess } from '../netns.js';
import { routerRuleset } from './nat.js';
import { HELLO, resourceBytesSha256 } from './resource-data.js';
import {
  ADDRESSES,
  PORTS,
  buildTopology,
  turnRestCredentials,
  type ConnectivityTopology,
} from './topology.js';
import {
  holePunch,
  probeDoneOf,
  probeMappings,
  probeResultOf,
  sendUdp,
  spawnProbe,
  stunBinding,
  udpEchoCheck,
} from './udp.js';

const REFLECTOR_PORT = 3500;
let topo: ConnectivityTopology;
let reflectors: NsProcess[] = [];

beforeAll(async () => {
  await removeStale();
  topo = await buildTopology();
  reflectors = await Promise.all([
    topo.startReflector('relay', REFLECTOR_PORT),
    topo.startReflector('portal', REFLECTOR_PORT),
    topo.startReflector('relay', REFLECTOR_PORT, 6),
    topo.startReflector('portal', REFLECTOR_PORT, 6),
  ]);
}, 60_000);

afterAll(async () => {
  await topo?.destroy();
});

/** The reflectors on the relay and portal hosts, IPv4 or IPv6. */
function reflectorTargets(family: 4 | 6 = 4): { address: string; port: number }[] {
  return [topo.addressOf('relay', REFLECTOR_PORT, family), topo.addressOf('portal', REFLECTOR_PORT, family)];
}

function onFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (err instanceof Error) err.message += `\n--- process logs ---\n${topo.logs(3000)}`;
    throw err;
  });
}

describe('pure parts', () => {
  it('computes TURN REST credentials as coturn expects (vector from openssl)', () => {
    // printf %s 1796458518:alice | openssl dgst -sha1 -hmac abc -binary | base64
    const creds = turnRestCredentials('abc', 'alice', 600, (1796458518 - 600) * 1000);
    expect(creds).toEqual({
      username: '1796458518:alice',
      password: 'uqdHGjjaem/aERism2IQE0G8sHo=',
      expiresAt: 1796458518,
    });
  });

  it('writes masquerade rules per NAT type and keeps isolated LANs off the WAN', () => {
    const spec = (nat: 'none' | 'cone' | 'symmetric') =>
      routerRuleset({
        wan: 'wan0',
        nat4: nat,
        nat6: 'cone',
        lans: [
          { ifname: 'lan0', ipv4: '10.201.0.0/24', ipv6: 'fd00:201::/64', talksTo: ['res0'] },
          { ifname: 'res0', ipv4: '10.203.0.0/24', isolated: true, talksTo: ['lan0'] },
        ],
      });
    expect(spec('cone')).toMatch(/ip saddr 10\.201\.0\.0\/24 masquerade\n/);
    expect(spec('symmetric')).toMatch(/ip saddr 10\.201\.0\.0\/24 masquerade fully-random\n/);
    expect(spec('none')).not.toMatch(/ip saddr/);
    expect(spec('none')).toMatch(/iifname "wan0" oifname "lan0" meta nfproto ipv4 accept/);
    expect(spec('cone')).not.toMatch(/10\.203/);
    expect(spec('cone')).not.toMatch(/oifname "res0" meta nfproto/);
    expect(() => routerRuleset({ wan: 'wan0;drop', nat4: 'cone', nat6: 'cone', lans: [] })).toThrow(
      /interface/,
    );
  });
});

describe('connectivity topology', () => {
  it('(a) lets the client reach the relay and the portal through its NAT router, not the resources', () =>
    onFailure(async () => {
      for (const dest of [
        ADDRESSES.relay.ipv4,
        ADDRESSES.portal.ipv4,
        ADDRESSES.relay.ipv6,
        ADDRESSES.portal.ipv6,
      ]) {
        const res = await topo.ping(dest, { count: 2, intervalS: 0.05 });
        expect(res.received, `ping ${dest}`).toBe(2);
      }
      // Both hosts see the client as the router's WAN address (NAT), on IPv4 and IPv6.
      for (const family of [4, 6] as const) {
        const probe = await probeMappings(topo.client, reflectorTargets(family));
        for (const r of probe.results) {
          expect(r.mapped?.address).toBe(
            family === 4 ? ADDRESSES.clientRouterWan.ipv4 : ADDRESSES.clientRouterWan.ipv6,
          );
        }
      }
      // coturn's STUN answers with the same server-reflexive address.
      const srflx = await stunBinding(topo.client, topo.addressOf('relay', PORTS.turn));
      expect(srflx?.address).toBe(ADDRESSES.clientRouterWan.ipv4);
      // The resources are private: no way there from the client except (later) a tunnel.
      const toResource = await topo.ping(ADDRESSES.resource.ipv4, { count: 1, waitS: 1 });
      expect(toResource.received).toBe(0);
    }));

  it('(b) lets every gateway reach the resource host (HTTP, payload, UDP echo, DNS, iperf3, IPv6)', () =>
    onFailure(async () => {
      const n = 10 * 1024 * 1024;
      const expectedSha = resourceBytesSha256(n);
      for (const gw of topo.gateways) {
        const hello = await topo.curl(topo.resourceUrl('/'), { from: gw });
        expect(hello).toMatchObject({ status: 200, body: HELLO });
        // The resource answers the gateway's own address: replies route back via the site router.
        const whoami = await topo.curl(topo.resourceUrl('/whoami'), { from: gw });
        expect(JSON.parse(whoami.body)).toMatchObject({ address: gw.ipv4 });
        const whoami6 = await topo.curl(topo.resourceUrl('/whoami', 6), { from: gw });
        expect(JSON.parse(whoami6.body)).toMatchObject({ address: gw.ipv6 });
        const bytes = await topo.curl(topo.resourceUrl(`/bytes?n=${n}`), { from: gw, sha256: true });
        expect(bytes).toMatchObject({ status: 200, bytes: n, sha256: expectedSha });
        const echo = await udpEchoCheck(gw, topo.addressOf('resource', PORTS.udpEcho), { count: 5 });
        expect(echo.received).toBe(5);
        const echo6 = await udpEchoCheck(gw, topo.addressOf('resource', PORTS.udpEcho, 6), { count: 5 });
        expect(echo6.received).toBe(5);
      }
      const a = await topo.dig('resource.test', { from: 'gateway1' });
      expect(a).toMatchObject({ status: 'NOERROR', answers: [ADDRESSES.resource.ipv4] });
      const aaaa = await topo.dig('resource.test', { from: 'gateway2', type: 'AAAA' });
      expect(aaaa.answers).toEqual([ADDRESSES.resource.ipv6]);
      expect((await topo.dig('nope.resource.test', { from: 'gateway1' })).status).toBe('NXDOMAIN');
      const perf = await topo.iperf3(ADDRESSES.resource.ipv4, { from: 'gateway1', seconds: 1 });
      expect(perf.bytes).toBeGreaterThan(1_000_000);
      // The internet has no route to the resources; one forced through the site router (with its
      // NAT off, even) is dropped there.
      expect((await topo.ping(ADDRESSES.resource.ipv4, { from: 'portal', count: 1 })).error).toMatch(
        /unreachable/,
      );
      await topo.setNat('site-router', 'none');
      await topo.portal.ip('route', 'add', '10.203.0.0/24', 'via', ADDRESSES.siteRouterWan.ipv4);
      try {
        const fromPortal = await topo.ping(ADDRESSES.resource.ipv4, { from: 'portal', count: 1, waitS: 1 });
        expect(fromPortal).toMatchObject({ transmitted: 1, received: 0 });
        // …while the gateways are then plainly routed.
        const gw = await topo.ping(ADDRESSES.gateway(1).ipv4, { from: 'portal', count: 1 });
        expect(gw.received).toBe(1);
      } finally {
        await topo.portal.ip('route', 'del', '10.203.0.0/24');
        await topo.setNat('site-router', 'cone');
      }
    }));

  it('(c) maps one socket to one port for every destination with cone NAT, to one port per destination with symmetric NAT', () =>
    onFailure(async () => {
      // Cone: port-preserving and endpoint-independent (v4 and v6), on both routers.
      for (const [host, wan] of [
        [topo.client, ADDRESSES.clientRouterWan],
        [topo.gateway(1), ADDRESSES.siteRouterWan],
      ] as const) {
        for (const family of [4, 6] as const) {
          const probe = await probeMappings(host, reflectorTargets(family), { bind: { port: 40001 } });
          const [viaRelay, viaPortal] = probe.results.map((r) => r.mapped);
          expect(viaRelay).toEqual({ address: family === 4 ? wan.ipv4 : wan.ipv6, port: 40001 });
          expect(viaPortal).toEqual(viaRelay);
        }
      }
      // Server-reflexive candidates work for hole punching between two cone NATs.
      const punched = await holePunch(topo.client, topo.gateway(1), topo.addressOf('relay', REFLECTOR_PORT), {
        punchMs: 1000,
      });
      expect(punched.aReceived).toBeGreaterThan(0);
      expect(punched.bReceived).toBeGreaterThan(0);

      await topo.setNat('client-router', 'symmetric');
      try {
        for (const family of [4, 6] as const) {
          const probe = await probeMappings(topo.client, reflectorTargets(family), { bind: { port: 40002 } });
          const [viaRelay, viaPortal] = probe.results.map((r) => r.mapped);
          expect(viaRelay?.address).toBe(
            family === 4 ? ADDRESSES.clientRouterWan.ipv4 : ADDRESSES.clientRouterWan.ipv6,
          );
          expect(viaPortal?.address).toBe(viaRelay?.address);
          expect(viaPortal?.port, `IPv${family}: one port per destination`).not.toBe(viaRelay?.port);
        }
        // …and the reflexive address learnt from one server is useless to any other peer.
        const failed = await holePunch(
          topo.client,
          topo.gateway(1),
          topo.addressOf('relay', REFLECTOR_PORT),
          {
            punchMs: 1000,
          },
        );
        expect(failed.aReceived + failed.bReceived).toBe(0);
      } finally {
        await topo.setNat('client-router', 'cone');
      }
    }));

  it('(d) drops unsolicited inbound traffic to the client (and lets it in with NAT off)', () =>
    onFailure(async () => {
      const dropsBefore = await topo.inboundDrops('client-router');
      const probe = spawnProbe(topo.client, [topo.addressOf('relay', REFLECTOR_PORT)], {
        bind: { port: 40010 },
        listenMs: 1500,
      });
      await probe.waitForOutput(/^RESULT /m);
      const mapped = probeResultOf(probe).results[0]?.mapped;
      expect(mapped).toEqual({ address: ADDRESSES.clientRouterWan.ipv4, port: 40010 });
      // Another host at the mapped port, the relay host from another port, and straight to the
      // client's private address (the internet has a route to the client LAN via the router).
      await sendUdp(topo.portal, mapped!, { count: 3, payload: 'from-portal' });
      await sendUdp(topo.relayHost, mapped!, { bind: { port: 3490 }, count: 3, payload: 'relay-other-port' });
      await sendUdp(
        topo.portal,
        { address: ADDRESSES.client.ipv4, port: 40010 },
        { count: 3, payload: 'direct' },
      );
      const icmp = await topo.ping(ADDRESSES.client.ipv4, {
        from: 'portal',
        count: 2,
        intervalS: 0.1,
        waitS: 1,
      });
      expect(icmp.received).toBe(0);
      const icmp6 = await topo.ping(ADDRESSES.client.ipv6, { from: 'portal', count: 1, waitS: 1 });
      expect(icmp6.received).toBe(0);
      await probe.waitForExit(10_000);
      expect(probeDoneOf(probe).unsolicited).toEqual([]);
      expect(await topo.inboundDrops('client-router')).toBeGreaterThanOrEqual(dropsBefore + 9 + 3);

      // Control: with plain routing the same datagram arrives, from the portal's own address.
      await topo.setNat('client-router', 'none');
      try {
        const open = spawnProbe(topo.client, [topo.addressOf('relay', REFLECTOR_PORT)], {
          bind: { port: 40011 },
          listenMs: 1000,
        });
        await open.waitForOutput(/^RESULT /m);
        expect(probeResultOf(open).results[0]?.mapped).toEqual({
          address: ADDRESSES.client.ipv4,
          port: 40011,
        });
        await sendUdp(
          topo.portal,
          { address: ADDRESSES.client.ipv4, port: 40011 },
          { bind: { port: 3491 }, payload: 'direct' },
        );
        await open.waitForExit(10_000);
        expect(probeDoneOf(open).unsolicited).toEqual([
          { from: { address: ADDRESSES.portal.ipv4, port: 3491 }, payload: 'direct' },
        ]);
      } finally {
        await topo.setNat('client-router', 'cone');
      }
    }));

  it('(e) allocates on coturn with TURN REST credentials from behind the NAT and relays to a 10.x peer', () =>
    onFailure(async () => {
      const relay = topo.relay!;
      const peer = topo.spawnIn(
        'portal',
        'turnutils_peer',
        ['-L', ADDRESSES.portal.ipv4, '-p', '3480'],
        {},
        { label: 'portal: turnutils_peer' },
      );
      const uclient = (username: string, password: string) =>
        topo.exec(
          'client',
          'turnutils_uclient',
          [
            '-u',
            username,
            '-w',
            password,
            '-e',
            ADDRESSES.portal.ipv4,
            '-r',
            '3480',
            '-n',
            '5',
            '-m',
            '1',
            '-l',
            '100',
            '-X',
            '-c',
            relay.address,
          ],
          { allowFailure: true, timeoutMs: 20_000 },
        );
      const ok = turnRestCredentials(relay.secret, 'alice');
      const good = await uclient(ok.username, ok.password);
      const goodOut = good.stdout + good.stderr;
      expect(goodOut, goodOut).toMatch(/tot_send_msgs=5, tot_recv_msgs=5/);
      expect(goodOut).toMatch(/Total lost packets 0 /);
      await relay.proc.waitForOutput(
        new RegExp(`user <${ok.username}>: incoming packet ALLOCATE processed, success`),
      );

      const wrongSecret = turnRestCredentials('not-the-secret', 'alice');
      const expired = turnRestCredentials(relay.secret, 'alice', -60);
      const refused = await Promise.all(
        [wrongSecret, expired].map((bad) => uclient(bad.username, bad.password)),
      );
      for (const res of refused) expect(res.stdout + res.stderr).toMatch(/Cannot complete Allocation/);

      // restart() with a new secret: credentials made with the old one stop working, new ones work.
      const oldProc = relay.proc;
      await relay.restart({ secret: `rotated-${relay.secret}` });
      expect(oldProc.running).toBe(false);
      const stale = await uclient(ok.username, ok.password);
      expect(stale.stdout + stale.stderr).toMatch(/Cannot complete Allocation/);
      const fresh = relay.credentials('alice');
      const again = await uclient(fresh.username, fresh.password);
      expect(again.stdout + again.stderr).toMatch(/tot_send_msgs=5, tot_recv_msgs=5/);
      await peer.stop();
    }));

  it('(f) impairs links: loss shows in ping, rate limits iperf3, MTU limits packets; all removable', () =>
    onFailure(async () => {
      await topo.impair('client-lan', { lossPercent: 30, direction: 'up' });
      const lossy = await topo.ping(ADDRESSES.relay.ipv4, { count: 100, intervalS: 0.01, waitS: 1 });
      expect(lossy.lossPercent).toBeGreaterThan(10);
      expect(lossy.lossPercent).toBeLessThan(55);
      await topo.clearImpairment('client-lan');
      const clean = await topo.ping(ADDRESSES.relay.ipv4, { count: 30, intervalS: 0.01 });
      expect(clean.lossPercent).toBe(0);

      const support = await topo.impairmentSupport();
      if (support.delay) {
        await topo.impair('client-wan', { delayMs: 40 });
        const slow = await topo.ping(ADDRESSES.relay.ipv4, { count: 3, intervalS: 0.1 });
        expect(slow.avgRttMs).toBeGreaterThanOrEqual(40);
        await topo.clearImpairment('client-wan');
      } else {
        await expect(topo.impair('client-wan', { delayMs: 40 })).rejects.toThrow(/netem/);
      }

      await topo.impair('resource', { rateMbit: 5, direction: 'down' });
      const limited = await topo.iperf3(ADDRESSES.resource.ipv4, { from: 'gateway1', seconds: 1 });
      expect(limited.bitsPerSecond).toBeLessThan(8e6);
      await topo.clearImpairment('resource');

      await topo.mtu('client-lan', 1280);
      const big = await topo.ping(ADDRESSES.relay.ipv4, {
        count: 1,
        size: 1300,
        dontFragment: true,
        waitS: 1,
      });
      expect(big.received).toBe(0);
      const fits = await topo.ping(ADDRESSES.relay.ipv4, { count: 1, size: 1200, dontFragment: true });
      expect(fits.received).toBe(1);
      await topo.mtu('client-lan', 1500);
      expect(
        (await topo.ping(ADDRESSES.relay.ipv4, { count: 1, size: 1400, dontFragment: true })).received,
      ).toBe(1);
    }));

  it('(g) roams the client: a new LAN address gets a new mapping; flushNat and a new WAN address too', () =>
    onFailure(async () => {
      const target = [topo.addressOf('relay', REFLECTOR_PORT)];
      const first = (await probeMappings(topo.client, target, { bind: { port: 40020 } })).results[0]?.mapped;
      expect(first).toEqual({ address: ADDRESSES.clientRouterWan.ipv4, port: 40020 });

      const moved = await topo.roamClient();
      expect(moved.ipv4).toBe('10.201.0.3');
      expect(topo.client.ipv4).toBe('10.201.0.3');
      // The old mapping still holds port 40020 towards the relay: the new source gets another one.
      const second = (await probeMappings(topo.client, target, { bind: { port: 40020 } })).results[0]?.mapped;
      expect(second?.address).toBe(ADDRESSES.clientRouterWan.ipv4);
      expect(second?.port).not.toBe(40020);

      await topo.flushNat('client-router');
      const third = (await probeMappings(topo.client, target, { bind: { port: 40020 } })).results[0]?.mapped;
      expect(third).toEqual({ address: ADDRESSES.clientRouterWan.ipv4, port: 40020 });

      await topo.setWanAddress('client-router', '10.200.0.31', 'fd00:200::31');
      const fourth = (await probeMappings(topo.client, target, { bind: { port: 40020 } })).results[0]?.mapped;
      expect(fourth).toEqual({ address: '10.200.0.31', port: 40020 });
      expect((await topo.ping(ADDRESSES.portal.ipv6, { count: 1 })).received).toBe(1);

      // Processes in a namespace can be killed all at once and started again.
      const server = topo.resourceServer!;
      expect(await topo.killAll('resource')).toBeGreaterThanOrEqual(2);
      await server.proc.waitForExit(5_000);
      await server.start();
      await topo.iperf3Server!.start();
      expect((await topo.curl(topo.resourceUrl('/'), { from: 'gateway2' })).body).toBe(HELLO);
    }));

  it('(h) leaves nothing behind after destroy()', async () => {
    const prefix = topo.harness.prefix;
    const names = topo.harness.namespaceNames;
    expect(names.length).toBeGreaterThanOrEqual(9);
    const pids = [...topo.harness.trackedProcesses, ...reflectors, topo.relay!.proc]
      .filter((p) => p.running)
      .map((p) => p.pid);
    expect(pids.length).toBeGreaterThanOrEqual(7);
    expect(pids.every(pidAlive)).toBe(true);
    const tmp = topo.tmpDir;

    await topo.destroy();

    expect((await listNamespaces()).filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(topo.harness.trackedProcesses).toEqual([]);
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(existsSync(tmp)).toBe(false);
    await topo.destroy(); // twice is fine
  });
});
