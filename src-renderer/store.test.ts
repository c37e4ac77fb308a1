import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppSnapshot, TunnelState } from '../src-shared/domain.js';
import { createRendererApi, type RendererTransport } from '../src-shared/ipc.js';
import { createAppStore } from './store.js';

/** A scripted main: answers calls from a table, lets the test push events. */
function fakeMain(snapshot: Partial<AppSnapshot>) {
  const listeners = new Map<string, (p: unknown) => void>();
  const replies = new Map<string, () => Promise<unknown>>();
  const calls: string[] = [];
  const transport: RendererTransport = {
    invoke: (channel) => {
      calls.push(channel);
      const r = replies.get(channel);
      return r ? r() : Promise.resolve({ ok: true, value: null });
    },
    send: () => {},
    subscribe: (channel, l) => {
      listeners.set(channel, l);
      return () => listeners.delete(channel);
    },
  };
  const full: AppSnapshot = {
    info: {
      version: '0.1.0',
      electron: null,
      chrome: null,
      node: '20',
      platform: 'linux',
      arch: 'x64',
      logDirectory: '/l',
      engine: 'simulated',
      optimisticTimeoutMs: 100,
    },
    auth: { kind: 'signed-out', reason: { code: 'user' } },
    tunnel: { state: 'disconnected' },
    resources: [],
    settings: null as never,
    update: { kind: 'idle', lastCheckedAt: null },
    logs: [],
    capture: { state: 'idle' },
    ...snapshot,
  };
  replies.set('app:getSnapshot', async () => ({ ok: true, value: full }));
  return {
    api: createRendererApi(transport),
    push: (channel: string, payload: unknown) => listeners.get(channel)?.(payload),
    replies,
    calls,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('renderer store (replica of main)', () => {
  it('hydrates from the snapshot but keeps slices pushed meanwhile (they are newer)', async () => {
    const main = fakeMain({ tunnel: { state: 'disconnected' } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const original = main.replies.get('app:getSnapshot')!;
    main.replies.set('app:getSnapshot', async () => {
      await gate;
      return original();
    });
    const store = createAppStore(main.api);
    const started = store.getState().start();
    const newer: TunnelState = { state: 'connected', since: 1, ipv4: null, ipv6: null };
    main.push('tunnel:state', newer);
    main.push('logs:appended', [{ seq: 7, time: 0, level: 'info', source: 'main', message: 'pushed' }]);
    release();
    await started;
    const s = store.getState();
    expect(s.phase).toBe('ready');
    expect(s.tunnel).toEqual(newer);
    expect(s.logs.map((l) => l.seq)).toEqual([7]);
  });

  it('connect is optimistic, confirmed by a push', async () => {
    const main = fakeMain({
      auth: {
        kind: 'signed-in',
        account: { accountName: 'a', accountSlug: 'a', actorName: 'b' },
        tokenPersistence: 'keychain',
      },
    });
    const store = createAppStore(main.api);
    await store.getState().start();
    const done = store.getState().connect();
    expect(store.getState().pending?.kind).toBe('connect');
    main.push('tunnel:state', {
      state: 'connecting',
      phase: 'starting',
      attempt: 1,
      reason: null,
      retryAt: null,
    });
    expect(store.getState().pending).toBeNull();
    await done;
  });

  it('an unconfirmed action reverts after the timeout with an error toast', async () => {
    vi.useFakeTimers();
    const main = fakeMain({});
    main.replies.set('tunnel:connect', () => new Promise(() => {}));
    const store = createAppStore(main.api);
    await store.getState().start();
    void store.getState().connect();
    expect(store.getState().pending).not.toBeNull();
    vi.advanceTimersByTime(150);
    expect(store.getState().pending).toBeNull();
    expect(store.getState().toasts.map((t) => t.tone)).toEqual(['error']);
  });

  it('a refused action reverts at once and shows main’s message', async () => {
    const main = fakeMain({});
    main.replies.set('tunnel:connect', async () => ({
      ok: false,
      error: { code: 'not-signed-in', message: 'Sign in first.' },
    }));
    const store = createAppStore(main.api);
    await store.getState().start();
    await store.getState().connect();
    expect(store.getState().pending).toBeNull();
    expect(store.getState().toasts.map((t) => t.message)).toEqual(['Sign in first.']);
  });

  it('packet capture: state from the snapshot and pushes, a refusal returned to the view', async () => {
    const running = {
      state: 'running' as const,
      path: '/d/c.pcap',
      seconds: 30,
      startedAt: 1,
      packets: 3,
      bytes: 100,
    };
    const main = fakeMain({ capture: running });
    const store = createAppStore(main.api);
    await store.getState().start();
    expect(store.getState().capture).toEqual(running);
    main.replies.set('logs:startCapture', async () => ({
      ok: false,
      error: { code: 'capture-busy', message: 'A packet capture is already running.' },
    }));
    expect(await store.getState().startCapture(30)).toMatchObject({ code: 'capture-busy' });
    expect(store.getState().toasts).toEqual([]); // shown in the view, not as a toast
    await store.getState().stopCapture();
    expect(main.calls).toEqual(['app:getSnapshot', 'logs:startCapture', 'logs:stopCapture']);
    const result = {
      path: '/d/c.pcap',
      packets: 9,
      bytes: 500,
      dropped: 0,
      reason: 'stopped' as const,
      startedAt: 1,
      endedAt: 2,
    };
    main.push('logs:capture', { state: 'finished', result });
    expect(store.getState().capture).toEqual({ state: 'finished', result });
  });

  it('a failed snapshot is a visible load error', async () => {
    const main = fakeMain({});
    main.replies.set('app:getSnapshot', async () => ({
      ok: false,
      error: { code: 'forbidden', message: 'nope' },
    }));
    const store = createAppStore(main.api);
    await store.getState().start();
    expect(store.getState()).toMatchObject({ phase: 'failed', loadError: 'nope' });
  });
});
