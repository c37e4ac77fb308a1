// The electron-builder configuration a build packages with: electron-builder.yml with its
// `protocols` replaced by the build's deep-link scheme (FZ_DEEP_LINK_SCHEME). Written as a JSON
// file for `electron-builder --config`, because electron-builder merges arrays of an `extends`
// chain or `-c` overrides (the default scheme would stay registered next to the chosen one).

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { electronBuilderProtocols } from './deep-link-scheme.js';

export type BuilderConfig = Record<string, unknown>;

export function electronBuilderConfig(baseYml: string, scheme: string): BuilderConfig {
  const base = parse(baseYml) as unknown;
  if (typeof base !== 'object' || base === null || Array.isArray(base))
    throw new Error('electron-builder.yml is not a mapping');
  return { ...(base as BuilderConfig), protocols: electronBuilderProtocols(scheme) };
}

/** Writes `electron-builder.json` into `dir` (outside the packed files) and returns its path. */
export async function writeElectronBuilderConfig(repo: string, dir: string, scheme: string): Promise<string> {
  const config = electronBuilderConfig(
    await readFile(path.join(repo, 'electron-builder.yml'), 'utf8'),
    scheme,
  );
  const file = path.join(dir, 'electron-builder.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}
