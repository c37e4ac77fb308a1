/**
 * OIDC sign-in against a real OpenID provider (oidc-provider) running in the test process on
 * 127.0.0.1. A small cookie-jar "browser" follows every redirect with fetch: the portal's sign-in
 * page, the provider's login and consent (answered by an automatic interaction handler), the
 * callback, the "signed in" page and the deep-link redirect. Wrong audiences, expired tokens and
 * bad signatures come from ID tokens re-signed on their way out of the token endpoint. Every log
 * line of the portal is checked for codes, tokens, verifiers, secrets and keys.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './cli.js';
import { ConfigError, loadConfig, parseConfig } from './config.js';
import { PendingLogins } from './oidc.js';
import type { DevPortalOptions } from './portal.js';
import { PortalStore } from './store.js';
import { configYaml, PASSWORD, removeDir, startPortal, tempDir, type TestPortal } from './test-support.js';

const CLIENT_ID = 'fz-portal-test';
const CLIENT_SECRET = `client-secret-${randomBytes(12).toString('hex')}`;
const WRONG_SECRET = `wrong-secret-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = `FZ_OIDC_TEST_SECRET_${randomBytes(4).toString('hex').toUpperCase()}`;
/** Provider ids in the portal's config that are registered at the provider (same client). */
const REGISTERED = ['test', 'verified', 'env', 'wrongsecret'];

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...signingKey.privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const ACCOUNTS: Record<string, { email: string; verified: boolean; name: string }> = {
  alice: { email: 'Alice@Acme.Test', verified: true, name: 'Alice at the IdP' }, // case differs
  carol: { email: 'bob@acme.test', verified: false, name: 'Carol' }, // a config user, unverified
  mallory: { email: 'mallory@evil.test', verified: true, name: 'Mallory' }, // not in the config
};

/** Every secret seen in this file; no portal log line may contain any of them. */
const secrets = new Set<string>([CLIENT_SECRET, WRONG_SECRET, PASSWORD, jwk.d!, jwk.p!, jwk.q!]);
const allLogs: string[][] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  const text = allLogs.map((lines) => lines.join('')).join('');
  expect(text).toContain('OIDC sign-in started');
  expect(text).toContain('OIDC sign-in refused');
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThanOrEqual(8);
    expect(text.includes(secret), `a log line contains a secret (${secret.slice(0, 6)}…)`).toBe(false);
  }
});

// ---------------------------------------------------------------------------------------------
// The provider and the portal.

type Tamper = (claims: Record<string, unknown>) => { claims: Record<string, unknown>; key?: KeyObject };

interface Env {
  readonly portal: TestPortal;
  readonly base: string;
  readonly issuer: string;
  /** Which provider account the next login picks. */
  account: string;
  /** Rewrites (and re-signs) the next ID tokens leaving the token endpoint. */
  tamper: Tamper | undefined;
  tokensIssued: number;
  /** Claims of the last ID token the provider issued (before any tampering). */
  lastIdToken?: Record<string, unknown>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function resign(idToken: string, tamper: Tamper): string {
  const [header, payload] = idToken.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const changed = tamper(claims);
  const input = `${header}.${Buffer.from(JSON.stringify(changed.claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), changed.key ?? signingKey.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

async function setup(
  options: { extraConfig?: string; signInLimits?: DevPortalOptions['signInLimits'] } = {},
): Promise<Env> {
  const idpServer = createServer();
  const issuerPort = await listen(idpServer);
  const issuer = `http://127.0.0.1:${issuerPort}`;
  cleanups.push(() => new Promise<void>((resolve) => idpServer.close(() => resolve())));
  idpServer.closeIdleConnections();

  const downPort = await closedPort();
  const config = `${await configYaml()}
identity_providers:
  - id: test
    name: Test IdP
    issuer: "${issuer}"
    client_id: ${CLIENT_ID}
    client_secret: "${CLIENT_SECRET}"
  - id: verified
    name: Verified IdP
    issuer: "${issuer}"
    client_id: ${CLIENT_ID}
    client_secret: "${CLIENT_SECRET}"
    require_email_verified: true
  - id: env
    name: Env IdP
    issuer: "${issuer}"
    client_id: ${CLIENT_ID}
    client_secret_env: ${SECRET_ENV}
  - id: wrongsecret
    name: Wrong Secret IdP
    issuer: "${issuer}"
    client_id: ${CLIENT_ID}
    client_secret: "${WRONG_SECRET}"
  - id: down
    name: Down IdP
    issuer: "http://127.0.0.1:${downPort}/realms/x"
    client_id: ${CLIENT_ID}
${options.extraConfig ?? ''}`;
  const dir = tempDir();
  cleanups.push(() => removeDir(dir));
  const portal = await startPortal(dir, {
    config,
    ...(options.signInLimits ? { signInLimits: options.signInLimits } : {}),
  });
  allLogs.push(portal.logs);
  cleanups.push(() => portal.portal.stop());
  const base = portal.portal.url;

  const env: Env = { portal, base, issuer, account: 'alice', tamper: undefined, tokensIssued: 0 };
  // The provider's own in-memory store is what tests want; mute its warning about it.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('in-memory adapter')) warn(...args);
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: REGISTERED.map((id) => `${base}/auth/oidc/${id}/callback`),
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Grant: 600,
      Interaction: 600,
      Session: 600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, id) => {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: account.email,
          email_verified: account.verified,
          name: account.name,
        }),
      };
    },
  });
  console.warn = warn;
  // Watch (and on request rewrite) what the token endpoint hands out.
  provider.use(async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if (ctx.path !== '/token') return;
    const verifier = ctx.oidc?.params?.code_verifier;
    if (typeof verifier === 'string') secrets.add(verifier);
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body.id_token !== 'string') return;
    env.tokensIssued += 1;
    const [, payload] = body.id_token.split('.') as [string, string];
    env.lastIdToken = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    if (typeof body.access_token === 'string') secrets.add(body.access_token);
    const idToken = env.tamper ? resign(body.id_token, env.tamper) : body.id_token;
    secrets.add(body.id_token);
    secrets.add(idToken);
    ctx.body = { ...body, id_token: idToken };
  });
  const handler = provider.callback();
  idpServer.on('request', (req, res) => {
    if (!req.url?.startsWith('/interaction/')) {
      void handler(req, res);
      return;
    }
    // The provider's login and consent pages, answered at once for `env.account`.
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId: env.account } });
        return;
      }
      const grant = new provider.Grant({
        accountId: details.session!.accountId,
        clientId: details.params.client_id as string,
      });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  return env;
}

// ---------------------------------------------------------------------------------------------
// A browser: a cookie jar per host (as browsers do, whatever the port) and manual redirects.

class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  async get(url: string): Promise<Response> {
    const target = new URL(url);
    const cookies = this.jar.get(target.hostname);
    const header = cookies ? [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') : '';
    const response = await fetch(target, { redirect: 'manual', headers: header ? { Cookie: header } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const index = pair!.indexOf('=');
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      const jar = this.jar.get(target.hostname) ?? new Map<string, string>();
      this.jar.set(target.hostname, jar);
      const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
      if (value === '' || expired) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }
}

interface Flow {
  readonly browser: Browser;
  readonly nonce: string;
  readonly state: string;
  /** The answer of the portal's callback (or the last page if the flow stopped before it). */
  readonly response: Response;
  readonly callbackUrl: string | undefined;
}

/** Follows redirects from `url` until the portal's callback URL (not fetched) or another page. */
async function untilCallback(env: Env, browser: Browser, url: string): Promise<string | Response> {
  for (let hop = 0; hop < 20; hop += 1) {
    const target = new URL(url);
    if (target.origin === env.base && /^\/auth\/oidc\/[^/]+\/callback$/.test(target.pathname)) {
      const code = target.searchParams.get('code');
      if (code) secrets.add(code);
      return url;
    }
    if (target.origin === env.issuer && target.searchParams.has('nonce'))
      secrets.add(target.searchParams.get('nonce')!);
    const response = await browser.get(url);
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) return response;
    url = new URL(location, url).href;
  }
  throw new Error('too many redirects');
}

/** Opens the sign-in page, clicks "Sign in with <name>" and follows redirects to the callback. */
async function signInVia(env: Env, name: string, as = 'gui-client', browser = new Browser()): Promise<Flow> {
  const nonce = randomBytes(32).toString('hex');
  const state = randomBytes(32).toString('hex');
  secrets.add(nonce);
  const page = await browser.get(`${env.base}/acme?as=${as}&nonce=${nonce}&state=${state}`);
  expect(page.status).toBe(200);
  const html = await page.text();
  const link = new RegExp(`<a class="idp" href="([^"]+)">Sign in with ${name}</a>`).exec(html);
  expect(link, `a "Sign in with ${name}" link`).not.toBeNull();
  const start = new URL(link![1]!.replaceAll('&#38;', '&'), env.base).href;
  const reached = await untilCallback(env, browser, start);
  if (typeof reached !== 'string')
    return { browser, nonce, state, response: reached, callbackUrl: undefined };
  return { browser, nonce, state, response: await browser.get(reached), callbackUrl: reached };
}

/** From the "signed in" page to the deep link, as after a password sign-in. */
async function deepLinkOf(env: Env, flow: Flow): Promise<URL> {
  expect(flow.response.status).toBe(200);
  const html = await flow.response.text();
  const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(html)![1]!;
  expect(refresh).toBe('/acme/sign_in/client_redirect');
  expect(html).not.toContain('fragment');
  const redirect = await flow.browser.get(new URL(refresh, env.base).href);
  expect(redirect.status).toBe(302);
  const deepLink = new URL(redirect.headers.get('location')!);
  secrets.add(deepLink.searchParams.get('fragment')!);
  secrets.add(flow.nonce + deepLink.searchParams.get('fragment')!);
  return deepLink;
}

function withStore<T>(env: Env, use: (store: PortalStore) => T): T {
  const store = new PortalStore(join(env.portal.dir, 'data', 'portal.sqlite3'));
  try {
    return use(store);
  } finally {
    store.close();
  }
}

const tokenCount = (env: Env): number => withStore(env, (store) => store.listTokens().length);

// ---------------------------------------------------------------------------------------------

describe('OIDC sign-in', () => {
  it('signs in through the provider and ends at the same deep link as a password sign-in', async () => {
    const env = await setup();
    const flow = await signInVia(env, 'Test IdP');
    expect(flow.callbackUrl).toBeDefined();
    const deepLink = await deepLinkOf(env, flow);
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
    expect(deepLink.searchParams.get('state')).toBe(flow.state);
    expect(deepLink.searchParams.get('actor_name')).toBe('Alice');
    expect(deepLink.searchParams.get('identity_provider_identifier')).toBe('alice@acme.test');
    // The app's token (nonce ‖ fragment) is one the portal accepts, for the config's Alice.
    const token = flow.nonce + deepLink.searchParams.get('fragment')!;
    const alice = env.portal.portal.currentConfig.users.find((user) => user.email === 'alice@acme.test')!;
    const check = withStore(env, (store) => store.verifyClientToken(token));
    expect(check.ok).toBe(true);
    if (check.ok) expect(check.token.actorId).toBe(alice.id);
    expect(env.portal.logs.join('')).toMatch(/"msg":"client signed in".*"via":"oidc:test"/);
    // oidc-provider puts scope-requested claims in UserInfo only: the email came from there.
    expect(env.lastIdToken).toMatchObject({ aud: CLIENT_ID, iss: env.issuer, sub: 'alice' });
    expect(env.lastIdToken).not.toHaveProperty('email');

    // The sign-in page keeps its strict CSP and has no scripts.
    const page = await fetch(
      `${env.base}/acme?as=gui-client&nonce=${'a'.repeat(64)}&state=${'b'.repeat(64)}`,
    );
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).not.toMatch(/<script/);
  });

  it('refuses a replayed callback (the state is single-use) and issues nothing more', async () => {
    const env = await setup();
    const flow = await signInVia(env, 'Test IdP');
    await deepLinkOf(env, flow);
    expect(tokenCount(env)).toBe(1);
    const replay = await flow.browser.get(flow.callbackUrl!);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('expired or was already used');
    expect(tokenCount(env)).toBe(1);
    expect(env.tokensIssued).toBe(1); // the code was not even redeemed again
  });

  it('refuses a callback in a browser other than the one that started the sign-in', async () => {
    const env = await setup();
    const started = new Browser();
    const app = `as=gui-client&nonce=${'a'.repeat(64)}&state=${'b'.repeat(64)}`;
    const callback = await untilCallback(env, started, `${env.base}/auth/oidc/test/start?${app}`);
    expect(typeof callback).toBe('string');
    // The redirect with the code lands in another browser (login CSRF): refused, nothing issued.
    const elsewhere = await new Browser().get(callback as string);
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toContain('another browser');
    expect(env.tokensIssued).toBe(0);
    expect(tokenCount(env)).toBe(0);
  });

  it('refuses an ID token issued for another audience', async () => {
    const env = await setup();
    env.tamper = (claims) => ({ claims: { ...claims, aud: 'some-other-client' } });
    const flow = await signInVia(env, 'Test IdP');
    expect(flow.response.status).toBe(401);
    expect(await flow.response.text()).toContain('could not be verified');
    expect(tokenCount(env)).toBe(0);
    expect(env.portal.logs.join('')).toMatch(/OIDC sign-in refused.*audience/);
  });

  it('refuses an expired ID token', async () => {
    const env = await setup();
    const now = Math.floor(Date.now() / 1000);
    env.tamper = (claims) => ({ claims: { ...claims, iat: now - 7200, exp: now - 3600 } });
    const flow = await signInVia(env, 'Test IdP');
    expect(flow.response.status).toBe(401);
    expect(tokenCount(env)).toBe(0);
    expect(env.portal.logs.join('')).toMatch(/OIDC sign-in refused.*exp.*expiration/);
  });

  it('refuses an ID token not signed by a key of the issuer (JWKS)', async () => {
    const env = await setup();
    env.tamper = (claims) => ({ claims, key: otherKey.privateKey });
    const flow = await signInVia(env, 'Test IdP');
    expect(flow.response.status).toBe(401);
    expect(tokenCount(env)).toBe(0);
    expect(env.portal.logs.join('')).toMatch(/OIDC sign-in refused.*signature/);
  });

  it('refuses a user who is not in the config, and unverified emails where required', async () => {
    const env = await setup();
    env.account = 'mallory';
    const flow = await signInVia(env, 'Test IdP');
    expect(flow.response.status).toBe(403);
    const text = await flow.response.text();
    expect(text).toContain('Not authorised');
    expect(text).toContain('mallory@evil.test is not allowed to sign in');
    expect(env.portal.logs.join('')).toMatch(/no such user in the config.*mallory@evil\.test/);

    env.account = 'carol'; // bob@acme.test at the provider, but email_verified is false
    const unverified = await signInVia(env, 'Verified IdP');
    expect(unverified.response.status).toBe(403);
    expect(await unverified.response.text()).toContain('not verified');
    expect(tokenCount(env)).toBe(0);

    // Without require_email_verified the same account maps to Bob.
    const bob = await signInVia(env, 'Test IdP', 'gui-client');
    expect((await deepLinkOf(env, bob)).searchParams.get('actor_name')).toBe('Bob');
  });

  it('shows headless clients their token, and reads the client secret from the environment', async () => {
    const env = await setup();
    Reflect.deleteProperty(process.env, SECRET_ENV);
    const missing = await signInVia(env, 'Env IdP', 'headless-client');
    expect(missing.response.status).toBe(500);
    expect(await missing.response.text()).toContain('not set up completely');
    expect(env.portal.logs.join('')).toContain(`env:${SECRET_ENV}`);

    process.env[SECRET_ENV] = CLIENT_SECRET;
    cleanups.push(() => void Reflect.deleteProperty(process.env, SECRET_ENV));
    const flow = await signInVia(env, 'Env IdP', 'headless-client');
    expect(flow.response.status).toBe(200);
    const token = /<code>([^<]+)<\/code>/.exec(await flow.response.text())![1]!;
    secrets.add(token);
    expect(withStore(env, (store) => store.verifyClientToken(token)).ok).toBe(true);
  });

  it('survives bad input: unknown providers, malformed links, provider errors, outages, a wrong secret', async () => {
    const env = await setup();
    const browser = new Browser();
    const get = (path: string) => browser.get(`${env.base}${path}`);
    const app = `as=gui-client&nonce=${'a'.repeat(64)}&state=${'b'.repeat(64)}`;
    expect((await get(`/auth/oidc/nope/start?${app}`)).status).toBe(404);
    expect((await get(`/auth/oidc/test/start?as=gui-client`)).status).toBe(400); // no nonce/state
    expect((await get(`/auth/oidc/test/elsewhere`)).status).toBe(404);
    expect((await get(`/auth/oidc/TEST/start?${app}`)).status).toBe(404);
    expect((await get(`/auth/oidc/test/callback`)).status).toBe(400);
    expect((await get(`/auth/oidc/test/callback?code=abc&state=${'x'.repeat(5000)}`)).status).toBe(400);
    expect((await get(`/auth/oidc/test/callback?state=%00%ff&code=%zz`)).status).toBe(400);
    const post = await fetch(`${env.base}/auth/oidc/test/callback`, { method: 'POST', body: 'code=1' });
    expect(post.status).toBe(405);

    // The provider refuses (the user cancelled): a page, no token.
    const start = await browser.get(`${env.base}/auth/oidc/test/start?${app}`);
    expect(start.status).toBe(302);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const cancelled = await get(`/auth/oidc/test/callback?error=access_denied&state=${state}`);
    expect(cancelled.status).toBe(401);
    expect(await cancelled.text()).toContain('did not sign you in (access_denied)');

    // An unreachable issuer: 502, and the portal carries on.
    const down = await signInVia(env, 'Down IdP');
    expect(down.response.status).toBe(502);
    expect(await down.response.text()).toContain('cannot be reached');
    expect(env.portal.logs.join('')).toMatch(/OIDC sign-in refused: discovery failed/);

    // A wrong client secret: the token endpoint refuses the code.
    const wrong = await signInVia(env, 'Wrong Secret IdP');
    expect(wrong.response.status).toBe(401);
    expect(await wrong.response.text()).toContain('did not accept the sign-in');
    expect(env.portal.logs.join('')).toMatch(/the provider refused the code.*invalid_client/);

    expect(tokenCount(env)).toBe(0);
    expect((await fetch(`${env.base}/healthz`)).status).toBe(200);
  });

  it('applies the sign-in rate limit per IP to callbacks', async () => {
    const env = await setup({ signInLimits: { ip: { limit: 2, windowMs: 60_000 } } });
    const browser = new Browser();
    expect((await browser.get(`${env.base}/auth/oidc/test/callback?state=a&code=b`)).status).toBe(400);
    expect((await browser.get(`${env.base}/auth/oidc/test/callback?state=a&code=b`)).status).toBe(400);
    const limited = await browser.get(`${env.base}/auth/oidc/test/callback?state=a&code=b`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('pending OIDC sign-ins', () => {
  it('are single-use, expire, and are bounded in number', () => {
    const pending = new PendingLogins<string>(1_000, 2);
    pending.add('a', 'A', 0);
    pending.add('b', 'B', 10);
    pending.add('c', 'C', 20); // evicts the oldest
    expect(pending.size).toBe(2);
    expect(pending.take('a', 30)).toBeUndefined();
    expect(pending.take('b', 30)).toBe('B');
    expect(pending.take('b', 30)).toBeUndefined();
    expect(pending.take('c', 1_020)).toBeUndefined(); // expired
    expect(pending.size).toBe(0);
  });
});

describe('OIDC config', () => {
  const base = `account: { slug: acme, name: Acme }
users: [{ email: a@acme.test, name: A }]
`;
  function problems(yaml: string): string[] {
    try {
      parseConfig(yaml, 'test.yaml');
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
    return [];
  }
  const provider = (fields: string) =>
    `${base}identity_providers:\n  - { id: sso, name: SSO, client_id: c, ${fields} }\n`;

  it('accepts the example config with its provider, without contacting the issuer', () => {
    const config = loadConfig('examples/portal/portal.example.yaml');
    expect(config.identityProviders).toHaveLength(1);
    const sso = config.identityProviders[0]!;
    expect(sso).toMatchObject({
      id: 'acme-sso',
      issuer: 'https://sso.acme.test/realms/acme',
      scopes: ['openid', 'email', 'profile'],
      emailClaim: 'email',
      requireEmailVerified: true,
      clientSecretSource: 'env:FZ_PORTAL_ACME_SSO_SECRET',
    });
    expect(JSON.stringify(config)).not.toContain('clientSecret"');
  });

  it('passes `portal check-config` on the example, which lists the redirect URI', async () => {
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['check-config', '--config', 'examples/portal/portal.example.yaml'])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    expect(stdout).toContain(': ok');
    expect(stdout).toContain(
      'identity provider "acme-sso": issuer https://sso.acme.test/realms/acme, redirect URI http://127.0.0.1:8080/auth/oidc/acme-sso/callback',
    );
  });

  it('applies defaults and validates issuers, ids, secrets, scopes and public_url', () => {
    const config = parseConfig(provider('issuer: "http://127.0.0.1:9000", client_secret: s3cr3t-value'));
    expect(config.identityProviders[0]).toMatchObject({
      scopes: ['openid', 'email', 'profile'],
      emailClaim: 'email',
      requireEmailVerified: false,
      clientSecretSource: 'inline',
    });
    expect(config.identityProviders[0]!.clientSecret()).toBe('s3cr3t-value');
    expect(config.publicUrl).toBeNull();
    expect(
      parseConfig(provider('issuer: "https://idp.example"')).identityProviders[0]!.clientSecretSource,
    ).toBe('none');
    expect(problems(provider('issuer: "http://idp.example"'))).toEqual([
      'identity_providers[0].issuer: expected an https:// URL (http:// only for 127.0.0.1, [::1] or localhost)',
    ]);
    expect(problems(provider('issuer: "https://idp.example/?x=1"'))[0]).toMatch(/no query or fragment/);
    expect(problems(provider('issuer: "not a url"'))[0]).toMatch(/absolute URL/);
    expect(
      problems(provider('issuer: "https://idp.example", client_secret: a, client_secret_env: B')),
    ).toEqual(['identity_providers[0]: give client_secret or client_secret_env, not both']);
    expect(problems(provider('issuer: "https://idp.example", scopes: [email]'))).toEqual([
      'identity_providers[0].scopes: must include "openid"',
    ]);
    expect(problems(provider('issuer: "https://idp.example", extra: 1'))[0]).toMatch(/extra/);
    const twice = `${base}identity_providers:
  - { id: sso, name: A, client_id: c, issuer: "https://a.example" }
  - { id: sso, name: B, client_id: c, issuer: "https://b.example" }
`;
    expect(problems(twice)).toEqual(['identity_providers[1]: duplicate name "sso"']);
    expect(
      problems(
        `${base}identity_providers: [{ id: "Bad/Id", name: X, client_id: c, issuer: "https://a.example" }]`,
      )[0],
    ).toMatch(/identity_providers\[0\]\.id/);
    expect(parseConfig(`${base}public_url: "https://portal.example/"`).publicUrl).toBe(
      'https://portal.example',
    );
    expect(problems(`${base}public_url: "ftp://portal.example"`)[0]).toMatch(/^public_url:/);
  });
});
