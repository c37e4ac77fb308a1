/**
 * Small UDP tools run with `node -e` inside a namespace (fast to start, no loader): a reflector
 * that answers each datagram with the sender's address as it sees it, a UDP echo, a probe that
 * learns a socket's mapped (NATed) address from several reflectors and then listens for
 * unsolicited datagrams, a sender, a STUN Binding client, and a hole-punching peer.
 *
 * The program is one CommonJS script taking a JSON argument; the TypeScript wrappers below build
 * the argument and parse the lines it prints (`READY …`, `RESULT {json}`, `RECEIVED {json}`, `DONE {json}`).
 */
import type { NsProcess } from '../netns.js';
import type { Host } from './host.js';

export interface UdpAddress {
  address: string;
  port: number;
}

export function formatAddress(a: UdpAddress): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

const PROGRAM = String.raw`
'use strict';
const dgram = require('node:dgram');
const readline = require('node:readline');
const a = JSON.parse(process.argv[1]);
const family = (addr) => (addr.includes(':') ? 'udp6' : 'udp4');
const out = (tag, value) => process.stdout.write(tag + ' ' + JSON.stringify(value) + '\n');
const anyAddr = (type) => (type === 'udp6' ? '::' : '0.0.0.0');
function open(bind, fallback) {
  const type = family(bind && bind.address ? bind.address : fallback);
  const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address: bind && bind.address ? bind.address : anyAddr(type), port: bind ? bind.port || 0 : 0 }, () => {
      s.removeListener('error', reject);
      s.on('error', (e) => process.stderr.write('socket error: ' + e.message + '\n'));
      resolve(s);
    });
  });
}
const same = (r, t) => r.port === t.port && r.address.replace(/^::ffff:/, '') === t.address;
function stunRequest() {
  const m = Buffer.alloc(20);
  m.writeUInt16BE(0x0001, 0);
  m.writeUInt32BE(0x2112a442, 4);
  require('node:crypto').randomFillSync(m, 8, 12);
  return m;
}
function v6Text(x) {
  const g = [];
  for (let i = 0; i < 16; i += 2) g.push(x.readUInt16BE(i));
  let start = -1, len = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > len && j - i > 1) { start = i; len = j - i; }
    i = j;
  }
  const h = g.map((n) => n.toString(16));
  return start < 0 ? h.join(':') : h.slice(0, start).join(':') + '::' + h.slice(start + len).join(':');
}
function stunMapped(msg, req) {
  if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0101 || !msg.subarray(4, 20).equals(req.subarray(4, 20))) return null;
  let off = 20;
  while (off + 4 <= msg.length) {
    const type = msg.readUInt16BE(off), len = msg.readUInt16BE(off + 2), v = msg.subarray(off + 4, off + 4 + len);
    if (type === 0x0020 && v.length >= 8) {
      const port = v.readUInt16BE(2) ^ 0x2112;
      if (v[1] === 1) {
        const ip = [];
        for (let i = 0; i < 4; i++) ip.push(v[4 + i] ^ req[4 + i]);
        return { address: ip.join('.'), port };
      }
      const x = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) x[i] = v[4 + i] ^ req[4 + i];
      return { address: v6Text(x), port };
    }
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return null;
}
async function main() {
  if (a.op === 'reflector' || a.op === 'echo') {
    const s = await open(a.bind);
    s.on('message', (msg, r) => {
      const reply = a.op === 'echo' ? msg : Buffer.from(JSON.stringify({ address: r.address.replace(/^::ffff:/, ''), port: r.port, payload: msg.toString() }));
      s.send(reply, r.port, r.address);
    });
    out('READY', s.address());
    return;
  }
  if (a.op === 'send') {
    const s = await open(a.bind, a.target.address);
    for (let i = 0; i < (a.count || 1); i++) {
      await new Promise((res) => s.send(Buffer.from(a.payload || 'hello'), a.target.port, a.target.address, res));
      await new Promise((res) => setTimeout(res, a.intervalMs || 20));
    }
    out('DONE', { local: s.address() });
    s.close();
    return;
  }
  if (a.op === 'echo-check') {
    const s = await open(a.bind, a.target.address);
    let received = 0;
    const wanted = new Set();
    s.on('message', (msg) => { if (wanted.delete(msg.toString())) received++; });
    for (let i = 0; i < a.count; i++) {
      const payload = 'echo:' + process.pid + ':' + i;
      wanted.add(payload);
      s.send(Buffer.from(payload), a.target.port, a.target.address);
      await new Promise((res) => setTimeout(res, a.intervalMs || 20));
    }
    const deadline = Date.now() + (a.timeoutMs || 2000);
    while (received < a.count && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    out('RESULT', { sent: a.count, received });
    s.close();
    return;
  }
  if (a.op === 'stun') {
    const s = await open(a.bind, a.server.address);
    const req = stunRequest();
    const deadline = Date.now() + (a.timeoutMs || 3000);
    const result = await new Promise((resolve) => {
      const timer = setInterval(() => {
        if (Date.now() > deadline) { clearInterval(timer); resolve(null); return; }
        s.send(req, a.server.port, a.server.address);
      }, 200);
      s.on('message', (msg) => {
        const m = stunMapped(msg, req);
        if (m) { clearInterval(timer); resolve(m); }
      });
      s.send(req, a.server.port, a.server.address);
    });
    out('RESULT', { local: s.address(), mapped: result });
    s.close();
    process.exitCode = result ? 0 : 3;
    return;
  }
  if (a.op === 'probe' || a.op === 'punch') {
    const targets = a.targets || [];
    const s = await open(a.bind, targets.length ? targets[0].address : '0.0.0.0');
    const results = targets.map((t) => ({ target: t, mapped: null }));
    const received = [];
    let peer = null;
    s.on('message', (msg, r) => {
      const from = { address: r.address.replace(/^::ffff:/, ''), port: r.port };
      const i = targets.findIndex((t) => same(from, t));
      if (i >= 0) {
        try { const j = JSON.parse(msg.toString()); if (!results[i].mapped) results[i].mapped = { address: j.address, port: j.port }; } catch { /* not a reflector reply */ }
        return;
      }
      received.push({ from, payload: msg.toString() });
      out('RECEIVED', { from, payload: msg.toString() });
    });
    const deadline = Date.now() + (a.timeoutMs || 3000);
    while (results.some((r) => !r.mapped) && Date.now() < deadline) {
      results.forEach((r, i) => { if (!r.mapped) s.send(Buffer.from('probe:' + i), r.target.port, r.target.address); });
      await new Promise((res) => setTimeout(res, 150));
    }
    out('RESULT', { local: s.address(), results });
    if (a.op === 'punch') {
      const rl = readline.createInterface({ input: process.stdin });
      const line = await new Promise((res) => rl.once('line', res));
      rl.close();
      peer = JSON.parse(line);
      const until = Date.now() + (a.punchMs || 2000);
      let n = 0;
      while (Date.now() < until) {
        s.send(Buffer.from('punch:' + a.name + ':' + n++), peer.port, peer.address);
        await new Promise((res) => setTimeout(res, 50));
      }
    } else if (a.listenMs) {
      await new Promise((res) => setTimeout(res, a.listenMs));
    }
    const fromPeer = (m) => peer !== null && same(m.from, peer);
    out('DONE', { local: s.address(), results, unsolicited: received.filter((m) => !fromPeer(m)), peerReceived: received.filter(fromPeer) });
    s.close();
    return;
  }
  throw new Error('unknown op ' + a.op);
}
main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(2); });
`;

function args(spec: object): string[] {
  return ['-e', PROGRAM, JSON.stringify(spec)];
}

function lastJson<T>(text: string, tag: string): T {
  const lines = text.split('\n').filter((l) => l.startsWith(`${tag} `));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new Error(`no ${tag} line in:\n${text}`);
  return JSON.parse(last.slice(tag.length + 1)) as T;
}

/** A long-running UDP reflector: answers each datagram with `{address, port, payload}` of its sender. */
export async function startUdpReflector(host: Host, bind: UdpAddress): Promise<NsProcess> {
  const proc = host.spawn(process.execPath, args({ op: 'reflector', bind }), {
    label: `${host.name}: udp-reflector ${formatAddress(bind)}`,
  });
  await proc.waitForOutput(/^READY /m, 10_000);
  return proc;
}

/** A long-running UDP echo server. */
export async function startUdpEcho(host: Host, bind: UdpAddress): Promise<NsProcess> {
  const proc = host.spawn(process.execPath, args({ op: 'echo', bind }), {
    label: `${host.name}: udp-echo ${formatAddress(bind)}`,
  });
  await proc.waitForOutput(/^READY /m, 10_000);
  return proc;
}

export interface ProbeResult {
  local: UdpAddress;
  /** One entry per target, in order; `mapped` is null when that reflector never answered. */
  results: { target: UdpAddress; mapped: UdpAddress | null }[];
  unsolicited: { from: UdpAddress; payload: string }[];
}

export interface ProbeOptions {
  /** Local address/port of the probing socket (default: any address, ephemeral port). */
  bind?: Partial<UdpAddress>;
  /** Give up on reflectors that have not answered after this long (default 3 s). */
  timeoutMs?: number;
  /** After the probe, keep the socket open this long and report everything else it receives. */
  listenMs?: number;
}

/**
 * Sends from one socket in `host` to every reflector in `targets` and reports the address each
 * one saw (the NAT mapping towards that destination).
 */
export async function probeMappings(
  host: Host,
  targets: UdpAddress[],
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const proc = spawnProbe(host, targets, options);
  await proc.waitForExit((options.timeoutMs ?? 3000) + (options.listenMs ?? 0) + 10_000);
  if (proc.exitCode !== 0) throw new Error(`udp probe failed (${proc.describeExit()}):\n${proc.output}`);
  return lastJson<ProbeResult>(proc.stdout, 'DONE');
}

/**
 * The same probe as a running process: `mapped` resolves once the reflectors answered (the
 * socket then listens for `listenMs`), `done` with the final report.
 */
export function spawnProbe(host: Host, targets: UdpAddress[], options: ProbeOptions = {}): NsProcess {
  return host.spawn(
    process.execPath,
    args({
      op: 'probe',
      bind: options.bind,
      targets,
      timeoutMs: options.timeoutMs ?? 3000,
      listenMs: options.listenMs ?? 0,
    }),
    { label: `${host.name}: udp-probe` },
  );
}

/** Parses the `RESULT` line of a running probe (after `waitForOutput(/^RESULT /m)`). */
export function probeResultOf(proc: NsProcess): Omit<ProbeResult, 'unsolicited'> {
  return lastJson(proc.stdout, 'RESULT');
}

/** Parses the final `DONE` line of a probe or punch process. */
export function probeDoneOf(proc: NsProcess): ProbeResult & { peerReceived: { from: UdpAddress }[] } {
  return lastJson(proc.stdout, 'DONE');
}

/** Sends `count` datagrams from `host` (optionally from a fixed local address/port). */
export async function sendUdp(
  host: Host,
  target: UdpAddress,
  options: { bind?: Partial<UdpAddress>; payload?: string; count?: number; intervalMs?: number } = {},
): Promise<void> {
  await host.exec(process.execPath, args({ op: 'send', target, ...options }), { timeoutMs: 15_000 });
}

/** Sends `count` datagrams to a UDP echo server and counts the echoes that come back. */
export async function udpEchoCheck(
  host: Host,
  target: UdpAddress,
  options: { count?: number; intervalMs?: number; timeoutMs?: number } = {},
): Promise<{ sent: number; received: number }> {
  const res = await host.exec(
    process.execPath,
    args({ op: 'echo-check', target, count: options.count ?? 5, ...options }),
    {
      timeoutMs: 20_000,
    },
  );
  return lastJson(res.stdout, 'RESULT');
}

/** STUN Binding (RFC 8489) from `host` to `server`: the server-reflexive address, or null. */
export async function stunBinding(
  host: Host,
  server: UdpAddress,
  options: { bind?: Partial<UdpAddress>; timeoutMs?: number } = {},
): Promise<UdpAddress | null> {
  const res = await host.exec(process.execPath, args({ op: 'stun', server, ...options }), {
    timeoutMs: (options.timeoutMs ?? 3000) + 10_000,
    allowFailure: true,
  });
  if (res.code !== 0 && res.code !== 3) throw new Error(`stun probe failed: ${res.stderr}`);
  return lastJson<{ mapped: UdpAddress | null }>(res.stdout, 'RESULT').mapped;
}

export interface PunchResult {
  /** What each side's reflector saw. */
  aMapped: UdpAddress;
  bMapped: UdpAddress;
  /** Datagrams each side received from the other's advertised (reflexive) address. */
  aReceived: number;
  bReceived: number;
}

/**
 * UDP hole punching between `a` and `b`, the way ICE does it with server-reflexive candidates:
 * each learns its mapping from `reflector`, the two mappings are exchanged, then both send to the
 * other's mapping for `punchMs` and count what arrives from it.
 */
export async function holePunch(
  a: Host,
  b: Host,
  reflector: UdpAddress,
  options: { punchMs?: number; ports?: [number, number] } = {},
): Promise<PunchResult> {
  const start = (host: Host, name: string, port: number | undefined): NsProcess =>
    host.spawn(
      process.execPath,
      args({
        op: 'punch',
        name,
        bind: port === undefined ? undefined : { port },
        targets: [reflector],
        punchMs: options.punchMs ?? 2000,
      }),
      { label: `${host.name}: udp-punch`, stdin: 'pipe' },
    );
  const pa = start(a, 'a', options.ports?.[0]);
  const pb = start(b, 'b', options.ports?.[1]);
  try {
    await Promise.all([pa.waitForOutput(/^RESULT /m, 10_000), pb.waitForOutput(/^RESULT /m, 10_000)]);
    const aMapped = probeResultOf(pa).results[0]?.mapped;
    const bMapped = probeResultOf(pb).results[0]?.mapped;
    if (!aMapped || !bMapped) throw new Error('hole punch: a reflector did not answer');
    pa.child.stdin?.write(`${JSON.stringify(bMapped)}\n`);
    pb.child.stdin?.write(`${JSON.stringify(aMapped)}\n`);
    await Promise.all([pa.waitForOutput(/^DONE /m, 20_000), pb.waitForOutput(/^DONE /m, 20_000)]);
    return {
      aMapped,
      bMapped,
      aReceived: probeDoneOf(pa).peerReceived.length,
      bReceived: probeDoneOf(pb).peerReceived.length,
    };
  } finally {
    await Promise.all([pa.stop(), pb.stop()]);
  }
}
