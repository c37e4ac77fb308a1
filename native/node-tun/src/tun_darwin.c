/* node-tun: macOS utun via the PF_SYSTEM control socket. Untested here (no macOS machine).
 * Each packet on the socket carries a 4-byte protocol family header (AF_INET/AF_INET6, network
 * byte order) in front of the IP packet; it is stripped on read and added on write. */
#include "tun_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if_utun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <sys/sys_domain.h>
#include <sys/uio.h>
#include <unistd.h>

/* offload is ignored: utun has no segmentation offloads, so the device has no features. */
int tun_os_open(const char *name, int multi_queue, int offload, int *fd_out, char name_out[TUNP_NAME_MAX],
                int *features, const char **syscall) {
  unsigned unit = 0; /* 0: the kernel picks utunN */
  (void)offload;
  *features = 0;
  if (multi_queue) {
    *syscall = "open";
    return ENOTSUP;
  }
  if (name != NULL && name[0] != '\0') {
    char extra;
    if (sscanf(name, "utun%u%c", &unit, &extra) != 1) {
      *syscall = "open";
      return EINVAL; /* macOS only allows names of the form utunN */
    }
    unit += 1;
  }
  int fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) {
    *syscall = "socket";
    return errno;
  }
  struct ctl_info info;
  memset(&info, 0, sizeof info);
  strlcpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof info.ctl_name);
  if (ioctl(fd, CTLIOCGINFO, &info) < 0) {
    *syscall = "ioctl(CTLIOCGINFO)";
    goto fail;
  }
  struct sockaddr_ctl sc;
  memset(&sc, 0, sizeof sc);
  sc.sc_len = sizeof sc;
  sc.sc_family = AF_SYSTEM;
  sc.ss_sysaddr = AF_SYS_CONTROL;
  sc.sc_id = info.ctl_id;
  sc.sc_unit = unit;
  if (connect(fd, (struct sockaddr *)&sc, sizeof sc) < 0) {
    *syscall = "connect";
    goto fail;
  }
  char ifname[TUNP_NAME_MAX];
  socklen_t len = sizeof ifname;
  if (getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, ifname, &len) < 0) {
    *syscall = "getsockopt(UTUN_OPT_IFNAME)";
    goto fail;
  }
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    *syscall = "fcntl";
    goto fail;
  }
  memset(name_out, 0, TUNP_NAME_MAX);
  strlcpy(name_out, ifname, TUNP_NAME_MAX);
  *fd_out = fd;
  return 0;
fail:;
  int err = errno;
  close(fd);
  return err;
}

int tun_os_adopt(int fd, char name_out[TUNP_NAME_MAX], int *features, const char **syscall) {
  *features = 0;
  /* A utun control socket answers UTUN_OPT_IFNAME; anything else fails. */
  char ifname[TUNP_NAME_MAX];
  socklen_t len = sizeof ifname;
  memset(ifname, 0, sizeof ifname);
  if (getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, ifname, &len) < 0) {
    *syscall = "getsockopt(UTUN_OPT_IFNAME)";
    return errno;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    *syscall = "fcntl";
    return errno;
  }
  memset(name_out, 0, TUNP_NAME_MAX);
  strlcpy(name_out, ifname, TUNP_NAME_MAX);
  return 0;
}

long tun_os_read(int fd, uint8_t *dst, size_t cap) {
  uint32_t family;
  struct iovec iov[2] = {{&family, 4}, {dst, cap}};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  ssize_t n;
  do n = recvmsg(fd, &msg, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? -(long)EAGAIN : -(long)errno;
  if (msg.msg_flags & MSG_TRUNC) return (long)cap + 1;
  return n < 4 ? 0 : (long)n - 4;
}

int tun_os_writev(int fd, const tunp_iov *iov, int n) {
  struct iovec v[71];
  if (n < 1 || n > 70) return EINVAL;
  uint32_t family = htonl(iov[0].len > 0 && (iov[0].base[0] >> 4) == 6 ? AF_INET6 : AF_INET);
  v[0].iov_base = &family;
  v[0].iov_len = 4;
  for (int i = 0; i < n; i++) {
    v[i + 1].iov_base = (void *)iov[i].base;
    v[i + 1].iov_len = iov[i].len;
  }
  ssize_t r;
  do r = writev(fd, v, n + 1);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}

int tun_os_write(int fd, const uint8_t *src, size_t len) {
  uint32_t family = htonl(len > 0 && (src[0] >> 4) == 6 ? AF_INET6 : AF_INET);
  struct iovec iov[2] = {{&family, 4}, {(void *)src, len}};
  ssize_t n;
  do n = writev(fd, iov, 2);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}
