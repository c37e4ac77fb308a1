/**
 * Prints the one-line result of the wireguard-go interop test (written by wg-interop.test.ts),
 * so `npm run test:interop` ends with `wg-interop ok replies=<n> handshake_ms=<t>`.
 */
import { readFileSync } from 'node:fs';

const file = new URL('../artifacts/wg-interop.json', import.meta.url);
const summary = JSON.parse(readFileSync(file, 'utf8')) as {
  replies: number;
  handshakeMs: number;
  scenarios: string[];
};
const expected = ['no-psk', 'rekey', 'roaming', 'peer-initiates', 'psk'];
const missing = expected.filter((s) => !summary.scenarios.includes(s));
if (missing.length > 0 || !(summary.replies >= 1000) || !Number.isFinite(summary.handshakeMs)) {
  console.log(`wg-interop FAILED missing=${missing.join(',') || '-'} replies=${summary.replies}`);
  process.exit(1);
}
console.log(`wg-interop ok replies=${summary.replies} handshake_ms=${summary.handshakeMs.toFixed(1)}`);
