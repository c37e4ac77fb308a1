// Builds the app into dist/: main (ESM) and preload (CommonJS, sandboxed preloads cannot load
// ES modules) with esbuild, the renderer with Vite. Run with `tsx src-main/tools/build-app.ts`.

import { build as esbuild } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as viteBuild } from 'vite';
import { buildHelper } from '../../src-helper/build.js';
import { deepLinkDefine, resolveDeepLinkScheme } from './deep-link-scheme.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BuildOptions {
  readonly outDir?: string;
  readonly minify?: boolean;
  readonly quiet?: boolean;
  /** The sign-in deep-link scheme built into main; default: `FZ_DEEP_LINK_SCHEME` or the project's. */
  readonly deepLinkScheme?: string;
  /** Receives the source files bundled into main (repository-relative), e.g. to check what ships. */
  readonly onMainInputs?: (inputs: readonly string[]) => void;
}

export async function buildApp(o: BuildOptions = {}): Promise<string> {
  // First: an invalid FZ_DEEP_LINK_SCHEME must fail before the previous build is removed.
  const scheme = o.deepLinkScheme ?? resolveDeepLinkScheme();
  const out = o.outDir ?? path.join(REPO, 'dist');
  await rm(path.join(out, 'main'), { recursive: true, force: true });
  await rm(path.join(out, 'preload'), { recursive: true, force: true });
  const common = {
    bundle: true,
    platform: 'node' as const,
    sourcemap: 'linked' as const,
    minify: o.minify ?? false,
    logLevel: o.quiet ? ('warning' as const) : ('info' as const),
    absWorkingDir: REPO,
    define: deepLinkDefine(scheme),
  };
  const [main] = await Promise.all([
    esbuild({
      ...common,
      metafile: true,
      entryPoints: [path.join(REPO, 'src-main/electron/index.ts')],
      outfile: path.join(out, 'main/index.js'),
      format: 'esm',
      // Electron 41 ships Node 24.
      target: 'node22',
      // npm packages stay in node_modules (electron-builder packs the production ones).
      packages: 'external',
    }),
    // The engine worker, next to main: main starts it with `new Worker(<dir of main>/engine-worker.js)`.
    esbuild({
      ...common,
      entryPoints: [path.join(REPO, 'src-main/engine/worker/client-worker.ts')],
      outfile: path.join(out, 'main/engine-worker.js'),
      format: 'esm',
      target: 'node22',
      packages: 'external',
    }),
    esbuild({
      ...common,
      entryPoints: [path.join(REPO, 'src-main/electron/preload.ts')],
      outfile: path.join(out, 'preload/preload.cjs'),
      format: 'cjs',
      target: 'chrome130',
      external: ['electron'],
    }),
  ]);
  o.onMainInputs?.(Object.keys(main.metafile.inputs));
  // The privileged TUN helper the Linux packages install as a service (dist/tun-helper).
  await buildHelper();
  await viteBuild({
    configFile: path.join(REPO, 'vite.config.ts'),
    logLevel: o.quiet ? 'warn' : 'info',
    build: { outDir: path.join(out, 'renderer'), emptyOutDir: true },
  });
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  buildApp({ minify: process.argv.includes('--minify') }).then(
    (out) =>
      console.log(
        `built ${path.relative(REPO, out) || '.'}/{main,preload,renderer} in ${Date.now() - started} ms (deep link ${resolveDeepLinkScheme()}://)`,
      ),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
