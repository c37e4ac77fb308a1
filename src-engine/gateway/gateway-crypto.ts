/**
 * The crypto a gateway runs with: the fastest backend, with handshake ephemeral keys made ahead
 * on a worker thread (ephemeral-pool.ts) so that answering a burst of initiations costs three
 * X25519 multiplications each instead of four. `close` stops the worker.
 */
import type { CryptoBackend } from '../wireguard/crypto/backend.js';
import { EphemeralKeyPool, withEphemeralKeyPool } from '../wireguard/crypto/ephemeral-pool.js';
import { defaultBackend } from '../wireguard/crypto/select.js';

export interface GatewayCrypto {
  readonly crypto: CryptoBackend;
  /** The key pool, when it could start (it needs sodium-native). */
  readonly pool: EphemeralKeyPool | undefined;
  close(): void;
}

export function gatewayCrypto(base: CryptoBackend = defaultBackend()): GatewayCrypto {
  const pool = EphemeralKeyPool.start();
  return {
    crypto: pool ? withEphemeralKeyPool(base, pool) : base,
    pool,
    close: () => pool?.close(),
  };
}
