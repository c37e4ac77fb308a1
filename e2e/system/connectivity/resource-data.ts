/**
 * The resource host's deterministic payload: `/bytes?n=N` serves the first N bytes of an
 * AES-128-CTR keystream under a fixed key, so any test can recompute what it must receive.
 */
import { createCipheriv, createHash } from 'node:crypto';

const KEY = Buffer.alloc(16, 0x46); // 'F'
const IV = Buffer.alloc(16, 0);
const CHUNK = 64 * 1024;

/** The body of the resource host's `GET /`. */
export const HELLO = 'hello from resource\n';

/** The argument of resource-server.ts. */
export interface ResourceServerConfig {
  httpPort: number;
  udpEchoPort: number;
  dnsPort: number;
  /** Lower-case name (no trailing dot) → its IPv4 and IPv6 addresses. */
  records: Record<string, string[]>;
}

/** Largest payload `/bytes` serves (1 GiB). */
export const MAX_RESOURCE_BYTES = 1 << 30;

/** The first `n` bytes of the payload, in chunks of at most 64 KiB. */
export function* resourceByteChunks(n: number): Generator<Buffer> {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid byte count: ${n}`);
  const cipher = createCipheriv('aes-128-ctr', KEY, IV);
  const zeros = Buffer.alloc(CHUNK);
  for (let left = n; left > 0; left -= CHUNK) {
    yield cipher.update(zeros.subarray(0, Math.min(CHUNK, left)));
  }
}

/** The first `n` bytes of the payload. */
export function resourceBytes(n: number): Buffer {
  return Buffer.concat([...resourceByteChunks(n)]);
}

/** Hex SHA-256 of the first `n` bytes of the payload. */
export function resourceBytesSha256(n: number): string {
  const hash = createHash('sha256');
  for (const chunk of resourceByteChunks(n)) hash.update(chunk);
  return hash.digest('hex');
}
