import { describe, expect, it } from 'vitest';
import { mintClientToken, tokenIdOf } from './tokens.js';

describe('client tokens', () => {
  it('have ids that never start with "-" (they are passed as command-line values)', () => {
    const ids = Array.from({ length: 2000 }, () => mintClientToken('').id);
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    expect(ids.every((id) => /^[A-Za-z0-9_-]{16}$/.test(id))).toBe(true);
  });

  it('carry their id in the fragment', () => {
    const minted = mintClientToken('abc');
    expect(tokenIdOf(minted.token)).toBe(minted.id);
  });
});
