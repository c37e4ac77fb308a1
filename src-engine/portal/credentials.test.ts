import { describe, expect, it } from 'vitest';
import {
  base32LowerNoPad,
  deriveClientToClientPresharedKey,
  deriveIceCredentials,
  derivePresharedKey,
  externalIdFor,
  turnRestCredentials,
} from './credentials.js';

// Expected values computed independently (Python hashlib/base64, openssl dgst).
describe('per-pair credentials (docs/protocol.md §3.10 step 4)', () => {
  it('base32-encodes as RFC 4648, lower case, without padding', () => {
    expect(base32LowerNoPad(Buffer.from('foobar'))).toBe('mzxw6ytboi');
    expect(base32LowerNoPad(Buffer.from(''))).toBe('');
    expect(base32LowerNoPad(Buffer.from('f'))).toBe('my');
  });

  it('slices the ICE credentials out of base32(sha256(seed))', () => {
    const ice = deriveIceCredentials({ id: 'c1', publicKey: 'pkC' }, { id: 'g1', publicKey: 'pkG' });
    expect(ice.initiator).toEqual({ username: 'sixn', password: 'cnebnbw6m36d33wwi7grdg' });
    expect(ice.receiver).toEqual({ username: 'ad7a', password: 'harclxwhpbc2u6swdun2pa' });
  });

  it('derives the PSK with one PBKDF2-HMAC-SHA256 iteration over both psk bases', () => {
    const client = { id: 'c1', publicKey: 'pkC', pskBase: Uint8Array.from({ length: 32 }, (_, i) => i) };
    const gateway = {
      id: 'g1',
      publicKey: 'pkG',
      pskBase: Uint8Array.from({ length: 32 }, (_, i) => i + 32),
    };
    expect(derivePresharedKey(client, gateway)).toBe('+WdOikFZtvvNhSNTEZ/55kigAG5N9muSmZLTaUbhB4M=');
  });

  it('changes every secret when a public key changes, and is stable otherwise', () => {
    const base = new Uint8Array(32).fill(7);
    const a = derivePresharedKey(
      { id: 'c', publicKey: 'k1', pskBase: base },
      { id: 'g', publicKey: 'k2', pskBase: base },
    );
    const b = derivePresharedKey(
      { id: 'c', publicKey: 'k1', pskBase: base },
      { id: 'g', publicKey: 'k2', pskBase: base },
    );
    const c = derivePresharedKey(
      { id: 'c', publicKey: 'k3', pskBase: base },
      { id: 'g', publicKey: 'k2', pskBase: base },
    );
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(deriveIceCredentials({ id: 'c', publicKey: 'k1' }, { id: 'g', publicKey: 'k2' })).not.toEqual(
      deriveIceCredentials({ id: 'c', publicKey: 'k3' }, { id: 'g', publicKey: 'k2' }),
    );
    expect(
      deriveClientToClientPresharedKey(
        { id: 'c', publicKey: 'k1', pskBase: base },
        { id: 'g', publicKey: 'k2', pskBase: base },
      ),
    ).not.toBe(a);
  });

  it('refuses psk bases of the wrong size', () => {
    expect(() =>
      derivePresharedKey(
        { id: 'c', publicKey: 'k', pskBase: new Uint8Array(31) },
        { id: 'g', publicKey: 'k', pskBase: new Uint8Array(32) },
      ),
    ).toThrow(/client psk_base must be 32 bytes/);
  });
});

describe('TURN REST credentials (coturn use-auth-secret)', () => {
  it('signs "<expiry>:<user>" with HMAC-SHA1', () => {
    expect(
      turnRestCredentials('dev-coturn-shared-secret', '7b1f5f4e-9a65-4c9e-8f4b-0c1d2e3f4a5b', 1_735_689_600),
    ).toEqual({
      username: '1735689600:7b1f5f4e-9a65-4c9e-8f4b-0c1d2e3f4a5b',
      password: '0xanRUfEc926GrNUSsOTLBa1n3c=',
    });
  });

  it('rejects a user part with a colon and a bad expiry', () => {
    expect(() => turnRestCredentials('s', 'a:b', 1)).toThrow(/must not contain ":"/);
    expect(() => turnRestCredentials('s', 'a', 1.5)).toThrow(/unix seconds/);
  });
});

describe('external_id', () => {
  it('hashes UUIDs and passes other ids through (§3.1)', () => {
    expect(externalIdFor('not-a-uuid')).toBe('not-a-uuid');
    expect(externalIdFor('6b3e2d8a-3f62-4d39-a0a4-3b5d0c2f5e11')).toMatch(/^[0-9a-f]{64}$/);
  });
});
