// The bridge's HTTP side: the renderer's files (with the page's security headers, nothing outside
// the build directory) and the OS stand-in `POST /os/open-url`, which hands a URL with our scheme
// to main as the OS does with Electron's `open-url` / `second-instance`.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '../logging/logger.js';
import { APP_ORIGIN, mimeType, resolveAppAsset } from '../security/app-origin.js';
import { bearerToken, secretMatches } from './secret.js';
import { CLIENT_SCRIPT_PATH, OPEN_URL_PATH } from './wire.js';

/** A deep link is at most 8 KiB (the deep-link parser refuses longer ones too). */
export const MAX_OPEN_URL_BYTES = 8 * 1024;

export interface HttpHandlerOptions {
  readonly rendererDir: string;
  readonly clientScriptFile: string;
  /** index.html as served: the bridge's CSP and its client script tag already in. */
  readonly indexHtml: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly secret: string;
  readonly openUrl: (url: string) => void;
  readonly logger: Logger;
}

function reply(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body = '',
): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}

/** Reads at most `limit` bytes of the body; null when it is longer. */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createHttpHandler(o: HttpHandlerOptions): RequestListener {
  const { headers, logger } = o;

  const openUrl = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Browsers send an Origin with every POST they make: a page (ours included) may not pose as
    // the OS. curl and the tests send none.
    if (req.headers.origin !== undefined) {
      logger.warn(
        `bridge: ${OPEN_URL_PATH} refused: sent by a web page (${req.headers.origin.slice(0, 100)})`,
      );
      reply(res, 403, headers, 'Only the OS (or a person with curl) may open links in the app.\n');
      req.resume();
      return;
    }
    if (!secretMatches(o.secret, bearerToken(req.headers.authorization))) {
      logger.warn(`bridge: ${OPEN_URL_PATH} refused: missing or wrong secret`);
      reply(res, 401, { ...headers, 'WWW-Authenticate': 'Bearer' }, 'The bridge secret is required.\n');
      req.resume();
      return;
    }
    const body = await readBody(req, MAX_OPEN_URL_BYTES);
    if (body === null) {
      reply(res, 413, headers, `The URL is longer than ${MAX_OPEN_URL_BYTES} bytes.\n`);
      return;
    }
    const url = body.trim();
    if (!url) {
      reply(res, 400, headers, 'Send the URL as the request body.\n');
      return;
    }
    // Like the OS: the link is handed over and the app answers in its window, not to the sender.
    o.openUrl(url);
    reply(res, 202, headers, 'handed to the app\n');
  };

  const sendFile = async (res: ServerResponse, file: string, head: boolean): Promise<void> => {
    const type = mimeType(file);
    const info = await stat(file).catch(() => null);
    if (!type || !info?.isFile()) {
      reply(res, 404, headers, 'Not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': String(info.size) });
    if (head) res.end();
    else
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://bridge.invalid').pathname;
    } catch {
      reply(res, 400, headers, 'Bad request\n');
      return;
    }
    if (pathname === OPEN_URL_PATH) {
      if (req.method === 'POST') return openUrl(req, res);
      reply(res, 405, { ...headers, Allow: 'POST' }, 'Method not allowed\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, { ...headers, Allow: 'GET, HEAD' }, 'Method not allowed\n');
      return;
    }
    const head = req.method === 'HEAD';
    if (pathname === '/' || pathname === '/index.html') {
      const body = Buffer.from(o.indexHtml, 'utf8');
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': String(body.length),
      });
      res.end(head ? undefined : body);
      return;
    }
    if (pathname === CLIENT_SCRIPT_PATH) return sendFile(res, o.clientScriptFile, head);
    // The app's own resolver: no `..`, no encoded separators, known file types only.
    const file = resolveAppAsset(`${APP_ORIGIN}${pathname}`, o.rendererDir);
    if (!file) {
      reply(res, 404, headers, 'Not found\n');
      return;
    }
    return sendFile(res, file, head);
  };

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.warn(`bridge: ${req.method} failed: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) reply(res, 500, headers, 'Internal error\n');
      else res.destroy();
    });
  };
}
