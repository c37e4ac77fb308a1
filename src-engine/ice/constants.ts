/**
 * STUN, TURN and ICE constants, named as in the RFCs (each with its section) so the code can be
 * read next to them. Times are in milliseconds because the sans-IO cores take `now` as a
 * monotonic millisecond clock; where an RFC gives seconds, the name says so or the value is
 * converted here.
 */

// ---------------------------------------------------------------------------------------------
// STUN message structure (RFC 8489 §5, §6)

/** RFC 8489 §5: the fixed value of the second word of every STUN header. */
export const MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §5: header size in bytes. */
export const STUN_HEADER_LENGTH = 20;
/** RFC 8489 §5: the transaction ID is 96 bits. */
export const TRANSACTION_ID_LENGTH = 12;
/** RFC 8489 §14: attribute header (type + length). */
export const ATTRIBUTE_HEADER_LENGTH = 4;
/** RFC 8489 §5: message classes (the C1/C0 bits). */
export const CLASS_REQUEST = 0b00;
export const CLASS_INDICATION = 0b01;
export const CLASS_SUCCESS_RESPONSE = 0b10;
export const CLASS_ERROR_RESPONSE = 0b11;

/** RFC 8489 §18.2 and RFC 8656 §17: methods. */
export const METHOD_BINDING = 0x001;
export const METHOD_ALLOCATE = 0x003;
export const METHOD_REFRESH = 0x004;
export const METHOD_SEND = 0x006;
export const METHOD_DATA = 0x007;
export const METHOD_CREATE_PERMISSION = 0x008;
export const METHOD_CHANNEL_BIND = 0x009;
/** RFC 8489 §5: methods are 12 bits. */
export const MAX_METHOD = 0xfff;

// ---------------------------------------------------------------------------------------------
// Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1, RFC 5780 §7)

/** RFC 8489 §14.1 */
export const ATTR_MAPPED_ADDRESS = 0x0001;
/** RFC 8489 §14.3 */
export const ATTR_USERNAME = 0x0006;
/** RFC 8489 §14.5 */
export const ATTR_MESSAGE_INTEGRITY = 0x0008;
/** RFC 8489 §14.8 */
export const ATTR_ERROR_CODE = 0x0009;
/** RFC 8489 §14.13 */
export const ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
/** RFC 8656 §18.1 */
export const ATTR_CHANNEL_NUMBER = 0x000c;
/** RFC 8656 §18.2 */
export const ATTR_LIFETIME = 0x000d;
/** RFC 8656 §18.3 */
export const ATTR_XOR_PEER_ADDRESS = 0x0012;
/** RFC 8656 §18.4 */
export const ATTR_DATA = 0x0013;
/** RFC 8489 §14.9 */
export const ATTR_REALM = 0x0014;
/** RFC 8489 §14.10 */
export const ATTR_NONCE = 0x0015;
/** RFC 8656 §18.5 */
export const ATTR_XOR_RELAYED_ADDRESS = 0x0016;
/** RFC 8656 §18.6 */
export const ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017;
/** RFC 8656 §18.7 */
export const ATTR_EVEN_PORT = 0x0018;
/** RFC 8656 §18.8 */
export const ATTR_REQUESTED_TRANSPORT = 0x0019;
/** RFC 8656 §18.9 */
export const ATTR_DONT_FRAGMENT = 0x001a;
/** RFC 8489 §14.6 */
export const ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001c;
/** RFC 8489 §14.12 */
export const ATTR_PASSWORD_ALGORITHM = 0x001d;
/** RFC 8489 §14.4 */
export const ATTR_USERHASH = 0x001e;
/** RFC 8489 §14.2 */
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** RFC 8656 §18.10 */
export const ATTR_RESERVATION_TOKEN = 0x0022;
/** RFC 8445 §16.1 */
export const ATTR_PRIORITY = 0x0024;
/** RFC 8445 §16.1 */
export const ATTR_USE_CANDIDATE = 0x0025;
/** RFC 8656 §18.11 */
export const ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000;
/** RFC 8656 §18.12 */
export const ATTR_ADDRESS_ERROR_CODE = 0x8001;
/** RFC 8489 §14.11 */
export const ATTR_PASSWORD_ALGORITHMS = 0x8002;
/** RFC 8489 §14.16 */
export const ATTR_ALTERNATE_DOMAIN = 0x8003;
/** RFC 8656 §18.13 */
export const ATTR_ICMP = 0x8004;
/** RFC 8489 §14.14 */
export const ATTR_SOFTWARE = 0x8022;
/** RFC 8489 §14.15 */
export const ATTR_ALTERNATE_SERVER = 0x8023;
/** RFC 8489 §14.7 */
export const ATTR_FINGERPRINT = 0x8028;
/** RFC 8445 §16.1 */
export const ATTR_ICE_CONTROLLED = 0x8029;
/** RFC 8445 §16.1 */
export const ATTR_ICE_CONTROLLING = 0x802a;
/** RFC 5780 §7.3 */
export const ATTR_RESPONSE_ORIGIN = 0x802b;
/** RFC 5780 §7.4 */
export const ATTR_OTHER_ADDRESS = 0x802c;

/** RFC 8489 §14: types 0x0000–0x7FFF are comprehension-required, 0x8000–0xFFFF optional. */
export const COMPREHENSION_OPTIONAL_MIN = 0x8000;

// ---------------------------------------------------------------------------------------------
// Attribute value limits and values

/** RFC 8489 §14.1: address family values. */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;
/** RFC 8489 §14.3: USERNAME is less than 509 bytes (after OpaqueString processing). */
export const MAX_USERNAME_BYTES = 508;
/**
 * RFC 8489 §14.8–§14.10, §14.14: REALM, NONCE, SOFTWARE and the reason phrase hold fewer than 128
 * characters, which a receiver must accept in up to 763 bytes of UTF-8.
 */
export const MAX_TEXT_ATTRIBUTE_BYTES = 763;
/** RFC 8489 §14.5: HMAC-SHA1 is 20 bytes. */
export const MESSAGE_INTEGRITY_LENGTH = 20;
/** RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4. */
export const MESSAGE_INTEGRITY_SHA256_MIN_LENGTH = 16;
export const MESSAGE_INTEGRITY_SHA256_LENGTH = 32;
/** RFC 8489 §14.7: CRC-32 of the message, XOR-ed with this. */
export const FINGERPRINT_XOR = 0x5354554e;
export const FINGERPRINT_LENGTH = 4;
/** RFC 8489 §14.8: error classes 3..6 (hundreds digit), numbers 0..99. */
export const MIN_ERROR_CLASS = 3;
export const MAX_ERROR_CLASS = 6;
/** RFC 8489 §9.2: the long-term credential nonce cookie ("obMatJos2") and its feature bits. */
export const NONCE_COOKIE = 'obMatJos2';
/** RFC 8489 §18.1: STUN Security Feature bit 0 (counted from the most significant): password algorithms. */
export const SECURITY_FEATURE_PASSWORD_ALGORITHMS = 0x800000;

/** RFC 8656 §18.8: the protocol number of UDP in REQUESTED-TRANSPORT. */
export const TRANSPORT_UDP = 17;

/** RFC 8489 §18.3 error codes, RFC 8656 §19, RFC 8445 §16.2. */
export const ERROR_TRY_ALTERNATE = 300;
export const ERROR_BAD_REQUEST = 400;
export const ERROR_UNAUTHENTICATED = 401;
export const ERROR_FORBIDDEN = 403;
export const ERROR_UNKNOWN_ATTRIBUTE = 420;
export const ERROR_ALLOCATION_MISMATCH = 437;
export const ERROR_STALE_NONCE = 438;
export const ERROR_ADDRESS_FAMILY_NOT_SUPPORTED = 440;
export const ERROR_WRONG_CREDENTIALS = 441;
export const ERROR_UNSUPPORTED_TRANSPORT_PROTOCOL = 442;
export const ERROR_PEER_ADDRESS_FAMILY_MISMATCH = 443;
export const ERROR_ALLOCATION_QUOTA_REACHED = 486;
export const ERROR_ROLE_CONFLICT = 487;
export const ERROR_SERVER_ERROR = 500;
export const ERROR_INSUFFICIENT_CAPACITY = 508;

// ---------------------------------------------------------------------------------------------
// Retransmission (RFC 8489 §6.2.1)

/** RFC 8489 §6.2.1: recommended initial RTO when nothing is known about the path. */
export const RTO_INITIAL_MS = 500;
/** RFC 8489 §6.2.1: total number of transmissions of a request over UDP. */
export const RC = 7;
/** RFC 8489 §6.2.1: after the last transmission, wait Rm × RTO for a response. */
export const RM = 16;

/**
 * The profile the TURN client uses instead, as Firezone's relay client does (docs/protocol.md §5.3):
 * first retransmission after 1 s, doubling, and the transaction fails 8 s after it started
 * (transmissions at 0, 1, 3 and 7 s, then one more second to wait). The RFC profile would take
 * 39.5 s to declare a relay dead; a client that picks among relays wants to know in seconds.
 */
export const TURN_RTO_INITIAL_MS = 1_000;
export const TURN_RC = 4;
export const TURN_RM = 1;

// ---------------------------------------------------------------------------------------------
// TURN (RFC 8656)

/** RFC 8656 §4: the default port of TURN over UDP; Firezone relays listen on it (docs/protocol.md §1). */
export const TURN_DEFAULT_PORT = 3478;
/** Firezone's relays and our portal use this realm (docs/protocol.md §1). */
export const FIREZONE_REALM = 'firezone';
/** RFC 8656 §3.5 / §7.2: the default allocation lifetime, in seconds. */
export const DEFAULT_ALLOCATION_LIFETIME_S = 600;
/** RFC 8656 §9: permissions last 300 s and cannot be made longer; only refreshed. */
export const PERMISSION_LIFETIME_MS = 300_000;
/** We refresh a permission one minute before it would expire (RFC 8656 §9 leaves the margin to us). */
export const PERMISSION_REFRESH_MS = 240_000;
/** RFC 8656 §12: a channel binding lasts 10 minutes unless refreshed. */
export const CHANNEL_LIFETIME_MS = 600_000;
/** Refresh a channel at half its lifetime, as Firezone does (docs/protocol.md §5.6). */
export const CHANNEL_REFRESH_MS = 300_000;
/**
 * RFC 8656 §12: after a binding expires, its number and peer address stay reserved for 5 more
 * minutes, so a number is not given to another peer within 15 minutes of its last bind.
 */
export const CHANNEL_REUSE_DELAY_MS = CHANNEL_LIFETIME_MS + 300_000;
/** RFC 8656 §12: the channel numbers a client may use. */
export const MIN_CHANNEL_NUMBER = 0x4000;
export const MAX_CHANNEL_NUMBER = 0x4fff;
/** RFC 8656 §12.4: ChannelData header: channel number (2 bytes) and length (2 bytes). */
export const CHANNEL_DATA_HEADER_LENGTH = 4;
/** Firezone's keepalive: a Binding to the relay every 25 s (docs/protocol.md §5.3). */
export const BINDING_KEEPALIVE_INTERVAL_MS = 25_000;
/** How many 438 answers in a row a request may get before we stop retrying it. */
export const MAX_STALE_NONCE_RETRIES = 3;
/**
 * 437 answers to Allocate we work through (each: Refresh(0) to clear the leftover allocation,
 * then Allocate again) before giving up. RFC 8656 §7.2 only says the 5-tuple is taken.
 */
export const MAX_ALLOCATION_MISMATCHES = 3;
/**
 * Wait before the 2nd and later Allocate after a 437: a relay may hold a deallocated 5-tuple a
 * moment longer (coturn does until its next one-second timer tick, as our interop test shows).
 */
export const ALLOCATION_MISMATCH_RETRY_MS = 1_000;
/** SOFTWARE we send (RFC 8489 §14.14: informational only). */
export const SOFTWARE = 'fz-desktop';

// ---------------------------------------------------------------------------------------------
// Demultiplexing on the one UDP socket (RFC 7983 §7, docs/protocol.md §5.8)

/** RFC 7983 §7: first byte 0–3 is STUN. */
export const DEMUX_STUN_MAX = 3;
/** RFC 7983 §7 (as updated for TURN channels, RFC 8656 §12): first byte 64–79 is ChannelData. */
export const DEMUX_CHANNEL_DATA_MIN = 64;
export const DEMUX_CHANNEL_DATA_MAX = 79;
