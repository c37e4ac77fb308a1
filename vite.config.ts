// Builds the renderer (src-renderer) into dist/renderer. Relative base: the app serves it from
// app://fz-desktop/ and the UI tests from a local HTTP server. No inline scripts or styles are
// emitted, so the strict CSP in index.html holds.

import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src-renderer', import.meta.url)),
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // Electron 41 is Chromium 146; Debian's Chromium for the UI tests is newer.
    target: 'chrome130',
    modulePreload: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
