/**
 * The resource routing table (docs/protocol.md §6.2): which resource a destination belongs to. Of all
 * entries whose network holds the address, the winner is the one whose filters open the packet's
 * protocol, then the longest prefix, then the highest resource id. The winner is returned even if
 * its filters reject the packet's port: the caller then answers "prohibited" rather than routing
 * the packet to a broader resource the policy did not mean.
 *
 * Lookups are cached per (address, protocol), because a flow sends many packets to one address.
 */
import type { Filter } from '../portal/messages/common.js';
import { parseCidr, type Cidr } from '../datapath/allowed-ips.js';
import { filtersMentionProtocol, type L4Protocol } from './filters.js';

export interface RouteEntry<T> {
  readonly id: string;
  readonly network: Cidr;
  readonly filters: readonly Filter[];
  readonly value: T;
}

const CACHE_SIZE = 1024;
const PROTOCOL_INDEX: Record<L4Protocol, number> = { tcp: 0, udp: 1, icmp: 2, other: 3 };

export class RoutingTable<T> {
  private v4: RouteEntry<T>[] = [];
  private v6: RouteEntry<T>[] = [];
  private readonly cache = new Map<number | string, RouteEntry<T> | null>();

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  entries(): RouteEntry<T>[] {
    return [...this.v4, ...this.v6];
  }

  /** Adds `id` for `network` (CIDR text or parsed); an entry of the same id and network is replaced. */
  insert(id: string, network: string | Cidr, filters: readonly Filter[], value: T): void {
    const cidr = typeof network === 'string' ? parseCidr(network) : network;
    const masked = { bytes: mask(cidr.bytes, cidr.prefix), prefix: cidr.prefix };
    const list = masked.bytes.length === 4 ? this.v4 : this.v6;
    const at = list.findIndex((e) => e.id === id && sameCidr(e.network, masked));
    const entry = { id, network: masked, filters, value };
    if (at >= 0) list[at] = entry;
    else list.push(entry);
    this.cache.clear();
  }

  /** Removes every entry of `id`. */
  remove(id: string): void {
    this.v4 = this.v4.filter((e) => e.id !== id);
    this.v6 = this.v6.filter((e) => e.id !== id);
    this.cache.clear();
  }

  clear(): void {
    this.v4 = [];
    this.v6 = [];
    this.cache.clear();
  }

  lookup(address: Uint8Array, protocol: L4Protocol): RouteEntry<T> | undefined {
    // IPv4 keys are numbers (no string built per packet on the hot path); IPv6 ones are text.
    const key =
      address.length === 4
        ? (((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0) * 4 +
          PROTOCOL_INDEX[protocol]
        : `${protocol}|${Buffer.from(address.buffer, address.byteOffset, address.length).toString('hex')}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let best: RouteEntry<T> | undefined;
    let bestOpens = false;
    for (const entry of address.length === 4 ? this.v4 : this.v6) {
      if (!contains(entry.network, address)) continue;
      const opens = filtersMentionProtocol(entry.filters, protocol);
      if (
        !best ||
        (opens && !bestOpens) ||
        (opens === bestOpens &&
          (entry.network.prefix > best.network.prefix ||
            (entry.network.prefix === best.network.prefix && entry.id > best.id)))
      ) {
        best = entry;
        bestOpens = opens;
      }
    }
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, best ?? null);
    return best;
  }
}

export function contains(network: Cidr, address: Uint8Array): boolean {
  if (network.bytes.length !== address.length) return false;
  let bits = network.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & m) !== network.bytes[i]) return false;
  }
  return true;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.prefix === b.prefix && Buffer.compare(a.bytes, b.bytes) === 0;
}
