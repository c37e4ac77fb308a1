/**
 * What a fragmented packet says about its place in the original datagram (RFC 791 §3.2,
 * RFC 8200 §4.5). Only the first fragment (offset 0) carries the upper-layer header, and no
 * fragment carries the whole upper-layer message, so its checksum cannot be checked.
 */
export interface IpFragment {
  /** Fragment Offset in bytes from the start of the original payload. */
  readonly offset: number;
  /** The MF ("more fragments") flag / M bit. */
  readonly moreFragments: boolean;
  /** IPv4 Identification (16 bits) or IPv6 Fragment header Identification (32 bits). */
  readonly identification: number;
}
