// One validator per renderer→main message (the type `ArgValidators` makes a missing one a
// compile error). The renderer is sandboxed, but it renders data from the portal; main trusts
// nothing it sends.

import { z } from 'zod';
import type { ArgValidators, Validation } from '../../src-shared/ipc.js';
import { SETTING_LABELS } from '../../src-shared/settings-meta.js';
import { CAPTURE_MAX_SECONDS, CAPTURE_MIN_SECONDS } from '../engine/engine-host.js';
import { isSettingKey, settingsPatchSchema } from '../settings/settings-schema.js';

function from<T>(schema: z.ZodType<T, unknown>): (raw: unknown) => Validation<T> {
  return (raw) => {
    const r = schema.safeParse(raw);
    if (r.success) return { ok: true, value: r.data };
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, message: `${where}${issue?.message ?? 'invalid argument'}` };
  };
}

/** Settings changes: a problem with one key names that field, in words for the form. */
function settingsPatch(raw: unknown): Validation<z.output<typeof settingsPatchSchema>> {
  const r = settingsPatchSchema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const key = issue?.path[0];
  if (typeof key === 'string' && isSettingKey(key) && issue?.code !== 'unrecognized_keys') {
    return { ok: false, message: `${SETTING_LABELS[key]}: ${issue?.message ?? 'invalid value'}`, field: key };
  }
  return { ok: false, message: issue?.message ?? 'invalid settings' };
}

/** No argument: the renderer API sends `null`. */
const none = from(z.union([z.null(), z.undefined()]).transform((): void => undefined));
const resourceId = z.string().min(1).max(100);

export const ipcValidators: ArgValidators = {
  app: {
    getSnapshot: none,
    hideWindow: none,
    quit: none,
  },
  auth: {
    signIn: from(
      z.strictObject({ accountSlug: z.string().trim().min(1, 'Enter your account ID.').max(100) }),
    ),
    reopenBrowser: none,
    cancelSignIn: none,
    signOut: none,
  },
  tunnel: {
    connect: none,
    disconnect: none,
  },
  resources: {
    copyAddress: from(z.strictObject({ resourceId })),
    setFavorite: from(z.strictObject({ resourceId, favorite: z.boolean() })),
    setInternetResourceEnabled: from(z.strictObject({ enabled: z.boolean() })),
  },
  settings: {
    update: settingsPatch,
    reset: none,
  },
  logs: {
    export: none,
    clear: none,
    openFolder: none,
    write: from(
      z.strictObject({
        level: z.enum(['error', 'warn', 'info']),
        message: z
          .string()
          .max(10_000)
          .transform((m) => m.slice(0, 2000)),
      }),
    ),
    startCapture: from(
      z.strictObject({
        seconds: z.number().int('whole seconds only').min(CAPTURE_MIN_SECONDS).max(CAPTURE_MAX_SECONDS),
      }),
    ),
    stopCapture: none,
  },
  update: {
    check: none,
    download: none,
    installNow: none,
  },
};
