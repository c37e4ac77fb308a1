import { REJECT_AFTER_TIME } from './constants.js';
import { MAX_COUNTER } from './counter.js';
import type { SessionKeys } from './noise.js';
import { ReplayWindow } from './replay.js';

/**
 * The effective REJECT_AFTER_MESSAGES for our number counters: the spec's 2^64 − 2^13 − 1 is
 * unreachable within REJECT_AFTER_TIME anyway, and 2^53 − 1 keeps the arithmetic exact.
 */
export const SEND_COUNTER_LIMIT = MAX_COUNTER;

/** One transport session (paper §5.4.5–5.4.6): keys, counters and the replay window. */
export class Keypair {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  readonly createdAt: number;
  sendCounter = 0;
  readonly replay = new ReplayWindow();

  constructor(keys: SessionKeys, now: number) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = keys.isInitiator;
    this.createdAt = now;
  }

  /** Usable for sending: young enough and counter below the limit. */
  canSend(now: number): boolean {
    return now - this.createdAt < REJECT_AFTER_TIME && this.sendCounter < SEND_COUNTER_LIMIT;
  }

  canReceive(now: number): boolean {
    return now - this.createdAt < REJECT_AFTER_TIME;
  }

  zero(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }
}
