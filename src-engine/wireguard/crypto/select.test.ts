import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BACKEND_NAMES,
  BackendUnavailableError,
  CRYPTO_BACKEND_ENV,
  availableBackends,
  backendStatus,
  defaultBackend,
  loadBackend,
  selectBackend,
} from './index.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('backend selection', () => {
  it('lists every backend fastest first and reports why one is unavailable', () => {
    expect(BACKEND_NAMES).toEqual(['sodium', 'node', 'noble']);
    for (const status of backendStatus()) {
      if (!status.available) expect(status.reason).toContain(`"${status.name}"`);
    }
    expect(availableBackends()).toEqual(backendStatus().flatMap((s) => (s.available ? [s.name] : [])));
  });

  it('loadBackend returns one shared, named instance per backend', () => {
    for (const name of availableBackends()) {
      const backend = loadBackend(name);
      expect(backend.name).toBe(name);
      expect(loadBackend(name)).toBe(backend);
    }
  });

  it('loadBackend rejects unknown names with the list of known ones', () => {
    expect(() => loadBackend('openssl')).toThrow(/unknown crypto backend "openssl".*sodium, node, noble/);
  });

  it('picks the first available backend when nothing is forced', () => {
    const first = availableBackends()[0]!;
    expect(selectBackend().name).toBe(first);
    expect(selectBackend('').name).toBe(first);
    expect(selectBackend('  ').name).toBe(first);
  });

  it.each(['noble', 'node', 'sodium'] as const)('FZ_CRYPTO_BACKEND=%s forces that backend', (name) => {
    vi.stubEnv(CRYPTO_BACKEND_ENV, name);
    if (availableBackends().includes(name)) {
      expect(defaultBackend().name).toBe(name);
    } else {
      expect(() => defaultBackend()).toThrow(BackendUnavailableError);
    }
  });

  it('an unknown FZ_CRYPTO_BACKEND value fails loudly', () => {
    vi.stubEnv(CRYPTO_BACKEND_ENV, 'wasm');
    expect(() => defaultBackend()).toThrow(/FZ_CRYPTO_BACKEND=wasm: unknown crypto backend "wasm"/);
  });

  it('defaultBackend follows the environment and is memoised', () => {
    vi.stubEnv(CRYPTO_BACKEND_ENV, '');
    const chosen = defaultBackend();
    expect(chosen.name).toBe(availableBackends()[0]);
    expect(defaultBackend()).toBe(chosen);
    vi.stubEnv(CRYPTO_BACKEND_ENV, 'noble');
    expect(defaultBackend().name).toBe('noble');
  });
});
