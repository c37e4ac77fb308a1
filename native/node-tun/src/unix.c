/*
 * node-tun: Unix stream sockets that carry file descriptors (SCM_RIGHTS) and tell who is on the
 * other end (SO_PEERCRED + SO_PEERGROUPS on Linux, LOCAL_PEERCRED + LOCAL_PEERPID on macOS).
 *
 * What for: a privileged helper creates the TUN device and hands its fd to the unprivileged app.
 * Node's net module cannot do either (it reads with read(2), which drops SCM_RIGHTS, and exposes
 * no peer credentials), so both ends use this class. Like TunDevice and UdpSocket, every socket
 * is non-blocking and watched by one uv_poll: neither the helper nor the app blocks its event
 * loop, and no thread-pool work is queued.
 *
 * The byte stream is the caller's (framing is done in JS). A received fd arrives with the bytes
 * of the recvmsg that carried it; the sender attaches an fd to the first byte of a send().
 *
 * Windows has no SCM_RIGHTS: every entry point throws ERR_NOT_SUPPORTED there (the Windows
 * helper talks over a named pipe through node:net instead).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* struct ucred */
#endif
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/ucred.h>
#endif

#define READ_CHUNK 65536
#define MAX_FDS_PER_MSG 4
#define ACCEPTS_PER_WAKEUP 16
#define MAX_GROUPS 1024

typedef struct {
  nt_handle h; /* first member: the cleanup hook gets &h */
  int fd;      /* -1 once closed */
  int listening;
  uv_loop_t *loop;
  uv_poll_t *poll;
  int reading, accepting;
  napi_ref on_data, on_error, on_writable;
  uint8_t *chunk; /* READ_CHUNK bytes, allocated on the first read */
} unix_sock;

static void delete_ref(napi_env env, napi_ref *r) {
  if (*r != NULL) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

static int is_active(const unix_sock *s) {
  return s->fd >= 0 && (s->reading || s->accepting || s->on_writable != NULL);
}

static void free_handle(uv_handle_t *h) { free(h); }
static void on_poll(uv_poll_t *handle, int status, int events);

/* Watches for exactly what is wanted: readable while reading or accepting, writable while a
 * callback waits. */
static int update_poll(unix_sock *s) {
  if (s->fd < 0) return 0;
  int want = (s->reading || s->accepting ? UV_READABLE : 0) | (s->on_writable != NULL ? UV_WRITABLE : 0);
  if (s->poll == NULL) {
    if (want == 0) return 0;
    s->poll = malloc(sizeof *s->poll);
    if (s->poll == NULL) return ENOMEM;
    int r = uv_poll_init(s->loop, s->poll, s->fd);
    if (r != 0) {
      free(s->poll);
      s->poll = NULL;
      return -r;
    }
    s->poll->data = s;
  }
  if (want == 0) {
    uv_poll_stop(s->poll);
    return 0;
  }
  int r = uv_poll_start(s->poll, want, on_poll);
  return r < 0 ? -r : 0;
}

static void drop_callbacks(unix_sock *s) {
  s->reading = 0;
  s->accepting = 0;
  if (!s->h.tearing_down) {
    delete_ref(s->h.env, &s->on_data);
    delete_ref(s->h.env, &s->on_error);
    delete_ref(s->h.env, &s->on_writable);
  }
}

static void close_socket(unix_sock *s) {
  drop_callbacks(s);
  if (s->poll != NULL) {
    /* uv_close stops the watch (and removes the fd from epoll) before the fd is closed. */
    s->poll->data = NULL;
    uv_close((uv_handle_t *)s->poll, free_handle);
    s->poll = NULL;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
}

static void unix_teardown(nt_handle *h) { close_socket((unix_sock *)h); }

static void unix_finalize(napi_env env, void *data, void *hint) {
  unix_sock *s = data;
  (void)hint;
  if (!s->h.tearing_down) {
    nt_handle_remove_hook(&s->h);
    close_socket(s);
    if (s->h.ctx != NULL) napi_async_destroy(env, s->h.ctx);
    delete_ref(env, &s->h.self);
  } else if (s->fd >= 0) {
    close(s->fd);
  }
  free(s->chunk);
  free(s);
}

static int set_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return errno;
#ifdef SO_NOSIGPIPE
  /* macOS has no MSG_NOSIGNAL: a write to a closed peer must give EPIPE, not kill the process. */
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return 0;
}

static int new_socket(int *out) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  int err = set_flags(fd);
  if (err != 0) {
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

/* Fills a sockaddr_un; ENAMETOOLONG when the path does not fit. */
static int make_address(const char *path, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) return ENAMETOOLONG;
  memcpy(addr->sun_path, path, strlen(path));
  return 0;
}

/* ---- poll callbacks -------------------------------------------------------------------------- */

static napi_value new_socket_object(napi_env env, int fd, int listening);

static void fail(unix_sock *s, napi_value self, int err, const char *syscall) {
  napi_env env = s->h.env;
  napi_value on_error = NULL;
  if (s->on_error != NULL) napi_get_reference_value(env, s->on_error, &on_error);
  napi_value error = nt_make_errno_error(env, err, syscall, NULL);
  drop_callbacks(s);
  update_poll(s);
  if (on_error != NULL && error != NULL) nt_call(&s->h, self, on_error, 1, &error);
}

static void do_accept(unix_sock *s, napi_value self) {
  napi_env env = s->h.env;
  for (int i = 0; i < ACCEPTS_PER_WAKEUP && s->accepting && s->fd >= 0; i++) {
    int fd = accept(s->fd, NULL, NULL);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED) continue;
      /* EMFILE and the like: the level-triggered poll would spin, so accepting stops. */
      fail(s, self, err, "accept");
      return;
    }
    if (set_flags(fd) != 0) {
      close(fd);
      continue;
    }
    napi_value sock = new_socket_object(env, fd, 0), fn = NULL;
    if (sock == NULL) {
      close(fd);
      continue;
    }
    if (s->on_data != NULL && napi_get_reference_value(env, s->on_data, &fn) == napi_ok && fn != NULL)
      nt_call(&s->h, self, fn, 1, &sock);
  }
}

static void do_read(unix_sock *s, napi_value self) {
  napi_env env = s->h.env;
  if (s->chunk == NULL && (s->chunk = malloc(READ_CHUNK)) == NULL) {
    fail(s, self, ENOMEM, "malloc");
    return;
  }
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MSG)];
  } control;
  struct iovec iov = {s->chunk, READ_CHUNK};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
#ifdef MSG_CMSG_CLOEXEC
  const int flags = MSG_CMSG_CLOEXEC;
#else
  const int flags = 0;
#endif
  do n = recvmsg(s->fd, &msg, flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail(s, self, errno, "recvmsg");
    return;
  }
  /* The first fd is handed to JS; any further one is closed here (the peer gets one per send). */
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, fds + i, sizeof got);
#ifndef MSG_CMSG_CLOEXEC
      fcntl(got, F_SETFD, FD_CLOEXEC);
#endif
      if (fd < 0)
        fd = got;
      else
        close(got);
    }
  }
  napi_value argv[2], fn = NULL;
  if (n == 0) {
    /* End of stream: reading stops; the callback gets null. */
    napi_get_null(env, &argv[0]);
    napi_get_reference_value(env, s->on_data, &fn); /* fn stays alive on the handle scope */
    s->reading = 0;
    update_poll(s);
  } else {
    void *data;
    napi_value ab;
    if (napi_create_arraybuffer(env, (size_t)n, &data, &ab) != napi_ok ||
        napi_create_typedarray(env, napi_uint8_array, (size_t)n, ab, 0, &argv[0]) != napi_ok) {
      if (fd >= 0) close(fd);
      return;
    }
    memcpy(data, s->chunk, (size_t)n);
    napi_get_reference_value(env, s->on_data, &fn);
  }
  napi_create_int32(env, fd, &argv[1]);
  if (fn != NULL)
    nt_call(&s->h, self, fn, 2, argv);
  else if (fd >= 0)
    close(fd);
  if (n == 0 && !s->reading && !s->h.tearing_down) {
    delete_ref(env, &s->on_data);
    delete_ref(env, &s->on_error);
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  unix_sock *s = handle->data;
  if (s == NULL || s->h.tearing_down || s->h.self == NULL) return;
  napi_env env = s->h.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL;
  if (napi_get_reference_value(env, s->h.self, &self) != napi_ok || self == NULL) goto out;
  if (status < 0) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    int err = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0 ? soerr : -status;
    fail(s, self, err, "poll");
    goto out;
  }
  if ((events & UV_WRITABLE) && s->on_writable != NULL) {
    napi_value fn = NULL;
    napi_get_reference_value(env, s->on_writable, &fn);
    delete_ref(env, &s->on_writable);
    update_poll(s);
    if (fn != NULL) nt_call(&s->h, self, fn, 0, NULL);
  }
  if ((events & UV_READABLE) && s->fd >= 0) {
    if (s->accepting)
      do_accept(s, self);
    else if (s->reading)
      do_read(s, self);
  }
out:
  nt_handle_maybe_release(&s->h, is_active(s));
  napi_close_handle_scope(env, scope);
}

/* ---- JS methods ------------------------------------------------------------------------------ */

static nt_instance *instance(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static napi_value new_socket_object(napi_env env, int fd, int listening) {
  nt_instance *inst = instance(env);
  napi_value ctor, token, self;
  unix_sock *s = NULL;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok ||
      napi_get_reference_value(env, inst->unix_ctor, &ctor) != napi_ok ||
      napi_get_reference_value(env, inst->token, &token) != napi_ok ||
      napi_new_instance(env, ctor, 1, &token, &self) != napi_ok || napi_unwrap(env, self, (void **)&s) != napi_ok)
    return NULL;
  s->fd = fd;
  s->listening = listening;
  s->loop = loop;
  nt_handle_add_hook(&s->h);
  return self;
}

static napi_value unix_constructor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok) return NULL;
  if (target == NULL) {
    napi_throw_type_error(env, NULL, "Class constructor UnixSocket cannot be invoked without 'new'");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (argc < 1 || !nt_check_token(env, argv[0])) {
    napi_throw_type_error(env, "ERR_ILLEGAL_CONSTRUCTOR",
                          "use UnixSocket.connect() or UnixSocket.listen() to create a UnixSocket");
    return NULL;
  }
  unix_sock *s = calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->fd = -1;
  s->h.env = env;
  s->h.teardown = unix_teardown;
  if (napi_wrap(env, self, s, unix_finalize, NULL, NULL) != napi_ok) {
    free(s);
    return NULL;
  }
  return self;
}

/* Reads a path argument into buf (at most sizeof sun_path - 1 bytes, no NUL inside). */
static int arg_path(napi_env env, napi_value v, char *buf, size_t cap) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return 0;
  if (len == 0 || len >= cap) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "path must be 1..107 bytes (sockaddr_un.sun_path)");
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return 0;
  if (strlen(buf) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not contain NUL characters");
    return 0;
  }
  return 1;
}

/* UnixSocket.connect(path) */
static napi_value unix_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || !arg_path(env, argv[0], path, sizeof path)) {
    if (argc < 1) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "UnixSocket.connect(path) takes a path");
    return NULL;
  }
  struct sockaddr_un addr;
  int fd = -1, err = make_address(path, &addr);
  if (err == 0) err = new_socket(&fd);
  if (err != 0) {
    nt_throw_errno(env, err, "socket", path);
    return NULL;
  }
  /* A Unix stream connect completes at once or fails at once (EAGAIN: the listener's backlog is
   * full), so the non-blocking socket needs no wait for writability. */
  int r;
  do r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    err = errno;
    close(fd);
    nt_throw_errno(env, err, "connect", path);
    return NULL;
  }
  napi_value self = new_socket_object(env, fd, 0);
  if (self == NULL) close(fd);
  return self;
}

/* UnixSocket.listen(path, backlog?) */
static napi_value unix_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  uint32_t backlog = 64;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "UnixSocket.listen(path, backlog?) takes a path");
    return NULL;
  }
  if (!arg_path(env, argv[0], path, sizeof path)) return NULL;
  if (argc > 1) {
    napi_valuetype t;
    if (napi_typeof(env, argv[1], &t) != napi_ok) return NULL;
    if (t != napi_undefined && !nt_arg_uint(env, argv[1], "backlog", 1, 4096, &backlog)) return NULL;
  }
  struct sockaddr_un addr;
  int fd = -1, err = make_address(path, &addr);
  if (err == 0) err = new_socket(&fd);
  if (err != 0) {
    nt_throw_errno(env, err, "socket", path);
    return NULL;
  }
  const char *syscall = "bind";
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || (syscall = "listen", listen(fd, (int)backlog) < 0)) {
    err = errno;
    close(fd);
    nt_throw_errno(env, err, syscall, path);
    return NULL;
  }
  napi_value self = new_socket_object(env, fd, 1);
  if (self == NULL) close(fd);
  return self;
}

static int ensure_open(napi_env env, unix_sock *s, const char *syscall) {
  if (s->fd >= 0) return 1;
  nt_throw_errno(env, EBADF, syscall, "(UnixSocket is closed)");
  return 0;
}

static napi_value unix_get_fd(napi_env env, napi_callback_info info) {
  napi_value self, r;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&s)) return NULL;
  if (napi_create_int32(env, s->fd, &r) != napi_ok) return NULL;
  return r;
}

static int set_u32(napi_env env, napi_value obj, const char *name, uint32_t v) {
  napi_value x;
  return napi_create_uint32(env, v, &x) == napi_ok && napi_set_named_property(env, obj, name, x) == napi_ok;
}

/* peerCredentials(): { pid, uid, gid, groups } of the process that connected (as of connect). */
static napi_value unix_peer_credentials(napi_env env, napi_callback_info info) {
  napi_value self, o, arr;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&s)) return NULL;
  if (!ensure_open(env, s, "peerCredentials")) return NULL;
  uint32_t pid = 0, uid, gid;
  gid_t *groups = NULL;
  size_t ngroups = 0;
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    nt_throw_errno(env, errno, "getsockopt(SO_PEERCRED)", NULL);
    return NULL;
  }
  pid = (uint32_t)cred.pid;
  uid = cred.uid;
  gid = cred.gid;
#ifdef SO_PEERGROUPS
  /* The supplementary groups of the peer at connect time (Linux 4.13+): not racy, unlike
   * /proc/<pid>/status. */
  socklen_t glen = sizeof(gid_t) * 64;
  for (;;) {
    gid_t *g = realloc(groups, glen);
    if (g == NULL) {
      free(groups);
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    groups = g;
    if (getsockopt(s->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
      ngroups = glen / sizeof(gid_t);
      break;
    }
    if (errno != ERANGE || glen > sizeof(gid_t) * MAX_GROUPS) {
      int err = errno;
      free(groups);
      nt_throw_errno(env, err, "getsockopt(SO_PEERGROUPS)", NULL);
      return NULL;
    }
  }
#endif
#elif defined(__APPLE__)
  struct xucred xu;
  socklen_t len = sizeof xu;
  if (getsockopt(s->fd, SOL_LOCAL, LOCAL_PEERCRED, &xu, &len) < 0 || xu.cr_version != XUCRED_VERSION) {
    nt_throw_errno(env, errno != 0 ? errno : EINVAL, "getsockopt(LOCAL_PEERCRED)", NULL);
    return NULL;
  }
  uid = xu.cr_uid;
  gid = xu.cr_ngroups > 0 ? xu.cr_groups[0] : (uint32_t)-1;
  ngroups = xu.cr_ngroups > 0 ? (size_t)xu.cr_ngroups : 0;
  groups = malloc(sizeof(gid_t) * (ngroups + 1));
  if (groups == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < ngroups; i++) groups[i] = xu.cr_groups[i];
  pid_t ppid = 0;
  socklen_t plen = sizeof ppid;
  if (getsockopt(s->fd, SOL_LOCAL, LOCAL_PEERPID, &ppid, &plen) == 0) pid = (uint32_t)ppid;
#else
  nt_throw_errno(env, ENOSYS, "peerCredentials", NULL);
  return NULL;
#endif
  if (napi_create_object(env, &o) != napi_ok || !set_u32(env, o, "pid", pid) || !set_u32(env, o, "uid", uid) ||
      !set_u32(env, o, "gid", gid) || napi_create_array_with_length(env, ngroups, &arr) != napi_ok) {
    free(groups);
    return NULL;
  }
  for (size_t i = 0; i < ngroups; i++) {
    napi_value x;
    if (napi_create_uint32(env, groups[i], &x) != napi_ok || napi_set_element(env, arr, (uint32_t)i, x) != napi_ok) {
      free(groups);
      return NULL;
    }
  }
  free(groups);
  if (napi_set_named_property(env, o, "groups", arr) != napi_ok) return NULL;
  return o;
}

static int start(napi_env env, unix_sock *s, napi_value self, napi_value on_data, napi_value on_error, int accepting) {
  drop_callbacks(s);
  if (napi_create_reference(env, on_data, 1, &s->on_data) != napi_ok ||
      napi_create_reference(env, on_error, 1, &s->on_error) != napi_ok ||
      !nt_handle_activate(&s->h, self, "node-tun:UnixSocket")) {
    drop_callbacks(s);
    nt_handle_maybe_release(&s->h, is_active(s));
    return 0;
  }
  if (accepting)
    s->accepting = 1;
  else
    s->reading = 1;
  int err = update_poll(s);
  if (err != 0) {
    drop_callbacks(s);
    nt_handle_maybe_release(&s->h, is_active(s));
    nt_throw_errno(env, err, "uv_poll_start", NULL);
    return 0;
  }
  return 1;
}

/* startReading(onData(data | null, fd), onError(err)) */
static napi_value unix_start_reading(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 2, NULL, argv, &self, (void **)&s)) return NULL;
  if (!nt_arg_function(env, argv[0], "onData") || !nt_arg_function(env, argv[1], "onError")) return NULL;
  if (!ensure_open(env, s, "startReading")) return NULL;
  if (s->listening) {
    napi_throw_error(env, "ERR_INVALID_STATE", "a listening UnixSocket accepts (startAccepting); it cannot read");
    return NULL;
  }
  if (!start(env, s, self, argv[0], argv[1], 0)) return NULL;
  return nt_undefined(env);
}

/* startAccepting(onConnection(socket), onError(err)) */
static napi_value unix_start_accepting(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 2, NULL, argv, &self, (void **)&s)) return NULL;
  if (!nt_arg_function(env, argv[0], "onConnection") || !nt_arg_function(env, argv[1], "onError")) return NULL;
  if (!ensure_open(env, s, "startAccepting")) return NULL;
  if (!s->listening) {
    napi_throw_error(env, "ERR_INVALID_STATE", "only a socket from UnixSocket.listen() accepts connections");
    return NULL;
  }
  if (!start(env, s, self, argv[0], argv[1], 1)) return NULL;
  return nt_undefined(env);
}

static napi_value unix_stop_reading(napi_env env, napi_callback_info info) {
  napi_value self;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&s)) return NULL;
  s->reading = 0;
  s->accepting = 0;
  delete_ref(env, &s->on_data);
  delete_ref(env, &s->on_error);
  update_poll(s);
  nt_handle_maybe_release(&s->h, is_active(s));
  return nt_undefined(env);
}

/* send(data, fd?): bytes written (0 on EAGAIN). The fd, if any, rides with the first byte. */
static napi_value unix_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL}, self, r;
  unix_sock *s;
  uint8_t *data;
  size_t len;
  uint32_t pass_fd = 0;
  int with_fd = 0;
  if (!nt_unwrap_this(env, info, 2, &argc, argv, &self, (void **)&s)) return NULL;
  if (!nt_arg_u8array(env, argv[0], "data", &data, &len)) return NULL;
  if (argc > 1) {
    napi_valuetype t;
    if (napi_typeof(env, argv[1], &t) != napi_ok) return NULL;
    if (t != napi_undefined && t != napi_null) {
      if (!nt_arg_uint(env, argv[1], "fd", 0, INT32_MAX, &pass_fd)) return NULL;
      with_fd = 1;
    }
  }
  if (with_fd && len == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "an fd must travel with at least one byte of data");
    return NULL;
  }
  if (!ensure_open(env, s, "send")) return NULL;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct iovec iov = {data, len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (with_fd) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int f = (int)pass_fd;
    memcpy(CMSG_DATA(c), &f, sizeof f);
  }
#ifdef MSG_NOSIGNAL
  const int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
#else
  const int flags = MSG_DONTWAIT;
#endif
  ssize_t n;
  do n = sendmsg(s->fd, &msg, flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      n = 0;
    else {
      nt_throw_errno(env, errno, "sendmsg", NULL);
      return NULL;
    }
  }
  if (napi_create_uint32(env, (uint32_t)n, &r) != napi_ok) return NULL;
  return r;
}

/* onceWritable(cb): cb() once the socket is writable again (one waiting callback; a second call
 * replaces it). */
static napi_value unix_once_writable(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 1, NULL, argv, &self, (void **)&s)) return NULL;
  if (!nt_arg_function(env, argv[0], "cb") || !ensure_open(env, s, "onceWritable")) return NULL;
  if (!nt_handle_activate(&s->h, self, "node-tun:UnixSocket")) return NULL;
  delete_ref(env, &s->on_writable);
  if (napi_create_reference(env, argv[0], 1, &s->on_writable) != napi_ok) return NULL;
  int err = update_poll(s);
  if (err != 0) {
    delete_ref(env, &s->on_writable);
    nt_handle_maybe_release(&s->h, is_active(s));
    nt_throw_errno(env, err, "uv_poll_start", NULL);
    return NULL;
  }
  return nt_undefined(env);
}

static napi_value unix_close(napi_env env, napi_callback_info info) {
  napi_value self;
  unix_sock *s;
  if (!nt_unwrap_this(env, info, 0, NULL, NULL, &self, (void **)&s)) return NULL;
  close_socket(s);
  nt_handle_remove_hook(&s->h);
  nt_handle_maybe_release(&s->h, 0);
  return nt_undefined(env);
}

/* closeFd(fd): closes an fd received with data that the receiver does not want. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  uint32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || !nt_arg_uint(env, argv[0], "fd", 0, INT32_MAX, &fd)) {
    if (argc < 1) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "closeFd(fd) takes a number");
    return NULL;
  }
  if (close((int)fd) < 0 && errno != EINTR) {
    nt_throw_errno(env, errno, "close", NULL);
    return NULL;
  }
  return nt_undefined(env);
}

napi_value nt_unix_init(napi_env env, napi_value exports, nt_instance *inst) {
  napi_property_descriptor props[] = {
      {"connect", NULL, unix_connect, NULL, NULL, NULL, napi_static, NULL},
      {"listen", NULL, unix_listen, NULL, NULL, NULL, napi_static, NULL},
      {"fd", NULL, NULL, unix_get_fd, NULL, NULL, napi_enumerable, NULL},
      {"peerCredentials", NULL, unix_peer_credentials, NULL, NULL, NULL, napi_default_method, NULL},
      {"startReading", NULL, unix_start_reading, NULL, NULL, NULL, napi_default_method, NULL},
      {"startAccepting", NULL, unix_start_accepting, NULL, NULL, NULL, napi_default_method, NULL},
      {"stopReading", NULL, unix_stop_reading, NULL, NULL, NULL, napi_default_method, NULL},
      {"send", NULL, unix_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"onceWritable", NULL, unix_once_writable, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, unix_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_property_descriptor fns[] = {
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value ctor;
  if (napi_define_class(env, "UnixSocket", NAPI_AUTO_LENGTH, unix_constructor, NULL, sizeof props / sizeof props[0],
                        props, &ctor) != napi_ok ||
      napi_create_reference(env, ctor, 1, &inst->unix_ctor) != napi_ok ||
      napi_set_named_property(env, exports, "UnixSocket", ctor) != napi_ok ||
      napi_define_properties(env, exports, 1, fns) != napi_ok)
    return NULL;
  return exports;
}

#else /* _WIN32 */

static napi_value not_supported(napi_env env, napi_callback_info info) {
  (void)info;
  napi_throw_error(env, "ERR_NOT_SUPPORTED",
                   "Unix sockets with fd passing are not supported on Windows (the helper uses a named pipe)");
  return NULL;
}

napi_value nt_unix_init(napi_env env, napi_value exports, nt_instance *inst) {
  (void)inst;
  napi_property_descriptor statics[] = {
      {"connect", NULL, not_supported, NULL, NULL, NULL, napi_static, NULL},
      {"listen", NULL, not_supported, NULL, NULL, NULL, napi_static, NULL},
  };
  napi_property_descriptor fns[] = {
      {"closeFd", NULL, not_supported, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value ctor;
  if (napi_define_class(env, "UnixSocket", NAPI_AUTO_LENGTH, not_supported, NULL, 2, statics, &ctor) != napi_ok ||
      napi_set_named_property(env, exports, "UnixSocket", ctor) != napi_ok ||
      napi_define_properties(env, exports, 1, fns) != napi_ok)
    return NULL;
  return exports;
}

#endif
