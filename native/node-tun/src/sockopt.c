/*
 * node-tun: socket marks (Linux SO_MARK) for policy routing. A VPN that routes the default route
 * into its TUN marks its own sockets so that `ip rule ... not fwmark MARK` sends everything but
 * them into the tunnel: setSocketMark() for sockets Node created (node:dgram, net), and
 * createTcpSocket() for a fresh, marked TCP socket that net.Socket({ fd }) then connects.
 * Elsewhere (macOS, Windows) both throw ERR_NOT_SUPPORTED.
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int nt_set_mark(int fd, uint32_t mark) {
  unsigned int v = mark;
  return setsockopt(fd, SOL_SOCKET, SO_MARK, &v, sizeof v) == 0 ? 0 : errno;
}

void nt_throw_mark_error(napi_env env, int err, uint32_t mark) {
  char detail[160];
  if (err == EPERM)
    snprintf(detail, sizeof detail,
             "0x%08x (setting a socket mark needs CAP_NET_ADMIN or CAP_NET_RAW: run as root or grant the capability)",
             mark);
  else
    snprintf(detail, sizeof detail, "0x%08x", mark);
  nt_throw_errno(env, err, "setsockopt(SO_MARK)", detail);
}
#else
int nt_set_mark(int fd, uint32_t mark) {
  (void)fd;
  (void)mark;
  return ENOSYS;
}

void nt_throw_mark_error(napi_env env, int err, uint32_t mark) {
  (void)err;
  (void)mark;
  napi_throw_error(env, "ERR_NOT_SUPPORTED", "socket marks (SO_MARK) are not supported on this platform (Linux only)");
}
#endif

/* setSocketMark(fd, mark) */
static napi_value set_socket_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  uint32_t fd, mark;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setSocketMark(fd, mark) takes two numbers");
    return NULL;
  }
  if (!nt_arg_uint(env, argv[0], "fd", 0, INT32_MAX, &fd) || !nt_arg_uint(env, argv[1], "mark", 0, UINT32_MAX, &mark))
    return NULL;
#ifdef __linux__
  int err = nt_set_mark((int)fd, mark);
  if (err != 0) {
    nt_throw_mark_error(env, err, mark);
    return NULL;
  }
  return nt_undefined(env);
#else
  nt_throw_mark_error(env, ENOSYS, mark);
  return NULL;
#endif
}

/* createTcpSocket(family, mark): a fresh non-blocking, close-on-exec TCP socket fd with SO_MARK. */
static napi_value create_tcp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  uint32_t family, mark;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "createTcpSocket(family, mark) takes two numbers");
    return NULL;
  }
  if (!nt_arg_uint(env, argv[0], "family", 4, 6, &family) || !nt_arg_uint(env, argv[1], "mark", 0, UINT32_MAX, &mark))
    return NULL;
  if (family != 4 && family != 6) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "family must be 4 or 6");
    return NULL;
  }
#ifdef __linux__
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    nt_throw_errno(env, errno, "socket", family == 4 ? "AF_INET SOCK_STREAM" : "AF_INET6 SOCK_STREAM");
    return NULL;
  }
  int err = nt_set_mark(fd, mark);
  if (err != 0) {
    close(fd);
    nt_throw_mark_error(env, err, mark);
    return NULL;
  }
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    return NULL;
  }
  return result;
#else
  nt_throw_mark_error(env, ENOSYS, mark);
  return NULL;
#endif
}

napi_value nt_sockopt_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setSocketMark", NULL, set_socket_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createTcpSocket", NULL, create_tcp_socket, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
