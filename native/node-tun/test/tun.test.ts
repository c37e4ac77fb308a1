/**
 * TunDevice on real TUN devices. Each scenario runs in a child process inside a fresh network
 * namespace (test/fixtures/child.ts); these tests check what it reports. Root only.
 */
import { describe, expect, test } from 'vitest';
import { isRoot, runScenario } from './helpers/netns.js';
import type { TunStats } from '../index.js';

interface ErrorInfo {
  name: string;
  code?: string;
  syscall?: string;
  message: string;
}

describe.skipIf(!isRoot)('TunDevice (netns)', () => {
  test('opens named, kernel-named, pattern and multi-queue devices; close is idempotent', async () => {
    const r = await runScenario<{
      names: Record<string, string>;
      links: string[];
      fds: number[];
      busy: ErrorInfo | null;
      afterClose: { fd: number; name: string; linkGone: boolean };
      closedRead: ErrorInfo | null;
      closedWrite: ErrorInfo | null;
      closedBatch: ErrorInfo | null;
    }>('open');
    expect(r.names.named).toBe('ntopen0');
    expect(r.names.auto).toMatch(/^tun\d+$/);
    expect(r.names.autoEmpty).toMatch(/^tun\d+$/);
    expect(r.names.autoEmpty).not.toBe(r.names.auto);
    expect(r.names.pattern).toBe('ntp0');
    expect(r.links).toEqual(expect.arrayContaining(['ntopen0', r.names.auto, r.names.autoEmpty, 'ntp0']));
    expect(new Set(r.fds).size).toBe(6);
    expect(r.fds.every((fd) => fd > 2)).toBe(true);
    expect(r.busy).toMatchObject({ code: 'EBUSY', syscall: 'ioctl(TUNSETIFF)' });
    expect(r.afterClose).toEqual({ fd: -1, name: 'ntopen0', linkGone: true });
    for (const e of [r.closedRead, r.closedWrite, r.closedBatch]) expect(e).toMatchObject({ code: 'EBADF' });
  });

  test('reads packets in batches into slots, leaving the headroom alone; survives GC', async () => {
    const r = await runScenario<{
      sent: number;
      received: number;
      contentOk: boolean;
      headroomIntact: boolean;
      batches: number[];
      errors: string[];
      stats: TunStats;
      alive: boolean;
    }>('read');
    expect(r.sent).toBe(300);
    expect(r.received).toBe(300);
    expect(r.contentOk).toBe(true);
    expect(r.headroomIntact).toBe(true);
    expect(r.alive).toBe(true);
    expect(r.errors).toEqual([]);
    expect(Math.max(...r.batches)).toBe(64); // bounded by maxBatch
    expect(r.batches.length).toBeLessThan(20); // a burst arrives in a few batches, not one per packet
    expect(r.stats.readBatches).toBe(r.batches.length);
    expect(r.stats.readPackets).toBe(r.batches.reduce((a, b) => a + b, 0));
  });

  test('writes IPv4 and IPv6 packets that the kernel delivers; answers ping', async () => {
    const r = await runScenario<{
      written: number;
      single: boolean;
      got4: { msg: string; address: string; port: number }[];
      got6: { msg: string; address: string; port: number }[];
      replies: number;
      ping: { code: number | null; out: string };
      stats: TunStats;
    }>('write');
    expect(r.written).toBe(12); // 11 written + 1 non-IP packet refused and counted
    expect(r.single).toBe(true);
    expect(r.got4.map((m) => m.msg).sort()).toEqual(
      ['batch-0', 'batch-2', 'batch-4', 'batch-6', 'batch-8', 'after-bad', 'single'].sort(),
    );
    expect(r.got4.every((m) => m.address === '10.202.0.2')).toBe(true);
    expect(r.got4.find((m) => m.msg === 'batch-4')?.port).toBe(4004);
    expect(r.got6.map((m) => m.msg).sort()).toEqual(['batch-1', 'batch-3', 'batch-5', 'batch-7', 'batch-9']);
    expect(r.got6.every((m) => m.address === 'fd00:202::2')).toBe(true);
    expect(r.ping.code).toBe(0);
    expect(r.ping.out).toContain('3 received');
    expect(r.replies).toBe(3);
    expect(r.stats.writeErrors).toBe(1);
    expect(r.stats.writtenPackets).toBe(12 + 3);
  });

  test('drops and counts packets larger than slotSize - headroom', async () => {
    const r = await runScenario<{ lengths: number[]; stats: TunStats }>('oversize');
    const udp = r.lengths.filter((l) => l === 256 || l === 128);
    expect(udp).toEqual([256, 128, 256, 128, 256, 128, 256, 128, 256, 128]);
    expect(r.stats.droppedOversize).toBe(10); // 257- and 1428-byte packets
  });

  test('a deleted interface gives exactly one error event and no busy loop', async () => {
    const r = await runScenario<{
      errors: ErrorInfo[];
      idleCpuMs: number;
      afterDeleteCpuMs: number;
      writeAfter: ErrorInfo | null;
    }>('deleted');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'EBADFD', syscall: 'read' });
    expect(r.idleCpuMs).toBeLessThan(60); // 600 ms idle while reading
    expect(r.afterDeleteCpuMs).toBeLessThan(150); // 800 ms after the deletion (includes `ip link del`)
    expect(r.writeAfter).toMatchObject({ code: 'EBADFD', syscall: 'write' });
  });

  test('bad arguments throw TypeError/RangeError and leave the device working', async () => {
    const r = await runScenario<{
      results: Record<string, ErrorInfo | null>;
      worksAfter: boolean;
      detachErrors: string[];
    }>('badArgs');
    for (const [label, err] of Object.entries(r.results)) {
      expect(err, label).not.toBeNull();
      expect(['TypeError', 'RangeError'], `${label}: ${err?.name} ${err?.message}`).toContain(err?.name);
    }
    expect(r.results['open: name too long']?.name).toBe('RangeError');
    expect(r.results['read: slots beyond buffer']).toMatchObject({
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    });
    expect(r.results['read: lengths is an Int32Array']).toMatchObject({ name: 'TypeError' });
    expect(r.worksAfter).toBe(true);
    expect(r.detachErrors).toEqual(['ERR_INVALID_STATE']);
  });

  test('a worker that is terminated while reading closes its device', async () => {
    const r = await runScenario<{
      existedWhileRunning: boolean;
      goneAfterTerminate: boolean;
      mainWorks: boolean;
    }>('workerTun');
    expect(r).toMatchObject({ existedWhileRunning: true, goneAfterTerminate: true, mainWorks: true });
  });
});
