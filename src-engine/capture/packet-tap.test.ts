import { describe, expect, it, vi } from 'vitest';
import { CaptureSession, PacketTapSet, type StartTimer } from './packet-tap.js';
import { pcapFileHeader, pcapRecord } from './pcap-writer.js';

/** A timer the test fires by hand. */
function fakeTimer(): {
  start: StartTimer;
  fire: () => void;
  ms: () => number | undefined;
  cancelled: () => boolean;
} {
  let callback: (() => void) | undefined;
  let ms: number | undefined;
  let cancelled = false;
  return {
    start: (delay, fn) => {
      ms = delay;
      callback = fn;
      return () => (cancelled = true);
    },
    fire: () => callback?.(),
    ms: () => ms,
    cancelled: () => cancelled,
  };
}

function session(maxBytes: number, seconds = 10) {
  const chunks: Uint8Array[] = [];
  const timer = fakeTimer();
  const capture = new CaptureSession({
    seconds,
    maxBytes,
    sink: (chunk) => chunks.push(chunk),
    startTimer: timer.start,
  });
  const written = (): Buffer => Buffer.concat(chunks);
  return { capture, chunks, timer, written };
}

const v4 = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);

describe('CaptureSession', () => {
  it('writes the file header at once, then a copy of each packet as a record', () => {
    const { capture, written } = session(1_000);
    expect(written()).toEqual(Buffer.from(pcapFileHeader()));
    const buffer = new Uint8Array(64);
    buffer.set(v4);
    capture.tap(buffer.subarray(0, v4.length), 'to_tunnel', 1_000);
    buffer.fill(0xee); // the datapath reuses its buffer at once
    capture.tap(v4, 'from_tunnel', 2_000);
    expect(written()).toEqual(
      Buffer.concat([pcapFileHeader(), pcapRecord(v4, 1_000), pcapRecord(v4, 2_000)]),
    );
  });

  it('ends after its seconds with reason time, and taps nothing afterwards', async () => {
    const { capture, timer, chunks } = session(1_000, 5);
    capture.tap(v4, 'to_tunnel', 0);
    expect(timer.ms()).toBe(5_000);
    timer.fire();
    capture.tap(v4, 'to_tunnel', 0);
    expect(chunks).toHaveLength(2);
    expect(capture.isEnded).toBe(true);
    await expect(capture.done).resolves.toEqual({ packets: 1, bytes: 24 + 36, dropped: 0, reason: 'time' });
  });

  it('ends with reason size when the next record would not fit, counting it as dropped', async () => {
    const { capture, timer, written } = session(24 + 36 + 35);
    capture.tap(v4, 'to_tunnel', 0);
    capture.tap(v4, 'to_tunnel', 0);
    capture.tap(v4, 'to_tunnel', 0);
    expect(written().length).toBe(24 + 36);
    expect(timer.cancelled()).toBe(true);
    await expect(capture.done).resolves.toEqual({ packets: 1, bytes: 60, dropped: 1, reason: 'size' });
  });

  it('ends with reason size as soon as a record fills maxBytes exactly', async () => {
    const { capture } = session(24 + 36);
    capture.tap(v4, 'to_tunnel', 0);
    expect(capture.isEnded).toBe(true);
    await expect(capture.done).resolves.toEqual({ packets: 1, bytes: 60, dropped: 0, reason: 'size' });
    // The header alone can be the whole budget: a valid, empty file.
    await expect(session(24).capture.done).resolves.toMatchObject({ packets: 0, bytes: 24, reason: 'size' });
  });

  it('ends with reason stopped on stop(); a second stop or the timer changes nothing', async () => {
    const { capture, timer } = session(1_000);
    capture.stop();
    capture.stop();
    timer.fire();
    await expect(capture.done).resolves.toEqual({ packets: 0, bytes: 24, dropped: 0, reason: 'stopped' });
  });

  it('drops and counts packets while the sink is backed up, and goes on once it drains', async () => {
    let backlog = 0;
    const capture = new CaptureSession({
      seconds: 10,
      maxBytes: 1_000,
      sink: () => undefined,
      backlog: () => backlog,
      maxBacklogBytes: 100,
      startTimer: fakeTimer().start,
    });
    backlog = 101;
    capture.tap(v4, 'to_tunnel', 0);
    backlog = 100;
    capture.tap(v4, 'to_tunnel', 0);
    capture.stop();
    await expect(capture.done).resolves.toEqual({ packets: 1, bytes: 60, dropped: 1, reason: 'stopped' });
  });

  it('ends as stopped when the sink throws, without throwing into the datapath', async () => {
    let fail = false;
    const capture = new CaptureSession({
      seconds: 10,
      maxBytes: 1_000,
      sink: () => {
        if (fail) throw new Error('socket closed');
      },
      startTimer: fakeTimer().start,
    });
    fail = true;
    expect(() => capture.tap(v4, 'to_tunnel', 0)).not.toThrow();
    await expect(capture.done).resolves.toMatchObject({ packets: 0, reason: 'stopped' });
  });

  it('ends after real seconds with the default timer', async () => {
    vi.useFakeTimers();
    try {
      const capture = new CaptureSession({ seconds: 2, maxBytes: 1_000, sink: () => undefined });
      vi.advanceTimersByTime(1_999);
      expect(capture.isEnded).toBe(false);
      vi.advanceTimersByTime(1);
      await expect(capture.done).resolves.toMatchObject({ reason: 'time' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses nonsense bounds', () => {
    const sink = (): void => undefined;
    expect(() => new CaptureSession({ seconds: 0, maxBytes: 1_000, sink })).toThrow(RangeError);
    expect(() => new CaptureSession({ seconds: Number.NaN, maxBytes: 1_000, sink })).toThrow(RangeError);
    expect(() => new CaptureSession({ seconds: 1, maxBytes: 23, sink })).toThrow(/at least 24/);
    expect(() => new CaptureSession({ seconds: 1, maxBytes: 1.5e3 + 0.5, sink })).toThrow(RangeError);
  });
});

describe('PacketTapSet', () => {
  it('calls every tap, removes one by its remover, and is inactive when empty', () => {
    const taps = new PacketTapSet();
    expect(taps.active).toBe(false);
    const seen: string[] = [];
    const tap = (_p: Uint8Array, direction: string): void => void seen.push(direction);
    const removeA = taps.add(tap);
    const removeB = taps.add(tap); // the same function twice is two taps
    expect(taps.active).toBe(true);
    taps.emit(v4, 'to_tunnel', 0);
    removeA();
    removeA();
    taps.emit(v4, 'from_tunnel', 0);
    removeB();
    taps.emit(v4, 'to_tunnel', 0);
    expect(seen).toEqual(['to_tunnel', 'to_tunnel', 'from_tunnel']);
    expect(taps.active).toBe(false);
  });

  it('drops a tap that throws and keeps the others going', () => {
    const taps = new PacketTapSet();
    let good = 0;
    taps.add(() => {
      throw new Error('bad tap');
    });
    taps.add(() => good++);
    expect(() => taps.emit(v4, 'to_tunnel', 0)).not.toThrow();
    taps.emit(v4, 'to_tunnel', 0);
    expect(good).toBe(2);
  });

  it('lets a tap remove itself while packets are being emitted', () => {
    const taps = new PacketTapSet();
    const seen: number[] = [];
    const remove = taps.add(() => {
      seen.push(1);
      remove();
    });
    taps.add(() => seen.push(2));
    taps.emit(v4, 'to_tunnel', 0);
    taps.emit(v4, 'to_tunnel', 0);
    expect(seen).toEqual([1, 2, 2]);
  });
});
