// The deep-link scheme as a build setting: validated from FZ_DEEP_LINK_SCHEME, compiled into main
// by esbuild's `define`, and registered by the electron-builder configuration the package uses.

import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEEP_LINK_SCHEME, DEFAULT_DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { REPO } from './build-app.js';
import { electronBuilderConfig } from './builder-config.js';
import { deepLinkDefine, resolveDeepLinkScheme } from './deep-link-scheme.js';

const FIREZONE = 'firezone-fd0020211111';

describe('FZ_DEEP_LINK_SCHEME', () => {
  it('defaults to the project scheme; unbuilt code (tests, dev runs) uses it', () => {
    expect(resolveDeepLinkScheme({})).toBe(DEFAULT_DEEP_LINK_SCHEME);
    expect(resolveDeepLinkScheme({ FZ_DEEP_LINK_SCHEME: '  ' })).toBe(DEFAULT_DEEP_LINK_SCHEME);
    expect(DEEP_LINK_SCHEME).toBe(DEFAULT_DEEP_LINK_SCHEME);
  });

  it("accepts RFC 3986 schemes such as Firezone's, lower-cased", () => {
    expect(resolveDeepLinkScheme({ FZ_DEEP_LINK_SCHEME: FIREZONE })).toBe(FIREZONE);
    expect(resolveDeepLinkScheme({ FZ_DEEP_LINK_SCHEME: 'Corp.VPN+sso-2' })).toBe('corp.vpn+sso-2');
  });

  it.each([
    ['2fa', 'starts with a digit'],
    ['fz_desktop', 'underscore'],
    ['fz desktop', 'space'],
    ['fz://x', 'not just a scheme'],
    ['é-client', 'non-ASCII'],
    ['a'.repeat(65), 'too long'],
  ])('refuses %j (%s)', (value) => {
    expect(() => resolveDeepLinkScheme({ FZ_DEEP_LINK_SCHEME: value })).toThrow(/is not a URL scheme/);
  });

  it.each(['https', 'FILE', 'app', 'javascript'])(
    'refuses %j, a scheme the system or the app owns',
    (value) => {
      expect(() => resolveDeepLinkScheme({ FZ_DEEP_LINK_SCHEME: value })).toThrow(/already uses/);
    },
  );
});

describe('the build', () => {
  it('compiles the chosen scheme into DEEP_LINK_SCHEME (esbuild define, as build-app does)', async () => {
    const result = await build({
      stdin: {
        contents: "export { DEEP_LINK_SCHEME } from './src-shared/ipc.ts';",
        resolveDir: REPO,
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      logLevel: 'silent',
      define: deepLinkDefine(FIREZONE),
    });
    const code = result.outputFiles[0]!.text;
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as {
      DEEP_LINK_SCHEME: string;
    };
    expect(mod.DEEP_LINK_SCHEME).toBe(FIREZONE);
  });

  it('packages with electron-builder.yml, its protocols replaced by the chosen scheme only', () => {
    const yml = readFileSync(path.join(REPO, 'electron-builder.yml'), 'utf8');
    const base = parse(yml) as Record<string, unknown>;
    const config = electronBuilderConfig(yml, FIREZONE);
    expect(config.protocols).toEqual([{ name: 'FZ Desktop sign-in', role: 'Viewer', schemes: [FIREZONE] }]);
    const { protocols: _a, ...rest } = config;
    const { protocols: _b, ...baseRest } = base;
    expect(rest).toEqual(baseRest);
    // The file itself registers the default, for plain `electron-builder` runs.
    expect(base.protocols).toEqual(electronBuilderConfig(yml, DEFAULT_DEEP_LINK_SCHEME).protocols);
    expect(() => electronBuilderConfig('- a list', FIREZONE)).toThrow(/not a mapping/);
  });
});
