/** Public API of the WireGuard crypto layer: the backend interface and its selection. */
export type { BackendName, CryptoBackend } from './backend.js';
export {
  BACKEND_NAMES,
  CRYPTO_BACKEND_ENV,
  availableBackends,
  backendStatus,
  defaultBackend,
  isBackendName,
  loadBackend,
  selectBackend,
  type BackendStatus,
} from './select.js';
export { BackendUnavailableError, TAG_LENGTH, X25519_LENGTH } from './util.js';
