/**
 * The FZ peer-to-peer control protocol (docs/protocol.md §1): the packet codec, the client's
 * DNS-resource NAT state machine and the per-peer buffer of control packets waiting for a
 * connection.
 */
export * from './constants.js';
export {
  buildAssignedIps,
  buildDomainStatus,
  buildGoodbye,
  decodeP2pControl,
  encodeP2pControl,
  isP2pControl,
  isP2pControlError,
  isValidDomainName,
  type AssignedIps,
  type DomainStatus,
  type NatStatus,
  type P2pControlError,
  type P2pControlErrorCode,
  type P2pControlEvent,
} from './codec.js';
export {
  DnsResourceNat,
  type ControlPacketOut,
  type DnsNatAssignment,
  type DnsNatCounter,
  type DnsNatEntryView,
  type DnsNatKey,
  type DnsNatStateKind,
  type OutgoingVerdict,
} from './dns-resource-nat.js';
export { PendingPeerPackets } from './pending-peer-packets.js';
