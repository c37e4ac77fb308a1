/** The client's protocol constants (docs/protocol.md §4.6, §5.13, §6.1, §7.1). */

/** `request_authorization` is sent at most this often per resource while packets keep coming. */
export const AUTHORIZATION_RETRY_MS = 2_000;
/** Packets kept per resource while its authorization is pending. */
export const PENDING_AUTHORIZATION_BUFFER = 128;
/** Packets kept per gateway while its connection is being set up. */
export const PENDING_CONNECTION_BUFFER = 128;
/** A site reported offline is shown so for this long, then Unknown again. */
export const OFFLINE_SITE_RESET_MS = 5 * 60_000;
/**
 * Routes the client always sends into its TUN: the tunnel ranges (gateways' and clients' tunnel
 * addresses). DNS-resource proxy ranges and sentinels join them with DNS resources.
 */
export const CLIENT_TUNNEL_ROUTES: readonly string[] = ['100.64.0.0/11', 'fd00:2021:1111::/107'];
/** After its connection failed, a gateway is left out of `connected_gateway_ids` this long. */
export const FAILED_GATEWAY_AVOID_MS = 60_000;
