// Bundles the page's bridge client (client/bridge-client.ts: `window.fz` over the WebSocket) into
// one classic script, as the e2e harness bundles its mock preload. It is served from the bridge's
// own origin, so the strict `script-src 'self'` holds.

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'client', 'bridge-client.ts');

export async function bundleBridgeClient(outfile: string): Promise<void> {
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    format: 'iife',
    target: 'chrome130',
    logLevel: 'warning',
    legalComments: 'none',
  });
}
