/**
 * The privileged TUN helper end to end (Linux, root): the helper runs as root in a namespace of
 * its own; the app side (./app-child.ts) runs as `nobody` with a throwaway group that the helper
 * is told to trust, and is never root.
 *
 * Proves: the app receives a working TUN fd (after apply, `ping` in the namespace to an address
 * routed into the device is read by the app from the fd, and the echo reply it writes reaches
 * ping); every refusal changes nothing (`ip addr`, `ip route show table all`, `ip rule` and the
 * resolv.conf are compared before and after); the connection's end (the app killed) removes
 * device, routes, rules and DNS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientInterfaceConfig } from '../../../src-engine/client/client-runtime.js';
import { encodeFrame, MAX_FRAME_BYTES } from '../../../src-engine/platform/tun-helper/protocol.js';
import { NetnsHarness, type Netns, type NsProcess } from '../netns.js';
import type { ChildCommand, RawResult } from './app-child.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./app-child.ts', import.meta.url));
const NOBODY = 65534;
const NOGROUP = 65534;
const isRoot = process.getuid?.() === 0;

const RESOURCE_NET = '10.222.0.0/24';
const RESOURCE = '10.222.0.5';
const CONFIG: ClientInterfaceConfig = {
  ipv4: '100.64.0.2',
  ipv6: 'fd00:2021:1111::2',
  routes: [RESOURCE_NET, 'fd00:222::/64'],
  upstreamDns: [],
  dnsServers: ['100.100.111.1'],
  searchDomain: 'corp.test',
};
const ORIGINAL_RESOLV = 'nameserver 10.53.0.1\n';

const harness = new NetnsHarness({ base: 'fzth' });
const group = `fzth${process.pid}`;
let gid = -1;
let ns: Netns;
let helper: NsProcess;
let socketPath = '';
let resolvConf = '';
const children = new Set<ChildProcess>();

/** The app side as an unprivileged process, driven like fwmark-child. */
class AppChild {
  private nextId = 1;
  private buffer = '';
  output = '';
  readonly exited: Promise<void>;
  private readonly waiting = new Map<
    number,
    (reply: { ok: boolean; result?: unknown; error?: string; code?: string }) => void
  >();

  constructor(readonly proc: ChildProcess) {
    children.add(proc);
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void this.exited.then(() => children.delete(proc));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (!line.startsWith('RPC ')) {
          this.output += `${line}\n`;
          continue;
        }
        const reply = JSON.parse(line.slice(4)) as { id: number; ok: boolean };
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  static start(uid: number, childGid: number): AppChild {
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: REPO,
      uid,
      gid: childGid,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    });
    return new AppChild(proc);
  }

  /** Resolves with the reply (ok or not) so refusals can be asserted. */
  call(
    command: ChildCommand,
    timeoutMs = 30_000,
  ): Promise<{ ok: boolean; result?: unknown; error?: string; code?: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply to ${command.cmd}\n${this.output.slice(-3000)}\n${harness.logs()}`));
      }, timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.proc.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  async ok<T>(command: ChildCommand): Promise<T> {
    const reply = await this.call(command);
    if (!reply.ok) throw new Error(`${command.cmd} failed: ${reply.error}\n${helper.output.slice(-3000)}`);
    return reply.result as T;
  }
}

/** Everything a refused request must leave alone. */
async function snapshot(): Promise<string> {
  const parts = await Promise.all([
    ns.ip('-d', 'addr', 'show'),
    ns.ip('-4', 'route', 'show', 'table', 'all'),
    ns.ip('-6', 'route', 'show', 'table', 'all'),
    ns.ip('-4', 'rule', 'show'),
    ns.ip('-6', 'rule', 'show'),
  ]);
  return [...parts.map((p) => p.stdout), readFileSync(resolvConf, 'utf8')].join('\n----\n');
}

const frame = (value: unknown): string => Buffer.from(encodeFrame(value)).toString('base64');
const rawBytes = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function errorOf(result: RawResult, index = 0): { code: string; message: string } | undefined {
  return (result.responses[index] as { error?: { code: string; message: string } } | undefined)?.error;
}

async function until(cond: () => Promise<boolean>, timeoutMs = 8_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe.skipIf(!isRoot)('TUN helper (root service, unprivileged app)', () => {
  let app: AppChild;
  let device = '';
  let applied = '';

  beforeAll(async () => {
    const added = spawnSync('groupadd', ['--system', group], { encoding: 'utf8' });
    if (added.status !== 0) throw new Error(`groupadd failed: ${added.stderr}`);
    harness.onCleanup(() => void spawnSync('groupdel', [group]));
    const entry = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${group}:`));
    gid = Number(entry?.split(':')[2]);
    expect(gid).toBeGreaterThan(0);
    harness.onCleanup(() => {
      for (const c of children) c.kill('SIGKILL');
    });

    ns = await harness.createNamespace();
    const dir = harness.tempDir('helper');
    chmodSync(dir, 0o755); // nobody must reach the socket directory inside
    socketPath = join(dir, 'run', 'helper.sock');
    resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, ORIGINAL_RESOLV);
    helper = harness.spawnIn(
      ns.name,
      process.execPath,
      [
        '--import',
        'tsx',
        'src-helper/cli.ts',
        '--socket',
        socketPath,
        '--group',
        group,
        '--dns',
        'resolv-conf',
        '--resolv-conf',
        resolvConf,
        '--state-dir',
        join(dir, 'state'),
        '--max-requests-per-second',
        '20',
        '--max-connections-per-uid',
        '4',
      ],
      { cwd: REPO, label: 'fz-tun-helper' },
    );
    await helper.waitForOutput(/listening/, 20_000);
    app = AppChild.start(NOBODY, gid);
  });

  afterAll(async () => {
    await harness.cleanup();
  });

  it('creates the socket directory 0750 root:<group> and the socket 0660', () => {
    const dir = spawnSync('stat', ['-c', '%a %u %g', join(socketPath, '..')], {
      encoding: 'utf8',
    }).stdout.trim();
    const sock = spawnSync('stat', ['-c', '%a %u %g %F', socketPath], { encoding: 'utf8' }).stdout.trim();
    expect(dir).toBe(`750 0 ${gid}`);
    expect(sock).toBe(`660 0 ${gid} socket`);
  });

  it('gives the unprivileged app a working TUN fd: ping through the device is answered by the app', async () => {
    const opened = await app.ok<{ device: string; uid: number; gid: number }>({
      cmd: 'open',
      socket: socketPath,
    });
    expect(opened.uid).toBe(NOBODY);
    expect(opened.gid).toBe(gid);
    device = opened.device;
    expect(device).toMatch(/^tun-fz\d+$/);
    await app.ok({ cmd: 'apply', config: CONFIG });
    const addr = (await ns.ip('addr', 'show', 'dev', device)).stdout;
    expect(addr).toContain('inet 100.64.0.2/32');
    expect(addr).toContain('inet6 fd00:2021:1111::2/128');
    expect((await ns.ip('route', 'show', 'table', '0x2021fd00')).stdout).toContain(
      `${RESOURCE_NET} dev ${device}`,
    );
    expect(readFileSync(resolvConf, 'utf8')).toMatch(/nameserver 100\.100\.111\.1[\s\S]*search corp\.test/);

    const ping = await ns.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', RESOURCE], {
      allowFailure: true,
    });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/3 received/);
    const stats = await app.ok<{ echoRequests: number; repliesWritten: number }>({ cmd: 'stats' });
    expect(stats.echoRequests).toBeGreaterThanOrEqual(3);
    expect(stats.repliesWritten).toBeGreaterThanOrEqual(3);
    await helper.waitForOutput(/open: device created .*uid=65534/, 5_000);
    applied = await snapshot();
  });

  it('refuses users outside the group: first the socket mode, then the peer-credential check', async () => {
    const outsider = AppChild.start(NOBODY, NOGROUP);
    try {
      const denied = await outsider.call({ cmd: 'open', socket: socketPath });
      expect(denied).toMatchObject({ ok: false, code: 'permission-denied' });
      // With the file modes opened up, the helper itself must still say no.
      chmodSync(join(socketPath, '..'), 0o755);
      chmodSync(socketPath, 0o666);
      const refused = await outsider.call({ cmd: 'open', socket: socketPath });
      expect(refused).toMatchObject({ ok: false, code: 'permission-denied' });
      expect(refused.error).toMatch(/not root and not in the group/);
      await helper.waitForOutput(/connection refused .*uid=65534 gid=65534.*code=permission-denied/, 5_000);
    } finally {
      chmodSync(join(socketPath, '..'), 0o750);
      chmodSync(socketPath, 0o660);
      outsider.proc.kill('SIGKILL');
    }
    expect(await snapshot()).toBe(applied);
  });

  const refusals: [string, Record<string, unknown>, string, RegExp][] = [
    ['a second device on the connection', { type: 'open' }, 'refused', /already has the device/],
    [
      'another device',
      {
        type: 'apply',
        device: 'lo',
        config: { addresses: ['100.64.0.9/32'], mtu: 1280, routes: [], dns: null },
      },
      'refused',
      /not this connection's/,
    ],
    ['closing another device', { type: 'close', device: 'lo' }, 'refused', /not this connection's/],
  ];
  it.each(refusals)('refuses %s and changes nothing', async (_label, body, code, message) => {
    const reply = await app.call({ cmd: 'request', body });
    expect(reply).toMatchObject({ ok: false });
    expect(reply.error).toMatch(message);
    expect(reply.code).toBe(code);
    expect(await snapshot()).toBe(applied);
  });

  const badConfigs: [string, Record<string, unknown>, RegExp][] = [
    ['an address outside the tunnel ranges', { addresses: ['10.0.0.1/32'] }, /not inside the tunnel ranges/],
    ['an IPv6 address outside fd00:2021:1111::/48', { addresses: ['fd00:2021:2222::1/128'] }, /not inside/],
    ['a prefix wider than the tunnel range', { addresses: ['100.64.0.2/8'] }, /not inside/],
    ['a route via another device', { routes: ['10.9.0.0/16 dev lo'] }, /not a CIDR/],
    [
      'a DNS server outside the tunnel ranges',
      { dns: { servers: ['192.0.2.53'], searchDomain: null } },
      /not a tunnel address/,
    ],
    [
      'a search domain that is no DNS name',
      { dns: { servers: ['100.100.111.1'], searchDomain: 'a b;rm' } },
      /not a DNS name/,
    ],
    ['an MTU below 1280', { mtu: 576 }, /outside 1280..9000/],
  ];
  it.each(badConfigs)('refuses %s and changes nothing', async (_label, override, message) => {
    const config = {
      addresses: ['100.64.0.2/32'],
      mtu: 1280,
      routes: [RESOURCE_NET],
      dns: null,
      ...override,
    };
    const reply = await app.call({ cmd: 'request', body: { type: 'apply', device, config } });
    expect(reply).toMatchObject({ ok: false, code: 'refused' });
    expect(reply.error).toMatch(message);
    expect(await snapshot()).toBe(applied);
  });

  it('refuses unknown requests, extra fields (a "via" device) and malformed frames, changing nothing', async () => {
    const unknown = await app.call({ cmd: 'request', body: { type: 'exec', argv: ['/bin/sh'] } });
    expect(unknown).toMatchObject({ ok: false, code: 'refused' });
    expect(unknown.error).toMatch(/unknown request type "exec"/);
    const extra = await app.call({
      cmd: 'request',
      body: {
        type: 'apply',
        device,
        via: 'lo',
        config: { addresses: ['100.64.0.2/32'], mtu: 1280, routes: [], dns: null },
      },
    });
    expect(extra).toMatchObject({ ok: false });
    expect(extra.error).toMatch(/invalid apply request/);

    const notJson = new Uint8Array([0, 0, 0, 5, 0x7b, 0x7b, 0x7b, 0xff, 0x00]);
    const malformed = await app.ok<RawResult>({
      cmd: 'raw',
      socket: socketPath,
      frames: [rawBytes(notJson)],
    });
    expect(errorOf(malformed)).toMatchObject({ code: 'bad-request', message: 'the frame is not UTF-8 JSON' });
    const noType = await app.ok<RawResult>({ cmd: 'raw', socket: socketPath, frames: [frame({ id: 3 })] });
    expect(errorOf(noType)?.code).toBe('bad-request');

    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
    const oversized = await app.ok<RawResult>({
      cmd: 'raw',
      socket: socketPath,
      frames: [rawBytes(header)],
      waitMs: 800,
    });
    expect(errorOf(oversized)).toMatchObject({ code: 'frame-too-large' });
    expect(oversized.closedByHelper).toBe(true);
    await helper.waitForOutput(/frame refused .*code=frame-too-large/, 5_000);
    expect(await snapshot()).toBe(applied);
  });

  it('refuses a flood of requests and of connections from one uid, changing nothing', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // a fresh one-second window
    const frames = Array.from({ length: 40 }, (_, i) => frame({ id: i, type: 'close', device: 'tun-fz999' }));
    const flood = await app.ok<RawResult>({ cmd: 'raw', socket: socketPath, frames, waitMs: 1500 });
    const codes = flood.responses.map((r) => (r as { error?: { code: string } }).error?.code);
    expect(codes).toHaveLength(40);
    expect(codes.filter((c) => c === 'rate-limited').length).toBeGreaterThanOrEqual(15);
    expect(codes.every((c) => c === 'rate-limited' || c === 'refused')).toBe(true);

    await new Promise((r) => setTimeout(r, 1100));
    const many = await app.ok<RawResult[]>({ cmd: 'connections', socket: socketPath, count: 6 });
    const refusedConnections = many.filter(
      (r) => errorOf(r)?.code === 'rate-limited' && /open connections/.test(errorOf(r)!.message),
    );
    // The app's own connection is open: 3 more fit under the limit of 4.
    expect(refusedConnections.length).toBe(3);
    await helper.waitForOutput(/connection refused .*code=rate-limited/, 5_000);
    expect(await snapshot()).toBe(applied);
  });

  it('removes device, routes, rules and DNS when the app dies', async () => {
    app.proc.kill('SIGKILL');
    await app.exited;
    const gone = await until(async () => !(await ns.links()).includes(device));
    expect(gone, helper.output.slice(-2000)).toBe(true);
    expect((await ns.ip('-4', 'rule', 'show')).stdout).not.toMatch(/0x2021fd0|539098368/);
    expect((await ns.ip('-6', 'rule', 'show')).stdout).not.toMatch(/539098368/);
    expect((await ns.ip('-4', 'route', 'show', 'table', 'all')).stdout).not.toContain(RESOURCE_NET);
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL_RESOLV);
    await helper.waitForOutput(/session cleaned up .*why=connection closed/, 5_000);

    // A new session can take the tunnel again, and close() ends it just as cleanly.
    const again = AppChild.start(NOBODY, gid);
    try {
      const opened = await again.ok<{ device: string }>({ cmd: 'open', socket: socketPath });
      await again.ok({ cmd: 'apply', config: CONFIG });
      await again.ok({ cmd: 'close' });
      expect(await until(async () => !(await ns.links()).includes(opened.device))).toBe(true);
      expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL_RESOLV);
    } finally {
      again.proc.kill('SIGKILL');
    }
    expect(existsSync(socketPath)).toBe(true);
  });
});
