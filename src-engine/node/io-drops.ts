import type { UdpTransport } from '../datapath/udp.js';
import type { TunDevice } from '../tun/device.js';
import type { TunWriter } from '../tun/tun-writer.js';
import type { NodeDriver } from './node-driver.js';

/**
 * Every place between the kernel and the engine where a packet can be lost, as counters for a
 * runtime's status (`drops`), so no drop is silent: the TUN's queue towards us and the stack
 * after our writes (the kernel's interface counters), reads that were no IP packet, TUN writes
 * refused for a full queue, the UDP sockets' receive buffers, sends the kernel refused or that
 * waited on a full socket too long, and datagrams too big for a slot.
 */
export function ioDrops(
  tun: TunDevice,
  tunOut: TunWriter,
  transports: readonly UdpTransport[],
  driver: NodeDriver,
): Record<string, number> {
  const t = tun.stats;
  let receiveBuffer = 0;
  let sendRefused = 0;
  let truncated = 0;
  for (const transport of transports) {
    const s = transport.stats;
    receiveBuffer += s.receiveDrops ?? 0;
    sendRefused += s.sendErrors ?? 0;
    truncated += s.truncated ?? 0;
  }
  return {
    io_tun_queue: t.kernelQueueDrops ?? 0,
    io_tun_stack: t.kernelWriteDrops ?? 0,
    io_tun_invalid: t.droppedInvalid,
    io_tun_write_full: tunOut.dropped,
    io_udp_receive_buffer: receiveBuffer,
    io_udp_send_refused: sendRefused,
    io_udp_send_full: driver.stats.sendDropped,
    io_udp_truncated: truncated,
  };
}
