/**
 * WireGuard protocol constants, named and valued as in the WireGuard paper (§6.1 "Timers",
 * §5.4 "Messages") so the code can be read next to it. Times are in milliseconds because the
 * sans-IO cores take `now` as a monotonic millisecond clock.
 */

/** Noise protocol name; its BLAKE2s hash is the initial chaining key. */
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

// §6.1 timers and limits.
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 − 2^13 − 1; not exactly representable as a double, hence the bigint. See `counter.ts`. */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** Upper bound of the random jitter added to REKEY_TIMEOUT for handshake retransmissions. */
export const REKEY_TIMEOUT_JITTER_MAX = 333;
/** How often the responder's cookie secret Rm changes (paper §5.4.7: every two minutes). */
export const COOKIE_REFRESH_TIME = 120_000;

// Derived values, spelled out because the issue and the paper name them.
/** "New handshake when no reply": data sent, nothing received for KEEPALIVE + REKEY_TIMEOUT (15 s). */
export const NEW_HANDSHAKE_AFTER = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT;
/** All keys are zeroed after 3 × REJECT_AFTER_TIME (540 s) without a new session. */
export const ZERO_KEYS_AFTER = REJECT_AFTER_TIME * 3;
/** The initiator rekeys on receive when the session gets this old (165 s), before the peer rejects it. */
export const REKEY_ON_RECEIVE_AFTER = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
/** Retransmissions of one handshake: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT = 18. */
export const MAX_HANDSHAKE_ATTEMPTS = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** A responder ignores a second initiation from one peer within this interval (flood protection). */
export const HANDSHAKE_INITIATION_RATE = 1_000 / 50;

// §5.4 message types and sizes.
export const MESSAGE_HANDSHAKE_INITIATION = 1;
export const MESSAGE_HANDSHAKE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT_DATA = 4;

export const HANDSHAKE_INITIATION_SIZE = 148;
export const HANDSHAKE_RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
export const TRANSPORT_HEADER_SIZE = 16;
export const AEAD_TAG_SIZE = 16;
/** Transport data overhead without padding: 16-byte header + 16-byte tag. */
export const TRANSPORT_OVERHEAD = TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
export const MIN_TRANSPORT_SIZE = TRANSPORT_OVERHEAD;
/** Plaintext is padded to a multiple of this (paper §5.4.6), never beyond the MTU. */
export const PADDING_MULTIPLE = 16;

export const KEY_SIZE = 32;
export const MAC_SIZE = 16;
export const TAI64N_SIZE = 12;
export const COOKIE_NONCE_SIZE = 24;

/** Packets held while a handshake is in flight (wireguard-go's QueueStagedSize). */
export const MAX_STAGED_PACKETS = 128;
/** Default tunnel MTU: the product's TUN MTU (docs/protocol.md §7.1). */
export const DEFAULT_MTU = 1280;

// Load handling for handshake messages (wireguard-go's ratelimiter): per source address.
export const HANDSHAKES_PER_SECOND_PER_SOURCE = 20;
export const HANDSHAKE_BURST_PER_SOURCE = 5;
/** Handshake messages per second across all sources above which the responder is "under load". */
export const UNDER_LOAD_HANDSHAKES_PER_SECOND = 64;
/** Once under load, stay so for this long (wireguard-go's UnderLoadAfterTime). */
export const UNDER_LOAD_HOLD_TIME = 1_000;

/** Replay window (RFC 6479 bitmap): blocks of 32 bits; window = (blocks − 1) × 32 = 8,160 packets. */
export const REPLAY_WINDOW_BLOCKS = 256;
