/**
 * Browser sign-in (docs/protocol.md §3.11). The app opens
 * `GET /<account_slug>?as=gui-client&nonce=<hex>&state=<hex>`; the user signs in with email and
 * password; the portal stores a token and answers with a "signed in" page whose meta refresh
 * goes to `/<account_slug>/sign_in/client_redirect`, which redirects (302) to the app's deep link
 * `<handler>handle_client_sign_in_callback?account_name&account_slug&actor_name&fragment&identity_provider_identifier&state`.
 * The app's token is `nonce ‖ fragment`. `as=headless-client` shows the token on a page instead.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SIGN_IN_CALLBACK_HOST } from '../src-engine/portal/constants.js';
import type { Logger } from '../src-engine/portal/log.js';
import type { ConfigUser, PortalConfig } from './config.js';
import { CSRF_COOKIE, CSRF_FIELD, CSRF_LIFETIME_MS, CsrfTokens } from './csrf.js';
import {
  headlessTokenPage,
  htmlHeaders,
  messagePage,
  redirectPage,
  signedInPage,
  signInPage,
} from './html.js';
import { OidcSignIn, type AppSignInParams } from './oidc.js';
import { dummyHash, verifyPassword } from './passwords.js';
import { Backoff, RateLimiter, type BackoffOptions } from './rate-limit.js';
import type { PortalStore } from './store.js';
import { NONCE_PATTERN } from './tokens.js';

export const CLIENT_KINDS = ['gui-client', 'client', 'headless-client'] as const;
type ClientKind = (typeof CLIENT_KINDS)[number];

const STATE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const REDIRECT_COOKIE = 'fz_client_auth';
const REDIRECT_LIFETIME_MS = 5 * 60 * 1000;
const MAX_BODY_BYTES = 8 * 1024;
const MAX_PENDING_REDIRECTS = 1000;

export interface SignInOptions {
  readonly config: () => PortalConfig;
  readonly store: PortalStore;
  readonly logger: Logger;
  /** Attempts per client IP per window, over all accounts (default 20 per 5 minutes). */
  readonly ipLimit?: { readonly limit: number; readonly windowMs: number };
  /**
   * Failed attempts per (client IP, email) per window (default 5 per 15 minutes): a hard limit,
   * counted before the password check. Keyed with the IP so an attacker cannot lock a user out.
   */
  readonly emailLimit?: { readonly limit: number; readonly windowMs: number };
  /**
   * Per-email delay over all IPs: after `freeFailures` (default 5) failures within `windowMs`
   * (15 minutes) each attempt waits `baseDelayMs` (250) doubling per failure up to `maxDelayMs`
   * (5000) before its password check. It slows guessing from many addresses, never refuses.
   */
  readonly accountBackoff?: Partial<BackoffOptions>;
  readonly clock?: () => number;
  /** The portal's external base URL, for OIDC redirect URIs (default http://127.0.0.1:8080). */
  readonly baseUrl?: () => string;
}

interface PendingRedirect {
  readonly deepLink: string;
  readonly accountName: string;
  readonly expiresAt: number;
}

interface SignInParams {
  readonly as: ClientKind;
  readonly nonce: string;
  readonly state: string;
}

export class SignInHandler {
  private readonly csrf = new CsrfTokens();
  private readonly ipLimiter: RateLimiter;
  private readonly emailLimiter: RateLimiter;
  private readonly accountBackoff: Backoff;
  private readonly redirects = new Map<string, PendingRedirect>();
  private readonly clock: () => number;
  private dummy: Promise<string> | undefined;
  /** Sign-in through the config's OIDC providers (oidc.ts). */
  readonly oidc: OidcSignIn;
  /** Counters for /healthz and tests. */
  readonly stats = { pages: 0, successes: 0, failures: 0, rateLimited: 0, delayed: 0, csrfRejected: 0 };

  constructor(private readonly options: SignInOptions) {
    this.ipLimiter = new RateLimiter(options.ipLimit ?? { limit: 20, windowMs: 5 * 60 * 1000 });
    this.emailLimiter = new RateLimiter(options.emailLimit ?? { limit: 5, windowMs: 15 * 60 * 1000 });
    this.accountBackoff = new Backoff({
      freeFailures: 5,
      baseDelayMs: 250,
      maxDelayMs: 5_000,
      windowMs: 15 * 60 * 1000,
      ...options.accountBackoff,
    });
    this.clock = options.clock ?? Date.now;
    this.oidc = new OidcSignIn({
      config: options.config,
      logger: options.logger,
      clock: this.clock,
      baseUrl: options.baseUrl ?? (() => 'http://127.0.0.1:8080'),
      parseParams: (query) => this.params(options.config(), query),
      limitIp: (ip, now) => this.ipLimiter.attempt(ip, now),
      tooMany: (res, config, retryAfterMs, fields) => this.tooMany(res, config, retryAfterMs, fields),
      send: (res, status, html, config) => this.send(res, status, html, config),
      complete: (res, config, user, params, via, ip) => this.complete(res, config, user, params, via, ip),
    });
  }

  /** Handles the request if it belongs to the sign-in flow; returns false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (await this.oidc.handle(req, res, url)) return true;
    const config = this.options.config();
    const slug = config.catalog.account.slug;
    const base = `/${slug}`;
    if (url.pathname === base || url.pathname === `${base}/`) {
      if (!allowMethod(req, res, ['GET', 'HEAD'])) return true;
      this.showForm(res, config, url.searchParams, undefined, undefined, 200);
      return true;
    }
    if (url.pathname === `${base}/sign_in`) {
      if (!allowMethod(req, res, ['POST'])) return true;
      await this.submit(req, res, config);
      return true;
    }
    if (url.pathname === `${base}/sign_in/client_redirect`) {
      if (!allowMethod(req, res, ['GET'])) return true;
      this.clientRedirect(req, res, config);
      return true;
    }
    return false;
  }

  private params(config: PortalConfig, query: URLSearchParams): SignInParams | string {
    const as = query.get('as');
    if (as === null) return 'This page signs in VPN clients. Start the sign-in from the app.';
    if (!(CLIENT_KINDS as readonly string[]).includes(as)) return `Unknown client kind "${as}".`;
    const kind = as as ClientKind;
    const nonce = query.get('nonce') ?? '';
    const state = query.get('state') ?? '';
    if (kind !== 'headless-client') {
      if (!NONCE_PATTERN.test(nonce))
        return 'The sign-in link is missing a valid nonce. Start the sign-in from the app again.';
      if (!STATE_PATTERN.test(state))
        return 'The sign-in link is missing a valid state. Start the sign-in from the app again.';
    } else if ((nonce !== '' && !NONCE_PATTERN.test(nonce)) || (state !== '' && !STATE_PATTERN.test(state))) {
      return 'The sign-in link is malformed.';
    }
    void config;
    return { as: kind, nonce, state };
  }

  private showForm(
    res: ServerResponse,
    config: PortalConfig,
    query: URLSearchParams,
    error: string | undefined,
    email: string | undefined,
    status: number,
  ): void {
    const params = this.params(config, query);
    if (typeof params === 'string') {
      this.send(res, 400, messagePage('Cannot sign in', params), config);
      return;
    }
    this.stats.pages += 1;
    const csrf = this.csrf.issue(this.clock());
    const slug = config.catalog.account.slug;
    res.setHeader('Set-Cookie', cookie(CSRF_COOKIE, csrf, `/${slug}`, CSRF_LIFETIME_MS / 1000, 'Strict'));
    this.send(
      res,
      status,
      signInPage({
        accountName: config.catalog.account.name,
        action: `/${slug}/sign_in`,
        as: params.as,
        nonce: params.nonce,
        state: params.state,
        csrf,
        ...(email !== undefined ? { email } : {}),
        ...(error !== undefined ? { error } : {}),
        providers: config.identityProviders.map((provider) => ({
          name: provider.name,
          href: OidcSignIn.startPath(provider.id, params),
        })),
      }),
      config,
    );
  }

  private async submit(req: IncomingMessage, res: ServerResponse, config: PortalConfig): Promise<void> {
    const now = this.clock();
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (!sameOrigin(req)) {
      this.stats.csrfRejected += 1;
      this.send(res, 403, messagePage('Cannot sign in', 'The form was submitted from another site.'), config);
      return;
    }
    const ipDecision = this.ipLimiter.attempt(ip, now);
    if (!ipDecision.allowed) {
      this.tooMany(res, config, ipDecision.retryAfterMs, { ip });
      return;
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/x-www-form-urlencoded') {
      this.send(res, 415, messagePage('Cannot sign in', 'Unsupported form encoding.'), config);
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) {
      this.send(res, 413, messagePage('Cannot sign in', 'The form is too large.'), config);
      return;
    }
    const form = new URLSearchParams(body);
    if (!this.csrf.verify(form.get(CSRF_FIELD) ?? undefined, readCookie(req, CSRF_COOKIE), now)) {
      this.stats.csrfRejected += 1;
      this.options.logger.warn('sign-in form rejected: missing or invalid CSRF token', { ip });
      this.showForm(res, config, form, 'The form expired. Please try again.', undefined, 403);
      return;
    }
    const params = this.params(config, form);
    if (typeof params === 'string') {
      this.send(res, 400, messagePage('Cannot sign in', params), config);
      return;
    }
    const email = (form.get('email') ?? '').trim().toLowerCase().slice(0, 254);
    const password = form.get('password') ?? '';
    // The attempt is counted now, synchronously, before the slow asynchronous scrypt check:
    // concurrent guesses cannot all pass a check that only a finished failure would update.
    const attemptKey = `${ip} ${email}`;
    const attemptAt = this.clock();
    const emailDecision = this.emailLimiter.attempt(attemptKey, attemptAt);
    if (!emailDecision.allowed) {
      this.tooMany(res, config, emailDecision.retryAfterMs, { ip, email });
      return;
    }
    // The account's brake over all addresses: a bounded delay, never a refusal (also for
    // unknown emails, so that the delay tells nothing about which accounts exist).
    const delay = this.accountBackoff.reserve(email, attemptAt);
    if (delay > 0) {
      this.stats.delayed += 1;
      await new Promise((resolveDelay) => setTimeout(resolveDelay, delay));
    }
    const user = config.users.find((candidate) => candidate.email === email);
    const ok = await this.checkPassword(user, password);
    if (!ok || !user) {
      // Both reservations stay counted as failures.
      this.stats.failures += 1;
      this.options.logger.warn('sign-in failed', { ip, email, ...(delay > 0 ? { delayed_ms: delay } : {}) });
      this.showForm(res, config, form, 'Invalid email or password.', email, 401);
      return;
    }
    this.emailLimiter.reset(attemptKey);
    this.accountBackoff.refund(email);
    this.complete(res, config, user, params, 'password', ip);
  }

  /**
   * The end of every successful sign-in (password or OIDC): mints the token, then the headless
   * token page, or the "signed in" page leading to the one-use deep-link redirect.
   */
  private complete(
    res: ServerResponse,
    config: PortalConfig,
    user: ConfigUser,
    params: AppSignInParams,
    via: string,
    ip: string,
  ): void {
    const now = this.clock();
    this.stats.successes += 1;
    const minted = this.options.store.createClientToken(
      user.id,
      params.as === 'headless-client' ? '' : params.nonce,
      config.clientTokenTtlSeconds,
      via === 'password' ? `sign-in:${params.as}` : `sign-in:${params.as}:${via}`,
      now,
    );
    this.options.logger.info('client signed in', {
      email: user.email,
      as: params.as,
      via,
      token_id: minted.id,
      ip,
    });
    if (params.as === 'headless-client') {
      this.send(res, 200, headlessTokenPage(config.catalog.account.name, user.name, minted.token), config);
      return;
    }
    const deepLink = buildDeepLink(config, user, minted.fragment, params.state);
    const id = randomBytes(24).toString('base64url');
    this.prune(now);
    this.redirects.set(id, {
      deepLink,
      accountName: config.catalog.account.name,
      expiresAt: now + REDIRECT_LIFETIME_MS,
    });
    const slug = config.catalog.account.slug;
    res.setHeader('Set-Cookie', [
      cookie(REDIRECT_COOKIE, id, `/${slug}/sign_in`, REDIRECT_LIFETIME_MS / 1000, 'Lax'),
      cookie(CSRF_COOKIE, '', `/${slug}`, 0, 'Strict'),
    ]);
    // As the real portal: a page that stays visible, whose meta refresh goes to client_redirect.
    this.send(
      res,
      200,
      signedInPage(config.catalog.account.name, `/${slug}/sign_in/client_redirect`),
      config,
    );
  }

  private clientRedirect(req: IncomingMessage, res: ServerResponse, config: PortalConfig): void {
    const id = readCookie(req, REDIRECT_COOKIE);
    const pending = id === undefined ? undefined : this.redirects.get(id);
    if (id !== undefined) this.redirects.delete(id); // one use only
    const slug = config.catalog.account.slug;
    res.setHeader('Set-Cookie', cookie(REDIRECT_COOKIE, '', `/${slug}/sign_in`, 0, 'Lax'));
    if (!pending || pending.expiresAt <= this.clock()) {
      this.send(
        res,
        400,
        messagePage('Sign in error', 'Please close this window and start the sign in process again.'),
        config,
      );
      return;
    }
    res.writeHead(302, { ...htmlHeaders(this.formTargets(config)), Location: pending.deepLink });
    res.end(redirectPage(pending.accountName, pending.deepLink));
  }

  private async checkPassword(user: ConfigUser | undefined, password: string): Promise<boolean> {
    if (user?.passwordHash) {
      try {
        return await verifyPassword(password, user.passwordHash);
      } catch (error) {
        this.options.logger.error('stored password hash is unusable', { email: user.email, error });
        return false;
      }
    }
    // Unknown user or no password: spend the same time so the answer reveals nothing.
    this.dummy ??= dummyHash();
    await verifyPassword(password, await this.dummy).catch(() => false);
    return false;
  }

  private tooMany(
    res: ServerResponse,
    config: PortalConfig,
    retryAfterMs: number,
    fields: Record<string, unknown>,
  ): void {
    this.stats.rateLimited += 1;
    this.options.logger.warn('sign-in rate limited', fields);
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    this.send(
      res,
      429,
      messagePage('Too many attempts', 'Too many sign-in attempts. Please wait and try again.'),
      config,
    );
  }

  private send(res: ServerResponse, status: number, html: string, config: PortalConfig): void {
    res.writeHead(status, htmlHeaders(this.formTargets(config)));
    res.end(html);
  }

  private formTargets(config: PortalConfig): string[] {
    return [config.clientHandler.replace(/\/\/$/, '')];
  }

  private prune(now: number): void {
    for (const [id, pending] of this.redirects) if (pending.expiresAt <= now) this.redirects.delete(id);
    while (this.redirects.size >= MAX_PENDING_REDIRECTS) {
      const oldest = this.redirects.keys().next().value;
      if (oldest === undefined) break;
      this.redirects.delete(oldest);
    }
  }
}

/** The deep link of §3.11, query keys in the order the real portal sends them. */
export function buildDeepLink(
  config: PortalConfig,
  user: ConfigUser,
  fragment: string,
  state: string,
): string {
  const query = new URLSearchParams([
    ['account_name', config.catalog.account.name],
    ['account_slug', config.catalog.account.slug],
    ['actor_name', user.name],
    ['fragment', fragment],
    ['identity_provider_identifier', user.email],
    ['state', state],
  ]);
  return `${config.clientHandler}${SIGN_IN_CALLBACK_HOST}?${query.toString()}`;
}

function allowMethod(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): boolean {
  if (methods.includes(req.method ?? '')) return true;
  res.writeHead(405, { Allow: methods.join(', '), 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('method not allowed\n');
  return false;
}

/** A cross-site POST carries a foreign Origin; browsers always send Origin on POST. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return origin === undefined;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function cookie(
  name: string,
  value: string,
  path: string,
  maxAgeSeconds: number,
  sameSite: 'Strict' | 'Lax',
): string {
  return `${name}=${value}; Path=${path}; Max-Age=${Math.floor(maxAgeSeconds)}; HttpOnly; SameSite=${sameSite}`;
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
