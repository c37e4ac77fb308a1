/**
 * The STUN message header (RFC 8489 §5): two zero bits, the 14-bit message type (a 12-bit method
 * with the 2 class bits interleaved), the body length, the magic cookie and a 96-bit transaction ID.
 */
import { randomFillSync } from 'node:crypto';
import {
  CLASS_ERROR_RESPONSE,
  CLASS_INDICATION,
  CLASS_REQUEST,
  CLASS_SUCCESS_RESPONSE,
  MAX_METHOD,
  TRANSACTION_ID_LENGTH,
} from '../constants.js';

export type StunClass = 'request' | 'indication' | 'success' | 'error';

const CLASS_BITS: Record<StunClass, number> = {
  request: CLASS_REQUEST,
  indication: CLASS_INDICATION,
  success: CLASS_SUCCESS_RESPONSE,
  error: CLASS_ERROR_RESPONSE,
};
const CLASS_NAMES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

/**
 * RFC 8489 §5, figure 3: the class bits C0 and C1 sit at bits 4 and 8 of the type, splitting the
 * method into M0–M3, M4–M6 and M7–M11.
 */
export function messageType(method: number, cls: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > MAX_METHOD) {
    throw new RangeError(`STUN method must be 0..0xfff, got ${method}`);
  }
  const c = CLASS_BITS[cls];
  return (
    (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
  );
}

/** The method and class of a 14-bit message type (the two top bits must already be known zero). */
export function splitMessageType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const c = ((type >> 4) & 1) | ((type >> 7) & 2);
  return { method, cls: CLASS_NAMES[c]! };
}

/** 12 random bytes (RFC 8489 §6: uniformly and randomly chosen, so responses cannot be guessed). */
export type RandomSource = (out: Uint8Array) => void;

export const cryptoRandom: RandomSource = (out) => {
  randomFillSync(out);
};

export function newTransactionId(random: RandomSource = cryptoRandom): Uint8Array {
  const id = new Uint8Array(TRANSACTION_ID_LENGTH);
  random(id);
  return id;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Hex of a transaction ID, for map keys and logs. */
export function transactionKey(id: Uint8Array): string {
  let out = '';
  for (let i = 0; i < id.length; i++) out += HEX[id[i]!];
  return out;
}
