/**
 * The desktop app in the whole system: the connectivity topology (portal host, coturn, client
 * and site behind NAT routers, gateways, a resource host, DNS) with the dev portal and headless
 * gateways as processes in their namespaces, and on the client host the app itself — main's
 * logic and the real engine, run by the development bridge (src-main/bridge/) — with Debian's
 * Chromium, also in the client's namespace, as the user's browser: it shows the app's window
 * (the bridge's page) and the portal's real sign-in page. The real-engine UI test and the demo
 * both drive this.
 *
 * The OS's part in sign-in — handing the portal's `<scheme>://handle_client_sign_in_callback`
 * redirect to the app — is played by `signInThroughPortal`: it catches the browser's redirect
 * and gives the link to the bridge's `/os/open-url`, as the OS would give it to the app.
 */
import { request } from 'node:http';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { System, PORTAL_PORT } from '../system/connectivity/system.js';
import {
  ADDRESSES,
  buildTopology,
  type ConnectivityTopology,
  type TopologyOptions,
} from '../system/connectivity/topology.js';
import type { NsProcess } from '../system/netns.js';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { dnsSystemOptions, prepareDns } from '../system/dns/setup.js';

const REPO = new URL('../../', import.meta.url).pathname;
/** Where the portal is on the client host (forwarded to the portal host, see tcp-forward.ts). */
export const LOCAL_PORTAL = `http://127.0.0.1:${PORTAL_PORT}`;
export const USER = { email: 'alice@acme.test', password: 'system-test-password', name: 'Alice' };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface AppSystemOptions extends Omit<TopologyOptions, 'base'> {
  readonly base: string;
  /** Gateways on the site (default 1). */
  readonly gatewayCount?: number;
  /** Origins besides its own the app's page may be served from (a forwarded port). */
  readonly allowedOrigins?: readonly string[];
}

export class AppSystem {
  bridge!: NsProcess;
  /** The app window's URL with the per-run secret in its fragment. */
  appUrl = '';
  private browser: Browser | undefined;

  private constructor(
    readonly topo: ConnectivityTopology,
    readonly system: System,
    readonly socketPath: string,
  ) {}

  /** Builds the network and starts portal, gateways and the app (signed out). */
  static async start(options: AppSystemOptions): Promise<AppSystem> {
    const gatewayCount = options.gatewayCount ?? 1;
    const topo = await buildTopology({ ipv6: false, ...options, gateways: gatewayCount });
    try {
      await prepareDns(topo, gatewayCount);
      const system = new System(topo, { ...dnsSystemOptions(), clientHandler: `${DEEP_LINK_SCHEME}://` });
      for (const ip of ['10.203.0.100', '10.203.0.200']) {
        await topo.resourceHost.ip('addr', 'add', `${ip}/24`, 'dev', 'eth0');
      }
      await system.startPortal();
      for (let i = 1; i <= gatewayCount; i++) await system.startGateway(i);
      const app = new AppSystem(topo, system, join(topo.tmpDir, 'bridge.sock'));
      await app.startApp(options.allowedOrigins ?? []);
      return app;
    } catch (error) {
      process.stderr.write(`--- logs ---\n${topo.logs(4000)}\n`);
      await topo.destroy();
      throw error;
    }
  }

  /** The forwarder to the portal and the app (bridge + engine worker) on the client host. */
  private async startApp(allowedOrigins: readonly string[]): Promise<void> {
    const forward = this.topo.spawnTsx('client', join(REPO, 'e2e/app-system/tcp-forward.ts'), [
      '127.0.0.1',
      String(PORTAL_PORT),
      ADDRESSES.portal.ipv4,
      String(PORTAL_PORT),
    ]);
    await this.system.waitForOutput(forward, /forwarding/, 20_000, 'the portal forwarder');
    // Debug logs from the engine, for failure reports.
    const userData = join(this.topo.tmpDir, 'app-user-data');
    mkdirSync(userData, { recursive: true, mode: 0o700 });
    writeFileSync(join(userData, 'settings.json'), JSON.stringify({ logLevel: 'debug' }));
    this.bridge = this.topo.spawnTsx(
      'client',
      join(REPO, 'src-main/bridge/cli.ts'),
      [
        '--port',
        '0',
        '--unix-socket',
        this.socketPath,
        '--user-data-dir',
        userData,
        '--portal-url',
        `ws://127.0.0.1:${PORTAL_PORT}`,
        '--auth-url',
        LOCAL_PORTAL,
        '--account',
        'acme',
        ...allowedOrigins.flatMap((origin) => ['--allowed-origin', origin]),
      ],
      // The client's namespace has its own resolv.conf (prepareDns), which the engine points
      // at its sentinel while connected.
      { FZ_DNS_CONTROL: 'resolv-conf', FZ_TUN_NAME: 'tun-fzapp' },
      { cwd: REPO },
    );
    await this.system.waitForOutput(
      this.bridge,
      /bridge ready http:\/\/\S+/,
      60_000,
      'the app (bridge) to start',
    );
    this.appUrl = /bridge ready (http:\/\/\S+)/.exec(this.bridge.output)![1]!;
  }

  get secret(): string {
    return /#secret=([A-Za-z0-9_-]+)/.exec(this.appUrl)?.[1] ?? '';
  }

  /** Chromium in the client's namespace (Playwright talks to it over a pipe, across namespaces). */
  async launchBrowser(): Promise<Browser> {
    const wrapper = join(this.topo.tmpDir, 'chromium-in-client.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec /usr/sbin/ip netns exec ${this.topo.client.ns.name} ${CHROMIUM} "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    this.browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    return this.browser;
  }

  /** The URL the app last asked the OS to open in the browser (printed by the bridge). */
  async waitForExternalUrl(after: number, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const matches = [...this.bridge.output.slice(after).matchAll(/open in the browser: (\S+)/g)];
      const last = matches.at(-1)?.[1];
      if (last) return last;
      await delay(100);
    }
    throw new Error(`the app never asked to open a URL:\n${this.bridge.output.slice(-2000)}`);
  }

  /**
   * The browser side of sign-in, after the app opened the portal's page: fills in the form, and
   * hands the redirect to the app as the OS would. Returns the sign-in page for screenshots.
   */
  async signInThroughPortal(
    context: BrowserContext,
    url: string,
    onForm?: (page: Page) => Promise<void>,
  ): Promise<Page> {
    const page = await context.newPage();
    // The portal's last step is a 302 to our scheme. The browser (here: in the client's
    // namespace, where the test process cannot connect) cannot open it; the OS would hand it to
    // the app, so this does: it reads the redirect's Location and posts it to the bridge.
    const redirect = new Promise<string>((resolve) => {
      page.on('response', (response) => {
        if (response.url().includes('/sign_in/client_redirect') && response.status() === 302)
          resolve(response.headers().location ?? '');
      });
    });
    await page.goto(url);
    await page.getByLabel('Email').fill(USER.email);
    await page.getByLabel('Password').fill(USER.password);
    await onForm?.(page);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const link = await Promise.race([redirect, delay(20_000).then(() => undefined)]);
    if (!link) {
      const text = await page
        .locator('body')
        .innerText()
        .catch(() => '?');
      throw new Error(`the portal did not redirect to the app (${page.url()}): ${text.slice(0, 500)}`);
    }
    await this.openUrl(link);
    return page;
  }

  /** `POST /os/open-url` on the bridge's Unix socket: what the OS does with our scheme. */
  openUrl(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path: '/os/open-url',
          method: 'POST',
          headers: { Authorization: `Bearer ${this.secret}`, 'Content-Type': 'text/plain' },
        },
        (res) => {
          res.resume();
          if (res.statusCode && res.statusCode < 300) resolve();
          else reject(new Error(`the app refused the link: HTTP ${res.statusCode}`));
        },
      );
      req.on('error', reject);
      req.end(url);
    });
  }

  /** curl from the client host; `ok` false when it failed (timeout, refused). */
  async curl(url: string, timeoutS = 5): Promise<{ ok: boolean; body: string }> {
    const res = await this.topo.client.exec('curl', ['-sS', '--max-time', String(timeoutS), url], {
      allowFailure: true,
      timeoutMs: (timeoutS + 5) * 1000,
    });
    return { ok: res.code === 0, body: res.code === 0 ? res.stdout : `${res.stdout}${res.stderr}` };
  }

  /** The client host's addresses, policy rules and routes, for a failure report. */
  async clientNetwork(): Promise<string> {
    const parts: string[] = [];
    for (const args of [['-br', 'addr'], ['rule'], ['route', 'show', 'table', 'all']]) {
      const res = await this.topo.client.exec('ip', args, { allowFailure: true });
      parts.push(`$ ip ${args.join(' ')}\n${res.stdout}${res.stderr}`);
    }
    return parts.join('\n');
  }

  /** Lines at warn level or above from our processes (a test fails on unexpected ones). */
  warnings(allowed: readonly RegExp[] = []): string[] {
    return [
      ...this.system.warnings(allowed),
      ...this.bridge.output
        .split('\n')
        .filter((line) => /"level":"(warn|error)"|\b(WARN|ERROR)\b/.test(line))
        .filter((line) => !allowed.some((re) => re.test(line)))
        .map((line) => `app: ${line}`),
    ];
  }

  async destroy(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    await this.topo.destroy();
  }
}
