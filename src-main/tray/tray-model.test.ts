import { describe, expect, it } from 'vitest';
import type { AuthState, Resource, TunnelState, UpdateState } from '../../src-shared/domain.js';
import { buildTrayModel, trayIconState, type TrayInput, type TrayMenuItem } from './tray-model.js';

const signedIn: AuthState = {
  kind: 'signed-in',
  account: { accountName: 'Acme', accountSlug: 'acme', actorName: 'Jane' },
  tokenPersistence: 'keychain',
};
const connected: TunnelState = { state: 'connected', since: 0, ipv4: '100.64.0.1', ipv6: null };
const idleUpdate: UpdateState = { kind: 'idle', lastCheckedAt: null };
const site = (name: string, status: 'online' | 'offline' = 'online') => ({ id: `s-${name}`, name, status });

const resources: Resource[] = [
  {
    id: 'r1',
    type: 'dns',
    name: 'GitLab',
    address: 'gitlab.corp',
    addressDescription: null,
    sites: [site('HQ')],
    connection: { state: 'idle' },
  },
  {
    id: 'r2',
    type: 'cidr',
    name: 'Office LAN',
    address: '10.0.0.0/16',
    addressDescription: null,
    sites: [site('HQ')],
    connection: { state: 'idle' },
  },
  {
    id: 'r3',
    type: 'dns',
    name: 'Lab & Bench',
    address: 'lab.corp',
    addressDescription: null,
    sites: [site('Lab', 'offline')],
    connection: { state: 'failed', reason: 'offline', message: 'No gateway is online.', at: 0 },
  },
  {
    id: 'inet',
    type: 'internet',
    name: 'Internet Resource',
    canBeDisabled: true,
    sites: [site('Internet')],
    connection: { state: 'idle' },
  },
];

function input(over: Partial<TrayInput> = {}): TrayInput {
  return {
    productName: 'FZ Desktop',
    auth: signedIn,
    tunnel: connected,
    resources,
    favoriteResourceIds: [],
    internetResourceEnabled: false,
    internetResourceLocked: false,
    update: idleUpdate,
    ...over,
  };
}

const labels = (items: readonly TrayMenuItem[]) =>
  items.map((i) => (i.kind === 'separator' ? '---' : i.label));
const find = (items: readonly TrayMenuItem[], label: string) =>
  items.find((i) => i.kind !== 'separator' && i.label === label);

describe('tray icon state', () => {
  it.each([
    [{ kind: 'signed-out', reason: { code: 'user' } }, connected, idleUpdate, 'signed-out'],
    [{ kind: 'signed-out', reason: { code: 'portal', message: 'expired' } }, connected, idleUpdate, 'error'],
    [
      signedIn,
      { state: 'connecting', phase: 'portal', attempt: 1, reason: null, retryAt: null },
      idleUpdate,
      'connecting',
    ],
    [signedIn, connected, idleUpdate, 'connected'],
    [signedIn, connected, { kind: 'ready', version: '1.2.0' }, 'update-ready'],
    [
      signedIn,
      { state: 'error', error: { code: 'x', message: 'y' } },
      { kind: 'ready', version: '1.2.0' },
      'error',
    ],
    [signedIn, { state: 'disconnected' }, idleUpdate, 'signed-out'],
  ] as [AuthState, TunnelState, UpdateState, string][])('%j %j → %s', (auth, tunnel, update, icon) => {
    expect(trayIconState(auth, tunnel, update)).toBe(icon);
  });
});

describe('tray menu', () => {
  it('signed out: reason, sign in, open, quit', () => {
    const m = buildTrayModel(
      input({ auth: { kind: 'signed-out', reason: { code: 'portal', message: 'Your session expired.' } } }),
    );
    expect(labels(m.items)).toEqual([
      'Signed out: Your session expired.',
      'Sign in…',
      '---',
      'Open FZ Desktop',
      'Quit FZ Desktop',
    ]);
    expect(m.icon).toBe('error');
  });

  it('signed in and connected: status, disconnect, internet toggle, resources by site, sign out', () => {
    const m = buildTrayModel(input());
    expect(labels(m.items)).toEqual([
      'Signed in as Jane (Acme)',
      'Connected',
      'Disconnect',
      '---',
      'Internet Resource',
      'Resources',
      '---',
      'Open FZ Desktop',
      'Sign out',
      'Quit FZ Desktop',
    ]);
    expect(m.tooltip).toBe('FZ Desktop: Connected');
    const sites = find(m.items, 'Resources');
    expect(sites?.kind === 'submenu' && labels(sites.items)).toEqual(['HQ (2)', 'Lab (1)']);
  });

  it('each resource: copy address, site, status, favourite toggle', () => {
    const m = buildTrayModel(input());
    const sites = find(m.items, 'Resources');
    if (sites?.kind !== 'submenu') throw new Error('no submenu');
    const lab = sites.items[1];
    if (lab?.kind !== 'submenu') throw new Error('no site submenu');
    const res = lab.items[0];
    if (res?.kind !== 'submenu') throw new Error('no resource submenu');
    expect(res.label).toBe('Lab & Bench');
    expect(labels(res.items)).toEqual([
      'Copy lab.corp',
      'Site: Lab (offline)',
      'Unreachable: No gateway is online.',
      '---',
      'Add to favourites',
    ]);
    expect(res.items[0]).toMatchObject({ action: { type: 'copy-address', resourceId: 'r3' } });
    expect(res.items[4]).toMatchObject({
      action: { type: 'set-favorite', resourceId: 'r3', favorite: true },
    });
  });

  it('favourites come first, the rest under "Other resources"', () => {
    const m = buildTrayModel(input({ favoriteResourceIds: ['r2'] }));
    expect(labels(m.items).slice(4, 8)).toEqual([
      'Internet Resource',
      'Favourites',
      'Office LAN',
      'Other resources',
    ]);
    const fav = find(m.items, 'Office LAN');
    expect(fav?.kind === 'submenu' && fav.items.at(-1)).toMatchObject({
      label: 'Remove from favourites',
      action: { type: 'set-favorite', resourceId: 'r2', favorite: false },
    });
  });

  it('internet toggle reflects the setting and the lock', () => {
    const on = find(buildTrayModel(input({ internetResourceEnabled: true })).items, 'Internet Resource');
    expect(on).toMatchObject({
      kind: 'checkbox',
      checked: true,
      enabled: true,
      action: { type: 'set-internet', enabled: false },
    });
    const locked = find(buildTrayModel(input({ internetResourceLocked: true })).items, 'Internet Resource');
    expect(locked).toMatchObject({ enabled: false });
  });

  it('disconnected offers Connect; an error offers Try again', () => {
    expect(find(buildTrayModel(input({ tunnel: { state: 'disconnected' } })).items, 'Connect')).toMatchObject(
      {
        action: { type: 'connect' },
      },
    );
    const err = buildTrayModel(
      input({ tunnel: { state: 'error', error: { code: 'x', message: 'No CAP_NET_ADMIN' } } }),
    );
    expect(labels(err.items).slice(1, 3)).toEqual(['Error: No CAP_NET_ADMIN', 'Try again']);
  });

  it('update ready adds "Restart to install"', () => {
    const m = buildTrayModel(input({ update: { kind: 'ready', version: '0.2.0' } }));
    expect(find(m.items, 'Restart to install version 0.2.0')).toMatchObject({
      action: { type: 'install-update' },
    });
    expect(m.icon).toBe('update-ready');
  });

  it('signing in offers cancel', () => {
    const m = buildTrayModel(
      input({
        auth: {
          kind: 'signing-in',
          accountSlug: 'acme',
          authHost: 'app.example.com',
          startedAt: 0,
          expiresAt: 1,
          notice: null,
        },
      }),
    );
    expect(labels(m.items).slice(0, 2)).toEqual([
      'Signing in… continue in your browser (app.example.com)',
      'Cancel sign-in',
    ]);
  });

  it('long names are clipped', () => {
    const long = { ...resources[0]!, name: 'x'.repeat(100) } as Resource;
    const m = buildTrayModel(input({ resources: [long], favoriteResourceIds: [long.id] }));
    const item = m.items.find((i) => i.kind === 'submenu');
    expect(item?.kind === 'submenu' && item.label.length).toBe(60);
  });

  it('no resources', () => {
    expect(labels(buildTrayModel(input({ resources: [] })).items)).toContain('No resources');
  });
});
