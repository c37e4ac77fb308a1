/**
 * The headless gateway's host set-up for real, in a network namespace: `src-gateway/cli.ts`
 * (its default connection runtime, pointed at a portal URL where nothing listens) enables
 * forwarding and installs `table inet fz-gateway`; SIGTERM takes both back (exit 0); after
 * SIGKILL they stay, and the next start undoes them before its own set-up, so the original
 * values come back at the end. Plus the refusals an admin meets first: a token file others can
 * read, and --help.
 *
 * The gateway runs as `npm run gateway` and the systemd unit run it: one Node process with tsx's
 * loader (`node --import tsx`). Not under the `tsx` command: that wrapper relays SIGTERM to its
 * child and SIGKILLs the child when it has not acknowledged within ~60 ms, which on a busy
 * machine kills the gateway in the middle of its teardown (seen here with exit code 143).
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetnsHarness, pidAlive, removeStale, type Netns, type NsProcess } from './netns.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const NODE_TSX = ['--import', 'tsx'];
const CLI = join(repoRoot, 'src-gateway', 'cli.ts');
const TOKEN = 'gw-system-test.SECRET.0123456789abcdef';
const TUN = 'tun-firezone';

const harness = new NetnsHarness();
let ns: Netns;
let dir: string;
let tokenPath: string;
let stateDir: string;

/** The environment, minus anything that would change what the gateway reads. */
const ENV = {
  FIREZONE_TOKEN: undefined,
  FIREZONE_API_URL: undefined,
  FIREZONE_ID: undefined,
  FIREZONE_LOG_FORMAT: undefined,
  RUST_LOG: undefined,
  CREDENTIALS_DIRECTORY: undefined,
  STATE_DIRECTORY: undefined,
  FZ_GATEWAY_TUN_NAME: undefined,
  FZ_GATEWAY_STATE_DIR: undefined,
  FZ_GATEWAY_NO_MASQUERADE: undefined,
};

function gatewayArgs(token = tokenPath): string[] {
  return [
    ...NODE_TSX,
    CLI,
    '--api-url',
    'http://127.0.0.1:9',
    '--token-file',
    token,
    '--state-dir',
    stateDir,
    '-n',
    'gw-test',
  ];
}

function start(): NsProcess {
  return ns.spawn(process.execPath, gatewayArgs(), { cwd: repoRoot, env: ENV, label: 'fz-gateway' });
}

interface HostView {
  ipForward: string;
  ipv6Forwarding: string;
  table: boolean;
  tun: boolean;
  stateFile: boolean;
}

async function host(): Promise<HostView> {
  const read = async (path: string): Promise<string> => (await ns.exec('cat', [path])).stdout.trim();
  const table = await ns.exec('nft', ['list', 'table', 'inet', 'fz-gateway'], { allowFailure: true });
  const tun = await ns.exec('ip', ['link', 'show', 'dev', TUN], { allowFailure: true });
  return {
    ipForward: await read('/proc/sys/net/ipv4/ip_forward'),
    ipv6Forwarding: await read('/proc/sys/net/ipv6/conf/all/forwarding'),
    table: table.code === 0,
    tun: tun.code === 0,
    stateFile: existsSync(join(stateDir, 'host-state.json')),
  };
}

const UNTOUCHED: HostView = {
  ipForward: '0',
  ipv6Forwarding: '0',
  table: false,
  tun: false,
  stateFile: false,
};
const SET_UP: HostView = { ipForward: '1', ipv6Forwarding: '1', table: true, tun: true, stateFile: true };

/** Host set up and the TUN open (by whichever connection runtime the CLI runs). */
async function waitUntilServing(proc: NsProcess): Promise<void> {
  await proc.waitForOutput(/INFO host set up/, 20_000);
  for (let i = 0; i < 200; i++) {
    if (!proc.running) break;
    if ((await ns.exec('ip', ['link', 'show', 'dev', TUN], { allowFailure: true })).code === 0) return;
    await delay(50);
  }
  throw new Error(`the gateway did not open ${TUN} (${proc.describeExit()})\n${proc.output}`);
}

beforeAll(async () => {
  await removeStale();
  ns = await harness.createNamespace();
  dir = harness.tempDir('gateway');
  stateDir = join(dir, 'state');
  tokenPath = join(dir, 'token');
  writeFileSync(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
});

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(harness.logs());
});

afterAll(async () => {
  await harness.cleanup();
});

describe('fz-gateway host set-up', () => {
  it('enables forwarding and adds its nft table; SIGTERM removes both and exits 0', async () => {
    expect(await host()).toEqual(UNTOUCHED);
    const gw = start();
    await waitUntilServing(gw);
    expect(await host()).toEqual(SET_UP);
    const table = (await ns.exec('nft', ['list', 'table', 'inet', 'fz-gateway'])).stdout;
    expect(table).toContain(`iifname "${TUN}" accept`);
    expect(table).toContain(`oifname != "${TUN}" ip saddr 100.64.0.0/11 masquerade`);
    expect(table).toContain(`oifname != "${TUN}" ip6 saddr fd00:2021:1111::/107 masquerade`);
    expect(readFileSync(join(stateDir, 'id'), 'utf8')).toMatch(/^[0-9a-f-]{36}\n$/);

    gw.kill('SIGTERM');
    expect(await gw.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    expect(await host()).toEqual(UNTOUCHED);
    expect(gw.output).toMatch(/INFO host changes removed/);
    expect(gw.output).toMatch(/INFO gateway stopped reason=SIGTERM/);
    expect(gw.output).not.toContain(TOKEN);
  }, 45_000);

  it('after SIGKILL, the next start undoes the leftovers first and ends with the original values', async () => {
    const killed = start();
    await waitUntilServing(killed);
    const { owner } = JSON.parse(readFileSync(join(stateDir, 'host-state.json'), 'utf8')) as {
      owner: { pid: number };
    };
    killed.kill('SIGKILL');
    expect((await killed.waitForExit(10_000)).signal).toBe('SIGKILL');
    expect(owner.pid).toBe(killed.pid);
    for (let i = 0; i < 100 && pidAlive(owner.pid); i++) await delay(50);
    // The kernel removed the TUN with its last fd; the rest is left behind.
    expect(await host()).toEqual({ ...SET_UP, tun: false });

    const next = start();
    await waitUntilServing(next);
    const undo = next.output.indexOf('undoing host changes left by a gateway that did not stop cleanly');
    expect(undo).toBeGreaterThan(-1);
    expect(undo).toBeLessThan(next.output.indexOf('INFO host set up'));
    // Recorded after the undo: the values from before either gateway ran.
    const state = JSON.parse(readFileSync(join(stateDir, 'host-state.json'), 'utf8')) as {
      owner: { pid: number };
      sysctls: { key: string; previous: string }[];
    };
    expect(state.owner.pid).not.toBe(owner.pid);
    expect(state.sysctls).toEqual([
      { key: 'net.ipv4.ip_forward', previous: '0', applied: '1' },
      { key: 'net.ipv6.conf.all.forwarding', previous: '0', applied: '1' },
    ]);
    expect(await host()).toEqual(SET_UP);

    next.kill('SIGTERM');
    expect(await next.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    expect(await host()).toEqual(UNTOUCHED);
  }, 45_000);

  it('refuses a token file that group or others can read, changing nothing (exit 2)', async () => {
    const open = join(dir, 'token-0644');
    writeFileSync(open, `${TOKEN}\n`);
    chmodSync(open, 0o644);
    const res = await ns.exec(process.execPath, gatewayArgs(open), {
      cwd: repoRoot,
      env: ENV,
      allowFailure: true,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `permissions 0644 for the token file ${open} are too open: it must not be accessible by group or others (chmod 600 ${open})`,
    );
    expect(res.stdout + res.stderr).not.toContain(TOKEN);
    expect(await host()).toEqual(UNTOUCHED);
  }, 20_000);

  it('--help names the flags and the environment variables', async () => {
    const res = await ns.exec(process.execPath, [...NODE_TSX, CLI, '--help'], { cwd: repoRoot, env: ENV });
    for (const name of [
      '--api-url',
      'FIREZONE_API_URL',
      '--token-file',
      'FIREZONE_TOKEN',
      'FIREZONE_ID',
      'FIREZONE_NAME',
      'RUST_LOG',
      'FIREZONE_LOG_FORMAT',
      '--tun-name',
      '--no-masquerade',
      '--state-dir',
    ]) {
      expect(res.stdout).toContain(name);
    }
  }, 20_000);
});
