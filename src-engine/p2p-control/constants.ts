/** Numbers of the p2p control protocol and of the client's DNS-resource NAT (docs/protocol.md §1, §7.1). */
import { IPV6_HEADER_LENGTH, MAX_IP_SIZE } from '../packet/index.js';

/** IPv6 Next Header of a control packet: 255, reserved by IANA, so no real traffic uses it. */
export const P2P_CONTROL_NEXT_HEADER = 0xff;
/** The FZ header after the IPv6 header: the event kind, then 7 reserved bytes. */
export const P2P_CONTROL_HEADER_LENGTH = 8;
/** Where the JSON starts. */
export const P2P_CONTROL_PAYLOAD_OFFSET = IPV6_HEADER_LENGTH + P2P_CONTROL_HEADER_LENGTH;
/** Largest JSON payload: the whole packet stays within the 1280-byte TUN MTU. */
export const P2P_CONTROL_MAX_JSON = MAX_IP_SIZE - P2P_CONTROL_PAYLOAD_OFFSET;

/** Event kinds (byte 0 of the FZ header). */
export const EVENT_ASSIGNED_IPS = 0;
export const EVENT_DOMAIN_STATUS = 1;
export const EVENT_GOODBYE = 2;

/** Longest DNS name in text form without the trailing dot (RFC 1035 §2.3.4: 255 octets on the wire). */
export const MAX_DOMAIN_LENGTH = 253;
/** Longest label (RFC 1035 §2.3.4). */
export const MAX_LABEL_LENGTH = 63;

/** `AssignedIps` is sent again at most this often for one entry (`should_send_assigned_ips_packet`). */
export const ASSIGNED_IPS_RESEND_MS = 2_000;
/** Packets held per DNS-resource NAT entry while it is pending. */
export const DNS_NAT_BUFFER = 32;
/** Control packets held per peer while its connection is being set up. */
export const PENDING_PEER_PACKETS = 128;
