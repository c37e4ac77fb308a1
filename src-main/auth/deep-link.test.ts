import { describe, expect, it } from 'vitest';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import {
  SIGN_IN_TIMEOUT_MS,
  completeSignIn,
  createSignInRequest,
  findDeepLinkArg,
  parseDeepLink,
  redactUrl,
  type SignInRequest,
} from './deep-link.js';
import { SecretToken } from './token-store.js';

const fixedRandom = (seed: number) => (n: number) => new Uint8Array(n).fill(seed);
const STATE = 'ab'.repeat(32);
const NONCE = 'cd'.repeat(32);
const FRAGMENT = 'SFMyNTY.g2gDbQAAACQ-secret_fragment';

function request(now = 1_000): SignInRequest {
  return createSignInRequest('https://app.example.com/', 'acme', now, (n) =>
    // first call: state, second: nonce
    fixedRandom(request.calls++ === 0 ? 0xab : 0xcd)(n),
  );
}
request.calls = 0;

function link(params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?${q}`;
}

const good = {
  account_name: 'Acme Inc',
  account_slug: 'acme',
  actor_name: 'Jane Doe',
  fragment: FRAGMENT,
  identity_provider_identifier: 'idp-1',
  state: STATE,
};

describe('createSignInRequest', () => {
  it('builds <auth>/<slug>?as=gui-client&nonce&state with 32 random bytes each', () => {
    request.calls = 0;
    const r = request(5_000);
    expect(r.url).toBe(`https://app.example.com/acme?as=gui-client&nonce=${NONCE}&state=${STATE}`);
    expect(r.state).toBe(STATE);
    expect(r.nonce).toBe(NONCE);
    expect(r.authHost).toBe('app.example.com');
    expect(r.expiresAt - r.startedAt).toBe(SIGN_IN_TIMEOUT_MS);
  });

  it('keeps a base path and drops query and fragment of the base URL', () => {
    const r = createSignInRequest('http://localhost:4000/auth/?x=1#y', 'dev_1', 0);
    expect(r.url).toMatch(
      /^http:\/\/localhost:4000\/auth\/dev_1\?as=gui-client&nonce=[0-9a-f]{64}&state=[0-9a-f]{64}$/,
    );
  });

  it('uses fresh randomness every time', () => {
    const a = createSignInRequest('https://a.example', 'x', 0);
    const b = createSignInRequest('https://a.example', 'x', 0);
    expect(a.state).not.toBe(b.state);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('refuses account ids that would change the path', () => {
    for (const slug of ['', '../admin', 'a/b', 'a?b', ' acme', 'ä']) {
      expect(() => createSignInRequest('https://a.example', slug, 0)).toThrow(RangeError);
    }
  });
});

describe('parseDeepLink', () => {
  it('parses the portal callback', () => {
    const r = parseDeepLink(link(good));
    expect(r).toEqual({
      ok: true,
      link: {
        kind: 'sign-in-callback',
        state: STATE,
        fragment: FRAGMENT,
        account: { accountName: 'Acme Inc', accountSlug: 'acme', actorName: 'Jane Doe' },
        identityProviderIdentifier: 'idp-1',
      },
    });
  });

  it('accepts the trailing slash Windows adds', () => {
    const raw = link(good).replace('callback?', 'callback/?');
    expect(parseDeepLink(raw).ok).toBe(true);
  });

  it.each([
    ['not a URL', 'deep-link-invalid'],
    ['https://evil.example/handle_client_sign_in_callback?state=x', 'deep-link-invalid'],
    [`${DEEP_LINK_SCHEME}://other_action?state=${STATE}`, 'deep-link-unknown'],
    [`${DEEP_LINK_SCHEME}://handle_client_sign_in_callback/extra?state=${STATE}`, 'deep-link-unknown'],
    [link({ ...good, state: '' }), 'state-missing'],
    [link({ account_slug: 'acme', fragment: FRAGMENT }), 'state-missing'],
    [link({ ...good, state: 'AB'.repeat(32) }), 'state-mismatch'],
    [link({ ...good, state: 'ab' }), 'state-mismatch'],
    [`${link(good)}&state=${STATE}`, 'deep-link-invalid'],
    [link({ ...good, account_slug: '../x' }), 'deep-link-invalid'],
    [
      `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?state=${STATE}&x=${'a'.repeat(9000)}`,
      'deep-link-invalid',
    ],
  ])('rejects %s', (raw, code) => {
    const r = parseDeepLink(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(code);
  });

  it('strips control characters from labels shown in the UI', () => {
    const r = parseDeepLink(link({ ...good, actor_name: 'Jane\u0000\u001b[31m Doe', account_name: '' }));
    expect(r.ok && r.link.account).toEqual({
      accountName: 'acme',
      accountSlug: 'acme',
      actorName: 'Jane[31m Doe',
    });
  });

  it('never puts the secret parts into an error message', () => {
    for (const raw of [link({ ...good, state: 'zz' }), link({ ...good, account_slug: '../x' })]) {
      const r = parseDeepLink(raw);
      expect(JSON.stringify(r)).not.toContain(FRAGMENT);
    }
  });
});

describe('completeSignIn', () => {
  const parsed = () => {
    const r = parseDeepLink(link(good));
    if (!r.ok) throw new Error('fixture');
    return r.link;
  };

  it('yields token = nonce ‖ fragment when state matches', () => {
    request.calls = 0;
    const r = completeSignIn(request(), parsed(), 2_000);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.token).toBeInstanceOf(SecretToken);
      expect(r.token.reveal()).toBe(NONCE + FRAGMENT);
      expect(r.account).toEqual({ accountName: 'Acme Inc', accountSlug: 'acme', actorName: 'Jane Doe' });
    }
  });

  it('rejects a link when no sign-in is pending', () => {
    const r = completeSignIn(null, parsed(), 0);
    expect(!r.ok && r.error.code).toBe('no-sign-in-pending');
  });

  it('rejects a different state (constant-time compare)', () => {
    request.calls = 0;
    const other = { ...parsed(), state: 'ef'.repeat(32) };
    const r = completeSignIn(request(), other, 2_000);
    expect(!r.ok && r.error.code).toBe('state-mismatch');
  });

  it('rejects an expired request', () => {
    request.calls = 0;
    const r = completeSignIn(request(0), parsed(), SIGN_IN_TIMEOUT_MS + 1);
    expect(!r.ok && r.error.code).toBe('sign-in-expired');
  });

  it.each([[''], ['short'], ['has space in it'], ['<script>alert(1)</script>'], ['x'.repeat(5000)]])(
    'rejects malformed token fragment %#',
    (fragment) => {
      request.calls = 0;
      const r = completeSignIn(request(), { ...parsed(), fragment: fragment || null }, 2_000);
      expect(!r.ok && r.error.code).toBe('token-malformed');
    },
  );

  it('a secret token does not print', () => {
    const t = new SecretToken('super-secret-token-value');
    expect(String(t)).toBe('[redacted]');
    expect(`${t}`).toBe('[redacted]');
    expect(JSON.stringify({ t })).toBe('{"t":"[redacted]"}');
  });
});

describe('helpers', () => {
  it('finds our link among argv (second instance on Linux/Windows)', () => {
    expect(findDeepLinkArg(['/opt/app', '--hidden', link(good)])).toBe(link(good));
    expect(findDeepLinkArg(['/opt/app', 'https://example.com'])).toBeNull();
  });

  it('redacts secrets from links for the log', () => {
    const out = redactUrl(`${link(good)}&nonce=${NONCE}`);
    expect(out).not.toContain(FRAGMENT);
    expect(out).not.toContain(STATE);
    expect(out).not.toContain(NONCE);
    expect(out).toContain('account_slug=acme');
  });
});
