import { describe, expect, it } from 'vitest';
import type { UdpTransport } from '../datapath/udp.js';
import type { TunDevice } from '../tun/device.js';
import type { TunWriter } from '../tun/tun-writer.js';
import { ioDrops } from './io-drops.js';
import type { NodeDriver } from './node-driver.js';

describe('ioDrops', () => {
  it('reports each place a packet can be lost, summing the sockets', () => {
    const tun = {
      stats: {
        readPackets: 9,
        writtenPackets: 9,
        droppedInvalid: 3,
        writeBackpressure: 0,
        kernelQueueDrops: 11,
        kernelWriteDrops: 2,
      },
    } as unknown as TunDevice;
    const socket = (receiveDrops: number, sendErrors: number, truncated?: number): UdpTransport =>
      ({
        stats: {
          receivedDatagrams: 0,
          sentDatagrams: 0,
          sendBackpressure: 0,
          receiveDrops,
          sendErrors,
          truncated,
        },
      }) as unknown as UdpTransport;
    const drops = ioDrops(tun, { dropped: 5 } as TunWriter, [socket(4, 1, 1), socket(6, 0)], {
      stats: { sendDropped: 7 },
    } as NodeDriver);
    expect(drops).toEqual({
      io_tun_queue: 11,
      io_tun_stack: 2,
      io_tun_invalid: 3,
      io_tun_write_full: 5,
      io_udp_receive_buffer: 10,
      io_udp_send_refused: 1,
      io_udp_send_full: 7,
      io_udp_truncated: 1,
    });
  });

  it('counts 0 where a device does not tell (in-memory TUN, dgram sockets)', () => {
    const drops = ioDrops(
      { stats: { readPackets: 0, writtenPackets: 0, droppedInvalid: 0, writeBackpressure: 0 } } as TunDevice,
      { dropped: 0 } as TunWriter,
      [{ stats: { receivedDatagrams: 0, sentDatagrams: 0, sendBackpressure: 0 } } as UdpTransport],
      { stats: { sendDropped: 0 } } as NodeDriver,
    );
    expect(Object.values(drops).every((v) => v === 0)).toBe(true);
    expect(Object.keys(drops)).toHaveLength(8);
  });
});
