/**
 * Crypto backend throughput: ChaCha20-Poly1305 seal+open of a 1,280-byte packet (preallocated
 * outputs, fixed key, incrementing counter in the nonce, inputs and outputs as subarrays of one
 * slab as on the data path) and X25519 shared secrets, for every backend that loads here. Ratios
 * are against the fastest backend in this run.
 */
import { availableBackends, loadBackend, type CryptoBackend } from '../src-engine/wireguard/crypto/index.js';
import { ParallelAead } from '../src-engine/wireguard/crypto/parallel-aead.js';

const PACKET = 1280;
const TAG = 16;
const WARMUP_MS = 250;
const AEAD_MS = 1000;
const X25519_MS = 500;

interface Rate {
  readonly ops: number;
  readonly seconds: number;
}

/** Runs `batch(n)` (which performs n operations) until `ms` have passed; returns ops and time. */
function measure(batch: (n: number) => void, ms: number): Rate {
  let size = 1;
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    const t = performance.now();
    batch(size);
    ops += size;
    now = performance.now();
    // Grow batches until one takes about 10 ms, so timer calls stay negligible.
    if (now - t < 10) size *= 2;
  }
  return { ops, seconds: (now - start) / 1000 };
}

function timed(batch: (n: number) => void, ms: number): Rate {
  measure(batch, WARMUP_MS);
  return measure(batch, ms);
}

/**
 * seal+open pairs of one 1,280-byte packet. `wrap` is applied to every argument view before each
 * call (identity, or a zero-copy Buffer view to measure what wrapping would cost).
 */
function aeadPairs(c: CryptoBackend, wrap: (u: Uint8Array) => Uint8Array): (n: number) => void {
  // One slab, like the engine's packet memory: [key | nonce | plaintext | sealed | opened], offsets odd.
  const slab = new Uint8Array(4096);
  const key = slab.subarray(1, 33);
  const nonce = slab.subarray(33, 45);
  const plaintext = slab.subarray(45, 45 + PACKET);
  const sealed = slab.subarray(1400, 1400 + PACKET + TAG);
  const opened = slab.subarray(2800, 2800 + PACKET);
  key.set(c.randomBytes(32));
  plaintext.set(c.randomBytes(PACKET));
  const ad = new Uint8Array(0);
  const view = new DataView(nonce.buffer, nonce.byteOffset, nonce.length);
  let counter = 0n;
  return (n) => {
    for (let i = 0; i < n; i++) {
      view.setBigUint64(4, counter++, true); // WireGuard: 4 zero bytes then the 64-bit LE counter
      const w = c.aeadSeal(wrap(key), wrap(nonce), wrap(plaintext), ad, wrap(sealed));
      const r = c.aeadOpen(wrap(key), wrap(nonce), wrap(sealed), ad, wrap(opened));
      if (w !== PACKET + TAG || r !== PACKET) throw new Error(`${c.name}: seal/open failed in the benchmark`);
    }
  };
}

const identity = (u: Uint8Array): Uint8Array => u;
const asBuffer = (u: Uint8Array): Uint8Array => Buffer.from(u.buffer, u.byteOffset, u.length);

/** X25519 shared secrets with a fixed private key; the public key is one object, or a new view each call. */
function sharedSecrets(c: CryptoBackend, freshPublicView: boolean): (n: number) => void {
  const privateKey = c.randomBytes(32);
  const publics = new Uint8Array(32 * 64);
  for (let i = 0; i < 64; i++) publics.set(c.x25519PublicKey(c.randomBytes(32)), 32 * i);
  const fixed = publics.subarray(0, 32);
  let i = 0;
  return (n) => {
    for (let k = 0; k < n; k++, i++) {
      const at = 32 * (i & 63);
      const publicKey = freshPublicView ? publics.subarray(at, at + 32) : fixed;
      if (c.x25519(privateKey, publicKey) === null) throw new Error(`${c.name}: x25519 returned null`);
    }
  };
}

function publicKeys(c: CryptoBackend): (n: number) => void {
  const privates = c.randomBytes(32 * 64);
  let i = 0;
  return (n) => {
    for (let k = 0; k < n; k++, i++) {
      const at = 32 * (i & 63);
      c.x25519PublicKey(privates.subarray(at, at + 32)); // a new view each call: no key cache hit
    }
  };
}

const fmt = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const BATCH = 64;
const FULL_PACKET = 1436;
const SLOT = 2048;

/**
 * Seals of a data-path batch (64 × 1,436 bytes in one shared-memory slab, as the engine's TUN and
 * socket batches are with two lanes): `pool` undefined seals on this thread one by one, as the
 * engine does with one lane; otherwise the batch is queued on the pool and run on both threads.
 */
function batchSeals(c: CryptoBackend, pool: ParallelAead | undefined): (n: number) => void {
  const slab = new Uint8Array(new SharedArrayBuffer(2 * BATCH * SLOT));
  slab.set(c.randomBytes(BATCH * SLOT));
  const key = c.randomBytes(32);
  const nonce = new Uint8Array(12);
  const inputs = Array.from({ length: BATCH }, (_, i) => slab.subarray(i * SLOT, i * SLOT + FULL_PACKET));
  const outputs = Array.from({ length: BATCH }, (_, i) =>
    slab.subarray((BATCH + i) * SLOT, (BATCH + i + 1) * SLOT),
  );
  const ad = new Uint8Array(0);
  return (n) => {
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < BATCH; i++) {
        nonce[4] = i;
        if (pool) pool.seal(key, nonce, inputs[i]!, outputs[i]!);
        else c.aeadSeal(key, nonce, inputs[i]!, ad, outputs[i]!);
      }
      pool?.run();
    }
  };
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export async function run(): Promise<void> {
  const backends = availableBackends().map((name) => loadBackend(name));
  console.log(
    `backends: ${backends.map((b) => b.name).join(', ')} (Node ${process.versions.node}, ${process.arch})`,
  );

  // --- ChaCha20-Poly1305 ---
  const aead: { label: string; rate: Rate }[] = [];
  for (const c of backends) aead.push({ label: c.name, rate: timed(aeadPairs(c, identity), AEAD_MS) });
  const sodium = backends.find((c) => c.name === 'sodium');
  if (sodium !== undefined) {
    aead.push({ label: 'sodium, Buffer-wrapped args', rate: timed(aeadPairs(sodium, asBuffer), AEAD_MS) });
  }
  const fastestAead = Math.max(...aead.map((r) => r.rate.ops / r.rate.seconds));
  console.log(`\nChaCha20-Poly1305, seal + open of one ${fmt(PACKET)}-byte packet (empty AD), ~1 s each:`);
  printTable(
    ['backend', 'pairs/s', 'µs/pair', 'MB/s', 'vs fastest'],
    aead.map(({ label, rate }) => {
      const perSecond = rate.ops / rate.seconds;
      return [
        label,
        fmt(perSecond),
        fmt(1e6 / perSecond, 2),
        fmt((perSecond * PACKET) / 1e6, 1),
        `${(perSecond / fastestAead).toFixed(2)}×`,
      ];
    }),
  );
  console.log(
    `(MB/s = ${fmt(PACKET)}-byte payloads per second that went through both seal and open, ÷ 10^6)`,
  );

  // --- A batch on two threads (the crypto worker of the engine's second lane) ---
  const batchBackend = sodium ?? backends[0]!;
  const pool = ParallelAead.start(batchBackend);
  try {
    const one = timed(batchSeals(batchBackend, undefined), AEAD_MS);
    const two = timed(batchSeals(batchBackend, pool), AEAD_MS);
    const usPerBatch = (r: Rate): number => (1e6 * r.seconds) / r.ops;
    console.log(
      `\nA batch of ${BATCH} × ${fmt(FULL_PACKET)}-byte seals (${batchBackend.name}), ~1 s each; the worker did ` +
        `${((100 * pool.stats.byWorker) / Math.max(1, pool.stats.jobs)).toFixed(0)} % of the jobs:`,
    );
    printTable(
      ['threads', 'µs/batch', 'µs/packet'],
      [
        ['1 (this thread)', fmt(usPerBatch(one), 1), fmt(usPerBatch(one) / BATCH, 2)],
        ['2 (+ crypto worker)', fmt(usPerBatch(two), 1), fmt(usPerBatch(two) / BATCH, 2)],
      ],
    );
    console.log(
      `parallel-aead two-threads/one=${(usPerBatch(one) / usPerBatch(two)).toFixed(2)} ` +
        '(batch speed-up; only meaningful with a core free for the worker)',
    );
  } finally {
    pool.close();
  }

  // --- X25519 ---
  const dh = backends.map((c) => ({
    name: c.name,
    fixed: timed(sharedSecrets(c, false), X25519_MS),
    fresh: timed(sharedSecrets(c, true), X25519_MS),
    pub: timed(publicKeys(c), X25519_MS),
  }));
  const fastestDh = Math.max(...dh.map((r) => r.fixed.ops / r.fixed.seconds));
  const perSecond = (r: Rate): number => r.ops / r.seconds;
  console.log('\nX25519 (fixed private key), ~0.5 s each:');
  printTable(
    ['backend', 'shared/s', 'µs/op', 'vs fastest', 'shared/s, new pubkey view', 'public keys/s'],
    dh.map((r) => [
      r.name,
      fmt(perSecond(r.fixed)),
      fmt(1e6 / perSecond(r.fixed), 1),
      `${(perSecond(r.fixed) / fastestDh).toFixed(2)}×`,
      fmt(perSecond(r.fresh)),
      fmt(perSecond(r.pub)),
    ]),
  );
  console.log(
    '("new pubkey view": a new Uint8Array per call, as for a received ephemeral key; node must import it)',
  );
}
