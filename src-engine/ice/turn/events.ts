/** What a TURN client reports, and why an allocation failed or was lost. */
import type { TransportAddress } from '../transport-address.js';

/** The request a failure or timeout belongs to. */
export type TurnRequestKind =
  'binding' | 'allocate' | 'refresh' | 'permission' | 'channel_bind' | 'deallocate';

export type TurnFailure =
  /** No answer within the retransmission budget (for a relay: "is STUN blocked?"). */
  | { readonly kind: 'timeout'; readonly request: TurnRequestKind }
  /** 401 although we sent credentials (RFC 8489 §9.2.5): wrong, expired or unknown credentials. */
  | { readonly kind: 'unauthorized'; readonly code: number; readonly reason: string }
  /** A 401 without REALM and NONCE: nothing to authenticate with. */
  | { readonly kind: 'bad_challenge' }
  /** 438 again and again (RFC 8489 §9.2.5 allows one retry per new nonce; we allow a few). */
  | { readonly kind: 'stale_nonce_loop' }
  /** 437 (RFC 8656 §7.2, §8): the relay has no (or another) allocation for our 5-tuple. */
  | { readonly kind: 'allocation_mismatch' }
  /** The relay's answer needs attributes we do not understand (RFC 8489 §7.3.3). */
  | { readonly kind: 'unknown_attributes'; readonly types: readonly number[] }
  /** Any other error response. */
  | {
      readonly kind: 'error_response';
      readonly request: TurnRequestKind;
      readonly code: number;
      readonly reason: string;
    }
  /** The portal's credentials expired; no authenticated request can be sent. */
  | { readonly kind: 'credentials_expired' };

export function describeTurnFailure(failure: TurnFailure): string {
  switch (failure.kind) {
    case 'timeout':
      return `no answer from the relay to ${failure.request} (is STUN blocked?)`;
    case 'unauthorized':
      return `the relay rejected our credentials (${failure.code} ${failure.reason})`.trim();
    case 'bad_challenge':
      return 'the relay asked for authentication without a REALM and NONCE';
    case 'stale_nonce_loop':
      return 'the relay kept answering 438 Stale Nonce';
    case 'allocation_mismatch':
      return 'the relay reports an allocation mismatch (437)';
    case 'unknown_attributes':
      return `the relay sent unknown comprehension-required attributes ${failure.types.map((t) => `0x${t.toString(16)}`).join(', ')}`;
    case 'error_response':
      return `the relay answered ${failure.request} with ${failure.code} ${failure.reason}`.trim();
    case 'credentials_expired':
      return 'the relay credentials expired';
  }
}

export type TurnEvent =
  /** The local address a relay's answer arrived on, when the driver knows it (IP_PKTINFO). */
  | { readonly type: 'host_candidate'; readonly address: TransportAddress }
  /** Our address as the relay sees it (XOR-MAPPED-ADDRESS); `base` is the host address, if known. */
  | {
      readonly type: 'srflx_candidate';
      readonly address: TransportAddress;
      readonly base: TransportAddress | undefined;
      readonly server: TransportAddress;
    }
  /** The allocation exists: its relayed address(es), one per family (RFC 8656 §7.3). */
  | {
      readonly type: 'relay_candidates';
      readonly addresses: readonly TransportAddress[];
      readonly lifetimeSeconds: number;
    }
  | { readonly type: 'allocation_failed'; readonly reason: TurnFailure }
  /** An allocation we had is gone; its relay candidates are invalid. */
  | { readonly type: 'allocation_lost'; readonly reason: TurnFailure }
  | { readonly type: 'refreshed'; readonly lifetimeSeconds: number }
  | { readonly type: 'permission_created'; readonly ip: string }
  | { readonly type: 'permission_failed'; readonly ip: string; readonly reason: TurnFailure }
  | { readonly type: 'channel_bound'; readonly peer: TransportAddress; readonly channel: number }
  | {
      readonly type: 'channel_bind_failed';
      readonly peer: TransportAddress;
      readonly channel: number;
      readonly reason: TurnFailure;
    };

/** What the client did with one datagram handed to `handleInput`. */
export type TurnInput =
  /** Not from this relay, or neither STUN nor ChannelData: the caller should look elsewhere. */
  | { readonly type: 'not_turn' }
  /** A control message, consumed. */
  | { readonly type: 'handled' }
  /**
   * Data relayed from `peer`, by ChannelData (`channel` set) or a Data indication. `payload` is a
   * view into the datagram: no copy on the relayed data path.
   */
  | {
      readonly type: 'data';
      readonly peer: TransportAddress;
      readonly payload: Uint8Array;
      readonly channel: number | undefined;
    }
  /** Dropped and counted in `drops` under `reason`. */
  | { readonly type: 'dropped'; readonly reason: TurnDropReason };

export type TurnDropReason =
  | 'malformed_stun'
  | 'malformed_channel_data'
  /** A response whose transaction ID we did not send (or already answered). */
  | 'unknown_transaction'
  /** A response from another address than the one its request went to. */
  | 'wrong_source'
  /** A response of another method than its request. */
  | 'method_mismatch'
  /** A response without valid MESSAGE-INTEGRITY where it must have one. */
  | 'bad_integrity'
  /** A response without the attributes its kind must carry. */
  | 'malformed_response'
  /** Requests, and indications other than Data: a client does not serve them. */
  | 'unexpected_message'
  /** ChannelData on a channel we have not bound. */
  | 'unbound_channel'
  /** A Data indication from a peer we have no permission for. */
  | 'no_permission'
  /** Relayed data, in or out, while we have no allocation (before, after loss, after free). */
  | 'not_allocated'
  /** Outbound: no channel and no permission for that peer yet. */
  | 'send_no_permission'
  /** Outbound: payload larger than a ChannelData or Send indication can carry. */
  | 'send_too_large';
