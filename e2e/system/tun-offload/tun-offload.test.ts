/**
 * TUN offloads on real devices (Linux, root): two namespaces joined only by a "wire" process
 * that copies packets between two node-tun devices. With offloads on, the sender's kernel hands
 * the wire 64 KiB TCP segments (split into packets on read) and the receiver's kernel gets them
 * coalesced again on write; with them off, every packet crosses alone. Either way a 32 MiB TCP
 * transfer over IPv4 and over IPv6 must arrive whole (same SHA-256), and nothing may be dropped.
 * Then 3,000 UDP datagrams each way of family: with USO, runs of one flow reach the receiver as
 * coalesced writes, and every datagram must arrive as sent, in order.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resourceBytesSha256 } from '../connectivity/resource-data.js';
import { NetnsHarness, type Netns, type NsProcess } from '../netns.js';

const WIRE = fileURLToPath(new URL('./wire.ts', import.meta.url));
const TRANSFER = fileURLToPath(new URL('./transfer.ts', import.meta.url));
const TSX = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BYTES = 32 * 1024 * 1024;

interface Stats {
  readPackets: number;
  writtenPackets: number;
  droppedInvalid: number;
  writeBackpressure: number;
  writeErrors: number;
  superReads: number;
  coalescedWrites: number;
}

const harness = new NetnsHarness({ base: 'fzoff' });
afterAll(() => harness.cleanup());

async function stats(wire: NsProcess): Promise<{ a: Stats; b: Stats; unwritten: { a: number; b: number } }> {
  const before = wire.output.length;
  wire.child.stdin?.write('stats\n');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = /STATS (.*)/.exec(wire.output.slice(before));
    if (m) return JSON.parse(m[1]!) as { a: Stats; b: Stats; unwritten: { a: number; b: number } };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the wire printed no STATS line\n${wire.output.slice(-2000)}`);
}

async function transfer(from: Netns, to: Netns, host: string, port: number): Promise<void> {
  const server = to.spawn(process.execPath, ['--import', TSX, TRANSFER, 'serve', String(port)], {
    label: `receiver ${host}`,
    cwd: REPO,
  });
  await server.waitForOutput(/LISTENING/, 20_000);
  const client = from.spawn(
    process.execPath,
    ['--import', TSX, TRANSFER, 'send', host, String(port), String(BYTES)],
    { label: `sender ${host}`, cwd: REPO },
  );
  await client.waitForOutput(/SENT/, 60_000);
  const received = await server.waitForOutput(/RECEIVED (\d+) ([0-9a-f]{64})/, 60_000);
  expect(Number(received[1])).toBe(BYTES);
  expect(received[2]).toBe(resourceBytesSha256(BYTES));
}

const DATAGRAMS = 3000;

async function udpTransfer(from: Netns, to: Netns, host: string, port: number): Promise<void> {
  const server = to.spawn(
    process.execPath,
    ['--import', TSX, TRANSFER, 'udp-serve', String(port), String(DATAGRAMS)],
    {
      label: `udp receiver ${host}`,
      cwd: REPO,
    },
  );
  await server.waitForOutput(/LISTENING/, 20_000);
  const client = from.spawn(
    process.execPath,
    ['--import', TSX, TRANSFER, 'udp-send', host, String(port), String(DATAGRAMS), '1200'],
    { label: `udp sender ${host}`, cwd: REPO },
  );
  const sent = await client.waitForOutput(/SENT ([0-9a-f]{64})/, 60_000);
  const received = await server.waitForOutput(/RECEIVED (\d+) ([0-9a-f]{64})/, 30_000);
  expect(Number(received[1])).toBe(DATAGRAMS);
  expect(received[2]).toBe(sent[1]);
}

async function world(offload: boolean): Promise<{ a: Netns; b: Netns; wire: NsProcess; uso: boolean }> {
  const a = await harness.createNamespace();
  const b = await harness.createNamespace();
  const wire = a.spawn(process.execPath, ['--import', TSX, WIRE, offload ? 'on' : 'off', 'tofa', 'tofb'], {
    label: `wire (offload ${offload ? 'on' : 'off'})`,
    stdin: 'pipe',
    cwd: REPO,
  });
  const ready = await wire.waitForOutput(/READY (.*)/, 20_000);
  const info = JSON.parse(ready[1]!) as {
    offload: { a: { tso: boolean; uso: boolean }; b: { tso: boolean; uso: boolean } };
  };
  expect(info.offload.a.tso).toBe(offload);
  expect(info.offload.b.tso).toBe(offload);
  // The device keeps working from the wire's fd after it moves to the other namespace.
  await a.ip('link', 'set', 'tofb', 'netns', b.name);
  for (const [ns, dev, v4, v6] of [
    [a, 'tofa', '10.231.0.1/24', 'fd00:231::1/64'],
    [b, 'tofb', '10.231.0.2/24', 'fd00:231::2/64'],
  ] as const) {
    await ns.ip('link', 'set', dev, 'mtu', '1420', 'up');
    await ns.ip('addr', 'add', v4, 'dev', dev);
    await ns.ip('-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
  }
  return { a, b, wire, uso: info.offload.b.uso };
}

describe.skipIf(process.getuid?.() !== 0)('TUN offloads (netns)', () => {
  for (const offload of [true, false]) {
    it(`offloads ${offload ? 'on' : 'off'}: 32 MiB of TCP and 3,000 UDP datagrams over IPv4 and IPv6 arrive whole, nothing dropped`, async () => {
      const { a, b, wire, uso } = await world(offload);
      // While one device was still down, writes to it failed (EIO): count from here on.
      const start = await stats(wire);
      await transfer(a, b, '10.231.0.2', 5201);
      await transfer(a, b, 'fd00:231::2', 5202);
      const afterTcp = await stats(wire);
      await udpTransfer(a, b, '10.231.0.2', 5203);
      await udpTransfer(a, b, 'fd00:231::2', 5204);
      const s = await stats(wire);
      console.log(`offload ${offload ? 'on' : 'off'} (USO ${uso}): ${JSON.stringify(s)}`);
      // UDP runs coalesce exactly when the receiving device has USO.
      expect(s.b.coalescedWrites > afterTcp.b.coalescedWrites).toBe(offload && uso);
      for (const side of ['a', 'b'] as const) {
        expect(s[side].droppedInvalid).toBe(start[side].droppedInvalid);
        expect(s[side].writeErrors).toBe(start[side].writeErrors);
      }
      expect(s.unwritten).toEqual(start.unwritten);
      if (offload) {
        // The sender's stack used TSO through the wire, and the receiver got coalesced segments.
        expect(s.a.superReads).toBeGreaterThan(0);
        expect(s.b.coalescedWrites).toBeGreaterThan(0);
        // Far fewer trips through the kernel than packets.
        expect(s.a.superReads + s.b.coalescedWrites).toBeLessThan(s.a.readPackets);
      } else {
        expect(s.a.superReads).toBe(0);
        expect(s.b.coalescedWrites).toBe(0);
      }
      wire.kill('SIGTERM');
    }, 120_000);
  }
});
