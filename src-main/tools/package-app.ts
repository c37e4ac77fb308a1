// Builds the app and its installers with the build's settings: the sign-in deep-link scheme
// (FZ_DEEP_LINK_SCHEME) goes into main and into the packages' URL-handler registration alike.
//
//   FZ_DEEP_LINK_SCHEME=firezone-fd0020211111 npm run package -- --linux deb rpm AppImage
//
// Arguments go to electron-builder (default `--linux`); it needs the Electron binary.

import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp, REPO } from './build-app.js';
import { writeElectronBuilderConfig } from './builder-config.js';
import { resolveDeepLinkScheme } from './deep-link-scheme.js';

async function main(args: string[]): Promise<void> {
  // Refuse a bad scheme before spending minutes on a build.
  const scheme = resolveDeepLinkScheme();
  await buildApp({ minify: true, deepLinkScheme: scheme });
  const work = await mkdtemp(path.join(tmpdir(), 'fz-package-'));
  try {
    const config = await writeElectronBuilderConfig(REPO, work, scheme);
    console.log(`packaging with the deep-link scheme ${scheme}://`);
    execFileSync(
      process.execPath,
      [
        path.join(REPO, 'node_modules/electron-builder/cli.js'),
        ...(args.length ? args : ['--linux']),
        '--config',
        config,
      ],
      { cwd: REPO, stdio: 'inherit' },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
