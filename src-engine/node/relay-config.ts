/**
 * The portal's relay entries (`init.relays`, `relays_presence.connected`) as the node's relay
 * configurations: a dual-stack relay arrives as two entries with the same id (docs/protocol.md §3.8)
 * and becomes one relay with two server addresses; STUN-only entries are ignored.
 */
import { canonicalTransportAddress, type TransportAddress } from '../ice/transport-address.js';
import type { RelayConfig } from './node.js';

export interface PortalRelay {
  readonly type: string;
  readonly id: string;
  readonly addr?: string;
  readonly username?: string;
  readonly password?: string;
  readonly expires_at?: number;
}

/** `toClock` converts the portal's unix milliseconds to the node's clock. */
export function relayConfigs(
  relays: readonly PortalRelay[],
  toClock: (unixMs: number) => number,
): RelayConfig[] {
  const byId = new Map<string, RelayConfig>();
  for (const relay of relays) {
    if (relay.type !== 'turn' || relay.addr === undefined || relay.username === undefined) continue;
    const server = parseSocketAddress(relay.addr);
    if (!server) continue;
    const existing = byId.get(relay.id);
    byId.set(relay.id, {
      id: relay.id,
      servers: [...(existing?.servers ?? []), server],
      username: relay.username,
      password: relay.password ?? '',
      ...(relay.expires_at !== undefined ? { expiresAt: toClock(relay.expires_at * 1000) } : {}),
    });
  }
  return [...byId.values()];
}

/** `ip:port` or `[ip]:port`. */
export function parseSocketAddress(text: string): TransportAddress | undefined {
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  if (v6) return canonicalTransportAddress(v6[1]!, Number(v6[2]));
  const v4 = /^([\d.]+):(\d{1,5})$/.exec(text);
  if (v4) return canonicalTransportAddress(v4[1]!, Number(v4[2]));
  return undefined;
}
