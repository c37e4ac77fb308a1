/**
 * Sign-in through OpenID Connect providers (`identity_providers` in the config), with
 * openid-client doing the protocol work.
 *
 *   GET /auth/oidc/<id>/start?as=…&nonce=…&state=…   (the "Sign in with <name>" link)
 *     → remembers the app's as/nonce/state server-side under a fresh OIDC `state`, with a PKCE
 *       verifier and an OIDC `nonce`, and redirects (302) to the provider's authorization endpoint;
 *   GET /auth/oidc/<id>/callback?code=…&state=…      (the redirect URI registered at the provider)
 *     → takes that record (single use, 10 minutes, only in the browser that started it),
 *       redeems the code, checks the ID token (signature against the issuer's JWKS, issuer,
 *       audience, expiry, nonce), maps its email claim to a configured user, and finishes exactly
 *       as a password sign-in does (the "signed in" page and the one-use deep-link redirect).
 *
 * The issuer's metadata is discovered at the first use and cached. Every failure is a page with
 * a reason and a log line; log lines never carry a code, token, verifier or client secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  allowInsecureRequests,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  calculatePKCECodeChallenge,
  ClientSecretBasic,
  ClientSecretPost,
  Configuration,
  customFetch,
  discovery,
  enableNonRepudiationChecks,
  fetchUserInfo,
  None,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  ResponseBodyError,
  WWWAuthenticateChallengeError,
  type ClientAuth,
  type CustomFetch,
  type DiscoveryRequestOptions,
} from 'openid-client';
import type { Logger } from '../src-engine/portal/log.js';
import type { ConfigUser, IdentityProviderConfig, PortalConfig } from './config.js';
import { messagePage } from './html.js';
import { RateLimiter, type RateDecision } from './rate-limit.js';
import { readCookie } from './sign-in.js';

/** How long a started OIDC sign-in may take (the user signs in at the provider meanwhile). */
export const OIDC_PENDING_LIFETIME_MS = 10 * 60 * 1000;
const MAX_PENDING = 1000;
const BROWSER_COOKIE = 'fz_oidc_browser';
const COOKIE_PATH = '/auth/oidc';
/** Seconds for each request to the provider (discovery, token, JWKS, UserInfo). */
const PROVIDER_TIMEOUT_S = 10;
const MAX_DISCOVERED = 64;
const PATH = /^\/auth\/oidc\/([a-z0-9][a-z0-9_-]{0,63})\/(start|callback)$/;

/** The app's parameters of the sign-in request (`/<slug>?as=…&nonce=…&state=…`). */
export interface AppSignInParams {
  readonly as: string;
  readonly nonce: string;
  readonly state: string;
}

/** What the OIDC flow borrows from the password sign-in (sign-in.ts). */
export interface OidcHost {
  readonly config: () => PortalConfig;
  readonly logger: Logger;
  readonly clock: () => number;
  /** The portal's external base URL without a trailing slash. */
  readonly baseUrl: () => string;
  /** Validates the app's as/nonce/state; a string is the reason they are unusable. */
  readonly parseParams: (query: URLSearchParams) => AppSignInParams | string;
  /** The sign-in rate limit per client IP; counts one attempt when allowed. */
  readonly limitIp: (ip: string, now: number) => RateDecision;
  readonly tooMany: (
    res: ServerResponse,
    config: PortalConfig,
    retryAfterMs: number,
    fields: Record<string, unknown>,
  ) => void;
  readonly send: (res: ServerResponse, status: number, html: string, config: PortalConfig) => void;
  /** Mints the token and answers as a successful password sign-in does. */
  readonly complete: (
    res: ServerResponse,
    config: PortalConfig,
    user: ConfigUser,
    params: AppSignInParams,
    via: string,
    ip: string,
  ) => void;
  /** The fetch used for every request to providers (tests). */
  readonly fetch?: CustomFetch;
}

interface PendingLogin {
  readonly providerId: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeVerifier: string;
  readonly nonce: string;
  /** SHA-256 of the browser-binding cookie. */
  readonly browser: Buffer;
  readonly params: AppSignInParams;
}

/** Single-use records that expire, at most `max` of them (the oldest go first). */
export class PendingLogins<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  add(key: string, value: T, now: number): void {
    for (const [other, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(other);
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expiresAt: now + this.lifetimeMs });
  }

  /** Removes and returns the record; undefined if unknown, already taken or expired. */
  take(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    return entry.expiresAt > now ? entry.value : undefined;
  }
}

/** Refusals that end the flow with a page: status, the page's text, and the log's reason. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly text: string,
    readonly reason: string,
    readonly fields: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

export class OidcSignIn {
  private readonly pending = new PendingLogins<PendingLogin>(OIDC_PENDING_LIFETIME_MS, MAX_PENDING);
  private readonly discovered = new Map<string, Promise<Configuration>>();
  /** Starts per client IP (each one holds a pending record): 60 per 10 minutes. */
  private readonly startLimiter = new RateLimiter({ limit: 60, windowMs: OIDC_PENDING_LIFETIME_MS });
  /** Counters for tests. */
  readonly stats = { started: 0, succeeded: 0, refused: 0 };

  constructor(private readonly host: OidcHost) {}

  /** The link of the sign-in page's "Sign in with <name>" button. */
  static startPath(providerId: string, params: AppSignInParams): string {
    const query = new URLSearchParams({ as: params.as, nonce: params.nonce, state: params.state });
    return `/auth/oidc/${providerId}/start?${query.toString()}`;
  }

  static redirectUri(baseUrl: string, providerId: string): string {
    return `${baseUrl}/auth/oidc/${providerId}/callback`;
  }

  /** Handles `/auth/oidc/…`; returns false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (!url.pathname.startsWith(`${COOKIE_PATH}/`)) return false;
    const config = this.host.config();
    const match = PATH.exec(url.pathname);
    if (!match) {
      this.host.send(res, 404, messagePage('Not found', 'There is no such sign-in page.'), config);
      return true;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    const [, providerId, step] = match as unknown as [string, string, 'start' | 'callback'];
    const ip = req.socket.remoteAddress ?? 'unknown';
    try {
      if (step === 'start') await this.start(req, res, config, providerId, url.searchParams, ip);
      else await this.callback(req, res, config, providerId, url, ip);
    } catch (error) {
      this.stats.refused += 1;
      if (!(error instanceof Refusal)) {
        this.host.logger.error('OIDC sign-in failed unexpectedly', {
          provider: providerId,
          step,
          ip,
          reason: describeError(error),
        });
        if (!res.headersSent)
          this.host.send(
            res,
            500,
            messagePage('Sign in error', 'Something went wrong. Start the sign-in from the app again.'),
            config,
          );
        return true;
      }
      this.host.logger.warn(`OIDC sign-in refused: ${error.reason}`, {
        provider: providerId,
        step,
        ip,
        ...error.fields,
      });
      if (!res.headersSent) this.host.send(res, error.status, messagePage(error.title, error.text), config);
    }
    return true;
  }

  private async start(
    req: IncomingMessage,
    res: ServerResponse,
    config: PortalConfig,
    providerId: string,
    query: URLSearchParams,
    ip: string,
  ): Promise<void> {
    const provider = this.provider(config, providerId);
    const params = this.host.parseParams(query);
    if (typeof params === 'string')
      throw new Refusal(400, 'Cannot sign in', params, 'malformed sign-in link');
    const now = this.host.clock();
    const decision = this.startLimiter.attempt(ip, now);
    if (!decision.allowed) {
      this.host.tooMany(res, config, decision.retryAfterMs, { ip, provider: providerId });
      return;
    }
    const oidc = await this.discover(provider);
    const codeVerifier = randomPKCECodeVerifier();
    const state = randomState();
    const nonce = randomNonce();
    const redirectUri = OidcSignIn.redirectUri(this.host.baseUrl(), provider.id);
    let location: URL;
    try {
      location = buildAuthorizationUrl(oidc, {
        redirect_uri: redirectUri,
        scope: provider.scopes.join(' '),
        response_type: 'code',
        state,
        nonce,
        code_challenge: await calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
    } catch (error) {
      throw unreachable(provider, 'unusable provider metadata', error);
    }
    const existing = readCookie(req, BROWSER_COOKIE);
    const browser = existing !== undefined && /^[A-Za-z0-9_-]{32}$/.test(existing) ? existing : newBinding();
    this.pending.add(
      state,
      {
        providerId: provider.id,
        issuer: provider.issuer,
        clientId: provider.clientId,
        redirectUri,
        codeVerifier,
        nonce,
        browser: sha256(browser),
        params,
      },
      now,
    );
    this.stats.started += 1;
    this.host.logger.info('OIDC sign-in started', { provider: provider.id, as: params.as, ip });
    const secure = redirectUri.startsWith('https:') ? '; Secure' : '';
    res.writeHead(302, {
      Location: location.href,
      'Set-Cookie': `${BROWSER_COOKIE}=${browser}; Path=${COOKIE_PATH}; Max-Age=${OIDC_PENDING_LIFETIME_MS / 1000}; HttpOnly; SameSite=Lax${secure}`,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end('Continue at the identity provider.\n');
  }

  private async callback(
    req: IncomingMessage,
    res: ServerResponse,
    config: PortalConfig,
    providerId: string,
    url: URL,
    ip: string,
  ): Promise<void> {
    const now = this.host.clock();
    // The sign-in limit per IP, as for password attempts: a callback is one attempt.
    const decision = this.host.limitIp(ip, now);
    if (!decision.allowed) {
      this.host.tooMany(res, config, decision.retryAfterMs, { ip, provider: providerId });
      return;
    }
    const state = url.searchParams.get('state') ?? '';
    const pending = state.length > 0 && state.length <= 256 ? this.pending.take(state, now) : undefined;
    if (!pending) {
      throw new Refusal(
        400,
        'Sign in error',
        'This sign-in has expired or was already used. Start the sign-in from the app again.',
        'unknown, used or expired state',
      );
    }
    if (pending.providerId !== providerId) {
      throw new Refusal(
        400,
        'Sign in error',
        'Start the sign-in from the app again.',
        'state of another provider',
      );
    }
    const cookie = readCookie(req, BROWSER_COOKIE);
    if (cookie === undefined || !timingSafeEqual(sha256(cookie), pending.browser)) {
      throw new Refusal(
        400,
        'Sign in error',
        'This sign-in was started in another browser. Start the sign-in from the app again.',
        'browser binding cookie missing or different',
      );
    }
    const provider = this.provider(config, providerId);
    if (provider.issuer !== pending.issuer || provider.clientId !== pending.clientId) {
      throw new Refusal(
        400,
        'Sign in error',
        'The sign-in settings changed meanwhile. Start the sign-in from the app again.',
        'provider configuration changed during the sign-in',
      );
    }
    const error = url.searchParams.get('error');
    if (error !== null) {
      const code = /^[\x20-\x7e]{1,64}$/.test(error) && !/["\\]/.test(error) ? error : 'unknown';
      throw new Refusal(
        401,
        'Not signed in',
        `${provider.name} did not sign you in (${code}).`,
        'the provider returned an error',
        { error: code },
      );
    }
    const oidc = await this.discover(provider);
    const current = new URL(pending.redirectUri);
    current.search = url.search;
    let tokens: Awaited<ReturnType<typeof authorizationCodeGrant>>;
    try {
      tokens = await authorizationCodeGrant(oidc, current, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (cause) {
      if (isNetworkError(cause)) throw unreachable(provider, 'token request failed', cause);
      const refused = cause instanceof ResponseBodyError || cause instanceof WWWAuthenticateChallengeError;
      throw new Refusal(
        401,
        'Not signed in',
        refused
          ? `${provider.name} did not accept the sign-in. Start the sign-in from the app again.`
          : `The answer of ${provider.name} could not be verified. Start the sign-in from the app again.`,
        refused ? 'the provider refused the code' : 'the token response or ID token was rejected',
        { detail: describeError(cause) },
      );
    }
    const idToken = tokens.claims();
    if (idToken === undefined) {
      throw new Refusal(401, 'Not signed in', `${provider.name} sent no ID token.`, 'no ID token');
    }
    let claims: Record<string, unknown> = idToken;
    // Claims asked for by scope may come from the UserInfo endpoint only (OIDC Core §5.4).
    if (
      idToken[provider.emailClaim] === undefined &&
      tokens.access_token &&
      oidc.serverMetadata().userinfo_endpoint !== undefined
    ) {
      try {
        claims = await fetchUserInfo(oidc, tokens.access_token, idToken.sub);
      } catch (cause) {
        throw isNetworkError(cause)
          ? unreachable(provider, 'UserInfo request failed', cause)
          : new Refusal(
              401,
              'Not signed in',
              `The answer of ${provider.name} could not be verified.`,
              'the UserInfo response was rejected',
              { detail: describeError(cause) },
            );
      }
    }
    const claimed = claims[provider.emailClaim];
    if (typeof claimed !== 'string' || claimed.length > 254 || !claimed.includes('@')) {
      throw new Refusal(
        403,
        'Not authorised',
        `${provider.name} did not share an email address, so the portal cannot tell who you are.`,
        'no email claim',
        { claim: provider.emailClaim },
      );
    }
    const email = claimed.trim().toLowerCase();
    if (provider.requireEmailVerified && claims.email_verified !== true && claims.email_verified !== 'true') {
      throw new Refusal(
        403,
        'Not authorised',
        `Your email address at ${provider.name} is not verified.`,
        'email not verified',
        { email },
      );
    }
    const user = config.users.find((candidate) => candidate.email === email);
    if (!user) {
      throw new Refusal(
        403,
        'Not authorised',
        `${email} is not allowed to sign in to ${config.catalog.account.name}. Ask an administrator to add you.`,
        'no such user in the config',
        { email },
      );
    }
    this.stats.succeeded += 1;
    this.host.complete(res, config, user, pending.params, `oidc:${provider.id}`, ip);
  }

  private provider(config: PortalConfig, providerId: string): IdentityProviderConfig {
    const provider = config.identityProviders.find((candidate) => candidate.id === providerId);
    if (!provider) {
      throw new Refusal(404, 'Cannot sign in', 'This sign-in method is not configured.', 'unknown provider');
    }
    return provider;
  }

  /** The provider's metadata and client, discovered once per issuer, client and secret. */
  private discover(provider: IdentityProviderConfig): Promise<Configuration> {
    const secret = provider.clientSecret();
    if (secret === undefined && provider.clientSecretSource !== 'none') {
      return Promise.reject(
        new Refusal(
          500,
          'Cannot sign in',
          `Sign-in through ${provider.name} is not set up completely. Tell an administrator.`,
          'the client secret is not available',
          { missing: provider.clientSecretSource },
        ),
      );
    }
    const key = [
      provider.issuer,
      provider.clientId,
      secret === undefined ? '' : sha256(secret).toString('hex'),
    ].join('\n');
    let entry = this.discovered.get(key);
    if (entry === undefined) {
      if (this.discovered.size >= MAX_DISCOVERED) this.discovered.clear();
      const created = this.discoverNow(provider, secret).catch((cause: unknown) => {
        if (this.discovered.get(key) === created) this.discovered.delete(key); // retry next time
        throw unreachable(provider, 'discovery failed', cause);
      });
      entry = created;
      this.discovered.set(key, entry);
    }
    return entry;
  }

  private async discoverNow(
    provider: IdentityProviderConfig,
    secret: string | undefined,
  ): Promise<Configuration> {
    // Configuration validation allows http:// only for loopback issuers.
    const insecure = new URL(provider.issuer).protocol === 'http:';
    const options: DiscoveryRequestOptions = {
      timeout: PROVIDER_TIMEOUT_S,
      ...(insecure ? { execute: [allowInsecureRequests] } : {}),
    };
    if (this.host.fetch) options[customFetch] = this.host.fetch;
    const found = await discovery(new URL(provider.issuer), provider.clientId, undefined, None(), options);
    const server = found.serverMetadata();
    const methods = server.token_endpoint_auth_methods_supported;
    // client_secret_basic is the default method (OIDC Core §9); post if the provider says only that.
    let auth: ClientAuth = None();
    if (secret !== undefined) {
      auth =
        methods !== undefined &&
        !methods.includes('client_secret_basic') &&
        methods.includes('client_secret_post')
          ? ClientSecretPost(secret)
          : ClientSecretBasic(secret);
    }
    const oidc = new Configuration(server, provider.clientId, undefined, auth);
    oidc.timeout = PROVIDER_TIMEOUT_S;
    if (this.host.fetch) oidc[customFetch] = this.host.fetch;
    if (insecure) allowInsecureRequests(oidc);
    // Check the ID token's signature against the issuer's JWKS (openid-client skips it by default
    // for tokens fetched over TLS from the token endpoint).
    enableNonRepudiationChecks(oidc);
    this.host.logger.info('OIDC provider discovered', { provider: provider.id, issuer: provider.issuer });
    return oidc;
  }
}

function unreachable(provider: IdentityProviderConfig, reason: string, cause: unknown): Refusal {
  if (cause instanceof Refusal) return cause;
  return new Refusal(
    502,
    'Identity provider unavailable',
    `${provider.name} cannot be reached or answered unexpectedly. Try again later.`,
    reason,
    { issuer: provider.issuer, detail: describeError(cause) },
  );
}

function isNetworkError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'TimeoutError' ||
      error.name === 'AbortError' ||
      (error instanceof TypeError && /fetch failed|network/i.test(error.message)))
  );
}

/**
 * A short description of an error for the log: name, code and messages only. Error objects of
 * openid-client carry response bodies and claims in their `cause`; those are left out.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const parts = [error.name];
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') parts.push(code);
  const oauthError = (error as { error?: unknown }).error;
  if (typeof oauthError === 'string') parts.push(`error=${oauthError.slice(0, 64)}`);
  if (error instanceof WWWAuthenticateChallengeError) {
    for (const challenge of error.cause.slice(0, 2)) {
      const challenged = challenge.parameters.error;
      if (typeof challenged === 'string') parts.push(`${challenge.scheme} error=${challenged.slice(0, 64)}`);
    }
  }
  parts.push(error.message.slice(0, 200));
  if (error.cause instanceof Error && error.cause.message !== error.message)
    parts.push(error.cause.message.slice(0, 200));
  return parts.join(': ');
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function newBinding(): string {
  return randomBytes(24).toString('base64url');
}
