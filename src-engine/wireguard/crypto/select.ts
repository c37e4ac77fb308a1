/**
 * Backend selection. Each backend is constructed and self-tested at most once per process; a
 * backend that fails either step is unavailable, with the reason kept for error messages.
 *
 * Default order: sodium (libsodium, native) → node (node:crypto) → noble (pure JS, always works).
 * `FZ_CRYPTO_BACKEND=noble|node|sodium` forces one; if the forced backend is unavailable,
 * selection throws instead of silently running on another.
 */
import type { BackendName, CryptoBackend } from './backend.js';
import { createNobleBackend } from './noble.js';
import { createNodeBackend } from './node.js';
import { selfTest } from './selftest.js';
import { createSodiumBackend } from './sodium.js';
import { BackendUnavailableError } from './util.js';

/** Every backend, fastest first: the order `defaultBackend()` tries them in. */
export const BACKEND_NAMES: readonly BackendName[] = ['sodium', 'node', 'noble'];

/** Environment variable that forces a backend. */
export const CRYPTO_BACKEND_ENV = 'FZ_CRYPTO_BACKEND';

const FACTORIES: Record<BackendName, () => CryptoBackend> = {
  sodium: createSodiumBackend,
  node: createNodeBackend,
  noble: createNobleBackend,
};

type LoadResult = { readonly backend: CryptoBackend } | { readonly error: BackendUnavailableError };

const results = new Map<BackendName, LoadResult>();

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function tryLoad(name: BackendName): LoadResult {
  let result = results.get(name);
  if (result === undefined) {
    try {
      const backend = FACTORIES[name]();
      const failure = selfTest(backend);
      result =
        failure === undefined
          ? { backend }
          : {
              error: new BackendUnavailableError(`crypto backend "${name}" failed its self-test: ${failure}`),
            };
    } catch (cause) {
      result = {
        error: new BackendUnavailableError(`crypto backend "${name}" is unavailable: ${describe(cause)}`, {
          cause,
        }),
      };
    }
    results.set(name, result);
  }
  return result;
}

export function isBackendName(value: string): value is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(value);
}

/**
 * The named backend (constructed and self-tested once, then shared). Throws an Error for an
 * unknown name and a BackendUnavailableError saying why when the backend cannot be used here.
 */
export function loadBackend(name: string): CryptoBackend {
  if (!isBackendName(name)) {
    throw new Error(`unknown crypto backend "${name}"; known backends: ${BACKEND_NAMES.join(', ')}`);
  }
  const result = tryLoad(name);
  if ('error' in result) throw result.error;
  return result.backend;
}

export interface BackendStatus {
  readonly name: BackendName;
  readonly available: boolean;
  /** Why the backend is unavailable; absent when it is available. */
  readonly reason?: string;
}

/** Every backend with whether it loads and passes its self-test here, fastest first. */
export function backendStatus(): BackendStatus[] {
  return BACKEND_NAMES.map((name) => {
    const result = tryLoad(name);
    return 'error' in result
      ? { name, available: false, reason: result.error.message }
      : { name, available: true };
  });
}

/** Names of the backends that load and pass their self-test here, fastest first. */
export function availableBackends(): BackendName[] {
  return backendStatus()
    .filter((status) => status.available)
    .map((status) => status.name);
}

/**
 * The backend to use given an override (normally the value of FZ_CRYPTO_BACKEND): the forced one
 * when `override` is non-empty (throwing if it is unknown or unavailable), otherwise the first
 * available backend in BACKEND_NAMES order.
 */
export function selectBackend(override?: string): CryptoBackend {
  const forced = override?.trim() ?? '';
  if (forced !== '') {
    try {
      return loadBackend(forced);
    } catch (cause) {
      throw new BackendUnavailableError(`${CRYPTO_BACKEND_ENV}=${forced}: ${describe(cause)}`, { cause });
    }
  }
  const reasons: string[] = [];
  for (const name of BACKEND_NAMES) {
    const result = tryLoad(name);
    if ('backend' in result) return result.backend;
    reasons.push(result.error.message);
  }
  throw new BackendUnavailableError(`no crypto backend is available: ${reasons.join('; ')}`);
}

let memo: { readonly override: string | undefined; readonly backend: CryptoBackend } | undefined;

/** The process-wide backend: `selectBackend(process.env.FZ_CRYPTO_BACKEND)`, memoised. */
export function defaultBackend(): CryptoBackend {
  const override = process.env[CRYPTO_BACKEND_ENV];
  if (memo === undefined || memo.override !== override) memo = { override, backend: selectBackend(override) };
  return memo.backend;
}
