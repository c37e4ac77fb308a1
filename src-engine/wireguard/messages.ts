import {
  COOKIE_REPLY_SIZE,
  HANDSHAKE_INITIATION_SIZE,
  HANDSHAKE_RESPONSE_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  MESSAGE_TRANSPORT_DATA,
  MIN_TRANSPORT_SIZE,
} from './constants.js';
import { readU32 } from './counter.js';

/**
 * Byte offsets of the four WireGuard messages (paper §5.4). Every message starts with a type
 * byte and three reserved zero bytes, read as one little-endian u32.
 */
export const Initiation = {
  senderIndex: 4,
  ephemeral: 8,
  encryptedStatic: 40,
  encryptedTimestamp: 88,
  mac1: 116,
  mac2: 132,
} as const;

export const Response = {
  senderIndex: 4,
  receiverIndex: 8,
  ephemeral: 12,
  encryptedNothing: 44,
  mac1: 60,
  mac2: 76,
} as const;

export const CookieReply = {
  receiverIndex: 4,
  nonce: 8,
  encryptedCookie: 32,
} as const;

export const Transport = {
  receiverIndex: 4,
  counter: 8,
  payload: 16,
} as const;

export type MessageKind = 'initiation' | 'response' | 'cookie' | 'transport';

/**
 * Classifies a datagram by its first four bytes and its length. Returns undefined for anything
 * that is not exactly a well-formed WireGuard message frame; the caller drops and counts it.
 */
export function classify(datagram: Uint8Array): MessageKind | undefined {
  if (datagram.length < 4) return undefined;
  // Type byte and three zero reserved bytes, as one LE u32.
  const type = readU32(datagram, 0);
  switch (type) {
    case MESSAGE_HANDSHAKE_INITIATION:
      return datagram.length === HANDSHAKE_INITIATION_SIZE ? 'initiation' : undefined;
    case MESSAGE_HANDSHAKE_RESPONSE:
      return datagram.length === HANDSHAKE_RESPONSE_SIZE ? 'response' : undefined;
    case MESSAGE_COOKIE_REPLY:
      return datagram.length === COOKIE_REPLY_SIZE ? 'cookie' : undefined;
    case MESSAGE_TRANSPORT_DATA:
      return datagram.length >= MIN_TRANSPORT_SIZE ? 'transport' : undefined;
    default:
      return undefined;
  }
}

/** The receiver index of a response, cookie reply or transport message (all at offset 4 or 8). */
export function receiverIndexOf(kind: Exclude<MessageKind, 'initiation'>, datagram: Uint8Array): number {
  return readU32(datagram, kind === 'response' ? Response.receiverIndex : 4);
}
