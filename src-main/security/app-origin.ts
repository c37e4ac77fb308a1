// The renderer is served from our own privileged scheme (`app://fz-desktop/…`) rather than
// file://, so it gets a real origin, a CSP header on every response and no access to the rest of
// the disk. These helpers are pure so they are unit-tested without Electron.

import path from 'node:path';

export const APP_SCHEME = 'app';
export const APP_HOST = 'fz-desktop';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * No inline script or style, nothing remote: the renderer only loads its own bundle. The same
 * policy is in `src-renderer/index.html` (a test checks they match), so Chromium in the UI tests
 * enforces exactly what Electron does.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "object-src 'none'",
  "worker-src 'none'",
  "manifest-src 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=()',
};

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

export function mimeType(file: string): string | null {
  return MIME[path.extname(file).toLowerCase()] ?? null;
}

/**
 * Maps an `app://fz-desktop/<path>` URL to a file under `root`, or null when it points
 * anywhere else (other host, `..`, encoded separators, unknown file types).
 */
export function resolveAppAsset(rawUrl: string, root: string): string | null {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.includes('\\') || rel.split('/').includes('..')) return null;
  if (rel === '/' || rel === '') rel = '/index.html';
  const resolved = path.resolve(root, `.${path.posix.normalize(rel)}`);
  const base = path.resolve(root);
  if (resolved !== base && !resolved.startsWith(base + path.sep)) return null;
  return mimeType(resolved) ? resolved : null;
}

/** Only our own pages may use the IPC API. */
export function isTrustedAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** The browser may only be sent to web pages (sign-in, docs), never to file:, javascript:… */
export function isSafeExternalUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}
