// The RFC 8489 §6.2.1 retransmission schedule as a sans-IO timer.
import { describe, expect, it } from 'vitest';
import { TURN_RC, TURN_RM, TURN_RTO_INITIAL_MS } from '../constants.js';
import {
  RFC8489_RETRANSMIT,
  TransactionTable,
  transactionTimeoutMs,
  type RetransmitConfig,
} from './transaction.js';

const to = { address: '10.0.0.1', port: 3478 };
const id = (n: number): Uint8Array => Uint8Array.from({ length: 12 }, () => n);

/** Runs the table's timer to completion and returns when each transmission and the failure happened. */
function schedule(config: RetransmitConfig): { sends: number[]; failedAt: number } {
  const table = new TransactionTable<string>(config);
  const sends: number[] = [];
  table.start(id(1), Uint8Array.of(1), to, 'req', 0);
  for (let now = 0; ;) {
    while (table.pollTransmit()) sends.push(now);
    if (table.pollFailed()) return { sends, failedAt: now };
    const next = table.pollTimeout();
    if (next === undefined) throw new Error('no timer and no failure');
    now = next;
    table.handleTimeout(now);
  }
}

describe('TransactionTable', () => {
  it('follows RFC 8489 §6.2.1: 0, 500, 1500, 3500, 7500, 15500, 31500 ms, fails at 39500 ms', () => {
    expect(schedule(RFC8489_RETRANSMIT)).toEqual({
      sends: [0, 500, 1500, 3500, 7500, 15500, 31500],
      failedAt: 39_500,
    });
    expect(transactionTimeoutMs(RFC8489_RETRANSMIT)).toBe(39_500);
  });

  it('gives up after 8 s with the TURN profile (RTO 1 s, Rc 4, Rm 1)', () => {
    const turn = {
      initialRtoMs: TURN_RTO_INITIAL_MS,
      maxTransmissions: TURN_RC,
      finalWaitMultiplier: TURN_RM,
    };
    expect(schedule(turn)).toEqual({ sends: [0, 1_000, 3_000, 7_000], failedAt: 8_000 });
    expect(transactionTimeoutMs(turn)).toBe(8_000);
  });

  it('matches responses by transaction ID and reports RTT only without retransmission', () => {
    const table = new TransactionTable<string>(RFC8489_RETRANSMIT);
    table.start(id(1), Uint8Array.of(1), to, 'a', 100);
    table.start(id(2), Uint8Array.of(2), to, 'b', 100);
    expect(table.complete(id(3), 120)).toBeUndefined();
    expect(table.complete(id(1), 142)).toEqual({ context: 'a', rttMs: 42 });
    expect(table.complete(id(1), 143)).toBeUndefined();
    table.handleTimeout(600);
    expect(table.complete(id(2), 700)).toEqual({ context: 'b', rttMs: undefined });
    expect(table.size).toBe(0);
    expect(table.pollTimeout()).toBeUndefined();
  });

  it('sends one copy per late wake-up, not a burst', () => {
    const table = new TransactionTable<string>(RFC8489_RETRANSMIT);
    table.start(id(1), Uint8Array.of(1), to, 'a', 0);
    table.pollTransmit();
    table.handleTimeout(10_000);
    expect(table.pollTransmit()).toBeDefined();
    expect(table.pollTransmit()).toBeUndefined();
    expect(table.pollTimeout()).toBe(11_000);
  });

  it('cancels single transactions and by context', () => {
    const table = new TransactionTable<{ kind: string }>(RFC8489_RETRANSMIT);
    table.start(id(1), Uint8Array.of(1), to, { kind: 'x' }, 0);
    table.start(id(2), Uint8Array.of(1), to, { kind: 'y' }, 0);
    table.start(id(3), Uint8Array.of(1), to, { kind: 'y' }, 0);
    expect(table.cancel(id(1))).toBe(true);
    table.cancelWhere((c) => c.kind === 'y');
    expect(table.size).toBe(0);
    table.handleTimeout(100_000);
    expect(table.pollFailed()).toBeUndefined();
  });
});
