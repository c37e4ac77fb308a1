// Optimistic UI (Mullvad style): a click on Connect shows "Connecting…" at once; main's next
// tunnel push confirms it, and if none arrives within the timeout the UI goes back to main's
// last known state and says so.

import type { TunnelState } from '../../src-shared/domain.js';

export interface PendingAction {
  readonly kind: 'connect' | 'disconnect';
  readonly id: number;
  readonly since: number;
}

/** What the UI shows: main's state, or the optimistic one while an action is unconfirmed. */
export function displayTunnel(tunnel: TunnelState, pending: PendingAction | null): TunnelState {
  if (!pending) return tunnel;
  if (pending.kind === 'connect' && (tunnel.state === 'disconnected' || tunnel.state === 'error')) {
    return { state: 'connecting', phase: 'starting', attempt: 1, reason: null, retryAt: null };
  }
  if (pending.kind === 'disconnect' && (tunnel.state === 'connected' || tunnel.state === 'connecting')) {
    return { state: 'disconnecting' };
  }
  return tunnel;
}

/** The action's goal is already main's state: nothing left to confirm. */
export function isSatisfied(kind: PendingAction['kind'], tunnel: TunnelState): boolean {
  return kind === 'connect'
    ? tunnel.state === 'connecting' || tunnel.state === 'connected'
    : tunnel.state === 'disconnecting' || tunnel.state === 'disconnected';
}

export interface TunnelPresentation {
  readonly title: string;
  readonly detail: string | null;
  readonly tone: 'ok' | 'busy' | 'off' | 'error';
  readonly action: 'connect' | 'disconnect' | 'retry' | null;
}

export function presentTunnel(t: TunnelState, now: number): TunnelPresentation {
  switch (t.state) {
    case 'disconnected':
      return {
        title: 'Disconnected',
        detail: 'Resources are not reachable.',
        tone: 'off',
        action: 'connect',
      };
    case 'connecting': {
      if (t.attempt > 1) {
        const wait =
          t.retryAt !== null && t.retryAt > now
            ? ` Next try in ${Math.ceil((t.retryAt - now) / 1000)} s.`
            : '';
        return {
          title: 'Reconnecting…',
          detail: `${t.reason ? `Connection lost (${t.reason}).` : 'Connection lost.'} Attempt ${t.attempt}.${wait}`,
          tone: 'busy',
          action: 'disconnect',
        };
      }
      const detail =
        t.phase === 'starting'
          ? 'Starting the tunnel…'
          : t.phase === 'portal'
            ? 'Contacting the portal…'
            : 'Setting up the tunnel…';
      return { title: 'Connecting…', detail, tone: 'busy', action: 'disconnect' };
    }
    case 'connected':
      return {
        title: 'Connected',
        detail: [t.ipv4, t.ipv6].filter(Boolean).join(' · ') || null,
        tone: 'ok',
        action: 'disconnect',
      };
    case 'disconnecting':
      return { title: 'Disconnecting…', detail: null, tone: 'busy', action: null };
    case 'error':
      return { title: 'Connection failed', detail: t.error.message, tone: 'error', action: 'retry' };
  }
}
