/**
 * UnixSocket (fd passing, peer credentials) and TunDevice.fromFd. The TUN part runs in a child
 * in a fresh namespace (test/fixtures/child.ts `fdPass`); the credential part connects from a
 * child process running as `nobody`. Root only.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { UnixSocket, type PeerCredentials } from '../index.js';
import { isRoot, runScenario } from './helpers/netns.js';

const INDEX_JS = fileURLToPath(new URL('../index.js', import.meta.url));
const NOBODY = 65534;

interface ErrorInfo {
  name: string;
  code?: string;
  syscall?: string;
  message: string;
}

/** Runs a one-line CommonJS script as nobody:nogroup that connects to `path` and sends "hi". */
function connectAsNobody(path: string): Promise<{ code: number | null; stderr: string }> {
  const script = `const { UnixSocket } = require(${JSON.stringify(INDEX_JS)});
    try { const s = UnixSocket.connect(${JSON.stringify(path)}); s.send(new Uint8Array([104, 105])); setTimeout(() => s.close(), 200); }
    catch (e) { console.error(e.code); process.exit(3); }`;
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', script], {
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr: stderr.trim() });
    });
  });
}

describe.skipIf(!isRoot)('UnixSocket', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  test('passes a TUN fd that TunDevice.fromFd adopts; EOF, EPIPE, errors', async () => {
    const r = await runScenario<Record<string, unknown>>('fdPass');
    expect(r.peer).toEqual({ pid: r.pid, uid: 0, gid: 0, groups: expect.any(Array) as unknown });
    expect(r.sent).toBe(3);
    expect(r.got).toEqual({ data: [1, 2, 3], hasFd: true });
    expect(r.linkAfterSenderClose).toBe(true);
    expect(r.adopted).toEqual({ name: 'ntfd0', fdSame: true });
    expect(r.ping).toBe(0);
    expect(r.replies).toBeGreaterThanOrEqual(2);
    expect(r.linkAfterClose).toBe(false);
    expect(r.notTun).toMatchObject({ syscall: 'ioctl(TUNGETIFF)' });
    expect(['ENOTTY', 'EINVAL']).toContain((r.notTun as ErrorInfo).code);
    expect(r.fileStillOpen).toBe(true);
    expect(r.noDevice).toMatchObject({ code: 'EBADFD', syscall: 'ioctl(TUNGETIFF)' });
    expect(r.plain).toBe(1);
    expect(r.noFd).toEqual({ data: [9], fd: -1 });
    expect(r.eof).toEqual({ eof: true, fd: -1 });
    expect(['EPIPE', 'ECONNRESET']).toContain((r.sendAfterPeerClosed as ErrorInfo | null)?.code);
    expect(r.missing).toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    const bad = r.badArgs as Record<string, ErrorInfo | null>;
    expect(bad.connectNumber).toMatchObject({ name: 'TypeError' });
    expect(bad.pathTooLong).toMatchObject({ name: 'RangeError' });
    expect(bad.sendFdNoData).toMatchObject({ name: 'RangeError' });
    expect(bad.closedSend).toMatchObject({ code: 'EBADF' });
    expect(bad.fromFdNegative).toMatchObject({ name: 'RangeError' });
    expect(bad.closeFdBad).toMatchObject({ code: 'EBADF' });
  });

  test("reports an unprivileged peer's uid, gid and groups; file modes still apply", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntunix-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const path = join(dir, 's.sock');
    const server = UnixSocket.listen(path);
    cleanups.push(() => server.close());
    chmodSync(path, 0o666);
    const seen: { peer: PeerCredentials; data: number[] }[] = [];
    const done = new Promise<void>((resolve) => {
      server.startAccepting(
        (conn) => {
          const entry = { peer: conn.peerCredentials(), data: [] as number[] };
          seen.push(entry);
          conn.startReading(
            (chunk) => {
              if (chunk === null) {
                conn.close();
                resolve();
              } else entry.data.push(...chunk);
            },
            () => resolve(),
          );
        },
        () => resolve(),
      );
    });
    const ok = await connectAsNobody(path);
    await done;
    expect(ok.code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.peer).toMatchObject({ uid: NOBODY, gid: NOBODY });
    expect(seen[0]!.peer.pid).toBeGreaterThan(1);
    expect(seen[0]!.peer.groups).not.toContain(0);
    expect(seen[0]!.data).toEqual([104, 105]);

    chmodSync(path, 0o600);
    const refused = await connectAsNobody(path);
    expect(refused).toEqual({ code: 3, stderr: 'EACCES' });
    expect(seen).toHaveLength(1);
  });
});
