/**
 * Host set-up against a fake /proc/sys and a fake command runner: what is recorded, applied and
 * taken back, in which order, and what errors say. The real thing runs in
 * e2e/system/gateway-host.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../src-engine/portal/log.js';
import {
  forwardDropChains,
  HostSetup,
  nftDeleteScript,
  nftTableScript,
  readHostState,
  stateFilePath,
  writeHostState,
  type CommandResult,
  type HostSetupOptions,
  type HostState,
  type ProcessIdentity,
} from './host-setup.js';

const SELF: ProcessIdentity = { pid: 4242, startTime: '100', bootId: 'boot-a', netns: 'net:[1]' };
const DEAD: ProcessIdentity = { pid: 4000, startTime: '50', bootId: 'boot-a', netns: 'net:[1]' };
const NFT = '/usr/sbin/nft';
const IP = '/usr/sbin/ip';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  path: string;
  args: readonly string[];
  input: string | undefined;
  stateFileExisted: boolean;
}

function fixture(sysctls: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'fz-gateway-host-'));
  dirs.push(root);
  const procSys = join(root, 'proc-sys');
  const stateDir = join(root, 'state');
  const values = { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0', ...sysctls };
  for (const [key, value] of Object.entries(values)) {
    const path = join(procSys, ...key.split('.'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${value}\n`);
  }
  const calls: Call[] = [];
  const responses: ((call: Call) => CommandResult | undefined)[] = [];
  const logs: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: (m) => logs.push(`info ${m}`),
    warn: (m) => logs.push(`warn ${m}`),
    error: (m) => logs.push(`error ${m}`),
  };
  const sysctl = (key: string): string => readFileSync(join(procSys, ...key.split('.')), 'utf8').trim();
  const setSysctl = (key: string, value: string): void =>
    writeFileSync(join(procSys, ...key.split('.')), `${value}\n`);
  const make = (extra: Partial<HostSetupOptions> = {}): HostSetup =>
    new HostSetup({
      stateDir,
      tunName: 'tun-fz',
      masquerade: true,
      logger,
      procSys,
      tools: { nft: NFT, ip: IP },
      self: SELF,
      isAlive: () => false,
      run: async (path, args, input) => {
        const call = { path, args, input, stateFileExisted: existsSync(stateFilePath(stateDir)) };
        calls.push(call);
        for (const respond of responses) {
          const res = respond(call);
          if (res) return res;
        }
        // `nft list table` of a table that is not there.
        if (args[0] === 'list' && args[1] === 'table') return { code: 1, stdout: '', stderr: 'No such file' };
        return { code: 0, stdout: '', stderr: '' };
      },
      ...extra,
    });
  return { procSys, stateDir, calls, responses, logs, sysctl, setSysctl, make };
}

const nftScripts = (calls: Call[]): string[] =>
  calls.filter((c) => c.path === NFT && c.args.join(' ') === '-f -').map((c) => c.input ?? '');

describe('nft scripts', () => {
  it('replaces the table in one transaction, with masquerade for the tunnel ranges off the TUN', () => {
    const script = nftTableScript('tun-firezone', true);
    expect(script).toMatch(
      /^table inet fz-gateway\ndelete table inet fz-gateway\ntable inet fz-gateway \{\n/,
    );
    expect(script).toContain('type filter hook forward priority filter; policy accept;');
    expect(script).toContain('iifname "tun-firezone" accept');
    expect(script).toContain('oifname "tun-firezone" accept');
    expect(script).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(script).toContain('oifname != "tun-firezone" ip saddr 100.64.0.0/11 masquerade');
    expect(script).toContain('oifname != "tun-firezone" ip6 saddr fd00:2021:1111::/107 masquerade');
    expect(nftTableScript('tun-firezone', false)).not.toContain('masquerade');
    expect(nftDeleteScript()).toBe('table inet fz-gateway\ndelete table inet fz-gateway\n');
    expect(() => nftTableScript('tun"; flush ruleset', true)).toThrow(/invalid interface name/);
  });

  it('finds other tables that drop forwarded packets by policy', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { chain: { family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', policy: 'drop' } },
        { chain: { family: 'inet', table: 'fz-gateway', name: 'forward', hook: 'forward', policy: 'drop' } },
        { chain: { family: 'inet', table: 'fw', name: 'input', hook: 'input', policy: 'drop' } },
        { chain: { family: 'inet', table: 'fw', name: 'fwd', hook: 'forward', policy: 'accept' } },
      ],
    });
    expect(forwardDropChains(json)).toEqual(['ip filter FORWARD']);
    expect(forwardDropChains('not json')).toEqual([]);
  });
});

describe('HostSetup', () => {
  it('records first, then applies; tearDown takes it all back and is idempotent', async () => {
    const f = fixture({ 'net.ipv6.conf.all.forwarding': '1' });
    const host = f.make();
    const state = await host.setUp();
    expect(state.sysctls).toEqual([{ key: 'net.ipv4.ip_forward', previous: '0', applied: '1' }]);
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('1');
    expect(f.sysctl('net.ipv6.conf.all.forwarding')).toBe('1');
    const [apply] = nftScripts(f.calls);
    expect(apply).toBe(nftTableScript('tun-fz', true));
    // The state file existed before the first change.
    expect(f.calls.every((c) => c.stateFileExisted)).toBe(true);
    expect(readHostState(f.stateDir)).toMatchObject({
      owner: SELF,
      tunName: 'tun-fz',
      nftTable: { name: 'fz-gateway' },
    });

    await host.tearDown();
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('0');
    // Already 1 before we started: left alone.
    expect(f.sysctl('net.ipv6.conf.all.forwarding')).toBe('1');
    expect(nftScripts(f.calls).at(-1)).toBe(nftDeleteScript());
    expect(existsSync(stateFilePath(f.stateDir))).toBe(false);
    const before = f.calls.length;
    await host.tearDown();
    expect(f.calls.length).toBe(before);
  });

  it('leaves a sysctl that someone else changed meanwhile', async () => {
    const f = fixture({ 'net.ipv4.ip_forward': '0' });
    const host = f.make();
    await host.setUp();
    f.setSysctl('net.ipv4.ip_forward', '2');
    await host.tearDown();
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('2');
    expect(f.logs).toContain('info net.ipv4.ip_forward was changed by someone else since; leaving it at 2');
  });

  it('on a failed nft, names the command and its stderr and undoes what it did', async () => {
    const f = fixture();
    f.responses.push((call) =>
      call.input?.includes('masquerade')
        ? { code: 1, stdout: '', stderr: 'Error: Could not process rule: No such file or directory\n' }
        : undefined,
    );
    await expect(f.make().setUp()).rejects.toThrow(
      '/usr/sbin/nft -f - failed (exit code 1): Error: Could not process rule: No such file or directory',
    );
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(existsSync(stateFilePath(f.stateDir))).toBe(false);
  });

  it('keeps the state file when the teardown fails, so the next start retries', async () => {
    const f = fixture();
    const host = f.make();
    await host.setUp();
    f.responses.push((call) =>
      call.input === nftDeleteScript()
        ? { code: 1, stdout: '', stderr: 'Operation not permitted' }
        : undefined,
    );
    await expect(host.tearDown()).rejects.toThrow(
      /could not undo every host change \(kept host-state.json\): \/usr\/sbin\/nft -f - failed \(exit code 1\): Operation not permitted/,
    );
    // The rest was still done.
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(existsSync(stateFilePath(f.stateDir))).toBe(true);
  });

  it('undoes what a killed gateway left, before a new set-up records the original values', async () => {
    const f = fixture();
    const stale: HostState = {
      version: 1,
      owner: DEAD,
      tunName: 'tun-old',
      nftTable: { family: 'inet', name: 'fz-gateway' },
      sysctls: [
        { key: 'net.ipv4.ip_forward', previous: '0', applied: '1' },
        { key: 'net.ipv6.conf.all.forwarding', previous: '0', applied: '1' },
      ],
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    mkdirSync(f.stateDir, { recursive: true });
    writeHostState(f.stateDir, stale);
    f.setSysctl('net.ipv4.ip_forward', '1');
    f.setSysctl('net.ipv6.conf.all.forwarding', '1');
    f.responses.push((call) =>
      call.path === IP && call.args.includes('show')
        ? {
            code: 0,
            stdout: '7: tun-old: <POINTOPOINT> mtu 1280 \\    link/none  tun type tun pi off',
            stderr: '',
          }
        : undefined,
    );
    const host = f.make();
    expect(await host.cleanStale()).toBe(true);
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(nftScripts(f.calls)).toEqual([nftDeleteScript()]);
    expect(f.calls.at(-1)).toMatchObject({ path: IP, args: ['link', 'del', 'dev', 'tun-old'] });
    expect(existsSync(stateFilePath(f.stateDir))).toBe(false);

    const state = await host.setUp();
    expect(state.sysctls.map((s) => s.previous)).toEqual(['0', '0']);
    expect(await f.make().cleanStale()).toBe(true); // this process is "dead" to a fresh HostSetup
  });

  it('refuses to clean up after a gateway that is still running', async () => {
    const f = fixture();
    await f.make().setUp();
    await expect(f.make({ isAlive: () => true }).cleanStale()).rejects.toThrow(
      `another fz-gateway (pid 4242) is running with state directory ${f.stateDir}; stop it first, or give this one its own --state-dir`,
    );
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('1');
  });

  it('touches nothing for state made in another network namespace', async () => {
    const f = fixture();
    await f.make({ self: { ...SELF, netns: 'net:[99]' } }).setUp();
    const callsBefore = f.calls.length;
    expect(await f.make().cleanStale()).toBe(true);
    expect(f.calls.length).toBe(callsBefore);
    expect(f.sysctl('net.ipv4.ip_forward')).toBe('1');
    expect(existsSync(stateFilePath(f.stateDir))).toBe(false);
  });

  it('removes our table when the state file is unreadable', async () => {
    const f = fixture();
    mkdirSync(f.stateDir, { recursive: true });
    writeFileSync(stateFilePath(f.stateDir), '{"version": 1, "truncat');
    expect(await f.make().cleanStale()).toBe(true);
    expect(nftScripts(f.calls)).toEqual([nftDeleteScript()]);
    expect(f.logs.some((l) => l.startsWith('warn state file unreadable'))).toBe(true);
  });

  it('warns about forward chains elsewhere that drop by policy, and skips a missing IPv6', async () => {
    const f = fixture();
    rmSync(join(f.procSys, 'net', 'ipv6'), { recursive: true });
    f.responses.push((call) =>
      call.args.join(' ') === '-j list chains'
        ? {
            code: 0,
            stdout: JSON.stringify({
              nftables: [
                {
                  chain: { family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', policy: 'drop' },
                },
              ],
            }),
            stderr: '',
          }
        : undefined,
    );
    const state = await f.make().setUp();
    expect(state.sysctls.map((s) => s.key)).toEqual(['net.ipv4.ip_forward']);
    expect(f.logs).toContain(
      'warn net.ipv6.conf.all.forwarding does not exist (IPv6 disabled?): not forwarding that family',
    );
    expect(
      f.logs.some((l) => l.startsWith('warn nftables chain "ip filter FORWARD" drops forwarded packets')),
    ).toBe(true);
  });

  it('names a tool that cannot run', async () => {
    const f = fixture();
    const host = new HostSetup({
      stateDir: f.stateDir,
      tunName: 'tun-fz',
      masquerade: true,
      logger: silentLogger,
      procSys: f.procSys,
      tools: { nft: '/nonexistent/nft' },
      self: SELF,
      run: async (path) => ({ code: null, stdout: '', stderr: `spawn ${path} ENOENT` }),
    });
    await expect(host.setUp()).rejects.toThrow(
      '/nonexistent/nft -f - failed (could not run): spawn /nonexistent/nft ENOENT',
    );
    expect(existsSync(stateFilePath(f.stateDir))).toBe(true);
  });
});
