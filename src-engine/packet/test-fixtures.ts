/**
 * Test-only byte fixtures. The CAPTURED packets were written by the Linux 6.18 kernel into a TUN
 * device (IFF_TUN | IFF_NO_PI, MTU 1280, no offloads, so every checksum is the kernel's own) in
 * a throwaway network namespace: tun0 = 10.9.0.1/24 and fd00::1/64, traffic sent from ordinary
 * sockets and `ping` towards 10.9.0.2 and fd00::2, then read from the TUN fd and hex-dumped.
 */
import { hex } from './test-reference.js';

export const CAPTURED = {
  /** UDP 10.9.0.1:40000 → 10.9.0.2:5353, "hello, tun"; IP ID 0x0612, DF, TTL 64. */
  udp4: hex('4500002606124000401120a10a0900010a0900029c4014e9001260ab68656c6c6f2c2074756e'),
  /** UDP [fd00::1]:40001 → [fd00::2]:5353, "hello, tun6"; flow label 0xc5bf7. */
  udp6: hex(
    '600c5bf700131140fd000000000000000000000000000001fd0000000000000000000000000000029c4114e9001344b868656c6c6f2c2074756e36',
  ),
  /** TCP SYN 10.9.0.1:40002 → 10.9.0.2:80 with MSS 1240, SACK-permitted, timestamps, wscale 10. */
  tcp4: hex(
    '4500003ceefd4000400637aa0a0900010a0900029c4200509cb9568300000000a002fbe0e5f50000020404d80402080aab6517b9000000000103030a',
  ),
  /** TCP SYN [fd00::1]:40003 → [fd00::2]:443, MSS 1220. */
  tcp6: hex(
    '600f2a1800280640fd000000000000000000000000000001fd0000000000000000000000000000029c4301bb832a5f2100000000a002fc940c8e0000020404c40402080a7b054a76000000000103030a',
  ),
  /** ICMP echo request 10.9.0.1 → 10.9.0.2 (`ping -s 16`), identifier 0x1980, sequence 1. */
  icmp4: hex('4500002c3b8340004001eb390a0900010a0900020800a5db19800001c524076b000000006a13020000000000'),
  /** ICMPv6 echo request fd00::1 → fd00::2 (`ping -6 -s 16`), identifier 0x1982, sequence 1. */
  icmp6: hex(
    '60050e1900183a40fd000000000000000000000000000001fd0000000000000000000000000000028000467219820001c524076b000000005723020000000000',
  ),
} as const;

/** RFC 1071 §3 numerical example: these bytes sum to 0xddf2 (one's complement). */
export const RFC1071_EXAMPLE = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
export const RFC1071_EXAMPLE_SUM = 0xddf2;

/** The IPv4 header most textbooks use: 192.168.0.1 → 192.168.0.199, UDP, checksum 0xb861. */
export const TEXTBOOK_IPV4_HEADER = hex('45000073000040004011b861c0a80001c0a800c7');
