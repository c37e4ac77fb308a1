/**
 * A TUN "wire" for the offload test: opens two TUN devices (offloads on or off, argv[2]), then
 * copies every packet read from one into the other, batch for batch, through the engine's own
 * LinuxTunDevice. The test moves the second device into another namespace; TCP between the two
 * then crosses node-tun twice: split on read, coalesced on write. Prints `READY <json>` once
 * both exist, and `STATS <json>` for each line read on stdin.
 */
import { createInterface } from 'node:readline';
import { LinuxTunDevice } from '../../../src-engine/tun/linux.js';

const offload = process.argv[2] === 'on';
const [nameA, nameB] = [process.argv[3] ?? 'tofa', process.argv[4] ?? 'tofb'];
const a = new LinuxTunDevice({ name: nameA, mtu: 1420, offload });
const b = new LinuxTunDevice({ name: nameB, mtu: 1420, offload });
const unwritten = { a: 0, b: 0 };

a.start(
  (batch, count) => {
    unwritten.b += count - b.write(batch, count);
  },
  (err) => {
    console.error(`tun ${nameA}: ${err.message}`);
    process.exit(1);
  },
);
b.start(
  (batch, count) => {
    unwritten.a += count - a.write(batch, count);
  },
  (err) => {
    console.error(`tun ${nameB}: ${err.message}`);
    process.exit(1);
  },
);

console.log(`READY ${JSON.stringify({ a: a.name, b: b.name, offload: { a: a.offload, b: b.offload } })}`);
createInterface({ input: process.stdin }).on('line', () => {
  console.log(`STATS ${JSON.stringify({ a: a.stats, b: b.stats, unwritten })}`);
});
process.on('SIGTERM', () => {
  a.close();
  b.close();
  process.exit(0);
});
