// A generic update feed on 127.0.0.1, as electron-builder publishes one: `latest-linux.yml`
// (version, files[{url, sha512, size}], path, sha512, releaseDate) next to the package. Tests
// publish a release, can serve bytes other than the ones the feed describes (a corrupted
// download), spread a download over time (so progress shows) and hold the feed's answer (so a
// "checking" state can be seen).

import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';

export interface FeedRelease {
  readonly version: string;
  /** The package's file name, e.g. `fz-desktop_0.2.0_amd64.deb`. */
  readonly fileName: string;
  /** The bytes the feed describes (its sha512 and size). */
  readonly payload: Buffer;
  /** Bytes served instead of `payload` (a corrupted download); the feed still describes `payload`. */
  readonly served?: Buffer;
  /** Spread the file over about this many milliseconds. */
  readonly durationMs?: number;
}

export interface UpdateFeed {
  /** The feed URL (what `updateFeedUrl` / `setFeedURL` takes). */
  readonly url: string;
  /** Paths requested so far, without query strings. */
  readonly requests: string[];
  publish(release: FeedRelease): void;
  /** Holds the answers to `latest-linux.yml` until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

export function sha512Base64(data: Buffer): string {
  return createHash('sha512').update(data).digest('base64');
}

/** The channel file electron-builder writes for a Linux release. */
export function latestLinuxYml(release: FeedRelease, releaseDate = new Date()): string {
  const sha512 = sha512Base64(release.payload);
  return stringify({
    version: release.version,
    files: [{ url: release.fileName, sha512, size: release.payload.length }],
    path: release.fileName,
    sha512,
    releaseDate: releaseDate.toISOString(),
  });
}

/** Deterministic filler bytes standing in for a package. */
export function fakePackage(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function sendSlowly(res: ServerResponse, data: Buffer, durationMs: number): Promise<void> {
  const chunks = 20;
  const step = Math.ceil(data.length / chunks);
  for (let off = 0; off < data.length && !res.destroyed; off += step) {
    res.write(data.subarray(off, off + step));
    await new Promise((r) => setTimeout(r, durationMs / chunks));
  }
  res.end();
}

export async function startUpdateFeed(): Promise<UpdateFeed> {
  let release: FeedRelease | null = null;
  let held: Promise<void> | null = null;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://feed').pathname;
    requests.push(pathname);
    const current = release;
    // `latest-linux.yml` on x64, `latest-linux-<arch>.yml` elsewhere.
    if (/^\/latest-linux(-[a-z0-9]+)?\.yml$/.test(pathname) && current) {
      const answer = () => {
        const body = latestLinuxYml(current);
        res.writeHead(200, { 'Content-Type': 'text/yaml', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (held) void held.then(answer);
      else answer();
      return;
    }
    if (current && pathname === `/${current.fileName}`) {
      const data = current.served ?? current.payload;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
      void sendSlowly(res, data, current.durationMs ?? 0);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    publish(r) {
      release = r;
    },
    hold() {
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      return () => {
        held = null;
        release();
      };
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
