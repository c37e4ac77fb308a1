// Managed (administrator) configuration: a JSON file that only an administrator can write.
// Each valid key overrides the user's value and locks it in the UI. The file is optional; a
// file that cannot be trusted or parsed is ignored as a whole, a key that fails validation is
// ignored on its own — both with a message in the log and in Settings.
//
//   Linux    /etc/fz-desktop/managed.json                    (root-owned, not group/world-writable)
//   macOS    /Library/Application Support/FZ Desktop/managed.json   (same check)
//   Windows  %ProgramData%\FZ Desktop\managed.json           (ACLs are the administrator's job)
//
// Example:  { "portalUrl": "wss://portal.corp.example", "authUrl": "https://portal.corp.example",
//             "accountSlug": "corp", "autoUpdate": true }

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { SettingKey, Settings, SettingsProblem } from '../../src-shared/domain.js';
import { MANAGEABLE_KEYS, SETTING_LABELS } from '../../src-shared/settings-meta.js';
import { isSettingKey, validateSetting } from './settings-schema.js';

export interface ManagedConfig {
  readonly values: Partial<Settings>;
  readonly problems: readonly SettingsProblem[];
}

export const MAX_MANAGED_FILE_BYTES = 64 * 1024;

export function managedConfigPath(platform: NodeJS.Platform, env: NodeJS.ProcessEnv = process.env): string {
  switch (platform) {
    case 'win32':
      return path.win32.join(env.ProgramData ?? 'C:\\ProgramData', 'FZ Desktop', 'managed.json');
    case 'darwin':
      return '/Library/Application Support/FZ Desktop/managed.json';
    default:
      return '/etc/fz-desktop/managed.json';
  }
}

const problem = (code: string, message: string): SettingsProblem => ({ source: 'managed', code, message });

/** Validates the parsed JSON of a managed file, key by key. Pure; used by `loadManagedConfig`. */
export function parseManagedConfig(raw: unknown, file: string): ManagedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      values: {},
      problems: [problem('managed-invalid', `${file} must contain a JSON object; it was ignored.`)],
    };
  }
  const values: Partial<Record<SettingKey, unknown>> = {};
  const problems: SettingsProblem[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!isSettingKey(key) || !MANAGEABLE_KEYS.includes(key)) {
      problems.push(
        problem('managed-unknown-key', `${file}: “${key}” is not a managed setting; it was ignored.`),
      );
      continue;
    }
    const r = validateSetting(key, value);
    if (r.ok) values[key] = r.value;
    else {
      problems.push(
        problem(
          'managed-invalid-value',
          `${file}: ${SETTING_LABELS[key]} (“${key}”) was ignored: ${r.message}`,
        ),
      );
    }
  }
  return { values: values as Partial<Settings>, problems };
}

export interface ManagedFileSystem {
  stat(file: string): Promise<{ uid: number; mode: number; size: number; isFile(): boolean }>;
  readFile(file: string, encoding: 'utf8'): Promise<string>;
}

export async function loadManagedConfig(
  file: string,
  platform: NodeJS.Platform,
  fs: ManagedFileSystem = fsp,
): Promise<ManagedConfig> {
  let st: Awaited<ReturnType<ManagedFileSystem['stat']>>;
  try {
    st = await fs.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, problems: [] };
    return {
      values: {},
      problems: [problem('managed-unreadable', `${file} could not be read; it was ignored.`)],
    };
  }
  if (!st.isFile() || st.size > MAX_MANAGED_FILE_BYTES) {
    return {
      values: {},
      problems: [problem('managed-invalid', `${file} is not a regular file under 64 KiB; it was ignored.`)],
    };
  }
  // Only an administrator may lock settings: on POSIX the file must be root's and writable by
  // nobody else. Otherwise any local user could "manage" the portal URL for everyone.
  if (platform !== 'win32' && (st.uid !== 0 || (st.mode & 0o022) !== 0)) {
    return {
      values: {},
      problems: [
        problem(
          'managed-untrusted',
          `${file} is ignored: it must be owned by root and not writable by group or others.`,
        ),
      ],
    };
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return {
      values: {},
      problems: [problem('managed-unreadable', `${file} could not be read; it was ignored.`)],
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    return {
      values: {},
      problems: [
        problem('managed-invalid', `${file} is not valid JSON (${(e as Error).message}); it was ignored.`),
      ],
    };
  }
  return parseManagedConfig(raw, file);
}
