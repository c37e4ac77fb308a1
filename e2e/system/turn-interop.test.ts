/**
 * Interop proof for the TURN client: two of our clients, each in its own network namespace,
 * against Debian's coturn in a third, with TURN REST credentials minted exactly as the portal
 * mints them (`turnRestCredentials`, coturn's `use-auth-secret` scheme):
 *
 *   netns A (client a) 10.201.1.2 ──veth── 10.201.1.1 ┐
 *                                                     netns R: coturn :3478, relay-ip 10.201.1.1
 *   netns B (client b) 10.201.2.2 ──veth── 10.201.2.1 ┘
 *
 * The clients allocate, create permissions, bind channels and exchange data through coturn in both
 * directions (Send/Data indications, then ChannelData); coturn rotates nonces every 2 s
 * (`stale-nonce=2`) so 438 is exercised; the clients' clocks jump ahead so the allocations,
 * permissions and channels are refreshed; wrong and expired credentials end in a clear
 * allocation failure; a second client on a taken 5-tuple recovers from 437; free() deallocates.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_UNAUTHENTICATED } from '../../src-engine/ice/constants.js';
import { describeTurnFailure, type TurnEvent } from '../../src-engine/ice/turn/events.js';
import type { TransportAddress } from '../../src-engine/ice/transport-address.js';
import { turnRestCredentials } from '../../src-engine/portal/credentials.js';
import { NetnsHarness, removeStale, type Netns, type NsProcess } from './netns.js';
import { TurnPeer, type TurnPeerStatus } from './turn-peer.js';

const RELAY_IP_A = '10.201.1.1';
const CLIENT_IP_A = '10.201.1.2';
const RELAY_IP_B = '10.201.2.1';
const CLIENT_IP_B = '10.201.2.2';
const TURN_PORT = 3478;
/** coturn answers 438 to requests carrying a nonce older than this (seconds). */
const STALE_NONCE_S = 2;
const SECRET = randomBytes(24).toString('base64');
const expiresAtUnix = (): number => Math.floor(Date.now() / 1000) + 3_600;

const harness = new NetnsHarness();
const peers: TurnPeer[] = [];
let nsA: Netns;
let nsB: Netns;
let coturn: NsProcess;
let a: TurnPeer;
let b: TurnPeer;
let allocA: TurnPeerStatus;
let allocB: TurnPeerStatus;

async function startPeer(
  ns: Netns,
  name: string,
  ip: string,
  server: TransportAddress,
  credentials?: { username: string; password: string; expiresAtUnix?: number },
): Promise<TurnPeer> {
  const expiresAt = expiresAtUnix();
  const rest = turnRestCredentials(SECRET, `device-${name}`, expiresAt);
  const peer = await TurnPeer.start(harness, ns, {
    name,
    bind: { address: ip, port: 0 },
    servers: [server],
    ...(credentials ?? { ...rest, expiresAtUnix: expiresAt }),
  });
  peers.push(peer);
  return peer;
}

function payload(tag: number, size: number): Uint8Array {
  const out = randomBytes(size);
  out[0] = tag;
  return out;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

beforeAll(async () => {
  await removeStale();
  const nsRelay = await harness.createNamespace();
  nsA = await harness.createNamespace();
  nsB = await harness.createNamespace();
  await harness.connect(nsRelay, nsA, { ipv4: [`${RELAY_IP_A}/24`, `${CLIENT_IP_A}/24`] });
  await harness.connect(nsRelay, nsB, { ipv4: [`${RELAY_IP_B}/24`, `${CLIENT_IP_B}/24`] });
  const dir = harness.tempDir('coturn');
  coturn = harness.spawnIn(
    nsRelay.name,
    'turnserver',
    [
      '-n', // no configuration file
      `--listening-ip=${RELAY_IP_A}`,
      `--listening-ip=${RELAY_IP_B}`,
      `--listening-port=${TURN_PORT}`,
      `--relay-ip=${RELAY_IP_A}`,
      '--min-port=49160',
      '--max-port=49200',
      '--realm=firezone',
      '--use-auth-secret',
      `--static-auth-secret=${SECRET}`,
      `--stale-nonce=${STALE_NONCE_S}`,
      '--fingerprint',
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      '--no-rfc5780',
      '--no-multicast-peers',
      `--allowed-peer-ip=${RELAY_IP_A}`,
      '--log-file=stdout',
      '--simple-log',
      `--pidfile=${dir}/turnserver.pid`,
      `--userdb=${dir}/turndb.sqlite`,
    ],
    { label: 'coturn' },
  );
  // Printed once the listeners and relay threads are up (at the default log level coturn does
  // not list the UDP listeners). A request racing it is retransmitted after 1 s anyway.
  await coturn.waitForOutput(/Total General servers/, 15_000);
  a = await startPeer(nsA, 'a', CLIENT_IP_A, { address: RELAY_IP_A, port: TURN_PORT });
  b = await startPeer(nsB, 'b', CLIENT_IP_B, { address: RELAY_IP_B, port: TURN_PORT });
}, 60_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(harness.logs(8_000));
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.exit()));
  await harness.cleanup();
});

describe('TURN client interop with coturn', () => {
  it('allocates with portal-minted REST credentials and reports host, srflx and relay candidates', async () => {
    [allocA, allocB] = await Promise.all([a.allocate(), b.allocate()]);
    for (const [status, peer, ip] of [
      [allocA, a, CLIENT_IP_A],
      [allocB, b, CLIENT_IP_B],
    ] as const) {
      expect(status.state, JSON.stringify(status.events)).toBe('allocated');
      expect(status.relayed).toHaveLength(1);
      expect(status.relayed[0]!.address).toBe(RELAY_IP_A);
      // No NAT between client and relay: the reflexive address is the socket's own.
      expect(status.srflx).toEqual({ address: ip, port: peer.local.port });
      expect(status.events).toContainEqual({ type: 'host_candidate', address: peer.local });
      expect(status.stats?.allocations).toBe(1);
    }
    expect(allocA.relayed[0]).not.toEqual(allocB.relayed[0]);
  });

  it('relays both ways through Send and Data indications once permissions exist', async () => {
    const relayA = allocA.relayed[0]!;
    const relayB = allocB.relayed[0]!;
    // Without a permission nothing is sent.
    expect(await a.send(relayB, payload(1, 10), 'indication')).toEqual({ sent: false });
    expect(await a.permission(relayB)).toMatchObject({ type: 'permission_created', ip: relayB.address });
    // Both relayed addresses share coturn's relay IP, so one permission per side covers both.
    expect(await b.permission(relayA)).toMatchObject({ type: 'permission_created', ip: relayA.address });

    const toB = [payload(0xa1, 64), payload(0xa2, 1200), payload(0xa3, 1)];
    for (const p of toB)
      expect(await a.send(relayB, p, 'indication')).toEqual({ sent: true, channelData: false });
    const atB = await b.receive(toB.length);
    expect(atB.map((d) => d.hex).sort()).toEqual(toB.map(hex).sort());
    for (const d of atB) expect(d).toEqual({ peer: relayA, hex: d.hex }); // no channel: a Data indication

    const toA = [payload(0xb1, 500), payload(0xb2, 1316)];
    for (const p of toA) await b.send(relayA, p, 'indication');
    const atA = await a.receive(toA.length);
    expect(atA.map((d) => d.hex).sort()).toEqual(toA.map(hex).sort());
    for (const d of atA) expect(d).toEqual({ peer: relayB, hex: d.hex });
  });

  it('binds channels and relays ChannelData both ways', async () => {
    const relayA = allocA.relayed[0]!;
    const relayB = allocB.relayed[0]!;
    const boundA = (await a.bind(relayB)) as Extract<TurnEvent, { type: 'channel_bound' }>;
    const boundB = (await b.bind(relayA)) as Extract<TurnEvent, { type: 'channel_bound' }>;
    expect(boundA).toMatchObject({ type: 'channel_bound', peer: relayB, channel: 0x4000 });
    expect(boundB).toMatchObject({ type: 'channel_bound', peer: relayA, channel: 0x4000 });

    const toB = Array.from({ length: 20 }, (_, i) => payload(i, 1 + ((i * 97) % 1300)));
    for (const p of toB) expect(await a.send(relayB, p)).toEqual({ sent: true, channelData: true });
    const atB = await b.receive(toB.length);
    expect(atB.map((d) => d.hex).sort()).toEqual(toB.map(hex).sort());
    // coturn delivers on B's channel for A's relayed address (B bound one), not as Data indications.
    for (const d of atB)
      expect(d).toEqual(expect.objectContaining({ peer: relayA, channel: boundB.channel }));

    const toA = Array.from({ length: 20 }, (_, i) => payload(0x80 + i, 3 + i * 61));
    for (const p of toA) expect(await b.send(relayA, p)).toEqual({ sent: true, channelData: true });
    const atA = await a.receive(toA.length);
    expect(atA.map((d) => d.hex).sort()).toEqual(toA.map(hex).sort());
    for (const d of atA)
      expect(d).toEqual(expect.objectContaining({ peer: relayB, channel: boundA.channel }));
  });

  it('retries stale nonces (438) and refreshes the allocation, permissions and channels', async () => {
    const relayA = allocA.relayed[0]!;
    const relayB = allocB.relayed[0]!;
    // Let coturn's nonces go stale (it checks them against a clock with one-second ticks, hence
    // the margin), then jump the clients' clocks to half the allocation lifetime: Refresh,
    // CreatePermission and ChannelBind all go out with an old nonce.
    await new Promise((r) => setTimeout(r, (STALE_NONCE_S + 2) * 1_000));
    for (const peer of [a, b]) {
      const since = (await peer.status()).events.length;
      await peer.skip(300_000);
      expect(await peer.waitEvent('refreshed', since)).toEqual({ type: 'refreshed', lifetimeSeconds: 600 });
    }
    for (const peer of [a, b]) {
      const status = await peer.status();
      expect(status.state).toBe('allocated');
      expect(status.stats?.refreshes).toBe(1);
      expect(status.stats?.staleNonceRetries).toBeGreaterThanOrEqual(1);
      expect(status.stats?.keepalives).toBeGreaterThanOrEqual(1);
      // Nothing that arrived was dropped (a's one refused send in the second test is outbound).
      expect(Object.keys(status.drops).filter((reason) => !reason.startsWith('send_'))).toEqual([]);
    }
    // Channels and permissions still carry data after the refresh.
    const p = payload(0xcc, 800);
    await a.send(relayB, p);
    expect(await b.receive(1)).toEqual([{ peer: relayA, hex: hex(p), channel: 0x4000 }]);
    await b.send(relayA, p);
    expect(await a.receive(1)).toEqual([{ peer: relayB, hex: hex(p), channel: 0x4000 }]);
  });

  it('fails with a clear reason on a wrong password and on expired REST credentials', async () => {
    const server = { address: RELAY_IP_A, port: TURN_PORT };
    const good = turnRestCredentials(SECRET, 'device-c', expiresAtUnix());
    const wrong = await startPeer(nsA, 'wrong', CLIENT_IP_A, server, {
      ...good,
      password: 'not-the-password',
    });
    // Signed correctly, but the expiry in the username lies in the past: coturn refuses it.
    const expired = turnRestCredentials(SECRET, 'device-d', Math.floor(Date.now() / 1000) - 60);
    const stale = await startPeer(nsA, 'expired', CLIENT_IP_A, server, expired);
    for (const peer of [wrong, stale]) {
      const status = await peer.allocate();
      expect(status.state).toBe('failed');
      const failure = status.events.find((e) => e.type === 'allocation_failed');
      expect(failure).toMatchObject({ reason: { kind: 'unauthorized', code: ERROR_UNAUTHENTICATED } });
      if (failure?.type === 'allocation_failed') {
        expect(describeTurnFailure(failure.reason)).toMatch(/^the relay rejected our credentials \(401 /);
      }
    }
  });

  it('recovers from 437 when a new client takes over the 5-tuple, and free() deallocates', async () => {
    // A fresh TurnClient on a's socket: coturn still has the old allocation on that 5-tuple, so
    // it answers 437; the client clears it with Refresh(0) and allocates again (coturn lets go of
    // the 5-tuple on its next one-second tick, so this may take a second 437 and a pause).
    const again = await a.allocate();
    expect(again.state).toBe('allocated');
    expect(again.stats?.allocationMismatches).toBeGreaterThanOrEqual(1);
    // free() sends Refresh(lifetime 0). Once coturn has closed the session, a new client on the
    // same socket meets no 437: the allocation is gone, not merely expiring in 10 minutes.
    await a.free();
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await a.status()).state).toBe('freed');
    const afterFree = await a.allocate();
    expect(afterFree.state).toBe('allocated');
    expect(afterFree.stats?.allocationMismatches).toBe(0);
  });
});
