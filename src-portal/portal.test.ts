/**
 * The real `phoenix` client (through the engine's PortalSession) against the dev portal:
 * sign-in, join, init per policy, live updates, flow authorization with candidate relay, expiry,
 * revocation, restart, and bad input. Every log line of every test is checked for tokens.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PortalRole } from '../src-engine/portal/session-core.js';
import { PortalStore } from './store.js';
import {
  CLIENT_UA,
  configYaml,
  GATEWAY_TOKEN,
  newPublicKey,
  openSession,
  PASSWORD,
  removeDir,
  startPortal,
  tempDir,
  waitFor,
  writeConfig,
  type TestPortal,
  type TestSession,
} from './test-support.js';

const CANDIDATE_CLIENT = 'candidate:1 1 udp 2130706431 192.0.2.10 52625 typ host';
const CANDIDATE_GATEWAY = 'candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 0';

/** Every secret handed out in this file; no log line may contain any of them. */
const secrets = new Set<string>([GATEWAY_TOKEN, PASSWORD]);
const allLogs: string[][] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  const text = allLogs.map((lines) => lines.join('')).join('');
  expect(text.length).toBeGreaterThan(0);
  for (const secret of secrets) expect(text.includes(secret), `a log line contains a secret`).toBe(false);
});

async function portalFor(
  config?: string,
  options: Parameters<typeof startPortal>[1] = {},
): Promise<TestPortal> {
  const dir = tempDir();
  const started = await startPortal(dir, { config: config ?? (await configYaml()), ...options });
  allLogs.push(started.logs);
  cleanups.push(() => removeDir(dir));
  cleanups.push(() => started.portal.stop());
  return started;
}

function session<R extends PortalRole>(
  portal: TestPortal,
  role: R,
  token: string,
  options: { deviceId?: string; publicKey?: string } = {},
): TestSession<R> {
  secrets.add(token);
  const opened = openSession(portal.portal.url, role, token, options);
  allLogs.push(opened.logs);
  cleanups.push(() => opened.session.stop());
  opened.session.start();
  return opened;
}

function mint(portal: TestPortal, email: string, ttlSeconds?: number): string {
  const { token } = portal.portal.mintClientToken(email, ttlSeconds);
  secrets.add(token);
  return token;
}

function setCookies(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0]!)
    .filter((cookie) => !cookie.endsWith('='))
    .join('; ');
}

function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no field ${name}`);
  return match[1]!;
}

async function signIn(base: string, email: string, password: string, nonce: string, state: string) {
  const page = await fetch(`${base}/acme?as=gui-client&nonce=${nonce}&state=${state}`);
  const html = await page.text();
  const cookie = setCookies(page);
  const body = new URLSearchParams({
    as: hiddenField(html, 'as'),
    nonce: hiddenField(html, 'nonce'),
    state: hiddenField(html, 'state'),
    csrf_token: hiddenField(html, 'csrf_token'),
    email,
    password,
  });
  const posted = await fetch(`${base}/acme/sign_in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie, Origin: base },
    body,
  });
  return { page, html, posted };
}

describe('dev portal: HTTP', () => {
  it('answers /healthz and serves a sign-in page with a strict CSP', async () => {
    const portal = await portalFor();
    const health = await fetch(`${portal.portal.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', account: 'acme' });
    const page = await fetch(
      `${portal.portal.url}/acme?as=gui-client&nonce=${'a'.repeat(64)}&state=${'b'.repeat(64)}`,
    );
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self' firezone-fd0020211111:");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    expect(html).not.toMatch(/<script|https?:\/\/(?!127)/);
    expect((await fetch(`${portal.portal.url}/acme?as=gui-client`)).status).toBe(400); // no nonce/state
    expect((await fetch(`${portal.portal.url}/nowhere`)).status).toBe(404);
  });

  it('signs in through the browser flow and redirects to the deep link with state (§3.11)', async () => {
    const portal = await portalFor();
    const base = portal.portal.url;
    const nonce = randomBytes(32).toString('hex');
    const state = randomBytes(32).toString('hex');
    const { posted } = await signIn(base, 'Alice@acme.test', PASSWORD, nonce, state);
    // A "signed in" page whose meta refresh leads to the redirect (as the real portal).
    expect(posted.status).toBe(200);
    const signedIn = await posted.text();
    const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(signedIn)![1]!;
    expect(refresh).toBe('/acme/sign_in/client_redirect');
    expect(signedIn).not.toContain('fragment');
    const redirect = await fetch(new URL(refresh, base), {
      redirect: 'manual',
      headers: { Cookie: setCookies(posted) },
    });
    expect(redirect.status).toBe(302);
    const deepLink = new URL(redirect.headers.get('location')!);
    expect(deepLink.protocol).toBe('firezone-fd0020211111:');
    expect(deepLink.host).toBe('handle_client_sign_in_callback');
    expect([...deepLink.searchParams.keys()]).toEqual([
      'account_name',
      'account_slug',
      'actor_name',
      'fragment',
      'identity_provider_identifier',
      'state',
    ]);
    expect(deepLink.searchParams.get('state')).toBe(state);
    expect(deepLink.searchParams.get('account_slug')).toBe('acme');
    expect(deepLink.searchParams.get('actor_name')).toBe('Alice');
    const token = nonce + deepLink.searchParams.get('fragment')!;
    secrets.add(token);
    secrets.add(deepLink.searchParams.get('fragment')!);

    // The redirect works once.
    const again = await fetch(new URL('/acme/sign_in/client_redirect', base), {
      redirect: 'manual',
      headers: { Cookie: setCookies(posted) },
    });
    expect(again.status).toBe(400);

    // The token signs the client in.
    const client = session(portal, 'client', token);
    const init = await client.next('init');
    expect(init.payload.resources.map((resource) => resource.name).sort()).toEqual([
      'LAN',
      'Lab hosts',
      'Wiki',
    ]);
    // The nonce alone or the fragment alone is not a token.
    const half = openSession(base, 'client', deepLink.searchParams.get('fragment')!);
    cleanups.push(() => half.session.stop());
    half.session.start();
    await waitFor(() => half.session.state.status === 'signed_out');
  });

  it('rejects wrong passwords, missing CSRF tokens, and rate-limits attempts', async () => {
    const portal = await portalFor(undefined, { signInLimits: { email: { limit: 2, windowMs: 60_000 } } });
    const base = portal.portal.url;
    const nonce = 'a'.repeat(64);
    const wrong = await signIn(base, 'alice@acme.test', 'not the password', nonce, 'b'.repeat(64));
    expect(wrong.posted.status).toBe(401);
    expect(await wrong.posted.text()).toContain('Invalid email or password.');
    const unknown = await signIn(base, 'mallory@acme.test', PASSWORD, nonce, 'b'.repeat(64));
    expect(unknown.posted.status).toBe(401);

    const forged = await fetch(`${base}/acme/sign_in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        as: 'gui-client',
        nonce,
        state: 'x',
        email: 'alice@acme.test',
        password: PASSWORD,
      }),
    });
    expect(forged.status).toBe(403);
    const crossSite = await fetch(`${base}/acme/sign_in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://evil.example' },
      body: 'x=1',
    });
    expect(crossSite.status).toBe(403);

    await signIn(base, 'alice@acme.test', 'wrong again', nonce, 'b'.repeat(64));
    const limited = await signIn(base, 'alice@acme.test', PASSWORD, nonce, 'b'.repeat(64));
    expect(limited.posted.status).toBe(429);
    expect(Number(limited.posted.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('shows headless clients their token instead of redirecting', async () => {
    const portal = await portalFor();
    const base = portal.portal.url;
    const page = await fetch(`${base}/acme?as=headless-client`);
    const html = await page.text();
    const posted = await fetch(`${base}/acme/sign_in`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: setCookies(page) },
      body: new URLSearchParams({
        as: 'headless-client',
        nonce: '',
        state: '',
        csrf_token: hiddenField(html, 'csrf_token'),
        email: 'bob@acme.test',
        password: PASSWORD,
      }),
    });
    expect(posted.status).toBe(200);
    const token = /<code>([^<]+)<\/code>/.exec(await posted.text())![1]!;
    secrets.add(token);
    const client = session(portal, 'client', token);
    expect((await client.next('init')).payload.resources.map((resource) => resource.name)).toEqual(['Wiki']);
  });
});

describe('dev portal: channels', () => {
  it('refuses bad upgrades with problem+json (§3.3)', async () => {
    const portal = await portalFor();
    const ws = portal.portal.url.replace('http', 'ws');
    const key = encodeURIComponent(newPublicKey());
    const attempt = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const socket = new WebSocket(`${ws}${path}`, { headers });
        socket.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        socket.on('error', () => {});
      });
    const token = mint(portal, 'alice@acme.test');
    const ok = { 'User-Agent': CLIENT_UA, 'X-Authorization': `Bearer ${token}` };
    const query = `?external_id=dev1&public_key=${key}`;
    expect(await attempt(`/client/v2/websocket${query}`, { 'User-Agent': CLIENT_UA })).toMatchObject({
      status: 401,
      body: expect.stringContaining('"code":"missing_token"'),
    });
    expect(
      await attempt(`/client/v2/websocket${query}`, { ...ok, 'X-Authorization': 'Bearer .bogus.bogus' }),
    ).toMatchObject({
      status: 401,
      body: expect.stringContaining('"code":"invalid_token"'),
    });
    expect((await attempt(`/client/v2/websocket${query}`, { ...ok, 'User-Agent': 'curl/8' })).status).toBe(
      400,
    );
    expect((await attempt(`/client/v2/websocket?external_id=dev1&public_key=short`, ok)).status).toBe(400);
    expect((await attempt(`/client/v2/websocket${query}&vsn=2.0.0`, ok)).status).toBe(400);
    expect((await attempt(`/gateway/v2/websocket${query}`, ok)).status).toBe(400); // client UA on the gateway path
    expect((await attempt(`/relay/websocket${query}`, ok)).status).toBe(404);
  });

  it('sends init per policy to clients and gateways', async () => {
    const portal = await portalFor();
    const alice = session(portal, 'client', mint(portal, 'alice@acme.test'));
    const bob = session(portal, 'client', mint(portal, 'bob@acme.test'));
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    const aliceInit = await alice.next('init');
    const bobInit = await bob.next('init');
    const gatewayInit = await gateway.next('init');
    expect(aliceInit.payload.resources.map((r) => r.name).sort()).toEqual(['LAN', 'Lab hosts', 'Wiki']);
    expect(bobInit.payload.resources.map((r) => r.name)).toEqual(['Wiki']);
    const wiki = bobInit.payload.resources[0]!;
    expect(wiki).toMatchObject({
      type: 'dns',
      address: '*.wiki.acme.test',
      filters: [{ protocol: 'tcp', port_range_start: 443, port_range_end: 443 }],
      sites: [{ name: 'HQ' }],
    });
    expect(aliceInit.payload.interface.ipv4).toMatch(/^100\.(6[4-9]|[7-8]\d|9[0-5])\./);
    expect(aliceInit.payload.interface.ipv6).toMatch(/^fd00:2021:1111::/);
    expect(aliceInit.payload.interface.upstream_do53).toEqual([{ ip: '1.1.1.1' }]);
    const relay = aliceInit.payload.relays[0]!;
    expect(relay).toMatchObject({ type: 'turn', addr: '127.0.0.1:3478' });
    if (relay.type !== 'turn') throw new Error('expected a TURN relay');
    expect(relay.username).toMatch(/^\d+:[0-9a-f-]{36}$/);
    expect(gatewayInit.payload).toMatchObject({
      interface: { ipv4: expect.any(String) },
      config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
      account_slug: 'acme',
      authorizations: [],
    });
    if (gatewayInit.payload.relays[0]?.type !== 'turn') throw new Error('expected a TURN relay');
    expect(gatewayInit.payload.relays[0].expires_at).toBe(2_145_916_800);
  });

  it('keeps device addresses stable across reconnects', async () => {
    const portal = await portalFor();
    const token = mint(portal, 'alice@acme.test');
    const first = session(portal, 'client', token, { deviceId: 'laptop-a' });
    const address = (await first.next('init')).payload.interface;
    await first.session.stop();
    const second = session(portal, 'client', token, { deviceId: 'laptop-a' });
    expect((await second.next('init')).payload.interface).toEqual(address);
  });

  it('authorizes a flow between a client and a gateway and relays candidates in order', async () => {
    const portal = await portalFor();
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    const client = session(portal, 'client', mint(portal, 'alice@acme.test'));
    await gateway.next('init');
    const init = await client.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    client.session.send('request_authorization', { resource_id: lan.id, connected_gateway_ids: [] });
    const create = await gateway.next('create_authorization');
    expect(create.payload.resource).toMatchObject({ id: lan.id, type: 'cidr', address: '10.20.0.0/16' });
    expect(create.payload.client.ipv4).toBe(init.payload.interface.ipv4);
    // Candidates before the acknowledgement are held until the client has authorization_created.
    gateway.session.send('broadcast_ice_candidates', {
      client_ids: [create.payload.client.id],
      candidates: [CANDIDATE_GATEWAY],
    });
    gateway.session.send('authorization_created', { ref: create.payload.ref });
    const created = await client.next('authorization_created');
    await client.next('ice_candidates');
    const order = client.messages.map((message) => message.event).filter((event) => event !== 'init');
    expect(order).toEqual(['authorization_created', 'ice_candidates']);
    expect(created.payload).toMatchObject({
      resource_id: lan.id,
      preshared_key: create.payload.client.preshared_key,
      client_ice_credentials: create.payload.client_ice_credentials,
      gateway_ice_credentials: create.payload.gateway_ice_credentials,
      use_iceless: false,
    });
    // The flow-log token is JWT-shaped (§4.5).
    expect(created.payload.flow_logs_ingest_token!.split('.')).toHaveLength(3);

    client.session.send('new_gateway_ice_candidates', {
      gateway_id: created.payload.gateway_id,
      candidates: [CANDIDATE_CLIENT],
    });
    const relayed = await gateway.next('ice_candidates');
    expect(relayed.payload).toEqual({ client_id: create.payload.client.id, candidates: [CANDIDATE_CLIENT] });

    // A repeated request derives the same secrets, so the tunnel can be reused (§9.13).
    const seen = gateway.messages.length;
    client.session.send('request_authorization', {
      resource_id: lan.id,
      connected_gateway_ids: [created.payload.gateway_id],
    });
    const again = await gateway.next('create_authorization', 5_000, seen);
    expect(again.payload.client.preshared_key).toBe(create.payload.client.preshared_key);
    expect(again.payload.gateway_ice_credentials).toEqual(create.payload.gateway_ice_credentials);
  });

  it('answers requests it cannot grant with authorization_creation_failed', async () => {
    const portal = await portalFor();
    const bob = session(portal, 'client', mint(portal, 'bob@acme.test'));
    const alice = session(portal, 'client', mint(portal, 'alice@acme.test'));
    const aliceInit = await alice.next('init');
    await bob.next('init');
    const lan = aliceInit.payload.resources.find((resource) => resource.name === 'LAN')!;
    const lab = aliceInit.payload.resources.find((resource) => resource.name === 'Lab hosts')!;
    bob.session.send('request_authorization', { resource_id: lan.id }); // not Bob's
    bob.session.send('request_authorization', { resource_id: '00000000-0000-4000-8000-000000000000' });
    alice.session.send('request_authorization', { resource_id: lab.id }); // no gateway online in Lab
    await waitFor(() => bob.messages.filter((m) => m.event === 'authorization_creation_failed').length === 2);
    const failures = bob.messages.flatMap((m) =>
      m.event === 'authorization_creation_failed' ? [m.payload.reason] : [],
    );
    expect(failures).toEqual(['not_found', 'not_found']);
    expect((await alice.next('authorization_creation_failed')).payload).toMatchObject({
      resource_id: lab.id,
      reason: 'offline',
    });
    expect(portal.portal.health()).toMatchObject({
      messages_refused: { resource_not_allowed: 1, unknown_resource: 1 },
    });
  });

  it('pushes live resource updates when the config file changes', async () => {
    const portal = await portalFor(undefined, { watchConfig: true });
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    const alice = session(portal, 'client', mint(portal, 'alice@acme.test'));
    await gateway.next('init');
    const init = await alice.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    const wiki = init.payload.resources.find((resource) => resource.name === 'Wiki')!;
    alice.session.send('request_authorization', { resource_id: lan.id });
    const create = await gateway.next('create_authorization');
    gateway.session.send('authorization_created', { ref: create.payload.ref });
    await alice.next('authorization_created');

    // Drop the LAN policy, change the wiki's filters, add a resource.
    const next = (
      await configYaml({
        wikiFilterPorts: '"443", "8443"',
        extraResources: '  - name: Printers\n    type: cidr\n    address: 10.30.0.0/24\n    site: HQ',
        extraPolicies: '  - group: everyone\n    resource: Printers',
      })
    ).replace('  - group: engineering\n    resource: LAN\n', '');
    const from = alice.messages.length;
    writeConfig(portal.configFile, next);
    const deleted = await alice.next('resource_deleted', 5_000, from);
    expect(deleted.payload).toBe(lan.id);
    await waitFor(
      () => alice.messages.slice(from).filter((m) => m.event === 'resource_created_or_updated').length === 2,
    );
    const updates = alice.messages
      .slice(from)
      .flatMap((m) => (m.event === 'resource_created_or_updated' ? [m.payload] : []));
    expect(updates.map((resource) => resource.name).sort()).toEqual(['Printers', 'Wiki']);
    const events = alice.messages.slice(from).map((m) => m.event);
    expect(events.indexOf('resource_deleted')).toBeLessThan(events.indexOf('resource_created_or_updated'));
    expect(updates.find((resource) => resource.id === wiki.id)).toMatchObject({
      filters: [{ port_range_start: 443 }, { port_range_start: 8443 }],
    });
    const rejected = await gateway.next('reject_access');
    expect(rejected.payload).toEqual({ client_id: create.payload.client.id, resource_id: lan.id });

    // A broken edit is reported and changes nothing.
    writeConfig(portal.configFile, 'account: [this is not valid');
    await waitFor(() => portal.logs.some((line) => line.includes('config reload failed')));
    expect(portal.portal.currentConfig.catalog.resources.map((resource) => resource.name)).toContain(
      'Printers',
    );
  });

  it('ends the session of a gateway whose token was removed from the config', async () => {
    const portal = await portalFor();
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    await gateway.next('init');
    writeConfig(
      portal.configFile,
      (await configYaml()).replace(`    gateway_tokens:\n      - token: ${GATEWAY_TOKEN}\n`, ''),
    );
    expect(portal.portal.reload()).toBeUndefined();
    await waitFor(() => gateway.session.state.status === 'signed_out');
    expect(gateway.session.state).toMatchObject({ reason: 'token_expired' });
  });

  it('tells the client when its token expires and it stops reconnecting', async () => {
    const portal = await portalFor();
    const client = session(portal, 'client', mint(portal, 'alice@acme.test', 1));
    await client.next('init');
    await waitFor(() => client.session.state.status === 'signed_out', 4_000);
    expect(client.session.state).toMatchObject({ reason: 'token_expired' });
    const connects = client.session.stats.connects;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.session.stats.connects).toBe(connects);
  });

  it('signs out revoked clients, also when another process revokes, and refuses the token after', async () => {
    const portal = await portalFor();
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    const alice = session(portal, 'client', mint(portal, 'alice@acme.test'));
    await gateway.next('init');
    const init = await alice.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    alice.session.send('request_authorization', { resource_id: lan.id });
    const create = await gateway.next('create_authorization');
    gateway.session.send('authorization_created', { ref: create.payload.ref });
    await alice.next('authorization_created');

    expect(portal.portal.revokeTokens({ email: 'alice@acme.test' })).toHaveLength(1);
    await waitFor(() => alice.session.state.status === 'signed_out');
    expect((await gateway.next('reject_access')).payload).toEqual({
      client_id: create.payload.client.id,
      resource_id: lan.id,
    });

    // Revocation by another process (the CLI writes to the same database).
    const minted = portal.portal.mintClientToken('bob@acme.test');
    const bobToken = minted.token;
    const bob = session(portal, 'client', bobToken);
    await bob.next('init');
    const other = new PortalStore(join(portal.portal.dataDir, 'portal.sqlite3'));
    expect(other.revokeTokens({ tokenId: minted.id })).toEqual([minted.id]);
    other.close();
    await waitFor(() => bob.session.state.status === 'signed_out');

    // A new session with the revoked token is refused with 401 invalid_token.
    const again = session(portal, 'client', bobToken);
    await waitFor(() => again.session.state.status === 'signed_out');
    expect(again.session.state).toMatchObject({ reason: 'invalid_token' });
  });

  it('keeps tokens and authorizations across a portal restart; sessions reconnect', async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const logs: string[] = [];
    allLogs.push(logs);
    let running = await startPortal(dir, { config: await configYaml(), logs });
    const port = running.portal.port;
    cleanups.push(() => running.portal.stop());
    const token = running.portal.mintClientToken('alice@acme.test').token;
    secrets.add(token);
    const gateway = session(running, 'gateway', GATEWAY_TOKEN);
    const client = session(running, 'client', token);
    await gateway.next('init');
    const init = await client.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    client.session.send('request_authorization', { resource_id: lan.id });
    const create = await gateway.next('create_authorization');
    gateway.session.send('authorization_created', { ref: create.payload.ref });
    await client.next('authorization_created');

    const clientFrom = client.messages.length;
    const gatewayFrom = gateway.messages.length;
    await running.portal.stop();
    await waitFor(() => client.session.state.status === 'reconnecting');
    running = await startPortal(dir, { port, logs });
    const reinit = await client.next('init', 5_000, clientFrom);
    expect(reinit.payload.interface).toEqual(init.payload.interface);
    const gatewayInit = await gateway.next('init', 5_000, gatewayFrom);
    expect(gatewayInit.payload.authorizations).toEqual([
      { client_id: create.payload.client.id, resource_id: lan.id, expires_at: create.payload.expires_at },
    ]);
    expect(client.session.state.status).toBe('joined');
  });

  it('survives malformed frames and unknown events, answering or counting each once', async () => {
    const portal = await portalFor(undefined, { maxFrameBytes: 4_096 });
    const witness = session(portal, 'client', mint(portal, 'bob@acme.test'));
    await witness.next('init');
    const token = mint(portal, 'alice@acme.test');
    const url = `${portal.portal.url.replace('http', 'ws')}/client/v2/websocket?external_id=raw&public_key=${encodeURIComponent(newPublicKey())}`;
    const ws = new WebSocket(url, {
      headers: { 'X-Authorization': `Bearer ${token}`, 'User-Agent': CLIENT_UA },
    });
    cleanups.push(() => ws.terminate());
    const replies = new Map<number, { status: string; response: unknown }>();
    const pushes: string[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as {
        event: string;
        ref: number | null;
        payload: { status: string; response: unknown };
      };
      if (frame.event === 'phx_reply' && typeof frame.ref === 'number') replies.set(frame.ref, frame.payload);
      else pushes.push(frame.event);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const send = (frame: unknown) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    send({ topic: 'client', event: 'request_authorization', payload: {}, ref: 1 }); // before join
    send({ topic: 'room:lobby', event: 'phx_join', payload: {}, ref: 2 }); // wrong topic
    send({ topic: 'client', event: 'phx_join', payload: null, ref: 3 });
    send('{this is not json');
    send('{this is not json either');
    send('x'.repeat(5_000)); // over the frame limit
    ws.send(Buffer.from([0xde, 0xad]), { binary: true });
    send({ topic: 'client', event: 42, payload: {}, ref: 4 }); // malformed but answerable
    send({ topic: 'client', event: 'warp_drive', payload: {}, ref: 5 }); // unknown event
    send({ topic: 'client', event: 'request_authorization', payload: { resource_id: 7 }, ref: 6 }); // invalid payload
    send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 7 });
    await waitFor(() => replies.has(7));
    expect(replies.get(1)).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    expect(replies.get(2)).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    expect(replies.get(3)).toEqual({ status: 'ok', response: {} });
    expect(replies.get(4)).toEqual({ status: 'error', response: { reason: 'invalid_frame' } });
    expect(replies.get(5)).toEqual({ status: 'error', response: { reason: 'unknown_message' } });
    expect(replies.get(6)).toMatchObject({
      status: 'error',
      response: {
        reason: 'invalid_payload',
        detail: expect.stringContaining('request_authorization: field "resource_id"'),
      },
    });
    expect(replies.get(7)).toEqual({ status: 'ok', response: {} });
    expect(pushes).toEqual(['init']);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(portal.portal.health()).toMatchObject({
      frames_dropped: { invalid_json: 2, too_large: 1, binary: 1, invalid_frame: 1 },
      messages_refused: { unjoined_topic: 2, unknown_event: 1, invalid_payload: 1 },
    });
    // Each reason is logged once per connection at warn, even when repeated.
    const warnings = portal.logs.filter(
      (line) => line.includes('"level":"warn"') && line.includes('"reason":"invalid_json"'),
    );
    expect(warnings).toHaveLength(1);
    // The other session is unaffected.
    expect(witness.session.state.status).toBe('joined');
  });

  it('refuses a second connection of the same gateway with 409 and retries', async () => {
    const portal = await portalFor();
    const first = session(portal, 'gateway', GATEWAY_TOKEN, { deviceId: 'gw-same' });
    await first.next('init');
    const second = session(portal, 'gateway', GATEWAY_TOKEN, { deviceId: 'gw-same' });
    await waitFor(() => second.session.state.status === 'reconnecting');
    expect(second.session.state).toMatchObject({
      lastError: { status: 409, code: 'gateway_already_connected' },
    });
    await first.session.stop();
    await second.next('init');
  });
});
