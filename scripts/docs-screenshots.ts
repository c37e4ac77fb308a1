/**
 * `npm run docs:screenshots`: regenerates the user guide's pictures. Runs the UI tests (which write
 * their screenshots to e2e/artifacts/ui/) and copies the chosen ones to docs/images/.
 *
 * `-- --no-run` only copies what the last UI run left. The `real-*.png` pictures come from
 * e2e/ui/real-engine.test.ts, which needs root; without them the older copies in docs/images/ stay.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** Screenshot of the UI tests → name in docs/images/ (referenced by docs/user-guide.md). */
export const CHOSEN: Readonly<Record<string, string>> = {
  '01-signed-out.png': 'signed-out.png',
  '02-signing-in.png': 'signing-in.png',
  '03-resources-search.png': 'resources.png',
  '04-diagnostics.png': 'diagnostics.png',
  '05-settings.png': 'settings.png',
  '05b-settings-advanced-error.png': 'settings-advanced.png',
  '06-logs.png': 'logs.png',
  '06b-logs-capture-running.png': 'capture.png',
  '07-about.png': 'about.png',
  '08-error-connect.png': 'error-connect.png',
  '09-signed-out-by-portal.png': 'signed-out-by-portal.png',
  'real-03-connected-resources.png': 'real-connected.png',
};

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const from = path.join(root, 'e2e', 'artifacts', 'ui');
const to = path.join(root, 'docs', 'images');

if (!process.argv.includes('--no-run')) {
  const run = spawnSync('npx', ['vitest', 'run', '--project', 'ui'], { cwd: root, stdio: 'inherit' });
  // A failed test does not stop the copy: the screenshots taken are still current; the exit code tells.
  if (run.status !== 0) process.exitCode = 1;
}
mkdirSync(to, { recursive: true });
let copied = 0;
const missing: string[] = [];
for (const [source, target] of Object.entries(CHOSEN)) {
  const file = path.join(from, source);
  if (existsSync(file)) {
    copyFileSync(file, path.join(to, target));
    copied++;
  } else {
    missing.push(source);
  }
}
console.log(
  `docs:screenshots copied=${copied} missing=${missing.length}${missing.length ? ` (${missing.join(', ')})` : ''}`,
);
