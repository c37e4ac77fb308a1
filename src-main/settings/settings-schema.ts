// Validation rules for settings: one zod schema per key, used for the user's file, the managed
// configuration and every `settings:update` call from the renderer.

import { z } from 'zod';
import { LOG_LEVELS, THEMES, type SettingKey, type Settings } from '../../src-shared/domain.js';

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  startOnLogin: false,
  connectOnStart: true,
  theme: 'system',
  accountSlug: '',
  internetResourceEnabled: false,
  favoriteResourceIds: Object.freeze([]) as readonly string[],
  portalUrl: 'wss://api.fzdesktop.dev',
  authUrl: 'https://app.fzdesktop.dev',
  logLevel: 'info',
  updateFeedUrl: '',
  autoUpdate: true,
});

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/**
 * A URL with one of the secure schemes, or the insecure twin for loopback only (the dev portal):
 * a token must never travel in clear text over a network.
 */
function urlRule(secure: string, insecure: string, what: string) {
  return z
    .string()
    .trim()
    .max(2048)
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `Enter a full URL, e.g. ${secure}//${what}` });
        return;
      }
      if (url.username || url.password) {
        ctx.addIssue({ code: 'custom', message: 'The URL must not contain a user name or password.' });
      } else if (url.hash || url.search) {
        ctx.addIssue({ code: 'custom', message: 'The URL must not contain a query or a fragment.' });
      } else if (url.protocol === insecure) {
        if (!isLoopbackHost(url.hostname)) {
          ctx.addIssue({
            code: 'custom',
            message: `Use ${secure}// — ${insecure}// is only allowed for this computer (localhost).`,
          });
        }
      } else if (url.protocol !== secure) {
        ctx.addIssue({ code: 'custom', message: `The URL must start with ${secure}//` });
      }
    });
}

export const SETTING_SCHEMAS = {
  startOnLogin: z.boolean(),
  connectOnStart: z.boolean(),
  theme: z.enum(THEMES),
  accountSlug: z
    .string()
    .trim()
    .max(100)
    .regex(/^$|^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'Use letters, digits, “-” and “_” only.'),
  internetResourceEnabled: z.boolean(),
  favoriteResourceIds: z.array(z.string().min(1).max(100)).max(10_000),
  portalUrl: urlRule('wss:', 'ws:', 'api.example.com'),
  authUrl: urlRule('https:', 'http:', 'app.example.com'),
  logLevel: z.enum(LOG_LEVELS),
  updateFeedUrl: z.union([z.literal(''), urlRule('https:', 'http:', 'updates.example.com/fz-desktop')]),
  autoUpdate: z.boolean(),
} satisfies { [K in SettingKey]: z.ZodType<Settings[K], unknown> };

export const settingsPatchSchema = z.strictObject(SETTING_SCHEMAS).partial();

export type SettingsPatch = Partial<Settings>;

export const SETTING_KEYS = Object.keys(SETTING_SCHEMAS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.hasOwn(SETTING_SCHEMAS, key);
}

/** Validates one key's value; the message is for people. */
export function validateSetting<K extends SettingKey>(
  key: K,
  value: unknown,
): { ok: true; value: Settings[K] } | { ok: false; message: string } {
  const r = (SETTING_SCHEMAS[key] as unknown as z.ZodType<Settings[K], unknown>).safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, message: r.error.issues[0]?.message ?? 'Invalid value.' };
}
