/* node-tun: the TunDevice class (platform-neutral; the device itself is in tun_<os>.c). */
#include "common.h"
#include "tun_platform.h"
#include "vnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#define TUN_NAME_LIMIT 63
#else
#define TUN_NAME_LIMIT 15 /* IFNAMSIZ - 1 */
#endif

typedef struct {
  nt_handle h; /* first member: the cleanup hook gets &h */
  tunp_t *dev; /* NULL once closed */
  char name[TUNP_NAME_MAX];
  int reading;
  napi_ref buffer, lengths, on_packets, on_error;
  uint32_t slot_size, headroom, max_batch;
  uint64_t read_packets, read_batches, written_packets, dropped_oversize, dropped_invalid, write_errors,
      eagain_writes;
  /* Offloads (features & TUNP_F_VNET): reads land in rbuf and are split into the slots; a super
   * packet that does not fit in one batch stays in `split`, and an idle handle brings us back
   * for the rest even when the fd has nothing new. */
  int features, coalesce;
  uint8_t *rbuf;
  vnet_split split;
  int split_active;
  uv_idle_t *idle;
  uint64_t super_reads, split_packets, coalesced_writes, coalesced_packets, offload_write_errors;
} tun_dev;

static void on_idle(uv_idle_t *handle);

static void delete_ref(napi_env env, napi_ref *r) {
  if (*r != NULL) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

static void free_idle(uv_handle_t *h) { free(h); }

static void stop_reading(tun_dev *t) {
  if (t->dev != NULL) tunp_unwatch(t->dev);
  if (t->idle != NULL) uv_idle_stop(t->idle);
  t->reading = 0;
  if (!t->h.tearing_down) {
    delete_ref(t->h.env, &t->buffer);
    delete_ref(t->h.env, &t->lengths);
    delete_ref(t->h.env, &t->on_packets);
    delete_ref(t->h.env, &t->on_error);
  }
}

static void close_device(tun_dev *t) {
  stop_reading(t);
  if (t->idle != NULL) {
    t->idle->data = NULL;
    uv_close((uv_handle_t *)t->idle, free_idle);
    t->idle = NULL;
  }
  free(t->rbuf);
  t->rbuf = NULL;
  t->split_active = 0;
  if (t->dev != NULL) {
    tunp_close(t->dev);
    t->dev = NULL;
  }
}

static void tun_teardown(nt_handle *h) {
  /* The environment is going away: close the fd, make no more N-API calls. */
  close_device((tun_dev *)h);
}

static void tun_finalize(napi_env env, void *data, void *hint) {
  tun_dev *t = data;
  (void)hint;
  if (!t->h.tearing_down) {
    nt_handle_remove_hook(&t->h);
    close_device(t);
    if (t->h.ctx != NULL) napi_async_destroy(env, t->h.ctx);
    delete_ref(env, &t->h.self);
  } else if (t->dev != NULL) {
    tunp_close(t->dev);
  }
  free(t);
}

/* Is this a whole IPv4 or IPv6 packet (header present, not shorter than its length field)? */
static int plausible_ip(const uint8_t *p, size_t n) {
  if (n < 1) return 0;
  switch (p[0] >> 4) {
    case 4: {
      if (n < 20) return 0;
      size_t ihl = (size_t)(p[0] & 0x0f) * 4;
      size_t total = ((size_t)p[2] << 8) | p[3];
      return ihl >= 20 && total >= ihl && total <= n;
    }
    case 6: {
      if (n < 40) return 0;
      size_t payload = ((size_t)p[4] << 8) | p[5];
      return 40 + payload <= n;
    }
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

/* Stops reading and calls onError(err) once. */
static void fail_reading(tun_dev *t, napi_value self, napi_value error) {
  napi_env env = t->h.env;
  napi_value on_error = NULL;
  if (t->on_error != NULL) napi_get_reference_value(env, t->on_error, &on_error);
  stop_reading(t);
  if (on_error != NULL && error != NULL) nt_call(&t->h, self, on_error, 1, &error);
}

static int get_views(tun_dev *t, uint8_t **buf, uint32_t **lens) {
  napi_env env = t->h.env;
  napi_value b, l;
  napi_typedarray_type type;
  size_t blen, llen;
  void *bp, *lp;
  if (napi_get_reference_value(env, t->buffer, &b) != napi_ok || b == NULL ||
      napi_get_reference_value(env, t->lengths, &l) != napi_ok || l == NULL ||
      napi_get_typedarray_info(env, b, &type, &blen, &bp, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, l, &type, &llen, &lp, NULL, NULL) != napi_ok)
    return 0;
  /* Re-checked on every wake-up: the ArrayBuffer may have been transferred or resized. */
  if ((uint64_t)t->slot_size * t->max_batch > blen || llen < t->max_batch || bp == NULL || lp == NULL) return 0;
  *buf = bp;
  *lens = lp;
  return 1;
}

/* Offloads on: fills slots from the pending super packet and from new reads (each read is one
 * packet or one super packet behind a virtio header). Returns the packets placed. */
static uint32_t fill_offloaded(tun_dev *t, uint8_t *buf, uint32_t *lens, int *fatal) {
  const size_t cap = t->slot_size - t->headroom;
  uint32_t n = 0, reads = 0;
  for (;;) {
    while (t->split_active && n < t->max_batch) {
      uint8_t *dst = buf + (size_t)n * t->slot_size + t->headroom;
      long r = vnet_split_next(&t->split, dst, cap);
      if (r == 0) {
        t->split_active = 0;
      } else if (r < 0) {
        t->dropped_oversize++;
        t->split_active = 0;
      } else if (!plausible_ip(dst, (size_t)r)) {
        t->dropped_invalid++;
      } else {
        lens[n++] = (uint32_t)r;
        if (!t->split.single) t->split_packets++;
      }
    }
    if (t->split_active || n >= t->max_batch || reads >= t->max_batch) break;
    long r = tunp_read(t->dev, t->rbuf, VNET_MAX_READ);
    if (r < 0) {
      if (r != -EAGAIN) *fatal = (int)-r;
      break;
    }
    reads++;
    if ((size_t)r > VNET_MAX_READ) {
      t->dropped_oversize++;
    } else if (vnet_split_begin(&t->split, t->rbuf, (size_t)r) != 0) {
      t->dropped_invalid++;
    } else {
      t->split_active = 1;
      if (!t->split.single) t->super_reads++;
    }
  }
  return n;
}

/* No offloads: one packet per read, straight into its slot. At most maxBatch reads per wake-up;
 * the level-triggered poll brings us back for the rest, after other I/O had its turn. */
static uint32_t fill_plain(tun_dev *t, uint8_t *buf, uint32_t *lens, int *fatal) {
  const size_t cap = t->slot_size - t->headroom;
  uint32_t n = 0, reads = 0;
  while (reads < t->max_batch) {
    uint8_t *dst = buf + (size_t)n * t->slot_size + t->headroom;
    long r = tunp_read(t->dev, dst, cap);
    if (r < 0) {
      if (r != -EAGAIN) *fatal = (int)-r;
      break;
    }
    reads++;
    if ((size_t)r > cap) {
      t->dropped_oversize++;
    } else if (!plausible_ip(dst, (size_t)r)) {
      t->dropped_invalid++;
    } else {
      lens[n++] = (uint32_t)r;
    }
  }
  return n;
}

static void on_ready(void *arg, int status) {
  tun_dev *t = arg;
  napi_env env = t->h.env;
  if (t->h.tearing_down || !t->reading || t->dev == NULL || t->h.self == NULL) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL;
  if (napi_get_reference_value(env, t->h.self, &self) != napi_ok || self == NULL) goto out;

  if (status != 0) {
    /* The poll failed (EPOLLERR): a read tells the precise error, e.g. EBADFD once the
     * interface is deleted. */
    long r = tunp_read(t->dev, NULL, 0);
    int err = r < 0 && r != -EAGAIN ? (int)-r : status;
    fail_reading(t, self, nt_make_errno_error(env, err, "read", t->name));
    goto out;
  }

  uint8_t *buf;
  uint32_t *lens;
  if (!get_views(t, &buf, &lens)) {
    fail_reading(t, self,
                 make_plain_error(env, "ERR_INVALID_STATE",
                                  "TunDevice: the read buffer or lengths array was detached or shrunk while reading"));
    goto out;
  }
  uint32_t n;
  int fatal = 0;
  if (t->features & TUNP_F_VNET)
    n = fill_offloaded(t, buf, lens, &fatal);
  else
    n = fill_plain(t, buf, lens, &fatal);
  if (n > 0) {
    napi_value fn, count;
    t->read_packets += n;
    t->read_batches++;
    if (napi_get_reference_value(env, t->on_packets, &fn) == napi_ok && fn != NULL &&
        napi_create_uint32(env, n, &count) == napi_ok)
      nt_call(&t->h, self, fn, 1, &count);
  }
  /* The callback may have stopped reading or closed the device. */
  if (fatal != 0 && t->reading && t->dev != NULL)
    fail_reading(t, self, nt_make_errno_error(env, fatal, "read", t->name));
  /* Part of a super packet is still waiting: come back on the next loop turn, after other I/O. */
  if (t->idle != NULL) {
    if (t->reading && t->split_active)
      uv_idle_start(t->idle, on_idle);
    else
      uv_idle_stop(t->idle);
  }
out:
  nt_handle_maybe_release(&t->h, t->reading);
  napi_close_handle_scope(env, scope);
}

static void on_idle(uv_idle_t *handle) {
  tun_dev *t = handle->data;
  if (t == NULL) return;
  on_ready(t, 0);
}

/* ---- JS methods ------------------------------------------------------------------------------ */

static nt_instance *instance(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static int ensure_open(napi_env env, tun_dev *t, const char *syscall) {
  if (t->dev != NULL) return 1;
  nt_throw_errno(env, EBADF, syscall, "(TunDevice is closed)");
  return 0;
}

static napi_value tun_constructor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok) return NULL;
  if (target == NULL) {
    napi_throw_type_error(env, NULL, "Class constructor TunDevice cannot be invoked without 'new'");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (argc < 1 || !nt_check_token(env, argv[0])) {
    napi_throw_type_error(env, "ERR_ILLEGAL_CONSTRUCTOR", "use TunDevice.open() to create a TunDevice");
    return NULL;
  }
  tun_dev *t = calloc(1, sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  t->h.env = env;
  t->h.teardown = tun_teardown;
  if (napi_wrap(env, self, t, tun_finalize, NULL, NULL) != napi_ok) {
    free(t);
    return NULL;
  }
  return self;
}

/* Wraps a platform device in a new TunDevice object (the device is closed if that fails). */
static napi_value wrap_device(napi_env env, tunp_t *dev) {
  nt_instance *inst = instance(env);
  napi_value ctor, token, self;
  tun_dev *t = NULL;
  if (napi_get_reference_value(env, inst->tun_ctor, &ctor) != napi_ok ||
      napi_get_reference_value(env, inst->token, &token) != napi_ok ||
      napi_new_instance(env, ctor, 1, &token, &self) != napi_ok ||
      napi_unwrap(env, self, (void **)&t) != napi_ok) {
    tunp_close(dev);
    return NULL;
  }
  t->dev = dev;
  t->features = tunp_features(dev);
  t->coalesce = (t->features & TUNP_F_TSO) != 0;
  memcpy(t->name, tunp_name(dev), TUNP_NAME_MAX);
  t->name[TUNP_NAME_MAX - 1] = '\0';
  nt_handle_add_hook(&t->h);
  return self;
}

/* TunDevice.open(options?: { name?: string; multiQueue?: boolean; offload?: boolean }) */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_value options = argc > 0 ? argv[0] : NULL, v;
  int present;
  char name[TUNP_NAME_MAX] = "";
  bool multi_queue = false, offload = false;

  if (!nt_get_option(env, options, "name", &v, &present)) return NULL;
  if (present) {
    napi_valuetype t;
    size_t len = 0;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.name must be a string");
      return NULL;
    }
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
    if (len > TUN_NAME_LIMIT) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
#ifdef _WIN32
                             "options.name must be at most 63 bytes"
#else
                             "options.name must be at most 15 bytes (IFNAMSIZ - 1)"
#endif
      );
      return NULL;
    }
    if (napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) return NULL;
    if (strlen(name) != len) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "options.name must not contain NUL characters");
      return NULL;
    }
  }
  if (!nt_get_option(env, options, "multiQueue", &v, &present)) return NULL;
  if (present && napi_get_value_bool(env, v, &multi_queue) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.multiQueue must be a boolean");
    return NULL;
  }

  if (!nt_get_option(env, options, "offload", &v, &present)) return NULL;
  if (present && napi_get_value_bool(env, v, &offload) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.offload must be a boolean");
    return NULL;
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  tunp_t *dev = NULL;
  const char *syscall = "open";
  int err = tunp_open(loop, name[0] != '\0' ? name : NULL, multi_queue, offload, &dev, &syscall);
  if (err != 0) {
    nt_throw_errno(env, err, syscall, name[0] != '\0' ? name : NULL);
    return NULL;
  }

  return wrap_device(env, dev);
}

/* TunDevice.fromFd(fd): adopts a TUN fd that another process opened (the privileged helper). */
static napi_value tun_from_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  uint32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TunDevice.fromFd(fd) takes a file descriptor");
    return NULL;
  }
  if (!nt_arg_uint(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  tunp_t *dev = NULL;
  const char *syscall = "fromFd";
  int err = tunp_adopt(loop, (int)fd, &dev, &syscall);
  if (err == ENOTSUP && strcmp(syscall, "fromFd") == 0) {
    napi_throw_error(env, "ERR_NOT_SUPPORTED", "TunDevice.fromFd is not supported on this platform (no TUN fd)");
    return NULL;
  }
  if (err != 0) {
    nt_throw_errno(env, err, syscall, "(not a TUN device without packet info?)");
    return NULL;
  }
  return wrap_device(env, dev);
}

static napi_value tun_get_name(napi_env env, napi_callback_info info) {
  napi_value self, r;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  if (napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &r) != napi_ok) return NULL;
  return r;
}

static napi_value tun_get_fd(napi_env env, napi_callback_info info) {
  napi_value self, r;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  if (napi_create_int32(env, t->dev != NULL ? tunp_fd(t->dev) : -1, &r) != napi_ok) return NULL;
  return r;
}

static napi_value tun_get_stats(napi_env env, napi_callback_info info) {
  napi_value self, o;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  nt_set_named_u64(env, o, "readPackets", t->read_packets);
  nt_set_named_u64(env, o, "readBatches", t->read_batches);
  nt_set_named_u64(env, o, "writtenPackets", t->written_packets);
  nt_set_named_u64(env, o, "droppedOversize", t->dropped_oversize);
  nt_set_named_u64(env, o, "droppedInvalid", t->dropped_invalid);
  nt_set_named_u64(env, o, "writeErrors", t->write_errors);
  nt_set_named_u64(env, o, "eagainWrites", t->eagain_writes);
  nt_set_named_u64(env, o, "superReads", t->super_reads);
  nt_set_named_u64(env, o, "splitPackets", t->split_packets);
  nt_set_named_u64(env, o, "coalescedWrites", t->coalesced_writes);
  nt_set_named_u64(env, o, "coalescedPackets", t->coalesced_packets);
  nt_set_named_u64(env, o, "offloadWriteErrors", t->offload_write_errors);
  return o;
}

/* offload: { vnetHeader, tso, uso } as granted when the device was opened. */
static napi_value tun_get_offload(napi_env env, napi_callback_info info) {
  napi_value self, o, v;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  const char *names[3] = {"vnetHeader", "tso", "uso"};
  const int bits[3] = {TUNP_F_VNET, TUNP_F_TSO, TUNP_F_USO};
  for (int i = 0; i < 3; i++)
    if (napi_get_boolean(env, (t->features & bits[i]) != 0, &v) != napi_ok ||
        napi_set_named_property(env, o, names[i], v) != napi_ok)
      return NULL;
  return o;
}

/* The read buffer for super packets and the idle handle that finishes one across batches. */
static int prepare_offloaded_reads(napi_env env, tun_dev *t) {
  uv_loop_t *loop;
  if (t->rbuf == NULL && (t->rbuf = malloc(VNET_MAX_READ)) == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return 0;
  }
  if (t->idle == NULL) {
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return 0;
    if ((t->idle = malloc(sizeof *t->idle)) == NULL) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return 0;
    }
    uv_idle_init(loop, t->idle);
    t->idle->data = t;
    /* The idle handle alone must not keep the process alive; the TunDevice's own ref does. */
    uv_unref((uv_handle_t *)t->idle);
  }
  return 1;
}

/* startReading(buffer, slotSize, headroom, lengths, maxBatch, onPackets, onError) */
static napi_value tun_start_reading(napi_env env, napi_callback_info info) {
  napi_value argv[7], self;
  tun_dev *t;
  uint8_t *buf;
  uint32_t *lens;
  size_t buf_len, lens_count;
  uint32_t slot_size, headroom, max_batch;
  if (!nt_unwrap_this(env, info, 7, NULL, argv, &self, (void **)&t)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "buffer", &buf, &buf_len) ||
      !nt_arg_uint(env, argv[1], "slotSize", 1, NT_MAX_SLOT_SIZE, &slot_size) ||
      !nt_arg_uint(env, argv[2], "headroom", 0, NT_MAX_SLOT_SIZE, &headroom) ||
      !nt_arg_u32array(env, argv[3], "lengths", &lens, &lens_count) ||
      !nt_arg_uint(env, argv[4], "maxBatch", 1, NT_MAX_BATCH, &max_batch) ||
      !nt_arg_function(env, argv[5], "onPackets") || !nt_arg_function(env, argv[6], "onError") ||
      !nt_check_slots(env, buf_len, slot_size, headroom, max_batch, "maxBatch"))
    return NULL;
  if (lens_count < max_batch) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "lengths.length must be at least maxBatch");
    return NULL;
  }
  if (!ensure_open(env, t, "startReading")) return NULL;
  stop_reading(t); /* a second call replaces the previous buffers and callbacks */
  if (napi_create_reference(env, argv[0], 1, &t->buffer) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &t->lengths) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &t->on_packets) != napi_ok ||
      napi_create_reference(env, argv[6], 1, &t->on_error) != napi_ok ||
      !nt_handle_activate(&t->h, self, "node-tun:TunDevice")) {
    stop_reading(t);
    nt_handle_maybe_release(&t->h, 0);
    return NULL;
  }
  t->slot_size = slot_size;
  t->headroom = headroom;
  t->max_batch = max_batch;
  if ((t->features & TUNP_F_VNET) && !prepare_offloaded_reads(env, t)) {
    stop_reading(t);
    nt_handle_maybe_release(&t->h, 0);
    return NULL;
  }
  int err = tunp_watch(t->dev, on_ready, t);
  if (err != 0) {
    stop_reading(t);
    nt_handle_maybe_release(&t->h, 0);
    nt_throw_errno(env, err, "uv_poll_start", t->name);
    return NULL;
  }
  t->reading = 1;
  return nt_undefined(env);
}

static napi_value tun_stop_reading(napi_env env, napi_callback_info info) {
  napi_value self;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  stop_reading(t);
  nt_handle_maybe_release(&t->h, 0);
  return nt_undefined(env);
}

/* Errors that concern one packet or a passing state (it is dropped and counted); anything else
 * (EBADFD once the interface is deleted, EBADF...) is the device's and is thrown. Linux answers
 * EIO while the interface is down and EINVAL for a packet that is not IPv4/IPv6. */
static int packet_error(int err) {
  return err == EINVAL || err == EMSGSIZE || err == ENOMEM || err == ENOBUFS || err == EIO;
}

/* Writes one packet: 1 written, 0 not written (EAGAIN or a dropped packet), -1 thrown. */
static int write_one(napi_env env, tun_dev *t, const uint8_t *p, size_t len, int *eagain) {
  int err = tunp_write(t->dev, p, len);
  if (err == 0) {
    t->written_packets++;
    return 1;
  }
  if (err == EAGAIN) {
    t->eagain_writes++;
    *eagain = 1;
    return 0;
  }
  t->write_errors++;
  if (packet_error(err)) return 0;
  nt_throw_errno(env, err, "write", t->name);
  return -1;
}

/* Offloads on: writes packets [i, count) as coalesced TCP segments where it can, each other packet
 * behind an empty virtio header. Returns the packets consumed, or -1 after throwing. */
static long write_offloaded(napi_env env, tun_dev *t, const uint8_t *buf, uint32_t slot_size, uint32_t headroom,
                            const uint32_t *lens, uint32_t count) {
  static const uint8_t plain_hdr[VNET_HDR_LEN] = {0};
  tunp_iov iov[2 + 64];
  vnet_group g;
  uint32_t i = 0;
  while (i < count) {
    const uint8_t *p = buf + (size_t)i * slot_size + headroom;
    uint32_t k = t->coalesce ? vnet_coalesce(p, slot_size, lens + i, count - i, (t->features & TUNP_F_USO) != 0, &g) : 1;
    int err;
    if (k > 1) {
      iov[0] = (tunp_iov){g.vhdr, VNET_HDR_LEN};
      iov[1] = (tunp_iov){g.head, g.head_len};
      for (uint32_t j = 0; j < k; j++)
        iov[2 + j] = (tunp_iov){p + (size_t)j * slot_size + g.payload_off, lens[i + j] - g.payload_off};
      err = tunp_writev(t->dev, iov, (int)k + 2);
      if (err == 0) {
        t->written_packets += k;
        t->coalesced_writes++;
        t->coalesced_packets += k;
        i += k;
        continue;
      }
      if (err == EAGAIN) {
        t->eagain_writes++;
        break;
      }
      /* The kernel refused the coalesced segment: stop coalescing on this device (counted), and
       * write these packets one by one. */
      t->offload_write_errors++;
      t->coalesce = 0;
    }
    iov[0] = (tunp_iov){plain_hdr, VNET_HDR_LEN};
    iov[1] = (tunp_iov){p, lens[i]};
    err = tunp_writev(t->dev, iov, 2);
    if (err == 0) {
      t->written_packets++;
    } else if (err == EAGAIN) {
      t->eagain_writes++;
      break;
    } else {
      t->write_errors++;
      if (!packet_error(err)) {
        nt_throw_errno(env, err, "write", t->name);
        return -1;
      }
    }
    i++;
  }
  return (long)i;
}

/* write(buffer, slotSize, headroom, lengths, count): number of packets consumed */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  napi_value argv[5], self, r;
  tun_dev *t;
  uint8_t *buf;
  uint32_t *lens;
  size_t buf_len, lens_count;
  uint32_t slot_size, headroom, count;
  if (!nt_unwrap_this(env, info, 5, NULL, argv, &self, (void **)&t)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "buffer", &buf, &buf_len) ||
      !nt_arg_uint(env, argv[1], "slotSize", 1, NT_MAX_SLOT_SIZE, &slot_size) ||
      !nt_arg_uint(env, argv[2], "headroom", 0, NT_MAX_SLOT_SIZE, &headroom) ||
      !nt_arg_u32array(env, argv[3], "lengths", &lens, &lens_count) ||
      !nt_arg_uint(env, argv[4], "count", 0, UINT32_MAX, &count) ||
      !nt_check_slots(env, buf_len, slot_size, headroom, count, "count"))
    return NULL;
  if (count > lens_count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must not exceed lengths.length");
    return NULL;
  }
  const uint32_t cap = slot_size - headroom;
  for (uint32_t i = 0; i < count; i++) {
    if (lens[i] > cap) {
      char msg[128];
      snprintf(msg, sizeof msg, "lengths[%u] (%u) exceeds slotSize - headroom (%u)", i, lens[i], cap);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
  }
  if (!ensure_open(env, t, "write")) return NULL;
  if (t->features & TUNP_F_VNET) {
    long w = write_offloaded(env, t, buf, slot_size, headroom, lens, count);
    if (w < 0 || napi_create_uint32(env, (uint32_t)w, &r) != napi_ok) return NULL;
    return r;
  }
  uint32_t i = 0;
  int eagain = 0;
  for (; i < count; i++) {
    int w = write_one(env, t, buf + (size_t)i * slot_size + headroom, lens[i], &eagain);
    if (w < 0) return NULL;
    if (eagain) break;
  }
  if (napi_create_uint32(env, i, &r) != napi_ok) return NULL;
  return r;
}

static napi_value tun_write_packet(napi_env env, napi_callback_info info) {
  napi_value argv[1], self, r;
  tun_dev *t;
  uint8_t *p;
  size_t len;
  if (!nt_unwrap_this(env, info, 1, NULL, argv, &self, (void **)&t)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "packet", &p, &len)) return NULL;
  if (!ensure_open(env, t, "write")) return NULL;
  int eagain = 0;
  int w;
  if (t->features & TUNP_F_VNET) {
    uint32_t one = (uint32_t)len;
    uint64_t before = t->written_packets;
    w = write_offloaded(env, t, p, (uint32_t)len, 0, &one, 1) < 0 ? -1 : t->written_packets > before;
  } else {
    w = write_one(env, t, p, len, &eagain);
  }
  if (w < 0 || napi_get_boolean(env, w == 1, &r) != napi_ok) return NULL;
  return r;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  napi_value self;
  tun_dev *t;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&t)) return NULL;
  close_device(t);
  nt_handle_remove_hook(&t->h);
  nt_handle_maybe_release(&t->h, 0);
  return nt_undefined(env);
}

napi_value nt_tun_init(napi_env env, napi_value exports, nt_instance *inst) {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_static, NULL},
      {"fromFd", NULL, tun_from_fd, NULL, NULL, NULL, napi_static, NULL},
      {"name", NULL, NULL, tun_get_name, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, NULL, tun_get_fd, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, NULL, tun_get_stats, NULL, NULL, napi_enumerable, NULL},
      {"offload", NULL, NULL, tun_get_offload, NULL, NULL, napi_enumerable, NULL},
      {"startReading", NULL, tun_start_reading, NULL, NULL, NULL, napi_default_method, NULL},
      {"stopReading", NULL, tun_stop_reading, NULL, NULL, NULL, napi_default_method, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_default_method, NULL},
      {"writePacket", NULL, tun_write_packet, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value ctor;
  if (napi_define_class(env, "TunDevice", NAPI_AUTO_LENGTH, tun_constructor, NULL, sizeof props / sizeof props[0],
                        props, &ctor) != napi_ok ||
      napi_create_reference(env, ctor, 1, &inst->tun_ctor) != napi_ok ||
      napi_set_named_property(env, exports, "TunDevice", ctor) != napi_ok)
    return NULL;
  return exports;
}
