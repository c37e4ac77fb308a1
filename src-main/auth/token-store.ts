// Where the portal token lives between runs. The Electron implementation encrypts it with
// `safeStorage` (the OS keychain / DPAPI / libsecret); tests use `MemoryTokenStore`. Main holds
// the token in memory only as a `SecretToken`, which refuses to turn into text by accident.

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** A token that prints as `[redacted]` in logs, JSON, template strings and `util.inspect`. */
export class SecretToken {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The only way to the raw value: for the engine and the token store, nowhere else. */
  reveal(): string {
    return this.#value;
  }

  equals(other: SecretToken): boolean {
    return other.#value === this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [INSPECT](): string {
    return 'SecretToken([redacted])';
  }
}

export interface StoredSession {
  readonly token: SecretToken;
  readonly accountName: string;
  readonly accountSlug: string;
  readonly actorName: string;
}

export interface TokenStoreInfo {
  /** false: nothing survives a restart (no OS keychain); the user signs in each time. */
  readonly persistent: boolean;
  /** For the log: `keychain`, `kwallet5`, `gnome_libsecret`, `dpapi`, `memory`… */
  readonly backend: string;
}

export interface TokenStore {
  info(): TokenStoreInfo;
  /** The saved session, or null when there is none. Rejects when the store is unreadable. */
  load(): Promise<StoredSession | null>;
  save(session: StoredSession): Promise<void>;
  clear(): Promise<void>;
}

export class TokenStoreError extends Error {
  constructor(
    message: string,
    readonly code: 'unavailable' | 'corrupt' | 'io',
  ) {
    super(message);
    this.name = 'TokenStoreError';
  }
}

/** Keeps the session in memory only. Tests, and the fallback when no OS keychain exists. */
export class MemoryTokenStore implements TokenStore {
  #session: StoredSession | null = null;
  #failWith: TokenStoreError | null = null;
  constructor(private readonly backend = 'memory') {}

  info(): TokenStoreInfo {
    return { persistent: false, backend: this.backend };
  }

  /** Test hook: the next load/save fails (locked keychain, disk full…). */
  failNext(error: TokenStoreError | null): void {
    this.#failWith = error;
  }

  async load(): Promise<StoredSession | null> {
    this.#throwIfFailing();
    return this.#session;
  }

  async save(session: StoredSession): Promise<void> {
    this.#throwIfFailing();
    this.#session = session;
  }

  async clear(): Promise<void> {
    this.#session = null;
  }

  #throwIfFailing(): void {
    const e = this.#failWith;
    this.#failWith = null;
    if (e) throw e;
  }
}

/**
 * The bytes a persistent store encrypts: JSON with the token and the account labels shown in
 * the UI. Parsing is strict: anything unexpected is treated as no session.
 */
export function encodeSession(session: StoredSession): string {
  return JSON.stringify({
    v: 1,
    token: session.token.reveal(),
    accountName: session.accountName,
    accountSlug: session.accountSlug,
    actorName: session.actorName,
  });
}

export function decodeSession(text: string): StoredSession {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new TokenStoreError('The saved session is not valid JSON.', 'corrupt');
  }
  if (
    typeof raw !== 'object' ||
    raw === null ||
    (raw as { v?: unknown }).v !== 1 ||
    typeof (raw as { token?: unknown }).token !== 'string'
  ) {
    throw new TokenStoreError('The saved session has an unknown format.', 'corrupt');
  }
  const r = raw as Record<string, unknown>;
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : '');
  return {
    token: new SecretToken(r.token as string),
    accountName: str('accountName'),
    accountSlug: str('accountSlug'),
    actorName: str('actorName'),
  };
}
