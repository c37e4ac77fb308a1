/**
 * Policy routing for the TUN's routes on Linux, as Firezone does it. The engine's own sockets
 * carry ENGINE_FWMARK (./fwmark.ts); three tables are consulted only for packets WITHOUT it:
 *
 *   priority 100  not fwmark 0xfd002021  lookup 0x2021fd00   resource routes (dev TUN)
 *   priority 200  not fwmark 0xfd002021  lookup 0x2021fd01   copies of main's on-link (LAN) routes
 *   priority 300  not fwmark 0xfd002021  lookup 0x2021fd02   default routes (dev TUN)
 *
 * Everything else (and all marked traffic) falls through to the main table (priority 32766), so
 * the engine's WireGuard/ICE/TURN datagrams, the portal's WebSocket and upstream DNS queries leave
 * through the physical network even with the Internet resource's 0.0.0.0/0 and ::/0 in the TUN.
 *
 * Resource routes live in table 0x2021fd00, not in main: (1) resources then beat the LAN when
 * they overlap, the same with and without the Internet resource (in main, the LAN copies at
 * priority 200 would shadow a resource inside the LAN's prefix only while the Internet resource
 * is on); (2) the engine's own traffic to an address inside a resource's range (a gateway, relay
 * or the portal itself) does not loop through the TUN either. The rule at priority 100 exists for
 * both families while the routing is in use. Tables 0x2021fd01/0x2021fd02 and their rules exist
 * per family only while that family's default route is asked for.
 *
 * Every step is idempotent. The first apply() removes what an earlier run that crashed may have
 * left (rules at these priorities pointing to these tables, the tables' routes), so starting again
 * never fails on leftovers; cleanup() removes everything. The LAN copies follow the main table at
 * each apply() and refreshLanRoutes() (call it when the host's networks change).
 *
 * Limitation: with STRICT IPv4 reverse-path filtering (net.ipv4.conf.*.rp_filter=1) and the
 * default routes in place, the kernel drops the replies to the engine's marked traffic: the reverse
 * lookup for an arriving packet runs without the mark (the packet has none), finds the TUN, not
 * the interface it came in on. Loose mode (2, what systemd's sysctl defaults set) and 0 work. A
 * fix would be wg-quick's: net.ipv4.conf.all.src_valid_mark=1 plus an nftables connmark rule that
 * puts the mark back on arriving packets. firewalld's IPv6_rpfilter=strict is the same for IPv6.
 */
import { ENGINE_FWMARK } from './fwmark.js';

export const RESOURCE_TABLE = 0x2021fd00;
export const LAN_TABLE = 0x2021fd01;
export const DEFAULT_TABLE = 0x2021fd02;
export const RESOURCE_RULE_PRIORITY = 100;
export const LAN_RULE_PRIORITY = 200;
export const DEFAULT_RULE_PRIORITY = 300;

/** Runs `ip <args>` and resolves with its stdout (show commands need it; others may give nothing). */
export type IpRunner = (args: string[]) => Promise<unknown>;
/**
 * Runs many `ip` commands of one family in one process (`ip -4|-6 [-force] -batch -`). Without
 * `force` it stops at the first failure and rejects; with it, it runs every line and rejects if
 * any failed.
 */
export type IpBatchRunner = (family: '-4' | '-6', commands: string[][], force: boolean) => Promise<unknown>;

/** Below this many route changes one `ip` per change is as quick as a batch. */
const BATCH_FROM = 8;

type Family = '-4' | '-6';
const FAMILIES: readonly Family[] = ['-4', '-6'];

const hex = (n: number): string => `0x${n.toString(16)}`;

interface Rule {
  readonly priority: number;
  readonly table: number;
}
const RESOURCE_RULE: Rule = { priority: RESOURCE_RULE_PRIORITY, table: RESOURCE_TABLE };
const LAN_RULE: Rule = { priority: LAN_RULE_PRIORITY, table: LAN_TABLE };
const DEFAULT_RULE: Rule = { priority: DEFAULT_RULE_PRIORITY, table: DEFAULT_TABLE };
const ALL_RULES: readonly Rule[] = [DEFAULT_RULE, LAN_RULE, RESOURCE_RULE];

/** A route of `ip -j route show` (the fields used here). */
interface ShownRoute {
  readonly dst?: string;
  readonly dev?: string;
  readonly gateway?: string;
  readonly nexthops?: unknown;
  readonly type?: string;
  readonly scope?: string;
  readonly prefsrc?: string;
  readonly metric?: number;
}

export function familyOf(cidr: string): Family {
  return cidr.includes(':') ? '-6' : '-4';
}

/** 0.0.0.0/0, ::/0 (and the spellings `default`, `::0/0`). */
export function isDefaultRoute(cidr: string): boolean {
  if (cidr === 'default') return true;
  const slash = cidr.lastIndexOf('/');
  return slash !== -1 && Number(cidr.slice(slash + 1)) === 0;
}

export class LinuxPolicyRouting {
  private started = false;
  private readonly rules = new Set<string>(); // `${family} ${priority}` installed
  private readonly resources = new Set<string>();
  private readonly defaults = new Set<Family>();
  /** Installed LAN copies: key → the `ip` arguments that added it. */
  private readonly lan = new Map<string, readonly string[]>();

  constructor(
    readonly device: string,
    private readonly ip: IpRunner,
    readonly mark: number = ENGINE_FWMARK,
    private readonly batch?: IpBatchRunner,
  ) {}

  /** Brings resource routes, default routes and LAN copies to exactly what `routes` asks for. */
  async apply(routes: readonly string[]): Promise<void> {
    if (!this.started) {
      await this.removeAll();
      this.started = true;
    }
    const resources = new Set<string>();
    const defaults = new Set<Family>();
    for (const route of routes) {
      if (isDefaultRoute(route)) defaults.add(familyOf(route));
      else resources.add(route);
    }

    for (const family of FAMILIES) await this.addRule(family, RESOURCE_RULE);
    const gone = [...this.resources].filter((route) => !resources.has(route));
    const added = [...resources].filter((route) => !this.resources.has(route));
    await this.routeChanges('del', gone);
    await this.routeChanges('replace', added);
    this.resources.clear();
    for (const route of resources) this.resources.add(route);

    // Off first (default rule before LAN rule), then on (LAN copies and rule before the default).
    for (const family of FAMILIES) {
      if (this.defaults.has(family) && !defaults.has(family)) await this.disableDefault(family);
    }
    if (defaults.size > 0) await this.syncLan(defaults);
    for (const family of FAMILIES) {
      if (!defaults.has(family)) continue;
      if (this.defaults.has(family)) continue;
      await this.addRule(family, LAN_RULE);
      await this.ip([family, 'route', 'replace', 'default', ...this.via(DEFAULT_TABLE)]);
      await this.addRule(family, DEFAULT_RULE);
      this.defaults.add(family);
    }
  }

  /** Copies main's on-link routes into the LAN table again (the host's networks changed). */
  async refreshLanRoutes(): Promise<void> {
    if (this.defaults.size > 0) await this.syncLan(this.defaults);
  }

  /** Removes every rule and route of the three tables; apply() starts from scratch after it. */
  async cleanup(): Promise<void> {
    await this.removeAll();
    this.started = false;
  }

  private via(table: number): string[] {
    return ['dev', this.device, 'table', hex(table)];
  }

  private async disableDefault(family: Family): Promise<void> {
    await this.deleteRule(family, DEFAULT_RULE);
    await this.flush(family, DEFAULT_TABLE);
    await this.deleteRule(family, LAN_RULE);
    await this.flush(family, LAN_TABLE);
    for (const [key] of this.lan) if (key.startsWith(family)) this.lan.delete(key);
    this.defaults.delete(family);
  }

  /** LAN table := main's on-link unicast routes (not the TUN's), for the families with defaults. */
  private async syncLan(families: ReadonlySet<Family>): Promise<void> {
    const wanted = new Map<string, readonly string[]>();
    for (const family of FAMILIES) {
      if (!families.has(family)) continue;
      for (const route of await this.mainRoutes(family)) {
        const copy = lanCopy(family, route, this.device);
        if (copy) wanted.set(copy.key, copy.args);
      }
    }
    for (const [key, args] of this.lan) {
      if (families.has(key.slice(0, 2) as Family) && wanted.get(key)?.join(' ') === args.join(' ')) continue;
      await this.tryIp(deleteArgs(args));
      this.lan.delete(key);
    }
    for (const [key, args] of wanted) {
      if (this.lan.has(key)) continue;
      await this.ip([...args]);
      this.lan.set(key, args);
    }
  }

  private async mainRoutes(family: Family): Promise<ShownRoute[]> {
    const out = await this.ip([family, '-j', 'route', 'show', 'table', 'main']);
    if (typeof out !== 'string' || out.trim() === '') return [];
    const parsed: unknown = JSON.parse(out);
    return Array.isArray(parsed) ? (parsed as ShownRoute[]) : [];
  }

  private async addRule(family: Family, rule: Rule): Promise<void> {
    const key = `${family} ${rule.priority}`;
    if (this.rules.has(key)) return;
    await this.deleteRule(family, rule); // one left over from a run that crashed
    await this.ip([
      family,
      'rule',
      'add',
      'not',
      'fwmark',
      hex(this.mark),
      'table',
      hex(rule.table),
      'priority',
      String(rule.priority),
    ]);
    this.rules.add(key);
  }

  /** Deletes every rule at the rule's priority pointing to its table (there may be none). */
  private async deleteRule(family: Family, rule: Rule): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const deleted = await this.tryIp([
        family,
        'rule',
        'del',
        'priority',
        String(rule.priority),
        'table',
        hex(rule.table),
      ]);
      if (!deleted) break;
    }
    this.rules.delete(`${family} ${rule.priority}`);
  }

  private async flush(family: Family, table: number): Promise<void> {
    // "FIB table does not exist" when it was never used: nothing to flush.
    await this.tryIp([family, 'route', 'flush', 'table', hex(table)]);
  }

  private async removeAll(): Promise<void> {
    for (const family of FAMILIES) {
      for (const rule of ALL_RULES) await this.deleteRule(family, rule);
      for (const rule of ALL_RULES) await this.flush(family, rule.table);
    }
    this.resources.clear();
    this.defaults.clear();
    this.lan.clear();
  }

  /**
   * Deletes (failures ignored: the route may be gone already) or replaces resource routes. A
   * thousand resources are a thousand routes: one `ip -batch` per family instead of a process per
   * route (seconds instead of tens of seconds on a busy machine). If a batch of replacements
   * fails, the routes are applied one by one so the error names the route.
   */
  private async routeChanges(verb: 'del' | 'replace', routes: readonly string[]): Promise<void> {
    const command = (route: string): string[] => ['route', verb, route, ...this.via(RESOURCE_TABLE)];
    if (this.batch && routes.length >= BATCH_FROM) {
      for (const family of FAMILIES) {
        const mine = routes.filter((route) => familyOf(route) === family);
        if (mine.length === 0) continue;
        try {
          await this.batch(family, mine.map(command), verb === 'del');
          continue;
        } catch {
          if (verb === 'del') continue;
        }
        for (const route of mine) await this.ip([family, ...command(route)]);
      }
      return;
    }
    for (const route of routes) {
      if (verb === 'del') await this.tryIp([familyOf(route), ...command(route)]);
      else await this.ip([familyOf(route), ...command(route)]);
    }
  }

  private async tryIp(args: string[]): Promise<boolean> {
    try {
      await this.ip(args);
      return true;
    } catch {
      return false;
    }
  }
}

/** The `ip` arguments that copy one main-table route into the LAN table, or undefined to skip it. */
export function lanCopy(
  family: Family,
  route: ShownRoute,
  tunDevice: string,
): { key: string; args: readonly string[] } | undefined {
  const { dst, dev } = route;
  if (dst === undefined || dst === 'default' || dev === undefined || dev === tunDevice) return undefined;
  if (route.gateway !== undefined || route.nexthops !== undefined) return undefined; // not on-link
  if (route.type !== undefined && route.type !== 'unicast') return undefined; // unreachable, blackhole...
  if (family === '-4' && route.scope !== 'link') return undefined;
  if (family === '-6' && /^ff/i.test(dst)) return undefined; // multicast
  const metric = route.metric !== undefined ? ['metric', String(route.metric)] : [];
  const args = [
    family,
    'route',
    'replace',
    dst,
    'dev',
    dev,
    'table',
    hex(LAN_TABLE),
    ...(family === '-4' ? ['scope', 'link'] : []),
    ...(route.prefsrc !== undefined ? ['src', route.prefsrc] : []),
    ...metric,
  ];
  return { key: `${family} ${dst} ${dev} ${route.metric ?? ''}`, args };
}

function deleteArgs(addArgs: readonly string[]): string[] {
  // [family, 'route', 'replace', dst, 'dev', dev, 'table', t, ...] → del with the same selectors.
  const [family, , , dst, , dev, , table] = addArgs;
  const metric = addArgs.indexOf('metric');
  return [
    family!,
    'route',
    'del',
    dst!,
    'dev',
    dev!,
    'table',
    table!,
    ...(metric !== -1 ? ['metric', addArgs[metric + 1]!] : []),
  ];
}
