import { describe, expect, it } from 'vitest';
import { MAC_SIZE } from '../src-engine/wireguard/constants.js';
import { defaultBackend } from '../src-engine/wireguard/crypto/index.js';
import { measureResponder, ResponderRig } from './handshake-responder.js';

const crypto = defaultBackend();

describe('handshake responder bench rig', () => {
  it('at an ordinary pace, every initiation gets a response that completes the handshake', () => {
    const rig = new ResponderRig({ crypto, peers: 8, mode: 'normal' });
    for (let round = 0; round < 3; round++) {
      const chunk = rig.nextChunk();
      const responses: Uint8Array[] = [];
      expect(rig.answer(chunk, responses)).toBe(8);
      expect(rig.complete(responses)).toBe(8);
    }
  });

  it('under load, initiations carry mac2 from a cookie, and one without it gets a cookie reply', () => {
    const rig = new ResponderRig({ crypto, peers: 32, mode: 'under_load' });
    for (let round = 0; round < 3; round++) {
      const chunk = rig.nextChunk();
      for (const d of chunk.datagrams)
        expect(d.subarray(d.length - MAC_SIZE).some((b) => b !== 0)).toBe(true);
      const withoutMac2 = Uint8Array.from(chunk.datagrams[0]!);
      withoutMac2.fill(0, withoutMac2.length - MAC_SIZE);
      expect(rig.answer({ datagrams: [withoutMac2], from: [chunk.from[0]!] })).toBe(0);
      const responses: Uint8Array[] = [];
      expect(rig.answer(chunk, responses)).toBe(32);
      expect(rig.complete(responses)).toBe(32);
    }
  });

  it('measures answered initiations per second of responder time', () => {
    const r = measureResponder({ crypto, peers: 16, mode: 'normal' }, 0.01);
    expect(r.answered).toBeGreaterThan(0);
    expect(r.perSecond).toBeGreaterThan(0);
  });
});
