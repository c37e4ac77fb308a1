/**
 * Abuse limits of the dev portal: sign-in guessing (counted before the scrypt check, keyed so
 * that an attacker elsewhere cannot lock a user out), WebSocket upgrade limits that one client
 * behind a shared address cannot exhaust for the others, the device cap per user and per site,
 * and the modes of the SQLite files. No log line may contain a token or password.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { memoryLogger } from './log.js';
import { Backoff, RateLimiter } from './rate-limit.js';
import { DeviceLimitError, PortalStore } from './store.js';
import {
  CLIENT_UA,
  configYaml,
  GATEWAY_TOKEN,
  GATEWAY_UA,
  newPublicKey,
  PASSWORD,
  removeDir,
  startPortal,
  tempDir,
  type TestPortal,
} from './test-support.js';

/** Counts the scrypt verifications that actually ran. */
const scrypt = vi.hoisted(() => ({ calls: 0 }));
vi.mock('./passwords.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./passwords.js')>();
  return {
    ...actual,
    verifyPassword: (password: string, stored: string) => {
      scrypt.calls += 1;
      return actual.verifyPassword(password, stored);
    },
  };
});

const secrets = new Set<string>([GATEWAY_TOKEN, PASSWORD]);
const allLogs: string[][] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  scrypt.calls = 0;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  const text = allLogs.map((lines) => lines.join('')).join('');
  expect(text.length).toBeGreaterThan(0);
  for (const secret of secrets) expect(text.includes(secret), 'a log line contains a secret').toBe(false);
});

async function portalFor(
  options: Parameters<typeof startPortal>[1] = {},
  config?: string,
): Promise<TestPortal> {
  const dir = tempDir();
  const started = await startPortal(dir, { config: config ?? (await configYaml()), ...options });
  allLogs.push(started.logs);
  cleanups.push(() => removeDir(dir));
  cleanups.push(() => started.portal.stop());
  return started;
}

function mint(portal: TestPortal, email: string): string {
  const { token } = portal.portal.mintClientToken(email);
  secrets.add(token);
  return token;
}

/** A well-formed client token that the portal never issued. */
function bogusToken(): string {
  const token = `.${randomBytes(12).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  secrets.add(token);
  return token;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A POST from a chosen loopback source address (the portal sees it as the client IP). */
function post(url: string, from: string, headers: Record<string, string>, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress: from,
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface SignInForm {
  readonly cookie: string;
  readonly fields: Record<string, string>;
}

async function signInForm(base: string): Promise<SignInForm> {
  const nonce = randomBytes(32).toString('hex');
  const state = randomBytes(16).toString('hex');
  const page = await fetch(`${base}/acme?as=gui-client&nonce=${nonce}&state=${state}`);
  const html = await page.text();
  const csrf = /name="csrf_token" value="([^"]*)"/.exec(html)![1]!;
  const cookie = page.headers
    .getSetCookie()
    .map((entry) => entry.split(';')[0]!)
    .join('; ');
  return { cookie, fields: { as: 'gui-client', nonce, state, csrf_token: csrf } };
}

function submit(base: string, form: SignInForm, from: string, email: string, password: string) {
  return post(
    `${base}/acme/sign_in`,
    from,
    { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: form.cookie, Origin: base },
    new URLSearchParams({ ...form.fields, email, password }).toString(),
  );
}

interface Upgrade {
  readonly status: number;
  readonly body: string;
  readonly retryAfter: string | undefined;
  readonly ws: WebSocket | undefined;
}

/** One WebSocket upgrade from a chosen source address; 101 leaves the socket open in `ws`. */
function upgrade(
  portal: TestPortal,
  role: 'client' | 'gateway',
  token: string | undefined,
  options: { from?: string; externalId?: string } = {},
): Promise<Upgrade> {
  const query = new URLSearchParams({
    external_id: options.externalId ?? `dev-${randomBytes(4).toString('hex')}`,
    public_key: newPublicKey(),
  });
  const url = `${portal.portal.url.replace('http', 'ws')}/${role}/v2/websocket?${query.toString()}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      localAddress: options.from ?? '127.0.0.1',
      headers: {
        'User-Agent': role === 'client' ? CLIENT_UA : GATEWAY_UA,
        ...(token !== undefined ? { 'X-Authorization': `Bearer ${token}` } : {}),
      },
    });
    ws.on('open', () => {
      cleanups.push(() => ws.terminate());
      resolve({ status: 101, body: '', retryAfter: undefined, ws });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          retryAfter: res.headers['retry-after'] as string | undefined,
          ws: undefined,
        }),
      );
    });
    ws.on('error', () => {});
  });
}

/** Opens a socket, joins the channel and returns the tunnel addresses of `init`. */
async function joinedInterface(upgraded: Upgrade, topic: 'client' | 'gateway'): Promise<unknown> {
  const ws = upgraded.ws!;
  const init = new Promise<unknown>((resolve) => {
    ws.on('message', (data: WebSocket.RawData) => {
      const frame = JSON.parse(data.toString()) as { event: string; payload: { interface?: unknown } };
      if (frame.event === 'init') resolve(frame.payload.interface);
    });
  });
  ws.send(JSON.stringify({ topic, event: 'phx_join', payload: {}, ref: 1, join_ref: 1 }));
  return init;
}

function closeSocket(ws: WebSocket | undefined): Promise<void> {
  if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((done) => {
    ws.once('close', () => done());
    ws.close();
  });
}

describe('sign-in limits', () => {
  it('counts an attempt before its scrypt check: concurrent guesses get no more checks than the limit', async () => {
    const portal = await portalFor({
      signInLimits: { ip: { limit: 1_000, windowMs: 60_000 }, email: { limit: 3, windowMs: 60_000 } },
    });
    const base = portal.portal.url;
    const form = await signInForm(base);
    scrypt.calls = 0;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => submit(base, form, '127.0.0.1', 'alice@acme.test', `guess ${i}`)),
    );
    expect(scrypt.calls).toBeLessThanOrEqual(3);
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(scrypt.calls);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20 - scrypt.calls);
    for (const answer of answers.filter((a) => a.status === 429))
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('does not let an attacker at one address lock a user out from another', async () => {
    const portal = await portalFor({
      signInLimits: { account: { freeFailures: 3, baseDelayMs: 20, maxDelayMs: 200 } },
    });
    const base = portal.portal.url;
    const form = await signInForm(base);
    const attack = await Promise.all(
      Array.from({ length: 15 }, (_, i) => submit(base, form, '127.0.0.2', 'alice@acme.test', `guess ${i}`)),
    );
    expect(attack.filter((answer) => answer.status === 401).length).toBeLessThanOrEqual(5);
    expect(attack.filter((answer) => answer.status === 429).length).toBeGreaterThanOrEqual(10);
    // The attacker's address stays blocked for this account, even with the right password…
    expect((await submit(base, form, '127.0.0.2', 'alice@acme.test', PASSWORD)).status).toBe(429);
    // …but Alice, elsewhere, signs in (after at most the account's bounded delay).
    const started = Date.now();
    const alice = await submit(base, form, '127.0.0.1', 'alice@acme.test', PASSWORD);
    expect(alice.status).toBe(200);
    expect(alice.body).toContain('client_redirect');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('slows guessing of one account from many addresses down, with a bounded delay', async () => {
    const portal = await portalFor({
      signInLimits: { account: { freeFailures: 3, baseDelayMs: 25, maxDelayMs: 200 } },
    });
    const base = portal.portal.url;
    const form = await signInForm(base);
    for (let host = 2; host <= 5; host += 1) {
      for (let i = 0; i < 5; i += 1) {
        const answer = await submit(base, form, `127.0.0.${host}`, 'bob@acme.test', `guess ${i}`);
        expect(answer.status).toBe(401);
      }
    }
    const started = Date.now();
    const guess = await submit(base, form, '127.0.0.6', 'bob@acme.test', 'one more guess');
    expect(guess.status).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190); // the delay grew to its cap
    const bobStarted = Date.now();
    const bob = await submit(base, form, '127.0.0.1', 'bob@acme.test', PASSWORD);
    expect(bob.status).toBe(200);
    expect(Date.now() - bobStarted).toBeLessThan(2_000);
    // Another account is not slowed down.
    const delayed = () => (portal.portal.health().sign_in as { delayed: number }).delayed;
    const before = delayed();
    expect((await submit(base, form, '127.0.0.7', 'alice@acme.test', PASSWORD)).status).toBe(200);
    expect(delayed()).toBe(before);
  });
});

describe('WebSocket upgrade limits', () => {
  it('lets many users behind one address connect while one of them fails again and again', async () => {
    const portal = await portalFor();
    const bad = bogusToken();
    const refused: Upgrade[] = [];
    for (let i = 0; i < 40; i += 1) refused.push(await upgrade(portal, 'client', bad));
    const unauthorized = refused.filter((answer) => answer.status === 401).length;
    // Failures cost more than successes: the failing token is cut off well before 30 attempts.
    expect(unauthorized).toBeGreaterThan(0);
    expect(unauthorized).toBeLessThanOrEqual(12);
    const limited = refused.filter((answer) => answer.status === 503);
    expect(limited).toHaveLength(40 - unauthorized);
    expect(limited[0]!.body).toContain('"code":"rate_limit"');
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThan(0);
    // A guesser with ever new tokens at the same address.
    for (let i = 0; i < 40; i += 1) await upgrade(portal, 'client', bogusToken());
    // Everyone else behind the address connects, and reconnects often without being limited.
    const users = [
      mint(portal, 'alice@acme.test'),
      mint(portal, 'alice@acme.test'),
      mint(portal, 'bob@acme.test'),
    ];
    for (const token of users) {
      for (let i = 0; i < 15; i += 1) {
        const answer = await upgrade(portal, 'client', token, { externalId: 'laptop' });
        expect(answer.status).toBe(101);
        await closeSocket(answer.ws);
      }
    }
    expect((await upgrade(portal, 'gateway', GATEWAY_TOKEN)).status).toBe(101);
  });

  it('stops a token guesser at the per-address ceiling but not users who authenticated recently', async () => {
    const portal = await portalFor({ upgradeLimits: { perIp: { limit: 100, windowMs: 60_000 } } });
    const alice = mint(portal, 'alice@acme.test');
    const bob = mint(portal, 'bob@acme.test');
    const first = await upgrade(portal, 'client', alice, { externalId: 'laptop' });
    expect(first.status).toBe(101);
    await closeSocket(first.ws);
    const guesses: number[] = [];
    for (let i = 0; i < 20; i += 1) guesses.push((await upgrade(portal, 'client', bogusToken())).status);
    expect(guesses.filter((status) => status === 401).length).toBeLessThanOrEqual(10);
    expect(guesses.slice(-5)).toEqual([503, 503, 503, 503, 503]);
    // Alice's token authenticated before: she reconnects from the same address.
    expect((await upgrade(portal, 'client', alice, { externalId: 'laptop' })).status).toBe(101);
    // Bob, new at this address, waits out the window there; from another address he connects.
    expect((await upgrade(portal, 'client', bob)).status).toBe(503);
    expect((await upgrade(portal, 'client', bob, { from: '127.0.0.2' })).status).toBe(101);
  });
});

describe('device limits', () => {
  it('caps the devices of a user at 50, reusing a device (and its addresses) by external_id', async () => {
    const portal = await portalFor();
    const alice = mint(portal, 'alice@acme.test');
    const firstOpen = await upgrade(portal, 'client', alice, { externalId: 'device-0' });
    const firstInterface = await joinedInterface(firstOpen, 'client');
    await closeSocket(firstOpen.ws);
    for (let i = 1; i < 50; i += 1) {
      const answer = await upgrade(portal, 'client', alice, { externalId: `device-${i}` });
      expect(answer.status).toBe(101);
      await closeSocket(answer.ws);
    }
    const over = await upgrade(portal, 'client', alice, { externalId: 'device-50' });
    expect(over.status).toBe(402);
    expect(JSON.parse(over.body)).toMatchObject({ status: 402, code: 'limits_exceeded' });
    // A known device still connects, with the same addresses.
    const again = await upgrade(portal, 'client', alice, { externalId: 'device-0' });
    expect(again.status).toBe(101);
    expect(await joinedInterface(again, 'client')).toEqual(firstInterface);
    // Another user is not affected.
    expect((await upgrade(portal, 'client', mint(portal, 'bob@acme.test'))).status).toBe(101);
    expect(portal.logs.some((line) => line.includes('device limit'))).toBe(true);
  });

  it('caps gateways per site as configured in the config file', async () => {
    const config = `${await configYaml()}limits:\n  devices_per_user: 10\n  gateways_per_site: 2\n`;
    const portal = await portalFor({}, config);
    expect(portal.portal.currentConfig.limits).toEqual({ devicesPerUser: 10, gatewaysPerSite: 2 });
    for (const id of ['gw-1', 'gw-2']) {
      expect((await upgrade(portal, 'gateway', GATEWAY_TOKEN, { externalId: id })).status).toBe(101);
    }
    const third = await upgrade(portal, 'gateway', GATEWAY_TOKEN, { externalId: 'gw-3' });
    expect(third.status).toBe(402);
    expect(third.body).toContain('"code":"limits_exceeded"');
  });

  it('refuses a new external_id beyond the cap in the store, in one transaction', () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const store = new PortalStore(join(dir, 'portal.sqlite3'));
    cleanups.push(() => store.close());
    const input = {
      kind: 'gateway' as const,
      ownerId: 'site-1',
      name: 'g',
      publicKey: 'k',
      userAgent: 'ua',
      newId: () => crypto.randomUUID(),
      maxDevices: 2,
    };
    const first = store.upsertDevice({ ...input, externalId: 'a' });
    store.upsertDevice({ ...input, externalId: 'b' });
    expect(() => store.upsertDevice({ ...input, externalId: 'c' })).toThrow(DeviceLimitError);
    expect(store.upsertDevice({ ...input, externalId: 'a' })).toMatchObject({
      id: first.id,
      ipv4: first.ipv4,
      ipv6: first.ipv6,
    });
    expect(store.upsertDevice({ ...input, ownerId: 'site-2', externalId: 'c' }).ownerId).toBe('site-2');
    expect(store.countDevices('gateway', 'site-1')).toBe(2);
  });
});

describe('database file modes', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('creates the folder 0700 and the database 0600', () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = join(dir, 'data', 'portal.sqlite3');
    const store = new PortalStore(file);
    store.createClientToken('actor', '', 60, 'test');
    expect(mode(join(dir, 'data'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    for (const extra of [`${file}-wal`, `${file}-shm`])
      if (existsSync(extra)) expect(mode(extra)).toBe(0o600);
    store.close();
  });

  it('tightens an existing folder and database that are readable by others, with a warning', () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o755 });
    const file = join(data, 'portal.sqlite3');
    new PortalStore(file, { logger: memoryLogger().logger }).close();
    chmodSync(data, 0o755);
    chmodSync(file, 0o644);
    writeFileSync(`${file}-wal`, '');
    chmodSync(`${file}-wal`, 0o666);
    const { logger, lines } = memoryLogger('debug');
    const store = new PortalStore(file, { logger });
    cleanups.push(() => store.close());
    expect(mode(data)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-wal`)).toBe(0o600);
    const warnings = lines.filter((line) => line.includes('"level":"warn"'));
    expect(warnings.some((line) => line.includes('portal.sqlite3') && line.includes('0644'))).toBe(true);
    expect(warnings.some((line) => line.includes('0755'))).toBe(true);
  });
});

describe('limiter building blocks', () => {
  it('RateLimiter charges costs and refunds', () => {
    const limiter = new RateLimiter({ limit: 10, windowMs: 1_000 });
    expect(limiter.attempt('k', 0, 5).allowed).toBe(true);
    expect(limiter.attempt('k', 1, 5).allowed).toBe(true);
    expect(limiter.check('k', 2).allowed).toBe(false);
    limiter.refund('k', 5);
    expect(limiter.check('k', 2, 5).allowed).toBe(true);
    expect(limiter.check('k', 2, 6).allowed).toBe(false);
  });

  it('Backoff grows exponentially after the free failures, is capped, and decays', () => {
    const backoff = new Backoff({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 500, windowMs: 10_000 });
    const delays = Array.from({ length: 7 }, (_, i) => backoff.reserve('alice', i));
    expect(delays).toEqual([0, 0, 100, 200, 400, 500, 500]);
    backoff.refund('alice');
    expect(backoff.reserve('alice', 10)).toBe(500);
    expect(backoff.reserve('bob', 10)).toBe(0);
    expect(backoff.reserve('alice', 10 + 10_000)).toBe(0); // quiet for a window: forgotten
  });
});
