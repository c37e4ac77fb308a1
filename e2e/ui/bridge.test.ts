// The development bridge end to end: the built renderer in Debian's Chromium, `window.fz` over the
// bridge's WebSocket to main's real core with the simulated engine. Sign in through the browser
// flow (the portal's page stubbed), the redirect handed over `POST /os/open-url` as the OS would,
// the resources appear, Disconnect/Connect change the status, a reload keeps working (the secret
// is in sessionStorage), and a page without the secret gets nothing. Screenshots: bridge-*.png.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { startBridge, type Bridge } from '../../src-main/bridge/bridge.js';
import { FakeEngineHost } from '../../src-main/engine/fake-engine-host.js';
import { RENDERER_DIR, SCREENSHOT_DIR, launchChromium } from './harness.js';

let browser: Browser;
let bridge: Bridge;
let dir: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fz-bridge-ui-'));
  [browser, bridge] = await Promise.all([
    launchChromium(),
    startBridge({
      engine: new FakeEngineHost({
        timings: { startMs: 30, portalMs: 80, tunnelMs: 60, flowMs: 60, tickMs: 250, retryMs: 300 },
      }),
      rendererDir: RENDERER_DIR,
      managedConfigFile: path.join(dir, 'no-managed-config.json'),
      optimisticTimeoutMs: 1500,
    }),
  ]);
});
afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser?.close();
  await bridge?.close();
  await rm(dir, { recursive: true, force: true });
});

async function newPage(errors: string[]): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1180, height: 760 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  contexts.push(context);
  // The portal's sign-in page, as far as this test needs it (there is no portal here).
  await context.route('https://app.fzdesktop.dev/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Portal sign-in (stand-in)</h1>' }),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return page;
}

const heading = (page: Page, name: string) => page.getByRole('heading', { name, exact: true });
const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOT_DIR, `bridge-${name}.png`), animations: 'disabled' });

function callbackFor(opened: string): string {
  const q = new URLSearchParams({
    account_name: 'Acme Inc',
    account_slug: 'acme',
    actor_name: 'Jane Doe',
    fragment: 'SFMyNTY.g2gDbQAAACQ-bridge-ui-fragment',
    identity_provider_identifier: 'idp',
    state: new URL(opened).searchParams.get('state')!,
  });
  return `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?${q}`;
}

/** What the OS does with our scheme: hands the link to the app (here: the bridge's endpoint). */
async function osOpenUrl(url: string): Promise<number> {
  const res = await fetch(`${bridge.origin}/os/open-url`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bridge.secret}`, 'Content-Type': 'text/plain' },
    body: url,
  });
  return res.status;
}

describe('the development bridge in a browser', () => {
  it('signs in, shows the resources, disconnects and connects, survives a reload', async () => {
    const errors: string[] = [];
    const page = await newPage(errors);
    await page.goto(bridge.url);
    await heading(page, 'Sign in to FZ Desktop').waitFor();
    // The secret left the address bar (it stays in this tab's sessionStorage).
    expect(page.url()).toBe(`${bridge.origin}/`);
    expect(bridge.sockets.pageCount).toBe(1);
    await shot(page, '01-signed-out');

    await page.getByLabel('Account ID').fill('acme');
    const popup = page.waitForEvent('popup');
    await page.getByRole('button', { name: 'Sign in with your browser' }).click();
    await heading(page, 'Continue in your browser').waitFor();
    // openExternal reached the page, which opened the portal's page in a new tab.
    const portal = await popup;
    const opened = bridge.platform.lastOpened!;
    expect(opened).toMatch(/^https:\/\/app\.fzdesktop\.dev\/acme\?as=gui-client&nonce=[0-9a-f]{64}&state=/);
    await portal.waitForLoadState();
    expect(portal.url()).toBe(opened);
    await portal.close();
    await shot(page, '02-signing-in');

    expect(await osOpenUrl(callbackFor(opened))).toBe(202);
    await heading(page, 'Connected').waitFor();
    await expect.poll(() => page.locator('.resource-row').count()).toBe(50);
    await page.getByText('Jane Doe').waitFor();
    expect(await page.content()).not.toContain('bridge-ui-fragment');
    await shot(page, '03-connected');

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await heading(page, 'Disconnected').waitFor();
    expect(bridge.controller.snapshot().tunnel.state).toBe('disconnected');
    await shot(page, '04-disconnected');
    await page.locator('.tunnel-card').getByRole('button', { name: 'Connect' }).click();
    await heading(page, 'Connected').waitFor();
    expect(bridge.controller.snapshot().tunnel.state).toBe('connected');

    // A reload has no fragment any more: the client takes the secret from sessionStorage.
    await page.reload();
    await heading(page, 'Connected').waitFor();
    await expect.poll(() => page.locator('.resource-row').count()).toBe(50);
    await expect.poll(() => bridge.sockets.pageCount).toBe(1);
    expect(errors).toEqual([]);
  });

  it('a page without the secret is refused and shows no data', async () => {
    const refusedBefore = bridge.sockets.refusals.length;
    const errors: string[] = [];
    const page = await newPage(errors);
    await page.goto(`${bridge.origin}/`);
    await heading(page, 'FZ Desktop could not load').waitFor();
    await page.getByText('did not accept this page').waitFor();
    expect(await page.locator('.resource-row').count()).toBe(0);
    expect(await page.content()).not.toContain('Jane Doe');
    expect(bridge.sockets.refusals.slice(refusedBefore)).toEqual(['secret']);
    await shot(page, '05-no-secret');
    // The only complaint is the browser's about the refused socket.
    expect(errors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([]);

    // A wrong secret fares no better.
    const guess = await newPage([]);
    await guess.goto(`${bridge.origin}/#secret=${'A'.repeat(43)}`);
    await heading(guess, 'FZ Desktop could not load').waitFor();
    expect(await guess.locator('.resource-row').count()).toBe(0);
    expect(bridge.sockets.refusals.slice(refusedBefore)).toEqual(['secret', 'secret']);
  });
});
