// The page's security headers: the app's own (SECURITY_HEADERS), with a CSP that differs from the
// app's in one place only: the page may open a WebSocket to the bridge's own origin(s) — nothing
// else. index.html carries the CSP in a meta tag as well, so that tag is rewritten to match
// (two policies are both enforced; the app's `connect-src 'none'` would block the socket).

import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from '../security/app-origin.js';
import { CLIENT_SCRIPT_PATH } from './wire.js';

/** `http://127.0.0.1:1234` → `ws://127.0.0.1:1234` (https → wss). */
export function webSocketOrigin(httpOrigin: string): string {
  const u = new URL(httpOrigin);
  return `${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}`;
}

export function bridgeCsp(pageOrigins: readonly string[]): string {
  const connect = [...new Set(pageOrigins.map(webSocketOrigin))].join(' ');
  const csp = CONTENT_SECURITY_POLICY.replace("connect-src 'none'", `connect-src ${connect}`);
  if (csp === CONTENT_SECURITY_POLICY) throw new Error("the app's CSP no longer has connect-src 'none'");
  return csp;
}

export function bridgeHeaders(csp: string): Record<string, string> {
  return { ...SECURITY_HEADERS, 'Content-Security-Policy': csp, 'Cache-Control': 'no-store' };
}

const META_CSP = /(<meta\s+http-equiv="Content-Security-Policy"\s+content=")[^"]*(")/i;

/**
 * The built index.html with the bridge's CSP in its meta tag and the bridge client loaded before
 * the app's module (a classic script in <head> runs first, so `window.fz` exists when the app starts).
 */
export function rewriteIndexHtml(html: string, csp: string): string {
  if (!META_CSP.test(html)) throw new Error('index.html has no CSP meta tag');
  const withCsp = html.replace(META_CSP, (_m, a: string, b: string) => `${a}${csp}${b}`);
  const tag = `<script src=".${CLIENT_SCRIPT_PATH}"></script>`;
  if (!withCsp.includes('</head>')) throw new Error('index.html has no </head>');
  return withCsp.replace('</head>', `  ${tag}\n  </head>`);
}
