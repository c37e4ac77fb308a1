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

int tun_os_open(const char *name, int multi_queue, int *fd_out, char name_out[TUNP_NAME_MAX],
                const char **syscall) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *syscall = "open";
    return errno;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
  if (name != NULL) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    *syscall = "ioctl(TUNSETIFF)";
    return err;
  }
  memset(name_out, 0, TUNP_NAME_MAX);
  memcpy(name_out, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  *fd_out = fd;
  return 0;
}

int tun_os_adopt(int fd, char name_out[TUNP_NAME_MAX], const char **syscall) {
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

int tun_os_write(int fd, const uint8_t *src, size_t len) {
  ssize_t n;
  do n = write(fd, src, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}
