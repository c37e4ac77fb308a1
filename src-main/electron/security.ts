// Hardening that applies to every web contents: no navigation away from the app, no new windows,
// no webviews, no permissions, and our `app://` pages served with the CSP header.

import { app, protocol, session, shell, type WebContents } from 'electron';
import { promises as fsp } from 'node:fs';
import type { Logger } from '../logging/logger.js';
import {
  APP_SCHEME,
  SECURITY_HEADERS,
  isSafeExternalUrl,
  isTrustedAppUrl,
  mimeType,
  resolveAppAsset,
} from '../security/app-origin.js';

/** Must run before `app.whenReady()`. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: APP_SCHEME,
      privileges: { standard: true, secure: true, supportFetchAPI: false, codeCache: true },
    },
  ]);
}

/** Serves the renderer bundle from `root` on app://fz-desktop/, with the security headers. */
export function serveRenderer(root: string, logger: Logger): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const file = resolveAppAsset(request.url, root);
    if (!file || request.method !== 'GET') {
      logger.warn(`app:// refused ${request.method} ${request.url.slice(0, 200)}`);
      return new Response('Not found', { status: 404, headers: SECURITY_HEADERS });
    }
    try {
      const body = await fsp.readFile(file);
      return new Response(body, {
        status: 200,
        headers: { ...SECURITY_HEADERS, 'Content-Type': mimeType(file)! },
      });
    } catch {
      return new Response('Not found', { status: 404, headers: SECURITY_HEADERS });
    }
  });
}

export function hardenWebContents(contents: WebContents, logger: Logger): void {
  contents.on('will-navigate', (event) => {
    if (event.url !== contents.getURL()) {
      event.preventDefault();
      logger.warn(`navigation blocked: ${event.url.slice(0, 200)}`);
    }
  });
  contents.on('will-redirect', (event) => {
    event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    logger.warn('webview blocked');
  });
  contents.setWindowOpenHandler(({ url }) => {
    // Links in the UI open in the browser, never in a new app window.
    if (isSafeExternalUrl(url)) void shell.openExternal(url);
    else logger.warn(`window.open blocked: ${url.slice(0, 200)}`);
    return { action: 'deny' };
  });
}

export function hardenSessions(logger: Logger): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback) => {
    // Writing to the clipboard goes through main; nothing else is ever needed.
    logger.debug(`permission request denied: ${permission}`);
    callback(false);
  });
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
  ses.on('will-download', (event) => event.preventDefault());
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, logger));
}

export { isTrustedAppUrl };
