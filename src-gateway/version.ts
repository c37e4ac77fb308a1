import { readFileSync } from 'node:fs';

/**
 * The version this gateway reports in its User-Agent (`gateway/<version>`): the package version.
 * The portal only pairs clients with gateways of a compatible minor version (PROTOCOL.md §3.10).
 */
export const GATEWAY_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
