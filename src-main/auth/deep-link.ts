// The sign-in callback deep link (docs/protocol.md §3.11):
//
//   <scheme>://handle_client_sign_in_callback?account_name=…&account_slug=…&actor_name=…
//       &fragment=<secret>&identity_provider_identifier=…&state=<64 hex>
//
// Anything on this machine can open a URL with our scheme, so every field is checked, the
// `state` must equal the one we generated (compared in constant time), and the secret parts
// (`fragment`, `state`, `nonce`) never reach a log line or an error message.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountInfo, UserError } from '../../src-shared/domain.js';
import { DEEP_LINK_SCHEME, SIGN_IN_CALLBACK_HOST } from '../../src-shared/ipc.js';
import { SecretToken } from './token-store.js';

/** A sign-in started from this app and not yet completed. Held in memory only. */
export interface SignInRequest {
  readonly state: string;
  readonly nonce: string;
  readonly accountSlug: string;
  /** The page opened in the browser. Contains `nonce` and `state`: never log it as is. */
  readonly url: string;
  readonly authHost: string;
  readonly startedAt: number;
  readonly expiresAt: number;
}

export interface SignInCallback {
  readonly kind: 'sign-in-callback';
  readonly state: string;
  /** Checked only after `state` matched (`completeSignIn`): a bad token ends *our* sign-in. */
  readonly fragment: string | null;
  readonly account: AccountInfo;
  readonly identityProviderIdentifier: string | null;
}

export type DeepLinkParse =
  { readonly ok: true; readonly link: SignInCallback } | { readonly ok: false; readonly error: UserError };

export type SignInCompletion =
  | { readonly ok: true; readonly token: SecretToken; readonly account: AccountInfo }
  | { readonly ok: false; readonly error: UserError };

/** How long the browser flow may take before its `state` is no longer accepted. */
export const SIGN_IN_TIMEOUT_MS = 10 * 60_000;
const MAX_LINK_LENGTH = 8192;
const HEX64 = /^[0-9a-f]{64}$/;
/** The portal's secret fragment: URL-safe token characters only. */
const FRAGMENT = /^[A-Za-z0-9._~+/=-]{8,4096}$/;
const SLUG = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

const err = (code: string, message: string): { ok: false; error: UserError } => ({
  ok: false,
  error: { code, message },
});

export function isValidAccountSlug(slug: string): boolean {
  return SLUG.test(slug);
}

/** Builds the sign-in page URL: `<authUrl>/<slug>?as=gui-client&nonce=<64 hex>&state=<64 hex>`. */
export function createSignInRequest(
  authUrl: string,
  accountSlug: string,
  now: number,
  random: (n: number) => Uint8Array = randomBytes,
): SignInRequest {
  if (!isValidAccountSlug(accountSlug)) {
    throw new RangeError('The account ID may only contain letters, digits, "-" and "_".');
  }
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const state = hex(random(32));
  const nonce = hex(random(32));
  const url = new URL(authUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(accountSlug)}`;
  url.search = '';
  url.hash = '';
  url.searchParams.set('as', 'gui-client');
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('state', state);
  return {
    state,
    nonce,
    accountSlug,
    url: url.toString(),
    authHost: url.host,
    startedAt: now,
    expiresAt: now + SIGN_IN_TIMEOUT_MS,
  };
}

/** Strips control characters and caps the length of a label shown in the UI. */
function label(value: string | null, max = 200): string {
  return (value ?? '')
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, max);
}

/** Finds our deep link among command-line arguments (Linux/Windows hand it to a 2nd instance). */
export function findDeepLinkArg(argv: readonly string[]): string | null {
  const prefix = `${DEEP_LINK_SCHEME}:`;
  return argv.find((a) => a.toLowerCase().startsWith(prefix)) ?? null;
}

export function parseDeepLink(raw: string): DeepLinkParse {
  if (raw.length > MAX_LINK_LENGTH) return err('deep-link-invalid', 'The sign-in link is too long.');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return err('deep-link-invalid', 'The sign-in link is not a valid URL.');
  }
  if (url.protocol !== `${DEEP_LINK_SCHEME}:`) {
    return err('deep-link-invalid', 'The link does not belong to this app.');
  }
  if (url.host !== SIGN_IN_CALLBACK_HOST || (url.pathname !== '' && url.pathname !== '/')) {
    return err('deep-link-unknown', 'The app does not know what to do with this link.');
  }
  const q = url.searchParams;
  for (const key of ['state', 'fragment', 'account_slug']) {
    if (q.getAll(key).length > 1) return err('deep-link-invalid', `The sign-in link repeats “${key}”.`);
  }
  const state = q.get('state');
  if (!state) return err('state-missing', 'The sign-in link has no state; it was not started by this app.');
  if (!HEX64.test(state))
    return err('state-mismatch', 'The sign-in link does not match the sign-in in progress.');
  const fragment = q.get('fragment');
  const accountSlug = label(q.get('account_slug'), 100);
  if (accountSlug !== '' && !isValidAccountSlug(accountSlug)) {
    return err('deep-link-invalid', 'The sign-in link names an invalid account.');
  }
  return {
    ok: true,
    link: {
      kind: 'sign-in-callback',
      state,
      fragment,
      account: {
        accountName: label(q.get('account_name')) || accountSlug,
        accountSlug,
        actorName: label(q.get('actor_name')),
      },
      identityProviderIdentifier: label(q.get('identity_provider_identifier')) || null,
    },
  };
}

function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // Lengths are public (both are 64 hex digits when well-formed); compare equal-length buffers.
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/** Checks a parsed callback against the pending request and yields the token `nonce ‖ fragment`. */
export function completeSignIn(
  request: SignInRequest | null,
  link: SignInCallback,
  now: number,
): SignInCompletion {
  if (!request) {
    return err(
      'no-sign-in-pending',
      'A sign-in link arrived, but no sign-in was started in this app. It was ignored.',
    );
  }
  if (!constantTimeEqual(request.state, link.state)) {
    return err(
      'state-mismatch',
      'A sign-in link that does not match this sign-in arrived and was ignored. Finish signing in in the browser window this app opened.',
    );
  }
  if (now > request.expiresAt) {
    return err('sign-in-expired', 'This sign-in took too long and expired. Start again.');
  }
  if (!link.fragment || !FRAGMENT.test(link.fragment)) {
    return err('token-malformed', 'The portal sent a malformed token. Try signing in again.');
  }
  const account: AccountInfo = {
    ...link.account,
    accountSlug: link.account.accountSlug || request.accountSlug,
    accountName: link.account.accountName || request.accountSlug,
  };
  return { ok: true, token: new SecretToken(request.nonce + link.fragment), account };
}

/** The link with its secrets masked, for the log. */
export function redactUrl(raw: string): string {
  return raw.replace(/([?&](?:fragment|state|nonce|token)=)[^&#\s]*/gi, '$1[redacted]').slice(0, 500);
}
