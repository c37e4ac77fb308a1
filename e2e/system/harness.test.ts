// System test of the test harness itself: namespaces, veth, process tracking, cleanup (also on
// signals and on exit), stale-namespace removal, and the wireguard-go fixture.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsHarness, WG_SOCKET_DIR, listNamespaces, pidAlive, removeStale, runCommand } from './netns.js';
import { WireguardGo, genKeyPair, genPresharedKey } from './wireguard-go.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const harness = new NetnsHarness();
// Things made outside a harness, removed in afterAll whatever happens.
const handMadeNamespaces: string[] = [];
const handMadeChildren: ChildProcess[] = [];
const handMadeDirs: string[] = [];

async function namespacePids(name: string): Promise<number[]> {
  const { stdout } = await runCommand('ip', ['netns', 'pids', name], { allowFailure: true });
  return stdout.split(/\s+/).filter(Boolean).map(Number);
}

function killQuietly(pid: number): void {
  if (pid === 0 || pid === -1 || pid === 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

beforeAll(async () => {
  await removeStale();
});

afterAll(async () => {
  try {
    await harness.cleanup();
  } finally {
    // process.kill, not /usr/bin/kill: procps' kill with a negative pid must never be used here.
    for (const child of handMadeChildren) if (child.pid) killQuietly(-child.pid);
    for (const name of handMadeNamespaces) {
      for (const pid of await namespacePids(name)) killQuietly(pid);
      await runCommand('ip', ['netns', 'del', name], { allowFailure: true });
    }
    for (const dir of handMadeDirs) rmSync(dir, { recursive: true, force: true });
  }
  expect((await listNamespaces()).filter((n) => n.startsWith(harness.prefix))).toEqual([]);
  expect(harness.trackedProcesses).toEqual([]);
});

describe('netns harness', () => {
  it('joins two namespaces with a veth pair that carries IPv4 and IPv6 both ways', async () => {
    const a = await harness.createNamespace();
    const b = await harness.createNamespace();
    expect(a.name).toMatch(new RegExp(`^fzt-${process.pid}-\\d+$`));
    const pair = await harness.connect(a, b, {
      ipv4: ['10.99.0.1/24', '10.99.0.2/24'],
      ipv6: ['fd00:99::1/64', 'fd00:99::2/64'],
    });
    expect(pair.a.ifname.length).toBeLessThanOrEqual(15);
    expect((await a.ip('-o', 'link', 'show', 'lo')).stdout).toMatch(/[<,]UP[,>]/);

    await a.exec('ping', ['-c', '1', '-W', '2', '10.99.0.2']);
    await b.exec('ping', ['-c', '1', '-W', '2', '10.99.0.1']);
    await a.exec('ping', ['-6', '-c', '1', '-W', '2', 'fd00:99::2']);
    await b.exec('ping', ['-6', '-c', '1', '-W', '2', 'fd00:99::1']);
    // Nothing links the namespaces to the host: they have no default route.
    expect((await a.ip('route', 'show', 'default')).stdout.trim()).toBe('');
    await expect(harness.connect(a, b, { ipv4: ['8.8.8.1/24', '8.8.8.2/24'] })).rejects.toThrow(/refusing/);
  });

  it('reports a failed command with its namespace, command line and stderr', async () => {
    const ns = await harness.createNamespace();
    await expect(ns.exec('ip', ['link', 'show', 'nosuchdev0'])).rejects.toThrow(
      new RegExp(`in netns ${ns.name} \\(exit code 1\\): ip link show nosuchdev0\\nstderr: .*nosuchdev0`),
    );
    const res = await ns.exec('sh', ['-c', 'echo out; echo err >&2; exit 3'], { allowFailure: true });
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3, signal: null });
    expect((await ns.exec('cat', [], { input: 'hello' })).stdout).toBe('hello');
    await expect(ns.exec('sleep', ['30'], { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);

    const proc = ns.spawn('sh', ['-c', 'echo starting; sleep 0.2; echo "listening on 5201"; sleep 30']);
    const match = await proc.waitForOutput(/listening on (\d+)/, 5_000);
    expect(match[1]).toBe('5201');
    await expect(proc.waitForOutput(/never printed/, 200)).rejects.toThrow(/timed out.*never printed/s);
    await proc.stop();
    expect(proc.running).toBe(false);
    expect(proc.output).toBe('starting\nlistening on 5201\n');
  });

  it('cleanup kills every process (stubborn, escaped) and deletes the namespaces; repeatable', async () => {
    const own = new NetnsHarness({ graceMs: 300 });
    try {
      const ns = await own.createNamespace();
      const dir = own.tempDir('keys');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const sleeper = ns.spawn('sleep', ['600']);
      const stubborn = ns.spawn('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 1; done']);
      await stubborn.waitForOutput(/ready/);
      // A daemon that left its process group: only the sweep of the namespace finds it.
      await ns.exec('sh', ['-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 &']);
      const pids = await namespacePids(ns.name);
      expect(pids.length).toBeGreaterThanOrEqual(3);

      await own.cleanup();
      expect(sleeper.running).toBe(false);
      expect(stubborn.running).toBe(false);
      expect((await stubborn.exited).signal).toBe('SIGKILL');
      expect(pids.filter(pidAlive)).toEqual([]);
      expect(await listNamespaces()).not.toContain(ns.name);
      expect(own.namespaceNames).toEqual([]);
      expect(existsSync(dir)).toBe(false);
      await own.cleanup();
      await Promise.all([own.cleanup(), own.cleanup()]);
    } finally {
      await own.cleanup();
    }
  });

  it.each(['SIGTERM', 'SIGINT', 'exit'] as const)(
    'cleans up when the test process ends by %s',
    async (how) => {
      const modulePath = new URL('./netns.ts', import.meta.url).href;
      const script = `
        import { NetnsHarness } from ${JSON.stringify(modulePath)};
        const h = new NetnsHarness({ graceMs: 200 });
        const ns = await h.createNamespace();
        const p = ns.spawn('sleep', ['600']);
        console.log('READY', ns.name, p.pid);
        if (${JSON.stringify(how)} === 'exit') setTimeout(() => { throw new Error('test body failed'); }, 50);
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: repoRoot,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      handMadeChildren.push(child);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      const deadline = Date.now() + 20_000;
      while (!/READY \S+ \d+\n/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const [, name, pid] = /READY (\S+) (\d+)\n/.exec(out)!;
      handMadeNamespaces.push(name!);
      expect(await listNamespaces()).toContain(name);
      expect(pidAlive(Number(pid))).toBe(true);

      if (how !== 'exit') child.kill(how);
      const result = await exited;
      if (how === 'exit') expect(result.code).toBe(1);
      else expect(result.signal).toBe(how);
      expect(await listNamespaces()).not.toContain(name);
      expect(pidAlive(Number(pid))).toBe(false);
    },
  );

  it('removeStale deletes namespaces of dead runs and kills what runs in them', async () => {
    const deadPid = spawnSync('true').pid!;
    expect(pidAlive(deadPid)).toBe(false);
    const name = `fzt-${deadPid}-0`;
    handMadeNamespaces.push(name);
    await runCommand('ip', ['netns', 'add', name]);
    const orphan = spawn('ip', ['netns', 'exec', name, 'sleep', '600'], { detached: true, stdio: 'ignore' });
    handMadeChildren.push(orphan);
    const deadline = Date.now() + 5_000;
    while ((await namespacePids(name)).length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const mine = await harness.createNamespace();
    const staleDir = join(tmpdir(), `fzt-${deadPid}-wg-AbC123`);
    mkdirSync(staleDir, { recursive: true });
    handMadeDirs.push(staleDir);

    const removed = await removeStale();
    expect(removed).toContain(name);
    expect(removed).toContain(staleDir);
    expect(existsSync(staleDir)).toBe(false);
    const left = await listNamespaces();
    expect(left).not.toContain(name);
    expect(left).toContain(mine.name); // ours is alive: kept
    expect(pidAlive(orphan.pid!)).toBe(false);
  });
});

describe('wireguard-go fixture', () => {
  it('two wireguard-go peers in two namespaces handshake and ping through the tunnel', async () => {
    const a = await harness.createNamespace();
    const b = await harness.createNamespace();
    await harness.connect(a, b, { ipv4: ['10.99.1.1/24', '10.99.1.2/24'] });
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const psk = await genPresharedKey();

    // b starts first and has no endpoint for a: it learns it from a's handshake initiation.
    // (a, with its keepalive, sends an initiation as soon as it is configured; one that finds no
    // listener is only retried after 5 s.)
    const wb = await WireguardGo.start(b, {
      privateKey: kb.privateKey,
      listenPort: 51820,
      addresses: ['10.98.1.2/24', 'fd00:98::2/64'],
      peers: [{ publicKey: ka.publicKey, presharedKey: psk, allowedIps: ['10.98.1.1/32', 'fd00:98::1/128'] }],
    });
    const wa = await WireguardGo.start(a, {
      privateKey: ka.privateKey,
      listenPort: 51820,
      addresses: ['10.98.1.1/24', 'fd00:98::1/64'],
      peers: [
        {
          publicKey: kb.publicKey,
          presharedKey: psk,
          endpoint: '10.99.1.2:51820',
          allowedIps: ['10.98.1.2/32', 'fd00:98::2/128'],
          persistentKeepalive: 25,
        },
      ],
    });
    expect(wa.publicKey).toBe(ka.publicKey);
    expect(wa.ifname).not.toBe(wb.ifname);
    expect(wa.ifname.length).toBeLessThanOrEqual(15);
    expect(wb.listenPort).toBe(51820);
    const before = await wa.show();
    expect(before.peers).toEqual([
      expect.objectContaining({
        publicKey: kb.publicKey,
        hasPresharedKey: true,
        endpoint: '10.99.1.2:51820',
        allowedIps: ['10.98.1.2/32', 'fd00:98::2/128'],
        persistentKeepalive: 25,
      }),
    ]);

    await a.exec('ping', ['-c', '1', '-W', '5', '10.98.1.2']);
    const pa = await wa.waitForHandshake(kb.publicKey);
    const pb = await wb.waitForHandshake(ka.publicKey);
    expect(pa.latestHandshake).toBeGreaterThan(0);
    expect(pb.endpoint).toBe('10.99.1.1:51820');

    const ping = await b.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.98.1.1']);
    expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
    await a.exec('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', 'fd00:98::2']);
    const after = (await wa.peer(kb.publicKey))!;
    expect(after.txBytes).toBeGreaterThan(0);
    expect(after.rxBytes).toBeGreaterThan(0);

    await wb.setPeerEndpoint(ka.publicKey, '10.99.1.1:51820');
    expect((await wb.peer(ka.publicKey))?.endpoint).toBe('10.99.1.1:51820');
    await wb.removePeer(ka.publicKey);
    expect((await wb.show()).peers).toEqual([]);

    await wa.stop();
    expect(wa.process.running).toBe(false);
    expect(await a.links()).not.toContain(wa.ifname);
    expect(existsSync(`${WG_SOCKET_DIR}/${wa.ifname}.sock`)).toBe(false);
    // wb is left running: the harness cleanup stops it.
  });
});
