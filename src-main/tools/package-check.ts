// Runs electron-builder on electron-builder.yml as far as a machine without the Electron binary
// allows, and checks what it produced. A stub stands in for Electron: a shell script that
// carries Electron's fuse wire, so the config is validated, the app is packed (asar, unpacked
// natives, extra resources, app-update.yml) and the fuses are flipped exactly as for a release.
//
//   tsx src-main/tools/package-check.ts          (ELECTRON_BUILDER_7ZIP_PATH=/usr/bin/7za offline)
//
// Where the real binary exists, `npx electron-builder --linux` builds the installers instead.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { buildHelper } from '../../src-helper/build.js';
import { buildApp, REPO } from './build-app.js';
import { writeElectronBuilderConfig } from './builder-config.js';
import { resolveDeepLinkScheme } from './deep-link-scheme.js';

const run = promisify(execFile);
/** @electron/fuses: the marker before the fuse wire in the Electron binary. */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Fuse order (FuseV1Options): what electron-builder.yml asks for, '0' off / '1' on. */
const EXPECTED_FUSES: readonly [string, string][] = [
  ['RunAsNode', '0'],
  ['EnableCookieEncryption', '1'],
  ['EnableNodeOptionsEnvironmentVariable', '0'],
  ['EnableNodeCliInspectArguments', '0'],
  ['EnableEmbeddedAsarIntegrityValidation', '1'],
  ['OnlyLoadAppFromAsar', '1'],
  ['LoadBrowserProcessSpecificV8Snapshot', '0'],
  ['GrantFileProtocolExtraPrivileges', '0'],
];

async function makeStubElectron(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Electron's defaults: run-as-node on, cookie encryption off, NODE_OPTIONS on, inspect on…
  const wire = Buffer.concat([Buffer.from(FUSE_SENTINEL), Buffer.from([1, 8]), Buffer.from('10110001')]);
  const script = Buffer.concat([
    Buffer.from(
      '#!/bin/sh\necho "stub Electron: the real binary is not installed on this machine" >&2\nexit 1\n# ',
    ),
    wire,
    Buffer.from('\n'),
  ]);
  await writeFile(path.join(dir, 'electron'), script);
  await chmod(path.join(dir, 'electron'), 0o755);
  await writeFile(path.join(dir, 'LICENSE'), 'stub\n');
  await writeFile(path.join(dir, 'version'), '41.10.0');
}

/** `getcap` of a file ('' when it has none, or when getcap is not installed: then the xattr). */
async function fileCapability(file: string): Promise<string> {
  const getcap = ['/usr/sbin/getcap', '/sbin/getcap'].find((p) => existsSync(p));
  if (getcap) return (await run(getcap, [file])).stdout.trim();
  const attr = await run('/usr/bin/getfattr', ['-n', 'security.capability', file]).catch(() => ({
    stdout: '',
  }));
  return attr.stdout.trim();
}

/** The deb/rpm scripts grant no capability and touch no library path; they install the helper. */
async function checkInstallScripts(expect: (ok: boolean, what: string) => void): Promise<void> {
  const config = parse(await readFile(path.join(REPO, 'electron-builder.yml'), 'utf8')) as Record<
    string,
    { afterInstall?: string; afterRemove?: string; depends?: string[] }
  >;
  for (const kind of ['deb', 'rpm']) {
    for (const key of ['afterInstall', 'afterRemove'] as const) {
      const file = config[kind]?.[key];
      if (!file) continue;
      const script = await readFile(path.join(REPO, file), 'utf8');
      expect(!/\bsetcap\b/.test(script), `${kind} ${key} (${file}) runs no setcap`);
      expect(
        !/>>?\s*"?\/etc\/ld\.so\.conf\.d/.test(script),
        `${kind} ${key} writes nothing to /etc/ld.so.conf.d`,
      );
    }
    const install = await readFile(path.join(REPO, config[kind]!.afterInstall!), 'utf8');
    expect(
      /fz-tun-helper\.service/.test(install) && /systemctl enable fz-tun-helper/.test(install),
      `${kind} after-install enables fz-tun-helper.service`,
    );
    expect(/groupadd --system "\$group"/.test(install), `${kind} after-install creates the group fz-tunnel`);
  }
  expect(!config.deb?.depends?.includes('libcap2-bin'), 'the deb no longer depends on libcap2-bin');
}

export async function packageCheck(): Promise<string[]> {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) problems.push(what);
  };
  let mainInputs: readonly string[] = [];
  // FZ_DEEP_LINK_SCHEME, as `npm run package` uses it: into main and into `protocols` alike.
  const scheme = resolveDeepLinkScheme();
  await buildApp({ quiet: true, deepLinkScheme: scheme, onMainInputs: (inputs) => (mainInputs = inputs) });
  await buildHelper();
  await checkInstallScripts(expect);
  // The app runs the client engine only: the portal's server code (signalling core, simulation
  // portal, sign-in, store) must never be bundled into it.
  expect(mainInputs.length > 0, `main bundle inputs recorded (${mainInputs.length})`);
  const portalInputs = mainInputs.filter((f) => f.replaceAll('\\', '/').startsWith('src-portal/'));
  expect(
    portalInputs.length === 0,
    `the app bundle holds no src-portal code (${portalInputs.join(', ') || 'none'})`,
  );
  const work = await mkdtemp(path.join(tmpdir(), 'fz-package-'));
  try {
    const stub = path.join(work, 'electron-stub');
    const out = path.join(work, 'out');
    await makeStubElectron(stub);
    const builderConfig = await writeElectronBuilderConfig(REPO, work, scheme);
    const env = { ...process.env };
    if (!env.ELECTRON_BUILDER_7ZIP_PATH && existsSync('/usr/bin/7za'))
      env.ELECTRON_BUILDER_7ZIP_PATH = '/usr/bin/7za';
    const started = Date.now();
    const { stdout, stderr } = await run(
      process.execPath,
      [
        path.join(REPO, 'node_modules/electron-builder/cli.js'),
        '--linux',
        'dir',
        '--config',
        builderConfig,
        `-c.electronDist=${stub}`,
        // Do not rebuild native modules in the shared checkout (N-API addons need no rebuild).
        '-c.npmRebuild=false',
        `-c.directories.output=${out}`,
      ],
      { cwd: REPO, env, maxBuffer: 16 * 1024 * 1024 },
    ).catch((e: { stdout?: string; stderr?: string; message: string }) => {
      console.error(e.stdout ?? '', e.stderr ?? '');
      throw new Error(`electron-builder failed: ${e.message}`);
    });
    if (process.env.VERBOSE) console.log(stdout, stderr);
    console.log(`electron-builder --linux dir: ${Date.now() - started} ms`);

    const app = path.join(out, 'linux-unpacked');
    const resources = path.join(app, 'resources');
    const exe = path.join(app, 'fz-desktop');
    expect(existsSync(exe), 'executable linux-unpacked/fz-desktop');

    const binary = await readFile(exe);
    const at = binary.indexOf(FUSE_SENTINEL) + FUSE_SENTINEL.length;
    const fuses = binary.subarray(at + 2, at + 2 + EXPECTED_FUSES.length).toString();
    for (const [i, [name, want]] of EXPECTED_FUSES.entries()) {
      expect(fuses[i] === want, `fuse ${name} = ${want === '1' ? 'on' : 'off'}`);
    }

    const asar = createRequire(import.meta.url)('@electron/asar') as {
      listPackage(p: string, o: object): string[];
      extractFile(archive: string, file: string): Buffer;
    };
    const files = asar.listPackage(path.join(resources, 'app.asar'), {}).map((f) => f.replaceAll('\\', '/'));
    for (const f of [
      '/package.json',
      '/dist/main/index.js',
      '/dist/main/engine-worker.js',
      '/dist/preload/preload.cjs',
      '/dist/renderer/index.html',
    ]) {
      expect(files.includes(f), `app.asar contains ${f}`);
    }
    expect(
      !files.some((f) => f.startsWith('/dist/') && f.endsWith('.map')),
      'app.asar has no source maps of the app',
    );
    expect(!files.some((f) => f.startsWith('/dist/installers')), 'app.asar does not contain the installers');
    expect(
      files.includes('/node_modules/electron-updater/package.json'),
      'app.asar contains electron-updater',
    );
    const portalOnly = ['better-sqlite3', 'yaml', 'openid-client', 'oauth4webapi', 'jose'];
    expect(
      !files.some((f) => portalOnly.some((name) => f.startsWith(`/node_modules/${name}/`))),
      `app.asar leaves out the portal-only modules (${portalOnly.join(', ')})`,
    );

    expect(
      !files.some((f) => f.startsWith('/src-portal/') || f.startsWith('/src-engine/')),
      'app.asar holds no source folders (src-portal, src-engine)',
    );

    const main = asar.extractFile(path.join(resources, 'app.asar'), 'dist/main/index.js').toString();
    expect(main.includes(JSON.stringify(scheme)), `main registers the deep-link scheme ${scheme}://`);

    const tray = (await readdir(path.join(resources, 'tray'))).filter((f) => f.endsWith('.png'));
    expect(tray.length === 20, `resources/tray has the 20 tray icons (${tray.length})`);
    expect(existsSync(path.join(resources, 'icons', '256x256.png')), 'resources/icons/256x256.png');
    // The privileged helper ships beside the app, the app binary itself gets no capability.
    for (const f of ['fz-tun-helper.cjs', 'node_tun.node', 'fz-tun-helper.service'])
      expect(existsSync(path.join(resources, 'tun-helper', f)), `resources/tun-helper/${f}`);
    const unit = await readFile(path.join(resources, 'tun-helper', 'fz-tun-helper.service'), 'utf8');
    expect(
      /^ExecStart=\/usr\/bin\/node "@APP_DIR@\/resources\/tun-helper\/fz-tun-helper\.cjs"/m.test(unit),
      'fz-tun-helper.service runs the bundled helper with the system Node',
    );
    expect((await fileCapability(exe)) === '', 'no file capability on the Electron binary');
    const update = await readFile(path.join(resources, 'app-update.yml'), 'utf8');
    expect(/provider: generic/.test(update), 'app-update.yml: generic update feed');
    return problems;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  packageCheck().then(
    (problems) => {
      if (problems.length) {
        console.error(`package check: ${problems.length} problem(s)`);
        process.exit(1);
      }
      console.log('package check: electron-builder.yml validates and packs the app (with a stub Electron)');
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
