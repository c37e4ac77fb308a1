/**
 * Constants of the portal API v2 (docs/protocol.md §0, §3). Names follow Firezone's connlib where it
 * has one, so a reader can hold this file next to `phoenix-channel/src/lib.rs`.
 */

/** Phoenix heartbeat period (docs/protocol.md §0). */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** More than this many unanswered heartbeats and the connection is presumed dead (§3.3). */
export const MAX_OUTSTANDING_HEARTBEATS = 3;
/** A `phx_join` not answered within this time makes the session reconnect (§3.3). */
export const JOIN_TIMEOUT_MS = 5_000;
/** Whole WebSocket connect attempt: TCP, TLS, upgrade (§0). */
export const CONNECT_TIMEOUT_MS = 15_000;
/** Portal-side WebSocket idle timeout for clients and gateways (§0). */
export const PORTAL_IDLE_TIMEOUT_MS = 37_000;
/** How long the portal waits for a gateway to acknowledge `create_authorization` (§3.10). */
export const AUTHORIZATION_CREATION_TIMEOUT_MS = 15_000;

/** Topics of the two channels. */
export const CLIENT_TOPIC = 'client';
export const GATEWAY_TOPIC = 'gateway';
/** Topic of Phoenix's own heartbeat messages. */
export const PHOENIX_TOPIC = 'phoenix';

/** WebSocket paths of portal API v2 (§3.1, §4.1); the Phoenix client appends `/websocket`. */
export const CLIENT_SOCKET_PATH = '/client/v2';
export const GATEWAY_SOCKET_PATH = '/gateway/v2';

/** The serializer version that selects Phoenix's V1 JSON object framing (§3.2). */
export const PHOENIX_V1_VSN = '1.0.0';

/**
 * Largest text frame the portal and the session accept and process (64 KiB). An `init` with a
 * few hundred resources is ~100 KiB in the real portal; our dev portal stays far below. Larger
 * frames are dropped and counted; the connection stays up.
 */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;
/** Hard cap enforced by the WebSocket layer itself: beyond it the socket is closed (1009). */
export const HARD_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Relay credentials of gateways expire at 2038-01-01T00:00:00Z so they are stable (§3.8). */
export const GATEWAY_RELAY_CREDENTIALS_EXPIRE_AT = 2_145_916_800;

/** Client tunnel address ranges the portal allocates from (§0). */
export const IPV4_TUNNEL = '100.64.0.0/11';
export const IPV6_TUNNEL = 'fd00:2021:1111::/107';
/** Ranges no resource address or custom upstream DNS IP may fall into (§0). */
export const RESERVED_IPV4 = '100.64.0.0/10';
export const RESERVED_IPV6 = 'fd00:2021:1111::/48';

/** Default deep link the GUI client registers (§3.11). */
export const DEFAULT_CLIENT_HANDLER = 'firezone-fd0020211111://';
export const SIGN_IN_CALLBACK_HOST = 'handle_client_sign_in_callback';

/**
 * The Firezone client and gateway version whose portal wire format this engine implements, and
 * the version every component sends in its User-Agent (`gui-client/1.5.0`, `headless-client/…`,
 * `gateway/…`). Not the app's package version: a Firezone portal derives each component's version
 * from the User-Agent and gates on it; a `0.x` client is an ancient one to it, which it pairs only
 * with ancient gateways (no current gateway serves it) and does not show the Internet resource.
 * What we speak is the 1.5 generation of Firezone's GUI and headless clients (portal API v2 on
 * `/client/v2` and `/gateway/v2`: `request_authorization` → `create_authorization` →
 * `authorization_created`, resources with sites, the Internet resource, DNS resources through
 * proxy addresses and the p2p control protocol). Raise it only together with the wire format it
 * names; the gateway sends the same version so a portal pairs it with these clients (gateway
 * minor within client minor −1 … +1, `isGatewayCompatible`).
 */
export const FIREZONE_PROTOCOL_VERSION = '1.5.0';

/** Components the portal recognises in a User-Agent (§3.1). */
export const USER_AGENT_COMPONENTS = [
  'connlib',
  'headless-client',
  'gui-client',
  'apple-client',
  'android-client',
  'gateway',
  'relay',
] as const;
export type UserAgentComponent = (typeof USER_AGENT_COMPONENTS)[number];
