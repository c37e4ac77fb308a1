/**
 * What a portal knows about an account: sites, resources, who may reach what, relays and DNS.
 * The dev portal builds it from its config file, the simulation harness from a literal; the
 * signalling core (`./core.ts`) turns it into the messages of docs/protocol.md §3–§4.
 */
import type { Filter } from '../../src-engine/portal/messages/common.js';

export interface CatalogAccount {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  /** Whether ICE-less connections may be offered (§5.10); both peers must also support it. */
  readonly iceless: boolean;
}

export interface CatalogSite {
  readonly id: string;
  readonly name: string;
}

export type IpStack = 'dual' | 'ipv4_only' | 'ipv6_only';

export type CatalogResource =
  | {
      readonly id: string;
      readonly type: 'dns';
      readonly name: string;
      /** Pattern: exact name, `*.` (any depth), `?.` (one label), as §2.4. */
      readonly address: string;
      readonly addressDescription: string | null;
      readonly siteId: string;
      readonly filters: readonly Filter[];
      readonly ipStack: IpStack;
    }
  | {
      readonly id: string;
      readonly type: 'cidr';
      readonly name: string;
      /** Network in CIDR notation (an "ip" resource is a /32 or /128). */
      readonly address: string;
      readonly addressDescription: string | null;
      readonly siteId: string;
      readonly filters: readonly Filter[];
    }
  | {
      readonly id: string;
      readonly type: 'internet';
      readonly name: string;
      readonly siteId: string;
    };

export interface CatalogActor {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly groupIds: readonly string[];
}

export interface CatalogGroup {
  readonly id: string;
  readonly name: string;
}

export interface CatalogPolicy {
  readonly id: string;
  readonly groupId: string;
  readonly resourceId: string;
  /**
   * Unix seconds after which the policy grants nothing (absent: never). Authorizations it gives
   * end then at the latest, and the resource leaves the client's list.
   */
  readonly expiresAt?: number;
}

/** The policy that grants an access, and until when. */
export interface PolicyGrant {
  readonly policyId: string;
  /** Unix seconds, or Infinity for a policy without end. */
  readonly expiresAt: number;
}

export interface CatalogRelay {
  readonly id: string;
  readonly name: string;
  /** One relay may listen on an IPv4 and an IPv6 address (sent as two objects, §3.8). */
  readonly addresses: readonly { readonly ip: string; readonly port: number }[];
  /** coturn `static-auth-secret` for TURN REST credentials. */
  readonly secret: string;
}

export interface CatalogDns {
  readonly upstreamDo53: readonly string[];
  readonly upstreamDoh: readonly string[];
  readonly searchDomain: string | null;
}

export interface Catalog {
  readonly account: CatalogAccount;
  readonly sites: readonly CatalogSite[];
  readonly resources: readonly CatalogResource[];
  readonly actors: readonly CatalogActor[];
  readonly groups: readonly CatalogGroup[];
  readonly policies: readonly CatalogPolicy[];
  readonly relays: readonly CatalogRelay[];
  readonly dns: CatalogDns;
}

/** Fast lookups over a catalog; rebuilt whenever the catalog changes. */
export class CatalogIndex {
  readonly resources = new Map<string, CatalogResource>();
  readonly sites = new Map<string, CatalogSite>();
  readonly actors = new Map<string, CatalogActor>();
  /** actor id → resource id → every policy granting it. */
  private readonly access = new Map<string, Map<string, PolicyGrant[]>>();
  /** Policy ends (unix seconds), ascending: the moments access changes without a config change. */
  readonly policyEnds: readonly number[];

  constructor(readonly catalog: Catalog) {
    for (const site of catalog.sites) this.sites.set(site.id, site);
    for (const resource of catalog.resources) this.resources.set(resource.id, resource);
    for (const actor of catalog.actors) this.actors.set(actor.id, actor);
    const policiesByGroup = new Map<string, CatalogPolicy[]>();
    for (const policy of catalog.policies) {
      const list = policiesByGroup.get(policy.groupId) ?? [];
      list.push(policy);
      policiesByGroup.set(policy.groupId, list);
    }
    for (const actor of catalog.actors) {
      const allowed = new Map<string, PolicyGrant[]>();
      for (const groupId of actor.groupIds) {
        for (const policy of policiesByGroup.get(groupId) ?? []) {
          if (!this.resources.has(policy.resourceId)) continue;
          const list = allowed.get(policy.resourceId) ?? [];
          list.push({ policyId: policy.id, expiresAt: policy.expiresAt ?? Infinity });
          allowed.set(policy.resourceId, list);
        }
      }
      this.access.set(actor.id, allowed);
    }
    this.policyEnds = [
      ...new Set(catalog.policies.flatMap((p) => (p.expiresAt === undefined ? [] : [p.expiresAt]))),
    ].sort((a, b) => a - b);
  }

  /**
   * The policy that lets `actorId` reach `resourceId` at `now` (unix ms), if any: of several, the
   * one that lasts longest, so an authorization is not cut short by a policy that ends sooner.
   */
  policyFor(actorId: string, resourceId: string, now: number): PolicyGrant | undefined {
    let best: PolicyGrant | undefined;
    for (const grant of this.access.get(actorId)?.get(resourceId) ?? []) {
      if (grant.expiresAt * 1000 <= now) continue;
      if (!best || grant.expiresAt > best.expiresAt) best = grant;
    }
    return best;
  }

  /** Resources `actorId` may reach at `now` (unix ms), in catalog order. */
  resourcesFor(actorId: string, now: number): CatalogResource[] {
    if (!this.access.has(actorId)) return [];
    return this.catalog.resources.filter(
      (resource) => this.policyFor(actorId, resource.id, now) !== undefined,
    );
  }

  /** The first policy end after `now` (unix ms), in unix ms. */
  nextPolicyEnd(now: number): number | undefined {
    const end = this.policyEnds.find((at) => at * 1000 > now);
    return end === undefined ? undefined : end * 1000;
  }
}

/** Whether a change of `before` into `after` invalidates existing authorizations (§4.2). */
export function resourceIdentityChanged(before: CatalogResource, after: CatalogResource): boolean {
  if (before.type !== after.type || before.siteId !== after.siteId) return true;
  if (before.type === 'internet' || after.type === 'internet') return false;
  if (before.address !== after.address) return true;
  if (before.type === 'dns' && after.type === 'dns' && before.ipStack !== after.ipStack) return true;
  return false;
}
