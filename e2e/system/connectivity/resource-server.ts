/**
 * The resource host's services, one process (run with tsx in the resource namespace):
 *
 * - HTTP on every address, `httpPort`:
 *     GET /          → "hello from resource\n"
 *     GET /whoami    → {"address","port","family"} of the TCP peer (shows the gateway's masquerade)
 *     GET /whereami  → {"address"}: the local address the request arrived at (which target a NAT chose)
 *     GET /bytes?n=N → the first N bytes of the deterministic payload (resource-data.ts)
 *     GET /healthz   → "ok"
 * - UDP echo on `udpEchoPort` (IPv4 and IPv6).
 * - An authoritative DNS server on `dnsPort` (UDP, IPv4 and IPv6) answering A/AAAA from
 *   `records`; other names get NXDOMAIN, other types an empty answer.
 *
 * Usage: tsx resource-server.ts '<json ResourceServerConfig>'; prints `READY` once everything
 * listens, one line per HTTP request and DNS query, and exits on SIGTERM.
 */
import dgram from 'node:dgram';
import { createServer } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as dnsPacket from 'dns-packet';
import { HELLO, MAX_RESOURCE_BYTES, resourceByteChunks, type ResourceServerConfig } from './resource-data.js';

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function bindUdp(type: 'udp4' | 'udp6', port: number, onMessage: (s: dgram.Socket) => void): Promise<void> {
  const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  onMessage(socket);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => {
      socket.removeListener('error', reject);
      socket.on('error', (err) => log(`${type} socket error: ${err.message}`));
      resolve();
    });
  });
}

function dnsAnswer(query: Buffer, records: Record<string, string[]>): Buffer | undefined {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  const question = packet.questions?.[0];
  if (packet.type !== 'query' || question === undefined) return undefined;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const known = records[name];
  const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
  const answers: dnsPacket.Answer[] = (known ?? [])
    .filter((ip) => family !== 0 && isIP(ip) === family)
    .map(
      (ip) =>
        ({ type: family === 4 ? 'A' : 'AAAA', name: question.name, ttl: 30, data: ip }) as dnsPacket.Answer,
    );
  log(`dns ${question.type} ${name} → ${known === undefined ? 'NXDOMAIN' : answers.length}`);
  const NXDOMAIN = 3;
  return dnsPacket.encode({
    type: 'response',
    id: packet.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (known === undefined ? NXDOMAIN : 0),
    questions: [question],
    answers,
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ResourceServerConfig;

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://resource');
    log(`http ${req.method ?? '?'} ${url.pathname}${url.search} from ${req.socket.remoteAddress ?? '?'}`);
    if (url.pathname === '/') {
      res.setHeader('content-type', 'text/plain');
      res.end(HELLO);
    } else if (url.pathname === '/healthz') {
      res.end('ok');
    } else if (url.pathname === '/whoami') {
      const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ address, port: req.socket.remotePort, family: isIP(address) }));
    } else if (url.pathname === '/whereami') {
      const address = (req.socket.localAddress ?? '').replace(/^::ffff:/, '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ address }));
    } else if (url.pathname === '/bytes') {
      const n = Number(url.searchParams.get('n') ?? '0');
      if (!Number.isSafeInteger(n) || n < 0 || n > MAX_RESOURCE_BYTES) {
        res.statusCode = 400;
        res.end('bad n\n');
        return;
      }
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('content-length', String(n));
      pipeline(Readable.from(resourceByteChunks(n)), res).catch(() => res.destroy());
    } else {
      res.statusCode = 404;
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    // '::' with ipv6Only false: one socket for IPv4 and IPv6.
    http.listen({ port: config.httpPort, host: '::', ipv6Only: false }, () => resolve());
  });

  for (const type of ['udp4', 'udp6'] as const) {
    await bindUdp(type, config.udpEchoPort, (s) =>
      s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address)),
    );
    await bindUdp(type, config.dnsPort, (s) =>
      s.on('message', (msg, rinfo) => {
        const answer = dnsAnswer(msg, config.records);
        if (answer) s.send(answer, rinfo.port, rinfo.address);
      }),
    );
  }

  const port = (http.address() as AddressInfo).port;
  log(`READY http=${port} udp-echo=${config.udpEchoPort} dns=${config.dnsPort}`);
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
