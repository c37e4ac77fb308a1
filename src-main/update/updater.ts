// The updater seen by the app controller. `auto-updater-service.ts` implements it over
// electron-updater (generic feed, background download, install on quit), which
// `electron/electron-updater-service.ts` hands the packaged app's `autoUpdater`; UI tests of the
// other views use a fake.

import type { UpdateState } from '../../src-shared/domain.js';

export interface UpdaterConfig {
  /** Generic feed URL, or null: no feed (updates disabled). */
  readonly feedUrl: string | null;
  readonly autoDownload: boolean;
}

export interface UpdaterService {
  readonly state: UpdateState;
  onChange(listener: (state: UpdateState) => void): () => void;
  configure(config: UpdaterConfig): void;
  check(): Promise<void>;
  /** Downloads an `available` update. */
  download(): Promise<void>;
  /** Quits the app and runs the installer of a downloaded update. */
  installNow(): void;
}

/** Reserved names (RFC 2606/6761): a build configured with such a feed has no real feed. */
export function isPlaceholderFeed(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return /(^|\.)(invalid|example|test|localhost)$/.test(host) || /^example\.(com|net|org)$/.test(host);
  } catch {
    return true;
  }
}

/** The `url:` of the app-update.yml electron-builder writes from `publish`. */
export function parseBuiltInFeed(appUpdateYml: string): string | null {
  const m = /^url:\s*['"]?([^'"\s]+)['"]?\s*$/m.exec(appUpdateYml);
  return m ? m[1]! : null;
}

/**
 * Which feed to use: the effective setting (managed config already merged in), else the feed
 * baked into the build, unless that is a placeholder; null means updates are off.
 */
export function resolveFeedUrl(configured: string | null, builtIn: string | null): string | null {
  const fromSettings = configured?.trim();
  if (fromSettings) return fromSettings;
  return builtIn && /^https:\/\//.test(builtIn) && !isPlaceholderFeed(builtIn) ? builtIn : null;
}

/** How often to look for updates while running. */
export const UPDATE_CHECK_INTERVAL_MS = 6 * 60 * 60_000;
