// Labels and grouping of the settings, shared by main (error messages, tray) and the renderer.

import type { SettingKey } from './domain.js';

export const SETTING_LABELS: Readonly<Record<SettingKey, string>> = {
  startOnLogin: 'Start on login',
  connectOnStart: 'Connect on start',
  theme: 'Theme',
  accountSlug: 'Account ID',
  internetResourceEnabled: 'Internet Resource',
  favoriteResourceIds: 'Favourite resources',
  portalUrl: 'Portal URL',
  authUrl: 'Sign-in URL',
  logLevel: 'Log level',
  updateFeedUrl: 'Update feed URL',
  autoUpdate: 'Download updates automatically',
};

/** Keys an administrator may set and lock in the managed configuration. */
export const MANAGEABLE_KEYS: readonly SettingKey[] = [
  'startOnLogin',
  'connectOnStart',
  'theme',
  'accountSlug',
  'internetResourceEnabled',
  'portalUrl',
  'authUrl',
  'logLevel',
  'updateFeedUrl',
  'autoUpdate',
];
