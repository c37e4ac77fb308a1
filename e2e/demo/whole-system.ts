/**
 * Demo part 4: the whole system. The connectivity topology of the system tests (network
 * namespaces: portal host, coturn relay, a client and a site behind NAT routers, a gateway, a
 * resource host with HTTP) with our real processes in it (dev portal, headless gateway, headless
 * client; `System`). The client reaches a CIDR resource through the gateway: first behind cone
 * NAT on both routers (a direct path), reaches a DNS resource by name (the client answers the
 * name with proxy addresses, the gateway resolves it on its side and NATs the flow), then, after
 * both routers switch to symmetric NAT, goes through coturn (a relayed path). Everything lives in the topology's namespaces and is removed at the
 * end, on failure and on Ctrl-C.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientStatus } from '../../src-engine/client/client-runtime.js';
import { RESOURCE_IP, System } from '../system/connectivity/system.js';
import { ADDRESSES, buildTopology, type ConnectivityTopology } from '../system/connectivity/topology.js';
import { removeStale } from '../system/netns.js';
import { dnsSystemOptions, prepareDns, waitForDnsControl } from '../system/dns/setup.js';

const REPO = new URL('../../', import.meta.url).pathname;
/** Namespace base of this part (stale ones of a killed earlier run are removed first). */
const BASE = 'fzdemo4';

/** Thrown between steps once Ctrl-C was pressed. */
class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const indent = (text: string): string =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');

type Connection = ClientStatus['connections'][number];

/**
 * Runs part 4. Returns false when Ctrl-C interrupted it; throws on a failure. The topology is
 * destroyed before it returns either way.
 *
 * On Ctrl-C the harness's own handler (e2e/system/netns.ts) kills the processes and removes the
 * namespaces at once; it re-raises the signal (ending the process) when it is the only listener.
 * This part keeps a listener of its own while it runs, so it ends its step, says so and awaits
 * `topo.destroy()` instead; a second Ctrl-C exits at once (the exit handler cleans up).
 */
export async function runWholeSystemDemo(): Promise<boolean> {
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const check = (): void => {
    if (interrupted) throw new Interrupted();
  };
  let topo: ConnectivityTopology | undefined;
  try {
    await removeStale({ base: BASE });
    console.log('\n— the network —');
    let t0 = Date.now();
    topo = await buildTopology({ base: BASE, ipv6: false, gateways: 1, clientNat: 'cone', siteNat: 'cone' });
    const relay = topo.relay!;
    console.log(`${topo.hosts.size} namespaces in ${seconds(t0)}:`);
    console.log(
      `  "internet" 10.200.0.0/24: portal ${ADDRESSES.portal.ipv4}, coturn ${relay.address}:${relay.port},`,
    );
    console.log(
      `    client router ${ADDRESSES.clientRouterWan.ipv4}, site router ${ADDRESSES.siteRouterWan.ipv4} (both cone NAT)`,
    );
    console.log(`  client ${ADDRESSES.client.ipv4} behind the client router`);
    console.log(
      `  gateway ${ADDRESSES.gateway(1).ipv4} and resource host ${RESOURCE_IP} (HTTP) behind the site router;`,
    );
    console.log('  the resource host is reachable only from the site, never from the internet');
    check();

    console.log('\n— portal, gateway, client —');
    t0 = Date.now();
    await prepareDns(topo);
    const system = new System(topo, dnsSystemOptions());
    await system.start(1);
    await waitForDnsControl(topo);
    console.log(
      `dev portal, headless gateway and headless client started as processes in their namespaces in ${seconds(t0)}`,
    );
    await routesInstalled(topo);
    const first = await system.status();
    printSession(first);
    check();

    console.log('\n— direct: cone NAT on both routers —');
    await reach(topo, check);
    const direct = await pathOf(system, false);
    await printCliStatus(topo, system);
    console.log(
      `→ direct: the client sends straight to ${direct.path?.remote ?? '?'}, the gateway as the internet sees ` +
        `it (its server-reflexive candidate): a hole punched through both NATs; rtt ${direct.rttMs?.toFixed(1) ?? '?'} ms`,
    );
    check();

    await byName(topo, system);
    check();

    console.log('\n— relayed: symmetric NAT on both routers —');
    console.log(
      'A symmetric NAT gives every destination its own external port, so the port a peer learns from a',
    );
    console.log(
      'STUN answer is useless to the other side: hole punching fails and only the TURN relay is left.',
    );
    t0 = Date.now();
    const coturnLogBefore = relay.proc.output.length;
    await system.client?.stop();
    await system.gateways[1]?.stop();
    await topo.setNat('client-router', 'symmetric');
    await topo.setNat('site-router', 'symmetric');
    console.log(
      'client and gateway stopped; both routers switched to `masquerade fully-random`, NAT tables flushed',
    );
    await system.startGateway(1);
    await system.startClient();
    await routesInstalled(topo);
    const again = await system.status();
    console.log(
      `gateway and client started again behind the new NAT in ${seconds(t0)}; signed in as ` +
        `${again.signedInAs?.email ?? '?'}, tunnel ${again.interface?.ipv4 ?? '?'}`,
    );
    check();
    await reach(topo, check);
    const relayed = await pathOf(system, true);
    await printCliStatus(topo, system);
    const coturnLog = relay.proc.output.slice(coturnLogBefore);
    const count = (what: string): number => coturnLog.split(`packet ${what} processed, success`).length - 1;
    console.log(
      `→ relayed: the client sends to ${relayed.path?.remote ?? '?'}, an address coturn relays for the ` +
        `gateway; rtt ${relayed.rttMs?.toFixed(1) ?? '?'} ms`,
    );
    console.log(
      `  coturn's log since the switch: ${count('ALLOCATE')} allocations, ${count('CREATE_PERMISSION')} ` +
        `permissions, ${count('CHANNEL_BIND')} channel bindings`,
    );
    check();
    return true;
  } catch (error) {
    if (error instanceof Interrupted || interrupted) {
      console.log('\ninterrupted: removing the namespaces and processes of part 4');
      return false;
    }
    if (topo) console.error(`--- part 4 logs ---\n${topo.logs(3000)}`);
    throw error;
  } finally {
    const t0 = Date.now();
    await topo?.destroy();
    if (topo) console.log(`\nnamespaces and processes of part 4 removed (${seconds(t0)})`);
    process.removeListener('SIGINT', onSigint);
  }
}

/** A DNS resource by name: dig shows the proxy addresses, curl fetches the page through them. */
async function byName(topo: ConnectivityTopology, system: System): Promise<void> {
  console.log('\n— by name: the DNS resource wiki.corp.test —');
  console.log(
    "The client's namespace now asks the client for every name (its resolv.conf points at the sentinel" +
      ' 100.100.111.1). The name is known only to the corporate resolver, which only the site can reach.',
  );
  const dig = await topo.client.exec('dig', ['+short', 'wiki.corp.test'], { timeoutMs: 10_000 });
  console.log(`$ dig +short wiki.corp.test\n${indent(dig.stdout)}`);
  console.log('→ four proxy addresses from 100.96.0.0/11, answered by the client itself (TTL 1 s)');
  const t0 = Date.now();
  const page = await topo.curl('http://wiki.corp.test/', { timeoutMs: 15_000 });
  console.log(`$ curl http://wiki.corp.test/\n${indent(page.body)}`);
  if (page.status !== 200) throw new Error(`curl by name got HTTP ${page.status}`);
  const status = await system.status();
  const entry = status.dns.names.find((n) => n.domain === 'wiki.corp.test');
  console.log(
    `→ first use took ${seconds(t0)}: access granted, then AssignedIps inside the tunnel; the gateway ` +
      `resolved the name and answered DomainStatus ${entry?.state === 'confirmed' ? 'Active' : '?'}, so it NATs ` +
      `the proxy addresses to ${RESOURCE_IP}`,
  );
}

function printSession(s: ClientStatus): void {
  console.log(`client signed in as ${s.signedInAs?.name ?? '?'} <${s.signedInAs?.email ?? '?'}>`);
  console.log(`tunnel address ${s.interface?.ipv4 ?? '?'} / ${s.interface?.ipv6 ?? '?'}`);
  console.log(`routes into the tunnel: ${s.interface?.routes.join(', ') ?? 'none'}`);
  console.log(`resources from the portal (${s.resources.length}):`);
  for (const r of s.resources) console.log(`  ${r.name.padEnd(16)} ${r.type.padEnd(5)} ${r.address}`);
}

/** ping and curl the resource host from the client, printing what they show. */
async function reach(topo: ConnectivityTopology, check: () => void): Promise<void> {
  const t0 = Date.now();
  console.log(`$ ping -c 5 -i 0.2 ${RESOURCE_IP}   (the client's first packet asks the portal for access)`);
  const ping = await topo.client.exec('ping', ['-n', '-c', '5', '-i', '0.2', '-W', '5', RESOURCE_IP], {
    allowFailure: true,
    timeoutMs: 20_000,
  });
  check();
  const lines = ping.stdout
    .split('\n')
    .filter((line) => /bytes from|^From |packets transmitted|rtt /.test(line));
  console.log(indent(lines.join('\n')));
  const received = Number(/(\d+) received/.exec(ping.stdout)?.[1] ?? 0);
  if (received < 3) throw new Error(`only ${received} of 5 echoes came back:\n${ping.stdout}${ping.stderr}`);
  const rtts = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const settled = rtts.slice(-3).sort((a, b) => a - b)[1] ?? NaN;
  console.log(
    `→ the first echoes waited for the connection (access granted by the portal, ICE checks, WireGuard ` +
      `handshake); once it is up an echo takes ${settled.toFixed(2)} ms`,
  );
  const page = await topo.curl(`http://${RESOURCE_IP}/`, { timeoutMs: 10_000 });
  check();
  console.log(`$ curl http://${RESOURCE_IP}/`);
  console.log(indent(page.body));
  console.log(
    `  (HTTP ${page.status}, ${page.bytes} bytes in ${(page.timeTotalS * 1000).toFixed(1)} ms; ` +
      `first echo to page: ${seconds(t0)})`,
  );
  if (page.status !== 200) throw new Error(`curl got HTTP ${page.status}`);
}

/** Waits until the connection's path is settled as `relayed` (or direct) and returns it. */
async function pathOf(system: System, relayed: boolean): Promise<Connection> {
  const status = await system.waitForStatus(
    (s) =>
      s.connections.some(
        (c) => c.state === 'connected' && c.path?.relayed === relayed && c.rttMs !== undefined,
      ),
    15_000,
    `a ${relayed ? 'relayed' : 'direct'} connection`,
  );
  return status.connections.find((c) => c.state === 'connected' && c.path?.relayed === relayed)!;
}

/**
 * Waits until the kernel in the client's namespace routes the resource into the tunnel (the
 * status shows the interface as soon as the portal sent it, a moment before its routes exist).
 */
async function routesInstalled(topo: ConnectivityTopology): Promise<void> {
  const deadline = Date.now() + 10_000;
  let route = '';
  while (Date.now() < deadline) {
    route = (await topo.client.exec('ip', ['-4', 'route', 'get', RESOURCE_IP], { allowFailure: true }))
      .stdout;
    if (route !== '' && !route.includes(` dev ${topo.client.ifname} `)) return;
    await delay(100);
  }
  throw new Error(`the client never routed ${RESOURCE_IP} into the tunnel: ${route.trim()}`);
}

/** `npm run client -- status` in the client's namespace, as a person would run it there. */
async function printCliStatus(topo: ConnectivityTopology, system: System): Promise<void> {
  console.log(`$ npm run client -- status --status-socket ${system.statusSocket}`);
  const res = await topo.client.exec(
    process.execPath,
    ['--import', 'tsx', 'src-client/cli.ts', 'status', '--status-socket', system.statusSocket],
    { cwd: REPO, timeoutMs: 20_000 },
  );
  console.log(indent(res.stdout));
}
