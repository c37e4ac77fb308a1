import type { Endpoint } from './endpoint.js';

/**
 * Why a datagram or packet was dropped. Drops are counted per reason for diagnostics but never
 * answered differently on the wire: a prober learns nothing about which check failed.
 */
export type DropReason =
  | 'malformed' // not a WireGuard message frame (type, reserved bytes, length)
  | 'invalid_mac1'
  | 'rate_limited'
  | 'handshake_invalid' // did not decrypt/authenticate, or wrong state for it
  | 'wrong_peer' // an initiation from a static key that is not this peer's
  | 'timestamp_replay'
  | 'handshake_flood'
  | 'unknown_index'
  | 'expired_keypair'
  | 'counter_too_large'
  | 'replay'
  | 'decrypt_failed'
  | 'invalid_inner_packet' // decrypted plaintext is not an IPv4/IPv6 packet of consistent length
  | 'packet_too_large' // outgoing IP packet above the MTU
  | 'staged_overflow' // the queue of packets waiting for a handshake was full
  | 'no_endpoint' // nothing to send to yet
  | 'expired_handshake'; // rekey attempts exhausted; queued packets were dropped

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'invalid_mac1',
  'rate_limited',
  'handshake_invalid',
  'wrong_peer',
  'timestamp_replay',
  'handshake_flood',
  'unknown_index',
  'expired_keypair',
  'counter_too_large',
  'replay',
  'decrypt_failed',
  'invalid_inner_packet',
  'packet_too_large',
  'staged_overflow',
  'no_endpoint',
  'expired_handshake',
];

/** A typed error value; one frozen instance per reason so floods of bad input allocate nothing. */
export class WireGuardError extends Error {
  constructor(readonly reason: DropReason) {
    super(`wireguard: dropped (${reason})`);
    this.name = 'WireGuardError';
  }
}

const errors = Object.fromEntries(
  DROP_REASONS.map((r) => [r, Object.freeze(new WireGuardError(r))]),
) as Record<DropReason, WireGuardError>;

export function wgError(reason: DropReason): WireGuardError {
  return errors[reason];
}

/** A datagram to put on the network. */
export interface Transmit {
  readonly packet: Uint8Array;
  readonly to: Endpoint;
}

/**
 * What a call into the tunnel produced (boringtun's TunnResult):
 * - `network`: send `packet` to `to`;
 * - `tunnel`: write the decrypted IP `packet` to the TUN;
 * - `done`: nothing to do now;
 * - `error`: the input was dropped (already counted).
 * Calls may also queue further datagrams: drain `pollTransmit()` after every call.
 */
export type TunnResult =
  | { readonly type: 'done' }
  | { readonly type: 'network'; readonly packet: Uint8Array; readonly to: Endpoint }
  | { readonly type: 'tunnel'; readonly packet: Uint8Array }
  | { readonly type: 'error'; readonly error: WireGuardError };

export const DONE: TunnResult = Object.freeze({ type: 'done' });

export type TunnEvent =
  | { readonly type: 'handshake_completed'; readonly isInitiator: boolean; readonly at: number }
  | { readonly type: 'connection_expired'; readonly at: number }
  | { readonly type: 'keys_zeroed'; readonly at: number };
