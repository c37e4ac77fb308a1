/** The client's DNS numbers (docs/protocol.md §0, §2.1, §2.3, §2.5). */

/** Proxy addresses handed out for DNS-resource names (`IPV4_RESOURCES`). */
export const PROXY_IPV4_RANGE = '100.96.0.0/11';
/** Proxy addresses handed out for DNS-resource names (`IPV6_RESOURCES`). */
export const PROXY_IPV6_RANGE = 'fd00:2021:1111:8000::/107';
/** Sentinel (stub resolver) addresses; never handed out as proxy addresses. */
export const SENTINEL_IPV4_RANGE = '100.100.111.0/24';
/**
 * Sentinel IPv6 range. Note: it lies outside `PROXY_IPV6_RANGE` (a /107 fixes the fifth and sixth
 * groups to zero), so skipping it while allocating never comes into play with the real ranges.
 */
export const SENTINEL_IPV6_RANGE = 'fd00:2021:1111:8000:100:100:111:0/120';

/** Proxy addresses per family per name. */
export const PROXY_IPS_PER_FAMILY = 4;

/** TTL of every locally made answer (A/AAAA/PTR/CNAME), seconds. */
export const LOCAL_ANSWER_TTL_S = 1;
/** How long one upstream gets to answer before the next one is asked. */
export const UPSTREAM_TIMEOUT_MS = 5_000;
/** Forwarded queries in flight at once; beyond this new ones get SERVFAIL. */
export const MAX_OUTSTANDING_QUERIES = 1024;

/** Largest UDP response we ever send: 1280 − 60 (IPv6 header + slack) − 8 (UDP) (`MAX_UDP_PAYLOAD`). */
export const MAX_UDP_RESPONSE = 1212;
/** Limit for a UDP client that sent no EDNS OPT record (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;

/** Firefox's DoH canary: answering NXDOMAIN keeps Firefox on the system resolver (§2.3). */
export const FIREFOX_DOH_CANARY = 'use-application-dns.net';
