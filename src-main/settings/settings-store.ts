// The user's settings (a JSON file in the user-data directory) merged with the managed
// configuration: defaults < user file < managed file. Only the user's own layer is ever written,
// so removing a managed key gives the user their previous choice back.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type {
  SettingKey,
  Settings,
  SettingsProblem,
  SettingsState,
  UserError,
} from '../../src-shared/domain.js';
import { SETTING_LABELS } from '../../src-shared/settings-meta.js';
import type { ManagedConfig } from './managed-config.js';
import {
  DEFAULT_SETTINGS,
  SETTING_KEYS,
  isSettingKey,
  settingsPatchSchema,
  validateSetting,
} from './settings-schema.js';

export interface UserSettingsLoad {
  readonly values: Partial<Settings>;
  readonly problems: SettingsProblem[];
}

const userProblem = (code: string, message: string): SettingsProblem => ({ source: 'user', code, message });

/**
 * Reads the user's file. A missing file is normal (first run). A file that is not JSON is kept
 * aside as `<name>.corrupt-<time>` so nothing is lost, and the defaults apply.
 */
export async function loadUserSettings(file: string, now: number = Date.now()): Promise<UserSettingsLoad> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, problems: [] };
    return {
      values: {},
      problems: [
        userProblem(
          'settings-unreadable',
          `Your settings could not be read (${(e as Error).message}); the defaults apply.`,
        ),
      ],
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  } catch {
    const aside = `${file}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
    let kept = '';
    try {
      await fsp.rename(file, aside);
      kept = ` The damaged file was kept as ${path.basename(aside)}.`;
    } catch {
      // Read-only directory: the defaults still apply; the next save overwrites the file.
    }
    return {
      values: {},
      problems: [
        userProblem('settings-corrupt', `Your settings file was damaged, so the defaults apply.${kept}`),
      ],
    };
  }
  const values: Partial<Record<SettingKey, unknown>> = {};
  const invalid: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!isSettingKey(key)) continue; // a newer version's key: kept in the file, ignored here
    const r = validateSetting(key, value);
    if (r.ok) values[key] = r.value;
    else invalid.push(SETTING_LABELS[key]);
  }
  const problems = invalid.length
    ? [
        userProblem(
          'settings-invalid-value',
          `Some settings had invalid values and were reset: ${invalid.join(', ')}.`,
        ),
      ]
    : [];
  return { values: values as Partial<Settings>, problems };
}

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

export type UpdateResult = { ok: true; state: SettingsState } | { ok: false; error: UserError };

export class SettingsStore {
  #user: Partial<Settings>;
  #managed: ManagedConfig;
  #problems: SettingsProblem[];
  #state: SettingsState;
  #writeChain: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(state: SettingsState, changed: readonly SettingKey[]) => void>();

  private constructor(
    private readonly userFile: string,
    private readonly managedFile: string,
    user: UserSettingsLoad,
    managed: ManagedConfig,
  ) {
    this.#user = user.values;
    this.#managed = managed;
    this.#problems = [...user.problems, ...managed.problems];
    this.#state = this.#compute();
  }

  static async load(options: {
    userFile: string;
    managedFile: string;
    managed: ManagedConfig;
    now?: number;
  }): Promise<SettingsStore> {
    const user = await loadUserSettings(options.userFile, options.now);
    return new SettingsStore(options.userFile, options.managedFile, user, options.managed);
  }

  get state(): SettingsState {
    return this.#state;
  }

  get values(): Settings {
    return this.#state.values;
  }

  isLocked(key: SettingKey): boolean {
    return Object.hasOwn(this.#managed.values, key);
  }

  onChange(listener: (state: SettingsState, changed: readonly SettingKey[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies a partial change from the UI or the tray. Locked keys and invalid values are refused. */
  async update(patch: unknown): Promise<UpdateResult> {
    const parsed = settingsPatchSchema.safeParse(patch);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const key = issue?.path[0];
      const label = typeof key === 'string' && isSettingKey(key) ? SETTING_LABELS[key] : 'Settings';
      return {
        ok: false,
        error: {
          code: 'invalid-setting',
          message: `${label}: ${issue?.message ?? 'invalid value'}`,
          ...(typeof key === 'string' && isSettingKey(key) ? { field: key } : {}),
        },
      };
    }
    // A key sent as `undefined` (the schema's keys are optional) changes nothing: merged as is it
    // would replace the value with `undefined` and break every reader of that setting.
    const entries = (Object.entries(parsed.data) as [SettingKey, unknown][]).filter(
      ([, v]) => v !== undefined,
    );
    const lockedKeys = entries.filter(([k]) => this.isLocked(k)).map(([k]) => k);
    if (lockedKeys.length) {
      const labels = lockedKeys.map((k) => SETTING_LABELS[k]);
      return {
        ok: false,
        error: {
          code: 'setting-locked',
          message: `${labels.join(', ')} ${labels.length > 1 ? 'are' : 'is'} managed by your organisation and cannot be changed here.`,
          field: lockedKeys[0],
        },
      };
    }
    const before = this.#state.values;
    this.#user = { ...this.#user, ...Object.fromEntries(entries) };
    return this.#commit(before);
  }

  /** Every unlocked key back to its default; favourites stay. */
  async reset(): Promise<UpdateResult> {
    const before = this.#state.values;
    this.#user = this.#user.favoriteResourceIds
      ? { favoriteResourceIds: this.#user.favoriteResourceIds }
      : {};
    this.#problems = this.#problems.filter((p) => p.source === 'managed');
    return this.#commit(before);
  }

  async #commit(before: Settings): Promise<UpdateResult> {
    this.#state = this.#compute();
    const changed = SETTING_KEYS.filter(
      (k) => JSON.stringify(before[k]) !== JSON.stringify(this.#state.values[k]),
    );
    const userSnapshot = { ...this.#user };
    const write = this.#writeChain.then(() => writeJsonAtomic(this.userFile, userSnapshot));
    this.#writeChain = write.catch(() => {});
    try {
      await write;
    } catch (e) {
      // The change applies for this run; tell the user it will not survive a restart.
      this.#problems = [
        ...this.#problems.filter((p) => p.code !== 'settings-unwritable'),
        userProblem('settings-unwritable', `Settings could not be saved (${(e as Error).message}).`),
      ];
      this.#state = this.#compute();
    }
    for (const l of this.#listeners) l(this.#state, changed);
    return { ok: true, state: this.#state };
  }

  #compute(): SettingsState {
    return {
      values: { ...DEFAULT_SETTINGS, ...this.#user, ...this.#managed.values },
      defaults: DEFAULT_SETTINGS,
      locked: SETTING_KEYS.filter((k) => Object.hasOwn(this.#managed.values, k)),
      problems: this.#problems,
      files: { user: this.userFile, managed: this.managedFile },
    };
  }
}
