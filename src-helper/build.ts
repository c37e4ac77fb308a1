/**
 * Bundles the helper for the packages: dist/tun-helper/fz-tun-helper.cjs (one CommonJS file,
 * Node 18+) with node-tun's addon beside it as node_tun.node. The Electron binary cannot run it
 * (its RunAsNode fuse is off, on purpose), so the packages start it with the system's Node.
 *
 *   tsx src-helper/build.ts          (src-main/tools/package-check.ts runs it before packing)
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HELPER_OUT = path.join(REPO, 'dist/tun-helper');

export async function buildHelper(): Promise<string> {
  await mkdir(HELPER_OUT, { recursive: true });
  const outfile = path.join(HELPER_OUT, 'fz-tun-helper.cjs');
  await build({
    entryPoints: [path.join(REPO, 'src-helper/cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    logLevel: 'warning',
    // import.meta.url in CommonJS: the bundle's own file URL (cli.ts's main check, createRequire).
    banner: { js: "const __import_meta_url = require('url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__import_meta_url' },
    plugins: [
      {
        // node-tun loads its addon through node-gyp-build relative to its own folder; in the
        // bundle the addon sits next to the helper instead.
        name: 'node-tun-addon',
        setup(b) {
          b.onResolve({ filter: /^node-tun$/ }, () => ({ path: 'node-tun', namespace: 'node-tun-addon' }));
          b.onLoad({ filter: /.*/, namespace: 'node-tun-addon' }, () => ({
            contents: "module.exports = require(require('path').join(__dirname, 'node_tun.node'));",
            loader: 'js',
          }));
        },
      },
    ],
  });
  await copyFile(
    path.join(REPO, 'native/node-tun/build/Release/node_tun.node'),
    path.join(HELPER_OUT, 'node_tun.node'),
  );
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildHelper().then(
    (out) => console.log(`built ${path.relative(REPO, out)}`),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
