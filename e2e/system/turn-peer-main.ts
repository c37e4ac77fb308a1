/**
 * A thin UDP driver around the sans-IO `TurnClient`, run inside a network namespace by
 * `turn-interop.test.ts`: one node:dgram socket, the client's timers on setTimeout, and a clock
 * that the test can move forward (`skip`) so a refresh happens without waiting minutes. It is
 * driven by JSON commands, one per line on stdin; each reply is one `RPC <json>` line on stdout.
 *
 * Usage: turn-peer-main.ts '<TurnPeerConfig as JSON>'
 */
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { TurnClient } from '../../src-engine/ice/turn/client.js';
import type { TurnEvent } from '../../src-engine/ice/turn/events.js';
import type { TransportAddress } from '../../src-engine/ice/transport-address.js';
import type { ReceivedData, TurnPeerCommand, TurnPeerConfig, TurnPeerStatus } from './turn-peer.js';

const config = JSON.parse(process.argv[2] ?? '') as TurnPeerConfig;
const socket = createSocket('udp4');
let skew = 0;
const now = (): number => performance.now() + skew;
let client: TurnClient | undefined;
let local: TransportAddress | undefined;
const events: TurnEvent[] = [];
const received: ReceivedData[] = [];
let timer: NodeJS.Timeout | undefined;
const watchers = new Set<() => void>();

function log(text: string): void {
  process.stderr.write(`[turn-peer ${config.name}] ${text}\n`);
}

/** Sends what the client queued, collects its events, and re-arms its timer. */
function pump(): void {
  if (!client) return;
  for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
    socket.send(t.payload, t.to.port, t.to.address);
  }
  for (let e = client.pollEvent(); e; e = client.pollEvent()) {
    events.push(e);
    log(`event ${JSON.stringify(e)}`);
  }
  if (timer) clearTimeout(timer);
  const next = client.pollTimeout();
  if (next !== undefined) {
    timer = setTimeout(
      () => {
        client?.handleTimeout(now());
        pump();
      },
      Math.min(Math.max(0, next - now()), 2 ** 31 - 1),
    );
  }
  for (const w of [...watchers]) w();
}

socket.on('message', (msg, rinfo) => {
  if (!client) return;
  const result = client.handleInput(msg, { address: rinfo.address, port: rinfo.port }, now(), local);
  if (result.type === 'data') {
    received.push({
      peer: result.peer,
      hex: Buffer.from(result.payload).toString('hex'),
      channel: result.channel,
    });
  }
  pump();
});

/** Resolves once `done()` holds (checked after every pump), rejects after `timeoutMs`. */
function until<T>(done: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const value = done();
      if (value === undefined) return;
      watchers.delete(check);
      clearTimeout(deadline);
      resolve(value);
    };
    const deadline = setTimeout(() => {
      watchers.delete(check);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    watchers.add(check);
    check();
  });
}

/** The first event at or after index `from` that matches. */
function eventAfter(from: number, match: (e: TurnEvent) => boolean): TurnEvent | undefined {
  return events.slice(from).find(match);
}

function status(): TurnPeerStatus {
  return {
    state: client?.state ?? 'none',
    relayed: client?.relayed ?? [],
    srflx: client?.srflx,
    local,
    stats: client ? { ...client.stats } : undefined,
    drops: client ? Object.fromEntries(client.drops) : {},
    events,
  };
}

async function run(cmd: TurnPeerCommand): Promise<unknown> {
  switch (cmd.cmd) {
    case 'allocate': {
      const mark = events.length;
      const expiresAt =
        config.expiresAtUnix === undefined ? undefined : now() + (config.expiresAtUnix * 1000 - Date.now());
      client = new TurnClient(
        {
          servers: config.servers,
          credentials: { username: config.username, password: config.password, expiresAt },
          lifetimeSeconds: config.lifetimeSeconds,
        },
        now(),
      );
      pump();
      await until(
        () => eventAfter(mark, (e) => e.type === 'relay_candidates' || e.type === 'allocation_failed'),
        cmd.timeoutMs ?? 15_000,
        'the allocation',
      );
      return status();
    }
    case 'permission': {
      const mark = events.length;
      client!.createPermission(cmd.peer, now());
      pump();
      return until(
        () =>
          eventAfter(
            mark,
            (e) =>
              (e.type === 'permission_created' || e.type === 'permission_failed') &&
              e.ip === cmd.peer.address,
          ) ?? (client!.hasPermission(cmd.peer.address, now()) ? { type: 'already' } : undefined),
        10_000,
        `the permission for ${cmd.peer.address}`,
      );
    }
    case 'bind': {
      const mark = events.length;
      const channel = client!.bindChannel(cmd.peer, now());
      pump();
      return until(
        () =>
          eventAfter(
            mark,
            (e) => (e.type === 'channel_bound' || e.type === 'channel_bind_failed') && e.channel === channel,
          ),
        10_000,
        `the channel to ${cmd.peer.address}:${cmd.peer.port}`,
      );
    }
    case 'send': {
      const payload = Buffer.from(cmd.hex, 'hex');
      const t =
        cmd.via === 'indication'
          ? client!.sendIndication(cmd.peer, payload, now())
          : client!.encapsulate(cmd.peer, payload, now());
      if (!t) return { sent: false };
      socket.send(t.payload, t.to.port, t.to.address);
      return { sent: true, channelData: t.payload[0]! >= 0x40 };
    }
    case 'receive':
      return until(
        () => (received.length >= cmd.count ? received.splice(0, cmd.count) : undefined),
        cmd.timeoutMs ?? 5_000,
        `${cmd.count} relayed datagrams`,
      );
    case 'skip': {
      skew += cmd.ms;
      client?.handleTimeout(now());
      pump();
      return status();
    }
    case 'waitEvent': {
      const from = cmd.since ?? 0;
      return until(() => eventAfter(from, (e) => e.type === cmd.type), cmd.timeoutMs ?? 10_000, cmd.type);
    }
    case 'status':
      return status();
    case 'free': {
      client?.free(now());
      pump();
      return status();
    }
    case 'exit':
      setTimeout(() => process.exit(0), 10);
      return {};
  }
}

socket.bind(config.bind.port, config.bind.address, () => {
  const address = socket.address();
  local = { address: address.address, port: address.port };
  process.stdout.write(`RPC ${JSON.stringify({ id: 0, ok: true, result: { ready: true, local } })}\n`);
});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let cmd: TurnPeerCommand & { id: number };
  try {
    cmd = JSON.parse(line) as TurnPeerCommand & { id: number };
  } catch {
    log('ignored a line that is not JSON');
    return;
  }
  run(cmd).then(
    (result) => process.stdout.write(`RPC ${JSON.stringify({ id: cmd.id, ok: true, result })}\n`),
    (err: Error) =>
      process.stdout.write(`RPC ${JSON.stringify({ id: cmd.id, ok: false, error: err.message })}\n`),
  );
});
lines.on('close', () => process.exit(0));
