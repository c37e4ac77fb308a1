/**
 * UDP throughput on loopback between two processes, comparable with docs/performance.md §A4 (Node
 * dgram: ≈230 k pps sent, ≈280 k pps received at 1300 B). Runs each mode in turn: node-tun
 * batches without offloads, then with UDP GSO (sender) and GRO (receiver).
 *
 *   node --import tsx bench/udp.ts [seconds=3] [payload=1300] [batch=64]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADDR_SIZE, UdpSocket, encodeAddress } from '../index.js';

const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const role = args[0]?.startsWith('--') === true ? args.shift() : '--main';
const seconds = Number(args[0] ?? 3);
const payload = Number(args[1] ?? 1300);
const batch = Number(args[2] ?? 64);
const offload = args.includes('offload');
const SLOT = 2048;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Report {
  count: number;
  cpu: number;
  elapsed: number;
  gsoSends?: number;
  groReceives?: number;
}

async function receiver(): Promise<void> {
  const s = UdpSocket.bind({ address: '127.0.0.1', port: 0, recvBufferSize: 16 << 20, gro: offload });
  const buf = new Uint8Array(SLOT * batch);
  const lens = new Uint32Array(batch);
  const addrs = new Uint8Array(ADDR_SIZE * batch);
  let count = 0;
  let t0 = 0n;
  let c0 = 0;
  s.startReading(
    buf,
    SLOT,
    0,
    lens,
    addrs,
    batch,
    (n) => {
      if (t0 === 0n) {
        t0 = process.hrtime.bigint();
        c0 = cpuSeconds();
      }
      count += n;
    },
    (e) => console.error(e),
  );
  process.stdout.write(`${s.port}\n`);
  await new Promise((r) => process.stdin.once('data', r)); // the sender is done
  const report: Report = {
    count,
    cpu: cpuSeconds() - c0,
    elapsed: Number(process.hrtime.bigint() - t0) / 1e9,
    groReceives: s.stats.groReceives,
  };
  s.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

async function sender(port: number): Promise<void> {
  const s = UdpSocket.bind({ address: '127.0.0.1', port: 0, sendBufferSize: 16 << 20, gso: offload });
  const buf = new Uint8Array(SLOT * batch);
  const lens = new Uint32Array(batch).fill(payload);
  const addrs = new Uint8Array(ADDR_SIZE * batch);
  for (let i = 0; i < batch; i++) encodeAddress('127.0.0.1', port, addrs, i * ADDR_SIZE);
  let count = 0;
  const t0 = process.hrtime.bigint();
  const c0 = cpuSeconds();
  const end = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (Date.now() > end) return resolve();
      for (let k = 0; k < 16; k++) {
        const n = s.send(buf, SLOT, 0, lens, addrs, batch);
        count += n;
        if (n < batch) return s.onceWritable(pump);
      }
      setImmediate(pump);
    };
    pump();
  });
  const report: Report = {
    count,
    cpu: cpuSeconds() - c0,
    elapsed: Number(process.hrtime.bigint() - t0) / 1e9,
    gsoSends: s.stats.gsoSends,
  };
  s.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function child(roleArg: string, extra: string[]): ReturnType<typeof spawn> {
  return spawn(
    process.execPath,
    ['--import', 'tsx', SELF, roleArg, String(seconds), String(payload), String(batch), ...extra],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
}

function lines(c: ReturnType<typeof spawn>): AsyncIterator<string> {
  let buffered = '';
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  c.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      queue.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    wake?.();
  });
  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return { value: queue.shift()!, done: false };
    },
  };
}

async function run(mode: 'plain' | 'offload'): Promise<void> {
  const rx = child('--receiver', [mode]);
  const rxLines = lines(rx);
  const port = Number((await rxLines.next()).value);
  const tx = child('--sender', [String(port), mode]);
  const sent = JSON.parse((await lines(tx).next()).value as string) as Report;
  await new Promise((r) => setTimeout(r, 300));
  rx.stdin!.write('done\n');
  const got = JSON.parse((await rxLines.next()).value as string) as Report;
  const kpps = (r: Report): string => (r.count / r.elapsed / 1000).toFixed(0);
  console.log(
    `${mode.padEnd(8)} send ${kpps(sent)} k pps (${((sent.cpu / sent.elapsed) * 100).toFixed(0)} % CPU, ` +
      `${sent.gsoSends ?? 0} GSO sends) | receive ${kpps(got)} k pps ` +
      `(${((got.cpu / got.elapsed) * 100).toFixed(0)} % CPU, ${got.groReceives ?? 0} GRO receives), ` +
      `${(((got.count / got.elapsed) * payload * 8) / 1e6).toFixed(0)} Mbit/s payload, ` +
      `delivered ${((got.count / Math.max(1, sent.count)) * 100).toFixed(0)} %`,
  );
  tx.kill();
  rx.kill();
}

if (role === '--receiver') await receiver();
else if (role === '--sender') await sender(Number(args[3]));
else {
  console.log(`udp loopback: payload ${payload} B, batch ${batch}, ${seconds} s per mode`);
  await run('plain');
  await run('offload');
}
