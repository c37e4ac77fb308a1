/**
 * Validation of one message (event name + payload) against an event map, with errors that name
 * the event and the field, e.g. `init: field "interface.ipv4": expected an IPv4 address`.
 */
import type { z } from 'zod';
import { CLIENT_RESOURCE_TYPES, clientEgress, clientIgnoredIngress, clientIngress } from './client.js';
import { collectWarnings, describeIssue, ignoredByType } from './common.js';
import { gatewayEgress, gatewayIgnoredIngress, gatewayIngress } from './gateway.js';

export type EventMap = Readonly<Record<string, z.ZodType>>;

/** A validated message of map `M`: a discriminated union over the event name. */
export type MessageOf<M extends EventMap> = {
  [E in keyof M & string]: { readonly event: E; readonly payload: z.output<M[E]> };
}[keyof M & string];

/** The payload a sender passes for event `E` (before defaults are applied). */
export type PayloadInput<M extends EventMap, E extends keyof M> = z.input<M[E]>;
export type PayloadOutput<M extends EventMap, E extends keyof M> = z.output<M[E]>;

/** A payload that does not match its event's schema. */
export class PortalMessageError extends Error {
  override readonly name = 'PortalMessageError';
  constructor(
    readonly event: string,
    /** Dotted path of the offending field, or undefined when the payload itself is wrong. */
    readonly field: string | undefined,
    readonly detail: string,
  ) {
    super(`${event}: ${field !== undefined ? `field "${field}": ` : 'payload: '}${detail}`);
  }
}

/** One direction of one topic: its events, the ones deliberately ignored, and forward-compat rules. */
export interface MessageDirection<M extends EventMap> {
  readonly name: string;
  readonly events: M;
  readonly ignored: ReadonlySet<string>;
  /** Per event: a note when this payload is a newer variant we skip (e.g. an unknown resource type). */
  readonly ignoreWhen?: { readonly [E in keyof M]?: (payload: unknown) => string | undefined };
}

export type ParseOutcome<M extends EventMap> =
  | { readonly kind: 'message'; readonly message: MessageOf<M>; readonly warnings: readonly string[] }
  | { readonly kind: 'ignored'; readonly event: string; readonly reason: string }
  | { readonly kind: 'unknown_event'; readonly event: string }
  | { readonly kind: 'invalid'; readonly error: PortalMessageError };

function hasEvent<M extends EventMap>(map: M, event: string): event is keyof M & string {
  return Object.prototype.hasOwnProperty.call(map, event);
}

/** Validates `payload` as event `event` of `direction`. Never throws. */
export function parseMessage<M extends EventMap>(
  direction: MessageDirection<M>,
  event: string,
  payload: unknown,
): ParseOutcome<M> {
  if (direction.ignored.has(event)) return { kind: 'ignored', event, reason: 'obsolete event' };
  if (!hasEvent(direction.events, event)) return { kind: 'unknown_event', event };
  const skip = direction.ignoreWhen?.[event]?.(payload);
  if (skip !== undefined) return { kind: 'ignored', event, reason: skip };
  const schema = direction.events[event]!;
  const { result, warnings } = collectWarnings(() => schema.safeParse(payload));
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
    const detail = issue ? issue.message : 'invalid payload';
    return { kind: 'invalid', error: new PortalMessageError(event, field, detail) };
  }
  const message = { event, payload: result.data } as MessageOf<M>;
  return { kind: 'message', message, warnings };
}

/**
 * Validates a message we are about to send; throws `PortalMessageError` when it does not match
 * (always a bug of the caller). Returns the payload with defaults applied.
 */
export function validateOutgoing<M extends EventMap, E extends keyof M & string>(
  direction: MessageDirection<M>,
  event: E,
  payload: unknown,
): PayloadOutput<M, E> {
  if (!hasEvent(direction.events, event)) {
    throw new PortalMessageError(event, undefined, `not an event of ${direction.name}`);
  }
  const parsed = direction.events[event]!.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
    throw new PortalMessageError(event, field, issue ? issue.message : 'invalid payload');
  }
  return parsed.data as PayloadOutput<M, E>;
}

export { describeIssue };

// ---------------------------------------------------------------------------------------------
// The four directions.

export const CLIENT_INGRESS: MessageDirection<typeof clientIngress> = {
  name: 'portal → client',
  events: clientIngress,
  ignored: clientIgnoredIngress,
  ignoreWhen: {
    resource_created_or_updated: (payload) => ignoredByType(payload, CLIENT_RESOURCE_TYPES, 'resource'),
  },
};

export const CLIENT_EGRESS: MessageDirection<typeof clientEgress> = {
  name: 'client → portal',
  events: clientEgress,
  ignored: new Set(),
};

export const GATEWAY_INGRESS: MessageDirection<typeof gatewayIngress> = {
  name: 'portal → gateway',
  events: gatewayIngress,
  ignored: gatewayIgnoredIngress,
};

export const GATEWAY_EGRESS: MessageDirection<typeof gatewayEgress> = {
  name: 'gateway → portal',
  events: gatewayEgress,
  ignored: new Set(),
};

export type ClientIngressMessage = MessageOf<typeof clientIngress>;
export type ClientEgressMessage = MessageOf<typeof clientEgress>;
export type GatewayIngressMessage = MessageOf<typeof gatewayIngress>;
export type GatewayEgressMessage = MessageOf<typeof gatewayEgress>;
export type ClientEgressEvent = keyof typeof clientEgress;
export type GatewayEgressEvent = keyof typeof gatewayEgress;
