// Which desktop notifications to show, decided without Electron: signed out by the portal, a
// resource unreachable (at most once a minute per resource), an update downloaded, and the
// tunnel failing. `electron/notification-controller.ts` displays them.

import type { UpdateState } from '../../src-shared/domain.js';
import type { EngineError, PortalSignOut } from '../engine/engine-host.js';

export type NotificationAction = 'open-window' | 'sign-in' | 'install-update';

export interface AppNotification {
  /** Same id: replaces the previous notification instead of stacking. */
  readonly id: string;
  readonly title: string;
  readonly body: string;
  /** What a click does. */
  readonly action: NotificationAction;
  readonly urgency: 'low' | 'normal' | 'critical';
}

export const RESOURCE_NOTIFY_INTERVAL_MS = 60_000;

export class NotificationPolicy {
  readonly #lastResourceNotice = new Map<string, number>();
  #lastUpdateVersion: string | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  signedOutByPortal(signOut: PortalSignOut): AppNotification {
    return {
      id: 'signed-out',
      title: 'You were signed out',
      body: `${signOut.message} Sign in again to reach your resources.`,
      action: 'sign-in',
      urgency: 'critical',
    };
  }

  resourceUnreachable(error: EngineError, resourceName: string | null): AppNotification | null {
    const key = error.resourceId ?? error.message;
    const now = this.now();
    const last = this.#lastResourceNotice.get(key);
    if (last !== undefined && now - last < RESOURCE_NOTIFY_INTERVAL_MS) return null;
    this.#lastResourceNotice.set(key, now);
    return {
      id: `resource-${key}`,
      title: resourceName ? `Can’t reach ${resourceName}` : 'A resource is unreachable',
      body: error.message,
      action: 'open-window',
      urgency: 'normal',
    };
  }

  update(state: UpdateState): AppNotification | null {
    if (state.kind !== 'ready' || state.version === this.#lastUpdateVersion) return null;
    this.#lastUpdateVersion = state.version;
    return {
      id: 'update-ready',
      title: `Update ${state.version} is ready`,
      body: 'It will be installed when you quit. Restart now to install it.',
      action: 'install-update',
      urgency: 'low',
    };
  }

  tunnelFailed(message: string): AppNotification {
    return {
      id: 'tunnel-failed',
      title: 'Could not connect',
      body: message,
      action: 'open-window',
      urgency: 'normal',
    };
  }
}
