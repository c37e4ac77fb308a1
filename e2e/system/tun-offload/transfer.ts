/**
 * One TCP transfer for the offload test: `transfer.ts serve <port>` prints `LISTENING`, takes one
 * connection, and prints `RECEIVED <bytes> <sha256>`; `transfer.ts send <host> <port> <bytes>`
 * sends the first <bytes> of the scenarios' resource payload (resource-data.ts), so the test
 * compares the received hash with resourceBytesSha256.
 */
import { createHash } from 'node:crypto';
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
} else {
  console.error('usage: transfer.ts serve <port> | send <host> <port> <bytes>');
  process.exit(2);
}
