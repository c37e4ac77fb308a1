// Turns the client engine's status (ClientRuntime.status(), engine vocabulary) into what the app
// shows (EngineStatus and Resource[], the UI's vocabulary). Pure, so the mapping is unit-tested
// without a worker or a network.

import type { ClientStatus } from '../../../src-engine/client/client-runtime.js';
import type { SessionError, SessionState } from '../../../src-engine/portal/session-core.js';
import type {
  ConnectionDiagnostics,
  FlowFailReason,
  Resource,
  ResourceConnection,
  Site,
} from '../../../src-shared/domain.js';
import type { EngineError, EngineStatus } from '../engine-host.js';

const FLOW_FAIL_REASONS: readonly FlowFailReason[] = [
  'not_found',
  'offline',
  'version_mismatch',
  'forbidden',
  'disabled',
  'ambiguous_address',
  'missing_address',
  'invalid_address',
  'handshake_timeout',
  'unknown',
];

const FAIL_MESSAGES: Record<FlowFailReason, string> = {
  not_found: 'The portal no longer knows this resource.',
  offline: 'No gateway of this site is online.',
  version_mismatch: "No gateway of this site runs a version compatible with this app's.",
  forbidden: 'No policy gives you access to this resource from here (check with your admin).',
  disabled: 'This resource is disabled.',
  ambiguous_address: 'The resource address is ambiguous.',
  missing_address: 'The resource has no address.',
  invalid_address: 'The resource address is invalid.',
  handshake_timeout: 'The gateway did not answer: no path through the network worked.',
  unknown: 'The portal refused the connection for a reason this app does not know.',
};

export function describeSessionError(error: SessionError): string {
  switch (error.kind) {
    case 'http':
      return `the portal answered HTTP ${error.status}${error.code ? ` (${error.code})` : ''}`;
    case 'network':
      return `cannot reach the portal: ${error.message}`;
    case 'join_timeout':
      return 'the portal did not answer the join in time';
    case 'join_error':
      return `the portal refused the join: ${error.reason}`;
    case 'closed':
      return `the portal closed the connection: ${error.reason}`;
    case 'heartbeat_timeout':
      return 'the portal stopped answering';
    case 'budget_exhausted':
      return describeSessionError(error.last);
  }
}

/** A fatal session error, as the app shows it. */
export function sessionFailure(error: SessionError): EngineError {
  const root = error.kind === 'budget_exhausted' ? error.last : error;
  const refused = root.kind === 'http' && (root.status === 401 || root.status === 403);
  return {
    code: refused ? 'authentication-failed' : 'portal-unreachable',
    message: refused
      ? `The portal refused this device (${describeSessionError(root)}). Sign out and in again, or ask your admin.`
      : `The portal cannot be reached (${describeSessionError(root)}). Check your network, then connect again.`,
  };
}

/**
 * The tunnel's state: connected once the portal session is joined and the interface (addresses,
 * routes, DNS) is applied; `monotonicNow` is the session's clock (performance.now()).
 */
export function engineStatusOf(
  portal: SessionState,
  applied: { readonly ipv4: string; readonly ipv6: string } | undefined,
  monotonicNow: number,
): EngineStatus {
  switch (portal.status) {
    case 'idle':
      return { state: 'connecting', phase: 'portal', attempt: 1, reason: null, retryInMs: null };
    case 'connecting':
      return { state: 'connecting', phase: 'portal', attempt: portal.attempt, reason: null, retryInMs: null };
    case 'reconnecting':
      return {
        state: 'connecting',
        phase: 'portal',
        attempt: portal.attempt + 1,
        reason: describeSessionError(portal.lastError),
        retryInMs: Math.max(0, Math.round(portal.retryAt - monotonicNow)),
      };
    case 'joined':
      return applied
        ? { state: 'connected', ipv4: applied.ipv4, ipv6: applied.ipv6 }
        : { state: 'connecting', phase: 'tunnel', attempt: 1, reason: null, retryInMs: null };
    case 'failed':
      return { state: 'failed', error: sessionFailure(portal.error) };
    case 'signed_out':
    case 'stopped':
      return { state: 'idle' };
  }
}

function flowFailReason(reason: string): FlowFailReason {
  return (FLOW_FAIL_REASONS as readonly string[]).includes(reason) ? (reason as FlowFailReason) : 'unknown';
}

type StatusResource = ClientStatus['resources'][number];
type StatusConnection = ClientStatus['connections'][number];

/** When each gateway's connection was first seen up (the engine does not keep it). */
export type EstablishedTimes = Map<string, number>;

function diagnosticsOf(
  gatewayId: string,
  connection: StatusConnection | undefined,
  established: EstablishedTimes,
  now: number,
): ConnectionDiagnostics {
  let establishedAt = established.get(gatewayId);
  if (establishedAt === undefined) {
    // First seen up now; the handshake that made it so may be a moment older (sampling).
    establishedAt = Math.min(now, connection?.lastHandshakeAt ?? now);
    established.set(gatewayId, establishedAt);
  }
  const path = connection?.path;
  const relayed = path?.relayed ?? false;
  return {
    path: relayed ? 'relayed' : 'direct',
    gatewayId,
    gatewayName: null,
    remoteAddress: path?.remote ?? '',
    // The relay is on whichever end of the pair is a relay candidate.
    relayAddress: relayed ? (path?.remoteKind === 'relay' ? path.remote : (path?.local ?? null)) : null,
    rttMs: connection?.rttMs === undefined ? null : Math.round(connection.rttMs * 10) / 10,
    txBytes: connection?.txBytes ?? 0,
    rxBytes: connection?.rxBytes ?? 0,
    lastHandshakeAt: connection?.lastHandshakeAt ?? null,
    establishedAt,
  };
}

function connectionOf(
  r: StatusResource,
  connections: readonly StatusConnection[],
  established: EstablishedTimes,
  now: number,
): ResourceConnection {
  const flow = r.flow;
  switch (flow.state) {
    case 'idle':
      return { state: 'idle' };
    case 'connecting':
      return { state: 'connecting', since: flow.since };
    case 'failed': {
      const reason = flowFailReason(flow.failure.reason);
      return { state: 'failed', reason, message: FAIL_MESSAGES[reason], at: flow.failure.at };
    }
    case 'connected':
      return {
        state: 'connected',
        diagnostics: diagnosticsOf(
          flow.gatewayId,
          connections.find((c) => c.id === flow.gatewayId),
          established,
          now,
        ),
      };
  }
}

function sitesOf(r: StatusResource): Site[] {
  const status: Site['status'] = r.siteOffline
    ? 'offline'
    : r.flow.state === 'connected'
      ? 'online'
      : 'unknown';
  return r.sites.map((site) => ({ id: site.id, name: site.name, status }));
}

/**
 * The resource list as the app shows it. Device pools (a client-to-client feature) are not
 * shown. `established` is updated: gateways no longer connected are forgotten.
 */
export function resourcesOf(status: ClientStatus, established: EstablishedTimes, now: number): Resource[] {
  const list: Resource[] = [];
  const connected = new Set<string>();
  for (const r of status.resources) {
    const connection = connectionOf(r, status.connections, established, now);
    if (connection.state === 'connected') connected.add(connection.diagnostics.gatewayId);
    const base = { id: r.id, name: r.name, sites: sitesOf(r), connection };
    if (r.type === 'dns' || r.type === 'cidr') {
      list.push({ ...base, type: r.type, address: r.address, addressDescription: r.addressDescription });
    } else if (r.type === 'internet') {
      list.push({ ...base, type: 'internet', canBeDisabled: r.canBeDisabled });
    }
  }
  for (const id of [...established.keys()]) if (!connected.has(id)) established.delete(id);
  return list.sort((a, b) => a.name.localeCompare(b.name));
}
