/**
 * Our tunnel with a real TUN against wireguard-go: in netns B, our engine (worker thread,
 * node-tun TUN + batched UDP) is a WireGuard interface; in netns A, wireguard-go. The kernel's
 * own tools talk through it: ping, curl of an HTTP server behind wireguard-go, and iperf3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTunTopology, type TunTopology } from '../wg-tunnel/topology.js';
import { NetnsHarness, type Netns } from './netns.js';

/**
 * Twice: as this machine's engine chooses (one lane on two cores), and with two lanes forced (a
 * crypto worker sealing and opening half of each batch, and a TUN with two queues), as on a
 * machine with more cores.
 */
describe.each([
  ['the default lane', undefined],
  ['two lanes (crypto worker, two TUN queues)', 2 as const],
])('our TUN tunnel against wireguard-go, %s', (_, cryptoLanes) => {
  const harness = new NetnsHarness();
  let nsWg: Netns;
  let nsOurs: Netns;
  let t: TunTopology;

  beforeAll(async () => {
    nsWg = await harness.createNamespace();
    nsOurs = await harness.createNamespace();
    await harness.connect(nsWg, nsOurs, { ipv4: ['10.99.0.1/24', '10.99.0.2/24'] });
    t = await startTunTopology(harness, nsWg, nsOurs, { cryptoLanes });
  }, 60_000);

  afterAll(async () => {
    await harness.cleanup();
  });

  it('carries the kernel’s ping both ways, over IPv4 and IPv6', async () => {
    const out = await nsOurs.exec('ping', ['-c', '20', '-i', '0.01', '-W', '2', '10.98.0.1']);
    expect(out.stdout).toMatch(/20 packets transmitted, 20 received/);
    const back = await nsWg.exec('ping', ['-c', '20', '-i', '0.01', '-W', '2', '10.98.0.2']);
    expect(back.stdout).toMatch(/20 packets transmitted, 20 received/);
    const v6 = await nsOurs.exec('ping', ['-6', '-c', '10', '-i', '0.01', '-W', '2', 'fd00:98::1']);
    expect(v6.stdout).toMatch(/10 packets transmitted, 10 received/);
    expect((await t.wg.peer(t.ourPublicKey))?.latestHandshake).toBeGreaterThan(0);
  });

  it('fetches a page with curl from an HTTP server behind wireguard-go', async () => {
    const server = nsWg.spawn(
      process.execPath,
      [
        '-e',
        "require('http').createServer((q,s)=>s.end('x'.repeat(200000))).listen(8080,'10.98.0.1',()=>console.log('up'))",
      ],
      { label: 'http-server' },
    );
    await server.waitForOutput(/up/);
    const res = await nsOurs.exec('curl', [
      '-sS',
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{size_download}',
      'http://10.98.0.1:8080/',
    ]);
    expect(res.stdout).toBe('200 200000');
    await server.stop();
  });

  it('moves 16 iperf3 TCP streams through the tunnel with no decryption errors', async () => {
    const server = nsWg.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', '10.98.0.1'], {
      label: 'iperf3-server',
    });
    await server.waitForOutput(/Server listening/);
    const res = await nsOurs.exec('iperf3', ['-c', '10.98.0.1', '-t', '3', '-P', '16', '-J'], {
      timeoutMs: 30_000,
    });
    const report = JSON.parse(res.stdout) as {
      end: { sum_received: { bits_per_second: number; bytes: number } };
    };
    const mbps = report.end.sum_received.bits_per_second / 1e6;
    console.log(`iperf3 through our tunnel ⇄ wireguard-go: ${mbps.toFixed(0)} Mbit/s`);
    expect(report.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    const stats = await t.stats();
    expect(stats.peers[0]!.dropped.decrypt_failed).toBe(0);
    expect(stats.peers[0]!.dropped.replay).toBe(0);
    if (cryptoLanes === 2) {
      // The worker sealed and opened part of the stream, and the device has its second queue.
      expect(stats.crypto.lanes).toBe(2);
      expect(stats.crypto.tunQueues).toBe(2);
      expect(stats.crypto.byWorker).toBeGreaterThan(1000);
      // 16 TCP flows: written through the queue each hashes to, the kernel sends each flow back
      // on its queue, so both queues carry traffic (all on one would mean the flows were not spread).
      expect(stats.crypto.tunQueue0Reads).toBeGreaterThan(100);
      expect(stats.crypto.tunQueue1Reads).toBeGreaterThan(100);
      const queues = await nsOurs.exec('ls', ['/sys/class/net/fz0/queues']);
      expect(queues.stdout.split(/\s+/)).toEqual(expect.arrayContaining(['tx-0', 'tx-1']));
    } else {
      expect(stats.crypto.lanes).toBe(1);
    }
    await server.waitForExit(5_000);
  });

  it('reports a deleted interface once, clearly, and exits instead of spinning', async () => {
    await nsOurs.ip('link', 'del', 'fz0');
    const exit = await t.ours.waitForExit(10_000);
    expect(exit.code).toBe(1);
    const errors = t.ours.stderr.split('\n').filter((l) => l.startsWith('engine error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/TUN fz0: .*(EBADFD|EIO|ENXIO)/);
  });
});
