import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TRAY_ICON_STATES } from './tray-model.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../resources/tray');

describe('tray icons in resources/tray', () => {
  for (const state of TRAY_ICON_STATES) {
    for (const theme of ['light', 'dark']) {
      for (const [suffix, size] of [
        ['', 32],
        ['@2x', 64],
      ] as const) {
        it(`${state}-${theme}${suffix}.png is a ${size}×${size} RGBA PNG`, () => {
          const png = readFileSync(path.join(dir, `${state}-${theme}${suffix}.png`));
          expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
          expect(png.readUInt32BE(16)).toBe(size);
          expect(png.readUInt32BE(20)).toBe(size);
          expect(png[25]).toBe(6); // colour type 6: RGBA (transparent background)
        });
      }
    }
  }
});
