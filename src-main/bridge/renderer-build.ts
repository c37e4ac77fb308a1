// The renderer the bridge serves: Vite's production build of src-renderer, in a directory of the
// bridge's own (`dist/bridge/renderer-<hash>/`) named after a hash of its sources, so a changed
// renderer is rebuilt, an unchanged one is reused, and two bridges starting at once never write
// into the same directory (each builds into a private directory and renames it into place).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BRIDGE_DIST = path.join(REPO_ROOT, 'dist', 'bridge');
/** What the renderer bundle is built from. */
const SOURCES = ['src-renderer', 'src-shared', 'vite.config.ts', 'package-lock.json'];
/** Old builds not used for this long are removed when a new one is made. */
const STALE_MS = 24 * 60 * 60_000;

async function hashSources(root: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    const info = await stat(abs).catch(() => null);
    if (!info) return;
    if (info.isDirectory()) {
      for (const name of (await readdir(abs)).sort()) await walk(path.join(rel, name));
    } else if (info.isFile()) {
      hash
        .update(`${rel}\0`)
        .update(await readFile(abs))
        .update('\0');
    }
  };
  for (const s of SOURCES) await walk(s);
  return hash.digest('hex').slice(0, 16);
}

/** Returns a directory holding the built renderer (index.html + assets), building it when needed. */
export async function ensureRendererBuild(log: (line: string) => void = () => {}): Promise<string> {
  const key = await hashSources(REPO_ROOT);
  const dir = path.join(BRIDGE_DIST, `renderer-${key}`);
  if (existsSync(path.join(dir, 'index.html'))) return dir;
  log('building the renderer (vite)…');
  await mkdir(BRIDGE_DIST, { recursive: true });
  const tmp = path.join(BRIDGE_DIST, `.building-${process.pid}-${Date.now()}`);
  const { build } = await import('vite');
  // Under vitest NODE_ENV is `test`, which would bundle React's development build: serve what ships.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(REPO_ROOT, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'warn',
      build: { outDir: tmp, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  try {
    await rename(tmp, dir);
  } catch (e) {
    // Another bridge finished the same build first: use its copy.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'index.html'))) throw e;
  }
  await pruneOldBuilds(dir);
  return dir;
}

async function pruneOldBuilds(keep: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(BRIDGE_DIST).catch(() => [] as string[])) {
    const abs = path.join(BRIDGE_DIST, name);
    if (abs === keep || !/^renderer-[0-9a-f]+$/.test(name)) continue;
    const info = await stat(abs).catch(() => null);
    if (info && now - info.mtimeMs > STALE_MS) await rm(abs, { recursive: true, force: true });
  }
}
