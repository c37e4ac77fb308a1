/**
 * One TCP transfer for the offload test: `transfer.ts serve <port>` prints `LISTENING`, takes one
 * connection, and prints `RECEIVED <bytes> <sha256>`; `transfer.ts send <host> <port> <bytes>`
 * sends that many deterministic pseudo-random bytes and prints `SENT <bytes> <sha256>`.
 */
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

/** A deterministic stream (xorshift), so both sides can be compared by hash. */
function chunk(state: { x: number }, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    let x = state.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    state.x = x >>> 0;
    out.writeUInt32LE(state.x, i);
  }
  return out;
}

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
  const hash = createHash('sha256');
  const state = { x: 0x2545f491 };
  const socket = connect({ host, port }, () => {
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const data = chunk(state, Math.min(256 * 1024, total - sent));
        hash.update(data);
        sent += data.length;
        if (!socket.write(data)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
      console.log(`SENT ${sent} ${hash.digest('hex')}`);
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
