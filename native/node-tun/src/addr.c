/* node-tun: 20-byte address records ([0]=4|6, [1]=0, [2..4)=port BE, [4..20)=address). */
#include "common.h"

#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int nt_parse_ip(const char *s, int *family, uint8_t out[16]) {
  memset(out, 0, 16);
  if (inet_pton(AF_INET, s, out) == 1) {
    *family = 4;
    return 1;
  }
  if (inet_pton(AF_INET6, s, out) == 1) {
    *family = 6;
    return 1;
  }
  return 0;
}

int nt_record_from_sockaddr(uint8_t *rec, const struct sockaddr *sa) {
  memset(rec, 0, NT_ADDR_SIZE);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    rec[0] = 4;
    memcpy(rec + 2, &in->sin_port, 2);
    memcpy(rec + 4, &in->sin_addr, 4);
    return 1;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
    memcpy(rec + 2, &in6->sin6_port, 2);
    if (memcmp(a, v4mapped_prefix, 12) == 0) {
      rec[0] = 4;
      memcpy(rec + 4, a + 12, 4);
    } else {
      rec[0] = 6;
      memcpy(rec + 4, a, 16);
    }
    return 1;
  }
  return 0;
}

/* encodeAddress(address: string, port: number, out: Uint8Array, offset: number): void */
static napi_value encode_address(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < 4; i++) argv[i] = nt_undefined(env);
  char text[64];
  size_t n = 0;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "address must be a string");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, argv[0], text, sizeof text, &n) != napi_ok) return NULL;
  int family = 0;
  uint8_t ip[16];
  if (n >= sizeof text - 1 || !nt_parse_ip(text, &family, ip)) {
    char msg[128];
    snprintf(msg, sizeof msg, "address must be an IPv4 or IPv6 address, got '%.60s'", text);
    napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS", msg);
    return NULL;
  }
  uint32_t port, offset;
  uint8_t *out;
  size_t len;
  if (!nt_arg_uint(env, argv[1], "port", 0, 65535, &port) || !nt_arg_u8array(env, argv[2], "out", &out, &len) ||
      !nt_arg_uint(env, argv[3], "offset", 0, UINT32_MAX, &offset))
    return NULL;
  if ((uint64_t)offset + NT_ADDR_SIZE > len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "offset + ADDR_SIZE exceeds out.length");
    return NULL;
  }
  uint8_t *rec = out + offset;
  memset(rec, 0, NT_ADDR_SIZE);
  if (family == 6 && memcmp(ip, v4mapped_prefix, 12) == 0) {
    family = 4;
    memmove(ip, ip + 12, 4);
  }
  rec[0] = (uint8_t)family;
  rec[2] = (uint8_t)(port >> 8);
  rec[3] = (uint8_t)port;
  memcpy(rec + 4, ip, family == 4 ? 4 : 16);
  return nt_undefined(env);
}

/* decodeAddress(records: Uint8Array, offset: number): { address, port } */
static napi_value decode_address(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < 2; i++) argv[i] = nt_undefined(env);
  uint8_t *recs;
  size_t len;
  uint32_t offset;
  if (!nt_arg_u8array(env, argv[0], "records", &recs, &len) ||
      !nt_arg_uint(env, argv[1], "offset", 0, UINT32_MAX, &offset))
    return NULL;
  if ((uint64_t)offset + NT_ADDR_SIZE > len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "offset + ADDR_SIZE exceeds records.length");
    return NULL;
  }
  const uint8_t *rec = recs + offset;
  char text[INET6_ADDRSTRLEN];
  if (rec[0] == 4) {
    if (inet_ntop(AF_INET, rec + 4, text, sizeof text) == NULL) return NULL;
  } else if (rec[0] == 6) {
    if (inet_ntop(AF_INET6, rec + 4, text, sizeof text) == NULL) return NULL;
  } else {
    char msg[96];
    snprintf(msg, sizeof msg, "address record at offset %u has family %u (expected 4 or 6)", offset, rec[0]);
    napi_throw_range_error(env, "ERR_INVALID_ADDRESS_RECORD", msg);
    return NULL;
  }
  napi_value obj, address, port;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address) != napi_ok ||
      napi_create_uint32(env, ((uint32_t)rec[2] << 8) | rec[3], &port) != napi_ok ||
      napi_set_named_property(env, obj, "address", address) != napi_ok ||
      napi_set_named_property(env, obj, "port", port) != napi_ok)
    return NULL;
  return obj;
}

napi_value nt_addr_init(napi_env env, napi_value exports) {
  napi_value size;
  napi_property_descriptor props[] = {
      {"encodeAddress", NULL, encode_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decodeAddress", NULL, decode_address, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_create_uint32(env, NT_ADDR_SIZE, &size) != napi_ok ||
      napi_set_named_property(env, exports, "ADDR_SIZE", size) != napi_ok ||
      napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  return exports;
}
