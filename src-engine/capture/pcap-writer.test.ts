import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildGoodbye } from '../p2p-control/codec.js';
import { buildUdpPacket } from '../packet/build.js';
import { pcapFileHeader, pcapRecord, pcapRecordLength, PCAP_SNAPLEN } from './pcap-writer.js';
import { readWithTcpdump } from './test-tcpdump.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function udp4(): Uint8Array {
  const packet = buildUdpPacket({
    src: new Uint8Array([100, 64, 0, 1]),
    dst: new Uint8Array([10, 0, 0, 5]),
    srcPort: 40_000,
    dstPort: 9_999,
    payload: new TextEncoder().encode('hello'),
  });
  if (!(packet instanceof Uint8Array)) throw new Error(packet.message);
  return packet;
}

describe('pcap writer', () => {
  it('writes the classic file header: magic, 2.4, zone 0, sigfigs 0, snaplen 65535, LINKTYPE_RAW', () => {
    expect(hex(pcapFileHeader())).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '65000000',
    );
  });

  it('writes a record: seconds, microseconds, captured and original length, then the packet', () => {
    const packet = new Uint8Array([0x45, 0x00, 0x00, 0x14, 1, 2, 3, 4]);
    // 1_700_000_000_123.456 ms → 1700000000 s (0x6553f100) and 123456 µs (0x01e240).
    expect(hex(pcapRecord(packet, 1_700_000_000_123.456))).toBe(
      '00f15365' + '40e20100' + '08000000' + '08000000' + '4500001401020304',
    );
  });

  it('copies the packet, clamps rounding to 999999 µs and writes bad times as 0', () => {
    const packet = new Uint8Array([0x60, 1, 2]);
    const record = pcapRecord(packet, 999.9996);
    packet[0] = 0;
    expect(record[16]).toBe(0x60);
    const view = new DataView(record.buffer);
    expect(view.getUint32(0, true)).toBe(0);
    expect(view.getUint32(4, true)).toBe(999_999);
    for (const t of [-5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(hex(pcapRecord(packet, t).subarray(0, 8))).toBe('0000000000000000');
    }
  });

  it('cuts a packet longer than the snaplen, keeping its real length', () => {
    const record = pcapRecord(new Uint8Array(PCAP_SNAPLEN + 10), 0);
    const view = new DataView(record.buffer);
    expect(record.length).toBe(16 + PCAP_SNAPLEN);
    expect(pcapRecordLength(PCAP_SNAPLEN + 10)).toBe(record.length);
    expect(view.getUint32(8, true)).toBe(PCAP_SNAPLEN);
    expect(view.getUint32(12, true)).toBe(PCAP_SNAPLEN + 10);
  });

  it('writes files tcpdump reads: an IPv4 UDP packet and a p2p control packet', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fz-pcap-'));
    dirs.push(dir);
    const file = join(dir, 'test.pcap');
    const t = 1_700_000_000_000;
    writeFileSync(
      file,
      Buffer.concat([pcapFileHeader(), pcapRecord(udp4(), t), pcapRecord(buildGoodbye(), t + 1.5)]),
    );
    const text = readWithTcpdump(file);
    // The Goodbye: IPv6, next header 255, :: → ::, 8 bytes of FZ header.
    expect(text.trim().split('\n')).toEqual([
      '1700000000.000000 IP 100.64.0.1.40000 > 10.0.0.5.9999: UDP, length 5',
      '1700000000.001500 IP6 :: > :::  ip-proto-255 8',
    ]);
  });
});
