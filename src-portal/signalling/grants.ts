/**
 * Authorizations granted to a (client, gateway, resource) triple: what the gateway was told with
 * `create_authorization` and acknowledged. They outlive sockets (a reconnecting gateway gets them
 * back in `init.authorizations`, §4.2) and, in the dev portal, restarts (stored in SQLite).
 */

export interface Grant {
  /** Policy-authorization id (a UUID), also used in flow-log tokens. */
  readonly id: string;
  readonly gatewayId: string;
  readonly clientId: string;
  readonly resourceId: string;
  readonly actorId: string;
  readonly tokenId: string;
  readonly policyId: string;
  /** Unix seconds. */
  readonly expiresAt: number;
}

export interface GrantStore {
  all(): Iterable<Grant>;
  /** Inserts, or replaces the grant of the same (gateway, client, resource). */
  upsert(grant: Grant): void;
  delete(gatewayId: string, clientId: string, resourceId: string): void;
}

export function grantKey(gatewayId: string, clientId: string, resourceId: string): string {
  return `${gatewayId}|${clientId}|${resourceId}`;
}

export class MemoryGrantStore implements GrantStore {
  private readonly grants = new Map<string, Grant>();

  all(): Iterable<Grant> {
    return [...this.grants.values()];
  }

  upsert(grant: Grant): void {
    this.grants.set(grantKey(grant.gatewayId, grant.clientId, grant.resourceId), grant);
  }

  delete(gatewayId: string, clientId: string, resourceId: string): void {
    this.grants.delete(grantKey(gatewayId, clientId, resourceId));
  }
}
