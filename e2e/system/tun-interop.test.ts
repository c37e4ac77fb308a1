/**
 * Our tunnel with a real TUN against wireguard-go: in netns B, our engine (worker thread,
 * node-tun TUN + batched UDP) is a WireGuard interface; in netns A, wireguard-go. The kernel's
 * own tools talk through it: ping, curl of an HTTP server behind wireguard-go, and iperf3.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TunnelConfig } from '../../src-engine/host/protocol.js';
import { NetnsHarness, type Netns, type NsProcess } from './netns.js';
import { genKeyPair, WireguardGo } from './wireguard-go.js';

const TUNNEL_MAIN = fileURLToPath(new URL('../wg-tunnel/tunnel-main.ts', import.meta.url));
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

const harness = new NetnsHarness();
let nsWg: Netns;
let nsOurs: Netns;
let wg: WireguardGo;
let ours: NsProcess;
let ourPublicKey: string;

beforeAll(async () => {
  nsWg = await harness.createNamespace();
  nsOurs = await harness.createNamespace();
  await harness.connect(nsWg, nsOurs, { ipv4: ['10.99.0.1/24', '10.99.0.2/24'] });
  const wgKeys = await genKeyPair();
  const ourKeys = await genKeyPair();
  ourPublicKey = ourKeys.publicKey;
  wg = await WireguardGo.start(nsWg, {
    privateKey: wgKeys.privateKey,
    listenPort: 51820,
    addresses: ['10.98.0.1/24', 'fd00:98::1/64'],
    mtu: 1280,
    peers: [{ publicKey: ourKeys.publicKey, allowedIps: ['10.98.0.2/32', 'fd00:98::2/128'] }],
  });
  const config: TunnelConfig = {
    privateKey: ourKeys.privateKey,
    addresses: ['10.98.0.2/24', 'fd00:98::2/64'],
    mtu: 1280,
    listen: { address: '10.99.0.2', port: 51821 },
    peers: [
      {
        publicKey: wgKeys.publicKey,
        endpoint: { address: '10.99.0.1', port: 51820 },
        allowedIps: ['10.98.0.0/24', 'fd00:98::/64'],
      },
    ],
  };
  ours = nsOurs.spawn(process.execPath, ['--import', TSX, TUNNEL_MAIN, JSON.stringify(config)], {
    label: 'our-tunnel',
  });
  await ours.waitForOutput(/READY/, 30_000);
}, 60_000);

afterAll(async () => {
  await harness.cleanup();
});

async function ourStats(): Promise<{
  peers: { handshakesCompleted: number; dropped: Record<string, number> }[];
}> {
  const before = ours.stdout.length;
  ours.kill('SIGUSR1');
  await ours.waitForOutput(/STATS .*\n/, 5_000, 'stdout');
  const line = ours.stdout
    .slice(before)
    .split('\n')
    .find((l) => l.startsWith('STATS '));
  return JSON.parse(line!.slice(6)) as {
    peers: { handshakesCompleted: number; dropped: Record<string, number> }[];
  };
}

describe('our TUN tunnel against wireguard-go', () => {
  it('carries the kernel’s ping both ways, over IPv4 and IPv6', async () => {
    const out = await nsOurs.exec('ping', ['-c', '20', '-i', '0.01', '-W', '2', '10.98.0.1']);
    expect(out.stdout).toMatch(/20 packets transmitted, 20 received/);
    const back = await nsWg.exec('ping', ['-c', '20', '-i', '0.01', '-W', '2', '10.98.0.2']);
    expect(back.stdout).toMatch(/20 packets transmitted, 20 received/);
    const v6 = await nsOurs.exec('ping', ['-6', '-c', '10', '-i', '0.01', '-W', '2', 'fd00:98::1']);
    expect(v6.stdout).toMatch(/10 packets transmitted, 10 received/);
    expect((await wg.peer(ourPublicKey))?.latestHandshake).toBeGreaterThan(0);
  });

  it('fetches a page with curl from an HTTP server behind wireguard-go', async () => {
    const server = nsWg.spawn(
      process.execPath,
      [
        '-e',
        "require('http').createServer((q,s)=>s.end('x'.repeat(200000))).listen(8080,'10.98.0.1',()=>console.log('up'))",
      ],
      { label: 'http-server' },
    );
    await server.waitForOutput(/up/);
    const res = await nsOurs.exec('curl', [
      '-sS',
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{size_download}',
      'http://10.98.0.1:8080/',
    ]);
    expect(res.stdout).toBe('200 200000');
    await server.stop();
  });

  it('moves an iperf3 TCP stream through the tunnel with no decryption errors', async () => {
    const server = nsWg.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', '10.98.0.1'], { label: 'iperf3-server' });
    await server.waitForOutput(/Server listening/);
    const res = await nsOurs.exec('iperf3', ['-c', '10.98.0.1', '-t', '3', '-J'], { timeoutMs: 30_000 });
    const report = JSON.parse(res.stdout) as {
      end: { sum_received: { bits_per_second: number; bytes: number } };
    };
    const mbps = report.end.sum_received.bits_per_second / 1e6;
    console.log(`iperf3 through our tunnel ⇄ wireguard-go: ${mbps.toFixed(0)} Mbit/s`);
    expect(report.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    const stats = await ourStats();
    expect(stats.peers[0]!.dropped.decrypt_failed).toBe(0);
    expect(stats.peers[0]!.dropped.replay).toBe(0);
    await server.waitForExit(5_000);
  });
});
