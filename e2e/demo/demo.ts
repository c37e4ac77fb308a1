/**
 * `npm run demo`: the system as far as it exists, live on this machine, in four parts. 1: our
 * WireGuard (a Node process over UDP) talking to Debian's wireguard-go in another network
 * namespace: the handshake, ICMP echoes through the tunnel in both directions, and both peers'
 * byte counters once a second. 2: our engine as a TUN interface the kernel routes through. 3: the
 * dev portal's signalling with a scripted sign-in. 4: the whole system (portal, coturn, gateway,
 * client behind NAT) reaching a resource, directly and through the relay.
 *
 * DEMO_SECONDS (default 20) sets how long the live echo part runs; DEMO_PORTAL_SECONDS (default
 * 120) how long the dev portal of part 3 stays up at the end so its sign-in page can be opened in
 * a browser (on DEMO_PORTAL_PORT, default 8080, loopback only). Ctrl-C stops early. Namespaces
 * and processes are removed either way.
 */
import { runPortalDemo } from '../portal/demo.js';
import { NetnsHarness } from '../system/netns.js';
import {
  buildNamespaces,
  OUR_TUNNEL_IP,
  startPeers,
  stopPeers,
  WG_TUNNEL_IP,
  type Topology,
} from '../wg-peer/topology.js';
import { startTunTopology } from '../wg-tunnel/topology.js';
import { runWholeSystemDemo } from './whole-system.js';

const seconds = Number(process.env.DEMO_SECONDS ?? 20);
/** How long the dev portal stays up at the end for a person to try its sign-in page (Ctrl-C ends it). */
const portalSeconds = Number(process.env.DEMO_PORTAL_SECONDS ?? 120);
const harness = new NetnsHarness({ base: 'fzdemo' });
let stopping = false;
process.once('SIGINT', () => {
  stopping = true;
});

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  console.log('Building two network namespaces joined by a veth pair (10.99.0.1 ⇄ 10.99.0.2)…');
  const { nsWg, nsOurs } = await buildNamespaces(harness);
  const t: Topology = await startPeers(harness, nsWg, nsOurs, {
    presharedKey: true,
    wgKnowsOurEndpoint: true,
  });
  console.log(
    `wireguard-go ${t.wg.ifname} in ${nsWg.name}: tunnel ${WG_TUNNEL_IP}, listening on 10.99.0.1:${t.wg.listenPort}`,
  );
  console.log(
    `our WireGuard (Node) in ${nsOurs.name}: tunnel ${OUR_TUNNEL_IP}, UDP 10.99.0.2:${t.ours.port}, with a preshared key`,
  );

  const { handshakeMs } = await t.ours.initiate();
  console.log(`handshake with wireguard-go completed in ${handshakeMs.toFixed(1)} ms\n`);
  console.log(
    'time  echoes answered  rtt p50   ours tx / rx             wireguard-go rx / tx     last handshake',
  );

  let answered = 0;
  let sent = 0;
  const start = Date.now();
  while (!stopping && Date.now() - start < seconds * 1000) {
    const tick = Date.now();
    const ping = await t.ours.ping(100, { window: 8, timeoutMs: 900 });
    sent += ping.sent;
    answered += ping.replies;
    const ours = await t.ours.stats();
    const theirs = await t.wg.peer(t.ourPublicKey);
    const age =
      theirs && theirs.latestHandshake > 0
        ? `${Math.round(Date.now() / 1000 - theirs.latestHandshake)} s ago`
        : 'never';
    console.log(
      `${String(Math.round((Date.now() - start) / 1000)).padStart(3)} s  ${`${answered}/${sent}`.padStart(15)}  ` +
        `${ping.rttP50Ms.toFixed(2).padStart(5)} ms  ${`${kib(ours.txBytes)} / ${kib(ours.rxBytes)}`.padEnd(23)}  ` +
        `${`${kib(theirs?.rxBytes ?? 0)} / ${kib(theirs?.txBytes ?? 0)}`.padEnd(23)}  ${age}`,
    );
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
  }

  console.log(
    `\nNow the other way: the kernel behind wireguard-go pings our process (ping ${OUR_TUNNEL_IP}):`,
  );
  const reverse = await nsWg.exec('ping', ['-c', '5', '-i', '0.2', OUR_TUNNEL_IP], { allowFailure: true });
  console.log(reverse.stdout.trim().split('\n').slice(-2).join('\n'));
  const final = await t.ours.stats();
  console.log(
    `\nour peer: ${final.handshakesCompleted} handshake(s), ${final.txPackets} packets sent, ${final.rxPackets} received, ` +
      `${final.echoRequestsAnswered} echo requests answered, ${Object.values(final.dropped).reduce((a, b) => a + b, 0)} dropped`,
  );
  await stopPeers(t);
  if (answered !== sent || answered === 0) throw new Error(`${sent - answered} echoes unanswered`);

  console.log('\nPart 2: our engine as a real interface. A worker thread runs the batched data path over a');
  console.log(
    'TUN device (node-tun) and a batched UDP socket; the kernel routes ordinary traffic through it.',
  );
  const tun = await startTunTopology(harness, nsWg, nsOurs);
  const ping = await nsOurs.exec('ping', ['-c', '5', '-i', '0.2', WG_TUNNEL_IP]);
  console.log(`$ ping -c 5 ${WG_TUNNEL_IP}   (from our namespace, through interface fz0)`);
  console.log(ping.stdout.trim().split('\n').slice(-2).join('\n'));
  const server = nsWg.spawn(
    process.execPath,
    [
      '-e',
      `require('http').createServer((q,s)=>s.end('hello through the tunnel\\n')).listen(8080,'${WG_TUNNEL_IP}',()=>console.log('up'))`,
    ],
    { label: 'http-server' },
  );
  await server.waitForOutput(/up/);
  const curl = await nsOurs.exec('curl', ['-sS', '--max-time', '5', `http://${WG_TUNNEL_IP}:8080/`]);
  console.log(`$ curl http://${WG_TUNNEL_IP}:8080/\n${curl.stdout.trim()}`);
  await server.stop();
  const iperfServer = nsWg.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', WG_TUNNEL_IP], {
    label: 'iperf3-server',
  });
  await iperfServer.waitForOutput(/Server listening/);
  const iperf = await nsOurs.exec('iperf3', ['-c', WG_TUNNEL_IP, '-t', '3', '-J'], { timeoutMs: 30_000 });
  const report = JSON.parse(iperf.stdout) as { end: { sum_received: { bits_per_second: number } } };
  console.log(
    `$ iperf3 -c ${WG_TUNNEL_IP} -t 3\n${(report.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s (TCP, our tunnel → wireguard-go)`,
  );
  const stats = await tun.stats();
  const peer = stats.peers[0];
  console.log(
    `\nour interface ${stats.interfaceName} (crypto: ${stats.cryptoBackend}): ${peer?.handshakesCompleted ?? 0} handshake(s), ` +
      `tx ${kib(peer?.txBytes ?? 0)}, rx ${kib(peer?.rxBytes ?? 0)}`,
  );
  await tun.stop();

  console.log('\nPart 3: the signalling plane. The dev portal (Phoenix channels) with the example config;');
  console.log(
    'a client and a gateway session sign in, join, get a flow authorised and relay ICE candidates.',
  );
  // Part 4 runs while the portal of part 3 is still up, before it waits for a person at the end.
  let wholeSystemDone = false;
  const part4 = async (): Promise<boolean> => {
    if (stopping) return false;
    console.log(
      '\nPart 4: the whole system. The real dev portal, coturn, a headless gateway and the headless',
    );
    console.log(
      'client in namespaces behind NAT routers; the client reaches a CIDR resource through the gateway.',
    );
    wholeSystemDone = await runWholeSystemDemo();
    return wholeSystemDone && !stopping;
  };
  const options = { seconds: portalSeconds, beforeHold: part4 };
  try {
    await runPortalDemo({ port: Number(process.env.DEMO_PORTAL_PORT ?? 8080), ...options });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    console.log('(port 8080 is taken; the portal takes a free port instead)');
    await runPortalDemo({ port: 0, ...options });
  }
  if (wholeSystemDone) console.log('demo ok');
  else {
    console.log('demo stopped early (Ctrl-C)');
    process.exitCode = 130;
  }
}

try {
  await main();
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  console.error(harness.logs(2000));
  process.exitCode = 1;
} finally {
  await harness.cleanup();
}
