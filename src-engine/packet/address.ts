/**
 * IP address text forms, for logs, tests and configuration: never on the per-packet path, which
 * works on the raw 4- or 16-byte views (`ipv4Src`, `IpPacket.src`, ...).
 */

/** Dotted-decimal form of the 4 bytes at `offset`. */
export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * RFC 5952 canonical text of the 16 bytes at `offset`: lowercase hex without leading zeros
 * (§4.1, §4.3), "::" for the longest run of two or more zero groups, the first on a tie (§4.2),
 * and IPv4-mapped addresses with a dotted-decimal tail (§5).
 */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1; // §4.2.2: "::" must not stand for a single zero group.
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Text of a 4-byte (IPv4) or 16-byte (IPv6) address; anything else is described, not thrown. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIpv4(bytes);
  if (bytes.length === 16) return formatIpv6(bytes);
  return `<invalid address of ${bytes.length} bytes>`;
}

/**
 * A map key for an address without text: an IPv4 address is its 32-bit value (no allocation, for
 * lookups per packet), an IPv6 address its 16 bytes as latin1 (one short string). The two kinds
 * never collide (number vs string).
 */
export function addressKey(bytes: Uint8Array): number | string {
  if (bytes.length === 4) return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Strict dotted-decimal IPv4 (no leading zeros, which some parsers read as octal), or null. */
export function parseIpv4Address(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!DECIMAL_OCTET.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/** RFC 4291 §2.2 text forms (with "::" and a dotted IPv4 tail), without a zone; or null. */
export function parseIpv6Address(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const compressed = halves.length === 2;
  // A dotted IPv4 part may only end the whole address.
  const head = parseGroups(halves[0]!, !compressed);
  const tail = compressed ? parseGroups(halves[1]!, true) : [];
  if (head === null || tail === null) return null;
  const count = head.length + tail.length;
  if (compressed ? count > 7 : count !== 8) return null;
  const out = new Uint8Array(16);
  const put = (at: number, word: number): void => {
    out[2 * at] = word >>> 8;
    out[2 * at + 1] = word & 0xff;
  };
  head.forEach((word, i) => put(i, word));
  tail.forEach((word, i) => put(8 - tail.length + i, word));
  return out;
}

/** The 16-bit words of colon-separated groups; "" is no groups. */
function parseGroups(text: string, allowIpv4Tail: boolean): number[] | null {
  if (text === '') return [];
  const groups = text.split(':');
  const words: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    if (HEX_GROUP.test(group)) {
      words.push(parseInt(group, 16));
      continue;
    }
    const v4 = allowIpv4Tail && i === groups.length - 1 ? parseIpv4Address(group) : null;
    if (v4 === null) return null;
    words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
  }
  return words;
}

/** Either family, by shape; null for anything else. */
export function parseIpAddress(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6Address(text) : parseIpv4Address(text);
}
