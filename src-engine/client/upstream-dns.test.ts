import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { frameTcpMessage, TcpDnsDeframer } from '../dns/tcp-framing.js';
import { UpstreamDns } from './upstream-dns.js';

const QUERY = Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
/** The "answer": the query with QR set. */
const answer = (query: Uint8Array): Uint8Array => {
  const out = Uint8Array.from(query);
  out[2] = out[2]! | 0x80;
  return out;
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const clean of cleanups.splice(0)) clean();
});

function responses(): { upstream: UpstreamDns; got: Promise<{ bytes: Uint8Array; from: string }> } {
  let resolve: (value: { bytes: Uint8Array; from: string }) => void = () => undefined;
  const got = new Promise<{ bytes: Uint8Array; from: string }>((r) => (resolve = r));
  const upstream = new UpstreamDns({
    onResponse: (bytes, from) => resolve({ bytes: Uint8Array.from(bytes), from }),
  });
  cleanups.push(() => upstream.close());
  return { upstream, got };
}

describe('UpstreamDns', () => {
  it('sends UDP queries and hands back answers named by their upstream', async () => {
    const server = createSocket('udp4');
    cleanups.push(() => server.close());
    server.on('message', (message, remote) => server.send(answer(message), remote.port, remote.address));
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    const { port } = server.address();
    const { upstream, got } = responses();
    upstream.send({ upstream: `127.0.0.1:${port}`, transport: 'udp', bytes: QUERY });
    await expect(got).resolves.toEqual({ bytes: answer(QUERY), from: `127.0.0.1:${port}` });
  });

  it('sends TCP queries framed, one connection each, and reads the framed answer', async () => {
    const server = createServer((socket) => {
      const deframer = new TcpDnsDeframer();
      socket.on('data', (chunk) => {
        for (const message of deframer.push(new Uint8Array(chunk)))
          socket.write(frameTcpMessage(answer(message)));
      });
    });
    cleanups.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const { upstream, got } = responses();
    upstream.send({ upstream: `127.0.0.1:${port}`, transport: 'tcp', bytes: QUERY });
    await expect(got).resolves.toEqual({ bytes: answer(QUERY), from: `127.0.0.1:${port}` });
  });
});
