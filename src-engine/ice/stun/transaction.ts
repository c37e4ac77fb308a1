/**
 * STUN client transactions over UDP with the retransmission schedule of RFC 8489 §6.2.1, as a
 * sans-IO timer: a request is sent at once, again after RTO, 2·RTO, 4·RTO… until Rc
 * transmissions, and the transaction fails Rm·RTO after the last one. The table never reads a
 * clock: callers pass `now` and ask `pollTimeout()` when to call `handleTimeout(now)` next.
 * Responses are matched by transaction ID (§6.3.3); an unknown ID is simply not found.
 */
import { RC, RM, RTO_INITIAL_MS } from '../constants.js';
import type { TransportAddress } from '../transport-address.js';
import { transactionKey } from './header.js';

export interface RetransmitConfig {
  /** First retransmission timeout (RFC 8489 §6.2.1: 500 ms recommended). */
  readonly initialRtoMs: number;
  /** Rc: total transmissions, the first included (default 7). */
  readonly maxTransmissions: number;
  /** Rm: after the last transmission, wait this many initial RTOs (default 16). */
  readonly finalWaitMultiplier: number;
}

export const RFC8489_RETRANSMIT: RetransmitConfig = Object.freeze({
  initialRtoMs: RTO_INITIAL_MS,
  maxTransmissions: RC,
  finalWaitMultiplier: RM,
});

/** How long a transaction can take before it fails, for documentation and tests. */
export function transactionTimeoutMs(config: RetransmitConfig): number {
  let t = 0;
  for (let i = 1; i < config.maxTransmissions; i++) t += config.initialRtoMs * 2 ** (i - 1);
  return t + config.finalWaitMultiplier * config.initialRtoMs;
}

export interface TransactionTransmit {
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

interface Pending<C> {
  readonly id: Uint8Array;
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
  readonly context: C;
  readonly startedAt: number;
  transmissions: number;
  rto: number;
  deadline: number;
}

export interface CompletedTransaction<C> {
  readonly context: C;
  /**
   * Round-trip time, only when the request was sent once (Karn's rule, as RFC 8489 §6.2.1 asks
   * for RTO estimation: with retransmissions the response cannot be tied to one transmission).
   */
  readonly rttMs: number | undefined;
}

export interface FailedTransaction<C> {
  readonly id: Uint8Array;
  readonly context: C;
}

/**
 * Outstanding client transactions, each with a caller-defined context (what the request was for).
 * Output is polled: `pollTransmit()` for retransmissions (first transmissions too, when the
 * request is started with `start`), `pollFailed()` for transactions that timed out.
 */
export class TransactionTable<C> {
  private readonly pending = new Map<string, Pending<C>>();
  private readonly transmits: TransactionTransmit[] = [];
  private readonly failed: FailedTransaction<C>[] = [];

  constructor(private readonly config: RetransmitConfig = RFC8489_RETRANSMIT) {}

  get size(): number {
    return this.pending.size;
  }

  /** Sends `payload` (a request carrying transaction `id`) to `to` now and starts its timer. */
  start(id: Uint8Array, payload: Uint8Array, to: TransportAddress, context: C, now: number): void {
    const rto = this.config.initialRtoMs;
    this.pending.set(transactionKey(id), {
      id,
      to,
      payload,
      context,
      startedAt: now,
      transmissions: 1,
      rto,
      deadline: now + (this.config.maxTransmissions > 1 ? rto : this.config.finalWaitMultiplier * rto),
    });
    this.transmits.push({ to, payload });
  }

  /** Whether a transaction with this ID is outstanding. */
  has(id: Uint8Array): boolean {
    return this.pending.has(transactionKey(id));
  }

  /** The context of an outstanding transaction without completing it. */
  peek(id: Uint8Array): C | undefined {
    return this.pending.get(transactionKey(id))?.context;
  }

  /** Completes the transaction a response belongs to; undefined when no such ID is outstanding. */
  complete(id: Uint8Array, now: number): CompletedTransaction<C> | undefined {
    const key = transactionKey(id);
    const entry = this.pending.get(key);
    if (entry === undefined) return undefined;
    this.pending.delete(key);
    return { context: entry.context, rttMs: entry.transmissions === 1 ? now - entry.startedAt : undefined };
  }

  /** Whether any outstanding transaction's context matches. */
  some(match: (context: C) => boolean): boolean {
    for (const entry of this.pending.values()) if (match(entry.context)) return true;
    return false;
  }

  /** Forgets a transaction (no retransmissions, no failure report). */
  cancel(id: Uint8Array): boolean {
    return this.pending.delete(transactionKey(id));
  }

  /** Forgets every transaction whose context matches. */
  cancelWhere(match: (context: C) => boolean): void {
    for (const [key, entry] of this.pending) if (match(entry.context)) this.pending.delete(key);
  }

  /** Forgets every outstanding transaction (transmissions already queued stay queued). */
  clear(): void {
    this.pending.clear();
  }

  /**
   * Retransmits what is due and fails what has run out. A late call does not send a burst: each
   * due transaction is sent once and its next timer counts from `now`.
   */
  handleTimeout(now: number): void {
    for (const [key, entry] of this.pending) {
      if (entry.deadline > now) continue;
      if (entry.transmissions >= this.config.maxTransmissions) {
        this.pending.delete(key);
        this.failed.push({ id: entry.id, context: entry.context });
        continue;
      }
      entry.transmissions++;
      entry.rto *= 2;
      this.transmits.push({ to: entry.to, payload: entry.payload });
      entry.deadline =
        now +
        (entry.transmissions < this.config.maxTransmissions
          ? entry.rto
          : this.config.finalWaitMultiplier * this.config.initialRtoMs);
    }
  }

  pollTimeout(): number | undefined {
    let earliest: number | undefined;
    for (const entry of this.pending.values()) {
      if (earliest === undefined || entry.deadline < earliest) earliest = entry.deadline;
    }
    return earliest;
  }

  pollTransmit(): TransactionTransmit | undefined {
    return this.transmits.shift();
  }

  pollFailed(): FailedTransaction<C> | undefined {
    return this.failed.shift();
  }
}
