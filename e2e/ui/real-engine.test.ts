/**
 * The app against the real engine, in a browser: the whole system in network namespaces
 * (e2e/app-system/app-system.ts) with the app on the client host — main's logic and the real
 * client engine run by the development bridge — and Debian's Chromium there as the user's browser.
 * Sign in through the dev portal's real page, the resource list arrives, Connect, curl reaches a
 * CIDR and a DNS resource and the UI shows their diagnostics, Disconnect, the resource is
 * unreachable again. Screenshots of each step go to e2e/artifacts/ui/real-*.png.
 *
 * Needs root (namespaces, a TUN); without it the test fails with the reason rather than skipping.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppSystem } from '../app-system/app-system.js';
import { RESOURCE_IP } from '../system/connectivity/system.js';
import { SCREENSHOT_DIR } from './harness.js';

let sys: AppSystem;
let context: BrowserContext;
let page: Page;

const shot = async (p: Page, name: string): Promise<void> => {
  await p.screenshot({ path: path.join(SCREENSHOT_DIR, `real-${name}.png`) });
};
const row = (name: string) => page.locator('.resource-row', { hasText: name });

describe('the app with the real engine', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test builds network namespaces: run it as root');
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    sys = await AppSystem.start({ base: 'fzui', clientNat: 'cone', siteNat: 'cone' });
    const browser = await sys.launchBrowser();
    context = await browser.newContext({ viewport: { width: 1180, height: 760 }, reducedMotion: 'reduce' });
    page = await context.newPage();
    await page.goto(sys.appUrl);
  }, 180_000);

  afterAll(async () => {
    await sys?.destroy();
  }, 60_000);

  it('signs in through the portal page, connects, reaches resources, disconnects', async () => {
    try {
      await scenario();
    } catch (error) {
      process.stderr.write(
        `--- logs ---\n${sys.topo.logs(6000)}\n--- app ---\n${sys.bridge.output.slice(-8000)}\n`,
      );
      await shot(page, 'failure').catch(() => undefined);
      throw error;
    }
  }, 240_000);
});

async function scenario(): Promise<void> {
  await page.getByRole('button', { name: 'Sign in with your browser' }).waitFor();
  await shot(page, '01-signed-out');

  const before = sys.bridge.output.length;
  await page.getByRole('button', { name: 'Sign in with your browser' }).click();
  const signInUrl = await sys.waitForExternalUrl(before);
  expect(new URL(signInUrl).pathname).toBe('/acme');
  const portalPage = await sys.signInThroughPortal(context, signInUrl, (p) => shot(p, '02-portal-sign-in'));
  await portalPage.close();

  // Signed in, the app connects at once (as after every sign-in): the portal's resources arrive
  // over the engine's real session.
  await page.getByText('Alice').first().waitFor({ timeout: 20_000 });
  await page.getByRole('heading', { name: 'Connected', exact: true }).waitFor({ timeout: 60_000 });
  await row('Resources A').waitFor({ timeout: 20_000 });
  await row('Wiki').waitFor();
  // Only what the policies grant: Forbidden has no policy for Alice's group.
  expect(await row('Forbidden').count()).toBe(0);
  await shot(page, '03-connected-resources');

  // A CIDR resource: the first packet asks the portal, ICE and WireGuard set up the path.
  const cidr = await sys.curl(`http://${RESOURCE_IP}/`, 20);
  expect(cidr.ok, cidr.body).toBe(true);
  await row('Resources A')
    .getByText(/Connected · (direct|relayed)/)
    .waitFor({ timeout: 10_000 });
  // A DNS resource by name: the client answers with proxy addresses, the gateway resolves it.
  const byName = await sys.curl('http://wiki.corp.test/', 20);
  expect(byName.ok, byName.body).toBe(true);
  await row('Wiki')
    .getByText(/Connected · (direct|relayed)/)
    .waitFor({ timeout: 10_000 });

  // The diagnostics are the engine's: bytes both ways and a measured round trip.
  await row('Resources A').click();
  const panel = page.getByRole('complementary', { name: 'Resources A' });
  await panel.waitFor();
  await expect
    .poll(() => panel.locator('.kv', { hasText: 'Round trip' }).textContent(), { timeout: 10_000 })
    .toMatch(/\d+(\.\d+)? ms/);
  const sent = await panel.locator('.kv', { hasText: 'Sent' }).textContent();
  expect(sent).toMatch(/Sent\s*[1-9][\d.,]*\s*(B|KB|KiB|kB|MB|MiB)/);
  await shot(page, '04-resource-diagnostics');

  await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor({ timeout: 20_000 });
  const after = await sys.curl(`http://${RESOURCE_IP}/`, 3);
  expect(after.ok).toBe(false);
  await shot(page, '05-disconnected');

  // Connect again without signing in again: the toggle keeps the sign-in.
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.getByRole('heading', { name: 'Connected', exact: true }).waitFor({ timeout: 60_000 });
  const again = await sys.curl(`http://${RESOURCE_IP}/`, 20);
  expect(again.ok, again.body).toBe(true);

  expect(sys.warnings([/no secure keychain/, /portal URL is not encrypted/])).toEqual([]);
}
