/**
 * The part of the ICE agent (`../ice/agent/`) the node uses, so the node's logic can be read and
 * tested on its own. `createIceAgent` in `./ice-agent-adapter.ts` makes the real one.
 */
import type { LocalCandidateInit } from '../ice/agent/candidate.js';
import type { StunMessage } from '../ice/stun/message.js';
import type { TransportAddress } from '../ice/transport-address.js';
import type { IceCredentials } from '../tunnel/peer-node.js';

export type AgentEvent =
  | {
      readonly type: 'nominated';
      readonly local: TransportAddress;
      readonly remote: TransportAddress;
      readonly localKind: string;
      readonly remoteKind: string;
    }
  | { readonly type: 'disconnected' }
  | { readonly type: 'connected' }
  | { readonly type: 'failed'; readonly reason: string };

export interface AgentTransmit {
  /** The local base to send from: a host socket address, or one of our relayed addresses. */
  readonly source: TransportAddress;
  readonly destination: TransportAddress;
  readonly payload: Uint8Array;
}

export interface AgentPort {
  readonly localUfrag: string;
  /** Adds a local candidate; returns its SDP line to signal (undefined if refused or known). */
  addLocalCandidate(init: LocalCandidateInit, now: number): string | undefined;
  /** Removes the local candidate at `address`; returns its SDP line to invalidate, if it existed. */
  removeLocalCandidate(address: TransportAddress, now: number): string | undefined;
  /** A remote candidate from the portal; its parsed kind and address, or undefined if refused. */
  addRemoteCandidate(sdp: string, now: number): { kind: string; address: TransportAddress } | undefined;
  removeRemoteCandidate(sdp: string, now: number): void;
  /** Whether the STUN message was this agent's (a check for it, or a response to its check). */
  handleStun(message: StunMessage, from: TransportAddress, local: TransportAddress, now: number): boolean;
  ownsTransaction(message: StunMessage): boolean;
  /** Every local candidate's SDP line (for re-signalling on a reused connection). */
  localCandidateLines(): string[];
  pollTransmit(): AgentTransmit | undefined;
  pollEvent(): AgentEvent | undefined;
  pollTimeout(): number | undefined;
  handleTimeout(now: number): void;
  /** Whether it has nominated a pair now. */
  readonly nominated:
    { local: TransportAddress; remote: TransportAddress; localKind: string; remoteKind: string } | undefined;
  /** Round-trip time of the last check on the nominated pair. */
  readonly rttMs: number | undefined;
}

export interface AgentFactoryOptions {
  readonly role: 'controlling' | 'controlled';
  readonly localCredentials: IceCredentials;
  readonly remoteCredentials: IceCredentials;
  readonly now: number;
}

export type AgentFactory = (options: AgentFactoryOptions) => AgentPort;
