/**
 * Connection set-up time: from the first packet a client sends to a resource it has no
 * connection for, to the reply coming back through the new tunnel — authorization through the
 * portal, ICE, the WireGuard handshake and the packet's own round trip. Measured in the
 * deterministic simulation (`sim/world.ts`: the production client and gateway cores, node, ICE
 * agent and portal signalling on a virtual network and clock) with 10 ms one-way per hop: every
 * datagram between two hosts (client, gateway, relay, through the NAT routers) and every frame
 * between a client or gateway and the portal.
 *
 * Why not the network namespaces of the connectivity system tests: this machine's kernel has no
 * netem qdisc (`CONFIG_NET_SCH_NETEM` is not set), so no delay can be added there, and on a bare
 * veth every round trip takes microseconds — the node's timers would dominate and the count of
 * round trips would not show. Virtual time measures exactly the round trips (and timer waits) the
 * code makes. The simulated network has no jitter here, so the seeds (which change ports, keys
 * and transaction ids) give the same times; the median guards against a seed that does not.
 *
 * Results are in multiples of the path RTT: the round trip of a ping through the established
 * tunnel over the same path, measured in the same run (20 ms direct, 40 ms through the relay).
 * Paths: direct without NAT, direct through cone NATs on both sides (hole punching), and
 * relayed (symmetric NATs on both sides). Medians over several seeds. `BENCH_SETUP_TRACE=1`
 * prints every datagram and portal message of the first seed of each path. `run()` also returns
 * the numbers (`SetupResult`) for `bench/report.ts`.
 */
import { buildIcmpEcho, isPacketError, parseIpAddress, parseIpPacket } from '../src-engine/packet/index.js';
import { classifyDatagram } from '../src-engine/ice/stun/demux.js';
import { decodeMessage, getAttribute } from '../src-engine/ice/stun/message.js';
import { decodeChannelData } from '../src-engine/ice/turn/channel-data.js';
import { classify } from '../src-engine/wireguard/messages.js';
import type { TransportAddress } from '../src-engine/ice/transport-address.js';
import { buildWorld, type World, type WorldOptions } from '../sim/world.js';
import { printTable } from './table.js';

const HOP_MS = 10;
const SEEDS = 7;
const RTT_SAMPLES = 5;
const RESOURCE = '10.20.1.5';

interface PathKind {
  readonly name: string;
  readonly options: Pick<WorldOptions, 'clientNat' | 'siteNat'>;
  readonly relayed: boolean;
}

const PATHS: readonly PathKind[] = [
  { name: 'direct', options: { clientNat: 'none', siteNat: 'none' }, relayed: false },
  { name: 'direct-cone-nat', options: { clientNat: 'cone', siteNat: 'cone' }, relayed: false },
  { name: 'relayed', options: { clientNat: 'symmetric', siteNat: 'symmetric' }, relayed: true },
];

/** Times in ms after the first packet, as the client sees them. */
interface Sample {
  /** `authorization_created` handled: the client has the connection (portal round trips). */
  readonly authorized: number;
  /** ICE selected a pair. */
  readonly nominated: number;
  /** The WireGuard handshake completed (the node reports the connection established). */
  readonly handshake: number;
  /** The reply to the first packet is in the client's TUN. */
  readonly reply: number;
  /** Median ping RTT over the established tunnel. */
  readonly rtt: number;
  readonly path: string;
  readonly pathRelayed: boolean;
}

/** One path's medians; phases and totals in path RTTs (NaN: the phase had no duration of its own). */
export interface SetupPathResult {
  name: string;
  selectedPairs: string[];
  rttMs: number;
  setupMs: number;
  setupRtts: number;
  phasesRtts: { portal: number; ice: number; wireguard: number; firstPacket: number };
}

export interface SetupResult {
  hopMs: number;
  seeds: number;
  paths: SetupPathResult[];
}

function ping(w: World, seq: number): Uint8Array {
  const src = w.client.state.tunnelAddresses?.ipv4;
  if (src === undefined) throw new Error('the client has no tunnel address');
  return buildIcmpEcho({
    src: parseIpAddress(src)!,
    dst: parseIpAddress(RESOURCE)!,
    echo: 'request',
    identifier: 9,
    sequence: seq,
    payload: new Uint8Array(56),
  }) as Uint8Array;
}

function hasReply(w: World, seq: number): boolean {
  return w.client.tun.some((packet) => {
    const p = parseIpPacket(packet);
    if (isPacketError(p) || p.protocol !== 1 || packet[p.payloadOffset] !== 0) return false;
    return ((packet[p.payloadOffset + 6]! << 8) | packet[p.payloadOffset + 7]!) === seq;
  });
}

/** Advances 1 ms at a time until `done()` or `limitMs`; returns the elapsed virtual time. */
function stepUntil(w: World, done: () => boolean, limitMs: number, onStep?: (t: number) => void): number {
  const start = w.portal.now();
  while (!done()) {
    if (w.portal.now() - start >= limitMs) throw new Error(`not done within ${limitMs} ms`);
    w.run(1);
    onStep?.(w.portal.now() - start);
  }
  return w.portal.now() - start;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function measure(kind: PathKind, seed: string, trace: boolean): Sample {
  const w = buildWorld({ seed, ...kind.options, latencyMs: HOP_MS, portalLatencyMs: HOP_MS, relay: true });
  // Join, get relays and allocate on both sides before the first packet.
  const ready = (): boolean =>
    w.client.state.tunnelAddresses !== undefined &&
    w.gateways[0]!.link.device !== undefined &&
    [w.client.node, w.gateways[0]!.node].every((node) =>
      node.relayIds().some((id) => node.relayState(id)?.state === 'allocated'),
    );
  stepUntil(w, ready, 10_000);
  w.run(1_000);
  const stop = trace ? startTrace(w) : undefined;

  const times: { authorized?: number; nominated?: number; handshake?: number } = {};
  w.client.send(ping(w, 1));
  const gatewayId = (): string | undefined => w.client.state.gatewayList()[0]?.id;
  const reply = stepUntil(
    w,
    () => hasReply(w, 1),
    30_000,
    (t) => {
      const id = gatewayId();
      if (id === undefined) return;
      if (times.authorized === undefined && w.client.node.hasConnection(id)) times.authorized = t;
      const info = w.client.node.connectionInfo(id);
      if (times.nominated === undefined && info?.path) times.nominated = t;
      if (times.handshake === undefined && info?.state === 'connected') times.handshake = t;
    },
  );
  stop?.();
  const id = gatewayId()!;
  const info = w.client.node.connectionInfo(id);
  const path = info?.path ? `${info.path.localKind}→${info.path.remoteKind}` : '?';

  // The same path, established: a few pings, one at a time.
  w.run(500);
  const rtts: number[] = [];
  for (let seq = 2; seq < 2 + RTT_SAMPLES; seq++) {
    w.client.send(ping(w, seq));
    rtts.push(stepUntil(w, () => hasReply(w, seq), 5_000));
    w.run(100);
  }
  // Normally the pair selected at set-up; should ICE move to a better one meanwhile, the RTT is
  // that of the pair the tunnel ended on, and the table shows both.
  const after = w.client.node.connectionInfo(id)?.path;
  const final = after ? `${after.localKind}→${after.remoteKind}` : '?';
  return {
    authorized: times.authorized ?? NaN,
    nominated: times.nominated ?? NaN,
    handshake: times.handshake ?? NaN,
    reply,
    rtt: median(rtts),
    path: final === path ? path : `${path} ⇒ ${final}`,
    pathRelayed: after?.relayed ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Trace: what goes over the wire and through the portal, with virtual times.

function describe(payload: Uint8Array): string {
  switch (classifyDatagram(payload)) {
    case 'stun': {
      const decoded = decodeMessage(payload);
      if (!decoded.ok) return 'STUN (malformed)';
      const m = decoded.message;
      const data = getAttribute(m, 'DATA')?.data;
      const names: Record<number, string> = {
        1: 'Binding',
        3: 'Allocate',
        4: 'Refresh',
        6: 'Send',
        7: 'Data',
        8: 'CreatePermission',
        9: 'ChannelBind',
      };
      const name = `${names[m.method] ?? `method ${m.method}`} ${m.class}`;
      if (data !== undefined) return `${name} [${describe(data)}]`;
      const useCandidate = m.attributes.some((a) => a.type === 'USE-CANDIDATE');
      return useCandidate ? `${name} USE-CANDIDATE` : name;
    }
    case 'channel_data': {
      const decoded = decodeChannelData(payload);
      return decoded.ok ? `ChannelData [${describe(decoded.payload)}]` : 'ChannelData (malformed)';
    }
    default:
      return `WireGuard ${classify(payload) ?? '?'}`;
  }
}

interface TappableLink {
  pollEvent(): { readonly type: string; readonly message?: { readonly event: string } } | undefined;
  send(event: string, payload: unknown): unknown;
}

function startTrace(w: World): () => void {
  const t0 = w.portal.now();
  const names = new Map<string, string>([
    [w.client.address.address, 'client'],
    [w.gateways[0]!.address.address, 'gateway'],
    ['198.51.100.1', 'client-nat'],
    ['203.0.113.1', 'site-nat'],
    ['192.0.2.20', 'relay'],
  ]);
  const who = (a: TransportAddress): string => `${names.get(a.address) ?? a.address}:${a.port}`;
  const line = (text: string): void =>
    console.log(`  ${String(w.portal.now() - t0).padStart(4)} ms  ${text}`);
  const net = w.net;
  const send = net.send.bind(net);
  net.send = (from, to, payload, now) => {
    line(`${who(from)} → ${who(to)}  ${describe(payload)}`);
    send(from, to, payload, now);
  };
  const restore: (() => void)[] = [() => (net.send = send)];
  for (const [name, target] of [
    ['client', w.client.link],
    ['gateway', w.gateways[0]!.link],
  ] as const) {
    // Only the event names are read: both links seen through the same narrow shape.
    const link = target as unknown as TappableLink;
    const poll = link.pollEvent.bind(link);
    link.pollEvent = () => {
      const e = poll();
      if (e?.type === 'message') line(`portal → ${name}  ${e.message?.event ?? '?'}`);
      return e;
    };
    const out = link.send.bind(link);
    link.send = (event, payload) => {
      line(`${name} → portal  ${event}`);
      return out(event, payload);
    };
    restore.push(() => {
      link.pollEvent = poll;
      link.send = out;
    });
  }
  return () => {
    for (const r of restore) r();
  };
}

// ---------------------------------------------------------------------------------------------

export async function run(seeds = Number(process.env.BENCH_SETUP_SEEDS ?? SEEDS)): Promise<SetupResult> {
  const trace = process.env.BENCH_SETUP_TRACE === '1';
  const rows: string[][] = [];
  const results: SetupPathResult[] = [];
  const ratios = new Map<string, number>();
  for (const kind of PATHS) {
    const samples: Sample[] = [];
    for (let i = 0; i < seeds; i++) {
      if (trace && i === 0) console.log(`\n${kind.name}, seed setup-${kind.name}#0:`);
      samples.push(measure(kind, `setup-${kind.name}#${i}`, trace && i === 0));
    }
    const wrong = samples.find((s) => s.pathRelayed !== kind.relayed);
    if (wrong) throw new Error(`${kind.name}: expected relayed=${kind.relayed}, got path ${wrong.path}`);
    const rtt = median(samples.map((s) => s.rtt));
    const med = (f: (s: Sample) => number): number => median(samples.map(f));
    const phases = {
      portal: med((s) => s.authorized),
      ice: med((s) => s.nominated - s.authorized),
      wireguard: med((s) => s.handshake - s.nominated),
      packet: med((s) => s.reply - s.handshake),
    };
    const total = med((s) => s.reply / s.rtt);
    ratios.set(kind.name, total);
    // A phase whose milestones did not come in this order (say, a handshake before ICE selected
    // a pair) has no duration of its own: shown as '–'.
    const inRtts = (ms: number): string => (Number.isFinite(ms) && ms >= 0 ? (ms / rtt).toFixed(2) : '–');
    const rtts = (ms: number): number => (Number.isFinite(ms) && ms >= 0 ? ms / rtt : NaN);
    results.push({
      name: kind.name,
      selectedPairs: [...new Set(samples.map((s) => s.path))],
      rttMs: rtt,
      setupMs: med((s) => s.reply),
      setupRtts: total,
      phasesRtts: {
        portal: rtts(phases.portal),
        ice: rtts(phases.ice),
        wireguard: rtts(phases.wireguard),
        firstPacket: rtts(phases.packet),
      },
    });
    rows.push([
      kind.name,
      [...new Set(samples.map((s) => s.path))].join(','),
      rtt.toFixed(0),
      med((s) => s.reply).toFixed(0),
      `${Math.min(...samples.map((s) => s.reply))}–${Math.max(...samples.map((s) => s.reply))}`,
      total.toFixed(2),
      inRtts(phases.portal),
      inRtts(phases.ice),
      inRtts(phases.wireguard),
      inRtts(phases.packet),
    ]);
  }
  console.log(
    `\nSet-up time in the simulation, ${HOP_MS} ms one-way per hop (network and portal), median of ${seeds} seeds.`,
  );
  console.log(
    'Virtual time, not the namespaces: this kernel has no netem, so no delay can be added to real links.\n',
  );
  printTable(
    [
      'path',
      'selected pair',
      'RTT ms',
      'set-up ms',
      'range ms',
      'set-up RTTs',
      'portal',
      'ICE',
      'WireGuard',
      'first packet',
    ],
    rows,
  );
  console.log(
    '(phases in path RTTs: portal = first packet → authorization at the client; ICE = → pair selected;',
  );
  console.log(' WireGuard = → handshake complete; first packet = → its reply)');
  console.log(
    `setup direct_rtts=${ratios.get('direct')!.toFixed(2)} relayed_rtts=${ratios.get('relayed')!.toFixed(2)}`,
  );
  return { hopMs: HOP_MS, seeds, paths: results };
}
