/**
 * The dev portal's state that must survive a restart, in SQLite (better-sqlite3): client tokens
 * (hashed, with expiry and revocation), devices (stable tunnel addresses and PSK bases) and the
 * authorizations gateways were given. Several processes may open the same file (the CLI mints
 * and revokes tokens while the portal runs); WAL mode and short transactions keep that safe.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Grant, GrantStore } from './signalling/grants.js';
import { grantKey } from './signalling/grants.js';
import { PSK_BASE_LENGTH } from '../src-engine/portal/credentials.js';
import { ipMath } from './config.js';
import { hashToken, mintClientToken, sameHash, tokenIdOf, type MintedToken } from './tokens.js';
import type { Logger } from './log.js';

const SCHEMA_VERSION = 1;

export interface TokenRow {
  readonly id: string;
  readonly actorId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
  readonly source: string;
}

export interface DeviceRow {
  readonly id: string;
  readonly kind: 'client' | 'gateway';
  readonly ownerId: string;
  readonly externalId: string;
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly pskBase: Uint8Array;
}

export type TokenCheck =
  | { readonly ok: true; readonly token: TokenRow }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown' | 'mismatch' | 'expired' | 'revoked' };

export interface PortalStoreOptions {
  /** Where warnings go (files that were readable by others); default: a process warning on stderr. */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** A new device beyond the cap of its owner (user or site); the portal answers 402 `limits_exceeded`. */
export class DeviceLimitError extends Error {
  override readonly name = 'DeviceLimitError';
  constructor(
    readonly kind: 'client' | 'gateway',
    /** The user id (clients) or site id (gateways). */
    readonly ownerId: string,
    readonly limit: number,
  ) {
    super(
      kind === 'client'
        ? `this user already has ${limit} devices (limits.devices_per_user in the portal config)`
        : `this site already has ${limit} gateways (limits.gateways_per_site in the portal config)`,
    );
  }
}

/** First and last usable addresses of the tunnel ranges (network and broadcast excluded). */
const IPV4_BASE = ipMath.toBigInt('100.64.0.0', true);
const IPV4_SIZE = 1n << 21n; // /11
const IPV6_BASE = ipMath.toBigInt('fd00:2021:1111::', false);
const IPV6_SIZE = 1n << 21n; // /107

export class PortalStore implements GrantStore {
  private readonly db: Database.Database;
  private grantCache: Map<string, Grant> | undefined;
  private lastDataVersion = 0;

  constructor(
    readonly file: string,
    options: PortalStoreOptions = {},
  ) {
    if (file !== ':memory:') secureDataFiles(file, options.logger);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.lastDataVersion = this.dataVersion();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS tokens (
        id TEXT PRIMARY KEY,
        actor_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_used_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS tokens_actor ON tokens(actor_id);
      CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('client', 'gateway')),
        owner_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        name TEXT NOT NULL,
        ipv4 TEXT NOT NULL UNIQUE,
        ipv6 TEXT NOT NULL UNIQUE,
        psk_base BLOB NOT NULL,
        public_key TEXT,
        user_agent TEXT,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER,
        UNIQUE (kind, owner_id, external_id)
      );
      CREATE TABLE IF NOT EXISTS grants (
        gateway_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        id TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        policy_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (gateway_id, client_id, resource_id)
      );
    `);
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as
      { value: string } | undefined;
    if (row === undefined) {
      this.db
        .prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`)
        .run(String(SCHEMA_VERSION));
    } else if (Number(row.value) !== SCHEMA_VERSION) {
      throw new Error(
        `portal database ${this.file} has schema version ${row.value}, this portal expects ${SCHEMA_VERSION}`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tokens.

  /** Mints a client token for `actorId`; only its hash is stored. */
  createClientToken(
    actorId: string,
    nonce: string,
    ttlSeconds: number,
    source: string,
    now = Date.now(),
  ): MintedToken {
    const minted = mintClientToken(nonce);
    const createdAt = Math.floor(now / 1000);
    this.db
      .prepare(
        `INSERT INTO tokens (id, actor_id, secret_hash, source, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(minted.id, actorId, minted.hash, source, createdAt, createdAt + ttlSeconds);
    return minted;
  }

  /** Checks a presented client token. */
  verifyClientToken(token: string, now = Date.now()): TokenCheck {
    const id = tokenIdOf(token);
    if (id === undefined) return { ok: false, reason: 'malformed' };
    const row = this.db.prepare(`SELECT * FROM tokens WHERE id = ?`).get(id) as RawToken | undefined;
    if (!row) return { ok: false, reason: 'unknown' };
    if (!sameHash(row.secret_hash, hashToken(token))) return { ok: false, reason: 'mismatch' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.expires_at * 1000 <= now) return { ok: false, reason: 'expired' };
    this.db.prepare(`UPDATE tokens SET last_used_at = ? WHERE id = ?`).run(Math.floor(now / 1000), id);
    return { ok: true, token: toTokenRow(row) };
  }

  /** Revokes tokens by id or by actor; returns the ids newly revoked. */
  revokeTokens(filter: { readonly tokenId?: string; readonly actorId?: string }, now = Date.now()): string[] {
    const at = Math.floor(now / 1000);
    const rows = (
      filter.tokenId !== undefined
        ? this.db.prepare(`SELECT id FROM tokens WHERE id = ? AND revoked_at IS NULL`).all(filter.tokenId)
        : filter.actorId !== undefined
          ? this.db
              .prepare(`SELECT id FROM tokens WHERE actor_id = ? AND revoked_at IS NULL`)
              .all(filter.actorId)
          : []
    ) as { id: string }[];
    const revoke = this.db.prepare(`UPDATE tokens SET revoked_at = ? WHERE id = ?`);
    this.db.transaction(() => rows.forEach((row) => revoke.run(at, row.id)))();
    return rows.map((row) => row.id);
  }

  listTokens(actorId?: string): TokenRow[] {
    const rows = (
      actorId === undefined
        ? this.db.prepare(`SELECT * FROM tokens ORDER BY created_at`).all()
        : this.db.prepare(`SELECT * FROM tokens WHERE actor_id = ? ORDER BY created_at`).all(actorId)
    ) as RawToken[];
    return rows.map(toTokenRow);
  }

  /** Of `ids`, those that are revoked or expired now. */
  invalidTokens(ids: readonly string[], now = Date.now()): string[] {
    if (ids.length === 0) return [];
    const statement = this.db.prepare(`SELECT id, revoked_at, expires_at FROM tokens WHERE id = ?`);
    return ids.filter((id) => {
      const row = statement.get(id) as { revoked_at: number | null; expires_at: number } | undefined;
      return row === undefined || row.revoked_at !== null || row.expires_at * 1000 <= now;
    });
  }

  /**
   * Whether another connection (e.g. the CLI) wrote to the database since the last call
   * (SQLite's `data_version`). Cheap enough to poll every second.
   */
  changedElsewhere(): boolean {
    const version = this.dataVersion();
    const changed = version !== this.lastDataVersion;
    this.lastDataVersion = version;
    if (changed) this.grantCache = undefined;
    return changed;
  }

  private dataVersion(): number {
    return Number(this.db.pragma('data_version', { simple: true }));
  }

  // -------------------------------------------------------------------------------------------
  // Devices.

  /**
   * The device of (kind, owner, external id), created on first sight with a random free address
   * in each tunnel range and a fresh PSK base. Name, key and user agent are refreshed. A known
   * external id always gets its row (and addresses) back; a new one beyond `maxDevices` of the
   * owner throws `DeviceLimitError` (checked in the same transaction as the insert).
   */
  upsertDevice(
    input: {
      readonly kind: 'client' | 'gateway';
      readonly ownerId: string;
      readonly externalId: string;
      readonly name: string;
      readonly publicKey: string;
      readonly userAgent: string;
      readonly newId: () => string;
      /** Devices of this kind the owner may have at most (default: no cap). */
      readonly maxDevices?: number;
    },
    now = Date.now(),
  ): DeviceRow {
    const seen = Math.floor(now / 1000);
    return this.db.transaction(() => {
      const existing = this.db
        .prepare(`SELECT * FROM devices WHERE kind = ? AND owner_id = ? AND external_id = ?`)
        .get(input.kind, input.ownerId, input.externalId) as RawDevice | undefined;
      if (existing) {
        this.db
          .prepare(
            `UPDATE devices SET name = ?, public_key = ?, user_agent = ?, last_seen_at = ? WHERE id = ?`,
          )
          .run(input.name, input.publicKey, input.userAgent, seen, existing.id);
        return toDeviceRow({ ...existing, name: input.name });
      }
      if (input.maxDevices !== undefined && this.countDevices(input.kind, input.ownerId) >= input.maxDevices)
        throw new DeviceLimitError(input.kind, input.ownerId, input.maxDevices);
      const ipv4 = this.freeAddress('ipv4', IPV4_BASE, IPV4_SIZE, true);
      const ipv6 = this.freeAddress('ipv6', IPV6_BASE, IPV6_SIZE, false);
      const row: RawDevice = {
        id: input.newId(),
        kind: input.kind,
        owner_id: input.ownerId,
        external_id: input.externalId,
        name: input.name,
        ipv4,
        ipv6,
        psk_base: randomBytes(PSK_BASE_LENGTH),
      };
      this.db
        .prepare(
          `INSERT INTO devices (id, kind, owner_id, external_id, name, ipv4, ipv6, psk_base, public_key, user_agent, created_at, last_seen_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          row.id,
          row.kind,
          row.owner_id,
          row.external_id,
          row.name,
          ipv4,
          ipv6,
          row.psk_base,
          input.publicKey,
          input.userAgent,
          seen,
          seen,
        );
      return toDeviceRow(row);
    })();
  }

  /** How many devices of `kind` the owner (user id or site id) has. */
  countDevices(kind: 'client' | 'gateway', ownerId: string): number {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM devices WHERE kind = ? AND owner_id = ?`)
      .get(kind, ownerId) as { n: number };
    return row.n;
  }

  /**
   * A random free host address of the range (the real portal starts at a random offset too),
   * skipping the network and broadcast addresses; linear probing from the random start.
   */
  private freeAddress(column: 'ipv4' | 'ipv6', base: bigint, size: bigint, v4: boolean): string {
    const taken = this.db.prepare(`SELECT 1 FROM devices WHERE ${column} = ?`);
    const usable = size - 2n;
    const start = BigInt(randomInt(0, Number(usable)));
    for (let step = 0n; step < usable; step += 1n) {
      const address = ipMath.fromBigInt(base + 1n + ((start + step) % usable), v4);
      if (!taken.get(address)) return address;
    }
    throw new Error(`the ${column} tunnel range is exhausted`);
  }

  // -------------------------------------------------------------------------------------------
  // Grants (the signalling core's GrantStore), cached in memory and written through.

  all(): Iterable<Grant> {
    return this.grants().values();
  }

  upsert(grant: Grant): void {
    this.db
      .prepare(
        `INSERT INTO grants (gateway_id, client_id, resource_id, id, actor_id, token_id, policy_id, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (gateway_id, client_id, resource_id) DO UPDATE SET
           id = excluded.id, actor_id = excluded.actor_id, token_id = excluded.token_id,
           policy_id = excluded.policy_id, expires_at = excluded.expires_at`,
      )
      .run(
        grant.gatewayId,
        grant.clientId,
        grant.resourceId,
        grant.id,
        grant.actorId,
        grant.tokenId,
        grant.policyId,
        grant.expiresAt,
      );
    this.grants().set(grantKey(grant.gatewayId, grant.clientId, grant.resourceId), grant);
  }

  delete(gatewayId: string, clientId: string, resourceId: string): void {
    this.db
      .prepare(`DELETE FROM grants WHERE gateway_id = ? AND client_id = ? AND resource_id = ?`)
      .run(gatewayId, clientId, resourceId);
    this.grants().delete(grantKey(gatewayId, clientId, resourceId));
  }

  private grants(): Map<string, Grant> {
    if (this.grantCache) return this.grantCache;
    const rows = this.db.prepare(`SELECT * FROM grants`).all() as RawGrant[];
    this.grantCache = new Map(
      rows.map((row) => [
        grantKey(row.gateway_id, row.client_id, row.resource_id),
        {
          id: row.id,
          gatewayId: row.gateway_id,
          clientId: row.client_id,
          resourceId: row.resource_id,
          actorId: row.actor_id,
          tokenId: row.token_id,
          policyId: row.policy_id,
          expiresAt: row.expires_at,
        },
      ]),
    );
    return this.grantCache;
  }
}

/**
 * The database holds key material (PSK bases, token hashes): its folder is created 0700 and the
 * file 0600 (SQLite gives its -wal/-shm/-journal files the database's mode). Existing files that
 * others may read are tightened, with a warning; a folder is tightened only when this user owns
 * it and it is not a shared sticky folder such as /tmp (otherwise a warning only).
 */
function secureDataFiles(file: string, logger: Pick<Logger, 'warn'> | undefined): void {
  const warn = (message: string, fields: Record<string, unknown>): void => {
    if (logger) logger.warn(message, fields);
    else process.emitWarning(`${message} ${JSON.stringify(fields)}`);
  };
  const dir = dirname(file);
  if (process.platform === 'win32') {
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700); // exact, whatever the umask
  } else {
    tighten(dir, 0o700, true, warn);
  }
  if (!existsSync(file)) {
    try {
      closeSync(openSync(file, 'wx', 0o600)); // SQLite takes an empty file as a new database
      chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`])
    if (existsSync(path)) tighten(path, 0o600, false, warn);
}

function tighten(
  path: string,
  wanted: number,
  folder: boolean,
  warn: (message: string, fields: Record<string, unknown>) => void,
): void {
  const stat = statSync(path);
  const mode = stat.mode & 0o777;
  if ((mode & ~wanted) === 0) return;
  const fields = { path, mode: octal(mode), wanted: octal(mode & wanted) };
  const shared = folder && ((stat.mode & 0o1000) !== 0 || stat.uid !== process.getuid?.());
  if (shared) {
    warn('the portal database folder is accessible to others; use a private --data-dir', fields);
    return;
  }
  try {
    chmodSync(path, mode & wanted);
    warn(`the portal database ${folder ? 'folder' : 'file'} was accessible to others; tightened`, fields);
  } catch (error) {
    warn(
      `the portal database ${folder ? 'folder' : 'file'} is accessible to others and cannot be tightened`,
      {
        ...fields,
        error,
      },
    );
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

interface RawToken {
  id: string;
  actor_id: string;
  secret_hash: string;
  source: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

interface RawDevice {
  id: string;
  kind: 'client' | 'gateway';
  owner_id: string;
  external_id: string;
  name: string;
  ipv4: string;
  ipv6: string;
  psk_base: Buffer;
}

interface RawGrant {
  gateway_id: string;
  client_id: string;
  resource_id: string;
  id: string;
  actor_id: string;
  token_id: string;
  policy_id: string;
  expires_at: number;
}

function toTokenRow(row: RawToken): TokenRow {
  return {
    id: row.id,
    actorId: row.actor_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    source: row.source,
  };
}

function toDeviceRow(row: RawDevice): DeviceRow {
  return {
    id: row.id,
    kind: row.kind,
    ownerId: row.owner_id,
    externalId: row.external_id,
    name: row.name,
    ipv4: row.ipv4,
    ipv6: row.ipv6,
    pskBase: new Uint8Array(row.psk_base),
  };
}
