/* node-tun: splitting offloaded TUN reads and coalescing TUN writes (see vnet.h). */
#include "vnet.h"

#include <string.h>

#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80
/* At most this many packets in one coalesced write (64 KiB of 1,380-byte payloads is 47). */
#define MAX_GROUP 64

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void wrle16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void vnet_hdr_decode(const uint8_t *p, vnet_hdr *h) {
  h->flags = p[0];
  h->gso_type = p[1];
  h->hdr_len = le16(p + 2);
  h->gso_size = le16(p + 4);
  h->csum_start = le16(p + 6);
  h->csum_offset = le16(p + 8);
}

void vnet_hdr_encode(const vnet_hdr *h, uint8_t *p) {
  p[0] = h->flags;
  p[1] = h->gso_type;
  wrle16(p + 2, h->hdr_len);
  wrle16(p + 4, h->gso_size);
  wrle16(p + 6, h->csum_start);
  wrle16(p + 8, h->csum_offset);
}

/* ---- checksums ------------------------------------------------------------------------------ */

/* The sum is kept as a big-endian one's-complement partial sum (not yet folded). Words are loaded
 * in host order four bytes at a time; on a little-endian host that yields the byte-swapped sum,
 * swapped back once at the end (RFC 1071 §2(B): the sum is byte-order independent). */
uint32_t vnet_csum_add(uint32_t sum, const uint8_t *p, size_t n) {
  uint64_t acc = 0;
  while (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    acc += (uint64_t)p[0] << 8;
#else
    acc += p[0];
#endif
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  uint32_t folded = (uint32_t)acc;
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
  folded = ((folded & 0xff) << 8) | (folded >> 8);
#endif
  uint64_t total = (uint64_t)sum + folded;
  while (total >> 32) total = (total & 0xffffffffu) + (total >> 32);
  return (uint32_t)total;
}

uint16_t vnet_csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* The TCP/UDP pseudo-header (RFC 793 §3.1, RFC 8200 §8.1) of a packet. */
static uint32_t pseudo_sum(const uint8_t *ip, int is_v6, uint8_t proto, size_t l4_len) {
  uint32_t sum = is_v6 ? vnet_csum_add(0, ip + 8, 32) : vnet_csum_add(0, ip + 12, 8);
  sum += proto;
  sum += (uint32_t)(l4_len & 0xffff) + (uint32_t)(l4_len >> 16);
  return sum;
}

static void ipv4_header_checksum(uint8_t *ip, size_t ihl) {
  wr16(ip + 10, 0);
  wr16(ip + 10, (uint16_t)~vnet_csum_fold(vnet_csum_add(0, ip, ihl)));
}

/* Fills in the TCP or UDP checksum of one whole packet (the field is recomputed from zero). */
static void l4_checksum(uint8_t *pkt, size_t len, size_t l4_off, int is_v6, int is_tcp) {
  size_t field = l4_off + (is_tcp ? 16 : 6);
  wr16(pkt + field, 0);
  uint32_t sum = pseudo_sum(pkt, is_v6, is_tcp ? PROTO_TCP : PROTO_UDP, len - l4_off);
  uint16_t c = (uint16_t)~vnet_csum_fold(vnet_csum_add(sum, pkt + l4_off, len - l4_off));
  if (!is_tcp && c == 0) c = 0xffff; /* UDP: zero means "no checksum" (RFC 768) */
  wr16(pkt + field, c);
}

/* ---- read side: split ----------------------------------------------------------------------- */

/* The IP packet's own length as its header says (IPv4 total length, IPv6 40 + payload length),
 * or 0 if the header is not plausible for len bytes. */
static size_t ip_length(const uint8_t *p, size_t len, int *is_v6, size_t *ihl) {
  if (len < 1) return 0;
  if ((p[0] >> 4) == 4) {
    if (len < 20) return 0;
    *is_v6 = 0;
    *ihl = (size_t)(p[0] & 0x0f) * 4;
    size_t total = rd16(p + 2);
    return *ihl >= 20 && total >= *ihl && total <= len ? total : 0;
  }
  if ((p[0] >> 4) == 6) {
    if (len < 40) return 0;
    *is_v6 = 1;
    *ihl = 40;
    size_t total = 40 + (size_t)rd16(p + 4);
    /* A GSO super packet of IPv6 may exceed 64 KiB only with a jumbogram (BIG TCP), which we never
     * enable; then the payload length is 0 and the packet is refused. */
    return total <= len ? total : 0;
  }
  return 0;
}

int vnet_split_begin(vnet_split *s, const uint8_t *data, size_t len) {
  memset(s, 0, sizeof *s);
  if (len < VNET_HDR_LEN) return -1;
  vnet_hdr_decode(data, &s->h);
  s->pkt = data + VNET_HDR_LEN;
  size_t ihl = 0;
  size_t total = ip_length(s->pkt, len - VNET_HDR_LEN, &s->is_v6, &ihl);
  if (total == 0) return -1;
  s->len = total; /* anything after the IP length is link padding */
  uint8_t gso = s->h.gso_type & (uint8_t)~VNET_GSO_ECN;
  if (s->h.flags & VNET_F_NEEDS_CSUM) {
    if ((size_t)s->h.csum_start + s->h.csum_offset + 2 > s->len || s->h.csum_start < ihl) return -1;
  }
  if (gso == VNET_GSO_NONE) {
    s->single = 1;
    return 0;
  }
  if (!(s->h.flags & VNET_F_NEEDS_CSUM) || s->h.gso_size == 0) return -1;
  if (gso == VNET_GSO_TCPV4 || gso == VNET_GSO_TCPV6) {
    if ((gso == VNET_GSO_TCPV6) != s->is_v6) return -1;
    s->is_tcp = 1;
  } else if (gso != VNET_GSO_UDP_L4) {
    return -1; /* UFO (type 3) is never enabled; anything else is unknown */
  }
  s->l4_off = s->h.csum_start;
  /* The L4 protocol must be what the GSO type says (no extension headers between: csum_start is
   * then exactly the fixed header). */
  uint8_t proto = s->is_v6 ? s->pkt[6] : s->pkt[9];
  if (s->l4_off != ihl || proto != (s->is_tcp ? PROTO_TCP : PROTO_UDP)) return -1;
  if (s->is_tcp) {
    if (s->l4_off + 20 > s->len) return -1;
    size_t thl = (size_t)(s->pkt[s->l4_off + 12] >> 4) * 4;
    if (thl < 20) return -1;
    s->hdr_len = s->l4_off + thl;
  } else {
    s->hdr_len = s->l4_off + 8;
  }
  if (s->hdr_len > s->len) return -1;
  if (s->hdr_len == s->len) {
    s->single = 1; /* a GSO packet without payload: pass it on as it is */
    return 0;
  }
  s->mss = s->h.gso_size;
  return 0;
}

uint32_t vnet_split_count(const vnet_split *s) {
  if (s->single) return 1;
  size_t payload = s->len - s->hdr_len;
  return (uint32_t)((payload + s->mss - 1) / s->mss);
}

long vnet_split_next(vnet_split *s, uint8_t *dst, size_t cap) {
  if (s->done) return 0;
  if (s->single) {
    s->done = 1;
    if (s->len > cap) return -1;
    memcpy(dst, s->pkt, s->len);
    if (s->h.flags & VNET_F_NEEDS_CSUM) {
      /* The kernel left the checksum to us: the field holds the pseudo-header sum already. */
      size_t start = s->h.csum_start, field = start + s->h.csum_offset;
      uint16_t c = (uint16_t)~vnet_csum_fold(vnet_csum_add(0, dst + start, s->len - start));
      /* A UDP checksum (offset 6) of zero is sent as all ones (RFC 768). */
      if (c == 0 && s->h.csum_offset == 6) c = 0xffff;
      wr16(dst + field, c);
    }
    return (long)s->len;
  }
  size_t payload = s->len - s->hdr_len;
  if (s->off >= payload) {
    s->done = 1;
    return 0;
  }
  size_t seg = payload - s->off < s->mss ? payload - s->off : s->mss;
  size_t out = s->hdr_len + seg;
  if (out > cap) {
    s->done = 1;
    return -1;
  }
  memcpy(dst, s->pkt, s->hdr_len);
  memcpy(dst + s->hdr_len, s->pkt + s->hdr_len + s->off, seg);
  if (s->is_v6) {
    wr16(dst + 4, (uint16_t)(out - 40));
  } else {
    wr16(dst + 2, (uint16_t)out);
    wr16(dst + 4, (uint16_t)(rd16(s->pkt + 4) + s->index)); /* a fresh IP ID per packet */
    ipv4_header_checksum(dst, s->l4_off);
  }
  int last = s->off + seg == payload;
  if (s->is_tcp) {
    uint8_t *th = dst + s->l4_off;
    wr32(th + 4, rd32(s->pkt + s->l4_off + 4) + (uint32_t)s->off);
    /* As the kernel's own segmentation: FIN and PSH belong to the last packet, CWR to the first. */
    if (!last) th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
    if (s->index > 0) th[13] &= (uint8_t)~TCP_CWR;
  } else {
    wr16(dst + s->l4_off + 4, (uint16_t)(out - s->l4_off));
  }
  l4_checksum(dst, out, s->l4_off, s->is_v6, s->is_tcp);
  s->off += seg;
  s->index++;
  if (last) s->done = 1;
  return (long)out;
}

/* ---- write side: coalesce ------------------------------------------------------------------- */

/* The IP header of a packet we may coalesce: plain IPv4 (no options, not a fragment, valid
 * header checksum) or IPv6 without extension headers, carrying `proto`, exactly as long as the
 * header says and holding at least l4_min bytes after it. Returns its length (20 or 40), or 0. */
static size_t plain_ip_header(const uint8_t *p, size_t len, uint8_t proto, size_t l4_min, int *is_v6) {
  if (len < 20 + l4_min) return 0;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != proto || rd16(p + 2) != len || (rd16(p + 6) & 0x3fff) != 0) return 0;
    if (vnet_csum_fold(vnet_csum_add(0, p, 20)) != 0xffff) return 0;
    *is_v6 = 0;
    return 20;
  }
  if ((p[0] >> 4) == 6) {
    if (len < 40 + l4_min || p[6] != proto || 40 + (size_t)rd16(p + 4) != len) return 0;
    *is_v6 = 1;
    return 40;
  }
  return 0;
}

/* The same IP header apart from what differs between segments of one send: length, IPv4 ID and
 * header checksum. */
static int same_ip_header(const uint8_t *a, const uint8_t *b, int is_v6) {
  if (is_v6) return memcmp(a, b, 4) == 0 && memcmp(a + 6, b + 6, 34) == 0;
  /* version..TOS, flags/fragment (DF), TTL, protocol, addresses */
  return memcmp(a, b, 2) == 0 && memcmp(a + 6, b + 6, 4) == 0 && memcmp(a + 12, b + 12, 8) == 0;
}

/*
 * Fills g for a group of `count` packets whose first one is p0: its headers (hdr_len bytes, the
 * IP header ihl of them) rewritten for the whole segment of `total` payload bytes, and the virtio
 * header asking the kernel to cut it at gso_size. The L4 checksum field (at csum_offset) gets the
 * pseudo-header sum: the kernel finishes it (or trusts it on local delivery), as for any
 * CHECKSUM_PARTIAL packet. Returns the header so the caller can adjust protocol fields.
 */
static uint8_t *write_group(vnet_group *g, const uint8_t *p0, size_t ihl, size_t hdr_len, int is_v6,
                            uint8_t proto, uint8_t gso_type, size_t gso_size, size_t total, uint32_t count,
                            uint16_t csum_offset) {
  size_t out = hdr_len + total;
  g->count = count;
  g->head_len = hdr_len;
  g->payload_off = hdr_len;
  memcpy(g->head, p0, hdr_len);
  if (is_v6) {
    wr16(g->head + 4, (uint16_t)(out - 40));
  } else {
    wr16(g->head + 2, (uint16_t)out);
    ipv4_header_checksum(g->head, 20);
  }
  if (proto == PROTO_UDP) wr16(g->head + ihl + 4, (uint16_t)(out - ihl));
  wr16(g->head + ihl + csum_offset, vnet_csum_fold(pseudo_sum(g->head, is_v6, proto, out - ihl)));
  vnet_hdr h = {
      .flags = VNET_F_NEEDS_CSUM,
      .gso_type = gso_type,
      .hdr_len = (uint16_t)hdr_len,
      .gso_size = (uint16_t)gso_size,
      .csum_start = (uint16_t)ihl,
      .csum_offset = csum_offset,
  };
  vnet_hdr_encode(&h, g->vhdr);
  return g->head;
}

typedef struct {
  int is_v6;
  size_t ihl, hdr_len, payload;
  uint8_t flags;
  uint32_t seq;
} tcp_view;

/* A TCP packet we may coalesce: a plain IP header (plain_ip_header), valid checksum, data and no
 * SYN/RST/URG. */
static int tcp_candidate(const uint8_t *p, size_t len, tcp_view *v) {
  v->ihl = plain_ip_header(p, len, PROTO_TCP, 20, &v->is_v6);
  if (v->ihl == 0) return 0;
  const uint8_t *th = p + v->ihl;
  size_t thl = (size_t)(th[12] >> 4) * 4;
  if (thl < 20 || v->ihl + thl >= len) return 0;
  v->hdr_len = v->ihl + thl;
  v->payload = len - v->hdr_len;
  v->flags = th[13];
  v->seq = rd32(th + 4);
  if (v->flags & (TCP_SYN | TCP_RST | TCP_URG) || !(v->flags & TCP_ACK)) return 0;
  uint32_t sum = pseudo_sum(p, v->is_v6, PROTO_TCP, len - v->ihl);
  return vnet_csum_fold(vnet_csum_add(sum, th, len - v->ihl)) == 0xffff;
}

/* Same flow and the same headers apart from what differs between segments of one TCP send:
 * IP length, ID and checksum; TCP sequence number, PSH/FIN on the last one, checksum. */
static int same_headers(const uint8_t *a, const uint8_t *b, const tcp_view *va, const tcp_view *vb) {
  if (va->is_v6 != vb->is_v6 || va->hdr_len != vb->hdr_len || !same_ip_header(a, b, va->is_v6)) return 0;
  const uint8_t *ta = a + va->ihl, *tb = b + vb->ihl;
  /* ports; ack number and data offset; window; urgent pointer and options */
  if (memcmp(ta, tb, 4) != 0 || memcmp(ta + 8, tb + 8, 5) != 0 || memcmp(ta + 14, tb + 14, 2) != 0 ||
      memcmp(ta + 18, tb + 18, va->hdr_len - va->ihl - 18) != 0)
    return 0;
  return (va->flags & ~(TCP_PSH | TCP_FIN)) == (vb->flags & ~(TCP_PSH | TCP_FIN));
}

static uint32_t coalesce_tcp(const uint8_t *base, size_t stride, const uint32_t *lens, uint32_t n, vnet_group *g) {
  tcp_view first, v;
  const uint8_t *p0 = base;
  if (!tcp_candidate(p0, lens[0], &first) || first.flags & (TCP_PSH | TCP_FIN | TCP_CWR)) return 1;
  size_t mss = first.payload, total = first.payload;
  uint32_t count = 1;
  uint8_t last_flags = first.flags;
  while (count < n && count < MAX_GROUP) {
    const uint8_t *p = base + (size_t)count * stride;
    if (!tcp_candidate(p, lens[count], &v) || !same_headers(p0, p, &first, &v)) break;
    if (v.seq != first.seq + (uint32_t)total || v.payload > mss) break;
    /* IPv4 total length and IPv6 payload length are 16 bits. */
    if (first.hdr_len - (first.is_v6 ? 40 : 0) + total + v.payload > 65535) break;
    count++;
    total += v.payload;
    last_flags = v.flags;
    /* Only the last packet may be short or carry PSH/FIN: the kernel re-cuts at mss. */
    if (v.payload < mss || v.flags & (TCP_PSH | TCP_FIN)) break;
  }
  if (count < 2) return 1;
  uint8_t *head = write_group(g, p0, first.ihl, first.hdr_len, first.is_v6, PROTO_TCP,
                              first.is_v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4, mss, total, count, 16);
  head[first.ihl + 13] = (uint8_t)(first.flags | (last_flags & (TCP_PSH | TCP_FIN)));
  return count;
}

typedef struct {
  int is_v6;
  size_t ihl, payload;
  uint16_t id;
} udp_view;

/* A UDP datagram we may coalesce: a plain IP header (plain_ip_header), data and a valid
 * checksum. A datagram without a checksum (IPv4's zero) is left alone: its segments would gain
 * one. */
static int udp_candidate(const uint8_t *p, size_t len, udp_view *v) {
  v->ihl = plain_ip_header(p, len, PROTO_UDP, 9, &v->is_v6);
  if (v->ihl == 0) return 0;
  v->id = v->is_v6 ? 0 : rd16(p + 4);
  const uint8_t *uh = p + v->ihl;
  if (rd16(uh + 4) != len - v->ihl || rd16(uh + 6) == 0) return 0;
  v->payload = len - v->ihl - 8;
  uint32_t sum = pseudo_sum(p, v->is_v6, PROTO_UDP, len - v->ihl);
  return vnet_csum_fold(vnet_csum_add(sum, uh, len - v->ihl)) == 0xffff;
}

/* Same flow: the same IP header (same_ip_header) and ports. */
static int same_udp_headers(const uint8_t *a, const uint8_t *b, const udp_view *va, const udp_view *vb) {
  return va->is_v6 == vb->is_v6 && same_ip_header(a, b, va->is_v6) && memcmp(a + va->ihl, b + vb->ihl, 4) == 0;
}

/* One UDP segment (USO): equal payloads, the last may be shorter. IPv4 IDs must run on by one,
 * as the kernel numbers the segments it cuts, so that what arrives is what was sent. */
static uint32_t coalesce_udp(const uint8_t *base, size_t stride, const uint32_t *lens, uint32_t n, vnet_group *g) {
  udp_view first, v;
  const uint8_t *p0 = base;
  if (!udp_candidate(p0, lens[0], &first)) return 1;
  size_t size = first.payload, total = first.payload;
  uint32_t count = 1;
  while (count < n && count < MAX_GROUP) {
    const uint8_t *p = base + (size_t)count * stride;
    if (!udp_candidate(p, lens[count], &v) || !same_udp_headers(p0, p, &first, &v)) break;
    if (!first.is_v6 && v.id != (uint16_t)(first.id + count)) break;
    if (v.payload > size) break;
    if ((first.is_v6 ? 0 : 20) + 8 + total + v.payload > 65535) break;
    count++;
    total += v.payload;
    if (v.payload < size) break;
  }
  if (count < 2) return 1;
  write_group(g, p0, first.ihl, first.ihl + 8, first.is_v6, PROTO_UDP, VNET_GSO_UDP_L4, size, total, count, 6);
  return count;
}

uint32_t vnet_coalesce(const uint8_t *base, size_t stride, const uint32_t *lens, uint32_t n, int udp,
                       vnet_group *g) {
  memset(g, 0, sizeof *g);
  g->count = 1;
  if (n < 2) return 1;
  /* Each fills g only for a group of two or more. */
  uint32_t k = coalesce_tcp(base, stride, lens, n, g);
  return k == 1 && udp ? coalesce_udp(base, stride, lens, n, g) : k;
}
