// electron-updater's real Linux updater (DebUpdater: generic provider, download, sha512
// verification, cache of the pending update) running in plain Node. Its constructor takes an
// AppAdapter instead of Electron's `app`; given one, electron-updater leaves the HTTP executor
// unset (it expects Electron's `net`), so a Node one is supplied: a subclass of the same
// builder-util-runtime HttpExecutor its Electron executor extends, which opens the request with
// node:http and whose `download` is the Electron executor's, line for line. Streaming, progress,
// the sha512 check (DigestTransform) and redirects stay builder-util-runtime's. Loopback only.

import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import electronUpdater from 'electron-updater';

type Runtime = typeof import('builder-util-runtime');
type DownloadOptions = import('builder-util-runtime').DownloadOptions;
type AppAdapter = NonNullable<ConstructorParameters<typeof electronUpdater.DebUpdater>[1]>;

// The builder-util-runtime electron-updater itself loads (its own pinned dependency).
const runtime = createRequire(createRequire(import.meta.url).resolve('electron-updater'))(
  'builder-util-runtime',
) as Runtime;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

class LoopbackHttpExecutor extends runtime.HttpExecutor<ClientRequest> {
  createRequest(options: RequestOptions, callback: (response: IncomingMessage) => void): ClientRequest {
    if (options.protocol !== 'http:' || !LOOPBACK.has(String(options.hostname ?? options.host)))
      throw new Error(`test updater: only http on loopback, not ${options.protocol}//${options.hostname}`);
    return request(options, callback);
  }

  // As electronHttpExecutor.js's `download`, minus Electron's session and proxy login.
  download(url: URL, destination: string, options: DownloadOptions): Promise<string> {
    return options.cancellationToken.createPromise<string>((resolve, reject, onCancel) => {
      const requestOptions: RequestOptions = { headers: options.headers ?? undefined };
      runtime.configureRequestUrl(url, requestOptions);
      runtime.configureRequestOptions(requestOptions);
      this.doDownload(
        requestOptions,
        {
          destination,
          options,
          onCancel,
          callback: (error) => (error ? reject(error) : resolve(destination)),
          responseHandler: null,
        },
        0,
      );
    });
  }
}

export interface NodeUpdaterOptions {
  /** A scratch directory: app-update.yml, user data and the update cache go there. */
  readonly dir: string;
  /** The running app's version. */
  readonly version: string;
}

export interface NodeUpdater {
  readonly updater: InstanceType<typeof electronUpdater.DebUpdater>;
  /** Where electron-updater keeps a verified download (`pending/` inside). */
  readonly cacheDir: string;
}

export async function createNodeUpdater(o: NodeUpdaterOptions): Promise<NodeUpdater> {
  const cacheName = 'fz-desktop-updater';
  const appUpdateConfigPath = path.join(o.dir, 'app-update.yml');
  await mkdir(path.join(o.dir, 'user-data'), { recursive: true });
  // What electron-builder writes into a packaged app; the updater reads its cache dir name from it.
  await writeFile(
    appUpdateConfigPath,
    `provider: generic\nurl: https://updates.example.invalid/\nupdaterCacheDirName: ${cacheName}\n`,
  );
  const adapter: AppAdapter = {
    version: o.version,
    name: 'fz-desktop',
    isPackaged: true,
    appUpdateConfigPath,
    userDataPath: path.join(o.dir, 'user-data'),
    baseCachePath: path.join(o.dir, 'cache'),
    whenReady: () => Promise.resolve(),
    relaunch: () => {},
    quit: () => {},
    // Install-on-quit is never triggered: the test process must not run dpkg.
    onQuit: () => {},
  };
  const updater = new electronUpdater.DebUpdater(null, adapter);
  // Before setFeedURL: the generic provider takes the executor when it is created.
  Object.assign(updater, { httpExecutor: new LoopbackHttpExecutor() });
  return { updater, cacheDir: path.join(o.dir, 'cache', cacheName) };
}
