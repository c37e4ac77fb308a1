import { describe, expect, it } from 'vitest';
import type { UdpTransport } from '../datapath/udp.js';
import { TunWriter } from '../tun/tun-writer.js';
import type { TunDevice } from '../tun/device.js';
import { HostAddressWatch } from './host-address-watch.js';

const socket = (localAddress: string, localPort: number): UdpTransport =>
  ({ localAddress, localPort }) as UdpTransport;

describe('HostAddressWatch', () => {
  it('pairs each address with its family socket port and reports changes after the first reading', () => {
    let ips = ['10.0.0.2', 'fd00::2'];
    const watch = new HostAddressWatch([socket('0.0.0.0', 52625), socket('::', 40000)], () => ips);
    expect(watch.read()).toEqual({
      addresses: [
        { address: '10.0.0.2', port: 52625 },
        { address: 'fd00::2', port: 40000 },
      ],
      changed: false,
      first: true,
    });
    expect(watch.read()).toMatchObject({ changed: false, first: false });
    ips = ['10.0.0.3'];
    expect(watch.read()).toEqual({
      addresses: [{ address: '10.0.0.3', port: 52625 }],
      changed: true,
      first: false,
    });
  });

  it('leaves out a family without a socket', () => {
    const watch = new HostAddressWatch([socket('0.0.0.0', 1)], () => ['fd00::2', '10.0.0.2']);
    expect(watch.read().addresses).toEqual([{ address: '10.0.0.2', port: 1 }]);
  });
});

describe('TunWriter', () => {
  it('writes in batches and counts what the kernel refuses', () => {
    const writes: number[] = [];
    const tun = {
      write: (_b: unknown, count: number) => (writes.push(count), count - 1),
    } as unknown as TunDevice;
    const writer = new TunWriter(tun, 2);
    for (let i = 0; i < 5; i++) writer.push(new Uint8Array([0x45, i]));
    writer.flush();
    expect(writes).toEqual([2, 2, 1]);
    expect(writer.dropped).toBe(3);
  });
});
