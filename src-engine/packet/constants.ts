/**
 * IP packet constants, named as in the RFCs that define them (RFC 791 IPv4, RFC 8200 IPv6,
 * RFC 768 UDP, RFC 9293 TCP, RFC 792 ICMP, RFC 4443 ICMPv6), so the code reads next to them.
 */

/** Largest IP packet on our TUN (the device MTU, docs/protocol.md §7.1); the parser's default limit. */
export const MAX_IP_SIZE = 1280;
/** IPv4 Total Length and IPv6 Payload Length are 16-bit fields. */
export const MAX_LENGTH_FIELD = 0xffff;

// Fixed header sizes.
export const IPV4_MIN_HEADER_LENGTH = 20;
/** IHL is 4 bits counting 32-bit words: at most 15 × 4 = 60 bytes (RFC 791 §3.1). */
export const IPV4_MAX_HEADER_LENGTH = 60;
export const IPV6_HEADER_LENGTH = 40;
export const UDP_HEADER_LENGTH = 8;
export const TCP_MIN_HEADER_LENGTH = 20;
/** Data Offset is 4 bits counting 32-bit words (RFC 9293 §3.1). */
export const TCP_MAX_HEADER_LENGTH = 60;
/** Every ICMP and ICMPv6 message we handle starts with type, code, checksum and 4 more bytes. */
export const ICMP_HEADER_LENGTH = 8;
/** IPv6 Fragment header is fixed size (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_HEADER_LENGTH = 8;
/** Largest IPv6 packet without jumbograms: fixed header plus a 16-bit Payload Length. */
export const MAX_IPV6_PACKET_SIZE = IPV6_HEADER_LENGTH + MAX_LENGTH_FIELD;

// Assigned Internet Protocol Numbers (IANA), used by IPv4 Protocol and IPv6 Next Header.
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

/**
 * Extension headers walked before the upper-layer header. RFC 8200 §4.1 allows each once
 * (Destination Options twice), so a legitimate chain of these four kinds has at most five;
 * the walk stops at this many to bound the work an attacker can cause.
 */
export const MAX_IPV6_EXTENSION_HEADERS = 8;

// Field offsets inside their headers, where code would otherwise carry magic numbers.
export const IPV4_CHECKSUM_OFFSET = 10;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;
export const UDP_CHECKSUM_OFFSET = 6;
export const TCP_CHECKSUM_OFFSET = 16;
export const ICMP_CHECKSUM_OFFSET = 2;

// IPv4 Flags and Fragment Offset share one 16-bit word (RFC 791 §3.1).
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

/** Default TTL / Hop Limit of packets we originate (RFC 1700 "Assigned Numbers", as Linux). */
export const DEFAULT_TTL = 64;

// TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR).
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

// ICMP (RFC 792) message types and the Destination Unreachable codes we send (RFC 1812 §5.2.7.1).
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;
export const ICMP_CODE_NET_UNREACHABLE = 0;
export const ICMP_CODE_ADMIN_PROHIBITED = 13;

// ICMPv6 (RFC 4443 §2.1): types below 128 are errors, 128 and up informational.
export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
/** Redirect (RFC 4861 §4.5): RFC 4443 §2.4 (e.2) forbids answering it with an error. */
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_CODE_ADMIN_PROHIBITED = 1;
export const ICMPV6_CODE_ADDRESS_UNREACHABLE = 3;

/**
 * An ICMPv4 error carries as much of the offending datagram as fits in 576 bytes
 * (RFC 1812 §4.3.2.3); RFC 792 only requires the header plus 64 bits of data.
 */
export const ICMP_ERROR_MAX_SIZE = 576;
/** An ICMPv6 error must not exceed the minimum IPv6 MTU (RFC 4443 §2.4 (c), RFC 8200 §5). */
export const ICMPV6_ERROR_MAX_SIZE = 1280;
