/**
 * A WireGuard peer process built from this project's engine: our `Tunn` over a UDP socket (no
 * TUN), answering and sending ICMP echoes built with our packet library. It is driven by JSON
 * commands, one per line on stdin; each reply is one `RPC <json>` line on stdout. Human-readable
 * progress goes to stderr. Used by the wireguard-go interop test and by the demo.
 *
 * Usage: peer-main.ts '<PeerConfig as JSON>'
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import {
  buildIcmpEcho,
  IcmpHeader,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
} from '../../src-engine/packet/index.js';
import { defaultBackend, loadBackend } from '../../src-engine/wireguard/crypto/index.js';
import { formatEndpoint } from '../../src-engine/wireguard/endpoint.js';
import type { TunnEvent } from '../../src-engine/wireguard/result.js';
import { Tunn } from '../../src-engine/wireguard/tunn.js';
import { UdpPeer } from '../../src-engine/wireguard/udp-peer.js';
import type { PeerCommand, PeerConfig, PingResult, PeerStats } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '') as PeerConfig;
const crypto = config.backend ? loadBackend(config.backend) : defaultBackend();
const localIp = parseIpAddress(config.tunnelIp);
const peerIp = parseIpAddress(config.peerTunnelIp);
if (!localIp || !peerIp) throw new Error('tunnelIp and peerTunnelIp must be IP addresses');

// Time can be moved forward by the test ("skip") to reach rekey deadlines without waiting.
let clockOffset = 0;
const clock = (): number => performance.now() + clockOffset;
const log = (line: string): void => void process.stderr.write(`[our-peer] ${line}\n`);

const tunn = new Tunn({
  crypto,
  staticPrivate: Buffer.from(config.privateKey, 'base64'),
  peerPublic: Buffer.from(config.peerPublicKey, 'base64'),
  presharedKey: config.presharedKey ? Buffer.from(config.presharedKey, 'base64') : undefined,
  endpoint: config.endpoint,
  mtu: config.mtu ?? 1420,
});

let echoRequestsAnswered = 0;
const pendingEchoes = new Map<number, { sentAt: number; resolve: (rtt: number) => void }>();
const handshakeWaiters: (() => void)[] = [];
const identifier = process.pid & 0xffff;

function onEvent(e: TunnEvent): void {
  if (e.type === 'handshake_completed') {
    log(
      `handshake completed (${e.isInitiator ? 'we initiated' : 'peer initiated'}), endpoint ${formatEndpoint(tunn.currentEndpoint)}`,
    );
    for (const w of handshakeWaiters.splice(0)) w();
  } else {
    log(`event ${e.type}`);
  }
}

function onPacket(packet: Uint8Array): void {
  const ip = parseIpPacket(packet, { maxSize: 65535, verifyChecksums: true });
  if (isPacketError(ip)) {
    log(`dropped an inner packet: ${ip.message}`);
    return;
  }
  const icmp = ip.transport;
  if (!(icmp instanceof IcmpHeader) || icmp.identifier === null || icmp.sequence === null) return;
  if (icmp.type === (ip.version === 4 ? 8 : 128)) {
    // An echo request to us: answer it the way a host's stack would.
    const reply = buildIcmpEcho({
      src: Uint8Array.from(ip.dst),
      dst: Uint8Array.from(ip.src),
      echo: 'reply',
      identifier: icmp.identifier,
      sequence: icmp.sequence,
      payload: Uint8Array.from(icmp.body),
    });
    if (isPacketError(reply)) return;
    peer.send(reply);
    echoRequestsAnswered++;
  } else if (icmp.identifier === identifier) {
    const pending = pendingEchoes.get(icmp.sequence);
    if (pending) {
      pendingEchoes.delete(icmp.sequence);
      pending.resolve(clock() - pending.sentAt);
    }
  }
}

function bind(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: config.bind.address.includes(':') ? 'udp6' : 'udp4' });
    socket.once('error', reject);
    socket.bind(port, config.bind.address, () => {
      socket.off('error', reject);
      socket.on('error', (err) => log(`socket error: ${err.message}`));
      resolve(socket);
    });
  });
}

const peer = new UdpPeer({ tunn, socket: await bind(config.bind.port ?? 0), onPacket, onEvent, clock });
log(
  `listening on ${formatEndpoint({ address: config.bind.address, port: peer.localPort })}, backend ${crypto.name}`,
);

function waitForHandshake(timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no handshake within ${timeoutMs} ms`)), timeoutMs);
    handshakeWaiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function ping(
  count: number,
  window: number,
  timeoutMs: number,
  payloadSize: number,
): Promise<PingResult> {
  const rtts: number[] = [];
  let sent = 0;
  const payload = new Uint8Array(payloadSize).map((_, i) => i & 0xff);
  const deadline = clock() + timeoutMs;
  const one = async (): Promise<void> => {
    while (sent < count && clock() < deadline) {
      const sequence = sent++ & 0xffff;
      const request = buildIcmpEcho({
        src: localIp!,
        dst: peerIp!,
        echo: 'request',
        identifier,
        sequence,
        payload,
      });
      if (isPacketError(request)) throw request;
      const rtt = await new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(
          () => {
            pendingEchoes.delete(sequence);
            resolve(undefined);
          },
          Math.max(1, Math.min(2_000, deadline - clock())),
        );
        pendingEchoes.set(sequence, {
          sentAt: clock(),
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        });
        peer.send(request);
      });
      if (rtt !== undefined) rtts.push(rtt);
    }
  };
  await Promise.all(Array.from({ length: window }, one));
  rtts.sort((a, b) => a - b);
  const pct = (p: number): number => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? NaN;
  return { sent, replies: rtts.length, rttP50Ms: pct(0.5), rttP99Ms: pct(0.99) };
}

function stats(): PeerStats {
  return {
    ...tunn.stats,
    dropped: { ...tunn.stats.dropped },
    endpoint: tunn.currentEndpoint,
    localPort: peer.localPort,
    echoRequestsAnswered,
    hasSession: tunn.hasSession(clock()),
  };
}

async function execute(cmd: PeerCommand): Promise<unknown> {
  switch (cmd.cmd) {
    case 'initiate': {
      const start = clock();
      const done = waitForHandshake(cmd.timeoutMs ?? 10_000);
      peer.initiateHandshake();
      await done;
      return { handshakeMs: clock() - start };
    }
    case 'ping':
      return ping(cmd.count, cmd.window ?? 16, cmd.timeoutMs ?? 30_000, cmd.payloadSize ?? 56);
    case 'skip':
      // Only our clock jumps; wireguard-go's does not. Its flood guard refuses a second
      // initiation within 20 ms of real time, which a real jump of minutes would never trip,
      // so let that much real time pass first.
      await new Promise((r) => setTimeout(r, 50));
      clockOffset += cmd.ms;
      peer.poke();
      return { skippedMs: clockOffset };
    case 'rebind': {
      // A new ephemeral port, as after a NAT rebinding or a network change.
      peer.replaceSocket(await bind(0));
      return { port: peer.localPort };
    }
    case 'stats':
      return stats();
    case 'waitHandshakes': {
      const deadline = Date.now() + (cmd.timeoutMs ?? 10_000);
      while (tunn.stats.handshakesCompleted < cmd.count) {
        if (Date.now() > deadline) throw new Error(`only ${tunn.stats.handshakesCompleted} handshakes`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return stats();
    }
    case 'exit':
      setImmediate(() => {
        peer.close();
        process.exit(0);
      });
      return {};
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let cmd: PeerCommand & { id: number };
  try {
    cmd = JSON.parse(line) as PeerCommand & { id: number };
  } catch {
    log(`ignored a line that is not JSON`);
    return;
  }
  execute(cmd).then(
    (result) => process.stdout.write(`RPC ${JSON.stringify({ id: cmd.id, ok: true, result })}\n`),
    (err: Error) =>
      process.stdout.write(`RPC ${JSON.stringify({ id: cmd.id, ok: false, error: err.message })}\n`),
  );
});
lines.on('close', () => {
  peer.close();
  process.exit(0);
});
process.stdout.write(
  `RPC ${JSON.stringify({ id: 0, ok: true, result: { ready: true, port: peer.localPort } })}\n`,
);
