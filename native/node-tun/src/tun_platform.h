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
/* One piece of a packet written with tunp_writev. */
typedef struct {
  const uint8_t *base;
  size_t len;
} tunp_iov;

/* What a device does (tunp_features). TUNP_F_VNET: every read and write carries a virtio-net
 * header (Linux IFF_VNET_HDR); TSO/USO: the kernel may hand us TCP/UDP segments of up to 64 KiB,
 * and takes coalesced TCP segments from us (see vnet.h). */
#define TUNP_F_VNET 1
#define TUNP_F_TSO 2
#define TUNP_F_USO 4
/* status 0: the device is readable; otherwise a positive error (the watch has stopped). */
typedef void (*tunp_ready_cb)(void *arg, int status);

#define TUNP_NAME_MAX 64

/* offload: ask for TUNP_F_VNET and whatever segmentation offloads the kernel grants (Linux only;
 * elsewhere it is ignored and the device has no features). */
int tunp_open(uv_loop_t *loop, const char *name, int multi_queue, int offload, tunp_t **out, const char **syscall);
/* Adopts an open TUN fd (received from a privileged helper): checks it is a TUN without packet
 * info, reads its name, makes it non-blocking and close-on-exec; a Linux fd opened with
 * IFF_VNET_HDR keeps it (and asks for offloads). On success the device owns fd;
 * on failure the caller still does. ENOTSUP where devices have no fd (Windows). */
int tunp_adopt(uv_loop_t *loop, int fd, tunp_t **out, const char **syscall);
const char *tunp_name(const tunp_t *t);
int tunp_fd(const tunp_t *t); /* -1 where the device has no fd */
int tunp_features(const tunp_t *t);
/* >= 0: the packet's full length; a value > cap means it did not fit (its bytes are lost).
 * < 0: -error; -EAGAIN when no packet is queued. EINTR is retried inside. */
long tunp_read(tunp_t *t, uint8_t *dst, size_t cap);
/* 0 or a positive error (EAGAIN when the queue is full). */
int tunp_write(tunp_t *t, const uint8_t *src, size_t len);
/* The same for one packet given in pieces (at most 70). */
int tunp_writev(tunp_t *t, const tunp_iov *iov, int n);
/* Calls cb (on the loop thread) whenever packets may be readable, until tunp_unwatch. */
int tunp_watch(tunp_t *t, tunp_ready_cb cb, void *arg);
void tunp_unwatch(tunp_t *t);
/* Stops watching and releases the device; handle memory is freed asynchronously. */
void tunp_close(tunp_t *t);

#ifndef _WIN32
/* OS part of the POSIX implementation (tun_linux.c, tun_darwin.c). */
int tun_os_open(const char *name, int multi_queue, int offload, int *fd, char name_out[TUNP_NAME_MAX], int *features,
                const char **syscall);
int tun_os_adopt(int fd, char name_out[TUNP_NAME_MAX], int *features, const char **syscall);
long tun_os_read(int fd, uint8_t *dst, size_t cap);
int tun_os_write(int fd, const uint8_t *src, size_t len);
int tun_os_writev(int fd, const tunp_iov *iov, int n);
#endif

#endif
