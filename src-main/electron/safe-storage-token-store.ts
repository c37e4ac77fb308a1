// The token at rest: encrypted with Electron's safeStorage (macOS Keychain, Windows DPAPI,
// libsecret/KWallet on Linux) in `<userData>/session.bin`, readable by the user only. On Linux
// without a keyring safeStorage falls back to a hard-coded key ("basic_text"); that is not
// secret, so then nothing is written and the session lasts until the app quits.

import { safeStorage } from 'electron';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  TokenStoreError,
  decodeSession,
  encodeSession,
  type StoredSession,
  type TokenStore,
  type TokenStoreInfo,
} from '../auth/token-store.js';

export class SafeStorageTokenStore implements TokenStore {
  readonly #file: string;
  #memory: StoredSession | null = null;

  constructor(userDataDir: string) {
    this.#file = path.join(userDataDir, 'session.bin');
  }

  info(): TokenStoreInfo {
    if (!safeStorage.isEncryptionAvailable()) return { persistent: false, backend: 'unavailable' };
    if (process.platform === 'linux') {
      const backend = safeStorage.getSelectedStorageBackend();
      return { persistent: backend !== 'basic_text' && backend !== 'unknown', backend };
    }
    return { persistent: true, backend: process.platform === 'darwin' ? 'keychain' : 'dpapi' };
  }

  async load(): Promise<StoredSession | null> {
    if (this.#memory) return this.#memory;
    if (!this.info().persistent) return null;
    let encrypted: Buffer;
    try {
      encrypted = await fsp.readFile(this.#file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TokenStoreError(`The saved session could not be read (${(e as Error).message}).`, 'io');
    }
    let text: string;
    try {
      text = safeStorage.decryptString(encrypted);
    } catch {
      throw new TokenStoreError('The saved session could not be decrypted.', 'corrupt');
    }
    return decodeSession(text);
  }

  async save(session: StoredSession): Promise<void> {
    this.#memory = session;
    if (!this.info().persistent) return;
    const encrypted = safeStorage.encryptString(encodeSession(session));
    await fsp.mkdir(path.dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    await fsp.writeFile(tmp, encrypted, { mode: 0o600 });
    await fsp.rename(tmp, this.#file);
  }

  async clear(): Promise<void> {
    this.#memory = null;
    await fsp.rm(this.#file, { force: true });
  }
}
