// Draws the tray icons (resources/tray/<state>-<light|dark>.png, plus @2x) from SVG with the
// system Chromium. "light"/"dark" is the theme of the panel the icon sits on: dark glyphs for
// light panels, light glyphs for dark ones. Run: `tsx src-main/tools/render-tray-icons.ts`.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { TRAY_ICON_STATES, type TrayIconState } from '../tray/tray-model.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TRAY_ICON_DIR = path.join(REPO, 'resources', 'tray');
export const TRAY_ICON_SIZE = 32;

const GLYPH = { light: '#1d2430', dark: '#f2f4f8' } as const;
const BADGE: Record<TrayIconState, string | null> = {
  'signed-out': null,
  connecting: '#f0a020',
  connected: '#22b35e',
  error: '#e5484d',
  'update-ready': '#3b82f6',
};

const SHIELD = 'M16 2.6 27 6.4v8.1c0 7-4.6 12.2-11 14.9C9.6 26.7 5 21.5 5 14.5V6.4Z';
const KEY = 'M16 9.2a3.3 3.3 0 1 1 0 6.6 3.3 3.3 0 0 1 0-6.6Zm0 6.6v8.1m0-3.8h2.8m-2.8 2.6h2';

export function traySvg(state: TrayIconState, theme: 'light' | 'dark'): string {
  const g = GLYPH[theme];
  const dim = state === 'signed-out' ? ' opacity="0.72"' : '';
  const filled = state === 'connected' || state === 'update-ready';
  const shield = filled
    ? `<path d="${SHIELD}" fill="${g}"/>` +
      `<path d="${KEY}" fill="none" stroke="${theme === 'light' ? '#ffffff' : '#1d2430'}" stroke-width="2.2" stroke-linecap="round"/>`
    : `<path d="${SHIELD}" fill="none" stroke="${g}" stroke-width="2.4" stroke-linejoin="round"${dim}/>` +
      `<path d="${KEY}" fill="none" stroke="${g}" stroke-width="2.2" stroke-linecap="round"${dim}/>`;
  const color = BADGE[state];
  if (!color)
    return `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">${shield}</svg>`;
  const glyphs: Record<Exclude<TrayIconState, 'signed-out'>, string> = {
    error: '<path d="M24.5 21v4.2M24.5 27.6v.2" stroke="#fff" stroke-width="2" stroke-linecap="round"/>',
    'update-ready':
      '<path d="M24.5 28V21.4M21.7 24.1l2.8-2.8 2.8 2.8" fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
    connecting:
      '<path d="M21.6 24.5h.1M24.5 24.5h.1M27.4 24.5h.1" stroke="#fff" stroke-width="2.2" stroke-linecap="round"/>',
    connected:
      '<path d="M21.8 24.6l1.9 1.9 3.4-3.6" fill="none" stroke="#fff" stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"/>',
  };
  // The badge sits bottom-right; a transparent ring cut out of the shield keeps it legible on any panel.
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">' +
    '<defs><mask id="cut"><rect width="32" height="32" fill="white"/><circle cx="24.5" cy="24.5" r="8.4" fill="black"/></mask></defs>' +
    `<g mask="url(#cut)">${shield}</g>` +
    `<circle cx="24.5" cy="24.5" r="6.6" fill="${color}"/>${glyphs[state as Exclude<TrayIconState, 'signed-out'>]}` +
    '</svg>'
  );
}

export async function renderTrayIcons(dir = TRAY_ICON_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const written: string[] = [];
  try {
    for (const scale of [1, 2]) {
      const context = await browser.newContext({
        deviceScaleFactor: scale,
        viewport: { width: 64, height: 64 },
      });
      const page = await context.newPage();
      for (const state of TRAY_ICON_STATES) {
        for (const theme of ['light', 'dark'] as const) {
          await page.setContent(
            `<html><body style="margin:0;background:transparent">${traySvg(state, theme)}</body></html>`,
          );
          const file = path.join(dir, `${state}-${theme}${scale === 2 ? '@2x' : ''}.png`);
          await page.locator('svg').screenshot({ path: file, omitBackground: true });
          written.push(file);
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  renderTrayIcons().then(
    (files) => console.log(`wrote ${files.length} tray icons to ${path.relative(REPO, TRAY_ICON_DIR)}`),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
