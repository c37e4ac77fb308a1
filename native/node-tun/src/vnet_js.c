/*
 * node-tun: the offload byte work of vnet.c exposed to JavaScript for tests (`_vnet` in index.js),
 * so splitting and coalescing are checked against the engine's packet library without a TUN:
 *   split(data)        data = virtio header + IP packet → the ordinary packets it makes
 *   coalesce(packets[, udp]) → groups { count, header, packet }: what write() would hand the kernel
 */
#include "common.h"
#include "vnet.h"

#include <stdlib.h>
#include <string.h>

static napi_value copy_out(napi_env env, const uint8_t *p, size_t n) {
  void *data;
  napi_value ab, u8;
  if (napi_create_arraybuffer(env, n, &data, &ab) != napi_ok) return NULL;
  if (n > 0) memcpy(data, p, n);
  if (napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &u8) != napi_ok) return NULL;
  return u8;
}

static napi_value js_split(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uint8_t *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || !nt_arg_u8array(env, argv[0], "data", &data, &len)) return NULL;
  vnet_split s;
  if (vnet_split_begin(&s, data, len) != 0) {
    napi_throw_error(env, "ERR_INVALID_PACKET", "not a valid virtio header and IP packet");
    return NULL;
  }
  uint8_t *slot = malloc(65536);
  if (slot == NULL || napi_create_array(env, &out) != napi_ok) {
    free(slot);
    return NULL;
  }
  uint32_t i = 0;
  for (;;) {
    long r = vnet_split_next(&s, slot, 65536);
    if (r <= 0) break;
    napi_value u8 = copy_out(env, slot, (size_t)r);
    if (u8 == NULL || napi_set_element(env, out, i++, u8) != napi_ok) {
      free(slot);
      return NULL;
    }
  }
  free(slot);
  return out;
}

static napi_value js_coalesce(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  bool udp = true;
  uint32_t n;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "packets must be an array of Uint8Array");
    return NULL;
  }
  /* coalesce(packets, udp = true): udp false is a device without USO. */
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &udp) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "udp must be a boolean");
    return NULL;
  }
  /* Lay the packets out in a slab, as write() gets them. */
  const size_t stride = 2048;
  uint8_t *slab = calloc(n > 0 ? n : 1, stride);
  uint32_t *lens = calloc(n > 0 ? n : 1, sizeof *lens);
  if (slab == NULL || lens == NULL) goto fail;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint8_t *p;
    size_t len;
    if (napi_get_element(env, argv[0], i, &e) != napi_ok || !nt_arg_u8array(env, e, "packet", &p, &len)) goto fail;
    if (len > stride) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "a packet is longer than 2048 bytes");
      goto fail;
    }
    memcpy(slab + (size_t)i * stride, p, len);
    lens[i] = (uint32_t)len;
  }
  if (napi_create_array(env, &out) != napi_ok) goto fail;
  uint32_t i = 0, k = 0;
  uint8_t *joined = malloc(65536 + 2048);
  if (joined == NULL) goto fail;
  while (i < n) {
    vnet_group g;
    uint32_t c = vnet_coalesce(slab + (size_t)i * stride, stride, lens + i, n - i, udp, &g);
    size_t len;
    static const uint8_t plain[VNET_HDR_LEN] = {0};
    const uint8_t *hdr = plain;
    if (c > 1) {
      hdr = g.vhdr;
      memcpy(joined, g.head, g.head_len);
      len = g.head_len;
      for (uint32_t j = 0; j < c; j++) {
        size_t pl = lens[i + j] - g.payload_off;
        memcpy(joined + len, slab + (size_t)(i + j) * stride + g.payload_off, pl);
        len += pl;
      }
    } else {
      memcpy(joined, slab + (size_t)i * stride, lens[i]);
      len = lens[i];
    }
    napi_value group, count, header, packet;
    if (napi_create_object(env, &group) != napi_ok || napi_create_uint32(env, c, &count) != napi_ok ||
        (header = copy_out(env, hdr, VNET_HDR_LEN)) == NULL || (packet = copy_out(env, joined, len)) == NULL ||
        napi_set_named_property(env, group, "count", count) != napi_ok ||
        napi_set_named_property(env, group, "header", header) != napi_ok ||
        napi_set_named_property(env, group, "packet", packet) != napi_ok ||
        napi_set_element(env, out, k++, group) != napi_ok) {
      free(joined);
      goto fail;
    }
    i += c;
  }
  free(joined);
  free(slab);
  free(lens);
  return out;
fail:
  free(slab);
  free(lens);
  return NULL;
}

napi_value nt_vnet_init(napi_env env, napi_value exports) {
  napi_value obj, fn;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_function(env, "split", NAPI_AUTO_LENGTH, js_split, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, obj, "split", fn) != napi_ok ||
      napi_create_function(env, "coalesce", NAPI_AUTO_LENGTH, js_coalesce, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, obj, "coalesce", fn) != napi_ok ||
      napi_set_named_property(env, exports, "vnet", obj) != napi_ok)
    return NULL;
  return exports;
}
