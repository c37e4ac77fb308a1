// The sign-in deep-link scheme is a build setting: `FZ_DEEP_LINK_SCHEME` picks it (default
// DEFAULT_DEEP_LINK_SCHEME), so a build can register Firezone's `firezone-fd0020211111` and sign
// in through a Firezone portal. The same value goes into main (esbuild `define`) and into the
// packages' URL-handler registration (electron-builder `protocols`), so the two cannot differ.

import { DEFAULT_DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';

export const DEEP_LINK_SCHEME_ENV = 'FZ_DEEP_LINK_SCHEME';

/** RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const MAX_LENGTH = 64;
/**
 * Schemes the OS or the app itself already owns: registering one would hand web pages, files or
 * the app's own `app://` origin to the sign-in handler.
 */
const RESERVED = new Set([
  'app',
  'about',
  'blob',
  'chrome',
  'data',
  'devtools',
  'file',
  'ftp',
  'http',
  'https',
  'javascript',
  'mailto',
  'ws',
  'wss',
]);

/** The scheme from the environment, lower-cased (schemes are case-insensitive); throws when invalid. */
export function resolveDeepLinkScheme(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const raw = env[DEEP_LINK_SCHEME_ENV]?.trim();
  if (!raw) return DEFAULT_DEEP_LINK_SCHEME;
  const scheme = raw.toLowerCase();
  if (!SCHEME.test(scheme) || scheme.length > MAX_LENGTH)
    throw new Error(
      `${DEEP_LINK_SCHEME_ENV}="${raw}" is not a URL scheme: a letter, then letters, digits, "+", "-" or "." (RFC 3986), at most ${MAX_LENGTH} characters`,
    );
  if (RESERVED.has(scheme))
    throw new Error(`${DEEP_LINK_SCHEME_ENV}="${raw}" is a scheme the system or the app already uses`);
  return scheme;
}

/** esbuild `define` for main: replaces `__FZ_DEEP_LINK_SCHEME__` in src-shared/ipc.ts. */
export function deepLinkDefine(scheme: string): Record<string, string> {
  return { __FZ_DEEP_LINK_SCHEME__: JSON.stringify(scheme) };
}

/** electron-builder `protocols`: the .desktop MimeType on Linux, the registry on Windows, Info.plist on macOS. */
export function electronBuilderProtocols(
  scheme: string,
): { name: string; role: 'Viewer'; schemes: string[] }[] {
  return [{ name: 'FZ Desktop sign-in', role: 'Viewer', schemes: [scheme] }];
}
