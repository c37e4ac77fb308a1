/**
 * Throughput smoke test, comparable with docs/performance.md §A2 ("packed ≤64"): a reflector reads
 * packed batches from a TUN, swaps the IPv4 addresses and UDP ports in place (checksums stay
 * valid) and writes the batch back in one call; a blaster process sends UDP at full speed into the
 * TUN with node-tun's sendmmsg and counts the reflected datagrams. Runs in a throw-away network
 * namespace; needs root.
 *
 *   node --import tsx bench/reflect.ts [seconds=5] [payload=1200] [batch=64]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADDR_SIZE, TunDevice, UdpSocket, encodeAddress } from '../index.js';

const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const mode = args[0]?.startsWith('--') === true ? args.shift() : '--outer';
const seconds = Number(args[0] ?? 5);
const payloadSize = Number(args[1] ?? 1200);
const batchSize = Number(args[2] ?? 64);
const TUN_ADDR = '10.96.0.1';
const TARGET = '10.96.0.2';

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function node(...a: string[]): string[] {
  return ['--import', 'tsx', SELF, ...a];
}

async function outer(): Promise<void> {
  const ns = `ntbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...node('--inner', String(seconds), String(payloadSize), String(batchSize)),
      ],
      { stdio: 'inherit' },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

async function inner(): Promise<void> {
  const tun = TunDevice.open({ name: 'tunr' });
  execFileSync('ip', ['addr', 'add', `${TUN_ADDR}/24`, 'dev', tun.name]);
  execFileSync('ip', ['link', 'set', tun.name, 'up', 'mtu', '1500']);
  const SLOT = 2048;
  const buf = new Uint8Array(SLOT * batchSize);
  const lens = new Uint32Array(batchSize);
  let bytes = 0;
  let measuring = false;
  tun.startReading(
    buf,
    SLOT,
    0,
    lens,
    batchSize,
    (count) => {
      for (let i = 0; i < count; i++) {
        const o = i * SLOT;
        if (measuring) bytes += lens[i]!;
        if (buf[o]! >> 4 !== 4 || buf[o + 9] !== 17) continue; // UDP over IPv4 only
        const ihl = (buf[o]! & 0x0f) * 4;
        for (let j = 0; j < 4; j++) {
          const t = buf[o + 12 + j]!;
          buf[o + 12 + j] = buf[o + 16 + j]!;
          buf[o + 16 + j] = t;
        }
        for (let j = 0; j < 2; j++) {
          const t = buf[o + ihl + j]!;
          buf[o + ihl + j] = buf[o + ihl + 2 + j]!;
          buf[o + ihl + 2 + j] = t;
        }
      }
      tun.write(buf, SLOT, 0, lens, count);
    },
    (err) => console.error('tun error', err),
  );
  const blaster = spawn(process.execPath, node('--blaster', String(seconds + 1), String(payloadSize)), {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let blasterOut = '';
  blaster.stdout.on('data', (d: Buffer) => (blasterOut += d.toString()));
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  const s0 = tun.stats;
  const c0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  measuring = true;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds() - c0;
  const s1 = tun.stats;
  await new Promise((r) => blaster.on('close', r));
  tun.close();
  const read = s1.readPackets - s0.readPackets;
  const written = s1.writtenPackets - s0.writtenPackets;
  const batches = s1.readBatches - s0.readBatches;
  const b = JSON.parse(blasterOut.trim().split('\n').pop() ?? '{}') as { sent?: number; received?: number };
  console.log(
    `reflect: payload ${payloadSize} B (${payloadSize + 28} B packets), batch <=${batchSize}, ${elapsed.toFixed(1)} s`,
  );
  console.log(
    `  read ${Math.round(read / elapsed)} pps, written ${Math.round(written / elapsed)} pps, ` +
      `${((bytes * 8) / elapsed / 1e6).toFixed(0)} Mbit/s, ${(read / Math.max(1, batches)).toFixed(1)} pkts/batch, ` +
      `reflector CPU ${((cpu / elapsed) * 100).toFixed(0)} %, eagain writes ${s1.eagainWrites}`,
  );
  console.log(`  blaster: sent ${b.sent ?? '?'}, got back ${b.received ?? '?'} (whole run incl. warm-up)`);
}

async function blast(): Promise<void> {
  // No GSO, like the C blaster of docs/performance.md §A2 (GSO runs would be segmented in software at
  // the TUN, and the TUN queue would drop most of each burst).
  const sock = UdpSocket.bind({
    address: TUN_ADDR,
    port: 0,
    sendBufferSize: 4 << 20,
    recvBufferSize: 8 << 20,
    gso: false,
  });
  const N = 64;
  const SLOT = 2048;
  const out = new Uint8Array(SLOT * N);
  const lens = new Uint32Array(N).fill(payloadSize);
  const addrs = new Uint8Array(N * ADDR_SIZE);
  for (let i = 0; i < N; i++) encodeAddress(TARGET, 9000, addrs, i * ADDR_SIZE);
  const rbuf = new Uint8Array(SLOT * N);
  const rlens = new Uint32Array(N);
  const raddrs = new Uint8Array(N * ADDR_SIZE);
  let received = 0;
  let sent = 0;
  sock.startReading(
    rbuf,
    SLOT,
    0,
    rlens,
    raddrs,
    N,
    (n) => (received += n),
    (e) => console.error(e),
  );
  const end = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (Date.now() > end) return resolve();
      for (let k = 0; k < 8; k++) {
        const n = sock.send(out, SLOT, 0, lens, addrs, N);
        sent += n;
        if (n < N) return sock.onceWritable(pump);
      }
      setImmediate(pump);
    };
    pump();
  });
  await new Promise((r) => setTimeout(r, 200));
  sock.close();
  console.log(JSON.stringify({ sent, received }));
}

if (mode === '--inner') await inner();
else if (mode === '--blaster') await blast();
else await outer();
