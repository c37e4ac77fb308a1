/** The JSON-lines protocol between a test (or the demo) and `peer-main.ts`. */
import type { Endpoint } from '../../src-engine/wireguard/endpoint.js';
import type { TunnStats } from '../../src-engine/wireguard/tunn.js';

export interface PeerConfig {
  /** base64 keys, as `wg` prints them. */
  privateKey: string;
  peerPublicKey: string;
  presharedKey?: string;
  /** Where the peer (wireguard-go) listens; absent when the peer is to initiate. */
  endpoint?: Endpoint;
  bind: { address: string; port?: number };
  tunnelIp: string;
  peerTunnelIp: string;
  backend?: 'sodium' | 'node' | 'noble';
  mtu?: number;
}

export type PeerCommand =
  | { cmd: 'initiate'; timeoutMs?: number }
  | { cmd: 'ping'; count: number; window?: number; timeoutMs?: number; payloadSize?: number }
  | { cmd: 'skip'; ms: number }
  | { cmd: 'rebind' }
  | { cmd: 'stats' }
  | { cmd: 'waitHandshakes'; count: number; timeoutMs?: number }
  | { cmd: 'exit' };

export interface PingResult {
  sent: number;
  replies: number;
  rttP50Ms: number;
  rttP99Ms: number;
}

export interface PeerStats extends TunnStats {
  endpoint: Endpoint | undefined;
  localPort: number;
  echoRequestsAnswered: number;
  hasSession: boolean;
}
