/*
 * node-tun: TUN offloads (Linux IFF_VNET_HDR). With offloads on, every packet crossing the TUN fd
 * carries a 10-byte virtio-net header in front. Reads may then be one "super packet": a TCP (or,
 * with USO, UDP) segment of up to 64 KiB that the kernel has not cut into MTU-sized packets, or a
 * packet whose checksum is left for us to finish. Writes may hand the kernel one coalesced TCP
 * segment built from several packets of the same flow, which its stack then takes in one go.
 *
 * This file is pure byte work (no N-API, no syscalls) so it can be unit-tested on any platform.
 * The engine above never sees a virtio header nor a packet bigger than the MTU: reads are split
 * here into ordinary packets, and writes are coalesced here from ordinary packets.
 */
#ifndef NODE_TUN_VNET_H
#define NODE_TUN_VNET_H

#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN 10
/* The largest IP packet the kernel hands us in one read (64 KiB), plus the virtio header. */
#define VNET_MAX_READ (65535 + VNET_HDR_LEN)

/* virtio_net_hdr values (Linux uapi/linux/virtio_net.h; virtio 1.x spec §5.1.6). */
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80

/* The header in host order. The TUN device uses the host's byte order (legacy virtio), which is
 * little-endian on every platform we build for. */
typedef struct {
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
} vnet_hdr;

void vnet_hdr_decode(const uint8_t *p, vnet_hdr *h);
void vnet_hdr_encode(const vnet_hdr *h, uint8_t *p);

/*
 * A read super packet being split into ordinary packets. vnet_split_begin checks it; each
 * vnet_split_next writes one packet (whole IP headers, checksums done) into dst and advances.
 */
typedef struct {
  const uint8_t *pkt; /* the IP packet after the virtio header */
  size_t len;
  vnet_hdr h;
  size_t l4_off;  /* IP header length (csum_start) */
  size_t hdr_len; /* IP + TCP/UDP header */
  size_t mss;     /* payload bytes per packet */
  size_t off;     /* payload bytes already emitted */
  uint32_t index; /* packets already emitted */
  int is_v6, is_tcp;
  int single; /* not a GSO packet: emitted once, its checksum finished if asked */
  int done;
} vnet_split;

/* 0 on success; otherwise the packet is malformed and must be dropped. */
int vnet_split_begin(vnet_split *s, const uint8_t *data, size_t len);
/* Writes the next packet into dst (cap bytes): its length, or 0 when done, or -1 if it does not
 * fit in cap (the rest of the super packet is then dropped). */
long vnet_split_next(vnet_split *s, uint8_t *dst, size_t cap);
/* How many packets the whole super packet makes. */
uint32_t vnet_split_count(const vnet_split *s);

/*
 * Write-side coalescing. Given n ordinary packets, finds how
 * many of them (at least 1) form one TCP segment the kernel can take at once: same flow and
 * headers, consecutive sequence numbers, equal payload sizes (the last may be shorter), valid
 * checksums; or, failing that, one UDP segment (same flow, equal payloads, the last may be
 * shorter, consecutive IPv4 IDs, valid non-zero checksums). For a group of more than one, fills hdr (the virtio header) and head (the first
 * packet's headers rewritten for the whole segment, head_len bytes); the payloads follow in order.
 */
typedef struct {
  uint32_t count;  /* packets in the group */
  size_t head_len; /* IP + TCP or UDP header bytes in head */
  size_t payload_off;
  uint8_t head[120]; /* IPv6 40 + TCP 60 at most; IPv4 20 (no options) + 60 */
  uint8_t vhdr[VNET_HDR_LEN];
} vnet_group;

/* Packet k is at base + k * stride, lens[k] bytes long. With udp, runs of UDP datagrams of one
 * flow coalesce too (a USO segment; only for a device the kernel granted USO). */
uint32_t vnet_coalesce(const uint8_t *base, size_t stride, const uint32_t *lens, uint32_t n, int udp,
                       vnet_group *g);

/* One's-complement sum helpers (RFC 1071), exposed for tests. */
uint32_t vnet_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t vnet_csum_fold(uint32_t sum);

#endif
