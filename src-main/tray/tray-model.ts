// What the tray shows, as plain data: the icon state, the tooltip and the menu. A pure function of
// the app state, so it is tested without Electron; `electron/tray-controller.ts` only turns the
// model into a native `Menu` and routes clicks back as `TrayAction`s.

import type { AuthState, Resource, TunnelState, UpdateState } from '../../src-shared/domain.js';

export type TrayIconState = 'signed-out' | 'connecting' | 'connected' | 'error' | 'update-ready';

export const TRAY_ICON_STATES: readonly TrayIconState[] = [
  'signed-out',
  'connecting',
  'connected',
  'error',
  'update-ready',
];

export type TrayAction =
  | { readonly type: 'open-window' }
  | { readonly type: 'sign-in' }
  | { readonly type: 'cancel-sign-in' }
  | { readonly type: 'sign-out' }
  | { readonly type: 'connect' }
  | { readonly type: 'disconnect' }
  | { readonly type: 'copy-address'; readonly resourceId: string }
  | { readonly type: 'set-favorite'; readonly resourceId: string; readonly favorite: boolean }
  | { readonly type: 'set-internet'; readonly enabled: boolean }
  | { readonly type: 'install-update' }
  | { readonly type: 'quit' };

export type TrayMenuItem =
  | { readonly kind: 'label'; readonly label: string }
  | { readonly kind: 'separator' }
  | {
      readonly kind: 'action';
      readonly label: string;
      readonly action: TrayAction;
      readonly enabled: boolean;
    }
  | {
      readonly kind: 'checkbox';
      readonly label: string;
      readonly checked: boolean;
      readonly action: TrayAction;
      readonly enabled: boolean;
    }
  | { readonly kind: 'submenu'; readonly label: string; readonly items: readonly TrayMenuItem[] };

export interface TrayInput {
  readonly productName: string;
  readonly auth: AuthState;
  readonly tunnel: TunnelState;
  readonly resources: readonly Resource[];
  readonly favoriteResourceIds: readonly string[];
  readonly internetResourceEnabled: boolean;
  readonly internetResourceLocked: boolean;
  readonly update: UpdateState;
}

export interface TrayModel {
  readonly icon: TrayIconState;
  readonly tooltip: string;
  readonly items: readonly TrayMenuItem[];
}

const MAX_LABEL = 60;
const SEP: TrayMenuItem = { kind: 'separator' };

function clip(text: string): string {
  return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
}

export function trayIconState(auth: AuthState, tunnel: TunnelState, update: UpdateState): TrayIconState {
  if (auth.kind === 'signed-out' && auth.reason.code !== 'user') return 'error';
  if (auth.kind !== 'signed-in') return auth.kind === 'signing-in' ? 'connecting' : 'signed-out';
  switch (tunnel.state) {
    case 'error':
      return 'error';
    case 'connecting':
    case 'disconnecting':
      return 'connecting';
    case 'connected':
      return update.kind === 'ready' ? 'update-ready' : 'connected';
    case 'disconnected':
      return update.kind === 'ready' ? 'update-ready' : 'signed-out';
  }
}

export function tunnelLabel(tunnel: TunnelState): string {
  switch (tunnel.state) {
    case 'disconnected':
      return 'Disconnected';
    case 'connecting':
      if (tunnel.attempt > 1) return `Reconnecting (attempt ${tunnel.attempt})…`;
      return tunnel.phase === 'starting' ? 'Starting…' : 'Connecting…';
    case 'connected':
      return 'Connected';
    case 'disconnecting':
      return 'Disconnecting…';
    case 'error':
      return `Error: ${tunnel.error.message}`;
  }
}

export function resourceAddress(resource: Resource): string {
  return resource.type === 'internet' ? 'All other traffic' : resource.address;
}

function connectionLabel(resource: Resource): string {
  const c = resource.connection;
  switch (c.state) {
    case 'idle':
      return resource.sites[0]?.status === 'offline' ? 'Site offline' : 'Not in use';
    case 'connecting':
      return 'Connecting…';
    case 'connected':
      // No RTT or byte counts here: they change every second and the menu would be rebuilt
      // (and flicker on Linux) just as often.
      return `Connected (${c.diagnostics.path})`;
    case 'failed':
      return `Unreachable: ${c.message}`;
  }
}

function resourceSubmenu(resource: Resource, favorite: boolean): TrayMenuItem {
  const site = resource.sites[0];
  const items: TrayMenuItem[] = [];
  if (resource.type !== 'internet') {
    items.push({
      kind: 'action',
      label: `Copy ${clip(resource.address)}`,
      action: { type: 'copy-address', resourceId: resource.id },
      enabled: true,
    });
  }
  if (site) items.push({ kind: 'label', label: clip(`Site: ${site.name} (${site.status})`) });
  items.push({ kind: 'label', label: clip(connectionLabel(resource)) });
  items.push(SEP);
  items.push({
    kind: 'action',
    label: favorite ? 'Remove from favourites' : 'Add to favourites',
    action: { type: 'set-favorite', resourceId: resource.id, favorite: !favorite },
    enabled: true,
  });
  return { kind: 'submenu', label: clip(resource.name), items };
}

const byName = (a: Resource, b: Resource) => a.name.localeCompare(b.name);

function resourceItems(input: TrayInput): TrayMenuItem[] {
  const favorites = new Set(input.favoriteResourceIds);
  const regular = input.resources.filter((r) => r.type !== 'internet');
  if (regular.length === 0) return [{ kind: 'label', label: 'No resources' }];
  const fav = regular.filter((r) => favorites.has(r.id)).sort(byName);
  const rest = regular.filter((r) => !favorites.has(r.id));
  const items: TrayMenuItem[] = [];
  if (fav.length) {
    items.push({ kind: 'label', label: 'Favourites' });
    for (const r of fav) items.push(resourceSubmenu(r, true));
  }
  if (rest.length) {
    const bySite = new Map<string, { name: string; resources: Resource[] }>();
    for (const r of rest) {
      const site = r.sites[0];
      const key = site?.id ?? '';
      const group = bySite.get(key) ?? { name: site?.name ?? 'No site', resources: [] };
      group.resources.push(r);
      bySite.set(key, group);
    }
    const siteMenus: TrayMenuItem[] = [...bySite.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((g) => ({
        kind: 'submenu',
        label: clip(`${g.name} (${g.resources.length})`),
        items: g.resources.sort(byName).map((r) => resourceSubmenu(r, false)),
      }));
    items.push({ kind: 'submenu', label: fav.length ? 'Other resources' : 'Resources', items: siteMenus });
  }
  return items;
}

export function buildTrayModel(input: TrayInput): TrayModel {
  const { auth, tunnel, update, productName } = input;
  const icon = trayIconState(auth, tunnel, update);
  const items: TrayMenuItem[] = [];
  let tooltip = productName;

  switch (auth.kind) {
    case 'signed-out': {
      const why =
        auth.reason.code === 'portal'
          ? `Signed out: ${auth.reason.message}`
          : auth.reason.code === 'sign-in-failed'
            ? `Sign-in failed: ${auth.reason.error.message}`
            : 'Signed out';
      items.push({ kind: 'label', label: clip(why) });
      items.push({ kind: 'action', label: 'Sign in…', action: { type: 'sign-in' }, enabled: true });
      tooltip = `${productName}: signed out`;
      break;
    }
    case 'signing-in':
      items.push({ kind: 'label', label: clip(`Signing in… continue in your browser (${auth.authHost})`) });
      items.push({
        kind: 'action',
        label: 'Cancel sign-in',
        action: { type: 'cancel-sign-in' },
        enabled: true,
      });
      tooltip = `${productName}: signing in`;
      break;
    case 'signed-in': {
      const who = auth.account.actorName
        ? `${auth.account.actorName} (${auth.account.accountName})`
        : auth.account.accountName;
      items.push({ kind: 'label', label: clip(`Signed in as ${who}`) });
      items.push({ kind: 'label', label: clip(tunnelLabel(tunnel)) });
      const up = tunnel.state === 'connected' || tunnel.state === 'connecting';
      items.push(
        up
          ? { kind: 'action', label: 'Disconnect', action: { type: 'disconnect' }, enabled: true }
          : {
              kind: 'action',
              label: tunnel.state === 'error' ? 'Try again' : 'Connect',
              action: { type: 'connect' },
              enabled: tunnel.state !== 'disconnecting',
            },
      );
      items.push(SEP);
      const internet = input.resources.find((r) => r.type === 'internet');
      if (internet && internet.type === 'internet') {
        items.push({
          kind: 'checkbox',
          label: 'Internet Resource',
          checked: input.internetResourceEnabled,
          action: { type: 'set-internet', enabled: !input.internetResourceEnabled },
          enabled: internet.canBeDisabled && !input.internetResourceLocked,
        });
      }
      items.push(...resourceItems(input));
      tooltip = `${productName}: ${tunnelLabel(tunnel)}`;
      break;
    }
  }

  items.push(SEP);
  if (update.kind === 'ready') {
    items.push({
      kind: 'action',
      label: `Restart to install version ${update.version}`,
      action: { type: 'install-update' },
      enabled: true,
    });
  }
  items.push({
    kind: 'action',
    label: `Open ${productName}`,
    action: { type: 'open-window' },
    enabled: true,
  });
  if (auth.kind === 'signed-in') {
    items.push({ kind: 'action', label: 'Sign out', action: { type: 'sign-out' }, enabled: true });
  }
  items.push({ kind: 'action', label: `Quit ${productName}`, action: { type: 'quit' }, enabled: true });
  return { icon, tooltip: clip(tooltip), items };
}
