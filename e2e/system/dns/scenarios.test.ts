/**
 * DNS-resource scenarios (`npm run test:system -- dns`): the real portal, headless gateway and
 * headless client in network namespaces, with two dnsmasq resolvers from Debian: a corporate one
 * on the site router's resource-network address that only the site (the gateways) can reach (it knows the resources' names) and a
 * public one on the Internet side, the client's system resolver. The client points its
 * namespace's /etc/resolv.conf at its sentinel, so `dig`, `curl` and every program there ask the
 * client. Each scenario fails on any warning of our processes it does not expect.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeStale } from '../netns.js';
import { saveArtifacts, startLinkCaptures } from '../artifacts.js';
import { HELLO } from '../connectivity/resource-data.js';
import { buildTopology, type ConnectivityTopology } from '../connectivity/topology.js';
import { RESOURCE_B_IP, RESOURCE_IP, System } from '../connectivity/system.js';
import { dnsSystemOptions, prepareDns, PUBLIC_NAME_IP, waitForDnsControl } from './setup.js';

/** The site router's address on the resource network: only the site (the gateways) reaches it. */
const REPO = new URL('../../../', import.meta.url).pathname;
const TSX_LOADER = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

const EXPECTED: readonly RegExp[] = [/unreachable host candidate/, /portal URL is not encrypted/];

interface World {
  readonly topo: ConnectivityTopology;
  readonly system: System;
}

async function dnsWorld(
  options: { readonly clientArgs?: readonly string[]; readonly internet?: boolean } = {},
): Promise<World> {
  await removeStale();
  const topo = await buildTopology({ ipv6: false, clientNat: 'cone', siteNat: 'cone', gateways: 1 });
  try {
    startLinkCaptures(topo);
    await prepareDns(topo);
    const system = new System(topo, {
      ...dnsSystemOptions({ internet: options.internet ?? false }),
      ...(options.clientArgs ? { clientArgs: options.clientArgs } : {}),
    });
    await system.start(1);
    await waitForDnsControl(topo);
    return { topo, system };
  } catch (error) {
    await topo.destroy();
    throw error;
  }
}

/** After a scenario with its own world: its logs when it failed, then everything removed. */
async function endWorld(
  world: World | undefined,
  task: { readonly name: string; readonly result?: { readonly state?: string } },
): Promise<void> {
  if (!world) return;
  if (task.result?.state === 'fail') {
    const saved = saveArtifacts(world.topo, task.name);
    console.error(`--- logs of "${task.name}" (all of them: ${saved}) ---\n${world.topo.logs(6000)}`);
  }
  await world.topo.destroy();
}

function inProxyV4(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number);
  return a === 100 && b! >= 96 && b! <= 127;
}

function inProxyV6(ip: string): boolean {
  // fd00:2021:1111:8000::/107: the 7th group is below 0x20.
  const match = /^fd00:2021:1111:8000::(?:([0-9a-f]{1,4}):)?[0-9a-f]{0,4}$/.exec(ip);
  return match !== null && (match[1] === undefined || parseInt(match[1], 16) < 0x20);
}

function expectNoWarnings(system: System, allowed: readonly RegExp[] = []): void {
  expect(system.warnings([...EXPECTED, ...allowed])).toEqual([]);
}

async function sentinel(system: System): Promise<string> {
  const status = await system.status();
  const first = status.dns.sentinels[0];
  if (first === undefined) throw new Error('the client has no sentinel');
  return first;
}

describe('DNS resources: one client and gateway, names asked in turn', () => {
  let world: World;

  beforeAll(async () => {
    world = await dnsWorld();
  }, 120_000);

  afterAll(async () => {
    await world?.topo.destroy();
  });

  afterEach((context) => {
    if (context.task.result?.state === 'fail') {
      const saved = saveArtifacts(world.topo, context.task.name);
      console.error(
        `--- logs of "${context.task.name}" (all of them: ${saved}) ---\n${world.topo.logs(6000)}`,
      );
    }
  });

  it('dig of a DNS resource: 4 proxy IPs from 100.96.0.0/11, AAAA 4 from the v6 range; resolv.conf points at the sentinel', async () => {
    const { topo, system } = world;
    const server = await sentinel(system);
    const resolv = await topo.client.exec('cat', ['/etc/resolv.conf']);
    expect(resolv.stdout).toContain(`nameserver ${server}`);
    const a = await topo.dig('wiki.corp.test', { server, type: 'A' });
    expect(a.status).toBe('NOERROR');
    expect(a.answers).toHaveLength(4);
    expect(a.answers.every(inProxyV4), a.output).toBe(true);
    const aaaa = await topo.dig('wiki.corp.test', { server, type: 'AAAA' });
    expect(aaaa.answers).toHaveLength(4);
    expect(aaaa.answers.every(inProxyV6), aaaa.output).toBe(true);
    // Stable: asking again gives the same addresses.
    expect((await topo.dig('wiki.corp.test', { server, type: 'A' })).answers).toEqual(a.answers);
    expectNoWarnings(system);
  }, 60_000);

  it('curl http://<name>/ reaches the resource through the gateway NAT', async () => {
    const { topo, system } = world;
    const page = await topo.curl('http://wiki.corp.test/', { timeoutMs: 15_000 });
    expect(page.status).toBe(200);
    expect(page.body).toBe(HELLO);
    const status = await system.status();
    expect(status.dns.names).toContainEqual(
      expect.objectContaining({ domain: 'wiki.corp.test', state: 'confirmed' }),
    );
    expectNoWarnings(system);
  }, 60_000);

  it('a wildcard resource serves two sub-names at once, each NATed to its own address', async () => {
    const { topo, system } = world;
    const [a, b] = await Promise.all([
      topo.curl('http://a.apps.corp.test/whereami', { timeoutMs: 15_000 }),
      topo.curl('http://b.apps.corp.test/whereami', { timeoutMs: 15_000 }),
    ]);
    expect(JSON.parse(a.body)).toEqual({ address: RESOURCE_IP });
    expect(JSON.parse(b.body)).toEqual({ address: RESOURCE_B_IP });
    const names = (await system.status()).dns.names.map((n) => n.domain);
    expect(names).toEqual(expect.arrayContaining(['a.apps.corp.test', 'b.apps.corp.test']));
    expectNoWarnings(system);
  }, 60_000);

  it('a name that is no resource resolves through the upstream resolver', async () => {
    const { topo, system } = world;
    const server = await sentinel(system);
    const answer = await topo.dig('public.example.test', { server });
    expect(answer.status).toBe('NOERROR');
    expect(answer.answers).toEqual([PUBLIC_NAME_IP]);
    const missing = await topo.dig('nothing.example.test', { server });
    expect(missing.status).toBe('NXDOMAIN');
    expect((await system.status()).dns.forwarded).toBeGreaterThanOrEqual(2);
    expectNoWarnings(system);
  }, 60_000);

  it('DNS over TCP: resource names answered locally, other names forwarded over TCP', async () => {
    const { topo, system } = world;
    const server = await sentinel(system);
    const local = await topo.dig('wiki.corp.test', { server, tcp: true });
    expect(local.status).toBe('NOERROR');
    expect(local.answers).toHaveLength(4);
    expect(local.answers.every(inProxyV4)).toBe(true);
    const forwarded = await topo.dig('public.example.test', { server, tcp: true });
    expect(forwarded.answers).toEqual([PUBLIC_NAME_IP]);
    expectNoWarnings(system);
  }, 60_000);

  it('a capture taken while a name is first used holds AssignedIps and DomainStatus; tcpdump reads it', async () => {
    const { topo, system } = world;
    const out = join(topo.tmpDir, 'first-use.pcap');
    const capture = topo.client.exec(
      process.execPath,
      [
        '--import',
        TSX_LOADER,
        join(REPO, 'src-client/cli.ts'),
        'capture',
        '--status-socket',
        system.statusSocket,
        '--seconds',
        '6',
        '--out',
        out,
      ],
      { cwd: REPO, timeoutMs: 30_000 },
    );
    // The capture runs once its file holds the pcap header the client sent (the CLI starts
    // slowly under tsx; a fixed wait raced with it on a busy machine).
    const deadline = Date.now() + 20_000;
    while (!(existsSync(out) && statSync(out).size >= 24)) {
      if (Date.now() > deadline) throw new Error('the capture never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    const page = await topo.curl('http://c.apps.corp.test/', { timeoutMs: 10_000 });
    expect(page.body).toBe(HELLO);
    const result = await capture;
    expect(result.code, result.stderr).toBe(0);
    const kinds = controlKinds(readFileSync(out));
    expect(kinds).toContain(0); // AssignedIps, client → gateway
    expect(kinds).toContain(1); // DomainStatus, gateway → client
    const dump = await topo.client.exec('tcpdump', ['-n', '-r', out]);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toMatch(/c\.apps\.corp\.test|100\.100\.111\.1\.53/);
    expectNoWarnings(system);
  }, 60_000);
});

describe('DNS resources under trouble', () => {
  let world: World | undefined;

  afterEach(async (context) => {
    await endWorld(world, context.task);
    world = undefined;
  });

  it('30 % loss (and reordering where the kernel has netem) on the client link: the name still works', async () => {
    world = await dnsWorld();
    const { topo, system } = world;
    const support = await topo.impairmentSupport();
    await topo.impair('client-lan', {
      lossPercent: 30,
      ...(support.reorder ? { delayMs: 10, reorderPercent: 25 } : {}),
    });
    // curl retries its own connects; the control exchange re-sends on traffic ≥ 2 s apart.
    let body = '';
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && body !== HELLO) {
      body = (await topo.curl('http://d.apps.corp.test/', { timeoutMs: 20_000 }).catch(() => ({ body: '' })))
        .body;
    }
    expect(body).toBe(HELLO);
    await topo.clearImpairment('client-lan');
    expect((await system.status()).dns.names).toContainEqual(
      expect.objectContaining({ domain: 'd.apps.corp.test', state: 'confirmed' }),
    );
    expectNoWarnings(system, [/portal connection lost/]);
  }, 150_000);

  it('a gateway restart: the client re-sends its assignment and the name works again without a new query', async () => {
    world = await dnsWorld();
    const { topo, system } = world;
    const server = await sentinel(system);
    const proxy = (await topo.dig('wiki.corp.test', { server })).answers[0]!;
    expect((await topo.curl(`http://${proxy}/`, { timeoutMs: 15_000 })).body).toBe(HELLO);
    const answeredBefore = (await system.status()).dns.localAnswers;

    const gateway = system.gateways[1]!;
    gateway.kill('SIGTERM');
    await gateway.waitForExit(10_000);
    await system.startGateway(1);
    let body = '';
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && body !== HELLO) {
      body = (await topo.curl(`http://${proxy}/`, { timeoutMs: 5_000 }).catch(() => ({ body: '' }))).body;
    }
    expect(body).toBe(HELLO);
    // No DNS query was needed: the client answered none since.
    expect((await system.status()).dns.localAnswers).toBe(answeredBefore);
    expectNoWarnings(system, [/gateway did not acknowledge/]);
  }, 150_000);
});

describe('the Internet resource', () => {
  let world: World | undefined;

  afterEach(async (context) => {
    await endWorld(world, context.task);
    world = undefined;
  });

  it('switched on live it carries curl to a host outside every other resource through the gateway; off, it stops', async () => {
    world = await dnsWorld({ internet: true });
    const { topo, system } = world;
    // A web server "on the Internet" (a TEST-NET-2 address on the portal host), reachable from
    // both NAT routers: what it sees as the peer tells which way the request went.
    const web = topo.host('portal');
    await web.ip('addr', 'add', `${PUBLIC_NAME_IP}/32`, 'dev', 'eth0');
    for (const router of ['client-router', 'site-router'] as const)
      await topo.host(router).ip('route', 'add', `${PUBLIC_NAME_IP}/32`, 'via', web.ipv4);
    const server = topo.spawnTsx(
      web,
      join(REPO, 'e2e/system/connectivity/resource-server.ts'),
      [JSON.stringify({ httpPort: 80, udpEchoPort: 7007, dnsPort: 5353, records: {} })],
      {},
      { cwd: REPO },
    );
    await server.waitForOutput(/^READY /m, 20_000);
    const clientRouter = topo.clientRouter.ipv4;
    const siteRouter = topo.host('site-router').ipv4;
    const whoami = async (): Promise<string> =>
      (
        JSON.parse((await topo.curl(`http://${PUBLIC_NAME_IP}/whoami`, { timeoutMs: 10_000 })).body) as {
          address: string;
        }
      ).address;

    expect(await whoami()).toBe(clientRouter);
    const toggle = (state: 'on' | 'off') =>
      topo.client.exec(
        process.execPath,
        [
          '--import',
          TSX_LOADER,
          join(REPO, 'src-client/cli.ts'),
          'internet-resource',
          state,
          '--status-socket',
          system.statusSocket,
        ],
        { cwd: REPO },
      );
    expect((await toggle('on')).stdout).toMatch(/Internet resource: on/);
    await system.waitForStatus(
      (s) => s.interface?.routes.includes('0.0.0.0/0') === true,
      10_000,
      'the default route in the interface',
    );
    let seen = '';
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && seen !== siteRouter) seen = await whoami().catch(() => '');
    expect(seen).toBe(siteRouter);
    // No leak: while it is on, nothing the client sends to the web server crosses its physical
    // link in the clear (a capture on eth0 during more requests finds none). Only what the client
    // sends counts: the server may still retransmit on a connection from before the switch.
    await delay(2_000);
    const pcap = join(topo.tmpDir, 'client-eth0.pcap');
    const dump = topo.client.spawn('tcpdump', [
      '-i',
      'eth0',
      '-n',
      '-U',
      '-w',
      pcap,
      'dst',
      'host',
      PUBLIC_NAME_IP,
    ]);
    await delay(1_000);
    for (let i = 0; i < 3; i++) expect(await whoami()).toBe(siteRouter);
    dump.kill('SIGINT');
    await dump.waitForExit(10_000).catch(() => undefined);
    const leaked = await topo.client.exec('tcpdump', ['-n', '-r', pcap], { allowFailure: true });
    expect(leaked.stdout.trim(), 'packets to the web server outside the tunnel').toBe('');
    // The engine's own traffic stays outside the tunnel: the portal session is up, DNS works.
    expect((await system.status()).portal.status).toBe('joined');
    expect((await topo.dig('public.example.test', { server: await sentinel(system) })).answers).toEqual([
      PUBLIC_NAME_IP,
    ]);
    expect((await topo.curl('http://wiki.corp.test/', { timeoutMs: 10_000 })).body).toBe(HELLO);

    await toggle('off');
    seen = '';
    const until = Date.now() + 20_000;
    while (Date.now() < until && seen !== clientRouter) seen = await whoami().catch(() => '');
    expect(seen).toBe(clientRouter);
    await system.waitForStatus(
      (s) => s.interface?.routes.includes('0.0.0.0/0') === false,
      10_000,
      'the default route gone from the applied interface',
    );
    expectNoWarnings(system);
  }, 150_000);
});

describe('DNS while the portal is down', () => {
  let world: World | undefined;

  afterEach(async (context) => {
    await endWorld(world, context.task);
    world = undefined;
  });

  it('a name in use keeps resolving and answering; other names still resolve upstream', async () => {
    world = await dnsWorld();
    const { topo, system } = world;
    expect((await topo.curl('http://wiki.corp.test/', { timeoutMs: 15_000 })).body).toBe(HELLO);
    await system.portal.stop();
    await system.waitForStatus((s) => s.portal.status === 'reconnecting', 15_000, 'the client to notice');
    // The name's proxy addresses and the gateway's NAT for them need no portal.
    for (let i = 0; i < 3; i++) {
      expect((await topo.curl('http://wiki.corp.test/', { timeoutMs: 10_000 })).body).toBe(HELLO);
      await delay(3_000);
    }
    expect((await topo.dig('public.example.test', { server: await sentinel(system) })).answers).toEqual([
      PUBLIC_NAME_IP,
    ]);
    expectNoWarnings(system, [/portal connection lost/, /reconnecting/]);
  }, 120_000);
});

/** Event kinds of the p2p control packets (IPv6, next header 255, `::` → `::`) in a pcap file. */
function controlKinds(file: Buffer): number[] {
  const kinds: number[] = [];
  if (file.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error('not a little-endian pcap file');
  for (let at = 24; at + 16 <= file.length;) {
    const length = file.readUInt32LE(at + 8);
    const data = file.subarray(at + 16, at + 16 + length);
    at += 16 + length;
    if (data.length < 48 || data[0]! >> 4 !== 6 || data[6] !== 0xff) continue;
    if (data.subarray(8, 40).some((b) => b !== 0)) continue;
    kinds.push(data[40]!);
  }
  return kinds;
}
