/* node-tun: Linux TUN via /dev/net/tun. */
#include "tun_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vnet.h"

/* Newer than some build hosts' headers (Linux 6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/* Asks for checksum and segmentation offloads on a device opened with IFF_VNET_HDR, the most
 * the kernel grants: TCP (TSO) and UDP (USO, Linux 6.2+), else TCP alone, else none (every
 * packet still carries the header). Returns the TUNP_F_* features. */
static int enable_offloads(int fd) {
  int vnet_len = VNET_HDR_LEN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &vnet_len) < 0) return -1;
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6) == 0)
    return TUNP_F_VNET | TUNP_F_TSO | TUNP_F_USO;
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0) return TUNP_F_VNET | TUNP_F_TSO;
  ioctl(fd, TUNSETOFFLOAD, 0);
  return TUNP_F_VNET;
}

int tun_os_open(const char *name, int multi_queue, int offload, int *fd_out, char name_out[TUNP_NAME_MAX],
                int *features, const char **syscall) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *syscall = "open";
    return errno;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
  if (name != NULL) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    *syscall = "ioctl(TUNSETIFF)";
    return err;
  }
  *features = 0;
  if (offload && (*features = enable_offloads(fd)) < 0) {
    int err = errno;
    close(fd);
    *syscall = "ioctl(TUNSETVNETHDRSZ)";
    return err;
  }
  memset(name_out, 0, TUNP_NAME_MAX);
  memcpy(name_out, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  *fd_out = fd;
  return 0;
}

int tun_os_adopt(int fd, char name_out[TUNP_NAME_MAX], int *features, const char **syscall) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* TUNGETIFF fails (EBADFD) on a /dev/net/tun fd that has no device attached, and ENOTTY/EINVAL
   * on anything that is not a TUN fd. */
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    *syscall = "ioctl(TUNGETIFF)";
    return errno;
  }
  /* The data path expects bare IP packets: a TAP device or one with packet info is refused. */
  if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TUN || (ifr.ifr_flags & IFF_NO_PI) == 0) {
    *syscall = "ioctl(TUNGETIFF)";
    return EINVAL;
  }
  /* Opened with IFF_VNET_HDR (by the helper, for offloads): keep the header, and ask for the
   * offloads ourselves (TUNSETOFFLOAD needs no privilege on an fd we hold). */
  *features = 0;
  if ((ifr.ifr_flags & IFF_VNET_HDR) != 0 && (*features = enable_offloads(fd)) < 0) {
    *syscall = "ioctl(TUNSETVNETHDRSZ)";
    return errno;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    *syscall = "fcntl";
    return errno;
  }
  memset(name_out, 0, TUNP_NAME_MAX);
  memcpy(name_out, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return 0;
}

long tun_os_read(int fd, uint8_t *dst, size_t cap) {
  /* One spare byte tells a packet that fills the slot exactly from one that did not fit. */
  uint8_t spare;
  struct iovec iov[2] = {{dst, cap}, {&spare, 1}};
  ssize_t n;
  do n = readv(fd, iov, 2);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -(long)errno : (long)n;
}

int tun_os_writev(int fd, const tunp_iov *iov, int n) {
  struct iovec v[70];
  if (n < 1 || n > 70) return EINVAL;
  for (int i = 0; i < n; i++) {
    v[i].iov_base = (void *)iov[i].base;
    v[i].iov_len = iov[i].len;
  }
  ssize_t r;
  do r = writev(fd, v, n);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}

int tun_os_write(int fd, const uint8_t *src, size_t len) {
  ssize_t n;
  do n = write(fd, src, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}
