/**
 * The interop topology shared by the wireguard-go interop test and the demo:
 *
 *   netns A: wireguard-go (wg iface 10.98.0.1/24)  ──veth 10.99.0.1 ⇄ 10.99.0.2──  netns B: our peer
 *
 * Our peer is a Node process running this project's WireGuard over a UDP socket; the kernel in
 * netns A answers the ICMP echoes it sends to 10.98.0.1 through the tunnel.
 */
import { genKeyPair, genPresharedKey, WireguardGo } from '../system/wireguard-go.js';
import type { Netns, NetnsHarness } from '../system/netns.js';
import { PeerClient } from './peer-client.js';

export const WG_TUNNEL_IP = '10.98.0.1';
export const OUR_TUNNEL_IP = '10.98.0.2';
export const WG_UNDERLAY_IP = '10.99.0.1';
export const OUR_UNDERLAY_IP = '10.99.0.2';
export const WG_PORT = 51820;
export const OUR_PORT = 51821;

export interface Topology {
  harness: NetnsHarness;
  nsWg: Netns;
  nsOurs: Netns;
  wg: WireguardGo;
  ours: PeerClient;
  ourPublicKey: string;
  presharedKey: string | undefined;
}

export interface TopologyOptions {
  presharedKey?: boolean;
  /** Give wireguard-go our endpoint, so that it can initiate (default false: it learns it). */
  wgKnowsOurEndpoint?: boolean;
  /** Our crypto backend (default: the fastest that loads). */
  backend?: 'sodium' | 'node' | 'noble';
}

export async function buildNamespaces(harness: NetnsHarness): Promise<{ nsWg: Netns; nsOurs: Netns }> {
  const nsWg = await harness.createNamespace();
  const nsOurs = await harness.createNamespace();
  await harness.connect(nsWg, nsOurs, { ipv4: [`${WG_UNDERLAY_IP}/24`, `${OUR_UNDERLAY_IP}/24`] });
  return { nsWg, nsOurs };
}

/** Starts a wireguard-go peer and our peer with fresh keys in the given namespaces. */
export async function startPeers(
  harness: NetnsHarness,
  nsWg: Netns,
  nsOurs: Netns,
  options: TopologyOptions = {},
): Promise<Topology> {
  const wgKeys = await genKeyPair();
  const ourKeys = await genKeyPair();
  const presharedKey = options.presharedKey ? await genPresharedKey() : undefined;
  const wg = await WireguardGo.start(nsWg, {
    privateKey: wgKeys.privateKey,
    listenPort: WG_PORT,
    addresses: [`${WG_TUNNEL_IP}/24`],
    peers: [
      {
        publicKey: ourKeys.publicKey,
        presharedKey,
        allowedIps: [`${OUR_TUNNEL_IP}/32`],
        endpoint: options.wgKnowsOurEndpoint ? `${OUR_UNDERLAY_IP}:${OUR_PORT}` : undefined,
      },
    ],
  });
  const ours = await PeerClient.start(harness, nsOurs, {
    privateKey: ourKeys.privateKey,
    peerPublicKey: wgKeys.publicKey,
    presharedKey,
    endpoint: { address: WG_UNDERLAY_IP, port: WG_PORT },
    bind: { address: OUR_UNDERLAY_IP, port: OUR_PORT },
    tunnelIp: OUR_TUNNEL_IP,
    peerTunnelIp: WG_TUNNEL_IP,
    backend: options.backend,
  });
  return { harness, nsWg, nsOurs, wg, ours, ourPublicKey: ourKeys.publicKey, presharedKey };
}

export async function stopPeers(t: Topology | undefined): Promise<void> {
  if (!t) return;
  await t.ours.exit();
  await t.wg.stop();
}
