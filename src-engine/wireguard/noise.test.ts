/**
 * The responder's per-peer cache of DH(s_responder, s_initiator) (Handshake computes it once, in
 * its constructor): it must only ever let the holder of the initiator's private key in.
 */
import { describe, expect, it } from 'vitest';
import { availableBackends, loadBackend } from './crypto/index.js';
import { Handshake, openInitiation, responderHash, type StaticKeys } from './noise.js';
import { tai64n } from './tai64n.js';

function keys(c: ReturnType<typeof loadBackend>, seed: number): StaticKeys {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: c.x25519PublicKey(privateKey) };
}

describe.each(availableBackends())('%s: static-static DH cached per peer', (name) => {
  const c = loadBackend(name);
  const responder = keys(c, 1);
  const initiator = keys(c, 2);
  const psk = new Uint8Array(32).fill(7);
  const hr = responderHash(c, responder.publicKey);

  function initiationFrom(local: StaticKeys, at: number): Uint8Array {
    const msg = new Handshake(c, local, responder.publicKey, psk).createInitiation(42, tai64n(at));
    if (!msg) throw new Error('no initiation');
    return msg;
  }

  it('accepts the peer itself, answering from the cached value', () => {
    const handshake = new Handshake(c, responder, initiator.publicKey, psk);
    const msg = initiationFrom(initiator, 1_700_000_000_000);
    const opened = openInitiation(c, responder, hr, msg)!;
    expect(handshake.consumeInitiation(opened, msg, 0)).toBe('ok');
    expect(handshake.createResponse(7)).toBeDefined();
  });

  it('refuses one who claims the peer’s public key without its private key', () => {
    const handshake = new Handshake(c, responder, initiator.publicKey, psk);
    // The impostor encrypts the peer's public key as its static, but its DH(s_i, s_r) is its own.
    const impostor = { privateKey: keys(c, 3).privateKey, publicKey: initiator.publicKey };
    const msg = initiationFrom(impostor, 1_700_000_000_000);
    const opened = openInitiation(c, responder, hr, msg)!;
    expect(opened.initiatorStatic).toEqual(initiator.publicKey);
    expect(handshake.consumeInitiation(opened, msg, 0)).toBe('invalid');
    expect(handshake.state).toBe('zeroed');
  });

  it('refuses a different static key (wrong_peer) without touching the handshake', () => {
    const handshake = new Handshake(c, responder, initiator.publicKey, psk);
    const msg = initiationFrom(keys(c, 4), 1_700_000_000_000);
    expect(handshake.consumeInitiation(openInitiation(c, responder, hr, msg)!, msg, 0)).toBe('wrong_peer');
    expect(handshake.state).toBe('zeroed');
  });

  it('a handshake made for an old responder key fails against the new one', () => {
    const renewed = keys(c, 5);
    const handshake = new Handshake(c, renewed, initiator.publicKey, psk);
    const msg = initiationFrom(initiator, 1_700_000_000_000); // still addressed to `responder`
    const opened = openInitiation(c, renewed, responderHash(c, renewed.publicKey), msg);
    expect(opened === undefined || handshake.consumeInitiation(opened, msg, 0) !== 'ok').toBe(true);
  });
});
