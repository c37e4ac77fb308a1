/**
 * Proxy addresses for DNS-resource names (docs/protocol.md §2.1, §2.5): each name gets 4 IPv4
 * and 4 IPv6 addresses, handed out in order, the same ones for as long as the process lives,
 * never reused. IPv4 takes host addresses only (the first is `100.96.0.1`); IPv6 takes every
 * address, the network address first (`fd00:2021:1111:8000::`). The sentinel ranges are skipped.
 * When a range runs out, `assign` says so (the user has to restart the client); it never throws.
 */
import { addressKey, formatIp, parseIpAddress } from '../packet/address.js';
import {
  PROXY_IPS_PER_FAMILY,
  PROXY_IPV4_RANGE,
  PROXY_IPV6_RANGE,
  SENTINEL_IPV4_RANGE,
  SENTINEL_IPV6_RANGE,
} from './constants.js';
import { nameLabels } from './matcher.js';

export interface ProxyIpRecord {
  /** Normalised name: lowercase, no trailing dot. */
  readonly name: string;
  /** 4 addresses, canonical text. */
  readonly ipv4: readonly string[];
  /** 4 addresses, canonical text (RFC 5952). */
  readonly ipv6: readonly string[];
  /** The resources the name matched when it was last assigned (most specific first). */
  readonly resourceIds: readonly string[];
}

export type AssignResult =
  | { readonly ok: true; readonly record: ProxyIpRecord; readonly fresh: boolean }
  | { readonly ok: false; readonly error: 'exhausted'; readonly family: 'ipv4' | 'ipv6' }
  | { readonly ok: false; readonly error: 'invalid_name' };

export interface ProxyIpAllocatorOptions {
  /** Defaults to `100.96.0.0/11`. */
  readonly ipv4Range?: string;
  /** Defaults to `fd00:2021:1111:8000::/107`. */
  readonly ipv6Range?: string;
  /** Ranges never handed out; defaults to the two sentinel ranges. */
  readonly skip?: readonly string[];
}

interface Cidr {
  readonly bytes: Uint8Array;
  readonly first: bigint;
  readonly last: bigint;
}

function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const bytes = parseIpAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (bytes === null || !/^[0-9]{1,3}$/.test(prefixText)) return null;
  const bits = bytes.length * 8;
  const prefix = Number(prefixText);
  if (prefix > bits) return null;
  const hostBits = BigInt(bits - prefix);
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  const first = (value >> hostBits) << hostBits;
  const network = new Uint8Array(bytes.length);
  for (let i = bytes.length - 1, v = first; i >= 0; i--, v >>= 8n) network[i] = Number(v & 0xffn);
  return { bytes: network, first, last: first + (1n << hostBits) - 1n };
}

/** Ranges may hold at most 2^48 addresses, so offsets stay exact as numbers. */
const MAX_RANGE_BITS = 48;

/** Sequential addresses of one family (offsets from the range's network address), skipping holes. */
class Pool {
  #next: number;
  readonly #last: number;
  readonly #holes: readonly (readonly [number, number])[];
  readonly #network: Uint8Array;

  constructor(range: Cidr, hostsOnly: boolean, skip: readonly Cidr[]) {
    const span = range.last - range.first;
    if (span >= 1n << BigInt(MAX_RANGE_BITS)) throw new Error('proxy IP range too large');
    const count = Number(span) + 1;
    const hosts = hostsOnly && count >= 4;
    this.#next = hosts ? 1 : 0;
    this.#last = hosts ? count - 2 : count - 1;
    this.#network = range.bytes;
    this.#holes = skip
      .filter((s) => s.bytes.length === range.bytes.length && s.last >= range.first && s.first <= range.last)
      .map((s) => {
        const lo = (s.first > range.first ? s.first : range.first) - range.first;
        const hi = (s.last < range.last ? s.last : range.last) - range.first;
        return [Number(lo), Number(hi)] as const;
      });
  }

  /** The next `count` offsets without taking them, or null if there are not that many. */
  peek(count: number): { readonly values: number[]; readonly next: number } | null {
    const values: number[] = [];
    let cursor = this.#next;
    while (values.length < count) {
      if (cursor > this.#last) return null;
      const hole = this.#holes.find(([lo, hi]) => cursor >= lo && cursor <= hi);
      if (hole !== undefined) {
        cursor = hole[1] + 1;
        continue;
      }
      values.push(cursor);
      cursor++;
    }
    return { values, next: cursor };
  }

  commit(next: number): void {
    this.#next = next;
  }

  text(offset: number): string {
    const bytes = this.#network.slice();
    let carry = offset;
    for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
      const sum = bytes[i]! + (carry % 256);
      bytes[i] = sum & 0xff;
      carry = Math.floor(carry / 256) + (sum >> 8);
    }
    return formatIp(bytes);
  }
}

export class ProxyIpAllocator {
  readonly #v4: Pool;
  readonly #v6: Pool;
  readonly #byName = new Map<string, { -readonly [K in keyof ProxyIpRecord]: ProxyIpRecord[K] }>();
  /** addressKey → record: looked up per packet (client routing and source checks). */
  readonly #byIp = new Map<number | string, ProxyIpRecord>();

  constructor(options: ProxyIpAllocatorOptions = {}) {
    const v4 = parseCidr(options.ipv4Range ?? PROXY_IPV4_RANGE);
    const v6 = parseCidr(options.ipv6Range ?? PROXY_IPV6_RANGE);
    if (v4?.bytes.length !== 4 || v6?.bytes.length !== 16) throw new Error('invalid proxy IP ranges');
    const skip = (options.skip ?? [SENTINEL_IPV4_RANGE, SENTINEL_IPV6_RANGE]).map((text) => {
      const cidr = parseCidr(text);
      if (cidr === null) throw new Error(`invalid range to skip: ${text}`);
      return cidr;
    });
    this.#v4 = new Pool(v4, true, skip);
    this.#v6 = new Pool(v6, false, skip);
  }

  /** Names that have addresses. */
  get size(): number {
    return this.#byName.size;
  }

  /**
   * The name's addresses, taking 4 + 4 new ones the first time. `resourceIds` replaces the
   * resources recorded for the name (the reverse lookup reports them).
   */
  assign(name: string, resourceIds: readonly string[]): AssignResult {
    const labels = nameLabels(name);
    if (labels === null) return { ok: false, error: 'invalid_name' };
    const key = labels.join('.');
    const known = this.#byName.get(key);
    if (known !== undefined) {
      if (!sameIds(known.resourceIds, resourceIds)) known.resourceIds = [...resourceIds];
      return { ok: true, record: known, fresh: false };
    }
    const v4 = this.#v4.peek(PROXY_IPS_PER_FAMILY);
    if (v4 === null) return { ok: false, error: 'exhausted', family: 'ipv4' };
    const v6 = this.#v6.peek(PROXY_IPS_PER_FAMILY);
    if (v6 === null) return { ok: false, error: 'exhausted', family: 'ipv6' };
    this.#v4.commit(v4.next);
    this.#v6.commit(v6.next);
    const record = {
      name: key,
      ipv4: v4.values.map((v) => this.#v4.text(v)),
      ipv6: v6.values.map((v) => this.#v6.text(v)),
      resourceIds: [...resourceIds],
    };
    this.#byName.set(key, record);
    for (const ip of [...record.ipv4, ...record.ipv6])
      this.#byIp.set(addressKey(parseIpAddress(ip)!), record);
    return { ok: true, record, fresh: true };
  }

  /** The name's record if it has addresses. */
  get(name: string): ProxyIpRecord | undefined {
    const labels = nameLabels(name);
    return labels === null ? undefined : this.#byName.get(labels.join('.'));
  }

  /** Which name (and resources) a proxy address belongs to: for PTR answers and the NAT. */
  lookup(ip: string | Uint8Array): ProxyIpRecord | undefined {
    const bytes = typeof ip === 'string' ? parseIpAddress(ip) : ip;
    if (bytes === null || (bytes.length !== 4 && bytes.length !== 16)) return undefined;
    return this.#byIp.get(addressKey(bytes));
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

let processAllocator: ProxyIpAllocator | undefined;

/**
 * The allocator of this process: names keep their addresses across sign-outs and new sessions
 * (docs/protocol.md §2.5), so every stub resolver of the process should use this one.
 */
export function processProxyIpAllocator(): ProxyIpAllocator {
  processAllocator ??= new ProxyIpAllocator();
  return processAllocator;
}
