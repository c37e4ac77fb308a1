/** Constants of the connection layer (docs/protocol.md §5.1, §5.3, §5.5, §7.1). */

/** TUN MTU, and the largest IP packet a connection carries. */
export const NODE_MTU = 1280;
/**
 * WireGuard gives up a handshake after 20 s on ICE connections (not the paper's 90 s), so a
 * desynchronised tunnel fails fast and is set up again; the client's ICE timeout stays below it.
 */
export const WG_REKEY_ATTEMPT_TIME_MS = 20_000;
/** The controlling side does not start another proactive handshake within this time (§5.5). */
export const HANDSHAKE_SUPPRESS_MS = 20_000;
/** WireGuard datagrams held per connection before any path exists (§5.5: a ring of 128). */
export const MAX_QUEUED_BEFORE_PATH = 128;
/** Relays whose RTT is within this factor of the best are sampled uniformly (§5.3). */
export const RELAY_RTT_TOLERANCE = 1.5;
/**
 * A peer that sent nothing (no WireGuard datagram, no answer to a consent check, which runs every
 * 5 s ± 20 %, nor to the handshake probes below) for this long while we send it data is taken for gone (docs/protocol.md §5.6 fails a
 * connection 2 s after ICE reports it disconnected; consent alone would take 30 s).
 */
export const PEER_DEAD_AFTER_MS = 6_000;
/** Silence after which sending data also sends a handshake initiation, to make the peer answer. */
export const PEER_PROBE_AFTER_MS = 2_000;
/** A lost or failed allocation is tried again after this, doubling per failure up to the max. */
export const RELAY_RETRY_MS = 2_000;
export const RELAY_RETRY_MAX_MS = 60_000;
