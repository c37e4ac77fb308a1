/**
 * Telling apart what arrives on the one UDP socket (RFC 7983 §7, docs/protocol.md §5.8) by its first
 * byte: 0–3 STUN (the two leading zero bits and the top of the message type), 64–79 TURN
 * ChannelData (channel numbers 0x4000–0x4FFF), 1–4 with three zero bytes WireGuard. STUN's range
 * overlaps WireGuard's message types 1–3, so a datagram in it is STUN only if it also has the
 * magic cookie; otherwise it is offered to WireGuard.
 */
import { readU32 } from '../../packet/bytes.js';
import {
  DEMUX_CHANNEL_DATA_MAX,
  DEMUX_CHANNEL_DATA_MIN,
  DEMUX_STUN_MAX,
  MAGIC_COOKIE,
  STUN_HEADER_LENGTH,
} from '../constants.js';

export type DatagramKind = 'stun' | 'channel_data' | 'wireguard' | 'unknown';

export function classifyDatagram(datagram: Uint8Array): DatagramKind {
  if (datagram.length === 0) return 'unknown';
  const first = datagram[0]!;
  if (
    first <= DEMUX_STUN_MAX &&
    datagram.length >= STUN_HEADER_LENGTH &&
    readU32(datagram, 4) === MAGIC_COOKIE
  ) {
    return 'stun';
  }
  if (first >= DEMUX_CHANNEL_DATA_MIN && first <= DEMUX_CHANNEL_DATA_MAX) return 'channel_data';
  // WireGuard (paper §5.4): a type byte 1–4 followed by three reserved zero bytes.
  if (
    first >= 1 &&
    first <= 4 &&
    datagram.length >= 4 &&
    datagram[1] === 0 &&
    datagram[2] === 0 &&
    datagram[3] === 0
  ) {
    return 'wireguard';
  }
  return 'unknown';
}
