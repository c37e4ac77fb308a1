/**
 * `npm run portal:demo`: the dev portal with the example config, live on this machine.
 *
 * It prints a sign-in URL to open in a browser (demo user alice@acme.test, password
 * "wonderland-alice"; the browser ends at the app's deep link), then plays the same flow itself:
 * signs in over HTTP, follows the redirects to the deep link and checks `state`, joins the
 * `client` and `gateway` channels with the phoenix client, authorizes a flow and relays one ICE
 * candidate each way. Secrets (the token, the fragment) are never printed.
 *
 * PORTAL_DEMO_PORT (default 8080, 0 = any) and PORTAL_DEMO_SECONDS (default: until Ctrl-C;
 * 0 = exit after the scripted part) tune it. The database lives in a temp dir, removed on exit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortalSession } from '../../src-engine/portal/session.js';
import { defaultBackend } from '../../src-engine/wireguard/crypto/index.js';
import { createJsonLogger } from '../../src-portal/log.js';
import { DevPortal } from '../../src-portal/portal.js';

const CONFIG = 'examples/portal/portal.example.yaml';
const DEMO_EMAIL = 'alice@acme.test';
const DEMO_PASSWORD = 'wonderland-alice';
const GATEWAY_TOKEN = 'dev-gateway-token-hq-0001';

const crypto = defaultBackend();
const publicKey = (): string => Buffer.from(crypto.x25519PublicKey(randomBytes(32))).toString('base64');

function cookiesOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0]!)
    .join('; ');
}

function field(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`the sign-in page has no ${name} field`);
  return match[1]!;
}

/** Signs in like a browser would and returns the token the app would assemble. */
async function scriptedSignIn(base: string, slug: string): Promise<string> {
  const nonce = randomBytes(32).toString('hex');
  const state = randomBytes(32).toString('hex');
  const page = await fetch(`${base}/${slug}?as=gui-client&nonce=${nonce}&state=${state}`);
  const html = await page.text();
  console.log(`GET  /${slug}?as=gui-client&nonce=…&state=…  → ${page.status} sign-in form`);
  const posted = await fetch(`${base}/${slug}/sign_in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookiesOf(page), Origin: base },
    body: new URLSearchParams({
      as: 'gui-client',
      nonce: field(html, 'nonce'),
      state: field(html, 'state'),
      csrf_token: field(html, 'csrf_token'),
      email: DEMO_EMAIL,
      password: DEMO_PASSWORD,
    }),
  });
  const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(await posted.text())?.[1];
  if (refresh === undefined) throw new Error(`sign-in failed (HTTP ${posted.status})`);
  console.log(
    `POST /${slug}/sign_in (${DEMO_EMAIL})  → ${posted.status} "signed in" page, refresh to ${refresh}`,
  );
  const redirect = await fetch(new URL(refresh, base), {
    redirect: 'manual',
    headers: { Cookie: cookiesOf(posted) },
  });
  const deepLink = new URL(redirect.headers.get('location')!);
  const shown = new URL(deepLink);
  shown.searchParams.set('fragment', '[redacted]');
  console.log(`GET  ${refresh}  → ${redirect.status} ${shown}`);
  if (deepLink.searchParams.get('state') !== state) throw new Error('state mismatch in the deep link');
  console.log('deep link state matches; token = nonce ‖ fragment');
  return nonce + deepLink.searchParams.get('fragment')!;
}

function nextMessage<R extends 'client' | 'gateway', E extends string>(
  session: PortalSession<R>,
  event: E,
): Promise<{ event: E; payload: never }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5_000);
    const listener = (message: { event: string }): void => {
      if (message.event !== event) return;
      clearTimeout(timer);
      session.off('message', listener as never);
      resolve(message as { event: E; payload: never });
    };
    session.on('message', listener as never);
  });
}

export interface PortalDemoOptions {
  port: number;
  /** How long the portal stays up after the scripted part (undefined: until Ctrl-C; 0: not at all). */
  seconds: number | undefined;
  /**
   * Run after the scripted part while the portal is still up, before it waits for a person
   * (`npm run demo` runs its later parts here); resolving to false skips the wait.
   */
  beforeHold?: () => Promise<boolean>;
}

export async function runPortalDemo(options: PortalDemoOptions): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fz-portal-demo-'));
  const portal = await DevPortal.start({
    configFile: CONFIG,
    port: options.port,
    dataDir,
    logger: createJsonLogger({ level: 'warn' }),
    watchConfig: false,
  });
  const sessions: PortalSession[] = [];
  try {
    const slug = portal.currentConfig.catalog.account.slug;
    const base = portal.url;
    console.log(`dev portal on ${base}  (GET ${base}/healthz → ${(await fetch(`${base}/healthz`)).status})`);
    const signInUrl = `${base}/${slug}?as=gui-client&nonce=${randomBytes(32).toString('hex')}&state=${randomBytes(32).toString('hex')}`;
    console.log(`open in a browser: ${signInUrl}`);
    console.log(`  (user ${DEMO_EMAIL}, password "${DEMO_PASSWORD}")\n`);

    const token = await scriptedSignIn(base, slug);
    const quiet = createJsonLogger({ level: 'warn' });
    const gateway = new PortalSession({
      role: 'gateway',
      url: base,
      token: GATEWAY_TOKEN,
      publicKey: publicKey(),
      deviceId: 'demo-gateway',
      name: 'demo-gateway',
      userAgent: 'Debian/12 gateway/0.1.0 (x86_64; demo)',
      logger: quiet,
    });
    const client = new PortalSession({
      role: 'client',
      url: base,
      token,
      publicKey: publicKey(),
      deviceId: 'demo-laptop',
      name: 'demo-laptop',
      userAgent: 'Debian/12 gui-client/0.1.0 (x86_64; demo)',
      logger: quiet,
    });
    sessions.push(gateway, client);
    const gatewayInit = nextMessage(gateway, 'init');
    const clientInit = nextMessage(client, 'init');
    gateway.start();
    client.start();
    const gInit = (await gatewayInit).payload as { interface: { ipv4: string } };
    console.log(`\ngateway joined "gateway": tunnel ${gInit.interface.ipv4}`);
    const cInit = (await clientInit).payload as {
      interface: { ipv4: string; ipv6: string };
      resources: { id: string; name: string; type: string }[];
      relays: { addr: string }[];
    };
    console.log(`client joined "client": tunnel ${cInit.interface.ipv4} / ${cInit.interface.ipv6}`);
    for (const resource of cInit.resources)
      console.log(`  resource ${resource.type.padEnd(8)} ${resource.name}`);
    console.log(`  relays ${cInit.relays.map((relay) => relay.addr).join(', ')}`);

    const lan = cInit.resources.find((resource) => resource.type === 'cidr' && resource.name === 'HQ LAN')!;
    const create = nextMessage(gateway, 'create_authorization');
    client.send('request_authorization', { resource_id: lan.id, connected_gateway_ids: [] });
    const request = (await create).payload as { ref: string; client: { id: string } };
    console.log(`\nclient → request_authorization ${lan.name}; portal → gateway create_authorization`);
    const created = nextMessage(client, 'authorization_created');
    gateway.send('authorization_created', { ref: request.ref });
    const grant = (await created).payload as {
      gateway_id: string;
      client_ice_credentials: { username: string };
      gateway_ice_credentials: { username: string };
    };
    console.log(
      `gateway → authorization_created; client ← authorization_created (gateway ${grant.gateway_id.slice(0, 8)}…, ` +
        `ICE ufrags ${grant.client_ice_credentials.username}/${grant.gateway_ice_credentials.username})`,
    );
    const toGateway = nextMessage(gateway, 'ice_candidates');
    const toClient = nextMessage(client, 'ice_candidates');
    client.send('new_gateway_ice_candidates', {
      gateway_id: grant.gateway_id,
      candidates: ['candidate:1 1 udp 2130706431 192.0.2.10 52625 typ host'],
    });
    gateway.send('broadcast_ice_candidates', {
      client_ids: [request.client.id],
      candidates: ['candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 0'],
    });
    await Promise.all([toGateway, toClient]);
    console.log('ICE candidates relayed both ways');

    if (options.beforeHold && !(await options.beforeHold())) return;
    if (options.seconds === 0) return;
    if (options.beforeHold) {
      console.log(`\nThe dev portal of part 3 is still up on ${base}; open in a browser: ${signInUrl}`);
      console.log(`  (user ${DEMO_EMAIL}, password "${DEMO_PASSWORD}")`);
    }
    console.log(
      `\nportal keeps running${options.seconds ? ` for ${options.seconds} s` : ''}; open the sign-in URL above. Ctrl-C stops.`,
    );
    await new Promise<void>((resolve) => {
      const timer = options.seconds ? setTimeout(resolve, options.seconds * 1000) : undefined;
      process.once('SIGINT', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    await Promise.all(sessions.map((session) => session.stop()));
    await portal.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const isEntry = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1]);
if (isEntry) {
  const seconds =
    process.env.PORTAL_DEMO_SECONDS === undefined ? undefined : Number(process.env.PORTAL_DEMO_SECONDS);
  runPortalDemo({ port: Number(process.env.PORTAL_DEMO_PORT ?? 8080), seconds }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`portal demo failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
