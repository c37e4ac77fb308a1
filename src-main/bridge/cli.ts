/**
 * The development bridge (`npm run bridge -- …`): the app's main-process logic and engine without
 * Electron, its window served to a browser on loopback. Prints `bridge ready <url>` (the URL carries
 * the per-run secret in its fragment), then main's log. Ctrl-C or SIGTERM stops it cleanly.
 *
 * Exit codes: 0 stopped, 1 failed to start, 2 usage.
 */
import { parseArgs } from 'node:util';
import type { Settings } from '../../src-shared/domain.js';
import { createEngineHost } from '../engine/create-engine-host.js';
import { startBridge, type Bridge } from './bridge.js';

export const USAGE = `fz-bridge: the desktop app's main process and engine without Electron; its window in a browser.

Usage: npm run bridge -- [options]

Options:
      --port <n>             TCP port on the loopback host (default 0: a free one)
      --host <addr>          127.0.0.1 (default), ::1 or localhost; nothing else
      --user-data-dir <dir>  the app's profile (settings, logs, engine state; default: a new temp dir)
      --simulated-engine     the simulated engine (50 demo resources) instead of the real one
                             (FZ_ENGINE=simulated does the same)
      --portal-url <url>     preset the portal URL setting (ws:// on loopback, wss:// elsewhere)
      --auth-url <url>       preset the sign-in page URL setting
      --account <slug>       preset the account ID
      --unix-socket <path>   also serve on this Unix socket (for a port forwarded from another
                             network namespace)
      --allowed-origin <o>   another page origin that may connect, e.g. http://127.0.0.1:8090
                             (where that forwarded port is opened); repeatable
  -h, --help

Deliver the portal's sign-in redirect (a browser cannot open our scheme) with:
  curl -H "Authorization: Bearer <secret>" --data-binary '<scheme>://handle_client_sign_in_callback?…' \\
       http://127.0.0.1:<port>/os/open-url
`;

function fail(message: string): never {
  process.stderr.write(`fz-bridge: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'user-data-dir': { type: 'string' },
        'simulated-engine': { type: 'boolean' },
        'portal-url': { type: 'string' },
        'auth-url': { type: 'string' },
        account: { type: 'string' },
        'unix-socket': { type: 'string' },
        'allowed-origin': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`--port must be 0–65535 (got ${values.port})`);
  const settings: Partial<Settings> = {
    ...(values['portal-url'] ? { portalUrl: values['portal-url'] } : {}),
    ...(values['auth-url'] ? { authUrl: values['auth-url'] } : {}),
    ...(values.account ? { accountSlug: values.account } : {}),
  };
  const print = (line: string) => process.stdout.write(`${line}\n`);

  let bridge: Bridge | null = null;
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) process.exit(code);
    stopping = true;
    print('bridge stopping');
    void (bridge?.close() ?? Promise.resolve()).then(
      () => process.exit(code),
      (e: unknown) => {
        process.stderr.write(`fz-bridge: stop failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));

  try {
    bridge = await startBridge({
      engine: (userDataDir) =>
        createEngineHost({
          userDataDir,
          argv: values['simulated-engine'] ? ['--simulated-engine'] : [],
        }),
      host: values.host,
      port,
      unixSocket: values['unix-socket'],
      allowedOrigins: values['allowed-origin'],
      userDataDir: values['user-data-dir'],
      settings,
      print,
      echoLogs: true,
      // Log exports and captures the person saved stay after Ctrl-C.
      keepRunDir: true,
      onQuit: () => process.exit(0),
    });
  } catch (e) {
    process.stderr.write(`fz-bridge: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  }
  if (stopping) return;
  print(`files the app saves (log exports, captures) go to ${bridge.saveDir}`);
  if (values['unix-socket']) print(`also serving on ${values['unix-socket']}`);
  print(`bridge ready ${bridge.url}`);
}

void main();
