/**
 * A sans-IO ICE agent for one connection (RFC 8445, one component over UDP, trickled candidates)
 * with consent freshness (RFC 7675), behaving as Firezone's agents do (docs/protocol.md §5.2–§5.6).
 *
 * It never touches a socket or a clock: the driver feeds it candidates (`addLocalCandidate`,
 * `addRemoteCandidate`), STUN Binding messages (`handleStun`) and time (`handleTimeout`), and
 * polls what to send (`pollTransmit`), what happened (`pollEvent`) and when to wake it
 * (`pollTimeout`). Every transmit names the local base to send from: a host socket address, or
 * one of our relayed addresses, in which case the driver sends it through its TURN allocation.
 *
 * States:
 *   checking ──nominated──▶ connected ──consent lost──▶ disconnected ──answer / renomination──▶ connected
 *      │                                                  │ > 2 s, no other working pair
 *      └── no candidates in 10 s / all pairs failed ──────┴──▶ failed   (restart() ⇒ checking)
 *
 * Nomination (RFC 8445 §8.1.1, "regular"): once a pair is valid, the controlling agent sends a
 * new check with USE-CANDIDATE on the best valid pair — at once when no better pair can still
 * succeed, else after NOMINATION_SETTLE_MS — and selects it when that check is answered. Like
 * Firezone (str0m), it then keeps checking the pairs above the selected one and re-nominates a
 * better pair when one becomes valid, and re-nominates a working lower pair when consent on the
 * selected one is lost. The controlled agent selects the pair of the latest USE-CANDIDATE it
 * received once that pair is valid (§7.3.1.5); the controlling agent's consent checks carry
 * USE-CANDIDATE, so a stale nomination reordered in the network is corrected at the next one.
 *
 * Timers (constants.ts): checks retransmit with Firezone's per-role profiles (client 12 × 250 ms
 * doubling to 1.5 s, gateway 45 × up to 15 s; idle 25 s), new checks are not paced (Ta = 0, as
 * Firezone; `taMs` paces them), consent is checked every 5 s ± 20 % and lost after 30 s
 * (RFC 7675), and a disconnected agent fails after 2 s unless another pair still answers.
 *
 * Not implemented: multiple components or data streams, TCP candidates, local peer-reflexive
 * candidates from XOR-MAPPED-ADDRESS (the checked pair itself becomes valid; the mapped address
 * is only needed to signal such candidates, which Firezone does not do), aggressive nomination.
 */
import { readU32 } from '../../packet/bytes.js';
import { METHOD_BINDING } from '../constants.js';
import type { StunAttribute } from '../stun/attributes.js';
import { shortTermKey } from '../stun/credentials.js';
import { cryptoRandom, transactionKey, type RandomSource } from '../stun/header.js';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  verifyIntegrity,
  type StunMessage,
} from '../stun/message.js';
import {
  canonicalTransportAddress,
  familyOf,
  sameTransportAddress,
  type TransportAddress,
} from '../transport-address.js';
import {
  addressKey,
  checkLocalCandidate,
  defaultLocalPreference,
  makeLocalCandidate,
  pairPriority,
  parseCandidate,
  sortByPriority,
  writeCandidate,
  type CandidateKind,
  type CandidateParseError,
  type LocalCandidate,
  type LocalCandidateInit,
  type LocalCandidateKind,
  type RemoteCandidate,
} from './candidate.js';
import {
  checkTimeoutMs,
  COMPONENT_ID,
  CONSENT_JITTER,
  CONTROLLED_IDLE_TIMERS,
  CONTROLLED_TIMERS,
  CONTROLLING_IDLE_TIMERS,
  CONTROLLING_TIMERS,
  DEFAULT_TA_MS,
  DISCONNECTED_TIMEOUT_MS,
  MAX_CANDIDATE_PAIRS,
  MAX_CREDENTIAL_LENGTH,
  MAX_LOCAL_CANDIDATES,
  MAX_REMOTE_CANDIDATES,
  MIN_PASSWORD_LENGTH,
  MIN_UFRAG_LENGTH,
  NO_CANDIDATES_TIMEOUT_MS,
  NOMINATION_SETTLE_MS,
  PEER_SILENCE_MARGIN_MS,
  rtoAfter,
  TYPE_PREFERENCE_PRFLX,
  TYPE_PREFERENCE_RELAY,
  type IceTimers,
} from './constants.js';

export type IceRole = 'controlling' | 'controlled';

/** RFC 8445 §5.3: the username fragment and password of one side, as the portal hands them out. */
export interface IceCredentials {
  readonly ufrag: string;
  readonly pwd: string;
}

export type IceAgentState = 'checking' | 'connected' | 'disconnected' | 'failed';

export type IceFailureReason =
  'no candidates received' | 'all candidate pairs failed' | 'consent lost' | 'no response from peer';

export type IceEvent =
  | {
      readonly type: 'nominated';
      /** The local base to send from: a host socket address or our relayed address. */
      readonly local: TransportAddress;
      readonly remote: TransportAddress;
      readonly localKind: LocalCandidateKind;
      readonly remoteKind: CandidateKind;
    }
  | { readonly type: 'disconnected' }
  | { readonly type: 'connected' }
  | { readonly type: 'failed'; readonly reason: IceFailureReason };

export interface IceTransmit {
  /** Which local base to send from (for a relay base: through our allocation, as ChannelData or Send). */
  readonly source: TransportAddress;
  readonly destination: TransportAddress;
  readonly payload: Uint8Array;
}

/** Why input was dropped; counted, never answered differently on the wire. */
export type IceDropReason =
  | 'malformed' // bytes that do not decode as STUN
  | 'bad_address' // `from`/`local` given by the driver is not a valid transport address
  | 'invalid_candidate' // a remote candidate line that does not parse, or a local one that is unusable
  | 'too_many_candidates'
  | 'pair_limit' // checklist full (RFC 8445 §6.1.2.5): the lowest pair was evicted or the new one refused
  | 'missing_integrity' // request without MESSAGE-INTEGRITY: 400
  | 'bad_integrity' // request MESSAGE-INTEGRITY does not verify with our password: 401
  | 'bad_username' // request for our ufrag but not from our peer's: 401
  | 'missing_priority' // 400
  | 'unknown_attributes' // 420
  | 'role_conflict' // request answered with 487 (RFC 8445 §7.3.1.1)
  | 'unknown_local_base' // arrived on a base we have no candidate for
  | 'response_bad_integrity' // response not authenticated with the peer's password: ignored
  | 'response_not_symmetric' // RFC 8445 §7.2.5.2.1: pair fails
  | 'response_missing_mapped_address'
  | 'response_error' // an authenticated error other than 487: pair fails
  | 'agent_failed'; // input for a failed agent

export const ICE_DROP_REASONS: readonly IceDropReason[] = [
  'malformed',
  'bad_address',
  'invalid_candidate',
  'too_many_candidates',
  'pair_limit',
  'missing_integrity',
  'bad_integrity',
  'bad_username',
  'missing_priority',
  'unknown_attributes',
  'role_conflict',
  'unknown_local_base',
  'response_bad_integrity',
  'response_not_symmetric',
  'response_missing_mapped_address',
  'response_error',
  'agent_failed',
];

export interface IceAgentStats {
  /** Connectivity checks started (ordinary, triggered and nominating), first transmissions only. */
  checksSent: number;
  retransmissions: number;
  consentChecksSent: number;
  /** Authenticated Binding requests from the peer. */
  requestsReceived: number;
  /** Authenticated responses to our requests. */
  responsesReceived: number;
  responsesSent: number;
  /** 487s sent or received (RFC 8445 §7.3.1.1, §7.2.5.1). */
  roleConflicts: number;
  roleSwitches: number;
  /** Times the selected pair changed. */
  nominations: number;
  peerReflexiveCandidates: number;
  readonly dropped: Record<IceDropReason, number>;
}

export interface IceAgentSnapshot {
  readonly state: IceAgentState;
  readonly role: IceRole;
  readonly idle: boolean;
  readonly localCandidates: number;
  readonly remoteCandidates: number;
  readonly pairs: Readonly<Record<PairState, number>>;
  readonly nominated:
    | {
        readonly local: TransportAddress;
        readonly remote: TransportAddress;
        readonly localKind: LocalCandidateKind;
        readonly remoteKind: CandidateKind;
        /** Round trip of the last check on the selected pair answered after one transmission. */
        readonly rttMs: number | undefined;
        /** Monotonic time of the last response on the selected pair. */
        readonly lastResponseAt: number | undefined;
      }
    | undefined;
  readonly stats: IceAgentStats;
}

export interface IceAgentOptions {
  /** Client: controlling; gateway: controlled (docs/protocol.md §5.2). */
  readonly role: IceRole;
  readonly local: IceCredentials;
  readonly remote: IceCredentials;
  /** Creation time: no remote candidate within 10 s of it ⇒ failed. */
  readonly now: number;
  /** Fills transaction IDs, the tie-breaker and jitter (default: crypto random). */
  readonly random?: RandomSource;
  /** RFC 8445 §7.3.1.1 tie-breaker (default: 64 random bits). */
  readonly tieBreaker?: bigint;
  /** Default by role: CONTROLLING_TIMERS / CONTROLLED_TIMERS. */
  readonly timers?: IceTimers;
  /** Default by role: CONTROLLING_IDLE_TIMERS / CONTROLLED_IDLE_TIMERS. */
  readonly idleTimers?: IceTimers;
  /** RFC 8445 §14.2 pacing of new checks (default 0, no pacing, as Firezone). */
  readonly taMs?: number;
  readonly maxPairs?: number;
}

type PairState = 'frozen' | 'waiting' | 'in_progress' | 'succeeded' | 'failed';
type TxPurpose = 'check' | 'nominate' | 'consent';

interface Pair {
  readonly key: string;
  readonly baseKey: string;
  /** The best local candidate on this base (RFC 8445 §6.1.2.4: srflx is replaced by its base). */
  local: LocalCandidate;
  remote: RemoteCandidate;
  priority: bigint;
  foundation: string;
  state: PairState;
  /** The transaction of the ordinary or triggered check in flight. */
  check: string | undefined;
  lastResponseAt: number | undefined;
  rttMs: number | undefined;
}

interface Transaction {
  readonly key: string;
  readonly pairKey: string;
  readonly purpose: TxPurpose;
  readonly useCandidate: boolean;
  /** The role the request claimed, for 487 handling (RFC 8445 §7.2.5.1). */
  readonly role: IceRole;
  readonly payload: Uint8Array;
  readonly source: TransportAddress;
  readonly destination: TransportAddress;
  readonly startedAt: number;
  transmissions: number;
  /** False for consent checks (RFC 7675 §5.1: sent once) and cancelled checks (RFC 8445 §7.3.1.4). */
  retransmit: boolean;
  /** Next retransmission, or when the transaction ends. */
  due: number;
}

const ICE_CHARS = /^[A-Za-z0-9+/]+$/;

/** Why credentials from the portal cannot be used (RFC 8445 §5.3, RFC 8839 §5.4), or undefined. */
export function iceCredentialsProblem(creds: IceCredentials): string | undefined {
  const { ufrag, pwd } = creds;
  if (typeof ufrag !== 'string' || ufrag.length < MIN_UFRAG_LENGTH || ufrag.length > MAX_CREDENTIAL_LENGTH) {
    return 'ufrag length';
  }
  if (typeof pwd !== 'string' || pwd.length < MIN_PASSWORD_LENGTH || pwd.length > MAX_CREDENTIAL_LENGTH) {
    return 'password length';
  }
  if (!ICE_CHARS.test(ufrag) || !ICE_CHARS.test(pwd)) return 'not ice-chars';
  return undefined;
}

/**
 * The first part of a Binding request's USERNAME: the receiver's own ufrag (RFC 8445 §7.2.2),
 * by which a node with many connections routes the request to its agent (docs/protocol.md §5.2).
 */
export function ufragOf(message: StunMessage | Uint8Array): string | undefined {
  let msg: StunMessage;
  if (message instanceof Uint8Array) {
    const decoded = decodeMessage(message);
    if (!decoded.ok) return undefined;
    msg = decoded.message;
  } else msg = message;
  if (msg.method !== METHOD_BINDING || msg.class !== 'request') return undefined;
  const username = getAttribute(msg, 'USERNAME')?.value;
  if (username === undefined) return undefined;
  const colon = username.indexOf(':');
  return colon < 0 ? undefined : username.slice(0, colon);
}

function emptyDrops(): Record<IceDropReason, number> {
  return Object.fromEntries(ICE_DROP_REASONS.map((r) => [r, 0])) as Record<IceDropReason, number>;
}

export class IceAgent {
  readonly stats: IceAgentStats = {
    checksSent: 0,
    retransmissions: 0,
    consentChecksSent: 0,
    requestsReceived: 0,
    responsesReceived: 0,
    responsesSent: 0,
    roleConflicts: 0,
    roleSwitches: 0,
    nominations: 0,
    peerReflexiveCandidates: 0,
    dropped: emptyDrops(),
  };

  private readonly initialRole: IceRole;
  private currentRole: IceRole;
  private readonly tieBreaker: bigint;
  private readonly random: RandomSource;
  private readonly activeTimers: IceTimers;
  private readonly idleTimers: IceTimers;
  private readonly taMs: number;
  private readonly maxPairs: number;
  private idle = false;

  private localCreds!: IceCredentials;
  private remoteCreds!: IceCredentials;
  private localKey!: Uint8Array;
  private remoteKey!: Uint8Array;

  private currentState: IceAgentState = 'checking';
  private readonly locals = new Map<string, LocalCandidate>();
  private readonly remotes = new Map<string, RemoteCandidate>();
  private readonly pairs = new Map<string, Pair>();
  private readonly transactions = new Map<string, Transaction>();
  private triggered: string[] = [];
  private readonly transmits: IceTransmit[] = [];
  private readonly events: IceEvent[] = [];

  private startedAt = 0;
  private lastNow = 0;
  private receivedCandidate = false;
  /**
   * Last sign that checking gets anywhere: a remote candidate added, an authenticated answer to
   * one of our checks. Requests from the peer do not count: a peer that can reach us but whose
   * answers we cannot authenticate (wrong credentials on one side) must not keep us waiting.
   */
  private lastProgress = 0;
  private nextCheckAt = 0;
  private firstValidAt: number | undefined;
  private prflxCounter = 0;
  /** The pair whose selection is being (or has been) announced with USE-CANDIDATE (controlling). */
  private nominationTarget: string | undefined;
  /** The pair of the latest USE-CANDIDATE, waiting for its check to succeed (controlled, §7.3.1.5). */
  private pendingNomination: string | undefined;
  private selected: string | undefined;
  private consentSince = 0;
  private nextConsentAt = 0;
  private disconnectedAt = 0;
  private readonly rbuf = new Uint8Array(8);

  constructor(options: IceAgentOptions) {
    for (const creds of [options.local, options.remote]) {
      const problem = iceCredentialsProblem(creds);
      if (problem !== undefined) throw new RangeError(`invalid ICE credentials: ${problem}`);
    }
    this.initialRole = options.role;
    this.currentRole = options.role;
    this.random = options.random ?? cryptoRandom;
    this.activeTimers =
      options.timers ?? (options.role === 'controlling' ? CONTROLLING_TIMERS : CONTROLLED_TIMERS);
    this.idleTimers =
      options.idleTimers ??
      (options.role === 'controlling' ? CONTROLLING_IDLE_TIMERS : CONTROLLED_IDLE_TIMERS);
    this.taMs = Math.max(0, options.taMs ?? DEFAULT_TA_MS);
    this.maxPairs = Math.max(1, options.maxPairs ?? MAX_CANDIDATE_PAIRS);
    this.tieBreaker = options.tieBreaker ?? this.randomU64();
    this.setCredentials(options.local, options.remote);
    this.begin(options.now);
  }

  get state(): IceAgentState {
    return this.currentState;
  }

  get role(): IceRole {
    return this.currentRole;
  }

  get localUfrag(): string {
    return this.localCreds.ufrag;
  }

  private get timers(): IceTimers {
    return this.idle ? this.idleTimers : this.activeTimers;
  }

  // -------------------------------------------------------------------------------------------
  // Candidates

  /**
   * Adds one of our candidates and pairs it with the remote ones. Returns its SDP attribute value
   * for the driver to signal, or undefined when the candidate is unusable (counted) or the table
   * is full. Adding the same candidate again returns the same line.
   */
  addLocalCandidate(init: LocalCandidateInit, now: number): string | undefined {
    const checked = checkLocalCandidate(init);
    if (!checked.ok) {
      this.drop('invalid_candidate');
      return undefined;
    }
    const c = checked.init;
    const key = `${c.kind}|${addressKey(c.address)}`;
    const existing = this.locals.get(key);
    if (existing !== undefined && addressKey(existing.base) === addressKey(c.base))
      return writeCandidate(existing);
    if (existing === undefined && this.locals.size >= MAX_LOCAL_CANDIDATES) {
      this.drop('too_many_candidates');
      return undefined;
    }
    if (existing !== undefined) this.removeLocal(key, now);
    const candidate = makeLocalCandidate(c, c.localPreference ?? this.freeLocalPreference(c.kind, c.address));
    this.locals.set(key, candidate);
    this.repairBase(addressKey(candidate.base));
    this.update(now);
    return writeCandidate(candidate);
  }

  /** Removes one of our candidates (e.g. a relay allocation went away) and the pairs using it. */
  removeLocalCandidate(
    candidate: { readonly kind: LocalCandidateKind; readonly address: TransportAddress },
    now: number,
  ): boolean {
    const address = canonicalTransportAddress(candidate.address.address, candidate.address.port);
    if (address === undefined) return false;
    const removed = this.removeLocal(`${candidate.kind}|${addressKey(address)}`, now);
    this.update(now);
    return removed;
  }

  /** Our candidates as SDP lines, highest priority first (for re-signalling after a restart or reuse). */
  localCandidates(): string[] {
    return sortByPriority([...this.locals.values()]).map(writeCandidate);
  }

  /**
   * Adds a remote candidate from its SDP line (trickle ICE). False when the line is skipped:
   * unparseable or unsupported (counted), or the table is full. A candidate for an address we
   * learned as peer-reflexive replaces that one's type and priority; its pairs keep their state.
   */
  addRemoteCandidate(sdp: string, now: number): boolean {
    if (this.currentState === 'failed') {
      this.drop('agent_failed');
      return false;
    }
    const parsed = parseCandidate(sdp);
    if (!parsed.ok) {
      this.drop('invalid_candidate');
      return false;
    }
    const candidate = parsed.candidate;
    const key = addressKey(candidate.address);
    const existing = this.remotes.get(key);
    if (existing === undefined && this.remotes.size >= MAX_REMOTE_CANDIDATES) {
      this.drop('too_many_candidates');
      return false;
    }
    this.receivedCandidate = true;
    this.lastProgress = Math.max(this.lastProgress, now);
    if (existing !== undefined && (existing.kind === 'prflx' || candidate.priority > existing.priority)) {
      this.remotes.set(key, candidate);
      for (const pair of this.pairs.values()) {
        if (pair.remote === existing) {
          pair.remote = candidate;
          this.refreshPair(pair);
        }
      }
    } else if (existing === undefined) {
      this.remotes.set(key, candidate);
    }
    // A peer-reflexive candidate was paired only with the base its request arrived on.
    for (const baseKey of this.baseKeys()) this.formPair(baseKey, this.remotes.get(key)!);
    this.update(now);
    return true;
  }

  /** The reason a candidate line would be skipped, for the driver's logs. */
  static candidateProblem(sdp: string): CandidateParseError | undefined {
    const parsed = parseCandidate(sdp);
    return parsed.ok ? undefined : parsed.error;
  }

  /** Removes a remote candidate the peer invalidated, and its pairs. */
  removeRemoteCandidate(sdp: string, now: number): boolean {
    const parsed = parseCandidate(sdp);
    if (!parsed.ok) {
      this.drop('invalid_candidate');
      return false;
    }
    const key = addressKey(parsed.candidate.address);
    const remote = this.remotes.get(key);
    if (remote === undefined) return false;
    this.remotes.delete(key);
    for (const pair of [...this.pairs.values()]) if (pair.remote === remote) this.removePair(pair, now);
    this.update(now);
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Control

  /**
   * ICE restart (RFC 8445 §9): new credentials, an empty checklist and no remote candidates (the
   * peer signals them again); local candidates stay. False, and nothing changes, when the
   * credentials are unusable.
   */
  restart(local: IceCredentials, remote: IceCredentials, now: number): boolean {
    if (iceCredentialsProblem(local) !== undefined || iceCredentialsProblem(remote) !== undefined)
      return false;
    this.setCredentials(local, remote);
    this.remotes.clear();
    this.pairs.clear();
    this.transactions.clear();
    this.triggered = [];
    this.currentRole = this.initialRole;
    this.idle = false;
    this.begin(now);
    return true;
  }

  /**
   * Switches between the active and the idle timer profile (docs/protocol.md §5.6: the driver idles a
   * connection after 20 s without traffic). Leaving idle checks consent at once and gives the
   * shorter consent timeout a fresh start, so resuming traffic does not trip it.
   */
  setIdle(idle: boolean, now: number): void {
    if (idle === this.idle) return;
    this.idle = idle;
    this.lastNow = Math.max(this.lastNow, now);
    if (!idle) {
      this.consentSince = now;
      this.nextConsentAt = now;
    } else {
      this.nextConsentAt = now + this.jittered(this.timers.consentIntervalMs);
    }
    this.update(now);
  }

  // -------------------------------------------------------------------------------------------
  // STUN input

  /** Whether a response with this transaction ID belongs to this agent (docs/protocol.md §5.2 routing). */
  ownsTransaction(id: Uint8Array): boolean {
    return this.transactions.has(transactionKey(id));
  }

  /**
   * A STUN message that arrived from `from` on the local base `local` (the host socket address,
   * or our relayed address when it came through our allocation). Returns whether it was for this
   * agent: a Binding request for our ufrag, or a response to one of our transactions.
   */
  handleStun(
    input: StunMessage | Uint8Array,
    from: TransportAddress,
    local: TransportAddress,
    now: number,
  ): boolean {
    let message: StunMessage;
    if (input instanceof Uint8Array) {
      const decoded = decodeMessage(input);
      if (!decoded.ok) {
        this.drop('malformed');
        return false;
      }
      message = decoded.message;
    } else message = input;
    if (message.method !== METHOD_BINDING) return false;
    const source = canonicalTransportAddress(from.address, from.port);
    const base = canonicalTransportAddress(local.address, local.port);
    if (source === undefined || base === undefined) {
      this.drop('bad_address');
      return false;
    }
    this.lastNow = Math.max(this.lastNow, now);
    let mine: boolean;
    if (message.class === 'request') mine = this.handleRequest(message, source, base, now);
    else if (message.class === 'success' || message.class === 'error') {
      mine = this.handleResponse(message, source, base, now);
    } else return false;
    if (mine) this.update(now);
    return mine;
  }

  // -------------------------------------------------------------------------------------------
  // Output

  pollTransmit(): IceTransmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): IceEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    if (this.currentState === 'failed') return undefined;
    let earliest: number | undefined;
    const at = (t: number | undefined): void => {
      if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
    };
    // Deadlines of conditions already evaluated at lastNow are left out: they were not met, and
    // returning a past time would make the driver spin.
    const future = (t: number): void => {
      if (t > this.lastNow) at(t);
    };
    for (const tx of this.transactions.values()) at(tx.due);
    if (!this.receivedCandidate) future(this.startedAt + NO_CANDIDATES_TIMEOUT_MS);
    if (this.taMs > 0 && this.hasCheckToSend()) at(Math.max(this.nextCheckAt, this.lastNow));
    if (this.selected === undefined) {
      if (this.receivedCandidate) future(this.lastProgress + this.peerSilenceTimeoutMs());
      if (
        this.currentRole === 'controlling' &&
        this.firstValidAt !== undefined &&
        this.nominationTarget === undefined
      ) {
        future(this.firstValidAt + NOMINATION_SETTLE_MS);
      }
    } else {
      at(this.nextConsentAt);
      if (this.currentState === 'connected') future(this.consentExpiry());
    }
    if (this.currentState === 'disconnected') {
      future(this.disconnectedAt + DISCONNECTED_TIMEOUT_MS);
      for (const pair of this.workingPairs(this.lastNow)) {
        future(pair.lastResponseAt! + this.timers.consentTimeoutMs);
      }
    }
    return earliest;
  }

  handleTimeout(now: number): void {
    this.lastNow = Math.max(this.lastNow, now);
    if (this.currentState === 'failed') return;
    for (const tx of [...this.transactions.values()]) {
      if (tx.due > now || !this.transactions.has(tx.key)) continue;
      if (tx.retransmit && tx.transmissions < this.timers.maxRetransmits) {
        tx.transmissions++;
        tx.due = now + rtoAfter(this.timers, tx.transmissions);
        this.stats.retransmissions++;
        this.transmits.push({ source: tx.source, destination: tx.destination, payload: tx.payload });
        continue;
      }
      this.transactions.delete(tx.key);
      if (tx.retransmit) this.transactionFailed(tx, now);
    }
    this.update(now);
  }

  // -------------------------------------------------------------------------------------------
  // Diagnostics

  snapshot(): IceAgentSnapshot {
    const pairs: Record<PairState, number> = {
      frozen: 0,
      waiting: 0,
      in_progress: 0,
      succeeded: 0,
      failed: 0,
    };
    for (const pair of this.pairs.values()) pairs[pair.state]++;
    const selected = this.selectedPair();
    return {
      state: this.currentState,
      role: this.currentRole,
      idle: this.idle,
      localCandidates: this.locals.size,
      remoteCandidates: this.remotes.size,
      pairs,
      nominated: selected && {
        local: selected.local.base,
        remote: selected.remote.address,
        localKind: selected.local.kind,
        remoteKind: selected.remote.kind,
        rttMs: selected.rttMs,
        lastResponseAt: selected.lastResponseAt,
      },
      stats: this.stats,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Incoming requests (RFC 8445 §7.3)

  private handleRequest(
    msg: StunMessage,
    from: TransportAddress,
    local: TransportAddress,
    now: number,
  ): boolean {
    const username = getAttribute(msg, 'USERNAME')?.value;
    const colon = username === undefined ? -1 : username.indexOf(':');
    // Not ours to judge: the node routes requests by this ufrag, and another agent may own it.
    if (username === undefined || colon < 0 || username.slice(0, colon) !== this.localCreds.ufrag)
      return false;
    if (this.currentState === 'failed') {
      this.drop('agent_failed');
      return true;
    }
    // RFC 8489 §9.1.3: no integrity ⇒ 400, wrong username or integrity ⇒ 401, both unauthenticated.
    if (msg.integrityOffset === undefined && msg.integritySha256Offset === undefined) {
      this.drop('missing_integrity');
      this.respondError(msg, from, local, 400, 'Bad Request', false);
      return true;
    }
    if (verifyIntegrity(msg, this.localKey) !== 'ok') {
      this.drop('bad_integrity');
      this.respondError(msg, from, local, 401, 'Unauthenticated', false);
      return true;
    }
    if (username.slice(colon + 1) !== this.remoteCreds.ufrag) {
      this.drop('bad_username');
      this.respondError(msg, from, local, 401, 'Unauthenticated', false);
      return true;
    }
    this.stats.requestsReceived++;
    if (msg.unknownRequired.length > 0) {
      this.drop('unknown_attributes');
      this.respondError(msg, from, local, 420, 'Unknown Attribute', true, [
        { type: 'UNKNOWN-ATTRIBUTES', types: msg.unknownRequired },
      ]);
      return true;
    }
    const priority = getAttribute(msg, 'PRIORITY')?.priority;
    if (priority === undefined || priority === 0) {
      this.drop('missing_priority');
      this.respondError(msg, from, local, 400, 'Bad Request', true);
      return true;
    }
    if (!this.resolveRoleConflict(msg, from, local)) return true;

    const baseKey = addressKey(local);
    if (this.bestLocalForBase(baseKey) === undefined) {
      // Answering would let the peer validate a path we cannot pair, so neither side could use it.
      this.drop('unknown_local_base');
      return true;
    }
    if (familyOf(from.address) !== familyOf(local.address)) {
      this.drop('bad_address');
      return true;
    }
    // RFC 8445 §7.3.1.3: a source we do not know is a peer-reflexive candidate of the peer.
    const remoteKey = addressKey(from);
    let remote = this.remotes.get(remoteKey);
    if (remote === undefined) {
      if (this.remotes.size >= MAX_REMOTE_CANDIDATES) {
        this.drop('too_many_candidates');
        return true;
      }
      remote = {
        kind: 'prflx',
        address: from,
        priority,
        foundation: `prflx${++this.prflxCounter}`,
        related: undefined,
      };
      this.remotes.set(remoteKey, remote);
      this.receivedCandidate = true;
      this.stats.peerReflexiveCandidates++;
    }
    // Undefined only when the checklist is full of better pairs (counted by formPair).
    const pair = this.pairs.get(`${baseKey}|${remoteKey}`) ?? this.formPair(baseKey, remote);
    if (pair === undefined) return true;
    this.respondSuccess(msg, from, local);
    this.triggerCheck(pair);
    // RFC 8445 §7.3.1.5: the controlled agent follows the controlling agent's nomination.
    if (this.currentRole === 'controlled' && getAttribute(msg, 'USE-CANDIDATE') !== undefined) {
      if (pair.state === 'succeeded') {
        this.pendingNomination = undefined;
        this.select(pair, now);
      } else {
        this.pendingNomination = pair.key;
      }
    }
    return true;
  }

  /** RFC 8445 §7.3.1.1; false when the request was answered with 487. */
  private resolveRoleConflict(msg: StunMessage, from: TransportAddress, local: TransportAddress): boolean {
    const theirs =
      this.currentRole === 'controlling'
        ? getAttribute(msg, 'ICE-CONTROLLING')
        : getAttribute(msg, 'ICE-CONTROLLED');
    if (theirs === undefined) return true;
    const oursWins = this.tieBreaker >= theirs.tieBreaker;
    // Controlling vs controlling: the larger tie-breaker stays controlling. Controlled vs
    // controlled: the larger one becomes controlling.
    if (this.currentRole === 'controlling' ? !oursWins : oursWins) {
      this.switchRole(this.currentRole === 'controlling' ? 'controlled' : 'controlling');
      return true;
    }
    this.stats.roleConflicts++;
    this.drop('role_conflict');
    this.respondError(msg, from, local, 487, 'Role Conflict', true);
    return false;
  }

  /** RFC 8445 §7.3.1.4: triggered checks. */
  private triggerCheck(pair: Pair): void {
    switch (pair.state) {
      case 'succeeded':
        return;
      case 'in_progress':
        this.cancelCheck(pair);
        break;
      case 'frozen':
      case 'waiting':
      case 'failed':
        break;
    }
    pair.state = 'waiting';
    if (!this.triggered.includes(pair.key)) this.triggered.push(pair.key);
  }

  private respondSuccess(msg: StunMessage, from: TransportAddress, local: TransportAddress): void {
    this.respond(msg, 'success', from, local, [{ type: 'XOR-MAPPED-ADDRESS', address: from }], true);
  }

  private respondError(
    msg: StunMessage,
    from: TransportAddress,
    local: TransportAddress,
    code: number,
    reason: string,
    authenticated: boolean,
    extra: StunAttribute[] = [],
  ): void {
    this.respond(msg, 'error', from, local, [{ type: 'ERROR-CODE', code, reason }, ...extra], authenticated);
  }

  private respond(
    msg: StunMessage,
    cls: 'success' | 'error',
    to: TransportAddress,
    local: TransportAddress,
    attributes: StunAttribute[],
    authenticated: boolean,
  ): void {
    // RFC 8445 §7.3: responses are signed with our own password, the one the request verified with.
    const payload = encodeMessage(
      { method: METHOD_BINDING, class: cls, transactionId: msg.transactionId.slice(), attributes },
      { integrity: authenticated ? { key: this.localKey } : undefined, fingerprint: true },
    );
    this.stats.responsesSent++;
    this.transmits.push({ source: local, destination: to, payload });
  }

  // -------------------------------------------------------------------------------------------
  // Responses to our checks (RFC 8445 §7.2.5)

  private handleResponse(
    msg: StunMessage,
    from: TransportAddress,
    local: TransportAddress,
    now: number,
  ): boolean {
    const key = transactionKey(msg.transactionId);
    const tx = this.transactions.get(key);
    if (tx === undefined) return false;
    // RFC 8489 §9.1.4: a response that does not authenticate is discarded as if never received,
    // so a forged error cannot fail a pair; the transaction keeps retransmitting.
    if (verifyIntegrity(msg, this.remoteKey, 'sha1') !== 'ok') {
      this.drop('response_bad_integrity');
      return true;
    }
    const pair = this.pairs.get(tx.pairKey);
    if (msg.class === 'success' && getAttribute(msg, 'XOR-MAPPED-ADDRESS') === undefined) {
      this.drop('response_missing_mapped_address');
      return true;
    }
    this.transactions.delete(key);
    this.stats.responsesReceived++;
    this.lastProgress = Math.max(this.lastProgress, now);
    if (pair === undefined) return true;

    // RFC 8445 §7.2.5.2.1: the response must come from where the request went, to where it came from.
    if (!sameTransportAddress(from, tx.destination) || !sameTransportAddress(local, tx.source)) {
      this.drop('response_not_symmetric');
      if (tx.purpose !== 'consent') this.transactionFailed(tx, now);
      return true;
    }
    if (msg.class === 'error') {
      const code = getAttribute(msg, 'ERROR-CODE')?.code;
      if (code === 487) {
        this.handleRoleConflictResponse(tx, pair);
        return true;
      }
      this.drop('response_error');
      if (tx.purpose !== 'consent') this.transactionFailed(tx, now);
      return true;
    }
    this.pairAnswered(pair, tx, now);
    return true;
  }

  /** RFC 8445 §7.2.5.1: switch role if the 487 was for the role we still claim, then check again. */
  private handleRoleConflictResponse(tx: Transaction, pair: Pair): void {
    this.stats.roleConflicts++;
    if (tx.role === this.currentRole) {
      this.switchRole(this.currentRole === 'controlling' ? 'controlled' : 'controlling');
    }
    if (tx.purpose === 'consent') return;
    if (pair.check === tx.key) pair.check = undefined;
    if (pair.state !== 'succeeded') pair.state = 'waiting';
    if (!this.triggered.includes(pair.key)) this.triggered.push(pair.key);
  }

  private pairAnswered(pair: Pair, tx: Transaction, now: number): void {
    if (pair.check === tx.key) pair.check = undefined;
    pair.lastResponseAt = now;
    // Karn's rule: a response to a retransmitted request cannot be tied to one transmission.
    if (tx.transmissions === 1) pair.rttMs = now - tx.startedAt;
    if (pair.state !== 'succeeded') {
      pair.state = 'succeeded';
      this.firstValidAt ??= now;
      // RFC 8445 §7.2.5.3.3: a success unfreezes the pairs of the same foundation.
      for (const other of this.pairs.values()) {
        if (other.state === 'frozen' && other.foundation === pair.foundation) other.state = 'waiting';
      }
    }
    if (this.currentRole === 'controlling' && tx.useCandidate && this.nominationTarget === pair.key) {
      this.select(pair, now);
    } else if (this.currentRole === 'controlled' && this.pendingNomination === pair.key) {
      this.pendingNomination = undefined;
      this.select(pair, now);
    } else if (pair.key === this.selected && this.currentState === 'disconnected') {
      this.reconnect(now);
    }
  }

  /** A check, nomination or (not consent: those just lapse) ran out of retransmissions or was refused. */
  private transactionFailed(tx: Transaction, _now: number): void {
    const pair = this.pairs.get(tx.pairKey);
    if (pair === undefined) return;
    if (tx.purpose === 'nominate') {
      if (this.nominationTarget !== pair.key) return;
      this.nominationTarget = this.selected;
      pair.state = 'failed';
      return;
    }
    // Only the pair's current check decides; an older, cancelled one just lapses.
    if (pair.check !== tx.key) return;
    pair.check = undefined;
    pair.state = 'failed';
  }

  // -------------------------------------------------------------------------------------------
  // The periodic work: checks, nomination, consent, failure

  private update(now: number): void {
    this.lastNow = Math.max(this.lastNow, now);
    if (this.currentState === 'failed') return;
    if (!this.receivedCandidate && now >= this.startedAt + NO_CANDIDATES_TIMEOUT_MS) {
      this.fail('no candidates received');
      return;
    }
    this.sendChecks(now);
    if (this.currentRole === 'controlling') this.considerNomination(now);
    this.consent(now);
    this.checkFailure(now);
  }

  private sendChecks(now: number): void {
    while (now >= this.nextCheckAt) {
      const pair = this.nextPairToCheck();
      if (pair === undefined) return;
      this.startCheck(pair, 'check', now);
      if (this.taMs > 0) this.nextCheckAt = now + this.taMs;
    }
  }

  private hasCheckToSend(): boolean {
    return this.triggered.length > 0 || this.nextOrdinaryPair() !== undefined;
  }

  /** RFC 8445 §6.1.4.2: the triggered queue first, then the best Waiting pair, then unfreeze one. */
  private nextPairToCheck(): Pair | undefined {
    while (this.triggered.length > 0) {
      const pair = this.pairs.get(this.triggered.shift()!);
      if (pair !== undefined && pair.state === 'waiting') return pair;
    }
    return this.nextOrdinaryPair();
  }

  private nextOrdinaryPair(): Pair | undefined {
    // After selection (and while connected) only pairs above the selected one are worth a check.
    const floor = this.currentState === 'connected' ? this.selectedPair()?.priority : undefined;
    let best: Pair | undefined;
    let bestFrozen: Pair | undefined;
    const busy = new Set<string>();
    for (const pair of this.pairs.values()) {
      if (pair.state === 'waiting' || pair.state === 'in_progress') busy.add(pair.foundation);
    }
    for (const pair of this.pairs.values()) {
      if (floor !== undefined && pair.priority <= floor) continue;
      if (pair.state === 'waiting' && (best === undefined || pair.priority > best.priority)) best = pair;
      if (
        pair.state === 'frozen' &&
        !busy.has(pair.foundation) &&
        (bestFrozen === undefined || pair.priority > bestFrozen.priority)
      ) {
        bestFrozen = pair;
      }
    }
    return best ?? bestFrozen;
  }

  private startCheck(pair: Pair, purpose: TxPurpose, now: number): void {
    const useCandidate = this.currentRole === 'controlling' && this.nominationTarget === pair.key;
    const id = new Uint8Array(12);
    this.random(id);
    const attributes: StunAttribute[] = [
      { type: 'USERNAME', value: `${this.remoteCreds.ufrag}:${this.localCreds.ufrag}` },
      // RFC 8445 §7.1.1: the priority a peer-reflexive candidate learned from this check would
      // have. Through a relay we keep the relay type preference, so the peer never ranks a
      // path through our relay above a direct one.
      { type: 'PRIORITY', priority: this.prflxPriority(pair.local) },
      this.currentRole === 'controlling'
        ? { type: 'ICE-CONTROLLING', tieBreaker: this.tieBreaker }
        : { type: 'ICE-CONTROLLED', tieBreaker: this.tieBreaker },
    ];
    if (useCandidate) attributes.push({ type: 'USE-CANDIDATE' });
    const payload = encodeMessage(
      { method: METHOD_BINDING, class: 'request', transactionId: id, attributes },
      { integrity: { key: this.remoteKey }, fingerprint: true },
    );
    const key = transactionKey(id);
    const consent = purpose === 'consent';
    const tx: Transaction = {
      key,
      pairKey: pair.key,
      purpose,
      useCandidate,
      role: this.currentRole,
      payload,
      source: pair.local.base,
      destination: pair.remote.address,
      startedAt: now,
      transmissions: 1,
      retransmit: !consent,
      // RFC 7675 §5.1: a consent check is sent once; a late answer still counts until consent expires.
      due: now + (consent ? this.timers.consentTimeoutMs : rtoAfter(this.timers, 1)),
    };
    this.transactions.set(key, tx);
    this.transmits.push({ source: tx.source, destination: tx.destination, payload });
    if (consent) {
      this.stats.consentChecksSent++;
      return;
    }
    this.stats.checksSent++;
    if (purpose === 'check') {
      if (pair.check !== undefined) this.cancelCheck(pair);
      pair.check = key;
      if (pair.state !== 'succeeded') pair.state = 'in_progress';
    }
  }

  /**
   * RFC 8445 §7.3.1.4: stop retransmitting the pair's check but still accept its answer until
   * the transaction would have ended.
   */
  private cancelCheck(pair: Pair): void {
    const tx = pair.check === undefined ? undefined : this.transactions.get(pair.check);
    pair.check = undefined;
    if (tx === undefined) return;
    tx.retransmit = false;
    tx.due = tx.startedAt + checkTimeoutMs(this.timers);
  }

  private considerNomination(now: number): void {
    const target = this.nominationTarget === undefined ? undefined : this.pairs.get(this.nominationTarget);
    // One nomination at a time: wait for the one in flight.
    if (target !== undefined && target.key !== this.selected) return;
    const selected = this.selectedPair();
    let best: Pair | undefined;
    if (this.currentState === 'disconnected') {
      for (const pair of this.workingPairs(now))
        if (best === undefined || pair.priority > best.priority) best = pair;
    } else {
      for (const pair of this.pairs.values()) {
        if (pair.state !== 'succeeded') continue;
        if (selected !== undefined && pair.priority <= selected.priority) continue;
        if (best === undefined || pair.priority > best.priority) best = pair;
      }
      if (best === undefined) return;
      if (selected === undefined && now < (this.firstValidAt ?? now) + NOMINATION_SETTLE_MS) {
        // A better pair still being checked may succeed within the settle time.
        const pending = [...this.pairs.values()].some(
          (p) => p.priority > best!.priority && p.state !== 'failed',
        );
        if (pending) return;
      }
    }
    if (best === undefined) return;
    this.nominationTarget = best.key;
    this.startCheck(best, 'nominate', now);
  }

  private consent(now: number): void {
    const selected = this.selectedPair();
    if (selected === undefined) return;
    if (now >= this.nextConsentAt) {
      this.startCheck(selected, 'consent', now);
      this.nextConsentAt = now + this.jittered(this.timers.consentIntervalMs);
    }
    if (this.currentState === 'connected' && now >= this.consentExpiry()) this.disconnect(now);
  }

  private consentExpiry(): number {
    const selected = this.selectedPair();
    const last = Math.max(selected?.lastResponseAt ?? 0, this.consentSince);
    return last + this.timers.consentTimeoutMs;
  }

  private checkFailure(now: number): void {
    if (this.currentState === 'disconnected') {
      if (now >= this.disconnectedAt + DISCONNECTED_TIMEOUT_MS && this.workingPairs(now).length === 0) {
        this.fail('consent lost');
      }
      return;
    }
    if (this.currentState !== 'checking' || !this.receivedCandidate) return;
    const settled =
      this.pairs.size > 0 &&
      this.triggered.length === 0 &&
      [...this.pairs.values()].every((pair) => pair.state === 'failed');
    if (settled) {
      this.fail('all candidate pairs failed');
      return;
    }
    if (now >= this.lastProgress + this.peerSilenceTimeoutMs()) this.fail('no response from peer');
  }

  private peerSilenceTimeoutMs(): number {
    return checkTimeoutMs(this.timers) + PEER_SILENCE_MARGIN_MS;
  }

  /** Valid pairs other than the selected one answered within the consent timeout. */
  private workingPairs(now: number): Pair[] {
    const out: Pair[] = [];
    for (const pair of this.pairs.values()) {
      if (pair.key === this.selected || pair.state !== 'succeeded' || pair.lastResponseAt === undefined)
        continue;
      if (now < pair.lastResponseAt + this.timers.consentTimeoutMs) out.push(pair);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // State changes

  private select(pair: Pair, now: number): void {
    if (this.selected !== pair.key) {
      this.selected = pair.key;
      this.stats.nominations++;
      this.events.push({
        type: 'nominated',
        local: pair.local.base,
        remote: pair.remote.address,
        localKind: pair.local.kind,
        remoteKind: pair.remote.kind,
      });
      this.consentSince = now;
      this.nextConsentAt = now + this.jittered(this.timers.consentIntervalMs);
      // RFC 8445 §8.1.2: checks of lower pairs are pointless now; cancelled ones go back to
      // Waiting, to be checked again if the selected pair is lost.
      for (const other of this.pairs.values()) {
        if (other.priority < pair.priority && other.state === 'in_progress') {
          this.cancelCheck(other);
          other.state = 'waiting';
        }
      }
    }
    if (this.currentRole === 'controlling') this.nominationTarget = pair.key;
    if (this.currentState === 'checking') this.currentState = 'connected';
    else if (this.currentState === 'disconnected') this.reconnect(now);
  }

  private reconnect(now: number): void {
    // The selected pair answers again: a nomination of another pair begun meanwhile is dropped
    // (its answer no longer selects anything), so the path does not move away and back.
    if (this.currentRole === 'controlling') this.nominationTarget = this.selected;
    this.currentState = 'connected';
    this.consentSince = now;
    this.events.push({ type: 'connected' });
  }

  /** RFC 7675 §5.1: consent lost. Every valid pair is checked again to find one that still works. */
  private disconnect(now: number): void {
    this.currentState = 'disconnected';
    this.disconnectedAt = now;
    this.events.push({ type: 'disconnected' });
    for (const pair of this.pairs.values()) {
      if (pair.state === 'succeeded') this.startCheck(pair, 'check', now);
    }
  }

  private fail(reason: IceFailureReason): void {
    this.currentState = 'failed';
    this.transactions.clear();
    this.triggered = [];
    this.events.push({ type: 'failed', reason });
  }

  private switchRole(role: IceRole): void {
    this.currentRole = role;
    this.stats.roleSwitches++;
    // A new controlling agent keeps announcing the pair already selected, if any.
    this.nominationTarget = role === 'controlling' ? this.selected : undefined;
    this.pendingNomination = undefined;
    for (const pair of this.pairs.values()) this.refreshPair(pair);
  }

  // -------------------------------------------------------------------------------------------
  // Pairs

  private baseKeys(): Set<string> {
    return new Set([...this.locals.values()].map((c) => addressKey(c.base)));
  }

  /** RFC 8445 §6.1.2.4: of the candidates sharing a base, only the best one forms pairs. */
  private bestLocalForBase(baseKey: string): LocalCandidate | undefined {
    let best: LocalCandidate | undefined;
    for (const c of this.locals.values()) {
      if (addressKey(c.base) === baseKey && (best === undefined || c.priority > best.priority)) best = c;
    }
    return best;
  }

  /** After local candidates of a base changed: update its pairs' local candidate, form new pairs. */
  private repairBase(baseKey: string): void {
    const local = this.bestLocalForBase(baseKey);
    if (local === undefined) return;
    for (const pair of this.pairs.values()) {
      if (pair.baseKey === baseKey && pair.local !== local) {
        pair.local = local;
        this.refreshPair(pair);
      }
    }
    for (const remote of this.remotes.values()) this.formPair(baseKey, remote);
  }

  private formPair(baseKey: string, remote: RemoteCandidate): Pair | undefined {
    const local = this.bestLocalForBase(baseKey);
    if (local === undefined) return undefined;
    if (familyOf(local.base.address) !== familyOf(remote.address.address)) return undefined;
    const key = `${baseKey}|${addressKey(remote.address)}`;
    const existing = this.pairs.get(key);
    if (existing !== undefined) return existing;
    const pair: Pair = {
      key,
      baseKey,
      local,
      remote,
      priority: 0n,
      foundation: '',
      state: 'waiting',
      check: undefined,
      lastResponseAt: undefined,
      rttMs: undefined,
    };
    this.refreshPair(pair);
    if (this.pairs.size >= this.maxPairs && !this.evictBelow(pair.priority)) {
      this.drop('pair_limit');
      return undefined;
    }
    // RFC 8445 §6.1.2.6: one pair per foundation starts Waiting, the others Frozen until it succeeds.
    for (const other of this.pairs.values()) {
      if (
        other.foundation === pair.foundation &&
        (other.state === 'waiting' || other.state === 'in_progress')
      ) {
        pair.state = 'frozen';
        break;
      }
    }
    this.pairs.set(key, pair);
    return pair;
  }

  /** RFC 8445 §6.1.2.5: make room by removing the lowest pair, if it ranks below `priority`. */
  private evictBelow(priority: bigint): boolean {
    let lowest: Pair | undefined;
    for (const pair of this.pairs.values()) {
      if (pair.key === this.selected || pair.key === this.nominationTarget) continue;
      if (lowest === undefined || pair.priority < lowest.priority) lowest = pair;
    }
    if (lowest === undefined || lowest.priority >= priority) return false;
    this.drop('pair_limit');
    this.removePair(lowest, this.lastNow);
    return true;
  }

  private refreshPair(pair: Pair): void {
    const local = pair.local.priority;
    const remote = pair.remote.priority;
    pair.priority =
      this.currentRole === 'controlling' ? pairPriority(local, remote) : pairPriority(remote, local);
    pair.foundation = `${pair.local.foundation}:${pair.remote.foundation}`;
  }

  private removeLocal(key: string, now: number): boolean {
    const candidate = this.locals.get(key);
    if (candidate === undefined) return false;
    this.locals.delete(key);
    const baseKey = addressKey(candidate.base);
    if (this.bestLocalForBase(baseKey) !== undefined) {
      this.repairBase(baseKey);
      return true;
    }
    for (const pair of [...this.pairs.values()]) if (pair.baseKey === baseKey) this.removePair(pair, now);
    return true;
  }

  private removePair(pair: Pair, now: number): void {
    this.pairs.delete(pair.key);
    for (const tx of [...this.transactions.values()])
      if (tx.pairKey === pair.key) this.transactions.delete(tx.key);
    this.triggered = this.triggered.filter((k) => k !== pair.key);
    if (this.pendingNomination === pair.key) this.pendingNomination = undefined;
    if (this.nominationTarget === pair.key) this.nominationTarget = undefined;
    if (this.selected === pair.key) {
      this.selected = undefined;
      if (this.currentState === 'connected') this.disconnect(now);
    }
  }

  private selectedPair(): Pair | undefined {
    return this.selected === undefined ? undefined : this.pairs.get(this.selected);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private begin(now: number): void {
    this.currentState = 'checking';
    this.startedAt = now;
    this.lastNow = Math.max(this.lastNow, now);
    this.lastProgress = now;
    this.receivedCandidate = false;
    this.nextCheckAt = now;
    this.firstValidAt = undefined;
    this.nominationTarget = undefined;
    this.pendingNomination = undefined;
    this.selected = undefined;
  }

  private setCredentials(local: IceCredentials, remote: IceCredentials): void {
    this.localCreds = { ufrag: local.ufrag, pwd: local.pwd };
    this.remoteCreds = { ufrag: remote.ufrag, pwd: remote.pwd };
    this.localKey = shortTermKey(local.pwd);
    this.remoteKey = shortTermKey(remote.pwd);
  }

  private prflxPriority(local: LocalCandidate): number {
    const type = local.kind === 'relay' ? TYPE_PREFERENCE_RELAY : TYPE_PREFERENCE_PRFLX;
    return type * 2 ** 24 + local.localPreference * 2 ** 8 + (256 - COMPONENT_ID);
  }

  /** Local preferences unique among candidates of one type (RFC 8445 §5.1.2.1), IPv6 first. */
  private freeLocalPreference(kind: LocalCandidateKind, address: TransportAddress): number {
    const used = new Set<number>();
    for (const c of this.locals.values()) if (c.kind === kind) used.add(c.localPreference);
    let pref = defaultLocalPreference(address);
    while (used.has(pref) && pref > 1) pref -= 2;
    return pref;
  }

  private jittered(interval: number): number {
    return Math.round(interval * (1 - CONSENT_JITTER + 2 * CONSENT_JITTER * this.random01()));
  }

  private random01(): number {
    this.random(this.rbuf);
    return readU32(this.rbuf, 0) / 2 ** 32;
  }

  private randomU64(): bigint {
    this.random(this.rbuf);
    return (BigInt(readU32(this.rbuf, 0)) << 32n) | BigInt(readU32(this.rbuf, 4));
  }

  private drop(reason: IceDropReason): void {
    this.stats.dropped[reason]++;
  }
}
