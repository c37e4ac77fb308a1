/**
 * The two processes of `fwmark-routing.test.ts`, each inside its own namespace:
 *
 *   fwmark-child.ts server <certDir>   the "internet" host: UDP and TCP echo, ws and wss servers
 *   fwmark-child.ts client             the client: a TUN (node-tun) configured by LinuxInterface,
 *                                      the engine's marked sockets, and probes that tell whether a
 *                                      packet left through the veth (an answer came back) or went
 *                                      into the TUN (read from the TUN's fd)
 *
 * The client is driven by JSON commands on stdin, one per line; each reply is one
 * `RPC {"id":…,"ok":…,"result"|"error":…}` line on stdout.
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer, isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { TunDevice } from 'node-tun';
import { WebSocketServer } from 'ws';
import type { UdpTransport } from '../../src-engine/datapath/udp.js';
import { DgramUdpTransport } from '../../src-engine/datapath/dgram-udp.js';
import { NativeUdpTransport } from '../../src-engine/datapath/native-udp.js';
import { connectMarkedTcp, ENGINE_FWMARK, markedUdpSocket } from '../../src-engine/platform/fwmark.js';
import { IP_BINARY, LinuxInterface } from '../../src-engine/platform/linux-interface.js';
import { openUdpSockets } from '../../src-engine/platform/udp-sockets.js';
import { createNodeTransport } from '../../src-engine/portal/ws-transport.js';
import { ADDR_SIZE, createDatagramBatch, slot } from '../../src-engine/tun/batch.js';
import { decodeAddress, encodeAddress } from 'node-tun';

export const TUN_NAME = 'tun-fwm';
export const ECHO_PORT = 7000;
export const TCP_PORT = 7001;
export const WS_PORT = 7002;
export const WSS_PORT = 7003;
/** Served by the wss server's certificate; the client resolves it with its own lookup. */
export const WSS_HOST = 'portal.fwmark.test';
export const TUN_ADDRESSES = ['100.66.0.1/32', 'fd00:66::1/128'];

export type ClientCommand =
  | { cmd: 'apply'; routes: string[]; fresh?: boolean }
  | { cmd: 'cleanup' }
  | { cmd: 'ipState' }
  | { cmd: 'engineUdp'; kind: 'native' | 'dgram' | 'openUdpSockets'; address: string }
  | { cmd: 'udp'; marked: boolean; address: string; port?: number }
  | { cmd: 'tcp'; marked: boolean; address: string }
  | { cmd: 'ws'; url: string; lookupTo?: string }
  | { cmd: 'exit' };

/** Where a probe went: `answer` from the far end through the veth, or `tun` (read from the TUN). */
export interface ProbeResult {
  readonly answer: string | null;
  readonly tun: boolean;
}

const WAIT_MS = 1500;

// ---------------------------------------------------------------------------------------------
// The "internet" host

function server(certDir: string): void {
  const hosts = process.argv.slice(4);
  for (const host of hosts) {
    const udp = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) =>
      udp.send(Buffer.from(`echo:${msg.toString()}`), rinfo.port, rinfo.address),
    );
    udp.bind(ECHO_PORT, host);
    createServer((c) => c.on('data', (d) => c.end(`echo:${d.toString()}`))).listen(TCP_PORT, host);
    new WebSocketServer({ host, port: WS_PORT }).on('connection', (ws) => ws.send('hello over ws'));
    const https = createHttpsServer({
      key: readFileSync(`${certDir}/key.pem`),
      cert: readFileSync(`${certDir}/cert.pem`),
    });
    new WebSocketServer({ server: https }).on('connection', (ws) => ws.send('hello over wss'));
    https.listen(WSS_PORT, host);
  }
  setTimeout(() => process.stdout.write('SERVING\n'), 200);
}

// ---------------------------------------------------------------------------------------------
// The client

interface TunPacket {
  readonly dst: string;
  readonly proto: number;
  readonly dstPort: number;
  readonly payload: string;
  readonly syn: boolean;
}

const tunPackets: TunPacket[] = [];

function parsePacket(p: Uint8Array): TunPacket | undefined {
  const version = p[0]! >> 4;
  let proto: number;
  let dst: string;
  let l4: number;
  if (version === 4) {
    proto = p[9]!;
    dst = Array.from(p.subarray(16, 20)).join('.');
    l4 = (p[0]! & 0x0f) * 4;
  } else if (version === 6) {
    proto = p[6]!;
    const rec = new Uint8Array(ADDR_SIZE);
    rec[0] = 6;
    rec.set(p.subarray(24, 40), 4);
    dst = decodeAddress(rec, 0).address;
    l4 = 40;
  } else return undefined;
  const dstPort = (p[l4 + 2]! << 8) | p[l4 + 3]!;
  if (proto === 17)
    return { dst, proto, dstPort, payload: Buffer.from(p.subarray(l4 + 8)).toString(), syn: false };
  if (proto === 6) return { dst, proto, dstPort, payload: '', syn: (p[l4 + 13]! & 0x02) !== 0 };
  return { dst, proto, dstPort, payload: '', syn: false };
}

function openTun(): TunDevice {
  const tun = TunDevice.open({ name: TUN_NAME });
  const slotSize = 2048;
  const buffer = new Uint8Array(64 * slotSize);
  const lengths = new Uint32Array(64);
  tun.startReading(
    buffer,
    slotSize,
    0,
    lengths,
    64,
    (count) => {
      for (let i = 0; i < count; i++) {
        const packet = parsePacket(buffer.subarray(i * slotSize, i * slotSize + lengths[i]!));
        if (packet) tunPackets.push(packet);
      }
    },
    (err) => process.stderr.write(`tun error: ${err.message}\n`),
  );
  return tun;
}

async function until<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

let probeCounter = 0;
const tag = (): string => `probe-${process.pid}-${++probeCounter}`;

/** Sends one datagram from a dgram socket (marked or not) and sees where it went. */
async function udpProbe(marked: boolean, address: string, port = ECHO_PORT): Promise<ProbeResult> {
  const family = isIP(address) === 6 ? 6 : 4;
  const socket: DgramSocket = marked
    ? await markedUdpSocket(family)
    : await new Promise<DgramSocket>((resolve) => {
        const s = createSocket(family === 6 ? 'udp6' : 'udp4');
        s.bind(0, () => resolve(s));
      });
  const payload = tag();
  let answer: string | null = null;
  socket.on('message', (msg) => (answer = msg.toString()));
  socket.send(payload, port, address);
  await until(() => answer ?? tunPackets.find((p) => p.payload === payload), WAIT_MS);
  socket.close();
  return { answer, tun: tunPackets.some((p) => p.payload === payload) };
}

/** One datagram through one of the engine's own UDP transports, with the engine's mark. */
async function engineUdpProbe(
  kind: 'native' | 'dgram' | 'openUdpSockets',
  address: string,
): Promise<ProbeResult> {
  const family = isIP(address) === 6 ? 6 : 4;
  const wildcard = family === 6 ? '::' : '0.0.0.0';
  let transport: UdpTransport;
  if (kind === 'native')
    transport = new NativeUdpTransport({ address: wildcard, port: 0, mark: ENGINE_FWMARK });
  else if (kind === 'dgram')
    transport = await DgramUdpTransport.bind({ address: wildcard, port: 0, mark: ENGINE_FWMARK });
  else {
    const all = await openUdpSockets({ port: 0, mark: ENGINE_FWMARK });
    transport = all.find((t) => (isIP(t.localAddress) === 6) === (family === 6))!;
    for (const t of all) if (t !== transport) t.close();
  }
  const payload = tag();
  let answer: string | null = null;
  transport.start(
    (batch, count) => {
      for (let i = 0; i < count; i++) answer = Buffer.from(slot(batch, i)).toString();
    },
    () => undefined,
  );
  const batch = createDatagramBatch(1, 2048);
  batch.buffer.set(Buffer.from(payload), 0);
  batch.lengths[0] = payload.length;
  encodeAddress(address, ECHO_PORT, batch.addrs, 0);
  transport.send(batch, 1);
  await until(() => answer ?? tunPackets.find((p) => p.payload === payload), WAIT_MS);
  transport.close();
  return { answer, tun: tunPackets.some((p) => p.payload === payload) };
}

/** A TCP connection (marked: connectMarkedTcp; else net.connect): the echo, or a SYN in the TUN. */
async function tcpProbe(marked: boolean, address: string): Promise<ProbeResult> {
  const since = tunPackets.length;
  const synInTun = (): boolean =>
    tunPackets
      .slice(since)
      .some((p) => p.proto === 6 && p.syn && p.dst === address && p.dstPort === TCP_PORT);
  const payload = tag();
  if (marked) {
    const socket = await connectMarkedTcp({ host: address, port: TCP_PORT, attemptTimeoutMs: WAIT_MS });
    socket.write(payload);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolve(text));
    });
    socket.destroy();
    return { answer, tun: synInTun() };
  }
  const socket = netConnect(TCP_PORT, address);
  let answer: string | null = null;
  socket.on('connect', () => socket.write(payload));
  socket.on('data', (d: Buffer) => (answer = (answer ?? '') + d.toString()));
  socket.on('error', () => undefined);
  await until(() => (answer !== null || synInTun() ? true : undefined), WAIT_MS);
  socket.destroy();
  return { answer, tun: synInTun() };
}

/** A portal-style WebSocket (createNodeTransport with the engine's mark): its first message. */
async function wsProbe(url: string, lookupTo: string | undefined): Promise<ProbeResult> {
  const errors: string[] = [];
  const Transport = createNodeTransport({
    headers: {},
    handshakeTimeoutMs: 5000,
    socketMark: ENGINE_FWMARK,
    ...(lookupTo !== undefined
      ? { lookup: () => Promise.resolve([{ address: lookupTo, family: isIP(lookupTo) }]) }
      : {}),
    onUpgradeRejected: (r) => errors.push(`rejected ${r.status}`),
    onCallbackError: (e) => errors.push(String(e)),
  });
  const ws = new Transport(url);
  let answer: string | null = null;
  ws.onmessage = (event) => (answer = String(event.data));
  ws.onerror = (error) => errors.push(String((error as Error | undefined)?.message ?? error));
  await until(() => answer ?? (errors.length > 0 ? null : undefined), 6000);
  ws.close();
  if (answer === null && errors.length > 0) throw new Error(errors.join('; '));
  return { answer, tun: false };
}

function ipState(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const family of ['-4', '-6']) {
    out[`${family} rule`] = execFileSync(IP_BINARY, [family, 'rule', 'show']).toString();
    for (const table of ['0x2021fd00', '0x2021fd01', '0x2021fd02']) {
      try {
        out[`${family} ${table}`] = execFileSync(IP_BINARY, [family, 'route', 'show', 'table', table], {
          stdio: ['ignore', 'pipe', 'ignore'],
        }).toString();
      } catch {
        out[`${family} ${table}`] = '';
      }
    }
  }
  return out;
}

async function client(): Promise<void> {
  const tun = openTun();
  let iface = new LinuxInterface(TUN_NAME);
  const handle = async (command: ClientCommand): Promise<unknown> => {
    switch (command.cmd) {
      case 'apply':
        if (command.fresh) iface = new LinuxInterface(TUN_NAME); // as after a crash: no memory of rules
        await iface.apply({ addresses: TUN_ADDRESSES, routes: command.routes, mtu: 1280 });
        return ipState();
      case 'cleanup':
        await iface.cleanup();
        return ipState();
      case 'ipState':
        return ipState();
      case 'engineUdp':
        return engineUdpProbe(command.kind, command.address);
      case 'udp':
        return udpProbe(command.marked, command.address, command.port);
      case 'tcp':
        return tcpProbe(command.marked, command.address);
      case 'ws':
        return wsProbe(command.url, command.lookupTo);
      case 'exit':
        tun.close();
        setImmediate(() => process.exit(0));
        return null;
    }
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const { id, ...command } = JSON.parse(line) as ClientCommand & { id: number };
    handle(command as ClientCommand).then(
      (result) => process.stdout.write(`RPC ${JSON.stringify({ id, ok: true, result })}\n`),
      (error: unknown) =>
        process.stdout.write(
          `RPC ${JSON.stringify({ id, ok: false, error: (error as Error).stack ?? String(error) })}\n`,
        ),
    );
  });
  lines.on('close', () => process.exit(0));
  process.stdout.write(`RPC ${JSON.stringify({ id: 0, ok: true, result: 'ready' })}\n`);
}

if (process.argv[2] === 'server') server(process.argv[3] ?? '');
else if (process.argv[2] === 'client') void client();
