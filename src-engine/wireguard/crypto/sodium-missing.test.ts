/**
 * A missing or broken sodium-native must only make the sodium backend unavailable (with the
 * reason), never break loading the engine; selection then falls back to node:crypto.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:module', async (importOriginal) => ({
  ...(await importOriginal<typeof import('node:module')>()),
  createRequire: () => () => {
    throw new Error("Cannot find module 'sodium-native'\nRequire stack: (test)");
  },
}));

describe('sodium-native cannot be loaded', () => {
  it('sodium is unavailable with the reason; the default falls back to node (or noble)', async () => {
    const { backendStatus, selectBackend, loadBackend, BackendUnavailableError } = await import('./index.js');
    const sodium = backendStatus().find((s) => s.name === 'sodium')!;
    expect(sodium.available).toBe(false);
    expect(sodium.reason).toBe(
      `crypto backend "sodium" is unavailable: sodium-native failed to load: Cannot find module 'sodium-native'`,
    );
    expect(() => loadBackend('sodium')).toThrow(BackendUnavailableError);
    expect(() => selectBackend('sodium')).toThrow(/FZ_CRYPTO_BACKEND=sodium: .*sodium-native failed to load/);
    expect(['node', 'noble']).toContain(selectBackend().name);
  });
});
