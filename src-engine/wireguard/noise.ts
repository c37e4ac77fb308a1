import type { CryptoBackend, EphemeralKeyPair } from './crypto/backend.js';
import {
  AEAD_TAG_SIZE,
  HANDSHAKE_INITIATION_RATE,
  HANDSHAKE_INITIATION_SIZE,
  HANDSHAKE_RESPONSE_SIZE,
  KEY_SIZE,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  TAI64N_SIZE,
} from './constants.js';
import { readU32, writeU32 } from './counter.js';
import { initialState, kdf1, kdf2, kdf3 } from './kdf.js';
import { Initiation, Response } from './messages.js';
import { tai64nAfter } from './tai64n.js';

/**
 * The Noise_IKpsk2 handshake of one peer pair (paper §5.4.2–5.4.4), as explicit states:
 * zeroed → initiation created → response consumed (initiator), or
 * zeroed → initiation consumed → response created (responder).
 * Messages are built with zero MAC fields; `cookie.ts` fills mac1/mac2.
 */

const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(KEY_SIZE);

export interface StaticKeys {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export type HandshakeState =
  'zeroed' | 'initiation_created' | 'initiation_consumed' | 'response_created' | 'response_consumed';

/** Symmetric session keys derived at the end of a handshake. */
export interface SessionKeys {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
}

/**
 * The peer-independent first half of consuming an initiation: it reveals the initiator's static
 * key, which a device with many peers needs to find the peer (and its handshake) at all.
 */
export interface OpenedInitiation {
  readonly initiatorStatic: Uint8Array;
  readonly senderIndex: number;
  readonly ephemeral: Uint8Array;
  readonly chainingKey: Uint8Array;
  readonly hash: Uint8Array;
}

/** H after mixing a responder's static public key: fixed per responder key, so cached. */
/** A handshake's ephemeral key pair: made ahead by the backend when it can, else here. */
function newEphemeral(c: CryptoBackend): EphemeralKeyPair {
  const ahead = c.ephemeralKeyPair?.();
  if (ahead) return ahead;
  const privateKey = c.randomBytes(KEY_SIZE);
  return { privateKey, publicKey: c.x25519PublicKey(privateKey) };
}

export function responderHash(c: CryptoBackend, responderStatic: Uint8Array): Uint8Array {
  return c.hash(initialState(c).hash, responderStatic);
}

export function openInitiation(
  c: CryptoBackend,
  local: StaticKeys,
  localResponderHash: Uint8Array,
  msg: Uint8Array,
): OpenedInitiation | undefined {
  if (msg.length !== HANDSHAKE_INITIATION_SIZE) return undefined;
  const ephemeral = msg.slice(Initiation.ephemeral, Initiation.ephemeral + KEY_SIZE);
  const chainingKey0 = kdf1(c, initialState(c).chainingKey, ephemeral);
  let hash = c.hash(localResponderHash, ephemeral);
  const es = c.x25519(local.privateKey, ephemeral);
  if (!es) return undefined;
  const [chainingKey, key] = kdf2(c, chainingKey0, es);
  es.fill(0);
  const encryptedStatic = msg.subarray(
    Initiation.encryptedStatic,
    Initiation.encryptedStatic + KEY_SIZE + AEAD_TAG_SIZE,
  );
  const initiatorStatic = new Uint8Array(KEY_SIZE);
  const opened = c.aeadOpen(key, ZERO_NONCE, encryptedStatic, hash, initiatorStatic);
  key.fill(0);
  if (opened !== KEY_SIZE) return undefined;
  hash = c.hash(hash, encryptedStatic);
  return { initiatorStatic, senderIndex: readU32(msg, Initiation.senderIndex), ephemeral, chainingKey, hash };
}

export type ConsumeInitiationResult = 'ok' | 'wrong_peer' | 'invalid' | 'timestamp_replay' | 'flood';

export class Handshake {
  state: HandshakeState = 'zeroed';
  /** Local index of the handshake in flight (valid unless state is zeroed). */
  localIndex = 0;
  private remoteIndex = 0;
  private chainingKey: Uint8Array = ZERO_KEY;
  private hash: Uint8Array = ZERO_KEY;
  private localEphemeral: Uint8Array = ZERO_KEY;
  private remoteEphemeral: Uint8Array = ZERO_KEY;
  /** DH(S_local, S_remote): fixed for the pair, so computed once; null for a low-order peer key. */
  private readonly staticStatic: Uint8Array | null;
  /** H after mixing the remote (responder) static key, for initiations we create. */
  private readonly initiatorHash: Uint8Array;
  private readonly presharedKey: Uint8Array;
  /** Newest timestamp accepted from the peer: older or equal initiations are replays. */
  private latestTimestamp = new Uint8Array(TAI64N_SIZE);
  private lastInitiationConsumedAt = -Infinity;

  constructor(
    private readonly c: CryptoBackend,
    private readonly local: StaticKeys,
    readonly remoteStatic: Uint8Array,
    presharedKey: Uint8Array | undefined,
  ) {
    this.staticStatic = c.x25519(local.privateKey, remoteStatic);
    this.initiatorHash = responderHash(c, remoteStatic);
    this.presharedKey = presharedKey ? Uint8Array.from(presharedKey) : new Uint8Array(KEY_SIZE);
  }

  /** Whether the peer's static key is usable at all (not a low-order point). */
  get valid(): boolean {
    return this.staticStatic !== null;
  }

  /** Builds a handshake initiation (MACs zero). Returns undefined if the peer key is unusable. */
  createInitiation(localIndex: number, timestamp: Uint8Array): Uint8Array | undefined {
    const c = this.c;
    if (!this.staticStatic) return undefined;
    const msg = new Uint8Array(HANDSHAKE_INITIATION_SIZE);
    writeU32(msg, 0, MESSAGE_HANDSHAKE_INITIATION);
    writeU32(msg, Initiation.senderIndex, localIndex);

    const { privateKey: ephemeralPrivate, publicKey: ephemeralPublic } = newEphemeral(c);
    msg.set(ephemeralPublic, Initiation.ephemeral);
    let chainingKey = kdf1(c, initialState(c).chainingKey, ephemeralPublic);
    let hash = c.hash(this.initiatorHash, ephemeralPublic);

    const es = c.x25519(ephemeralPrivate, this.remoteStatic);
    if (!es) return undefined;
    let key: Uint8Array;
    [chainingKey, key] = kdf2(c, chainingKey, es);
    es.fill(0);
    const encryptedStatic = msg.subarray(
      Initiation.encryptedStatic,
      Initiation.encryptedStatic + KEY_SIZE + AEAD_TAG_SIZE,
    );
    c.aeadSeal(key, ZERO_NONCE, this.local.publicKey, hash, encryptedStatic);
    hash = c.hash(hash, encryptedStatic);

    [chainingKey, key] = kdf2(c, chainingKey, this.staticStatic);
    const encryptedTimestamp = msg.subarray(
      Initiation.encryptedTimestamp,
      Initiation.encryptedTimestamp + TAI64N_SIZE + AEAD_TAG_SIZE,
    );
    c.aeadSeal(key, ZERO_NONCE, timestamp, hash, encryptedTimestamp);
    key.fill(0);
    hash = c.hash(hash, encryptedTimestamp);

    this.clear();
    this.chainingKey = chainingKey;
    this.hash = hash;
    this.localEphemeral = ephemeralPrivate;
    this.localIndex = localIndex;
    this.state = 'initiation_created';
    return msg;
  }

  /** Second half of consuming an initiation, once `openInitiation` found this peer. */
  consumeInitiation(opened: OpenedInitiation, msg: Uint8Array, now: number): ConsumeInitiationResult {
    const c = this.c;
    if (!equalBytes(opened.initiatorStatic, this.remoteStatic)) return 'wrong_peer';
    if (!this.staticStatic) return 'invalid';
    const [chainingKey, key] = kdf2(c, opened.chainingKey, this.staticStatic);
    const encryptedTimestamp = msg.subarray(
      Initiation.encryptedTimestamp,
      Initiation.encryptedTimestamp + TAI64N_SIZE + AEAD_TAG_SIZE,
    );
    const timestamp = new Uint8Array(TAI64N_SIZE);
    const opened12 = c.aeadOpen(key, ZERO_NONCE, encryptedTimestamp, opened.hash, timestamp);
    key.fill(0);
    if (opened12 !== TAI64N_SIZE) return 'invalid';
    // Replay: an initiation is only accepted with a timestamp newer than any before (§5.1).
    if (!tai64nAfter(timestamp, this.latestTimestamp)) return 'timestamp_replay';
    // Flood: even fresh initiations are limited per peer, or a replayed burst could churn sessions.
    if (now - this.lastInitiationConsumedAt < HANDSHAKE_INITIATION_RATE) return 'flood';

    this.clear();
    this.latestTimestamp = timestamp;
    this.lastInitiationConsumedAt = now;
    this.chainingKey = chainingKey;
    this.hash = c.hash(opened.hash, encryptedTimestamp);
    this.remoteEphemeral = opened.ephemeral;
    this.remoteIndex = opened.senderIndex;
    this.state = 'initiation_consumed';
    return 'ok';
  }

  /** Builds the response to a consumed initiation (MACs zero). */
  createResponse(localIndex: number): Uint8Array | undefined {
    const c = this.c;
    if (this.state !== 'initiation_consumed') return undefined;
    const msg = new Uint8Array(HANDSHAKE_RESPONSE_SIZE);
    writeU32(msg, 0, MESSAGE_HANDSHAKE_RESPONSE);
    writeU32(msg, Response.senderIndex, localIndex);
    writeU32(msg, Response.receiverIndex, this.remoteIndex);

    const { privateKey: ephemeralPrivate, publicKey: ephemeralPublic } = newEphemeral(c);
    msg.set(ephemeralPublic, Response.ephemeral);
    const mixed = this.mixResponse(
      ephemeralPublic,
      c.x25519(ephemeralPrivate, this.remoteEphemeral),
      c.x25519(ephemeralPrivate, this.remoteStatic),
    );
    if (!mixed) return undefined;
    const { chainingKey: ck, key } = mixed;
    let hash = mixed.hash;
    const encryptedNothing = msg.subarray(
      Response.encryptedNothing,
      Response.encryptedNothing + AEAD_TAG_SIZE,
    );
    c.aeadSeal(key, ZERO_NONCE, EMPTY, hash, encryptedNothing);
    key.fill(0);
    hash = c.hash(hash, encryptedNothing);

    ephemeralPrivate.fill(0);
    this.chainingKey = ck;
    this.hash = hash;
    this.localIndex = localIndex;
    this.state = 'response_created';
    return msg;
  }

  /** Consumes the response to our initiation. State changes only when every check passes. */
  consumeResponse(msg: Uint8Array): boolean {
    const c = this.c;
    if (this.state !== 'initiation_created' || msg.length !== HANDSHAKE_RESPONSE_SIZE) return false;
    if (readU32(msg, Response.receiverIndex) !== this.localIndex) return false;
    const ephemeral = msg.subarray(Response.ephemeral, Response.ephemeral + KEY_SIZE);
    const mixed = this.mixResponse(
      ephemeral,
      c.x25519(this.localEphemeral, ephemeral),
      c.x25519(this.local.privateKey, ephemeral),
    );
    if (!mixed) return false;
    const { chainingKey: ck, hash, key } = mixed;
    const encryptedNothing = msg.subarray(
      Response.encryptedNothing,
      Response.encryptedNothing + AEAD_TAG_SIZE,
    );
    const ok = c.aeadOpen(key, ZERO_NONCE, encryptedNothing, hash, EMPTY) === 0;
    key.fill(0);
    if (!ok) return false;
    this.hash = c.hash(hash, encryptedNothing);
    this.chainingKey = ck;
    this.remoteIndex = readU32(msg, Response.senderIndex);
    this.state = 'response_consumed';
    return true;
  }

  /**
   * The part of the response both sides compute alike (§5.4.3): mix the responder's ephemeral,
   * DH(e_i, e_r) and DH(s_i, e_r) — each side computes them from its own private keys — then the
   * preshared key. Returns the chaining key, the hash and the key that seals the empty payload;
   * undefined when a DH result is all zeros (a low-order point). Wipes the DH results.
   */
  private mixResponse(
    responderEphemeral: Uint8Array,
    ee: Uint8Array | null,
    se: Uint8Array | null,
  ): { chainingKey: Uint8Array; hash: Uint8Array; key: Uint8Array } | undefined {
    const c = this.c;
    if (!ee || !se) {
      ee?.fill(0);
      se?.fill(0);
      return undefined;
    }
    let chainingKey = kdf1(c, this.chainingKey, responderEphemeral);
    chainingKey = kdf1(c, chainingKey, ee);
    chainingKey = kdf1(c, chainingKey, se);
    ee.fill(0);
    se.fill(0);
    const [ck, tau, key] = kdf3(c, chainingKey, this.presharedKey);
    const hash = c.hash(c.hash(this.hash, responderEphemeral), tau);
    return { chainingKey: ck, hash, key };
  }

  /**
   * Derives the transport keys (§5.4.5) after 'response_consumed' (initiator) or
   * 'response_created' (responder), and returns the handshake to 'zeroed'.
   */
  deriveSession(): SessionKeys | undefined {
    const isInitiator = this.state === 'response_consumed';
    if (!isInitiator && this.state !== 'response_created') return undefined;
    const [first, second] = kdf2(this.c, this.chainingKey, EMPTY);
    const keys: SessionKeys = {
      sendKey: isInitiator ? first : second,
      receiveKey: isInitiator ? second : first,
      localIndex: this.localIndex,
      remoteIndex: this.remoteIndex,
      isInitiator,
    };
    this.clear();
    return keys;
  }

  /** Forgets the handshake in flight and wipes its secrets. */
  clear(): void {
    if (this.chainingKey !== ZERO_KEY) this.chainingKey.fill(0);
    if (this.localEphemeral !== ZERO_KEY) this.localEphemeral.fill(0);
    this.chainingKey = ZERO_KEY;
    this.hash = ZERO_KEY;
    this.localEphemeral = ZERO_KEY;
    this.remoteEphemeral = ZERO_KEY;
    this.state = 'zeroed';
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
