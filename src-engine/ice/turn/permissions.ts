/**
 * The client's view of its TURN permissions (RFC 8656 §9): one per peer IP address (ports do not
 * matter), installed by CreatePermission or ChannelBind, lasting 300 s from the request and
 * refreshed before then while wanted. Pure bookkeeping; the client sends the requests.
 */
import { PERMISSION_LIFETIME_MS, PERMISSION_REFRESH_MS } from '../constants.js';

export interface Permission {
  readonly ip: string;
  /** Until when the relay holds it (counted from our request, so never later than the relay's). */
  installedUntil: number;
  /** When to send the next CreatePermission. */
  refreshAt: number;
  /** A CreatePermission for it is outstanding. */
  pending: boolean;
  sentAt: number;
}

export class PermissionTable {
  private readonly entries = new Map<string, Permission>();

  get size(): number {
    return this.entries.size;
  }

  get(ip: string): Permission | undefined {
    return this.entries.get(ip);
  }

  /** Adds a wanted permission, due at once; an existing one is returned unchanged. */
  want(ip: string): Permission {
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      entry = { ip, installedUntil: 0, refreshAt: Number.NEGATIVE_INFINITY, pending: false, sentAt: 0 };
      this.entries.set(ip, entry);
    }
    return entry;
  }

  isInstalled(ip: string, now: number): boolean {
    const entry = this.entries.get(ip);
    return entry !== undefined && entry.installedUntil > now;
  }

  /** Installed, or being installed: the relay may already forward its data (RFC 8656 §9). */
  isKnown(ip: string, now: number): boolean {
    const entry = this.entries.get(ip);
    return entry !== undefined && (entry.pending || entry.installedUntil > now);
  }

  /** Permissions whose (re)installation is due. */
  due(now: number): Permission[] {
    return [...this.entries.values()].filter((e) => !e.pending && e.refreshAt <= now);
  }

  sent(entry: Permission, now: number): void {
    entry.pending = true;
    entry.sentAt = now;
  }

  /** A CreatePermission or ChannelBind for this IP succeeded; the request was sent at `sentAt`. */
  installed(ip: string, sentAt: number): void {
    const entry = this.want(ip);
    entry.pending = false;
    entry.installedUntil = Math.max(entry.installedUntil, sentAt + PERMISSION_LIFETIME_MS);
    entry.refreshAt = Math.max(entry.refreshAt, sentAt + PERMISSION_REFRESH_MS);
  }

  remove(ip: string): void {
    this.entries.delete(ip);
  }

  nextTimeout(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) {
      if (!e.pending && (next === undefined || e.refreshAt < next)) next = e.refreshAt;
    }
    return next;
  }

  /** Marks every permission as not installed and due again (a new allocation has none). */
  reset(): void {
    for (const e of this.entries.values()) {
      e.installedUntil = 0;
      e.refreshAt = Number.NEGATIVE_INFINITY;
      e.pending = false;
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
