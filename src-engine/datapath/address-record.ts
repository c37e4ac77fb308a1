import { isIPv4 } from 'node:net';
import { formatIpv4, formatIpv6, parseIpAddress } from '../packet/index.js';
import { ADDR_SIZE } from '../tun/batch.js';
import type { Endpoint } from '../wireguard/endpoint.js';

/** Writes an endpoint as a 20-byte address record: family, 0, port BE, 16 address bytes. */
export function writeRecord(e: Endpoint, out: Uint8Array, offset: number): void {
  const bytes = parseIpAddress(e.address);
  if (!bytes) throw new TypeError(`not an IP address: ${e.address}`);
  out.fill(0, offset, offset + ADDR_SIZE);
  out[offset] = isIPv4(e.address) ? 4 : 6;
  out[offset + 2] = e.port >> 8;
  out[offset + 3] = e.port & 0xff;
  out.set(bytes, offset + 4);
}

export function readRecord(records: Uint8Array, offset: number): Endpoint {
  const port = (records[offset + 2]! << 8) | records[offset + 3]!;
  const address = records[offset] === 4 ? formatIpv4(records, offset + 4) : formatIpv6(records, offset + 4);
  return { address, port };
}

/**
 * Endpoint objects for address records without formatting a string per datagram: a bulk flow
 * comes from one address, so the last few records and their objects are remembered. Tunn
 * compares endpoints by value, so a reused object is as good as a new one.
 */
export class EndpointCache {
  private readonly keys: Uint8Array[] = [];
  private readonly values: Endpoint[] = [];
  private readonly records = new WeakMap<Endpoint, Uint8Array>();

  constructor(private readonly size = 8) {}

  fromRecord(records: Uint8Array, offset: number): Endpoint {
    for (let k = 0; k < this.keys.length; k++) {
      const key = this.keys[k]!;
      let same = true;
      for (let j = 0; j < ADDR_SIZE; j++) {
        if (key[j] !== records[offset + j]) {
          same = false;
          break;
        }
      }
      if (same) return this.values[k]!;
    }
    const e = readRecord(records, offset);
    if (this.keys.length >= this.size) {
      this.keys.pop();
      this.values.pop();
    }
    const key = records.slice(offset, offset + ADDR_SIZE);
    this.keys.unshift(key);
    this.values.unshift(e);
    this.records.set(e, key);
    return e;
  }

  /** Copies the record of `e` into `out` (computed once per endpoint object). */
  toRecord(e: Endpoint, out: Uint8Array, offset: number): void {
    let record = this.records.get(e);
    if (!record) {
      record = new Uint8Array(ADDR_SIZE);
      writeRecord(e, record, 0);
      this.records.set(e, record);
    }
    out.set(record, offset);
  }
}
