/*
 * node-tun: what each platform supplies for TunDevice (tun.c holds the JS-facing logic).
 * Errors are positive errno values (POSIX names, also on Windows).
 *   Linux:   tun_posix.c + tun_linux.c   (/dev/net/tun, TUNSETIFF)
 *   macOS:   tun_posix.c + tun_darwin.c  (utun control socket, 4-byte family header)
 *   Windows: tun_win.c                   (wintun.dll, loaded at run time)
 */
#ifndef NODE_TUN_PLATFORM_H
#define NODE_TUN_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct tunp tunp_t;
/* status 0: the device is readable; otherwise a positive error (the watch has stopped). */
typedef void (*tunp_ready_cb)(void *arg, int status);

#define TUNP_NAME_MAX 64

int tunp_open(uv_loop_t *loop, const char *name, int multi_queue, tunp_t **out, const char **syscall);
/* Adopts an open TUN fd (received from a privileged helper): checks it is a TUN without packet
 * info, reads its name, makes it non-blocking and close-on-exec. On success the device owns fd;
 * on failure the caller still does. ENOTSUP where devices have no fd (Windows). */
int tunp_adopt(uv_loop_t *loop, int fd, tunp_t **out, const char **syscall);
const char *tunp_name(const tunp_t *t);
int tunp_fd(const tunp_t *t); /* -1 where the device has no fd */
/* >= 0: the packet's full length; a value > cap means it did not fit (its bytes are lost).
 * < 0: -error; -EAGAIN when no packet is queued. EINTR is retried inside. */
long tunp_read(tunp_t *t, uint8_t *dst, size_t cap);
/* 0 or a positive error (EAGAIN when the queue is full). */
int tunp_write(tunp_t *t, const uint8_t *src, size_t len);
/* Calls cb (on the loop thread) whenever packets may be readable, until tunp_unwatch. */
int tunp_watch(tunp_t *t, tunp_ready_cb cb, void *arg);
void tunp_unwatch(tunp_t *t);
/* Stops watching and releases the device; handle memory is freed asynchronously. */
void tunp_close(tunp_t *t);

#ifndef _WIN32
/* OS part of the POSIX implementation (tun_linux.c, tun_darwin.c). */
int tun_os_open(const char *name, int multi_queue, int *fd, char name_out[TUNP_NAME_MAX], const char **syscall);
int tun_os_adopt(int fd, char name_out[TUNP_NAME_MAX], const char **syscall);
long tun_os_read(int fd, uint8_t *dst, size_t cap);
int tun_os_write(int fd, const uint8_t *src, size_t len);
#endif

#endif
