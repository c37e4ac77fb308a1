/**
 * IPC from the renderer: random arguments for every renderer→main channel go through main's
 * router (validation, then the handler) of a test app with fake engine and platform. A reference
 * model of each channel's argument shape, written independently of the zod validators, says
 * whether the argument is valid: an invalid one must be refused with `invalid-argument`, a valid
 * one must pass validation, and no call may throw or fail with an internal error.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LOG_LEVELS, THEMES } from '../../src-shared/domain.js';
import { listChannels } from '../../src-shared/ipc.js';
import { createTestApp, type TestApp } from '../../src-main/testing/test-app.js';
import type { FuzzTarget } from '../target.js';

type Shape = (arg: unknown) => boolean;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Exactly these keys (all required unless listed in `optional`), each passing its check. */
function exact(fields: Record<string, Shape>, optional = false): Shape {
  return (arg) => {
    if (!isRecord(arg)) return false;
    const keys = Object.keys(arg);
    if (keys.some((k) => !Object.hasOwn(fields, k))) return false;
    return Object.entries(fields).every(([k, check]) =>
      // An optional key given as `undefined` counts as absent (structured clone keeps it).
      Object.hasOwn(arg, k) && !(optional && arg[k] === undefined) ? check(arg[k]) : optional,
    );
  };
}

const str =
  (min: number, max: number): Shape =>
  (v) =>
    typeof v === 'string' && v.length >= min && v.length <= max;
const bool: Shape = (v) => typeof v === 'boolean';
const none: Shape = (v) => v === null || v === undefined;

function url(secure: string, insecure: string): Shape {
  return (v) => {
    if (typeof v !== 'string') return false;
    const text = v.trim();
    if (text.length > 2048) return false;
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      return false;
    }
    if (u.username || u.password || u.hash || u.search) return false;
    if (u.protocol === secure) return true;
    return u.protocol === insecure && /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i.test(u.hostname);
  };
}

const SETTINGS: Record<string, Shape> = {
  startOnLogin: bool,
  connectOnStart: bool,
  theme: (v) => (THEMES as readonly unknown[]).includes(v),
  accountSlug: (v) =>
    typeof v === 'string' && v.trim().length <= 100 && /^$|^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(v.trim()),
  internetResourceEnabled: bool,
  favoriteResourceIds: (v) => Array.isArray(v) && v.length <= 10_000 && v.every(str(1, 100)),
  portalUrl: url('wss:', 'ws:'),
  authUrl: url('https:', 'http:'),
  logLevel: (v) => (LOG_LEVELS as readonly unknown[]).includes(v),
  updateFeedUrl: (v) => v === '' || url('https:', 'http:')(v),
  autoUpdate: bool,
};

/** The reference model: each renderer→main channel's valid arguments. */
const SHAPES: Record<string, Shape> = {
  'auth:signIn': exact({
    accountSlug: (v) => typeof v === 'string' && v.trim().length >= 1 && v.trim().length <= 100,
  }),
  'resources:copyAddress': exact({ resourceId: str(1, 100) }),
  'resources:setFavorite': exact({ resourceId: str(1, 100), favorite: bool }),
  'resources:setInternetResourceEnabled': exact({ enabled: bool }),
  'settings:update': exact(SETTINGS, true),
  'logs:write': exact({
    level: (v) => v === 'error' || v === 'warn' || v === 'info',
    message: str(0, 10_000),
  }),
  'logs:startCapture': exact({
    seconds: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 3600,
  }),
};

/** Channels whose handlers end the app or its window: validated, but the valid call is skipped. */
const NOT_CALLED_WHEN_VALID = new Set(['app:quit', 'update:installNow']);

const CHANNELS = listChannels()
  .filter((c) => c.kind !== 'notify')
  .map((c) => c.channel);

const KEYS = [
  'accountSlug',
  'resourceId',
  'favorite',
  'enabled',
  'level',
  'message',
  'seconds',
  ...Object.keys(SETTINGS),
];

const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.boolean(),
  fc.constantFrom(
    '',
    ' ',
    'acme',
    ' acme ',
    '-bad',
    'r1',
    'x'.repeat(101),
    'info',
    'warn',
    'debug',
    'dark',
    'chatty',
    'wss://api.example.com',
    'ws://localhost:8080',
    'ws://remote.example',
    'https://app.example.com/',
    'http://127.0.0.1:1',
    'https://u:p@example.com',
    'https://example.com/?q=1',
    'https://example.com/#x',
    'ftp://example.com',
    ['r1', 'r2'],
    [''],
  ),
  fc.integer({ min: -2, max: 4000 }),
  fc.double(),
  fc.string({ maxLength: 30 }),
  fc.anything({ maxDepth: 2 }),
);

const argArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined),
  fc.anything({ maxDepth: 3 }),
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 3 }),
        fc.array(fieldValue, { minLength: 3, maxLength: 3 }),
        fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
      )
      .map(([keys, values, extra]) => {
        const out: Record<string, unknown> = {};
        keys.forEach((k, i) => (out[k] = values[i]));
        if (extra !== undefined) out[extra] = 1;
        return out;
      }),
  },
);

export const ipcTarget: FuzzTarget = {
  name: 'ipc',
  invariants: [
    'random arguments (anything, null, objects of known and unknown keys with good and bad values) for every renderer→main channel, through the router of a test app',
    'an argument the reference model calls invalid is refused with invalid-argument; a valid one passes validation',
    'no call throws out of dispatch or fails with an internal error',
  ],
  batchRuns: 100,
  ciRuns: 500,
  create: async () => {
    const app: TestApp = await createTestApp();
    await app.controller.init();
    return {
      property: fc.asyncProperty(fc.constantFrom(...CHANNELS), argArb, async (channel, arg) => {
        const valid = (SHAPES[channel] ?? none)(arg);
        if (valid && NOT_CALLED_WHEN_VALID.has(channel)) return;
        const r = await app.call(channel, arg);
        if (!valid) {
          assert.equal(r.ok, false, `${channel} accepted an invalid argument`);
          if (!r.ok) assert.equal(r.error.code, 'invalid-argument');
          return;
        }
        if (!r.ok) {
          assert.notEqual(
            r.error.code,
            'invalid-argument',
            `${channel} refused a valid argument: ${r.error.message}`,
          );
          assert.notEqual(r.error.code, 'internal', `${channel} failed: ${r.error.message}`);
          assert.notEqual(r.error.code, 'unknown-call');
        }
      }),
      dispose: () => app.dispose(),
    };
  },
};
