// The UI test harness: the renderer built by Vite, served over HTTP with the app's security
// headers, in Debian's Chromium; `window.fz` generated from the IPC schema (mock-preload.ts)
// and wired to main's real core (createTestApp: router, validation, controller, settings, logs)
// with the fake engine at its edge.

import { build as esbuild } from 'esbuild';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { SECURITY_HEADERS, mimeType } from '../../src-main/security/app-origin.js';
import { createTestApp, type TestApp, type TestAppOptions } from '../../src-main/testing/test-app.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(REPO, 'e2e', 'artifacts');
export const SCREENSHOT_DIR = path.join(ARTIFACTS, 'ui');
export const RENDERER_DIR = path.join(ARTIFACTS, 'renderer-build');
export const MOCK_PRELOAD = path.join(ARTIFACTS, 'mock-preload.js');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Builds the renderer and the mock preload once per run (vitest globalSetup). */
export async function buildUiAssets(): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // vitest sets NODE_ENV=test, which would make Vite bundle React's development build: test
  // what ships.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await viteBuild({
      configFile: path.join(REPO, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'warn',
      build: { outDir: RENDERER_DIR, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  await esbuild({
    entryPoints: [path.join(REPO, 'e2e/ui/mock-preload.ts')],
    outfile: MOCK_PRELOAD,
    bundle: true,
    format: 'iife',
    target: 'chrome130',
    logLevel: 'warning',
  });
}

/** Serves the built renderer with the same headers the app's `app://` handler sends. */
export async function serveRenderer(root = RENDERER_DIR): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.resolve(root, `.${rel === '/' ? '/index.html' : path.posix.normalize(rel)}`);
    const type = mimeType(file);
    if (!file.startsWith(root + path.sep) || !type) {
      res.writeHead(404, SECURITY_HEADERS).end();
      return;
    }
    stat(file).then(
      () => {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store' });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404, SECURITY_HEADERS).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

export interface SessionOptions extends Omit<TestAppOptions, 'push' | 'trustedOrigin'> {
  readonly colorScheme?: 'light' | 'dark';
  readonly viewport?: { width: number; height: number };
  /** Skip `controller.init()` before the page loads. */
  readonly deferInit?: boolean;
}

/** One app instance (main core + fake engine) and one Chromium page showing its window. */
export class UiSession {
  readonly errors: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #frozen: (() => void)[] | null = null;
  #closed = false;

  private constructor(
    readonly app: TestApp,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly baseUrl: string,
  ) {}

  static async open(browser: Browser, baseUrl: string, o: SessionOptions = {}): Promise<UiSession> {
    const context = await browser.newContext({
      viewport: o.viewport ?? { width: 1180, height: 760 },
      colorScheme: o.colorScheme ?? 'light',
      reducedMotion: 'reduce',
      deviceScaleFactor: 1,
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    // A failing wait should fail the test quickly, not at the test timeout.
    page.setDefaultTimeout(8000);
    let session: UiSession | null = null;
    const app = await createTestApp({
      timings: { startMs: 30, portalMs: 80, tunnelMs: 60, flowMs: 60, tickMs: 250, retryMs: 300 },
      optimisticTimeoutMs: 1500,
      ...o,
      trustedOrigin: baseUrl,
      push: (channel, payload) => session?.push(channel, payload),
    });
    session = new UiSession(app, context, page, baseUrl);
    const s = session;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') s.errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => s.errors.push(`pageerror: ${e.message}`));
    await page.exposeBinding('__fzInvoke', async (source, channel: string, arg: unknown) => {
      await s.#gate();
      return s.app.call(channel, arg, { url: source.frame.url() });
    });
    await page.exposeBinding('__fzSend', async (source, channel: string, arg: unknown) => {
      await s.#gate();
      await s.app.call(channel, arg, { url: source.frame.url() });
    });
    await page.addInitScript({ path: MOCK_PRELOAD });
    if (!o.deferInit) await app.controller.init();
    await page.goto(`${baseUrl}/index.html`);
    await page.locator('.shell').waitFor();
    return session;
  }

  /** Main's push to the window, in order. */
  push(channel: string, payload: unknown): void {
    if (this.#closed) return;
    const deliver = () =>
      this.page
        .evaluate(
          ([c, p]) =>
            (globalThis as unknown as { __fzPush?: (c: string, p: unknown) => void }).__fzPush?.(c, p),
          [channel, payload] as const,
        )
        .catch(() => {});
    this.#queue = this.#queue.then(async () => {
      await this.#gate();
      await deliver();
    });
  }

  /** Simulates a busy or hung main process: calls and pushes wait until `thaw()`. */
  freezeMain(): void {
    this.#frozen ??= [];
  }

  thaw(): void {
    const waiting = this.#frozen ?? [];
    this.#frozen = null;
    for (const w of waiting) w();
  }

  #gate(): Promise<void> {
    const frozen = this.#frozen;
    return frozen ? new Promise((resolve) => frozen.push(resolve)) : Promise.resolve();
  }

  /** Waits until every push sent so far has reached the page. */
  async settled(): Promise<void> {
    let last: Promise<unknown> | null = null;
    while (last !== this.#queue) {
      last = this.#queue;
      await last;
    }
  }

  async screenshot(name: string): Promise<string> {
    await this.settled();
    // No hover effects in the pictures.
    await this.page.mouse.move(0, 0);
    const file = path.join(SCREENSHOT_DIR, `${name}.png`);
    await this.page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
    return file;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.thaw();
    await this.context.close();
    await this.app.dispose();
  }
}
