/**
 * Flood protection per uid: open connections at once, new connections and requests per second.
 * A desktop app needs a handful of each; anything beyond is a bug or an attack, and is refused
 * before it reaches code that runs tools.
 */
export interface Limits {
  readonly maxConnectionsPerUid: number;
  readonly maxConnectsPerSecond: number;
  readonly maxRequestsPerSecond: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxConnectionsPerUid: 4,
  maxConnectsPerSecond: 10,
  maxRequestsPerSecond: 20,
};

/** Events per key within the last second. */
export class SlidingWindow {
  private readonly events = new Map<number, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an event for `key`; false when that makes more than `limit` in the window. */
  hit(key: number): boolean {
    const t = this.now();
    const recent = (this.events.get(key) ?? []).filter((at) => t - at < this.windowMs);
    recent.push(t);
    this.events.set(key, recent);
    return recent.length <= this.limit;
  }
}

export class UidLimiter {
  private readonly open = new Map<number, number>();
  private readonly connects: SlidingWindow;
  private readonly requests: SlidingWindow;

  constructor(
    readonly limits: Limits = DEFAULT_LIMITS,
    now: () => number = Date.now,
  ) {
    this.connects = new SlidingWindow(limits.maxConnectsPerSecond, 1000, now);
    this.requests = new SlidingWindow(limits.maxRequestsPerSecond, 1000, now);
  }

  /** A new connection from `uid`: undefined when allowed (and counted), else why not. */
  connect(uid: number): string | undefined {
    if (!this.connects.hit(uid))
      return `too many connections per second from uid ${uid} (limit ${this.limits.maxConnectsPerSecond})`;
    const n = this.open.get(uid) ?? 0;
    if (n >= this.limits.maxConnectionsPerUid)
      return `too many open connections from uid ${uid} (limit ${this.limits.maxConnectionsPerUid})`;
    this.open.set(uid, n + 1);
    return undefined;
  }

  disconnect(uid: number): void {
    const n = (this.open.get(uid) ?? 1) - 1;
    if (n <= 0) this.open.delete(uid);
    else this.open.set(uid, n);
  }

  /** A request from `uid`: undefined when allowed, else why not. */
  request(uid: number): string | undefined {
    return this.requests.hit(uid)
      ? undefined
      : `too many requests per second from uid ${uid} (limit ${this.limits.maxRequestsPerSecond})`;
  }
}
