/**
 * A bounded buffer of IP packets waiting for something (an authorization, a connection): at most
 * `capacity` packets; a byte-identical duplicate is not stored twice, and a retransmitted TCP SYN
 * replaces the earlier one of its flow (docs/protocol.md §7.1), so an application retrying while the
 * tunnel is set up does not fill the buffer with copies. Beyond the capacity packets are dropped
 * and counted.
 */
export class PacketBuffer {
  private packets: Uint8Array[] = [];
  dropped = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.packets.length;
  }

  /** Stores a copy of `packet`; false if it was dropped (full). */
  push(packet: Uint8Array): boolean {
    const syn = tcpSynFlow(packet);
    for (let i = 0; i < this.packets.length; i++) {
      const held = this.packets[i]!;
      if (equalBytes(held, packet)) return true;
      if (syn !== undefined && tcpSynFlow(held) === syn) {
        this.packets[i] = Uint8Array.from(packet);
        return true;
      }
    }
    if (this.packets.length >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.packets.push(Uint8Array.from(packet));
    return true;
  }

  /** Takes every packet out, oldest first. */
  drain(): Uint8Array[] {
    const out = this.packets;
    this.packets = [];
    return out;
  }

  clear(): number {
    const n = this.packets.length;
    this.packets = [];
    return n;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** "src|dst|sport|dport" of a TCP SYN (without ACK), else undefined. */
function tcpSynFlow(p: Uint8Array): string | undefined {
  const v = p[0]! >> 4;
  let ihl: number;
  let proto: number;
  let addrs: string;
  if (v === 4 && p.length >= 20) {
    ihl = (p[0]! & 0x0f) * 4;
    proto = p[9]!;
    addrs = Buffer.from(p.subarray(12, 20)).toString('hex');
  } else if (v === 6 && p.length >= 40) {
    ihl = 40;
    proto = p[6]!;
    addrs = Buffer.from(p.subarray(8, 40)).toString('hex');
  } else {
    return undefined;
  }
  if (proto !== 6 || p.length < ihl + 14) return undefined;
  const flags = p[ihl + 13]!;
  if ((flags & 0x02) === 0 || (flags & 0x10) !== 0) return undefined;
  return `${addrs}|${Buffer.from(p.subarray(ihl, ihl + 4)).toString('hex')}`;
}
