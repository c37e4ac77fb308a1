/**
 * The Internet resource must not loop the engine's own traffic through the TUN (Linux).
 *
 *   client netns                                            inet netns ("the internet")
 *   tun-fwm 100.66.0.1, fd00:66::1  (node-tun, read here)
 *   veth 10.77.0.1/24, fd00:77::1/64  <──── veth ────>  10.77.0.2/24, fd00:77::2/64 (LAN neighbour)
 *   default via 10.77.0.2 / fd00:77::2                     lo: 10.78.0.2, fd00:78::2 (far hosts)
 *
 * With 0.0.0.0/0 and ::/0 applied by LinuxInterface (policy routing), packets from the engine's
 * marked sockets (native and dgram UDP, TCP from createTcpSocket, the portal's WebSocket over ws
 * and wss) reach the far hosts through the veth, while unmarked packets to the same addresses go
 * into the TUN, where the client reads them; the LAN neighbour stays reachable unmarked. Without
 * the default routes, unmarked packets take the veth again. Rules survive a "crash" (a fresh
 * LinuxInterface applies over leftovers) and cleanup() removes everything.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientCommand, type ProbeResult, WSS_HOST, WS_PORT, WSS_PORT } from './fwmark-child.js';
import { NetnsHarness, runCommand, type Netns, type NsProcess } from './netns.js';

const CHILD = fileURLToPath(new URL('./fwmark-child.ts', import.meta.url));
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const REPO = fileURLToPath(new URL('../../', import.meta.url));

const FAR4 = '10.78.0.2';
const FAR6 = 'fd00:78::2';
const LAN4 = '10.77.0.2';
const RESOURCE = '10.200.1.1';
const ROUTES = ['10.200.0.0/16'];
const INTERNET = [...ROUTES, '0.0.0.0/0', '::/0'];

const harness = new NetnsHarness({ base: 'fzfw' });
/** `ip rule` prints table numbers in decimal. */
const RULE = {
  resources: /^100:\s+not from all fwmark 0xfd002021 lookup 539098368\s*$/m, // 0x2021fd00
  lan: /^200:\s+not from all fwmark 0xfd002021 lookup 539098369\s*$/m, // 0x2021fd01
  defaults: /^300:\s+not from all fwmark 0xfd002021 lookup 539098370\s*$/m, // 0x2021fd02
};
const TABLES = ['0x2021fd00', '0x2021fd01', '0x2021fd02'];
let clientNs: Netns;
let inetNs: Netns;
let client: Client;

/** The client fixture, driven over stdin/stdout. */
class Client {
  private nextId = 1;
  private buffer = '';
  private readonly waiting = new Map<
    number,
    (reply: { ok: boolean; result?: unknown; error?: string }) => void
  >();

  constructor(readonly proc: NsProcess) {
    proc.child.stdout?.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (!line.startsWith('RPC ')) continue;
        const reply = JSON.parse(line.slice(4)) as {
          id: number;
          ok: boolean;
          result?: unknown;
          error?: string;
        };
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  call<T>(command: ClientCommand, timeoutMs = 20_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply to ${JSON.stringify(command)}\n${this.proc.output.slice(-3000)}`));
      }, timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(`${command.cmd} failed in the client: ${reply.error}`));
      });
      this.proc.child.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  udp(marked: boolean, address: string): Promise<ProbeResult> {
    return this.call({ cmd: 'udp', marked, address });
  }

  tcp(marked: boolean, address: string): Promise<ProbeResult> {
    return this.call({ cmd: 'tcp', marked, address });
  }
}

const VIA_VETH = (payloadSeen: ProbeResult): void => {
  expect(payloadSeen.tun).toBe(false);
  expect(payloadSeen.answer).toMatch(/^echo:probe-/);
};
const INTO_TUN = (payloadSeen: ProbeResult): void => {
  expect(payloadSeen.tun).toBe(true);
  expect(payloadSeen.answer).toBeNull();
};

beforeAll(async () => {
  clientNs = await harness.createNamespace();
  inetNs = await harness.createNamespace();
  await harness.connect(clientNs, inetNs, {
    ipv4: ['10.77.0.1/24', `${LAN4}/24`],
    ipv6: ['fd00:77::1/64', 'fd00:77::2/64'],
    names: ['eth-fw', 'eth-fw'],
  });
  await inetNs.addAddress('lo', `${FAR4}/32`);
  await inetNs.addAddress('lo', `${FAR6}/128`);
  await clientNs.ip('route', 'add', 'default', 'via', LAN4);
  await clientNs.ip('-6', 'route', 'add', 'default', 'via', 'fd00:77::2');
  // Loose reverse-path filtering, as most distributions ship it (see the report on strict mode).
  await clientNs.sysctl('net.ipv4.conf.all.rp_filter', 2);

  const certDir = harness.tempDir('cert');
  await runCommand('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${WSS_HOST}`,
    '-addext',
    `subjectAltName=DNS:${WSS_HOST}`,
    '-keyout',
    join(certDir, 'key.pem'),
    '-out',
    join(certDir, 'cert.pem'),
  ]);

  const server = inetNs.spawn(
    process.execPath,
    ['--import', TSX, CHILD, 'server', certDir, FAR4, FAR6, LAN4],
    {
      label: 'fwmark inet server',
      cwd: REPO,
    },
  );
  await server.waitForOutput(/SERVING/, 30_000);

  const proc = clientNs.spawn(process.execPath, ['--import', TSX, CHILD, 'client'], {
    label: 'fwmark client',
    stdin: 'pipe',
    cwd: REPO,
    env: { NODE_EXTRA_CA_CERTS: join(certDir, 'cert.pem') },
  });
  client = new Client(proc);
  await proc.waitForOutput(/RPC \{"id":0/, 30_000, 'stdout');
}, 90_000);

afterAll(async () => {
  await harness.cleanup();
  expect(harness.namespaceNames).toEqual([]);
});

describe('Internet resource on Linux: the engine’s own traffic bypasses the TUN', () => {
  it('before any default route, everything takes the veth; resource routes go to the TUN', async () => {
    const state = await client.call<Record<string, string>>({ cmd: 'apply', routes: ROUTES });
    expect(state['-4 rule']).toMatch(RULE.resources);
    expect(state['-6 rule']).toMatch(RULE.resources);
    expect(state['-4 rule']).not.toMatch(/^(200|300):/m);
    expect(state['-4 0x2021fd00']).toMatch(/^10\.200\.0\.0\/16 dev tun-fwm/m);
    VIA_VETH(await client.udp(false, FAR4));
    INTO_TUN(await client.udp(false, RESOURCE));
  });

  it('with 0.0.0.0/0 and ::/0: rules at 200 and 300, LAN copies and the defaults in their tables', async () => {
    const state = await client.call<Record<string, string>>({ cmd: 'apply', routes: INTERNET });
    for (const family of ['-4', '-6']) {
      const rules = state[`${family} rule`]!;
      expect(rules).toMatch(RULE.resources);
      expect(rules).toMatch(RULE.lan);
      expect(rules).toMatch(RULE.defaults);
      expect(state[`${family} 0x2021fd02`]).toMatch(/^default dev tun-fwm/m);
    }
    expect(state['-4 0x2021fd01']).toMatch(/^10\.77\.0\.0\/24 dev eth-fw scope link src 10\.77\.0\.1/m);
    expect(state['-6 0x2021fd01']).toMatch(/^fd00:77::\/64 dev eth-fw/m);
    expect(state['-4 0x2021fd01']).not.toContain('tun-fwm');
  });

  it('(a) marked UDP (engine sockets and the DNS helper) and marked TCP reach the far host through the veth', async () => {
    for (const kind of ['native', 'dgram', 'openUdpSockets'] as const) {
      VIA_VETH(await client.call({ cmd: 'engineUdp', kind, address: FAR4 }));
      VIA_VETH(await client.call({ cmd: 'engineUdp', kind, address: FAR6 }));
    }
    VIA_VETH(await client.udp(true, FAR4));
    VIA_VETH(await client.udp(true, FAR6));
    VIA_VETH(await client.tcp(true, FAR4));
    VIA_VETH(await client.tcp(true, FAR6));
  });

  it('(a) the portal WebSocket with the mark: ws by address, wss by name with its own lookup', async () => {
    expect(await client.call({ cmd: 'ws', url: `ws://${FAR4}:${WS_PORT}/client/v2/websocket` })).toEqual({
      answer: 'hello over ws',
      tun: false,
    });
    expect(await client.call({ cmd: 'ws', url: `ws://[${FAR6}]:${WS_PORT}/` })).toEqual({
      answer: 'hello over ws',
      tun: false,
    });
    expect(
      await client.call({
        cmd: 'ws',
        url: `wss://${WSS_HOST}:${WSS_PORT}/client/v2/websocket`,
        lookupTo: FAR4,
      }),
    ).toEqual({ answer: 'hello over wss', tun: false });
  });

  it('(b) unmarked UDP and TCP to the same addresses go into the TUN; the LAN stays reachable', async () => {
    INTO_TUN(await client.udp(false, FAR4));
    INTO_TUN(await client.udp(false, FAR6));
    INTO_TUN(await client.tcp(false, FAR4));
    INTO_TUN(await client.udp(false, RESOURCE));
    // The LAN neighbour, through the copy of the on-link route in table 0x2021fd01.
    VIA_VETH(await client.udp(false, LAN4));
    // The marked engine traffic to an address inside a resource range does not loop either.
    const marked = await client.udp(true, RESOURCE);
    expect(marked.tun).toBe(false);
  });

  it('starting again over leftovers (a crash) works and leaves one rule of each', async () => {
    const state = await client.call<Record<string, string>>({ cmd: 'apply', routes: INTERNET, fresh: true });
    for (const family of ['-4', '-6']) {
      const rules = state[`${family} rule`]!;
      for (const table of TABLES)
        expect(rules.split('\n').filter((l) => l.includes(`lookup ${Number(table)}`))).toHaveLength(1);
    }
    INTO_TUN(await client.udp(false, FAR4));
    VIA_VETH(await client.udp(true, FAR4));
  });

  it('(c) without the default routes, unmarked packets take the veth again', async () => {
    const state = await client.call<Record<string, string>>({ cmd: 'apply', routes: ROUTES });
    for (const family of ['-4', '-6']) {
      expect(state[`${family} rule`]).not.toMatch(RULE.lan);
      expect(state[`${family} rule`]).not.toMatch(RULE.defaults);
      expect(state[`${family} rule`]).toMatch(RULE.resources);
      expect(state[`${family} 0x2021fd01`]).toBe('');
      expect(state[`${family} 0x2021fd02`]).toBe('');
    }
    VIA_VETH(await client.udp(false, FAR4));
    VIA_VETH(await client.udp(false, FAR6));
    VIA_VETH(await client.tcp(false, FAR4));
    INTO_TUN(await client.udp(false, RESOURCE));
  });

  it('cleanup() removes every rule and route of the engine’s tables', async () => {
    await client.call({ cmd: 'apply', routes: INTERNET });
    const state = await client.call<Record<string, string>>({ cmd: 'cleanup' });
    for (const family of ['-4', '-6']) {
      expect(state[`${family} rule`]).not.toMatch(/fwmark|53909836/);
      for (const table of TABLES) expect(state[`${family} ${table}`]).toBe('');
    }
    VIA_VETH(await client.udp(false, FAR4));
    await client.call({ cmd: 'exit' });
  });
});
