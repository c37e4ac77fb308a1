/**
 * How the gateway resolves the names of DNS resources for its clients (docs/protocol.md §1.6 step 3):
 * through the system resolver (getaddrinfo: /etc/hosts, then /etc/resolv.conf), A and AAAA
 * separately and at the same time. A family that fails or has no address is an empty list, not
 * an error; only the overall timeout (10 s) is a failure (`null`). Bounded: beyond
 * `maxConcurrent` lookups in flight a request fails at once (the client re-sends in 2 s).
 */
import { lookup as dnsLookup } from 'node:dns/promises';

export interface ResolvedAddresses {
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
}

export type DomainResolver = (domain: string) => Promise<ResolvedAddresses | null>;

export type LookupFamily = (domain: string, family: 4 | 6) => Promise<readonly string[]>;

export const RESOLVE_TIMEOUT_MS = 10_000;
export const MAX_CONCURRENT_RESOLUTIONS = 1_000;

/** getaddrinfo for one family; any error (NXDOMAIN, no data, SERVFAIL) is "no address". */
export const systemLookup: LookupFamily = async (domain, family) => {
  try {
    const results = await dnsLookup(domain, { family, all: true, verbatim: true });
    return [...new Set(results.filter((r) => r.family === family).map((r) => r.address))];
  } catch {
    return [];
  }
};

export function createDomainResolver(
  options: {
    readonly lookup?: LookupFamily;
    readonly timeoutMs?: number;
    readonly maxConcurrent?: number;
  } = {},
): DomainResolver {
  const lookup = options.lookup ?? systemLookup;
  const timeoutMs = options.timeoutMs ?? RESOLVE_TIMEOUT_MS;
  const maxConcurrent = options.maxConcurrent ?? MAX_CONCURRENT_RESOLUTIONS;
  let inFlight = 0;
  return async (domain) => {
    if (inFlight >= maxConcurrent) return null;
    inFlight++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
        timer.unref();
      });
      const both = Promise.all([lookup(domain, 4).catch(() => []), lookup(domain, 6).catch(() => [])]).then(
        ([ipv4, ipv6]) => ({ ipv4, ipv6 }),
      );
      return await Promise.race([both, timeout]);
    } finally {
      clearTimeout(timer);
      inFlight--;
    }
  };
}
