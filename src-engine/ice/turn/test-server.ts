/**
 * A scripted fake TURN server for the client's unit tests: just enough of RFC 8656 (long-term
 * credentials with nonce rotation, allocations keyed by 5-tuple, permissions, channels, Send
 * and Data indications) to drive the client through every path, plus a hook to answer any
 * request by hand (errors, forgeries, silence).
 */
import {
  ERROR_ALLOCATION_MISMATCH,
  ERROR_BAD_REQUEST,
  ERROR_STALE_NONCE,
  ERROR_UNAUTHENTICATED,
  FIREZONE_REALM,
  METHOD_ALLOCATE,
  METHOD_BINDING,
  METHOD_CHANNEL_BIND,
  METHOD_CREATE_PERMISSION,
  METHOD_DATA,
  METHOD_REFRESH,
  METHOD_SEND,
} from '../constants.js';
import type { StunAttribute } from '../stun/attributes.js';
import { longTermKey } from '../stun/credentials.js';
import { classifyDatagram } from '../stun/demux.js';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  getAttributes,
  verifyIntegrity,
  type StunMessage,
} from '../stun/message.js';
import { formatTransportAddress, type TransportAddress } from '../transport-address.js';
import { decodeChannelData, encodeChannelData } from './channel-data.js';

export interface FakeAllocation {
  readonly relayed: TransportAddress[];
  lifetime: number;
  readonly permissions: Set<string>;
  /** channel number → peer */
  readonly channels: Map<number, TransportAddress>;
}

/** What the hook returns: bytes to send instead, `null` to stay silent, undefined for the default. */
export type Override = (msg: StunMessage, from: TransportAddress) => Uint8Array | null | undefined;

export class FakeTurnServer {
  realm = FIREZONE_REALM;
  nonce = 'nonce-0';
  readonly users = new Map<string, string>();
  readonly allocations = new Map<string, FakeAllocation>();
  /** Every request and indication received, decoded. */
  readonly received: StunMessage[] = [];
  /** Data the clients sent to peers, through Send indications or ChannelData. */
  readonly relayedOut: {
    client: string;
    peer: TransportAddress;
    data: Uint8Array;
    via: 'send' | 'channel';
  }[] = [];
  override: Override | undefined;
  private nextPort = 50_000;

  constructor(readonly address: TransportAddress) {}

  rotateNonce(): void {
    this.nonce = `nonce-${Number(this.nonce.slice(6)) + 1}`;
  }

  /** Handles one datagram from `from`; returns what to send back to it. */
  handle(bytes: Uint8Array, from: TransportAddress): Uint8Array[] {
    const clientKey = formatTransportAddress(from);
    if (classifyDatagram(bytes) === 'channel_data') {
      const cd = decodeChannelData(bytes);
      const peer = cd.ok ? this.allocations.get(clientKey)?.channels.get(cd.channel) : undefined;
      if (cd.ok && peer) {
        this.relayedOut.push({ client: clientKey, peer, data: Uint8Array.from(cd.payload), via: 'channel' });
      }
      return [];
    }
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) return [];
    const msg = decoded.message;
    this.received.push({ ...msg, raw: Uint8Array.from(msg.raw) });
    const scripted = this.override?.(msg, from);
    if (scripted === null) return [];
    if (scripted !== undefined) return [scripted];
    if (msg.class === 'indication' && msg.method === METHOD_SEND) {
      const alloc = this.allocations.get(clientKey);
      const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
      const data = getAttribute(msg, 'DATA')?.data;
      if (alloc && peer && data && alloc.permissions.has(peer.address)) {
        this.relayedOut.push({ client: clientKey, peer, data: Uint8Array.from(data), via: 'send' });
      }
      return [];
    }
    if (msg.class !== 'request') return [];
    if (msg.method === METHOD_BINDING) {
      return [reply(msg, 'success', [{ type: 'XOR-MAPPED-ADDRESS', address: from }])];
    }
    // Like coturn: an Allocate on a 5-tuple that has an allocation gets 437 before any
    // authentication, so a restarted client meets 437 on its very first Allocate.
    if (msg.method === METHOD_ALLOCATE && this.allocations.has(clientKey)) {
      return [
        reply(msg, 'error', [
          { type: 'ERROR-CODE', code: ERROR_ALLOCATION_MISMATCH, reason: 'Allocation Mismatch' },
        ]),
      ];
    }
    const auth = this.authenticate(msg);
    if ('challenge' in auth) return [auth.challenge];
    const ok = (attrs: StunAttribute[]): Uint8Array[] => [reply(msg, 'success', attrs, auth.key)];
    const error = (code: number, reason: string): Uint8Array[] => [
      reply(msg, 'error', [{ type: 'ERROR-CODE', code, reason }], auth.key),
    ];
    const alloc = this.allocations.get(clientKey);
    switch (msg.method) {
      case METHOD_ALLOCATE: {
        if (alloc) return error(ERROR_ALLOCATION_MISMATCH, 'Allocation Mismatch');
        const relayed = [{ address: '198.51.100.1', port: this.nextPort++ }];
        if (getAttribute(msg, 'ADDITIONAL-ADDRESS-FAMILY')?.family === 'ipv6') {
          relayed.push({ address: '2001:db8::1', port: this.nextPort++ });
        }
        const lifetime = getAttribute(msg, 'LIFETIME')?.seconds ?? 600;
        this.allocations.set(clientKey, { relayed, lifetime, permissions: new Set(), channels: new Map() });
        return ok([
          ...relayed.map((address) => ({ type: 'XOR-RELAYED-ADDRESS' as const, address })),
          { type: 'XOR-MAPPED-ADDRESS', address: from },
          { type: 'LIFETIME', seconds: lifetime },
        ]);
      }
      case METHOD_REFRESH: {
        if (!alloc) return error(ERROR_ALLOCATION_MISMATCH, 'Allocation Mismatch');
        const lifetime = getAttribute(msg, 'LIFETIME')?.seconds ?? 600;
        if (lifetime === 0) this.allocations.delete(clientKey);
        else alloc.lifetime = lifetime;
        return ok([{ type: 'LIFETIME', seconds: lifetime }]);
      }
      case METHOD_CREATE_PERMISSION: {
        if (!alloc) return error(ERROR_ALLOCATION_MISMATCH, 'Allocation Mismatch');
        const peers = getAttributes(msg, 'XOR-PEER-ADDRESS');
        if (peers.length === 0) return error(ERROR_BAD_REQUEST, 'Bad Request');
        for (const p of peers) alloc.permissions.add(p.address.address);
        return ok([]);
      }
      case METHOD_CHANNEL_BIND: {
        if (!alloc) return error(ERROR_ALLOCATION_MISMATCH, 'Allocation Mismatch');
        const channel = getAttribute(msg, 'CHANNEL-NUMBER')?.channel;
        const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
        if (channel === undefined || peer === undefined) return error(ERROR_BAD_REQUEST, 'Bad Request');
        alloc.channels.set(channel, peer);
        alloc.permissions.add(peer.address);
        return ok([]);
      }
      default:
        return error(ERROR_BAD_REQUEST, 'Bad Request');
    }
  }

  /** The key a request is protected with, or the 401/438 to answer it with. */
  private authenticate(msg: StunMessage): { key: Uint8Array } | { challenge: Uint8Array } {
    const challenge = (code: number, reason: string): { challenge: Uint8Array } => ({
      challenge: reply(msg, 'error', [
        { type: 'ERROR-CODE', code, reason },
        { type: 'REALM', value: this.realm },
        { type: 'NONCE', value: this.nonce },
      ]),
    });
    const username = getAttribute(msg, 'USERNAME')?.value;
    if (username === undefined || msg.integrityOffset === undefined) {
      return challenge(ERROR_UNAUTHENTICATED, 'Unauthorized');
    }
    const password = this.users.get(username);
    const key = longTermKey(username, this.realm, password ?? '');
    if (password === undefined || verifyIntegrity(msg, key) !== 'ok') {
      return challenge(ERROR_UNAUTHENTICATED, 'Unauthorized');
    }
    if (getAttribute(msg, 'NONCE')?.value !== this.nonce) return challenge(ERROR_STALE_NONCE, 'Stale Nonce');
    return { key };
  }

  /** Data from `peer` to the client at `client`: ChannelData if bound, else a Data indication. */
  fromPeer(client: TransportAddress, peer: TransportAddress, data: Uint8Array): Uint8Array | undefined {
    const alloc = this.allocations.get(formatTransportAddress(client));
    if (!alloc || !alloc.permissions.has(peer.address)) return undefined;
    for (const [channel, p] of alloc.channels) {
      if (p.address === peer.address && p.port === peer.port) return encodeChannelData(channel, data);
    }
    return dataIndication(peer, data);
  }
}

export function dataIndication(peer: TransportAddress, data: Uint8Array): Uint8Array {
  return encodeMessage({
    method: METHOD_DATA,
    class: 'indication',
    transactionId: new Uint8Array(12).fill(7),
    attributes: [
      { type: 'XOR-PEER-ADDRESS', address: peer },
      { type: 'DATA', data },
    ],
  });
}

/** A response to `request` with the given attributes, protected with `key` when given. */
export function reply(
  request: StunMessage,
  cls: 'success' | 'error',
  attributes: StunAttribute[],
  key?: Uint8Array,
): Uint8Array {
  return encodeMessage(
    { method: request.method, class: cls, transactionId: request.transactionId, attributes },
    { integrity: key ? { key } : undefined, fingerprint: true },
  );
}
