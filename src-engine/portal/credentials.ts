/**
 * Per-pair secrets the portal hands to a client and a gateway (docs/protocol.md §3.10 step 4, §5.2,
 * §9.13), and the TURN REST credentials of relays.
 *
 * The PSK and the ICE credentials are deterministic in (client id, client public key,
 * gateway id, gateway public key), so a repeated authorization yields identical values and
 * connlib can reuse the tunnel; a new public key on either side yields new ones.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import type { IceCredentials } from './messages/common.js';

export const PSK_BASE_LENGTH = 32;

export interface PeerIdentity {
  /** Device id (UUID string). */
  readonly id: string;
  /** Standard base64 of the X25519 public key, exactly as the device sent it. */
  readonly publicKey: string;
}

/**
 * WireGuard PSK of a client–gateway pair: PBKDF2-HMAC-SHA256 with one iteration (the inputs are
 * already high-entropy), password = client psk_base ‖ gateway psk_base, 32 bytes, base64.
 */
export function derivePresharedKey(
  client: PeerIdentity & { readonly pskBase: Uint8Array },
  gateway: PeerIdentity & { readonly pskBase: Uint8Array },
): string {
  assertPskBase(client.pskBase, 'client');
  assertPskBase(gateway.pskBase, 'gateway');
  const salt = `WG_PSK|C_ID:${client.id}|G_ID:${gateway.id}|C_PK:${client.publicKey}|G_PK:${gateway.publicKey}`;
  const password = Buffer.concat([client.pskBase, gateway.pskBase]);
  return pbkdf2Sync(password, salt, 1, 32, 'sha256').toString('base64');
}

/** PSK of a client-to-client pair (§8), with its own salt prefix so keys never collide. */
export function deriveClientToClientPresharedKey(
  a: PeerIdentity & { readonly pskBase: Uint8Array },
  b: PeerIdentity & { readonly pskBase: Uint8Array },
): string {
  assertPskBase(a.pskBase, 'client A');
  assertPskBase(b.pskBase, 'client B');
  const salt = `WG_PSK_CC|CA_ID:${a.id}|CB_ID:${b.id}|CA_PK:${a.publicKey}|CB_PK:${b.publicKey}`;
  return pbkdf2Sync(Buffer.concat([a.pskBase, b.pskBase]), salt, 1, 32, 'sha256').toString('base64');
}

function assertPskBase(base: Uint8Array, who: string): void {
  if (base.length !== PSK_BASE_LENGTH) {
    throw new RangeError(`${who} psk_base must be ${PSK_BASE_LENGTH} bytes, got ${base.length}`);
  }
}

export interface PairIceCredentials {
  /** The initiator's (client's) own credentials. */
  readonly initiator: IceCredentials;
  /** The receiver's (gateway's) own credentials. */
  readonly receiver: IceCredentials;
}

/**
 * ICE credentials of a pair: h = base32-lower-nopad(sha256("<i_id>:<i_pk>:<r_id>:<r_pk>")),
 * 52 characters; initiator ufrag h[0..4], pwd h[4..26]; receiver ufrag h[26..30], pwd h[30..52].
 */
export function deriveIceCredentials(initiator: PeerIdentity, receiver: PeerIdentity): PairIceCredentials {
  const seed = `${initiator.id}:${initiator.publicKey}:${receiver.id}:${receiver.publicKey}`;
  const h = base32LowerNoPad(createHash('sha256').update(seed, 'utf8').digest());
  return {
    initiator: { username: h.slice(0, 4), password: h.slice(4, 26) },
    receiver: { username: h.slice(26, 30), password: h.slice(30, 52) },
  };
}

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, without padding. */
export function base32LowerNoPad(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * TURN REST API credentials as coturn's `use-auth-secret` checks them:
 * `username = "<expiry unix seconds>:<user>"`, `password = base64(HMAC-SHA1(secret, username))`.
 */
export function turnRestCredentials(
  secret: string,
  user: string,
  expiresAt: number,
): { username: string; password: string } {
  if (!Number.isInteger(expiresAt) || expiresAt < 0) throw new RangeError('expiresAt must be unix seconds');
  if (user.includes(':')) throw new RangeError('the TURN REST user part must not contain ":"');
  const username = `${expiresAt}:${user}`;
  const password = createHmac('sha1', secret).update(username, 'utf8').digest('base64');
  return { username, password };
}

/** `external_id` as the client sends it (§3.1): hex sha256 of a UUID device id, else verbatim. */
export function externalIdFor(deviceId: string): string {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(deviceId);
  return isUuid ? createHash('sha256').update(deviceId, 'utf8').digest('hex') : deviceId;
}
