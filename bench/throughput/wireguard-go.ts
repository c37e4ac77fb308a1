/** wireguard-go ⇄ wireguard-go (Debian's userspace WireGuard; the kernel has no wireguard module). */
import { genKeyPair, WireguardGo, type WgKeyPair } from '../../e2e/system/wireguard-go.js';
import type { Netns } from '../../e2e/system/netns.js';
import { INNER_A, INNER_B, INNER_PREFIX, WG_MTU, WG_PORT, type TunnelKind } from './kind.js';

/** Starts wireguard-go in `ns` with one peer; both sides know each other's endpoint. */
export function startWireguardGo(
  ns: Netns,
  self: { keys: WgKeyPair; inner: string; port: number },
  peer: { publicKey: string; inner: string; endpoint: string },
): Promise<WireguardGo> {
  return WireguardGo.start(ns, {
    privateKey: self.keys.privateKey,
    listenPort: self.port,
    addresses: [`${self.inner}/${INNER_PREFIX}`],
    mtu: WG_MTU,
    // Verbose logging is off the data path, but keep the peers on an equal footing with OpenVPN.
    logLevel: 'error',
    peers: [{ publicKey: peer.publicKey, endpoint: peer.endpoint, allowedIps: [`${peer.inner}/32`] }],
  });
}

export const wireguardGoKind: TunnelKind = {
  name: 'wireguard-go',
  label: 'wireguard-go ⇄ wireguard-go',
  requires: ['wireguard-go', 'wg'],
  async setup({ a, b, underlayA, underlayB }) {
    const [ka, kb] = [await genKeyPair(), await genKeyPair()];
    const wa = await startWireguardGo(
      a,
      { keys: ka, inner: INNER_A, port: WG_PORT },
      { publicKey: kb.publicKey, inner: INNER_B, endpoint: `${underlayB}:${WG_PORT}` },
    );
    const wb = await startWireguardGo(
      b,
      { keys: kb, inner: INNER_B, port: WG_PORT },
      { publicKey: ka.publicKey, inner: INNER_A, endpoint: `${underlayA}:${WG_PORT}` },
    );
    return {
      innerA: INNER_A,
      innerB: INNER_B,
      pids: [wa.process.pid, wb.process.pid],
      teardown: async () => {
        await Promise.all([wa.stop(), wb.stop()]);
      },
    };
  },
};
