/*
 * node-tun: UdpSocket, a non-blocking UDP socket that moves datagrams in batches
 * (recvmmsg/sendmmsg on Linux; a recvmsg/sendmsg loop elsewhere) between the kernel and
 * JS-owned slot buffers, with 20-byte address records per slot.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#endif
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/sock_diag.h> /* SK_MEMINFO_* */
#include <netinet/udp.h>
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define NT_HAVE_GSO 1
#endif

#ifdef __linux__
#define nt_mmsghdr mmsghdr
#define nt_recvmmsg(fd, m, n) recvmmsg(fd, m, n, MSG_DONTWAIT, NULL)
#define nt_sendmmsg(fd, m, n) sendmmsg(fd, m, n, MSG_DONTWAIT)
#else
/* Without recvmmsg/sendmmsg (macOS): one system call per datagram, same semantics. */
struct nt_mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
};
static int nt_recvmmsg(int fd, struct nt_mmsghdr *m, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r = recvmsg(fd, &m[i].msg_hdr, MSG_DONTWAIT);
    if (r < 0) return i > 0 ? (int)i : -1;
    m[i].msg_len = (unsigned)r;
  }
  return (int)i;
}
static int nt_sendmmsg(int fd, struct nt_mmsghdr *m, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r = sendmsg(fd, &m[i].msg_hdr, MSG_DONTWAIT);
    if (r < 0) return i > 0 ? (int)i : -1;
    m[i].msg_len = (unsigned)r;
  }
  return (int)i;
}
#endif

#define SEND_CHUNK 1024u /* UIO_MAXIOV: the kernel's limit for one sendmmsg, and for iovecs */
#define GRO_ARENA 65536u /* the largest (coalesced) datagram */
#define GSO_MAX_SEGS 64u /* UDP_MAX_SEGMENTS on older kernels */
#define GSO_MAX_BYTES 65507u /* UDP payload limit of one IPv4 datagram */

typedef struct {
  nt_handle h; /* first member */
  int fd;      /* -1 once closed */
  int family;  /* AF_INET or AF_INET6 */
  uv_loop_t *loop;
  uv_poll_t *poll;
  int poll_events;
  char address[INET6_ADDRSTRLEN];
  uint16_t port;

  int reading;
  napi_ref buffer, lengths, addrs, on_packets, on_error;
  uint32_t slot_size, headroom, max_batch;

  napi_ref *writable; /* onceWritable callbacks */
  size_t n_writable, cap_writable;

  struct nt_mmsghdr *rmsgs;
  struct iovec *riov;
  struct sockaddr_storage *rnames;
  uint32_t rcap;
  struct nt_mmsghdr *smsgs;
  struct iovec *siov;
  struct sockaddr_storage *snames;
  uint32_t scap;

  /* UDP GSO (send) and GRO (receive), Linux. With GRO, datagrams are received into per-message
   * arenas of GRO_ARENA bytes and copied into slots, segment by segment; segments that do not fit
   * into this batch stay in the arenas ("pending") and go first in the next one, which an idle
   * handle brings about even if the socket is not readable again. */
  int gso, gro;
  uint8_t *gro_arena;
  uint32_t gro_cap; /* messages the arenas hold */
  char *rcmsg;
  uint32_t *gro_len, *gro_seg; /* per message; gro_seg 0: dropped */
  uint8_t *gro_rec;            /* per message: the source's address record */
  uint32_t pend_msg, pend_off, pend_count;
  uv_idle_t *idle;
  char *scmsg;
  uint32_t *srun; /* datagrams per message of the sendmmsg being built */

  uint64_t received, receive_batches, sent, send_batches, eagain_sends, truncated, send_errors, gso_sends,
      gro_receives;
} udp_sock;

static void delete_ref(napi_env env, napi_ref *r) {
  if (*r != NULL) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

static int is_active(const udp_sock *u) { return u->fd >= 0 && (u->reading || u->n_writable > 0); }

static void free_handle(uv_handle_t *h) { free(h); }

static void on_poll(uv_poll_t *handle, int status, int events);
static void update_idle(udp_sock *u);

/* Watches for exactly what is wanted: readable while reading, writable while callbacks wait. */
static int update_poll(udp_sock *u) {
  if (u->fd < 0) return 0;
  int want = (u->reading ? UV_READABLE : 0) | (u->n_writable > 0 ? UV_WRITABLE : 0);
  if (u->poll == NULL) {
    if (want == 0) return 0;
    u->poll = malloc(sizeof *u->poll);
    if (u->poll == NULL) return ENOMEM;
    int r = uv_poll_init(u->loop, u->poll, u->fd);
    if (r != 0) {
      free(u->poll);
      u->poll = NULL;
      return -r;
    }
    u->poll->data = u;
  }
  if (want == 0) {
    uv_poll_stop(u->poll);
  } else {
    int r = uv_poll_start(u->poll, want, on_poll);
    if (r != 0) return -r;
  }
  u->poll_events = want;
  return 0;
}

static void drop_reading(udp_sock *u) {
  u->reading = 0;
  if (!u->h.tearing_down) {
    delete_ref(u->h.env, &u->buffer);
    delete_ref(u->h.env, &u->lengths);
    delete_ref(u->h.env, &u->addrs);
    delete_ref(u->h.env, &u->on_packets);
    delete_ref(u->h.env, &u->on_error);
  }
}

static void drop_writable(udp_sock *u) {
  if (!u->h.tearing_down)
    for (size_t i = 0; i < u->n_writable; i++) delete_ref(u->h.env, &u->writable[i]);
  u->n_writable = 0;
}

static void close_socket(udp_sock *u) {
  drop_reading(u);
  drop_writable(u);
  if (u->idle != NULL) {
    u->idle->data = NULL;
    uv_close((uv_handle_t *)u->idle, free_handle);
    u->idle = NULL;
  }
  u->pend_msg = u->pend_count = 0;
  if (u->poll != NULL) {
    u->poll->data = NULL;
    uv_close((uv_handle_t *)u->poll, free_handle);
    u->poll = NULL;
  }
  if (u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
}

static void free_socket(udp_sock *u) {
  free(u->writable);
  free(u->rmsgs);
  free(u->riov);
  free(u->rnames);
  free(u->smsgs);
  free(u->siov);
  free(u->snames);
  free(u->gro_arena);
  free(u->rcmsg);
  free(u->gro_len);
  free(u->gro_seg);
  free(u->gro_rec);
  free(u->scmsg);
  free(u->srun);
  free(u);
}

static void udp_teardown(nt_handle *h) { close_socket((udp_sock *)h); }

static void udp_finalize(napi_env env, void *data, void *hint) {
  udp_sock *u = data;
  (void)hint;
  if (!u->h.tearing_down) {
    nt_handle_remove_hook(&u->h);
    close_socket(u);
    if (u->h.ctx != NULL) napi_async_destroy(env, u->h.ctx);
    delete_ref(env, &u->h.self);
  } else if (u->fd >= 0) {
    close(u->fd);
  }
  free_socket(u);
}

/* Errors that a later receive or send does not repeat (ICMP reports, one bad destination...). */
static int transient_error(int err) {
  switch (err) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EMSGSIZE:
    case EACCES:
    case EPERM:
    case EINVAL:
    case EAFNOSUPPORT:
    case EADDRNOTAVAIL:
    case EDESTADDRREQ:
    case ENOBUFS:
    case ENOMEM:
#ifdef EPROTO
    case EPROTO:
#endif
      return 1;
    default:
      return 0;
  }
}

/* Receive errors that only report an earlier event (an ICMP error queued on the socket); the
 * receive consumed the report, so the next one proceeds. Anything else stops reading. */
static int recv_transient_error(int err) {
  switch (err) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EMSGSIZE:
    case ENOBUFS:
    case ENOMEM:
#ifdef EPROTO
    case EPROTO:
#endif
      return 1;
    default:
      return 0;
  }
}

static napi_value make_plain_error(napi_env env, const char *code, const char *message) {
  napi_value c, m, e = NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) == napi_ok &&
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m) == napi_ok)
    napi_create_error(env, c, m, &e);
  return e;
}

static void fail_reading(udp_sock *u, napi_value self, napi_value error) {
  napi_env env = u->h.env;
  napi_value on_error = NULL;
  if (u->on_error != NULL) napi_get_reference_value(env, u->on_error, &on_error);
  drop_reading(u);
  update_poll(u);
  update_idle(u);
  if (on_error != NULL && error != NULL) nt_call(&u->h, self, on_error, 1, &error);
}

#ifdef NT_HAVE_GSO
#define RCMSG_SIZE CMSG_SPACE(sizeof(int))
#define SCMSG_SIZE CMSG_SPACE(sizeof(uint16_t))
#endif

static int ensure_read_arrays(udp_sock *u, uint32_t n) {
  if (u->rcap < n) {
    struct nt_mmsghdr *m = calloc(n, sizeof *m);
    struct iovec *v = calloc(n, sizeof *v);
    struct sockaddr_storage *a = calloc(n, sizeof *a);
    if (m == NULL || v == NULL || a == NULL) {
      free(m);
      free(v);
      free(a);
      return 0;
    }
    free(u->rmsgs);
    free(u->riov);
    free(u->rnames);
    u->rmsgs = m;
    u->riov = v;
    u->rnames = a;
    u->rcap = n;
  }
#ifdef NT_HAVE_GSO
  if (u->gro && (u->gro_arena == NULL || u->gro_cap < u->rcap)) {
    const uint32_t cap = u->rcap;
    /* malloc, not calloc: pages of the arenas become resident only when a datagram lands there. */
    uint8_t *arena = malloc((size_t)cap * GRO_ARENA);
    char *cm = realloc(u->rcmsg, (size_t)cap * RCMSG_SIZE);
    if (cm != NULL) u->rcmsg = cm;
    uint32_t *len = realloc(u->gro_len, cap * sizeof *len);
    if (len != NULL) u->gro_len = len;
    uint32_t *seg = realloc(u->gro_seg, cap * sizeof *seg);
    if (seg != NULL) u->gro_seg = seg;
    uint8_t *rec = realloc(u->gro_rec, (size_t)cap * NT_ADDR_SIZE);
    if (rec != NULL) u->gro_rec = rec;
    if (arena == NULL || cm == NULL || len == NULL || seg == NULL || rec == NULL) {
      free(arena);
      return 0;
    }
    /* Segments still waiting in the old arenas move to the front of the new ones. */
    uint32_t keep = u->gro_arena != NULL ? u->pend_count - u->pend_msg : 0;
    for (uint32_t k = 0; k < keep; k++) {
      uint32_t from = u->pend_msg + k;
      memcpy(arena + (size_t)k * GRO_ARENA, u->gro_arena + (size_t)from * GRO_ARENA, len[from]);
      len[k] = len[from];
      seg[k] = seg[from];
      memmove(rec + (size_t)k * NT_ADDR_SIZE, rec + (size_t)from * NT_ADDR_SIZE, NT_ADDR_SIZE);
    }
    free(u->gro_arena);
    u->gro_arena = arena;
    u->gro_cap = cap;
    u->pend_msg = 0;
    u->pend_count = keep;
  }
#endif
  return 1;
}

static int ensure_send_arrays(udp_sock *u, uint32_t n) {
  if (u->scap >= n) return 1;
  struct nt_mmsghdr *m = calloc(n, sizeof *m);
  struct iovec *v = calloc(n, sizeof *v);
  struct sockaddr_storage *a = calloc(n, sizeof *a);
  uint32_t *run = calloc(n, sizeof *run);
#ifdef NT_HAVE_GSO
  char *cm = calloc(n, SCMSG_SIZE);
#else
  char *cm = calloc(1, 1);
#endif
  if (m == NULL || v == NULL || a == NULL || run == NULL || cm == NULL) {
    free(m);
    free(v);
    free(a);
    free(run);
    free(cm);
    return 0;
  }
  free(u->smsgs);
  free(u->siov);
  free(u->snames);
  free(u->srun);
  free(u->scmsg);
  u->smsgs = m;
  u->siov = v;
  u->snames = a;
  u->srun = run;
  u->scmsg = cm;
  u->scap = n;
  return 1;
}

static int get_view(napi_env env, napi_ref ref, size_t min_len, void **data) {
  napi_value v;
  napi_typedarray_type type;
  size_t len;
  if (napi_get_reference_value(env, ref, &v) != napi_ok || v == NULL ||
      napi_get_typedarray_info(env, v, &type, &len, data, NULL, NULL) != napi_ok || *data == NULL)
    return 0;
  return len >= min_len;
}

/* Plain path: recvmmsg straight into the slots. Returns the datagrams delivered, or sets *fatal. */
static uint32_t read_plain(udp_sock *u, uint8_t *buf, uint32_t *lens, uint8_t *addrs, int *fatal) {
  const size_t cap = u->slot_size - u->headroom;
  for (uint32_t i = 0; i < u->max_batch; i++) {
    struct msghdr *h = &u->rmsgs[i].msg_hdr;
    u->riov[i].iov_base = buf + (size_t)i * u->slot_size + u->headroom;
    u->riov[i].iov_len = cap;
    memset(h, 0, sizeof *h);
    h->msg_name = &u->rnames[i];
    h->msg_namelen = sizeof u->rnames[i];
    h->msg_iov = &u->riov[i];
    h->msg_iovlen = 1;
  }
  int r;
  do r = nt_recvmmsg(u->fd, u->rmsgs, u->max_batch);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && !recv_transient_error(err)) *fatal = err;
    return 0;
  }
  /* Drop truncated datagrams, closing the gaps they leave. */
  uint32_t n = 0;
  for (uint32_t i = 0; i < (uint32_t)r; i++) {
    const struct msghdr *h = &u->rmsgs[i].msg_hdr;
    if ((h->msg_flags & MSG_TRUNC) || u->rmsgs[i].msg_len > cap) {
      u->truncated++;
      continue;
    }
    if (!nt_record_from_sockaddr(addrs + (size_t)n * NT_ADDR_SIZE, (const struct sockaddr *)&u->rnames[i]))
      continue;
    if (n != i)
      memmove(buf + (size_t)n * u->slot_size + u->headroom, buf + (size_t)i * u->slot_size + u->headroom,
              u->rmsgs[i].msg_len);
    lens[n++] = u->rmsgs[i].msg_len;
  }
  return n;
}

#ifdef NT_HAVE_GSO
/* Copies pending (GRO-received) datagrams into slots n.., segment by segment. */
static uint32_t drain_pending(udp_sock *u, uint8_t *buf, uint32_t *lens, uint8_t *addrs, uint32_t n) {
  const uint32_t cap = u->slot_size - u->headroom;
  while (u->pend_msg < u->pend_count && n < u->max_batch) {
    uint32_t m = u->pend_msg, len = u->gro_len[m], seg = u->gro_seg[m];
    const uint8_t *data = u->gro_arena + (size_t)m * GRO_ARENA;
    const uint8_t *rec = u->gro_rec + (size_t)m * NT_ADDR_SIZE;
    if (seg == 0) { /* dropped */
      u->pend_msg++;
      u->pend_off = 0;
      continue;
    }
    if (len == 0) { /* an empty datagram */
      lens[n] = 0;
      memcpy(addrs + (size_t)n * NT_ADDR_SIZE, rec, NT_ADDR_SIZE);
      n++;
      u->pend_msg++;
      continue;
    }
    while (u->pend_off < len && n < u->max_batch) {
      uint32_t part = len - u->pend_off < seg ? len - u->pend_off : seg;
      if (part > cap) { /* does not fit a slot: dropped like a truncated datagram */
        u->truncated++;
        u->pend_off += part;
        continue;
      }
      memcpy(buf + (size_t)n * u->slot_size + u->headroom, data + u->pend_off, part);
      memcpy(addrs + (size_t)n * NT_ADDR_SIZE, rec, NT_ADDR_SIZE);
      lens[n++] = part;
      u->pend_off += part;
    }
    if (u->pend_off >= len) {
      u->pend_msg++;
      u->pend_off = 0;
    }
  }
  return n;
}

/* GRO path: recvmmsg into the arenas, note each message's segment size, then drain. */
static uint32_t read_gro(udp_sock *u, uint8_t *buf, uint32_t *lens, uint8_t *addrs, int *fatal) {
  uint32_t n = drain_pending(u, buf, lens, addrs, 0);
  if (n == u->max_batch || u->pend_msg < u->pend_count) return n;
  const uint32_t vlen = u->max_batch - n;
  for (uint32_t i = 0; i < vlen; i++) {
    struct msghdr *h = &u->rmsgs[i].msg_hdr;
    u->riov[i].iov_base = u->gro_arena + (size_t)i * GRO_ARENA;
    u->riov[i].iov_len = GRO_ARENA;
    memset(h, 0, sizeof *h);
    h->msg_name = &u->rnames[i];
    h->msg_namelen = sizeof u->rnames[i];
    h->msg_iov = &u->riov[i];
    h->msg_iovlen = 1;
    h->msg_control = u->rcmsg + (size_t)i * RCMSG_SIZE;
    h->msg_controllen = RCMSG_SIZE;
  }
  int r;
  do r = nt_recvmmsg(u->fd, u->rmsgs, vlen);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && !recv_transient_error(err)) *fatal = err;
    return n;
  }
  for (uint32_t m = 0; m < (uint32_t)r; m++) {
    struct msghdr *h = &u->rmsgs[m].msg_hdr;
    uint32_t len = u->rmsgs[m].msg_len, seg = len > 0 ? len : 1;
    int coalesced = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int g;
        memcpy(&g, CMSG_DATA(c), sizeof g);
        if (g > 0 && (uint32_t)g < len) {
          seg = (uint32_t)g;
          coalesced = 1;
        }
      }
    }
    if (coalesced) u->gro_receives++;
    if (h->msg_flags & MSG_TRUNC) {
      u->truncated++;
      seg = 0;
    } else if (!nt_record_from_sockaddr(u->gro_rec + (size_t)m * NT_ADDR_SIZE,
                                        (const struct sockaddr *)&u->rnames[m])) {
      seg = 0;
    }
    u->gro_len[m] = len;
    u->gro_seg[m] = seg;
  }
  u->pend_msg = 0;
  u->pend_off = 0;
  u->pend_count = (uint32_t)r;
  return drain_pending(u, buf, lens, addrs, n);
}

static void on_idle(uv_idle_t *handle);
#endif

/* Keeps an idle handle running while GRO segments wait for the next batch. */
static void update_idle(udp_sock *u) {
#ifdef NT_HAVE_GSO
  int want = u->reading && u->pend_msg < u->pend_count;
  if (want && u->idle == NULL) {
    u->idle = malloc(sizeof *u->idle);
    if (u->idle == NULL) return;
    uv_idle_init(u->loop, u->idle);
    u->idle->data = u;
  }
  if (u->idle == NULL) return;
  if (want)
    uv_idle_start(u->idle, on_idle);
  else
    uv_idle_stop(u->idle);
#else
  (void)u;
#endif
}

static void read_batch(udp_sock *u, napi_value self) {
  napi_env env = u->h.env;
  uint8_t *buf, *addrs;
  uint32_t *lens;
  if (!get_view(env, u->buffer, (size_t)u->slot_size * u->max_batch, (void **)&buf) ||
      !get_view(env, u->lengths, u->max_batch, (void **)&lens) ||
      !get_view(env, u->addrs, (size_t)u->max_batch * NT_ADDR_SIZE, (void **)&addrs)) {
    fail_reading(u, self,
                 make_plain_error(env, "ERR_INVALID_STATE",
                                  "UdpSocket: a read array was detached or shrunk while reading"));
    return;
  }
  int fatal = 0;
#ifdef NT_HAVE_GSO
  uint32_t n = u->gro ? read_gro(u, buf, lens, addrs, &fatal) : read_plain(u, buf, lens, addrs, &fatal);
#else
  uint32_t n = read_plain(u, buf, lens, addrs, &fatal);
#endif
  if (n > 0) {
    napi_value fn, count;
    u->received += n;
    u->receive_batches++;
    if (napi_get_reference_value(env, u->on_packets, &fn) == napi_ok && fn != NULL &&
        napi_create_uint32(env, n, &count) == napi_ok)
      nt_call(&u->h, self, fn, 1, &count);
  }
  if (fatal != 0 && u->reading && u->fd >= 0)
    fail_reading(u, self, nt_make_errno_error(env, fatal, "recvmmsg", u->address));
  update_idle(u);
}

static void fire_writable(udp_sock *u, napi_value self) {
  napi_env env = u->h.env;
  size_t n = u->n_writable;
  napi_value fns[16];
  napi_value *list = n <= 16 ? fns : malloc(n * sizeof *list);
  if (list == NULL) return;
  for (size_t i = 0; i < n; i++) {
    list[i] = NULL;
    napi_get_reference_value(env, u->writable[i], &list[i]);
    delete_ref(env, &u->writable[i]);
  }
  u->n_writable = 0;
  update_poll(u);
  for (size_t i = 0; i < n; i++)
    if (list[i] != NULL) nt_call(&u->h, self, list[i], 0, NULL);
  if (list != fns) free(list);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  udp_sock *u = handle->data;
  if (u == NULL || u->h.tearing_down || u->h.self == NULL) return;
  napi_env env = u->h.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL;
  if (napi_get_reference_value(env, u->h.self, &self) != napi_ok || self == NULL) goto out;
  if (status < 0) {
    /* EPOLLERR: a pending socket error. If it is a transient one (an ICMP report), clearing it
     * is enough; libuv stopped the poll, so start it again. */
    int soerr = 0;
    socklen_t len = sizeof soerr;
    int err = -status;
    if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0) {
      if (soerr == 0 || recv_transient_error(soerr)) {
        int r = update_poll(u);
        if (r == 0) goto out;
        err = r;
      } else {
        err = soerr;
      }
    } else {
      err = errno;
    }
    drop_writable(u);
    if (u->reading) fail_reading(u, self, nt_make_errno_error(env, err, "poll", u->address));
    update_poll(u);
    goto out;
  }
  if ((events & UV_WRITABLE) && u->n_writable > 0) fire_writable(u, self);
  if ((events & UV_READABLE) && u->reading && u->fd >= 0) read_batch(u, self);
out:
  nt_handle_maybe_release(&u->h, is_active(u));
  napi_close_handle_scope(env, scope);
}

#ifdef NT_HAVE_GSO
static void on_idle(uv_idle_t *handle) {
  udp_sock *u = handle->data;
  if (u == NULL || u->h.tearing_down || u->h.self == NULL || !u->reading || u->fd < 0) {
    uv_idle_stop(handle);
    return;
  }
  napi_env env = u->h.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL;
  if (napi_get_reference_value(env, u->h.self, &self) == napi_ok && self != NULL) read_batch(u, self);
  nt_handle_maybe_release(&u->h, is_active(u));
  napi_close_handle_scope(env, scope);
}
#endif

/* ---- JS methods ------------------------------------------------------------------------------ */

static int ensure_open(napi_env env, udp_sock *u, const char *syscall) {
  if (u->fd >= 0) return 1;
  nt_throw_errno(env, EBADF, syscall, "(UdpSocket is closed)");
  return 0;
}

static napi_value udp_constructor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok) return NULL;
  if (target == NULL) {
    napi_throw_type_error(env, NULL, "Class constructor UdpSocket cannot be invoked without 'new'");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (argc < 1 || !nt_check_token(env, argv[0])) {
    napi_throw_type_error(env, "ERR_ILLEGAL_CONSTRUCTOR", "use UdpSocket.bind() to create a UdpSocket");
    return NULL;
  }
  udp_sock *u = calloc(1, sizeof *u);
  if (u == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  u->fd = -1;
  u->h.env = env;
  u->h.teardown = udp_teardown;
  if (napi_wrap(env, self, u, udp_finalize, NULL, NULL) != napi_ok) {
    free(u);
    return NULL;
  }
  return self;
}

static int set_buffer(int fd, int force_opt, int opt, uint32_t size) {
  int v = (int)size;
  (void)force_opt;
#if defined(SO_RCVBUFFORCE) && defined(SO_SNDBUFFORCE)
  /* As root (CAP_NET_ADMIN) the FORCE variants go past net.core.[rw]mem_max. */
  if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return 0;
#endif
  return setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) == 0 ? 0 : errno;
}

/* UdpSocket.bind({ address, port, reuseAddr?, recvBufferSize?, sendBufferSize?, gso?, gro?, mark? }) */
static napi_value udp_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL}, v;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options must be an object");
    return NULL;
  }
  napi_value options = argv[0];
  int present;
  char text[64];
  size_t text_len = 0;
  if (!nt_get_option(env, options, "address", &v, &present)) return NULL;
  if (!present || napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.address must be a string");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, text, sizeof text, &text_len) != napi_ok) return NULL;
  int family = 0;
  uint8_t ip[16];
  if (text_len >= sizeof text - 1 || !nt_parse_ip(text, &family, ip)) {
    napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS", "options.address must be an IPv4 or IPv6 address");
    return NULL;
  }
  uint32_t port = 0, rcvbuf = 0, sndbuf = 0;
  bool reuse = false;
  if (!nt_get_option(env, options, "port", &v, &present)) return NULL;
  if (!present) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.port must be a number");
    return NULL;
  }
  if (!nt_arg_uint(env, v, "options.port", 0, 65535, &port)) return NULL;
  if (!nt_get_option(env, options, "reuseAddr", &v, &present)) return NULL;
  if (present && napi_get_value_bool(env, v, &reuse) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.reuseAddr must be a boolean");
    return NULL;
  }
  if (!nt_get_option(env, options, "recvBufferSize", &v, &present)) return NULL;
  if (present && !nt_arg_uint(env, v, "options.recvBufferSize", 1, INT32_MAX / 2, &rcvbuf)) return NULL;
  if (!nt_get_option(env, options, "sendBufferSize", &v, &present)) return NULL;
  if (present && !nt_arg_uint(env, v, "options.sendBufferSize", 1, INT32_MAX / 2, &sndbuf)) return NULL;
  bool want_gso = true, want_gro = true;
  if (!nt_get_option(env, options, "gso", &v, &present)) return NULL;
  if (present && napi_get_value_bool(env, v, &want_gso) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.gso must be a boolean");
    return NULL;
  }
  if (!nt_get_option(env, options, "gro", &v, &present)) return NULL;
  if (present && napi_get_value_bool(env, v, &want_gro) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.gro must be a boolean");
    return NULL;
  }
  uint32_t mark = 0;
  int want_mark = 0;
  if (!nt_get_option(env, options, "mark", &v, &present)) return NULL;
  if (present) {
    if (!nt_arg_uint(env, v, "options.mark", 0, UINT32_MAX, &mark)) return NULL;
    want_mark = 1;
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  int af = family == 4 ? AF_INET : AF_INET6;
  const char *syscall = "socket";
#ifdef SOCK_NONBLOCK
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
  int fd = socket(af, SOCK_DGRAM, 0);
  if (fd >= 0 && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
    close(fd);
    fd = -1;
  }
#endif
  if (fd < 0) {
    nt_throw_errno(env, errno, syscall, text);
    return NULL;
  }
  int err = 0, off = 0, on = 1;
  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  if (af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
    err = errno;
    syscall = "setsockopt(IPV6_V6ONLY)";
  } else if (want_mark && (err = nt_set_mark(fd, mark)) != 0) {
    /* Before bind, so that no datagram of this socket ever leaves unmarked. */
    syscall = "setsockopt(SO_MARK)";
  } else if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
    err = errno;
    syscall = "setsockopt(SO_REUSEADDR)";
  } else if (rcvbuf > 0 && (err = set_buffer(fd,
#ifdef SO_RCVBUFFORCE
                                              SO_RCVBUFFORCE,
#else
                                              0,
#endif
                                              SO_RCVBUF, rcvbuf)) != 0) {
    syscall = "setsockopt(SO_RCVBUF)";
  } else if (sndbuf > 0 && (err = set_buffer(fd,
#ifdef SO_SNDBUFFORCE
                                              SO_SNDBUFFORCE,
#else
                                              0,
#endif
                                              SO_SNDBUF, sndbuf)) != 0) {
    syscall = "setsockopt(SO_SNDBUF)";
  } else {
    if (af == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      in->sin_family = AF_INET;
      in->sin_port = htons((uint16_t)port);
      memcpy(&in->sin_addr, ip, 4);
      sslen = sizeof *in;
    } else {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons((uint16_t)port);
      memcpy(&in6->sin6_addr, ip, 16);
      sslen = sizeof *in6;
    }
#ifdef __APPLE__
    ((struct sockaddr *)&ss)->sa_len = (uint8_t)sslen;
#endif
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
      err = errno;
      syscall = "bind";
    } else {
      sslen = sizeof ss;
      if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
        err = errno;
        syscall = "getsockname";
      }
    }
  }
  if (err != 0) {
    close(fd);
    if (want_mark && strcmp(syscall, "setsockopt(SO_MARK)") == 0) {
      nt_throw_mark_error(env, err, mark);
      return NULL;
    }
    char detail[96];
    snprintf(detail, sizeof detail, "%s:%u", text, port);
    nt_throw_errno(env, err, syscall, detail);
    return NULL;
  }

  void *data = NULL;
  napi_get_instance_data(env, &data);
  nt_instance *inst = data;
  napi_value ctor, token, self;
  udp_sock *u = NULL;
  if (napi_get_reference_value(env, inst->udp_ctor, &ctor) != napi_ok ||
      napi_get_reference_value(env, inst->token, &token) != napi_ok ||
      napi_new_instance(env, ctor, 1, &token, &self) != napi_ok ||
      napi_unwrap(env, self, (void **)&u) != napi_ok) {
    close(fd);
    return NULL;
  }
  u->fd = fd;
  u->family = af;
  u->loop = loop;
#ifdef NT_HAVE_GSO
  /* Both are optional kernel features (4.18+ / 5.0+): used when the kernel has them. */
  if (want_gso) {
    int size = 0;
    socklen_t sl = sizeof size;
    u->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &sl) == 0;
  }
  if (want_gro) {
    int one = 1;
    u->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
#else
  (void)want_gso;
  (void)want_gro;
#endif
  if (af == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, u->address, sizeof u->address);
    u->port = ntohs(in->sin_port);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, u->address, sizeof u->address);
    u->port = ntohs(in6->sin6_port);
  }
  nt_handle_add_hook(&u->h);
  return self;
}

static napi_value udp_get_address(napi_env env, napi_callback_info info) {
  napi_value self, r;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  if (napi_create_string_utf8(env, u->address, NAPI_AUTO_LENGTH, &r) != napi_ok) return NULL;
  return r;
}

static napi_value udp_get_port(napi_env env, napi_callback_info info) {
  napi_value self, r;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  if (napi_create_uint32(env, u->port, &r) != napi_ok) return NULL;
  return r;
}

static napi_value udp_get_fd(napi_env env, napi_callback_info info) {
  napi_value self, r;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  if (napi_create_int32(env, u->fd, &r) != napi_ok) return NULL;
  return r;
}

static napi_value udp_get_offloads(napi_env env, napi_callback_info info) {
  napi_value self, o, gso, gro;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  if (napi_create_object(env, &o) != napi_ok || napi_get_boolean(env, u->gso, &gso) != napi_ok ||
      napi_get_boolean(env, u->gro, &gro) != napi_ok || napi_set_named_property(env, o, "gso", gso) != napi_ok ||
      napi_set_named_property(env, o, "gro", gro) != napi_ok)
    return NULL;
  return o;
}

/* Datagrams the kernel dropped for this socket (receive buffer full, or a bad UDP checksum), as
 * SO_MEMINFO reports them (Linux 4.6+); 0 where the kernel does not tell. Read on demand only. */
static uint64_t kernel_receive_drops(const udp_sock *u) {
#if defined(__linux__) && defined(SO_MEMINFO)
  uint32_t mem[SK_MEMINFO_VARS];
  socklen_t len = sizeof mem;
  memset(mem, 0, sizeof mem);
  if (u->fd >= 0 && getsockopt(u->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
      len > SK_MEMINFO_DROPS * sizeof(uint32_t))
    return mem[SK_MEMINFO_DROPS];
#else
  (void)u;
#endif
  return 0;
}

static napi_value udp_get_stats(napi_env env, napi_callback_info info) {
  napi_value self, o;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  nt_set_named_u64(env, o, "receivedDatagrams", u->received);
  nt_set_named_u64(env, o, "receiveBatches", u->receive_batches);
  nt_set_named_u64(env, o, "sentDatagrams", u->sent);
  nt_set_named_u64(env, o, "sendBatches", u->send_batches);
  nt_set_named_u64(env, o, "eagainSends", u->eagain_sends);
  nt_set_named_u64(env, o, "truncated", u->truncated);
  nt_set_named_u64(env, o, "sendErrors", u->send_errors);
  nt_set_named_u64(env, o, "gsoSends", u->gso_sends);
  nt_set_named_u64(env, o, "groReceives", u->gro_receives);
  nt_set_named_u64(env, o, "receiveDrops", kernel_receive_drops(u));
  return o;
}

/* startReading(buffer, slotSize, headroom, lengths, addrs, maxBatch, onPackets, onError) */
static napi_value udp_start_reading(napi_env env, napi_callback_info info) {
  napi_value argv[8], self;
  udp_sock *u;
  uint8_t *buf, *addrs;
  uint32_t *lens;
  size_t buf_len, lens_count, addrs_len;
  uint32_t slot_size, headroom, max_batch;
  if (!nt_unwrap_this(env, info, 8, NULL, argv, &self, (void **)&u)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "buffer", &buf, &buf_len) ||
      !nt_arg_uint(env, argv[1], "slotSize", 1, NT_MAX_SLOT_SIZE, &slot_size) ||
      !nt_arg_uint(env, argv[2], "headroom", 0, NT_MAX_SLOT_SIZE, &headroom) ||
      !nt_arg_u32array(env, argv[3], "lengths", &lens, &lens_count) ||
      !nt_arg_u8array(env, argv[4], "addrs", &addrs, &addrs_len) ||
      !nt_arg_uint(env, argv[5], "maxBatch", 1, NT_MAX_BATCH, &max_batch) ||
      !nt_arg_function(env, argv[6], "onPackets") || !nt_arg_function(env, argv[7], "onError") ||
      !nt_check_slots(env, buf_len, slot_size, headroom, max_batch, "maxBatch"))
    return NULL;
  if (lens_count < max_batch) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "lengths.length must be at least maxBatch");
    return NULL;
  }
  if ((uint64_t)addrs_len < (uint64_t)max_batch * NT_ADDR_SIZE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "addrs.length must be at least maxBatch * ADDR_SIZE");
    return NULL;
  }
  if (!ensure_open(env, u, "startReading")) return NULL;
  if (!ensure_read_arrays(u, max_batch)) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  drop_reading(u);
  if (napi_create_reference(env, argv[0], 1, &u->buffer) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &u->lengths) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &u->addrs) != napi_ok ||
      napi_create_reference(env, argv[6], 1, &u->on_packets) != napi_ok ||
      napi_create_reference(env, argv[7], 1, &u->on_error) != napi_ok ||
      !nt_handle_activate(&u->h, self, "node-tun:UdpSocket")) {
    drop_reading(u);
    update_poll(u);
    nt_handle_maybe_release(&u->h, is_active(u));
    return NULL;
  }
  u->slot_size = slot_size;
  u->headroom = headroom;
  u->max_batch = max_batch;
  u->reading = 1;
  update_idle(u); /* GRO segments may still be pending from before */
  int err = update_poll(u);
  if (err != 0) {
    drop_reading(u);
    update_poll(u);
    nt_handle_maybe_release(&u->h, is_active(u));
    nt_throw_errno(env, err, "uv_poll_start", u->address);
    return NULL;
  }
  return nt_undefined(env);
}

static napi_value udp_stop_reading(napi_env env, napi_callback_info info) {
  napi_value self;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  drop_reading(u);
  update_poll(u);
  update_idle(u);
  nt_handle_maybe_release(&u->h, is_active(u));
  return nt_undefined(env);
}

/* Fills a sockaddr for this socket's family from a record; 0 if the family cannot be reached. */
static socklen_t sockaddr_from_record(const udp_sock *u, const uint8_t *rec, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (u->family == AF_INET) {
    if (rec[0] != 4) return 0;
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_port, rec + 2, 2);
    memcpy(&in->sin_addr, rec + 4, 4);
#ifdef __APPLE__
    in->sin_len = sizeof *in;
#endif
    return sizeof *in;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  uint8_t *a = (uint8_t *)&in6->sin6_addr;
  in6->sin6_family = AF_INET6;
  memcpy(&in6->sin6_port, rec + 2, 2);
  if (rec[0] == 4) {
    a[10] = 0xff;
    a[11] = 0xff;
    memcpy(a + 12, rec + 4, 4);
  } else {
    memcpy(a, rec + 4, 16);
  }
#ifdef __APPLE__
  in6->sin6_len = sizeof *in6;
#endif
  return sizeof *in6;
}

/* send(buffer, slotSize, headroom, lengths, addrs, count): datagrams consumed (< count only on EAGAIN) */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[6], self, result;
  udp_sock *u;
  uint8_t *buf, *addrs;
  uint32_t *lens;
  size_t buf_len, lens_count, addrs_len;
  uint32_t slot_size, headroom, count;
  if (!nt_unwrap_this(env, info, 6, NULL, argv, &self, (void **)&u)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "buffer", &buf, &buf_len) ||
      !nt_arg_uint(env, argv[1], "slotSize", 1, NT_MAX_SLOT_SIZE, &slot_size) ||
      !nt_arg_uint(env, argv[2], "headroom", 0, NT_MAX_SLOT_SIZE, &headroom) ||
      !nt_arg_u32array(env, argv[3], "lengths", &lens, &lens_count) ||
      !nt_arg_u8array(env, argv[4], "addrs", &addrs, &addrs_len) ||
      !nt_arg_uint(env, argv[5], "count", 0, UINT32_MAX, &count) ||
      !nt_check_slots(env, buf_len, slot_size, headroom, count, "count"))
    return NULL;
  if (count > lens_count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must not exceed lengths.length");
    return NULL;
  }
  if ((uint64_t)addrs_len < (uint64_t)count * NT_ADDR_SIZE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "addrs.length must be at least count * ADDR_SIZE");
    return NULL;
  }
  const uint32_t cap = slot_size - headroom;
  for (uint32_t i = 0; i < count; i++) {
    char msg[128];
    const uint8_t *rec = addrs + (size_t)i * NT_ADDR_SIZE;
    if (lens[i] > cap) {
      snprintf(msg, sizeof msg, "lengths[%u] (%u) exceeds slotSize - headroom (%u)", i, lens[i], cap);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
    if (rec[0] != 4 && rec[0] != 6) {
      snprintf(msg, sizeof msg, "address record %u has family %u (expected 4 or 6)", i, rec[0]);
      napi_throw_range_error(env, "ERR_INVALID_ADDRESS_RECORD", msg);
      return NULL;
    }
  }
  if (!ensure_open(env, u, "send")) return NULL;
  if (count > 0 && !ensure_send_arrays(u, count < SEND_CHUNK ? count : SEND_CHUNK)) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  uint32_t i = 0;
  uint32_t plain_until = 0; /* datagrams before this index go without GSO (after a GSO refusal) */
  (void)plain_until;
  while (i < count) {
    /* Build up to SEND_CHUNK messages (and iovecs), stopping before a destination of the wrong
     * family. With GSO, a run of datagrams of one length to one destination (the last may be
     * shorter) becomes one message with UDP_SEGMENT: one trip through the stack for all of them. */
    uint32_t k = 0, d = 0;
    while (k < SEND_CHUNK && d < SEND_CHUNK && i + d < count) {
      uint32_t j = i + d;
      const uint8_t *rec = addrs + (size_t)j * NT_ADDR_SIZE;
      socklen_t alen = sockaddr_from_record(u, rec, &u->snames[k]);
      if (alen == 0) break;
      uint32_t run = 1;
#ifdef NT_HAVE_GSO
      if (u->gso && j >= plain_until && lens[j] > 0) {
        uint32_t seg = lens[j], total = seg;
        while (run < GSO_MAX_SEGS && d + run < SEND_CHUNK && j + run < count) {
          uint32_t next = lens[j + run];
          if (next == 0 || next > seg || total + next > GSO_MAX_BYTES ||
              memcmp(addrs + (size_t)(j + run) * NT_ADDR_SIZE, rec, NT_ADDR_SIZE) != 0)
            break;
          total += next;
          run++;
          if (next < seg) break; /* a shorter datagram ends the run */
        }
      }
#endif
      struct msghdr *h = &u->smsgs[k].msg_hdr;
      memset(h, 0, sizeof *h);
      for (uint32_t r = 0; r < run; r++) {
        u->siov[d + r].iov_base = buf + (size_t)(j + r) * slot_size + headroom;
        u->siov[d + r].iov_len = lens[j + r];
      }
      h->msg_name = &u->snames[k];
      h->msg_namelen = alen;
      h->msg_iov = &u->siov[d];
      h->msg_iovlen = run;
#ifdef NT_HAVE_GSO
      if (run > 1) {
        h->msg_control = u->scmsg + (size_t)k * SCMSG_SIZE;
        h->msg_controllen = SCMSG_SIZE;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        uint16_t seg = (uint16_t)lens[j];
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof seg);
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
#endif
      u->srun[k] = run;
      k++;
      d += run;
    }
    if (k == 0) { /* an IPv6 destination on an IPv4 socket */
      u->send_errors++;
      i++;
      continue;
    }
    int r;
    do r = nt_sendmmsg(u->fd, u->smsgs, k);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
      uint32_t done = 0;
      for (int m = 0; m < r; m++) {
        done += u->srun[m];
        if (u->srun[m] > 1) u->gso_sends++;
      }
      u->sent += done;
      u->send_batches++;
      i += done;
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      u->eagain_sends++;
      break;
    }
    if (u->srun[0] > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE || err == ENOPROTOOPT ||
                           err == EOPNOTSUPP)) {
      /* The kernel would not segment this run (EIO: no checksum offload on the way out, which
       * will not change; EINVAL/EMSGSIZE: segment larger than the path MTU): send it plainly. */
      if (err == EIO) u->gso = 0;
      plain_until = i + u->srun[0];
      continue;
    }
    if (r == 0 || transient_error(err)) { /* these datagrams cannot go: drop them, go on */
      u->send_errors += u->srun[0];
      i += u->srun[0];
      continue;
    }
    nt_throw_errno(env, err, "sendmmsg", u->address);
    return NULL;
  }
  if (napi_create_uint32(env, i, &result) != napi_ok) return NULL;
  return result;
}

static napi_value udp_once_writable(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 1, NULL, argv, &self, (void **)&u)) return NULL;
  if (!nt_arg_function(env, argv[0], "cb") || !ensure_open(env, u, "onceWritable")) return NULL;
  if (u->n_writable == u->cap_writable) {
    size_t cap = u->cap_writable ? u->cap_writable * 2 : 4;
    napi_ref *w = realloc(u->writable, cap * sizeof *w);
    if (w == NULL) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    u->writable = w;
    u->cap_writable = cap;
  }
  if (!nt_handle_activate(&u->h, self, "node-tun:UdpSocket") ||
      napi_create_reference(env, argv[0], 1, &u->writable[u->n_writable]) != napi_ok)
    return NULL;
  u->n_writable++;
  int err = update_poll(u);
  if (err != 0) {
    u->n_writable--;
    delete_ref(env, &u->writable[u->n_writable]);
    nt_handle_maybe_release(&u->h, is_active(u));
    nt_throw_errno(env, err, "uv_poll_start", u->address);
    return NULL;
  }
  return nt_undefined(env);
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
  napi_value self;
  udp_sock *u;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&u)) return NULL;
  close_socket(u);
  nt_handle_remove_hook(&u->h);
  nt_handle_maybe_release(&u->h, 0);
  return nt_undefined(env);
}

static napi_property_descriptor udp_props[] = {
    {"bind", NULL, udp_bind, NULL, NULL, NULL, napi_static, NULL},
    {"address", NULL, NULL, udp_get_address, NULL, NULL, napi_enumerable, NULL},
    {"port", NULL, NULL, udp_get_port, NULL, NULL, napi_enumerable, NULL},
    {"fd", NULL, NULL, udp_get_fd, NULL, NULL, napi_enumerable, NULL},
    {"stats", NULL, NULL, udp_get_stats, NULL, NULL, napi_enumerable, NULL},
    {"offloads", NULL, NULL, udp_get_offloads, NULL, NULL, napi_enumerable, NULL},
    {"startReading", NULL, udp_start_reading, NULL, NULL, NULL, napi_default_method, NULL},
    {"stopReading", NULL, udp_stop_reading, NULL, NULL, NULL, napi_default_method, NULL},
    {"send", NULL, udp_send, NULL, NULL, NULL, napi_default_method, NULL},
    {"onceWritable", NULL, udp_once_writable, NULL, NULL, NULL, napi_default_method, NULL},
    {"close", NULL, udp_close, NULL, NULL, NULL, napi_default_method, NULL},
};

#else /* _WIN32: the batched UDP socket is not implemented; use node:dgram there. */

static napi_value udp_constructor(napi_env env, napi_callback_info info) {
  (void)info;
  napi_throw_type_error(env, "ERR_ILLEGAL_CONSTRUCTOR", "use UdpSocket.bind() to create a UdpSocket");
  return NULL;
}

static napi_value udp_bind(napi_env env, napi_callback_info info) {
  (void)info;
  nt_throw_errno(env, ENOSYS, "socket", "(UdpSocket is not implemented on Windows; use node:dgram)");
  return NULL;
}

static napi_property_descriptor udp_props[] = {
    {"bind", NULL, udp_bind, NULL, NULL, NULL, napi_static, NULL},
};

#endif

napi_value nt_udp_init(napi_env env, napi_value exports, nt_instance *inst) {
  napi_value ctor;
  if (napi_define_class(env, "UdpSocket", NAPI_AUTO_LENGTH, udp_constructor, NULL,
                        sizeof udp_props / sizeof udp_props[0], udp_props, &ctor) != napi_ok ||
      napi_create_reference(env, ctor, 1, &inst->udp_ctor) != napi_ok ||
      napi_set_named_property(env, exports, "UdpSocket", ctor) != napi_ok)
    return NULL;
  return exports;
}
