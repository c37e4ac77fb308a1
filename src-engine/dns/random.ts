/**
 * Uniform numbers in [0, 1) from the platform's CSPRNG, drawn a pool at a time: DNS query IDs and
 * TCP initial sequence numbers must not be guessable (RFC 5452, RFC 6528), and one
 * getRandomValues call per number would cost more than the rest of the work.
 */
export function pooledRandom(poolSize = 256): () => number {
  const pool = new Uint32Array(poolSize);
  let used = pool.length;
  return () => {
    if (used === pool.length) {
      globalThis.crypto.getRandomValues(pool);
      used = 0;
    }
    return pool[used++]! / 0x1_0000_0000;
  };
}
