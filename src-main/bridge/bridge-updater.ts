// The bridge never updates anything: a feed-less updater that stays disabled, so the app's
// update UI shows why instead of checking a feed.

import type { UpdateState } from '../../src-shared/domain.js';
import type { UpdaterService } from '../update/updater.js';

export const BRIDGE_UPDATE_STATE: UpdateState = { kind: 'disabled', reason: 'development bridge' };

export class BridgeUpdater implements UpdaterService {
  readonly state: UpdateState = BRIDGE_UPDATE_STATE;

  onChange(): () => void {
    return () => {};
  }
  configure(): void {}
  async check(): Promise<void> {}
  async download(): Promise<void> {}
  installNow(): void {}
}
