/** Reverse-lookup names: `4.3.2.1.in-addr.arpa` (RFC 1035 §3.5), nibble `ip6.arpa` (RFC 3596 §2.5). */
import { nameLabels } from './matcher.js';

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const NIBBLE = /^[0-9a-f]$/;

/** The address a full reverse name stands for; null for partial zones or anything else. */
export function reverseNameToIp(name: string): Uint8Array | null {
  const labels = nameLabels(name);
  if (labels === null || labels.length < 3 || labels[labels.length - 1] !== 'arpa') return null;
  const zone = labels[labels.length - 2];
  if (zone === 'in-addr' && labels.length === 6) {
    const out = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      const label = labels[3 - i]!;
      if (!DECIMAL_OCTET.test(label) || Number(label) > 255) return null;
      out[i] = Number(label);
    }
    return out;
  }
  if (zone === 'ip6' && labels.length === 34) {
    const out = new Uint8Array(16);
    for (let i = 0; i < 32; i++) {
      const label = labels[31 - i]!;
      if (!NIBBLE.test(label)) return null;
      const nibble = parseInt(label, 16);
      out[i >> 1] = out[i >> 1]! | (i % 2 === 0 ? nibble << 4 : nibble);
    }
    return out;
  }
  return null;
}

/** The reverse name of a 4- or 16-byte address (no trailing dot). */
export function ipToReverseName(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((bytes[i]! & 0xf).toString(16), (bytes[i]! >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
