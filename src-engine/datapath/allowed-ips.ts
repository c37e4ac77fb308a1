import { parseIpAddress } from '../packet/index.js';

/** An IP prefix, e.g. parsed from "10.98.0.0/24". */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const bytes = addr === undefined ? null : parseIpAddress(addr);
  const max = bytes?.length === 4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!bytes || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new TypeError(`not a CIDR: ${JSON.stringify(text)}`);
  }
  return { bytes, prefix };
}

interface Entry<T> {
  readonly version: 4 | 6;
  readonly network: Uint8Array;
  readonly prefix: number;
  /** IPv4 only: network and mask as u32 for a two-instruction match. */
  readonly net32: number;
  readonly mask32: number;
  readonly value: T;
}

/**
 * Cryptokey routing (WireGuard paper §2): the most specific prefix wins. A sorted list is
 * enough for the handful of peers a client has; the last hit is cached because a flow sends
 * many packets to one address in a row.
 */
export class AllowedIps<T> {
  private entries: Entry<T>[] = [];
  private lastDst32 = -1;
  private lastHit: T | undefined;

  insert(cidr: Cidr, value: T): void {
    const version = cidr.bytes.length === 4 ? 4 : 6;
    const network = maskBytes(cidr.bytes, cidr.prefix);
    const mask32 = version === 4 && cidr.prefix > 0 ? (~0 << (32 - cidr.prefix)) >>> 0 : 0;
    const net32 = version === 4 ? u32(network, 0) & mask32 : 0;
    this.entries.push({ version, network, prefix: cidr.prefix, net32: net32 >>> 0, mask32, value });
    this.entries.sort((a, b) => b.prefix - a.prefix);
    this.lastDst32 = -1;
  }

  removeValue(value: T): void {
    this.entries = this.entries.filter((e) => e.value !== value);
    this.lastDst32 = -1;
  }

  /** Looks up an address given as 4 or 16 bytes at `offset` of `buf`. */
  lookup(buf: Uint8Array, offset: number, length: 4 | 16): T | undefined {
    if (length === 4) {
      const dst = u32(buf, offset);
      if (dst === this.lastDst32) return this.lastHit;
      for (const e of this.entries) {
        if (e.version === 4 && (dst & e.mask32) >>> 0 === e.net32) {
          this.lastDst32 = dst;
          this.lastHit = e.value;
          return e.value;
        }
      }
      return undefined;
    }
    for (const e of this.entries) {
      if (e.version === 6 && prefixMatches(buf, offset, e.network, e.prefix)) return e.value;
    }
    return undefined;
  }
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function prefixMatches(buf: Uint8Array, offset: number, network: Uint8Array, prefix: number): boolean {
  for (let i = 0; i < 16 && prefix > 0; i++, prefix -= 8) {
    const mask = prefix >= 8 ? 0xff : (0xff << (8 - prefix)) & 0xff;
    if ((buf[offset + i]! & mask) !== network[i]) return false;
  }
  return true;
}
