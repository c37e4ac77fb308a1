import { afterEach, describe, expect, it } from 'vitest';
import { listChannels } from '../../src-shared/ipc.js';
import { createTestApp, type TestApp } from '../testing/test-app.js';
import { ipcValidators } from './validators.js';

let app: TestApp | null = null;
afterEach(async () => {
  await app?.dispose();
  app = null;
});

describe('IPC validation in main', () => {
  it('has a validator for every renderer→main channel of the schema', () => {
    const v = ipcValidators as unknown as Record<string, Record<string, unknown>>;
    for (const c of listChannels()) {
      if (c.kind === 'notify') continue;
      expect(typeof v[c.group]?.[c.key], c.channel).toBe('function');
    }
  });

  it.each([
    ['auth:signIn', null],
    ['auth:signIn', { accountSlug: 42 }],
    ['auth:signIn', { accountSlug: 'acme', extra: true }],
    ['auth:signIn', { accountSlug: '' }],
    ['resources:setFavorite', { resourceId: 'r1' }],
    ['resources:setFavorite', { resourceId: 'r1', favorite: 'yes' }],
    ['resources:copyAddress', { resourceId: 'x'.repeat(500) }],
    ['resources:setInternetResourceEnabled', true],
    ['settings:update', { logLevel: 'chatty' }],
    ['settings:update', { portalUrl: 'ws://remote.example' }],
    ['settings:update', { __proto__: { polluted: true }, theme: 'dark', evil: 1 }],
    ['settings:update', []],
    ['tunnel:connect', { force: true }],
    ['logs:write', { level: 'fatal', message: 'x' }],
  ])('refuses %s %j with invalid-argument, and main keeps running', async (channel, arg) => {
    app = await createTestApp();
    await app.controller.init();
    const r = await app.call(channel, arg);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('invalid-argument');
      if (r.error.field) expect(r.error.message).toMatch(/^(Log level|Portal URL): /);
      else expect(r.error.message).toContain(channel);
    }
    expect(
      app.logger.recent().some((e) => e.level === 'warn' && e.message.includes(`IPC ${channel} refused`)),
    ).toBe(true);
    const ok = await app.call('app:getSnapshot');
    expect(ok.ok).toBe(true);
  });

  it('refuses unknown channels and foreign senders', async () => {
    app = await createTestApp();
    await app.controller.init();
    expect(await app.call('tunnel:selfDestruct')).toMatchObject({
      ok: false,
      error: { code: 'unknown-call' },
    });
    expect(await app.call('app:getSnapshot', null, { url: 'https://evil.example/' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await app.call('app:getSnapshot', null, { url: '' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('returns user errors from handlers as results, not exceptions', async () => {
    app = await createTestApp();
    await app.controller.init();
    expect(await app.call('tunnel:connect')).toMatchObject({ ok: false, error: { code: 'not-signed-in' } });
    expect(await app.call('resources:copyAddress', { resourceId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
  });

  it('caps renderer log messages', async () => {
    app = await createTestApp();
    await app.controller.init();
    const r = await app.call('logs:write', { level: 'error', message: 'y'.repeat(5000) });
    expect(r.ok).toBe(true);
    const last = app.logger.recent().at(-1)!;
    expect(last.source).toBe('renderer');
    expect(last.message).toHaveLength(2000);
  });
});
