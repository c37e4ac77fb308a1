/**
 * Interop proof: our WireGuard (Node, over a UDP socket) against Debian's wireguard-go, in two
 * network namespaces. ICMP echoes built by our packet library go through the tunnel and the
 * kernel behind wireguard-go answers them; and the other way round, the kernel's `ping` through
 * wireguard-go is answered by our process. Writes e2e/artifacts/wg-interop.json for the summary
 * line of `npm run test:interop`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REJECT_AFTER_TIME, REKEY_AFTER_TIME } from '../../src-engine/wireguard/constants.js';
import { NetnsHarness, type Netns } from './netns.js';
import {
  buildNamespaces,
  OUR_TUNNEL_IP,
  OUR_UNDERLAY_IP,
  startPeers,
  stopPeers,
  type Topology,
} from '../wg-peer/topology.js';

const ARTIFACTS = new URL('../artifacts/', import.meta.url);
const harness = new NetnsHarness();
let nsWg: Netns;
let nsOurs: Netns;
let t: Topology | undefined;
const summary = { replies: 0, handshakeMs: NaN, scenarios: [] as string[] };

beforeAll(async () => {
  ({ nsWg, nsOurs } = await buildNamespaces(harness));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(harness.logs());
  await stopPeers(t);
  t = undefined;
});

afterAll(async () => {
  await harness.cleanup();
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(new URL('wg-interop.json', ARTIFACTS), JSON.stringify(summary, null, 2));
});

describe('WireGuard interop with wireguard-go', () => {
  it('handshakes without a PSK and gets 1,200 echoes answered by the kernel behind wireguard-go', async () => {
    t = await startPeers(harness, nsWg, nsOurs);
    const { handshakeMs } = await t.ours.initiate();
    summary.handshakeMs = handshakeMs;
    const ping = await t.ours.ping(1200, { window: 16 });
    expect(ping).toMatchObject({ sent: 1200, replies: 1200 });
    summary.replies += ping.replies;

    const peer = await t.wg.peer(t.ourPublicKey);
    expect(peer?.latestHandshake).toBeGreaterThan(0);
    expect(peer?.endpoint).toBe(`${OUR_UNDERLAY_IP}:${t.ours.port}`);
    const stats = await t.ours.stats();
    // Byte counters agree: what wireguard-go received is what we sent, and vice versa.
    expect(peer?.rxBytes).toBe(stats.txBytes);
    expect(peer?.txBytes).toBe(stats.rxBytes);
    expect(Object.values(stats.dropped).reduce((a, b) => a + b, 0)).toBe(0);
    summary.scenarios.push('no-psk');
    console.log(
      `handshake ${handshakeMs.toFixed(1)} ms, ${ping.replies} echoes, rtt p50 ${ping.rttP50Ms.toFixed(2)} ms`,
    );
  });

  it('rekeys after REKEY_AFTER_TIME and replaces a session past REJECT_AFTER_TIME, without loss', async () => {
    t = await startPeers(harness, nsWg, nsOurs);
    await t.ours.initiate();
    expect((await t.ours.ping(100)).replies).toBe(100);
    // Our clock jumps past 120 s: the next send goes out on the old session and starts a rekey.
    await t.ours.skip(REKEY_AFTER_TIME + 1_000);
    const afterRekey = await t.ours.ping(200);
    await t.ours.waitHandshakes(2);
    expect(afterRekey.replies).toBe(200);
    // Past 180 s the session may not be used at all: packets wait for a new handshake.
    await t.ours.skip(REJECT_AFTER_TIME + 1_000);
    const afterReject = await t.ours.ping(200);
    const stats = await t.ours.waitHandshakes(3);
    expect(afterReject.replies).toBe(200);
    expect(stats.handshakesInitiated).toBeGreaterThanOrEqual(3);
    summary.replies += 100 + afterRekey.replies + afterReject.replies;
    summary.scenarios.push('rekey');
  });

  it('keeps the tunnel when our side roams to a new source port', async () => {
    t = await startPeers(harness, nsWg, nsOurs);
    await t.ours.initiate();
    expect((await t.ours.ping(50)).replies).toBe(50);
    const oldPort = t.ours.port;
    const { port } = await t.ours.rebind();
    expect(port).not.toBe(oldPort);
    const ping = await t.ours.ping(200);
    expect(ping.replies).toBe(200);
    // wireguard-go follows us to the new port (it learned it from an authenticated packet).
    expect((await t.wg.peer(t.ourPublicKey))?.endpoint).toBe(`${OUR_UNDERLAY_IP}:${port}`);
    summary.replies += 50 + ping.replies;
    summary.scenarios.push('roaming');
  });

  it('answers when wireguard-go initiates: the kernel pings our process through the tunnel', async () => {
    t = await startPeers(harness, nsWg, nsOurs, { wgKnowsOurEndpoint: true });
    const ping = await nsWg.exec('ping', ['-c', '50', '-i', '0.02', '-W', '2', OUR_TUNNEL_IP]);
    expect(ping.stdout).toMatch(/50 packets transmitted, 50 received/);
    const stats = await t.ours.stats();
    expect(stats.handshakesCompleted).toBe(1);
    expect(stats.handshakesInitiated).toBe(0); // it was wireguard-go's handshake
    expect(stats.echoRequestsAnswered).toBe(50);
    // And our own echoes ride the session wireguard-go set up.
    expect((await t.ours.ping(100)).replies).toBe(100);
    expect((await t.ours.stats()).handshakesInitiated).toBe(0);
    summary.replies += 150;
    summary.scenarios.push('peer-initiates');
  });

  it('handshakes with a preshared key (and the @noble fallback backend interoperates too)', async () => {
    t = await startPeers(harness, nsWg, nsOurs, { presharedKey: true, backend: 'noble' });
    const { handshakeMs } = await t.ours.initiate();
    expect(handshakeMs).toBeLessThan(5_000);
    const ping = await t.ours.ping(300);
    expect(ping.replies).toBe(300);
    expect((await t.wg.peer(t.ourPublicKey))?.hasPresharedKey).toBe(true);
    summary.replies += ping.replies;
    summary.scenarios.push('psk');
  });

  it('gets no session when the preshared keys differ', async () => {
    t = await startPeers(harness, nsWg, nsOurs, { presharedKey: true });
    // Give wireguard-go another PSK than ours.
    await t.wg.setPeer({
      publicKey: t.ourPublicKey,
      presharedKey: 'x'.repeat(42) + 'A=',
      allowedIps: [`${OUR_TUNNEL_IP}/32`],
    });
    await expect(t.ours.initiate(2_000)).rejects.toThrow(/no handshake/);
    const stats = await t.ours.stats();
    expect(stats.hasSession).toBe(false);
    expect(stats.dropped.handshake_invalid).toBeGreaterThanOrEqual(1);
  });
});
