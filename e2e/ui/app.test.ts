// The Playwright suite: every view of the renderer in Debian's Chromium, driven like a user
// would, against main's real core (IPC router and validation, controller, settings, logs) with
// the fake engine. Screenshots of each view go to e2e/artifacts/ui/.

import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { CONTENT_SECURITY_POLICY } from '../../src-main/security/app-origin.js';
import { readPcap } from '../../src-main/testing/pcap.js';
import { TEST_SESSION } from '../../src-main/testing/test-app.js';
import { readZip } from '../../src-main/testing/unzip.js';
import { UiSession, launchChromium, serveRenderer, type SessionOptions } from './harness.js';

/** The page's DOM, typed just enough (the root tsconfig has no DOM lib; this code runs in the page). */
interface Doc {
  activeElement: { id: string; textContent: string | null } | null;
  documentElement: { dataset: Record<string, string | undefined> };
  head: { append(node: unknown): void };
  createElement(tag: string): { textContent: string };
}
type PageGlobal = { document: Doc };

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let session: UiSession | null = null;

beforeAll(async () => {
  [browser, server] = await Promise.all([launchChromium(), serveRenderer()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});
afterEach(async () => {
  const s = session;
  session = null;
  if (!s) return;
  const errors = s.errors.filter((e) => !e.includes('Download the React DevTools'));
  await s.close();
  // No CSP violation, no uncaught error, no React warning in any test.
  expect(errors).toEqual([]);
});

async function open(o: SessionOptions = {}): Promise<UiSession> {
  session = await UiSession.open(browser, server.url, o);
  return session;
}

const heading = (page: Page, name: string) => page.getByRole('heading', { name, exact: true });

function callback(opened: string, over: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    account_name: 'Acme Inc',
    account_slug: 'acme',
    actor_name: 'Jane Doe',
    fragment: 'SFMyNTY.g2gDbQAAACQ-ui-test-fragment',
    identity_provider_identifier: 'idp',
    state: new URL(opened).searchParams.get('state')!,
    ...over,
  });
  return `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?${q}`;
}

async function connected(s: UiSession): Promise<void> {
  await heading(s.page, 'Connected').waitFor();
  await expect.poll(() => s.page.locator('.resource-row').count()).toBe(50);
}

describe('sign-in', () => {
  it('signed out → browser sign-in → wrong link ignored → signed in and connected', async () => {
    const { page, app } = await open();
    await heading(page, 'Sign in to FZ Desktop').waitFor();
    expect(
      await page.getByRole('button', { name: 'Sign in', exact: true }).getAttribute('aria-current'),
    ).toBe('page');
    await s().screenshot('01-signed-out');

    // Keyboard only: the account field has focus; Enter submits.
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as PageGlobal).document.activeElement?.id ?? ''))
      .toMatch(/slug/);
    await page.keyboard.type('acme');
    await page.keyboard.press('Enter');
    await heading(page, 'Continue in your browser').waitFor();
    expect(app.platform.opened).toHaveLength(1);
    const opened = app.platform.opened[0]!;
    expect(opened).toMatch(
      /^https:\/\/app\.fzdesktop\.dev\/acme\?as=gui-client&nonce=[0-9a-f]{64}&state=[0-9a-f]{64}$/,
    );
    await expect.poll(() => page.getByText('This sign-in expires in').textContent()).toMatch(/10:00|9:5\d/);
    await s().screenshot('02-signing-in');

    await page.getByRole('button', { name: 'Open the page again' }).click();
    await expect.poll(() => app.platform.opened.length).toBe(2);

    // A link from anywhere else (wrong state) is ignored, visibly.
    await app.controller.handleDeepLink(callback(opened, { state: 'ef'.repeat(32) }));
    await page.getByText('A sign-in link was ignored').waitFor();
    await s().screenshot('02b-signing-in-ignored-link');

    await app.controller.handleDeepLink(callback(opened));
    await connected(s());
    await page.getByText('Jane Doe').waitFor();
    // The token is nowhere in the page.
    expect(await page.content()).not.toContain('ui-test-fragment');
  });

  it('cancel, browser failure and a malformed token show clear messages', async () => {
    const { page, app } = await open();
    await page.getByLabel('Account ID').fill('acme');
    await page.getByRole('button', { name: 'Sign in with your browser' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await heading(page, 'Sign in to FZ Desktop').waitFor();

    await page.getByLabel('Account ID').fill('../evil');
    await page.getByRole('button', { name: 'Sign in with your browser' }).click();
    await page.getByText('letters, digits').first().waitFor();

    app.platform.browserError = new Error('no default browser');
    await page.getByLabel('Account ID').fill('acme');
    await page.getByRole('button', { name: 'Sign in with your browser' }).click();
    await page.getByText('The browser could not be opened (no default browser)').first().waitFor();

    app.platform.browserError = null;
    await page.getByRole('button', { name: 'Sign in with your browser' }).click();
    await heading(page, 'Continue in your browser').waitFor();
    await app.controller.handleDeepLink(callback(app.platform.opened.at(-1)!, { fragment: 'bad token' }));
    await page.getByRole('alert').filter({ hasText: 'Sign-in failed' }).waitFor();
    await page.getByText('The portal sent a malformed token.').waitFor();
  });
});

describe('resource browser', () => {
  it('50 resources in 3 sites: search, grouping, favourites first, live status', async () => {
    // Tall enough that the screenshot shows all three sites of the search result.
    const { page, app } = await open({ session: TEST_SESSION, viewport: { width: 1180, height: 940 } });
    await connected(s());
    await page.getByText('50 resources in 3 sites').waitFor();
    const groups = page.locator('.group-title');
    expect(await groups.allTextContents()).toEqual(['AWS eu-west-1', 'Berlin lab', 'Frankfurt HQ']);
    await page.locator('.group', { hasText: 'Berlin lab' }).getByText('Offline', { exact: true }).waitFor();

    // Favourite, then search across all three sites.
    const prodApi = page.locator('.resource-row', { hasText: 'Prod API (internal)' });
    await prodApi.getByRole('button', { name: 'Favourite: Prod API (internal)' }).click();
    await expect.poll(() => groups.first().textContent()).toBe('Favourites');
    const fav = JSON.parse(await readFile(app.settingsFile, 'utf8')).favoriteResourceIds;
    expect(fav).toHaveLength(1);

    await page.keyboard.press('/');
    await page.keyboard.type('prod');
    await page.getByText('9 resources of 50 match “prod”').waitFor();
    expect(await groups.allTextContents()).toEqual([
      'Favourites',
      'AWS eu-west-1',
      'Berlin lab',
      'Frankfurt HQ',
    ]);
    expect(await page.locator('.group-count').allTextContents()).toEqual([
      '1',
      '6 of 18',
      '1 of 12',
      '1 of 20',
    ]);
    expect(await page.locator('mark').count()).toBeGreaterThan(9);
    // Live status from the engine: the relayed tunnel to the prod API is up.
    await prodApi.getByText('Connected · relayed').waitFor();
    await page
      .locator('.resource-row', { hasText: 'Prod PostgreSQL primary' })
      .getByText('Connected · direct')
      .waitFor();
    await s().screenshot('03-resources-search');

    // Escape clears the search; a search with no result says so.
    await page.keyboard.press('Escape');
    await page.getByText('50 resources in 3 sites').waitFor();
    await page.getByLabel('Search resources').fill('no-such-thing');
    await heading(page, 'No matches').waitFor();
    await page.getByRole('button', { name: 'Clear search' }).click();

    // Collapse a site group.
    const hq = page.getByRole('button', { name: 'Frankfurt HQ' });
    await hq.click();
    expect(await hq.getAttribute('aria-expanded')).toBe('false');
    await expect.poll(() => page.locator('.resource-row').count()).toBe(30);

    // Copy an address (main writes the clipboard).
    await page.getByRole('button', { name: 'Copy address of Kibana' }).click();
    await page.getByText('Copied the address of Kibana.').waitFor();
    expect(app.platform.clipboard).toEqual(['kibana.aws.corp.example']);

    // Unfavourite: back in its site.
    await page.getByRole('button', { name: 'Favourite: Prod API (internal)' }).click();
    await expect.poll(() => groups.first().textContent()).toBe('AWS eu-west-1');
  });

  it('diagnostics panel: path, gateway, RTT, bytes, last handshake; keyboard open and close', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    const gitlab = page.locator('[data-resource-id]', { hasText: 'GitLab' });
    await gitlab.focus();
    await page.keyboard.press('Enter');
    const panel = page.getByRole('complementary', { name: 'GitLab' });
    await panel.waitFor();
    await expect
      .poll(() =>
        page.evaluate(() => (globalThis as unknown as PageGlobal).document.activeElement?.textContent),
      )
      .toBe('GitLab');
    await panel.getByText('Direct (peer-to-peer)').waitFor();
    await panel.getByText('gw-fra-').waitFor();
    await expect
      .poll(() => panel.locator('.kv', { hasText: 'Round trip' }).textContent(), { timeout: 3000 })
      .toMatch(/Round trip\d+(\.\d)? ms/);
    expect(await panel.locator('.kv', { hasText: 'Sent' }).textContent()).toMatch(/Sent\d/);
    expect(await panel.locator('.kv', { hasText: 'Received' }).textContent()).toMatch(/Received\d/);
    expect(await panel.locator('.kv', { hasText: 'Last handshake' }).textContent()).toMatch(
      /Just now|\d+ s ago/,
    );
    await s().screenshot('04-diagnostics');

    // Relayed path shows the relay; an offline site shows why.
    await page.locator('[data-resource-id]', { hasText: 'File server' }).click();
    await page.getByRole('complementary', { name: 'File server' }).getByText('Relayed (TURN)').waitFor();
    await page.getByRole('complementary', { name: 'File server' }).getByText('203.0.113.7:3478').waitFor();
    const lab = app.controller.resources.find((r) => r.name === 'HIL bench 01')!;
    app.engine.simulateTraffic(lab.id);
    await page.locator('[data-resource-id]', { hasText: 'HIL bench 01' }).click();
    await page
      .getByRole('complementary', { name: 'HIL bench 01' })
      .getByText('No gateway of this site is online.')
      .waitFor();
    await page.locator('.resource-row', { hasText: 'HIL bench 01' }).getByText('Unreachable').waitFor();

    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('complementary').count()).toBe(0);
    await expect
      .poll(() =>
        page.evaluate(() => (globalThis as unknown as PageGlobal).document.activeElement?.textContent ?? ''),
      )
      .toContain('HIL bench 01');
  });

  it('Internet Resource toggle goes through main and persists', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    const toggle = page.getByRole('switch', { name: 'Route internet traffic through the Internet Resource' });
    expect(await toggle.getAttribute('aria-checked')).toBe('false');
    await toggle.click();
    await expect.poll(() => toggle.getAttribute('aria-checked')).toBe('true');
    await page.locator('.internet-card').getByText('Connected · relayed').waitFor();
    expect(JSON.parse(await readFile(app.settingsFile, 'utf8')).internetResourceEnabled).toBe(true);
  });

  it('dark theme', async () => {
    const { page } = await open({ session: TEST_SESSION, colorScheme: 'dark' });
    await connected(s());
    expect(
      await page.evaluate(() => (globalThis as unknown as PageGlobal).document.documentElement.dataset.theme),
    ).toBe('dark');
    await page.locator('[data-resource-id]', { hasText: 'Grafana' }).click();
    await page.getByRole('complementary', { name: 'Grafana' }).getByText('Direct (peer-to-peer)').waitFor();
    await s().screenshot('03b-resources-dark');
  });
});

describe('connect and disconnect', () => {
  it('disconnect keeps you signed in; connect comes back; both optimistic', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await heading(page, 'Disconnected').waitFor();
    await page.getByText('You are disconnected').waitFor();
    expect(app.controller.auth.kind).toBe('signed-in');
    expect(await page.locator('.resource-row').count()).toBe(50);
    await page.locator('.resource-row', { hasText: 'GitLab' }).getByText('Not connected').waitFor();

    await page.locator('.alert').getByRole('button', { name: 'Connect' }).click();
    await connected(s());
  });

  it('an action main never confirms reverts after the timeout, with a message', async () => {
    const { page } = await open({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await heading(page, 'Disconnected').waitFor();
    s().freezeMain();
    await page.locator('.tunnel-card').getByRole('button', { name: 'Connect' }).click();
    // At once, before main answers.
    await heading(page, 'Connecting…').waitFor({ timeout: 300 });
    await page.getByText('FZ Desktop did not confirm “connect” in time.').waitFor({ timeout: 3000 });
    await heading(page, 'Disconnected').waitFor();
    s().thaw();
    await connected(s());
  });

  it('engine failures and a hung engine are shown as errors with a retry', async () => {
    const { page, app } = await open({
      session: TEST_SESSION,
      userSettings: { connectOnStart: false },
      engineResponseTimeoutMs: 800,
    });
    await heading(page, 'Disconnected').waitFor();
    app.engine.failNextStart({
      code: 'permission-denied',
      message:
        'The tunnel needs the CAP_NET_ADMIN capability. Reinstall the package or run: sudo setcap cap_net_admin+ep /opt/FZ Desktop/fz-desktop',
    });
    await page.locator('.tunnel-card').getByRole('button', { name: 'Connect' }).click();
    await heading(page, 'Connection failed').waitFor();
    await page.locator('.tunnel-card').getByText('CAP_NET_ADMIN capability').waitFor();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Could not connect' })
      .getByText('CAP_NET_ADMIN capability')
      .waitFor();
    await s().screenshot('08-error-connect');
    await page
      .getByRole('alert')
      .filter({ hasText: 'Could not connect' })
      .getByRole('button', { name: 'Try again' })
      .click();
    await connected(s());

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await heading(page, 'Disconnected').waitFor();
    app.engine.setStalled(true);
    await page.locator('.tunnel-card').getByRole('button', { name: 'Connect' }).click();
    await page
      .locator('.tunnel-card')
      .getByText('The tunnel service did not respond')
      .waitFor({ timeout: 3000 });
  });

  it('connection loss shows reconnecting, then recovers', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    app.engine.simulateConnectionLoss('network changed');
    await heading(page, 'Reconnecting…').waitFor();
    await page.getByText('Connection lost (network changed). Attempt 2.').waitFor();
    await heading(page, 'Connected').waitFor();
  });

  it('signed out by the portal: back to sign-in with the reason', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    app.engine.simulatePortalSignOut('token_expired');
    await page.getByRole('status').filter({ hasText: 'You were signed out' }).waitFor();
    await page.getByText('Your session expired. Sign in again to reach your resources.').waitFor();
    expect(await app.tokens.load()).toBeNull();
    await s().screenshot('09-signed-out-by-portal');
  });
});

describe('settings', () => {
  it('round trip: edit, validate in main, save, persist, reload', async () => {
    const { page, app } = await open({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await heading(page, 'Settings').waitFor();
    await s().screenshot('05-settings');

    await page.getByRole('switch', { name: 'Start on login' }).click();
    await page.getByRole('radio', { name: 'Dark' }).check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Settings saved.').waitFor();
    await expect
      .poll(() =>
        page.evaluate(() => (globalThis as unknown as PageGlobal).document.documentElement.dataset.theme),
      )
      .toBe('dark');
    expect(app.platform.startOnLogin).toBe(true);

    // Advanced, with arrow keys on the tab list.
    await page.getByRole('tab', { name: 'General' }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.getByRole('tab', { name: 'Advanced' }).getAttribute('aria-selected')).toBe('true');
    const portal = page.getByLabel('Portal URL');
    await portal.fill('ws://portal.example.com');
    await page.getByLabel('Log level').selectOption('debug');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('is only allowed for this computer').waitFor();
    expect(await portal.getAttribute('aria-invalid')).toBe('true');
    await s().screenshot('05b-settings-advanced-error');

    await portal.fill('wss://portal.example.com');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('The new portal applies the next time you sign in.').waitFor();
    expect(JSON.parse(await readFile(app.settingsFile, 'utf8'))).toEqual({
      connectOnStart: false,
      startOnLogin: true,
      theme: 'dark',
      portalUrl: 'wss://portal.example.com',
      logLevel: 'debug',
    });
    expect(app.logger.level).toBe('debug');

    await page.reload();
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('tab', { name: 'Advanced' }).click();
    expect(await page.getByLabel('Portal URL').inputValue()).toBe('wss://portal.example.com');
    await s().screenshot('05d-settings-dark');

    // Reset (confirmed in a modal dialog) keeps nothing but favourites.
    await page.getByRole('button', { name: 'Reset to defaults' }).click();
    await page
      .getByRole('dialog', { name: 'Reset settings?' })
      .getByRole('button', { name: 'Reset' })
      .click();
    await page.getByText('Settings reset to their defaults.').waitFor();
    expect(await page.getByLabel('Portal URL').inputValue()).toBe('wss://api.fzdesktop.dev');
  });

  it('managed configuration locks fields; a corrupt settings file is reported', async () => {
    const { page, app } = await open({
      userSettings: '{"logLevel": "debug",',
      managed: {
        portalUrl: 'wss://portal.corp.example',
        authUrl: 'https://portal.corp.example',
        autoUpdate: false,
        bogus: 1,
      },
    });
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByText('Your settings file was damaged, so the defaults apply.').waitFor();
    await page.getByText('“bogus” is not a managed setting').waitFor();
    await page.getByRole('tab', { name: 'Advanced' }).click();
    expect(await page.getByLabel('Portal URL').isDisabled()).toBe(true);
    expect(await page.getByLabel('Portal URL').inputValue()).toBe('wss://portal.corp.example');
    expect(await page.getByRole('switch', { name: /Download updates automatically/ }).isDisabled()).toBe(
      true,
    );
    expect(await page.locator('.lock-badge').count()).toBe(3);
    await s().screenshot('05c-settings-managed');

    // Even a crafted call cannot change a locked key: main refuses it.
    const r = await page.evaluate(() =>
      (
        globalThis as unknown as { fz: { settings: { update(p: object): Promise<unknown> } } }
      ).fz.settings.update({
        portalUrl: 'wss://attacker.example',
      }),
    );
    expect(r).toMatchObject({ ok: false, error: { code: 'setting-locked' } });
    expect(app.controller.snapshot().settings.values.portalUrl).toBe('wss://portal.corp.example');

    // The sign-in page names the managed portal.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('portal.corp.example').waitFor();
  });
});

describe('logs', () => {
  it('shows main and engine logs live, filters, exports a zip, clears', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    await page.getByRole('button', { name: 'Logs', exact: true }).click();
    await heading(page, 'Logs').waitFor();
    await page.getByRole('cell', { name: /^tun: tun-fz up/ }).waitFor();
    await page.getByRole('cell', { name: /^connected \(100\.72\.112\.111/ }).waitFor();
    app.logger.warn('a warning for the filter');
    await page.getByRole('cell', { name: 'a warning for the filter' }).waitFor();
    await s().screenshot('06-logs');

    await page.getByLabel('Level').selectOption('warn');
    await expect
      .poll(() => page.locator('.log-table tbody tr').count())
      .toBe(app.logger.recent().filter((e) => e.level === 'warn' || e.level === 'error').length);
    await page.getByLabel('Level').selectOption('trace');
    await page.getByLabel('Source').selectOption('engine');
    expect(await page.locator('.log-table tbody td:nth-child(3)').allTextContents()).toSatisfy(
      (v: string[]) => v.every((x) => x === 'engine'),
    );
    await page.getByLabel('Source').selectOption('all');

    // Export: main asks where (here: a fixed path), writes the zip.
    app.platform.savePath = path.join(app.dir, 'export', 'fz-logs.zip');
    await page.getByRole('button', { name: 'Export…' }).click();
    await page.getByText(/Saved 1 log file \(.+\) to .*fz-logs\.zip/).waitFor();
    const zip = readZip(await readFile(app.platform.savePath));
    expect([...zip.keys()]).toEqual(['logs/app.log', 'system.json']);
    expect(zip.get('logs/app.log')!.toString()).toContain('a warning for the filter');
    expect(zip.get('logs/app.log')!.toString()).not.toContain(TEST_SESSION.token.reveal());

    await page.getByRole('button', { name: 'Open folder' }).click();
    await expect.poll(() => app.platform.openedFolders).toEqual([path.join(app.dir, 'logs')]);

    await page.getByRole('button', { name: 'Clear…' }).click();
    await page
      .getByRole('dialog', { name: 'Clear the logs?' })
      .getByRole('button', { name: 'Clear logs' })
      .click();
    await page.getByRole('cell', { name: 'logs cleared' }).waitFor();
    await expect.poll(() => page.locator('.log-table tbody tr').count()).toBeLessThan(3);
    expect(existsSync(path.join(app.dir, 'logs', 'app.log.1'))).toBe(false);
  });
});

describe('packet capture', () => {
  it('captures from the logs view: duration, start, progress, stop, the result line; errors; disconnected', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    await page.getByRole('button', { name: 'Logs', exact: true }).click();
    const panel = page.getByRole('region', { name: 'Packet capture' });
    await panel.waitFor();

    // Main asks where to save (here: a fixed path) and records into it.
    const file = path.join(app.dir, 'captures', 'fz-capture.pcap');
    app.platform.savePath = file;
    await panel.getByLabel('Duration').selectOption('10');
    await panel.getByRole('button', { name: 'Capture packets…' }).click();
    await panel
      .getByText(/^Capturing to .*fz-capture\.pcap: [1-9]\d* packets \(.+\), 0:\d\d left\.$/)
      .waitFor();
    expect(app.controller.capture).toMatchObject({ state: 'running', seconds: 10, path: file });
    expect(app.platform.saveRequests).toEqual([
      { defaultName: expect.stringMatching(/^fz-capture-[\d-]+\.pcap$/), kind: 'packet-capture' },
    ]);
    expect(await panel.getByLabel('Duration').isDisabled()).toBe(true);
    await s().screenshot('06b-logs-capture-running');

    await panel.getByRole('button', { name: 'Stop capture' }).click();
    const result = panel
      .getByRole('status')
      .getByText(/^Saved \d+ packets \(.+\) to .*fz-capture\.pcap — stopped early\.$/);
    await result.waitFor();
    await s().screenshot('06c-logs-capture-saved');
    const pcap = readPcap(await readFile(file));
    expect(pcap.linktype).toBe(101);
    expect(await result.textContent()).toContain(`Saved ${pcap.records.length} packets`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await page.getByRole('cell', { name: /^packet capture ended \(stopped\)/ }).waitFor();

    // A refusal is shown in the panel, as an alert.
    app.engine.setStalled(true);
    await panel.getByRole('button', { name: 'Capture packets…' }).click();
    await panel
      .getByRole('alert')
      .getByText('Connect first: packets can only be captured while the tunnel is up.')
      .waitFor();
    app.engine.setStalled(false);

    // Disconnected: nothing to capture, and the panel says why.
    app.controller.disconnect();
    await panel.getByText('Connect to capture packets.').waitFor();
    expect(await panel.getByRole('button', { name: 'Capture packets…' }).isDisabled()).toBe(true);
  });
});

describe('about and updates', () => {
  it('version, engine, update check → download → ready → install', async () => {
    const { page, app } = await open({
      session: TEST_SESSION,
      userSettings: { updateFeedUrl: 'https://updates.example.com/fz-desktop', autoUpdate: false },
    });
    await page.getByRole('button', { name: 'About', exact: true }).click();
    await heading(page, 'FZ Desktop').waitFor();
    await page.getByText('Version 0.1.0').waitFor();
    await page.getByText('Simulated (demo mode)').waitFor();

    app.updater.nextVersion = '0.2.0';
    await page.getByRole('button', { name: 'Check for updates' }).click();
    await page.getByText('Version 0.2.0 is available.').waitFor();
    await page.getByRole('button', { name: 'Download' }).click();
    await page.getByText('Version 0.2.0 is ready.', { exact: false }).waitFor();
    await page.locator('.nav-badge', { hasText: 'Update' }).waitFor();
    expect(app.controller.trayModel().icon).toBe('update-ready');
    await s().screenshot('07-about');
    await page.getByRole('button', { name: 'Restart and install now' }).click();
    await expect.poll(() => app.updater.installed).toBe(true);
  });

  it('updates disabled without a feed; an update error offers a retry', async () => {
    const { page, app } = await open();
    await page.getByRole('button', { name: 'About', exact: true }).click();
    await page.getByText('Automatic updates are off: No update feed is configured.').waitFor();
    app.updater.set({
      kind: 'error',
      error: { code: 'update-failed', message: 'HTTP 404 from the feed' },
      at: Date.now(),
    });
    await page.getByText('The update check failed: HTTP 404 from the feed').waitFor();
    await page.getByRole('button', { name: 'Try again' }).waitFor();
  });
});

describe('security and robustness', () => {
  it('strict CSP (header and meta) blocks inline script; the API is frozen; bad IPC calls are refused', async () => {
    const { page, app } = await open({ session: TEST_SESSION });
    await connected(s());
    const response = await page.request.get(`${s().baseUrl}/index.html`);
    expect(response.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(await response.text()).toContain(CONTENT_SECURITY_POLICY);
    const result = await page.evaluate(async () => {
      const g = globalThis as unknown as Record<string, unknown> & {
        fz: Record<string, Record<string, (a?: unknown) => Promise<unknown>>>;
        addEventListener(type: string, l: (e: { violatedDirective: string }) => void): void;
      };
      const doc = (globalThis as unknown as PageGlobal).document;
      const violations: string[] = [];
      g.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
      const script = doc.createElement('script');
      script.textContent = 'globalThis.__inline = true';
      doc.head.append(script);
      await new Promise((r) => setTimeout(r, 50));
      let replaced: boolean;
      try {
        g.fz = {} as never;
        replaced = Object.keys(g.fz).length === 0;
      } catch {
        replaced = false;
      }
      const frozen = Object.isFrozen(g.fz) && Object.isFrozen(g.fz.tunnel);
      const bad = await Promise.all([
        g.fz.settings!.update!({ logLevel: 'loud' }),
        g.fz.resources!.setFavorite!({ resourceId: 42 }),
        g.fz.auth!.signIn!('acme'),
      ]);
      return {
        inline: g.__inline === true,
        violations,
        replaced,
        frozen,
        bad,
        hasRequire: 'require' in g,
        hasProcess: 'process' in g,
      };
    });
    s().errors.length = 0; // the blocked inline script logs a CSP violation: expected here
    expect(result.inline).toBe(false);
    expect(result.violations).toContain('script-src-elem');
    expect(result.replaced).toBe(false);
    expect(result.frozen).toBe(true);
    expect(result.hasRequire || result.hasProcess).toBe(false);
    for (const r of result.bad) expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(app.logger.recent().filter((e) => e.message.includes('refused: invalid argument'))).toHaveLength(
      3,
    );
    // Still fully working.
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await heading(page, 'Disconnected').waitFor();
  });

  it('every control in every view has an accessible name', async () => {
    const { page } = await open({ session: TEST_SESSION });
    await connected(s());
    const unnamed = async (where: string) => {
      const tree = await page.locator('body').ariaSnapshot();
      const bad = tree
        .split('\n')
        .filter((l) =>
          /^\s*- (button|switch|textbox|combobox|searchbox|radio|tab|link|checkbox)\b(?! ")/.test(l),
        );
      expect(bad, where).toEqual([]);
      return tree;
    };
    await page.locator('[data-resource-id]', { hasText: 'GitLab' }).click();
    const tree = await unnamed('resources with diagnostics');
    expect(tree).toContain('searchbox "Search resources"');
    expect(tree).toContain('switch "Route internet traffic through the Internet Resource"');
    expect(tree).toContain('button "Favourite: GitLab"');
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await unnamed('settings, general');
    await page.getByRole('tab', { name: 'Advanced' }).click();
    await unnamed('settings, advanced');
    await page.getByRole('button', { name: 'Logs', exact: true }).click();
    await unnamed('logs');
    await page.getByRole('button', { name: 'About', exact: true }).click();
    await unnamed('about');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading(page, 'Sign in to FZ Desktop').waitFor();
    await unnamed('sign-in');
  });

  it('a renderer error is reported to main’s log', async () => {
    const { page, app } = await open();
    await page.evaluate(() => setTimeout(() => Promise.reject(new Error('boom from the window')), 0));
    await expect
      .poll(() => app.logger.recent().some((e) => e.source === 'renderer' && e.message.includes('boom')))
      .toBe(true);
    s().errors.length = 0;
  });
});

/** The open session (for brevity inside tests). */
function s(): UiSession {
  if (!session) throw new Error('no session');
  return session;
}
