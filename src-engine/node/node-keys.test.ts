/**
 * The gateway's per-peer handshake state (the static-static DH cached in each connection's
 * Tunn, the peer lookup by static key) follows key changes on either side.
 */
import { describe, expect, it } from 'vitest';
import { defaultBackend } from '../wireguard/crypto/index.js';
import { MESSAGE_HANDSHAKE_RESPONSE } from '../wireguard/constants.js';
import { Tunn } from '../wireguard/tunn.js';
import type { ConnectionSetup } from '../tunnel/peer-node.js';
import { iceAgentFactory } from './ice-agent-adapter.js';
import { Node } from './node.js';

const c = defaultBackend();
const CLIENT = { address: '10.1.0.2', port: 40000 };
const GATEWAY = { address: '10.1.0.1', port: 51820 };
const psk = new Uint8Array(32).fill(3);

function setup(remotePublicKey: Uint8Array): ConnectionSetup {
  return {
    role: 'controlled',
    remotePublicKey,
    presharedKey: psk,
    localCredentials: { username: 'gatewayufrag', password: 'gatewaypassword0123456789' },
    remoteCredentials: { username: 'clientufrag', password: 'clientpassword01234567890' },
  };
}

function client(privateKey: Uint8Array, gatewayPublic: Uint8Array): Tunn {
  return new Tunn({
    crypto: c,
    staticPrivate: privateKey,
    peerPublic: gatewayPublic,
    presharedKey: psk,
    endpoint: GATEWAY,
  });
}

/** Sends one initiation from `t` to the gateway; true when the gateway answered with a response. */
function answered(gateway: Node, t: Tunn, now: number): boolean {
  const init = t.initiateHandshake(now);
  if (init.type !== 'network') throw new Error('no initiation');
  gateway.handleDatagram(CLIENT, init.packet, now);
  let response = false;
  for (let tx = gateway.pollTransmit(); tx; tx = gateway.pollTransmit())
    response ||= tx.payload[0] === MESSAGE_HANDSHAKE_RESPONSE;
  return response;
}

describe('gateway handshakes across key changes', () => {
  it('a client that changed its key is found by the new key only', () => {
    const gateway = new Node({ crypto: c, privateKey: c.randomBytes(32), createAgent: iceAgentFactory() });
    const oldKey = c.randomBytes(32);
    const newKey = c.randomBytes(32);
    gateway.upsertConnection('client', setup(c.x25519PublicKey(oldKey)), 1_000);
    expect(answered(gateway, client(oldKey, gateway.publicKey), 1_000)).toBe(true);

    gateway.upsertConnection('client', setup(c.x25519PublicKey(newKey)), 2_000);
    const before = gateway.drops.get('unknown_wireguard_peer') ?? 0;
    expect(answered(gateway, client(oldKey, gateway.publicKey), 10_000)).toBe(false);
    expect(gateway.drops.get('unknown_wireguard_peer')).toBe(before + 1);
    expect(answered(gateway, client(newKey, gateway.publicKey), 10_000)).toBe(true);
  });

  it('after the gateway resets its own key, only handshakes made for the new key succeed', () => {
    const gateway = new Node({ crypto: c, privateKey: c.randomBytes(32), createAgent: iceAgentFactory() });
    const clientKey = c.randomBytes(32);
    const oldGatewayPublic = gateway.publicKey;
    gateway.upsertConnection('client', setup(c.x25519PublicKey(clientKey)), 1_000);
    expect(answered(gateway, client(clientKey, oldGatewayPublic), 1_000)).toBe(true);

    gateway.reset(c.randomBytes(32), 2_000);
    gateway.upsertConnection('client', setup(c.x25519PublicKey(clientKey)), 2_000);
    expect(answered(gateway, client(clientKey, oldGatewayPublic), 10_000)).toBe(false);
    expect(answered(gateway, client(clientKey, gateway.publicKey), 20_000)).toBe(true);
  });
});
