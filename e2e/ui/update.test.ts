// Updates end to end: the app core runs the real updater service over electron-updater's
// DebUpdater against a generic feed served on 127.0.0.1, and the About page in Debian's Chromium
// shows what happens: checking → downloading with its percentage → ready (restart to install),
// and a damaged download refused (sha512 mismatch), then fetched again once the feed is good.
// Screenshots go to e2e/artifacts/ui/update-*.png.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { TEST_SESSION } from '../../src-main/testing/test-app.js';
import { createNodeUpdater, type NodeUpdater } from '../../src-main/testing/node-updater.js';
import {
  fakePackage,
  startUpdateFeed,
  type FeedRelease,
  type UpdateFeed,
} from '../../src-main/testing/update-feed.js';
import { AutoUpdaterService } from '../../src-main/update/auto-updater-service.js';
import { UiSession, launchChromium, serveRenderer } from './harness.js';

const RELEASE: FeedRelease = {
  version: '0.2.0',
  fileName: 'fz-desktop_0.2.0_amd64.deb',
  payload: fakePackage(512 * 1024, 7),
};

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let session: UiSession | null = null;
let feed: UpdateFeed;
let dir: string;
let node: NodeUpdater;
let service: AutoUpdaterService | null = null;

beforeAll(async () => {
  [browser, server] = await Promise.all([launchChromium(), serveRenderer()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fz-ui-update-'));
  feed = await startUpdateFeed();
  // The app under test is 0.1.0 (createTestApp's version).
  node = await createNodeUpdater({ dir, version: '0.1.0' });
});
afterEach(async () => {
  const s = session;
  session = null;
  service?.dispose();
  service = null;
  const errors = s?.errors.filter((e) => !e.includes('Download the React DevTools')) ?? [];
  await s?.close();
  await feed.close();
  await rm(dir, { recursive: true, force: true });
  expect(errors).toEqual([]);
});

/** The app with the real updater service, automatic download on, pointed at the local feed. */
async function open(): Promise<UiSession> {
  session = await UiSession.open(browser, server.url, {
    session: TEST_SESSION,
    userSettings: { updateFeedUrl: feed.url, autoUpdate: true },
    createUpdater: (logger) =>
      (service = new AutoUpdaterService({
        updater: node.updater,
        logger,
        isPackaged: true,
        builtInFeed: () => null,
      })),
  });
  await session.page.getByRole('button', { name: 'About', exact: true }).click();
  return session;
}

const card = (page: Page) => page.getByRole('region', { name: 'Updates' });

it('checking → downloading with progress → ready → restart and install', async () => {
  feed.publish({ ...RELEASE, durationMs: 4000 });
  // The app checks as it starts; the feed answers when the test has seen "checking".
  const answer = feed.hold();
  const s = await open();
  const { page, app } = s;
  await card(page).getByText('Checking for updates…').waitFor();
  await s.screenshot('update-01-checking');

  answer();
  // electron-updater reports progress once a second while the feed trickles the file.
  await card(page)
    .getByText(/Downloading version 0\.2\.0… [1-9]\d?%/)
    .waitFor();
  const progress = await card(page).getByRole('progressbar').getAttribute('value');
  expect(Number(progress)).toBeGreaterThan(0);
  await s.screenshot('update-02-downloading');

  await card(page).getByText('Version 0.2.0 is ready.', { exact: false }).waitFor({ timeout: 10_000 });
  await page.locator('.nav-badge', { hasText: 'Update' }).waitFor();
  expect(app.controller.trayModel().icon).toBe('update-ready');
  await s.screenshot('update-03-ready');

  // Installing replaces the package (dpkg) and restarts: intercepted at electron-updater's door.
  const install = vi.spyOn(node.updater, 'quitAndInstall').mockImplementation(() => {});
  await card(page).getByRole('button', { name: 'Restart and install now' }).click();
  await expect.poll(() => install.mock.calls).toEqual([[false, true]]);
});

it('a damaged download is refused; once the feed is repaired, Try again gets the update', async () => {
  const served = Buffer.from(RELEASE.payload);
  served[4096] = served[4096]! ^ 0x01;
  feed.publish({ ...RELEASE, served });
  const s = await open();
  const { page } = s;
  await card(page)
    .getByText(
      'The update could not be downloaded: The downloaded update is damaged (its checksum does not match the update feed), so it was discarded.',
    )
    .waitFor({ timeout: 10_000 });
  expect(feed.requests).toContain(`/${RELEASE.fileName}`);
  expect(await page.locator('.nav-badge', { hasText: 'Update' }).count()).toBe(0);
  await s.screenshot('update-04-damaged-download');

  feed.publish(RELEASE);
  await card(page).getByRole('button', { name: 'Try again' }).click();
  await card(page).getByText('Version 0.2.0 is ready.', { exact: false }).waitFor({ timeout: 10_000 });
});
