// The updater service driving electron-updater's real DebUpdater against a generic feed on
// 127.0.0.1: the check, the download with its sha512 verification, the refusal of a damaged
// file and of an older or equal version, and the UpdateState of each step.

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UpdateState } from '../../src-shared/domain.js';
import { Logger } from '../logging/logger.js';
import { createNodeUpdater, type NodeUpdater } from '../testing/node-updater.js';
import { fakePackage, startUpdateFeed, type FeedRelease, type UpdateFeed } from '../testing/update-feed.js';
import { AutoUpdaterService } from './auto-updater-service.js';

const CURRENT = '0.1.0';
const PAYLOAD = fakePackage(256 * 1024);
const RELEASE: FeedRelease = { version: '0.2.0', fileName: 'fz-desktop_0.2.0_amd64.deb', payload: PAYLOAD };

let dir: string;
let feed: UpdateFeed;
let node: NodeUpdater;
let service: AutoUpdaterService;
let states: UpdateState[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fz-update-'));
  feed = await startUpdateFeed();
  node = await createNodeUpdater({ dir, version: CURRENT });
  service = new AutoUpdaterService({
    updater: node.updater,
    logger: new Logger({ level: 'debug' }),
    isPackaged: true,
    builtInFeed: () => null,
  });
  states = [];
  service.onChange((s) => states.push(s));
});

afterEach(async () => {
  service.dispose();
  await feed.close();
  await rm(dir, { recursive: true, force: true });
});

async function until(kinds: UpdateState['kind'][], timeoutMs = 10_000): Promise<UpdateState> {
  await vi.waitFor(() => expect(kinds).toContain(service.state.kind), { timeout: timeoutMs, interval: 10 });
  return service.state;
}

async function pendingFiles(): Promise<string[]> {
  return readdir(path.join(node.cacheDir, 'pending')).catch(() => []);
}

const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

describe('AutoUpdaterService with electron-updater against a local feed', () => {
  it('finds a newer version, downloads it with progress, verifies it and is ready', async () => {
    feed.publish({ ...RELEASE, durationMs: 2500 });
    service.configure({ feedUrl: feed.url, autoDownload: false });
    expect(await until(['available', 'error'])).toEqual({ kind: 'available', version: '0.2.0' });
    expect(states[0]).toEqual({ kind: 'checking' });
    // Found, not fetched: automatic download is off.
    expect(feed.requests.filter((p) => p.endsWith('.deb'))).toEqual([]);

    await service.download();
    expect(service.state).toEqual({ kind: 'ready', version: '0.2.0' });
    const downloading = states.filter((s) => s.kind === 'downloading');
    expect(downloading[0]).toEqual({ kind: 'downloading', version: '0.2.0', percent: 0 });
    // electron-updater reports progress once a second while the feed trickles the file.
    expect(downloading.some((s) => s.percent > 0 && s.percent < 100)).toBe(true);
    const percents = downloading.map((s) => s.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));

    const [file] = await pendingFiles();
    expect(file).toBe(RELEASE.fileName);
    expect(sha512(await readFile(path.join(node.cacheDir, 'pending', file!)))).toBe(sha512(PAYLOAD));
  });

  it('with automatic download, a check goes straight through downloading to ready', async () => {
    feed.publish(RELEASE);
    service.configure({ feedUrl: feed.url, autoDownload: true });
    expect(await until(['ready', 'error'])).toEqual({ kind: 'ready', version: '0.2.0' });
    expect(states.map((s) => s.kind)).toEqual(['checking', 'downloading', 'downloading', 'ready']);
    expect(states.at(-2)).toEqual({ kind: 'downloading', version: '0.2.0', percent: 100 });
    // A later check (the 6-hourly timer) leaves the downloaded update alone.
    await service.check();
    expect(service.state.kind).toBe('ready');
  });

  it('refuses a download whose sha512 does not match the feed and keeps nothing', async () => {
    const served = Buffer.from(PAYLOAD);
    served[1000] = served[1000]! ^ 0xff;
    feed.publish({ ...RELEASE, served });
    service.configure({ feedUrl: feed.url, autoDownload: true });
    const state = await until(['ready', 'error']);
    expect(state).toMatchObject({
      kind: 'error',
      error: {
        code: 'update-download-failed',
        message:
          'The downloaded update is damaged (its checksum does not match the update feed), so it was discarded.',
      },
    });
    expect(states.some((s) => s.kind === 'ready')).toBe(false);
    expect(feed.requests).toContain(`/${RELEASE.fileName}`);
    expect(await pendingFiles()).toEqual([]);

    // The feed is repaired: "Try again" downloads the good file.
    feed.publish(RELEASE);
    await service.check();
    expect(await until(['ready', 'error'])).toEqual({ kind: 'ready', version: '0.2.0' });
  });

  it.each(['0.0.9', CURRENT])(
    'offers no update when the feed has %s (the app is 0.1.0) and never allows downgrades',
    async (version) => {
      feed.publish({ ...RELEASE, version });
      service.configure({ feedUrl: feed.url, autoDownload: true });
      const state = await until(['up-to-date', 'available', 'downloading', 'ready', 'error']);
      expect(state.kind).toBe('up-to-date');
      expect(node.updater.allowDowngrade).toBe(false);
      expect(feed.requests.some((p) => p.endsWith('.deb'))).toBe(false);
      expect(states.map((s) => s.kind)).toEqual(['checking', 'up-to-date']);
    },
  );

  it('reports an unreachable feed and a feed without a release as check errors', async () => {
    service.configure({ feedUrl: feed.url, autoDownload: true });
    expect(await until(['error', 'up-to-date'])).toMatchObject({
      kind: 'error',
      error: { code: 'update-check-failed', message: 'The update feed has no release for this platform.' },
    });

    const url = feed.url;
    await feed.close();
    await service.check();
    expect(service.state).toMatchObject({
      kind: 'error',
      error: { code: 'update-check-failed', message: 'The update server could not be reached.' },
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });

  it('is disabled when unpackaged or without a feed; installs through quitAndInstall', async () => {
    const unpackaged = new AutoUpdaterService({
      updater: node.updater,
      logger: new Logger({ level: 'info' }),
      isPackaged: false,
      builtInFeed: () => null,
    });
    unpackaged.configure({ feedUrl: feed.url, autoDownload: true });
    expect(unpackaged.state).toEqual({
      kind: 'disabled',
      reason: 'Updates are installed only by packaged builds.',
    });

    service.configure({ feedUrl: null, autoDownload: true });
    expect(service.state).toEqual({ kind: 'disabled', reason: 'No update feed is configured.' });
    await service.check();
    expect(feed.requests).toEqual([]);

    const install = vi.spyOn(node.updater, 'quitAndInstall').mockImplementation(() => {});
    service.installNow();
    expect(install).toHaveBeenCalledWith(false, true);
  });
});
