/* node-tun: fd-based TUN devices (Linux, macOS): one uv_poll on the non-blocking fd. */
#include "tun_platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tunp {
  int fd;
  uv_loop_t *loop;
  uv_poll_t *poll; /* allocated on first watch; freed in its close callback */
  int features;
  tunp_ready_cb cb;
  void *arg;
  char name[TUNP_NAME_MAX];
};

int tunp_open(uv_loop_t *loop, const char *name, int multi_queue, int offload, tunp_t **out, const char **syscall) {
  tunp_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    *syscall = "malloc";
    return ENOMEM;
  }
  int err = tun_os_open(name, multi_queue, offload, &t->fd, t->name, &t->features, syscall);
  if (err != 0) {
    free(t);
    return err;
  }
  t->loop = loop;
  *out = t;
  return 0;
}

int tunp_adopt(uv_loop_t *loop, int fd, tunp_t **out, const char **syscall) {
  tunp_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    *syscall = "malloc";
    return ENOMEM;
  }
  int err = tun_os_adopt(fd, t->name, &t->features, syscall);
  if (err != 0) {
    free(t);
    return err;
  }
  t->fd = fd;
  t->loop = loop;
  *out = t;
  return 0;
}

const char *tunp_name(const tunp_t *t) { return t->name; }

int tunp_fd(const tunp_t *t) { return t->fd; }

int tunp_features(const tunp_t *t) { return t->features; }

long tunp_read(tunp_t *t, uint8_t *dst, size_t cap) { return tun_os_read(t->fd, dst, cap); }

int tunp_write(tunp_t *t, const uint8_t *src, size_t len) { return tun_os_write(t->fd, src, len); }

int tunp_writev(tunp_t *t, const tunp_iov *iov, int n) { return tun_os_writev(t->fd, iov, n); }

static void on_poll(uv_poll_t *handle, int status, int events) {
  tunp_t *t = handle->data;
  (void)events;
  if (t == NULL || t->cb == NULL) return;
  /* libuv reports EPOLLERR (e.g. the interface was deleted) as a negative status and has
   * already stopped the handle. */
  t->cb(t->arg, status < 0 ? -status : 0);
}

static void free_handle(uv_handle_t *h) { free(h); }

int tunp_watch(tunp_t *t, tunp_ready_cb cb, void *arg) {
  if (t->poll == NULL) {
    t->poll = malloc(sizeof *t->poll);
    if (t->poll == NULL) return ENOMEM;
    int r = uv_poll_init(t->loop, t->poll, t->fd);
    if (r != 0) {
      free(t->poll);
      t->poll = NULL;
      return -r;
    }
    t->poll->data = t;
  }
  t->cb = cb;
  t->arg = arg;
  int r = uv_poll_start(t->poll, UV_READABLE, on_poll);
  return r < 0 ? -r : 0;
}

void tunp_unwatch(tunp_t *t) {
  t->cb = NULL;
  if (t->poll != NULL) uv_poll_stop(t->poll);
}

void tunp_close(tunp_t *t) {
  t->cb = NULL;
  if (t->poll != NULL) {
    /* uv_close stops the watch (and removes the fd from epoll) before the fd is closed. */
    t->poll->data = NULL;
    uv_close((uv_handle_t *)t->poll, free_handle);
    t->poll = NULL;
  }
  if (t->fd >= 0) close(t->fd);
  free(t);
}
