/**
 * A batch's ChaCha20-Poly1305 work shared between the calling thread and one crypto worker
 * (docs/performance.md, "More cores"). The data path still does everything stateful on its own
 * thread — counters, replay windows, timers, routing — and only queues the AEAD calls of a batch
 * here; `run()` returns when every job is done, so the caller sees the results in order as if it
 * had made the calls itself.
 *
 * Memory: jobs name their input and output by offset into buffers backed by a SharedArrayBuffer
 * (the data path's batch slabs), so the worker reads and writes the packets in place, and each
 * job carries its key and nonce in a shared table that is wiped after every run. A job whose
 * buffers are not shared memory runs inline at once.
 *
 * Scheduling: from the fourth job on, the run is handed to the worker as it is being queued, so
 * the worker seals while the caller still routes and frames later packets; `run()` closes it and
 * both threads take what is left from one atomic cursor. A worker that wakes late costs nothing
 * (the caller does more of the batch), and the caller only ever waits for the job or two the
 * worker is in the middle of. The cursor carries a generation number, so a claim left over from
 * a finished run can never take a job of the next one.
 *
 * This only pays where a core is free for the worker: on two cores, where both tunnel ends and
 * the traffic already share the machine, it stays off (`parallelAeadLanes`).
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { CryptoBackend } from './backend.js';
import { evpAeadStatus } from './evp-chacha-poly.js';

/** Which ChaCha20-Poly1305 the worker runs: the same family the caller's backend uses. */
export type LaneAead = 'evp' | 'sodium' | 'noble';

const KEY = 32;
const NONCE = 12;
const SECRET = KEY + NONCE;
const TAG = 16;
const OP_SEAL = 1;
const OP_OPEN = 2;
/** Int32 fields per job: op, in slab, in offset, in length, out slab, out offset, padded length, result. */
const JOB_INTS = 8;
const [F_OP, F_IN_SLAB, F_IN_OFF, F_IN_LEN, F_OUT_SLAB, F_OUT_OFF, F_PAD, F_RESULT] = [
  0, 1, 2, 3, 4, 5, 6, 7,
];
/**
 * Control words: GEN (bumped when a run is published; the worker sleeps on it), COUNT (gen << 16
 * | CLOSED | jobs published so far), STOP, CURSOR (gen << 16 | next job to claim), DONE (jobs
 * finished this run), BY_WORKER (jobs the worker did). CLOSED: the caller called `run()`, COUNT
 * is final.
 */
const [GEN, COUNT, STOP, CURSOR, DONE, BY_WORKER] = [0, 1, 2, 16, 32, 48];
const CLOSED = 0x8000;
/** The words both threads write per job sit on cache lines of their own (64 bytes apart). */
const CONTROL_INTS = 64;
/** Largest padded plaintext a job may have (a TUN packet, with room to spare). */
const MAX_PLAINTEXT = 65_535;
/**
 * Jobs taken per claim: each claim moves the cursor's cache line between the cores, so jobs of
 * about a microsecond are taken a few at a time (single claims throughout cost ≈ 10 %).
 */
const CHUNK = 4;
/** Below this many jobs a run stays on the calling thread: waking the worker costs more. */
const MIN_PARALLEL_JOBS = 4;
/** Results meaning "not done yet" and "the worker failed on it": the caller then does the job. */
const PENDING = -3;
const FAILED = -2;
/** How long a run waits for the worker's last job before doing it itself and giving up on it. */
const WORKER_STALL_MS = 1000;

// CommonJS so it runs as `eval` without a TypeScript loader; the layout constants are spliced in.
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
const C = new Int32Array(workerData.control);
const J = new Int32Array(workerData.jobs);
const S = new Uint8Array(workerData.secrets);
const port = workerData.port;
const capacity = workerData.capacity;
const keys = [], nonces = [];
for (let i = 0; i < capacity; i++) {
  keys.push(S.subarray(i * ${SECRET}, i * ${SECRET} + ${KEY}));
  nonces.push(S.subarray(i * ${SECRET} + ${KEY}, (i + 1) * ${SECRET}));
}
const slabs = [];
function slab(id) {
  while (slabs[id] === undefined) {
    const m = receiveMessageOnPort(port);
    if (m === undefined) throw new Error('parallel-aead: job names slab ' + id + ' that was never registered');
    slabs[m.message.id] = new Uint8Array(m.message.buffer);
  }
  return slabs[id];
}
const EMPTY = new Uint8Array(0);
const scratch = new Uint8Array(${MAX_PLAINTEXT});
let seal, open;
async function load() {
  if (workerData.kind === 'evp') {
    const evp = require(workerData.path);
    seal = evp.seal; open = evp.open;
  } else if (workerData.kind === 'sodium') {
    const s = require(workerData.path);
    seal = (key, nonce, m, ad, out) => (s.crypto_aead_chacha20poly1305_ietf_encrypt(out.subarray(0, m.length + ${TAG}), m, null, null, nonce, key), m.length + ${TAG});
    open = (key, nonce, c, ad, out) => {
      if (c.length < ${TAG}) return -1;
      try { return s.crypto_aead_chacha20poly1305_ietf_decrypt(out.subarray(0, c.length - ${TAG}), null, c, null, nonce, key); } catch { return -1; }
    };
  } else {
    const { chacha20poly1305 } = await import(pathToFileURL(workerData.path).href);
    seal = (key, nonce, m, ad, out) => (chacha20poly1305(key, nonce).encrypt(m, out.subarray(0, m.length + ${TAG})), m.length + ${TAG});
    open = (key, nonce, c, ad, out) => {
      if (c.length < ${TAG}) return -1;
      try { chacha20poly1305(key, nonce).decrypt(c, out.subarray(0, c.length - ${TAG})); return c.length - ${TAG}; } catch { return -1; }
    };
  }
}
function job(i) {
  const j = i * ${JOB_INTS};
  if (J[j + ${F_OP}] === 0) return; // done inline when it was queued
  const input = slab(J[j + ${F_IN_SLAB}]).subarray(J[j + ${F_IN_OFF}], J[j + ${F_IN_OFF}] + J[j + ${F_IN_LEN}]);
  const out = slab(J[j + ${F_OUT_SLAB}]).subarray(J[j + ${F_OUT_OFF}]);
  if (J[j + ${F_OP}] === ${OP_SEAL}) {
    const padded = J[j + ${F_PAD}];
    let m = input;
    if (padded > input.length) {
      m = scratch.subarray(0, padded);
      m.set(input);
      m.fill(0, input.length);
    }
    J[j + ${F_RESULT}] = seal(keys[i], nonces[i], m, EMPTY, out);
  } else {
    J[j + ${F_RESULT}] = open(keys[i], nonces[i], input, EMPTY, out);
  }
}
function loop() {
  let seen = Atomics.load(C, ${GEN});
  for (;;) {
    if (Atomics.load(C, ${STOP}) === 1) return;
    let gen = Atomics.load(C, ${GEN});
    // Spin a little before sleeping: the next batch often follows within microseconds, and a
    // futex wake-up costs more than that.
    for (let spin = 0; gen === seen && spin < workerData.spin; spin++) gen = Atomics.load(C, ${GEN});
    if (gen === seen) {
      Atomics.wait(C, ${GEN}, seen);
      continue;
    }
    seen = gen;
    work();
  }
}
/** Jobs to claim next: a chunk, or one at a time over the last few of a closed run. */
function claimSize() {
  const c = Atomics.load(C, ${COUNT});
  const next = Atomics.load(C, ${CURSOR}) & 0xffff;
  return (c & ${CLOSED}) !== 0 && (c & 0x7fff) - next <= ${2 * CHUNK} ? 1 : ${CHUNK};
}
/** Takes jobs of the published run until it is closed and none is left (or the run is over). */
function work() {
  for (;;) {
    const size = claimSize();
    const claim = Atomics.add(C, ${CURSOR}, size);
    const g = claim >>> 16;
    const first = claim & 0xffff;
    let done = 0;
    let failed = false;
    let i = first;
    for (; i < first + size; i++) {
      // Job i may not be queued yet: the caller publishes as it goes, and closes the run at run().
      let c = Atomics.load(C, ${COUNT});
      for (let spin = 0; c >>> 16 === g && (c & 0x7fff) <= i && (c & ${CLOSED}) === 0; spin++) {
        if (Atomics.load(C, ${STOP}) === 1) return;
        if (spin > workerData.spin) Atomics.wait(C, ${COUNT}, c, 1);
        c = Atomics.load(C, ${COUNT});
      }
      if (c >>> 16 !== g) return; // a claim left over from a run that is over
      if (i >= (c & 0x7fff)) break; // closed without job i
      try {
        job(i);
        done++;
      } catch {
        // The caller redoes this job (and any it finds undone); no more jobs come here.
        J[i * ${JOB_INTS} + ${F_RESULT}] = ${FAILED};
        Atomics.store(C, ${STOP}, 1);
        failed = true;
        i++;
        break;
      }
    }
    const finished = i - first;
    if (finished > 0) {
      Atomics.add(C, ${BY_WORKER}, done);
      const total = Atomics.add(C, ${DONE}, finished) + finished;
      const c = Atomics.load(C, ${COUNT});
      if ((c & ${CLOSED}) !== 0 && total === (c & 0x7fff)) Atomics.notify(C, ${DONE});
    }
    if (failed || i < first + size) return;
  }
}
load().then(loop, (err) => { Atomics.store(C, ${STOP}, 1); throw err; });
`;

type Aead = Pick<CryptoBackend, 'aeadSeal' | 'aeadOpen'>;

export interface ParallelAeadOptions {
  /** Most jobs queued between two runs (default 256). */
  readonly capacity?: number;
  /** Which AEAD the worker loads (default: the one `backend` uses, see `laneAeadOf`). */
  readonly workerAead?: LaneAead;
  /** Polls of the generation word before the worker sleeps (default 20,000, ≈ 20–50 µs). */
  readonly spin?: number;
}

export interface ParallelAeadStats {
  /** Runs with at least one job, and of those the ones the worker was asked to join. */
  runs: number;
  parallelRuns: number;
  jobs: number;
  /** Jobs done on the worker. */
  readonly byWorker: number;
  /** Jobs done at once because their buffers were not shared memory. */
  inline: number;
}

/**
 * How many threads should seal and open, from the environment and the machine: `FZ_CRYPTO_LANES`
 * = 1 or 2 forces it; otherwise 2 where more than two cores are available, else 1.
 */
export function parallelAeadLanes(
  env: NodeJS.ProcessEnv = process.env,
  cores = availableParallelism(),
): 1 | 2 {
  const forced = env.FZ_CRYPTO_LANES;
  if (forced === '1' || forced === '2') return forced === '2' ? 2 : 1;
  if (forced !== undefined && forced !== '' && forced !== 'auto')
    throw new Error(`FZ_CRYPTO_LANES must be 1, 2 or auto, not ${JSON.stringify(forced)}`);
  return cores > 2 ? 2 : 1;
}

/** The ChaCha20-Poly1305 family `backend` uses, for the worker to load the same one. */
export function laneAeadOf(backend: CryptoBackend): LaneAead {
  if (backend.name === 'noble') return 'noble';
  if (evpAeadStatus.startsWith('OpenSSL')) return 'evp';
  // The node backend without evp-aead: @noble gives the same bytes wherever it runs.
  return backend.name === 'sodium' ? 'sodium' : 'noble';
}

function modulePath(kind: LaneAead): string {
  const require = createRequire(import.meta.url);
  if (kind === 'evp') return require.resolve('evp-aead');
  if (kind === 'sodium') return require.resolve('sodium-native');
  return require.resolve('@noble/ciphers/chacha.js');
}

export class ParallelAead {
  private readonly control: Int32Array;
  private readonly jobs: Int32Array;
  private readonly secrets: Uint8Array;
  private readonly keys: Uint8Array[] = [];
  private readonly nonces: Uint8Array[] = [];
  private readonly slabIds = new Map<ArrayBufferLike, number>();
  private readonly cachedSlab: (ArrayBufferLike | undefined)[] = [undefined, undefined];
  private readonly cachedSlabId = [-1, -1];
  /** The views of each queued job, for this thread's share (the worker works from offsets). */
  private readonly inputs: Uint8Array[] = [];
  private readonly outputs: Uint8Array[] = [];
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private readonly jobCapacity: number;
  private readonly scratch = new Uint8Array(MAX_PLAINTEXT);
  private count = 0;
  private generation = 0;
  /** Whether the worker has been handed the current run (it then takes jobs while we queue). */
  private published = false;
  private closed = false;
  private readonly counts = { runs: 0, parallelRuns: 0, jobs: 0, inline: 0 };

  constructor(
    private readonly aead: Aead,
    workerAead: LaneAead,
    options: ParallelAeadOptions = {},
  ) {
    this.jobCapacity = options.capacity ?? 256;
    if (!Number.isInteger(this.jobCapacity) || this.jobCapacity < 1 || this.jobCapacity > 4096)
      throw new RangeError('capacity must be an integer in 1–4096');
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
    this.jobs = new Int32Array(new SharedArrayBuffer(this.jobCapacity * JOB_INTS * 4));
    this.secrets = new Uint8Array(new SharedArrayBuffer(this.jobCapacity * SECRET));
    for (let i = 0; i < this.jobCapacity; i++) {
      this.keys.push(this.secrets.subarray(i * SECRET, i * SECRET + KEY));
      this.nonces.push(this.secrets.subarray(i * SECRET + KEY, (i + 1) * SECRET));
    }
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        control: this.control.buffer,
        jobs: this.jobs.buffer,
        secrets: this.secrets.buffer,
        port: channel.port2,
        capacity: this.jobCapacity,
        kind: workerAead,
        path: modulePath(workerAead),
        spin: options.spin ?? 20_000,
      },
      transferList: [channel.port2],
    });
    this.worker.unref(); // never what keeps a process alive
    // A worker that fails leaves STOP set; runs then stay on this thread (see `run`).
    this.worker.on('error', () => Atomics.store(this.control, STOP, 1));
    channel.port1.unref();
  }

  /** A pool whose worker uses the same AEAD family as `backend`. */
  static start(backend: CryptoBackend, options: ParallelAeadOptions = {}): ParallelAead {
    return new ParallelAead(backend, options.workerAead ?? laneAeadOf(backend), options);
  }

  get stats(): ParallelAeadStats {
    return { ...this.counts, byWorker: Atomics.load(this.control, BY_WORKER) };
  }

  /** Most jobs that can be queued between two runs. */
  get capacity(): number {
    return this.jobCapacity;
  }

  /** Jobs queued since the last run. */
  get pending(): number {
    return this.count;
  }

  /**
   * Queues sealing `plaintext`, zero-padded to `paddedLength`, into `out` (ciphertext ‖ tag); the
   * result (bytes written) is `result(job)` after `run()`. Returns the job number.
   */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    paddedLength = plaintext.length,
  ): number {
    if (paddedLength < plaintext.length || paddedLength > MAX_PLAINTEXT)
      throw new RangeError('paddedLength must be at least the plaintext length and at most 65535');
    if (out.length < paddedLength + TAG) throw new RangeError('out is too small for the sealed packet');
    return this.queue(OP_SEAL, key, nonce, plaintext, out, paddedLength);
  }

  /**
   * Queues opening `ciphertext` (‖ tag) into `out`; `result(job)` after `run()` is the plaintext
   * length, or -1 when the tag does not verify. Returns the job number.
   */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): number {
    if (ciphertext.length >= TAG && out.length < ciphertext.length - TAG)
      throw new RangeError('out is too small for the opened packet');
    return this.queue(OP_OPEN, key, nonce, ciphertext, out, 0);
  }

  /** The result of job `job` of the last run. */
  result(job: number): number {
    return this.jobs[job * JOB_INTS + F_RESULT]!;
  }

  /** Does every queued job, on both threads when there are enough; returns the number done. */
  run(): number {
    const n = this.count;
    if (n === 0) return 0;
    this.counts.runs++;
    this.counts.jobs += n;
    const c = this.control;
    if (this.published && !this.closed && Atomics.load(c, STOP) === 0) {
      this.counts.parallelRuns++;
      Atomics.store(c, COUNT, (this.generation << 16) | CLOSED | n);
      Atomics.notify(c, COUNT); // a worker that slept waiting for more jobs
      for (;;) {
        // Chunks, then single jobs at the end, so neither thread waits long for the other's last.
        const size = n - (Atomics.load(c, CURSOR) & 0xffff) <= 2 * CHUNK ? 1 : CHUNK;
        const first = Atomics.add(c, CURSOR, size) & 0xffff;
        if (first >= n) break;
        const end = Math.min(first + size, n);
        for (let i = first; i < end; i++) this.execute(i);
        Atomics.add(c, DONE, end - first);
      }
      this.join(n);
    } else {
      // Alone: every job not yet done (a worker that failed or stopped may have done some).
      for (let i = 0; i < n; i++) {
        const r = this.jobs[i * JOB_INTS + F_RESULT]!;
        if (r === PENDING || r === FAILED) this.execute(i);
      }
    }
    this.published = false;
    this.secrets.fill(0, 0, n * SECRET);
    this.count = 0;
    return n;
  }

  /**
   * Hands the jobs queued so far to the worker as a new run: from here on it takes jobs while
   * this thread is still queueing the rest of the batch. COUNT is written before the cursor is
   * reset, so a claim on the old cursor is recognised as stale and never takes a new job.
   */
  private publish(count: number): void {
    const c = this.control;
    const gen = (this.generation = (this.generation + 1) & 0x7fff);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, COUNT, (gen << 16) | count);
    Atomics.store(c, CURSOR, gen << 16);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN, 1);
    this.published = true;
  }

  /**
   * Waits until every job of the run is done. Only the job the worker holds can still be running:
   * a microsecond or two, unless its thread was descheduled, which is why this sleeps rather than
   * spins for long. A worker that failed or stalls is given up on and its jobs are redone here.
   */
  private join(n: number): void {
    const c = this.control;
    let waited = 0;
    for (let spin = 0; Atomics.load(c, DONE) < n; spin++) {
      // A worker that failed stops at once and leaves its claimed jobs undone: redo them now.
      if (Atomics.load(c, STOP) === 1) break;
      if (spin < 2000) continue;
      const done = Atomics.load(c, DONE);
      if (done < n && Atomics.wait(c, DONE, done, 5) === 'timed-out' && (waited += 5) >= WORKER_STALL_MS) {
        Atomics.store(c, STOP, 1);
        break;
      }
    }
    if (Atomics.load(c, STOP) === 0) return;
    for (let i = 0; i < n; i++) {
      const j = i * JOB_INTS;
      const r = this.jobs[j + F_RESULT]!;
      if (this.jobs[j + F_OP] !== 0 && (r === PENDING || r === FAILED)) this.execute(i);
    }
  }

  /** Stops the worker and wipes the key table; later runs happen on the calling thread. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, GEN, 1);
    Atomics.notify(this.control, GEN);
    void this.worker.terminate();
    this.secrets.fill(0);
  }

  private queue(
    op: number,
    key: Uint8Array,
    nonce: Uint8Array,
    input: Uint8Array,
    out: Uint8Array,
    padded: number,
  ): number {
    if (key.length !== KEY || nonce.length !== NONCE)
      throw new RangeError('key must be 32 bytes and nonce 12');
    if (this.count === this.jobCapacity)
      throw new RangeError(`more than ${this.jobCapacity} jobs queued; run() first`);
    const i = this.count++;
    const j = i * JOB_INTS;
    const J = this.jobs;
    this.keys[i]!.set(key);
    this.nonces[i]!.set(nonce);
    J[j + F_PAD] = padded;
    J[j + F_RESULT] = PENDING;
    const inSlab = this.slabOf(input, 0);
    const outSlab = this.slabOf(out, 1);
    if (inSlab < 0 || outSlab < 0 || this.closed) {
      // Not shared memory: done here and now, and marked so the run skips it.
      J[j + F_OP] = op;
      J[j + F_RESULT] = this.apply(op, i, input, out, padded);
      J[j + F_OP] = 0;
      this.counts.inline++;
      this.publishUpTo(i + 1);
      return i;
    }
    J[j + F_OP] = op;
    // This thread keeps the caller's views; the worker makes its own from the offsets.
    this.inputs[i] = input;
    this.outputs[i] = out;
    J[j + F_IN_SLAB] = inSlab;
    J[j + F_IN_OFF] = input.byteOffset;
    J[j + F_IN_LEN] = input.length;
    J[j + F_OUT_SLAB] = outSlab;
    J[j + F_OUT_OFF] = out.byteOffset;
    this.publishUpTo(i + 1);
    return i;
  }

  /**
   * Makes the first `count` jobs visible to the worker: the run is published once it has
   * MIN_PARALLEL_JOBS, then extended a chunk at a time (each store moves a cache line to the
   * worker's core, so not per job; `run()` publishes the rest).
   */
  private publishUpTo(count: number): void {
    if (this.published) {
      if (count % CHUNK === 0) Atomics.store(this.control, COUNT, (this.generation << 16) | count);
    } else if (count === MIN_PARALLEL_JOBS && !this.closed && Atomics.load(this.control, STOP) === 0) {
      this.publish(count);
    }
  }

  /**
   * The id of `view`'s shared buffer (registered with the worker on first use), or -1. `role`
   * (0 input, 1 output) keeps one cached answer each, since a job's input and output are
   * usually in two different slabs that repeat from job to job.
   */
  private slabOf(view: Uint8Array, role: 0 | 1): number {
    const buffer = view.buffer;
    if (buffer === this.cachedSlab[role]) return this.cachedSlabId[role]!;
    if (!(buffer instanceof SharedArrayBuffer)) return -1;
    let id = this.slabIds.get(buffer);
    if (id === undefined) {
      id = this.slabIds.size;
      this.slabIds.set(buffer, id);
      // Queued before the jobs that name it are published; the worker reads it synchronously.
      this.port.postMessage({ id, buffer });
    }
    this.cachedSlab[role] = buffer;
    this.cachedSlabId[role] = id;
    return id;
  }

  private execute(i: number): void {
    const J = this.jobs;
    const j = i * JOB_INTS;
    if (J[j + F_OP] === 0) return; // done inline when it was queued
    J[j + F_RESULT] = this.apply(J[j + F_OP]!, i, this.inputs[i]!, this.outputs[i]!, J[j + F_PAD]!);
  }

  private apply(op: number, i: number, input: Uint8Array, out: Uint8Array, padded: number): number {
    if (op === OP_OPEN) return this.aead.aeadOpen(this.keys[i]!, this.nonces[i]!, input, EMPTY, out);
    let m = input;
    if (padded > input.length) {
      m = this.scratch.subarray(0, padded);
      m.set(input);
      m.fill(0, input.length);
    }
    return this.aead.aeadSeal(this.keys[i]!, this.nonces[i]!, m, EMPTY, out);
  }
}

const EMPTY = new Uint8Array(0);
