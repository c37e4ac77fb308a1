import { describe, expect, it, vi } from 'vitest';
import {
  channelName,
  createMainNotifier,
  createRendererApi,
  ipcSchema,
  listChannels,
  type RendererTransport,
} from './ipc.js';

describe('IPC contract helpers', () => {
  it('derives channel names group:key, unique', () => {
    const names = listChannels().map((c) => c.channel);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('tunnel:connect');
    expect(names).toContain('tunnel:state');
    expect(channelName('a', 'b')).toBe('a:b');
  });

  it('builds the renderer API with exactly the schema: calls, sends and on<Event> listeners', async () => {
    const invoked: [string, unknown][] = [];
    const sent: [string, unknown][] = [];
    const listeners = new Map<string, (p: unknown) => void>();
    const transport: RendererTransport = {
      invoke: async (c, a) => {
        invoked.push([c, a]);
        return { ok: true, value: 'v' };
      },
      send: (c, a) => sent.push([c, a]),
      subscribe: (c, l) => {
        listeners.set(c, l);
        return () => listeners.delete(c);
      },
    };
    const api = createRendererApi(transport);
    expect(Object.keys(api).sort()).toEqual(Object.keys(ipcSchema).sort());
    expect(Object.keys(api.tunnel).sort()).toEqual(['connect', 'disconnect', 'onState']);

    expect(await api.tunnel.connect()).toEqual({ ok: true, value: 'v' });
    await api.resources.setFavorite({ resourceId: 'r', favorite: true });
    api.logs.write({ level: 'info', message: 'hi' });
    expect(invoked).toEqual([
      ['tunnel:connect', null],
      ['resources:setFavorite', { resourceId: 'r', favorite: true }],
    ]);
    expect(sent).toEqual([['logs:write', { level: 'info', message: 'hi' }]]);

    const seen = vi.fn();
    const off = api.tunnel.onState(seen);
    listeners.get('tunnel:state')!({ state: 'disconnected' });
    expect(seen).toHaveBeenCalledWith({ state: 'disconnected' });
    off();
    expect(listeners.has('tunnel:state')).toBe(false);
    expect(Object.isFrozen(api) && Object.isFrozen(api.tunnel)).toBe(true);
  });

  it('turns a transport failure into an error result', async () => {
    const api = createRendererApi({
      invoke: () => Promise.reject(new Error('channel closed')),
      send: () => {},
      subscribe: () => () => {},
    });
    expect(await api.app.getSnapshot()).toEqual({
      ok: false,
      error: { code: 'ipc-failed', message: 'channel closed' },
    });
  });

  it('builds main notifiers for every push', () => {
    const push = vi.fn();
    const notify = createMainNotifier(push);
    notify.update.state({ kind: 'checking' });
    expect(push).toHaveBeenCalledWith('update:state', { kind: 'checking' });
    expect(Object.keys(notify.logs).sort()).toEqual(['appended', 'capture', 'cleared']);
  });
});
