/**
 * Server-rendered pages of the sign-in flow. No scripts, no external assets: one inline
 * stylesheet allowed by its hash in a strict Content-Security-Policy. Every interpolated value
 * goes through `escapeHtml`.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f4f2ee}
main{width:100%;max-width:24rem;padding:2rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.25rem;margin:0 0 .25rem}p{margin:.5rem 0;color:#444}
label{display:block;margin-top:1rem;font-size:.9rem;color:#333}
input[type=email],input[type=password]{box-sizing:border-box;width:100%;padding:.6rem;margin-top:.25rem;border:1px solid #bbb;border-radius:.4rem;font-size:1rem}
button{margin-top:1.5rem;width:100%;padding:.7rem;border:0;border-radius:.4rem;background:#c2410c;color:#fff;font-size:1rem;cursor:pointer}
.error{padding:.6rem;border-radius:.4rem;background:#fee2e2;color:#991b1b}
code{display:block;word-break:break-all;padding:.6rem;background:#f1f1f1;border-radius:.4rem;font-size:.85rem}
a{color:#c2410c}
.idp{display:block;margin-top:.75rem;padding:.6rem;text-align:center;border:1px solid #c2410c;border-radius:.4rem;text-decoration:none}
.or{margin-top:1.5rem;text-align:center;font-size:.9rem}
@media (prefers-color-scheme:dark){body{background:#1c1917}main{background:#292524}p,label{color:#d6d3d1}code{background:#1c1917}}
`;

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** Response headers of every HTML page. `formAction` lists extra targets (the app's scheme). */
export function htmlHeaders(formActionExtra: readonly string[] = []): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': [
      "default-src 'none'",
      `style-src 'sha256-${STYLE_HASH}'`,
      // Chrome applies form-action to the redirects that follow a submission, which end at the
      // app's deep link.
      `form-action 'self' ${formActionExtra.join(' ')}`.trim(),
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` with the form's
    // POST, which the same-origin check must refuse. The page's URL (nonce, state) still never
    // leaves the portal's origin.
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export interface SignInForm {
  readonly accountName: string;
  readonly action: string;
  readonly as: string;
  readonly nonce: string;
  readonly state: string;
  readonly csrf: string;
  readonly email?: string;
  readonly error?: string;
  /** OIDC providers: a "Sign in with <name>" link each (plain GET navigations, no script). */
  readonly providers?: readonly { readonly name: string; readonly href: string }[];
}

export function signInPage(form: SignInForm): string {
  const hidden = (name: string, value: string): string =>
    `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  return page(
    `Sign in · ${form.accountName}`,
    `<h1>Sign in to ${escapeHtml(form.accountName)}</h1>
<p>Use your email and password to sign in to the VPN client.</p>
${form.error ? `<p class="error" role="alert">${escapeHtml(form.error)}</p>` : ''}
<form method="post" action="${escapeHtml(form.action)}" autocomplete="on">
${hidden('as', form.as)}${hidden('nonce', form.nonce)}${hidden('state', form.state)}${hidden('csrf_token', form.csrf)}
<label>Email<input type="email" name="email" required maxlength="254" autocomplete="username" value="${escapeHtml(form.email ?? '')}"></label>
<label>Password<input type="password" name="password" required maxlength="1024" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>${
      form.providers && form.providers.length > 0
        ? `\n<p class="or">or</p>\n${form.providers
            .map(
              (provider) =>
                `<a class="idp" href="${escapeHtml(provider.href)}">Sign in with ${escapeHtml(provider.name)}</a>`,
            )
            .join('\n')}`
        : ''
    }`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

/**
 * After a successful sign-in: the page stays visible while a meta refresh goes to `redirectPath`,
 * which answers with a 302 to the app's deep link (a navigation the browser hands to the app).
 * The deep link itself, which carries the token's fragment, is never part of this page.
 */
export function signedInPage(accountName: string, redirectPath: string): string {
  return page(
    'Signed in',
    `<h1>Signed in successfully</h1><p>You are signed in to ${escapeHtml(accountName)}.</p>
<p>The app opens by itself; you can then close this window. If it does not, <a href="${escapeHtml(redirectPath)}">open the app</a>.</p>`,
  ).replace('<title>', `<meta http-equiv="refresh" content="0; url=${escapeHtml(redirectPath)}"><title>`);
}

/** The body of the 302 to the deep link, for clients that do not follow it. */
export function redirectPage(accountName: string, deepLink: string): string {
  return page(
    'Signed in',
    `<h1>Signed in successfully</h1><p>You are signed in to ${escapeHtml(accountName)}.</p>
<p><a href="${escapeHtml(deepLink)}">Open the app</a> if it did not open by itself, then close this window.</p>`,
  );
}

/** Headless clients: the token is shown once, to be copied into the client's configuration. */
export function headlessTokenPage(accountName: string, actorName: string, token: string): string {
  return page(
    'Signed in',
    `<h1>Signed in as ${escapeHtml(actorName)}</h1><p>Copy this token into the headless client of ${escapeHtml(accountName)}.
It is shown only once; treat it like a password.</p><code>${escapeHtml(token)}</code>`,
  );
}
