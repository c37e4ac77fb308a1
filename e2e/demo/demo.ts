/**
 * `npm run demo`: the whole system on this machine, in network namespaces — the dev portal,
 * coturn, two gateways on a site with a resource host and a corporate DNS server, and a client
 * host running the desktop app (main's logic and the real engine, through the development
 * bridge) with Chromium as its user's browser — narrated step by step:
 *
 *   sign-in through the portal's real page → the resource list arrives → a CIDR resource and a
 *   DNS resource reached (direct, through both NATs) → both NATs made symmetric: the same
 *   resource through the TURN relay → the serving gateway killed: the flow moves to the other.
 *
 * Then it keeps the system up and serves the app's window on http://127.0.0.1:$DEMO_UI_PORT
 * (default 8090) for a browser on this machine, until Ctrl-C, which removes everything.
 *
 *   --non-interactive  narrate, then exit (0 on success) instead of holding
 *   --up               no narration: bring the system up (signed in), print one JSON line with
 *                      the namespaces, addresses, resources and the UI's URL, hold until
 *                      SIGINT or SIGTERM
 */
import { createConnection, createServer, type Server } from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import type { BrowserContext, Page } from 'playwright-core';
import type { AppSnapshot, Resource } from '../../src-shared/domain.js';
import { AppSystem } from '../app-system/app-system.js';
import { RESOURCE_IP } from '../system/connectivity/system.js';
import { ADDRESSES } from '../system/connectivity/topology.js';
import { removeStale } from '../system/netns.js';
import { CORP_DNS } from '../system/dns/setup.js';

const BASE = 'fzdemo';
const UI_PORT = Number(process.env.DEMO_UI_PORT ?? 8090);

const { values: flags } = parseArgs({
  options: { 'non-interactive': { type: 'boolean' }, up: { type: 'boolean' } },
  strict: true,
});
const quiet = flags.up === true;
const say = (line = ''): void => {
  if (!quiet) console.log(line);
};
const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const indent = (text: string): string =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');

let stopping = false;
let wake: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    wake?.();
  });
}
class Interrupted extends Error {}
const check = (): void => {
  if (stopping) throw new Interrupted('interrupted');
};

async function snapshot(page: Page): Promise<AppSnapshot> {
  const result = await page.evaluate(async () => {
    const api = (globalThis as unknown as { fz: { app: { getSnapshot(): Promise<unknown> } } }).fz;
    return api.app.getSnapshot();
  });
  const r = result as { ok: boolean; value?: AppSnapshot; error?: { message: string } };
  if (!r.ok || !r.value) throw new Error(`the app did not answer: ${r.error?.message ?? '?'}`);
  return r.value;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    check();
    const value = await probe();
    if (value !== undefined) return value;
    await delay(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const resource = (s: AppSnapshot, name: string): Resource | undefined =>
  s.resources.find((r) => r.name === name);

function connectedPath(
  r: Resource | undefined,
): { path: string; remote: string; relay: string | null; rtt: number | null } | undefined {
  if (r?.connection.state !== 'connected') return undefined;
  const d = r.connection.diagnostics;
  return { path: d.path, remote: d.remoteAddress, relay: d.relayAddress, rtt: d.rttMs };
}

/** Which gateway host forwards the client's flows to the resource (its masquerade address). */
async function servingGateway(sys: AppSystem): Promise<number | undefined> {
  const res = await sys.curl(`http://${RESOURCE_IP}/whoami`, 10);
  if (!res.ok) return undefined;
  const address = (JSON.parse(res.body) as { address?: string }).address ?? '';
  return [1, 2].find((i) => address === ADDRESSES.gateway(i).ipv4);
}

async function signIn(sys: AppSystem, context: BrowserContext, page: Page): Promise<void> {
  await page.goto(sys.appUrl);
  await page.getByRole('button', { name: 'Sign in with your browser' }).waitFor({ timeout: 30_000 });
  const mark = sys.bridge.output.length;
  await page.getByRole('button', { name: 'Sign in with your browser' }).click();
  const url = await sys.waitForExternalUrl(mark);
  say(
    `the app opened the portal's sign-in page in the browser:\n    ${url.replace(/(nonce|state)=[0-9a-f]+/g, '$1=…')}`,
  );
  const portalPage = await sys.signInThroughPortal(context, url);
  await portalPage.close();
  say("alice@acme.test signed in on that page; the portal redirected the browser to the app's link");
  say('(handle_client_sign_in_callback, carrying the token), which the OS hands to the app');
}

async function main(): Promise<number> {
  await removeStale({ base: BASE });
  let t0 = Date.now();
  say('— the network —');
  const sys = await AppSystem.start({
    base: BASE,
    gatewayCount: 2,
    clientNat: 'cone',
    siteNat: 'cone',
    allowedOrigins: [`http://127.0.0.1:${UI_PORT}`],
  });
  let forward: Server | undefined;
  try {
    const relay = sys.topo.relay!;
    say(`${sys.topo.hosts.size} namespaces, built in ${seconds(t0)}:`);
    say(`  "internet" 10.200.0.0/24: portal ${ADDRESSES.portal.ipv4}, coturn ${relay.address}:${relay.port}`);
    say(`  client ${ADDRESSES.client.ipv4} behind a cone NAT router (${ADDRESSES.clientRouterWan.ipv4})`);
    say(
      `  site behind a cone NAT router (${ADDRESSES.siteRouterWan.ipv4}): gateways ${ADDRESSES.gateway(1).ipv4} and ` +
        `${ADDRESSES.gateway(2).ipv4}, resource host ${RESOURCE_IP}, corporate DNS ${CORP_DNS}`,
    );
    say('  the resource host and the corporate DNS answer only inside the site');
    say(`dev portal, two headless gateways and the app (main + engine worker) started as processes`);
    check();

    const browser = await sys.launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
    const page = await context.newPage();
    say('\n— sign in —');
    t0 = Date.now();
    await signIn(sys, context, page);
    const joined = await waitFor('the app to connect', 60_000, async () => {
      const s = await snapshot(page);
      return s.tunnel.state === 'connected' && s.resources.length > 0 ? s : undefined;
    });
    say(`signed in and connected in ${seconds(t0)} (the app connects after every sign-in)`);
    if (joined.tunnel.state === 'connected')
      say(`tunnel addresses ${joined.tunnel.ipv4 ?? '?'} / ${joined.tunnel.ipv6 ?? '?'}`);
    say(
      `resources from the portal (${joined.resources.length}), exactly those Alice's group has a policy for:`,
    );
    for (const r of joined.resources)
      say(`  ${r.name.padEnd(14)} ${r.type.padEnd(5)} ${'address' in r ? r.address : ''}`);
    check();

    if (flags.up) {
      forward = await serveUi(sys);
      console.log(
        JSON.stringify({
          namespaces: Object.fromEntries([...sys.topo.hosts.values()].map((h) => [h.name, h.ns.name])),
          addresses: {
            portal: ADDRESSES.portal.ipv4,
            relay: `${relay.address}:${relay.port}`,
            client: ADDRESSES.client.ipv4,
            gateways: [ADDRESSES.gateway(1).ipv4, ADDRESSES.gateway(2).ipv4],
            resourceHost: RESOURCE_IP,
            corporateDns: CORP_DNS,
          },
          resources: joined.resources.map((r) => ({
            name: r.name,
            type: r.type,
            address: 'address' in r ? r.address : null,
          })),
          ui: uiUrl(sys),
          tunnel: joined.tunnel,
        }),
      );
      await hold();
      return 0;
    }

    say('\n— a CIDR resource, direct —');
    t0 = Date.now();
    const page1 = await sys.curl(`http://${RESOURCE_IP}/`, 20);
    if (!page1.ok) throw new Error(`curl http://${RESOURCE_IP}/ failed`);
    say(`$ curl http://${RESOURCE_IP}/\n${indent(page1.body)}`);
    say(
      `(${seconds(t0)}: the first packet asked the portal for access, then ICE and the WireGuard handshake)`,
    );
    const direct = await waitFor('a direct path', 15_000, async () =>
      connectedPath(resource(await snapshot(page), 'Resources A')),
    );
    say(
      `→ ${direct.path}: the app sends straight to ${direct.remote}, the site's NAT as the internet sees it — ` +
        `a hole punched through both NATs; round trip ${direct.rtt ?? '?'} ms`,
    );
    check();

    say('\n— a DNS resource, by name —');
    const dig = await sys.topo.client.exec('dig', ['+short', 'wiki.corp.test'], { timeoutMs: 10_000 });
    say(`$ dig +short wiki.corp.test\n${indent(dig.stdout)}`);
    say("→ proxy addresses, answered by the app's engine itself (the client's resolv.conf points at it)");
    const wiki = await sys.curl('http://wiki.corp.test/', 20);
    if (!wiki.ok) throw new Error('curl http://wiki.corp.test/ failed');
    say(`$ curl http://wiki.corp.test/\n${indent(wiki.body)}`);
    say(`→ the gateway resolved the name with the corporate DNS and forwards to ${RESOURCE_IP}`);
    check();

    say('\n— relayed: symmetric NAT on both sides —');
    say('A symmetric NAT gives each destination its own port: hole punching fails, only TURN is left.');
    t0 = Date.now();
    await page.evaluate(() =>
      (
        globalThis as unknown as { fz: { tunnel: { disconnect(): Promise<unknown> } } }
      ).fz.tunnel.disconnect(),
    );
    await waitFor('the app to disconnect', 20_000, async () =>
      (await snapshot(page)).tunnel.state === 'disconnected' ? true : undefined,
    );
    // Gateways stop before the NAT changes, so their goodbye to the portal still gets through.
    for (const i of [1, 2]) await sys.system.gateways[i]?.stop();
    await sys.topo.setNat('client-router', 'symmetric');
    await sys.topo.setNat('site-router', 'symmetric');
    for (const i of [1, 2]) await sys.system.startGateway(i);
    say('app disconnected (still signed in); both routers switched to symmetric NAT; gateways restarted');
    await page.evaluate(() =>
      (globalThis as unknown as { fz: { tunnel: { connect(): Promise<unknown> } } }).fz.tunnel.connect(),
    );
    await waitFor('the app to connect', 60_000, async () =>
      (await snapshot(page)).tunnel.state === 'connected' ? true : undefined,
    );
    const page2 = await sys.curl(`http://${RESOURCE_IP}/`, 30);
    if (!page2.ok) throw new Error('curl through the relay failed');
    const relayed = await waitFor('a relayed path', 20_000, async () =>
      connectedPath(resource(await snapshot(page), 'Resources A')),
    );
    say(`$ curl http://${RESOURCE_IP}/ → ${page2.body.trim()} (${seconds(t0)} with the reconnect)`);
    say(`→ ${relayed.path} through coturn at ${relayed.relay ?? '?'}; round trip ${relayed.rtt ?? '?'} ms`);
    check();

    say('\n— failover: the serving gateway dies —');
    const victim = await servingGateway(sys);
    if (victim === undefined) throw new Error('cannot tell which gateway serves the flow');
    say(
      `$ curl http://${RESOURCE_IP}/whoami → the resource sees gateway ${victim} (${ADDRESSES.gateway(victim).ipv4})`,
    );
    const killedAt = Date.now();
    await sys.topo.killAll(sys.topo.gateway(victim));
    say(`gateway ${victim} killed (every process in its namespace)`);
    const survivor = await waitFor('the flow to move to the other gateway', 60_000, async () => {
      const g = await servingGateway(sys);
      return g !== undefined && g !== victim ? g : undefined;
    });
    say(
      `→ after ${seconds(killedAt)} the resource answers through gateway ${survivor}: the app noticed the dead ` +
        'connection, asked the portal again, and the portal chose the gateway still online',
    );
    check();

    if (flags['non-interactive']) {
      say('\ndemo done');
      return 0;
    }
    forward = await serveUi(sys);
    say('\n— the app in your browser —');
    say(`open ${uiUrl(sys)}`);
    say('(the same React app as the desktop window, driving this system; Ctrl-C removes everything)');
    await hold();
    return 0;
  } catch (error) {
    if (error instanceof Interrupted || stopping) {
      say('\ninterrupted');
      return 130;
    }
    console.error(`--- logs ---\n${sys.topo.logs(4000)}\n--- app ---\n${sys.bridge.output.slice(-4000)}`);
    throw error;
  } finally {
    forward?.close();
    const t = Date.now();
    await sys.destroy();
    say(`namespaces and processes removed (${seconds(t)})`);
  }
}

/** The app's page for a browser on this machine: 127.0.0.1:UI_PORT → the bridge's Unix socket. */
function serveUi(sys: AppSystem): Promise<Server> {
  const server = createServer((inbound) => {
    const outbound = createConnection(sys.socketPath);
    inbound.pipe(outbound).pipe(inbound);
    const end = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end);
    outbound.on('error', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(UI_PORT, '127.0.0.1', () => resolve(server));
  });
}

function uiUrl(sys: AppSystem): string {
  return `http://127.0.0.1:${UI_PORT}/#secret=${sys.secret}`;
}

function hold(): Promise<void> {
  if (stopping) return Promise.resolve();
  return new Promise((resolve) => (wake = resolve));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
