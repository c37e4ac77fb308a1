/**
 * Our tunnel with a real TUN (engine worker + node-tun) in one namespace, wireguard-go in the
 * other, joined by the veth of `buildNamespaces` (10.99.0.1 ⇄ 10.99.0.2). Tunnel addresses:
 * wireguard-go 10.98.0.1 / fd00:98::1, ours 10.98.0.2 / fd00:98::2. Shared by the real-TUN
 * interop test and the demo.
 */
import { fileURLToPath } from 'node:url';
import type { EngineStats, TunnelConfig } from '../../src-engine/host/protocol.js';
import type { Netns, NetnsHarness, NsProcess } from '../system/netns.js';
import { genKeyPair, WireguardGo } from '../system/wireguard-go.js';

const TUNNEL_MAIN = fileURLToPath(new URL('./tunnel-main.ts', import.meta.url));
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface TunTopology {
  wg: WireguardGo;
  ours: NsProcess;
  ourPublicKey: string;
  /** Asks our tunnel process for its engine stats (SIGUSR1 → a STATS line). */
  stats(): Promise<EngineStats>;
  stop(): Promise<void>;
}

export async function startTunTopology(
  _harness: NetnsHarness,
  nsWg: Netns,
  nsOurs: Netns,
  options: { cryptoLanes?: 1 | 2 } = {},
): Promise<TunTopology> {
  const wgKeys = await genKeyPair();
  const ourKeys = await genKeyPair();
  const wg = await WireguardGo.start(nsWg, {
    privateKey: wgKeys.privateKey,
    listenPort: 51820,
    addresses: ['10.98.0.1/24', 'fd00:98::1/64'],
    mtu: 1280,
    peers: [{ publicKey: ourKeys.publicKey, allowedIps: ['10.98.0.2/32', 'fd00:98::2/128'] }],
  });
  const config: TunnelConfig = {
    privateKey: ourKeys.privateKey,
    interfaceName: 'fz0',
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
    ...(options.cryptoLanes !== undefined ? { cryptoLanes: options.cryptoLanes } : {}),
  };
  const ours = nsOurs.spawn(process.execPath, ['--import', TSX, TUNNEL_MAIN, JSON.stringify(config)], {
    label: 'our-tunnel',
  });
  await ours.waitForOutput(/READY/, 30_000);
  return {
    wg,
    ours,
    ourPublicKey: ourKeys.publicKey,
    async stats() {
      const before = ours.stdout.length;
      ours.kill('SIGUSR1');
      for (let i = 0; i < 100; i++) {
        const line = ours.stdout
          .slice(before)
          .split('\n')
          .find((l, idx, all) => l.startsWith('STATS ') && idx < all.length - 1);
        if (line) return JSON.parse(line.slice(6)) as EngineStats;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('our tunnel did not report its stats');
    },
    async stop() {
      await ours.stop();
      await wg.stop();
    },
  };
}
