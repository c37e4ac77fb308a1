/**
 * ICE agent constants (RFC 8445, RFC 7675) and the timer profiles Firezone runs its agents with
 * (docs/protocol.md §5.5, §5.6). Times are in milliseconds: the agent takes `now` as a monotonic
 * millisecond clock.
 */

// ---------------------------------------------------------------------------------------------
// Candidate priorities (RFC 8445 §5.1.2)

/** RFC 8445 §5.1.2.2: the recommended type preferences. */
export const TYPE_PREFERENCE_HOST = 126;
export const TYPE_PREFERENCE_PRFLX = 110;
export const TYPE_PREFERENCE_SRFLX = 100;
export const TYPE_PREFERENCE_RELAY = 0;
/** RFC 8445 §5.1.2.1: the local preference is 16 bits; the highest goes to the preferred address. */
export const MAX_LOCAL_PREFERENCE = 0xffff;
/**
 * RFC 8421 §4 recommends preferring IPv6 over IPv4; we do so by one step only, so the ordering
 * between candidate types (host over srflx over relay) always dominates the family.
 */
export const LOCAL_PREFERENCE_IPV6 = MAX_LOCAL_PREFERENCE;
export const LOCAL_PREFERENCE_IPV4 = MAX_LOCAL_PREFERENCE - 1;
/** Firezone's connections have one component (RFC 8445 §5.1.2.1: "256 − component ID"). */
export const COMPONENT_ID = 1;

// ---------------------------------------------------------------------------------------------
// Limits

/** RFC 8445 §6.1.2.5: the checklist is capped; RFC suggests 100 as the default. */
export const MAX_CANDIDATE_PAIRS = 100;
/** Remote candidates kept per agent: a misbehaving peer cannot grow our memory without bound. */
export const MAX_REMOTE_CANDIDATES = 64;
/** Local candidates kept per agent. */
export const MAX_LOCAL_CANDIDATES = 32;
/** Candidate lines longer than this are rejected before parsing (they are ~100 bytes in practice). */
export const MAX_CANDIDATE_SDP_LENGTH = 1024;
/** RFC 8839 §5.1: foundation is 1 to 32 ice-chars. */
export const MAX_FOUNDATION_LENGTH = 32;
/** RFC 8445 §5.3: the ufrag has at least 24 bits of randomness (4 ice-chars), the password 128 (22). */
export const MIN_UFRAG_LENGTH = 4;
export const MIN_PASSWORD_LENGTH = 22;
/** RFC 8839 §5.4: at most 256 characters each. */
export const MAX_CREDENTIAL_LENGTH = 256;

// ---------------------------------------------------------------------------------------------
// Timers (RFC 8445 §14, RFC 7675 §5.1, docs/protocol.md §5.5–§5.6)

/**
 * The retransmission profile of connectivity checks, in str0m's terms (which Firezone uses):
 * a check is transmitted up to `maxRetransmits` times, the wait after each doubling from
 * `initialRtoMs` and capped at `maxRtoMs`; the pair fails when the wait after the last one ends.
 */
export interface IceTimers {
  readonly initialRtoMs: number;
  readonly maxRtoMs: number;
  readonly maxRetransmits: number;
  /** RFC 7675 §5.1: the interval between consent checks on the selected pair (jittered ±20 %). */
  readonly consentIntervalMs: number;
  /** RFC 7675 §5.1: consent expires when no check was answered for this long. */
  readonly consentTimeoutMs: number;
}

/** RFC 7675 §5.1: "Implementations SHOULD set a default interval of 5 seconds". */
export const CONSENT_INTERVAL_MS = 5_000;
/** RFC 7675 §5.1: the interval is randomised to 0.8–1.2 times its value. */
export const CONSENT_JITTER = 0.2;
/** RFC 7675 §5.1: "Consent expires after 30 seconds". */
export const CONSENT_TIMEOUT_MS = 30_000;
/** Idle connections (docs/protocol.md §5.6): a consent check every ~25 s. */
export const IDLE_CONSENT_INTERVAL_MS = 25_000;

/**
 * The client (controlling) fails fast so the user gets a new path quickly (docs/protocol.md §5.6):
 * 12 transmissions 250 ms apart doubling to 1.5 s, a pair fails after 15.25 s (docs/protocol.md quotes
 * str0m's ~16.5 s; either way below WireGuard's 20 s rekey-attempt time, as Firezone requires).
 */
export const CONTROLLING_TIMERS: IceTimers = Object.freeze({
  initialRtoMs: 250,
  maxRtoMs: 1_500,
  maxRetransmits: 12,
  consentIntervalMs: CONSENT_INTERVAL_MS,
  consentTimeoutMs: CONSENT_TIMEOUT_MS,
});

/**
 * The gateway (controlled) waits much longer (45 transmissions, up to 15 s apart, ~10 min): the
 * client is the one that detects failure and asks again (docs/protocol.md §5.6).
 */
export const CONTROLLED_TIMERS: IceTimers = Object.freeze({
  initialRtoMs: 250,
  maxRtoMs: 15_000,
  maxRetransmits: 45,
  consentIntervalMs: CONSENT_INTERVAL_MS,
  consentTimeoutMs: CONSENT_TIMEOUT_MS,
});

/**
 * Idle profiles (docs/protocol.md §5.6: after 20 s without traffic the driver may switch): checks and
 * consent every 25 s. Consent then expires only when the whole retransmission budget went
 * unanswered (4 × 25 s = 100 s for the client, 40 × 25 s for the gateway) instead of RFC 7675's
 * 30 s: with one check per 25 s a single lost datagram would otherwise break an idle tunnel,
 * and an idle tunnel sends no data, which is what consent protects against.
 */
export const CONTROLLING_IDLE_TIMERS: IceTimers = Object.freeze({
  initialRtoMs: 25_000,
  maxRtoMs: 25_000,
  maxRetransmits: 4,
  consentIntervalMs: IDLE_CONSENT_INTERVAL_MS,
  consentTimeoutMs: 100_000,
});

export const CONTROLLED_IDLE_TIMERS: IceTimers = Object.freeze({
  initialRtoMs: 25_000,
  maxRtoMs: 25_000,
  maxRetransmits: 40,
  consentIntervalMs: IDLE_CONSENT_INTERVAL_MS,
  consentTimeoutMs: 1_000_000,
});

/**
 * RFC 8445 §14.2: Ta paces new checks. Firezone runs str0m with no pacing (docs/protocol.md §5.5):
 * a connection has a handful of pairs, and every check is sent at once.
 */
export const DEFAULT_TA_MS = 0;

/** No remote candidate this long after creating (or restarting) the agent ⇒ failed (docs/protocol.md §5.4). */
export const NO_CANDIDATES_TIMEOUT_MS = 10_000;
/** Disconnected for longer than this without another working pair ⇒ failed (docs/protocol.md §5.6). */
export const DISCONNECTED_TIMEOUT_MS = 2_000;
/**
 * How long the controlling agent waits, after its first valid pair, for a better pair still in
 * progress before it nominates (RFC 8445 §8.1.1 leaves the moment to the agent). One initial RTO:
 * long enough for the direct checks sent at the same time to come back, short enough not to be
 * noticed. Better pairs found later still replace the nominated one (see `agent.ts`).
 */
export const NOMINATION_SETTLE_MS = 250;
/**
 * Before nomination, the agent fails when checking made no progress (no new remote candidate, no
 * authenticated answer) for a whole check timeout plus this margin: the backstop for a controlled
 * agent whose peer gave up without telling it (every pair Succeeded or Failed, no USE-CANDIDATE
 * coming), or whose own checks are never authenticated while the peer's are.
 */
export const PEER_SILENCE_MARGIN_MS = 5_000;

/** How long a connectivity check may take before its pair fails, under a timer profile. */
export function checkTimeoutMs(timers: IceTimers): number {
  let total = 0;
  for (let i = 0; i < timers.maxRetransmits; i++) total += rtoAfter(timers, i + 1);
  return total;
}

/** The wait after the `transmissions`-th transmission of a check. */
export function rtoAfter(timers: IceTimers, transmissions: number): number {
  const doubled = timers.initialRtoMs * 2 ** Math.min(transmissions - 1, 30);
  return Math.min(doubled, timers.maxRtoMs);
}
