/**
 * One transfer for the offload test.
 * TCP: `transfer.ts serve <port>` prints `LISTENING`, takes one connection, and prints
 * `RECEIVED <bytes> <sha256>`; `transfer.ts send <host> <port> <bytes>` sends the first <bytes>
 * of the scenarios' resource payload (resource-data.ts), so the test compares the received hash
 * with resourceBytesSha256.
 * UDP: `transfer.ts udp-serve <port> <count>` prints `LISTENING`, then `RECEIVED <count> <sha256>`
 * once <count> datagrams came (hash over them in arrival order); `transfer.ts udp-send <host>
 * <port> <count> <size>` sends datagram i = i's number and the payload's next <size> − 4 bytes,
 * from a connected socket (so IPv4 IDs run on), in bursts of 32, and prints `SENT <sha256>`.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, createServer } from 'node:net';
import { resourceByteChunks } from '../connectivity/resource-data.js';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'serve') {
  const server = createServer((socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (data) => {
      hash.update(data);
      bytes += data.length;
    });
    socket.on('end', () => {
      console.log(`RECEIVED ${bytes} ${hash.digest('hex')}`);
      socket.end();
      server.close();
    });
  });
  server.listen(Number(args[0]), '::', () => console.log('LISTENING'));
} else if (mode === 'send') {
  const [host, port, total] = [args[0]!, Number(args[1]), Number(args[2])];
  const socket = connect({ host, port }, () => {
    const chunks = resourceByteChunks(total);
    const pump = (): void => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (!socket.write(next.value)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
      console.log('SENT');
    };
    pump();
  });
  socket.on('error', (err) => {
    console.error(err.message);
    process.exit(1);
  });
  socket.resume();
} else if (mode === 'udp-serve') {
  const [port, count] = [Number(args[0]), Number(args[1])];
  const socket = createSocket({ type: 'udp6', recvBufferSize: 8 << 20 });
  const hash = createHash('sha256');
  let received = 0;
  socket.on('message', (data) => {
    hash.update(data);
    if (++received === count) {
      console.log(`RECEIVED ${received} ${hash.digest('hex')}`);
      socket.close();
    }
  });
  socket.bind(port, '::', () => console.log('LISTENING'));
} else if (mode === 'udp-send') {
  const [host, port, count, size] = [args[0]!, Number(args[1]), Number(args[2]), Number(args[3])];
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.connect(port, host, () => {
    void (async () => {
      const hash = createHash('sha256');
      const chunks = resourceByteChunks(count * (size - 4));
      let pending = Buffer.alloc(0);
      for (let i = 0; i < count; i++) {
        while (pending.length < size - 4) pending = Buffer.concat([pending, chunks.next().value as Buffer]);
        const datagram = Buffer.concat([
          Buffer.from(Uint32Array.of(i).buffer),
          pending.subarray(0, size - 4),
        ]);
        pending = pending.subarray(size - 4);
        hash.update(datagram);
        socket.send(datagram);
        if (i % 32 === 31) await delay(1);
      }
      console.log(`SENT ${hash.digest('hex')}`);
      socket.close();
    })();
  });
} else {
  console.error(
    'usage: transfer.ts serve <port> | send <host> <port> <bytes> | udp-serve <port> <count> | udp-send <host> <port> <count> <size>',
  );
  process.exit(2);
}
