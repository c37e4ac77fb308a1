/**
 * The engine's IP packet library: zero-copy views over IPv4/IPv6/UDP/TCP/ICMP bytes, a parser
 * that validates and never throws, builders, RFC 1071/1624 checksums and in-place NAT rewrites.
 */
export * from './constants.js';
export { PacketError, isPacketError, type PacketErrorCode } from './errors.js';
export type { IpFragment } from './fragment.js';
export {
  addressKey,
  formatIp,
  formatIpv4,
  formatIpv6,
  parseIpAddress,
  parseIpv4Address,
  parseIpv6Address,
} from './address.js';
export {
  applyChecksumDelta,
  checksumDelta,
  checksumFieldOffset,
  fold,
  internetChecksum,
  ipv4HeaderChecksum,
  onesComplementSum,
  pseudoHeaderSum,
  transportChecksum,
  updateChecksum16,
  updateChecksumBytes,
  verifyIpv4HeaderChecksum,
  verifyTransportChecksum,
  type ChecksumScope,
} from './checksum.js';
export {
  ipv4DontFragment,
  ipv4Dst,
  ipv4DstU32,
  ipv4FragmentOffset,
  ipv4HeaderChecksumField,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4IsFragment,
  ipv4MoreFragments,
  ipv4Protocol,
  ipv4Src,
  ipv4SrcU32,
  ipv4TotalLength,
  ipv4Tos,
  ipv4Ttl,
  writeIpv4Header,
  type Ipv4HeaderFields,
} from './ipv4.js';
export {
  ipv6Dst,
  ipv6FlowLabel,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLength,
  ipv6Src,
  ipv6TrafficClass,
  walkIpv6ExtensionHeaders,
  writeIpv6Header,
  type Ipv6HeaderFields,
  type Ipv6UpperLayer,
} from './ipv6.js';
export { UdpHeader } from './udp.js';
export { TcpHeader, tcpMssOption } from './tcp.js';
export { IcmpHeader, type IcmpKind } from './icmp.js';
export { IpPacket, ipVersion, parseIpPacket, type ParseOptions, type Transport } from './parse.js';
export {
  buildIcmpEcho,
  buildTcpPacket,
  buildUdpPacket,
  ipHeaderLengthFor,
  writeIcmpEcho,
  writeIpHeader,
  writeTcpPacket,
  writeUdpPacket,
  type IcmpEchoFields,
  type IpFields,
  type TcpPacketFields,
  type UdpPacketFields,
} from './build.js';
export {
  buildIcmpError,
  buildIcmpUnreachable,
  icmpErrorAllowed,
  writeIcmpError,
  writeIcmpUnreachable,
  type IcmpErrorOptions,
  type UnreachableReason,
} from './icmp-error.js';
export {
  rewriteDstAddress,
  rewriteDstPort,
  rewriteIcmpIdentifier,
  rewriteSrcAddress,
  rewriteSrcPort,
} from './nat.js';
