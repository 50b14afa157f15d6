/* Helpers of the UDP tests: endpoints on loopback, a plain blocking
 * datagram socket as an exactly controlled peer, and getsockopt. */
#ifndef CORIO_TEST_UDP_H
#define CORIO_TEST_UDP_H

#include "corio/udp.h"
#include "net_robust.h"

/* An unconnected endpoint bound to loopback of family, port 0. */
static inline int udp_bound(int family, const corio_datagram_options *o,
                            corio_datagram **d) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(family, 0, &ss);

  return corio_datagram_open_addr(NULL, (struct sockaddr *)&ss, len, NULL, 0, o,
                                  d);
}

/* The address an endpoint is bound to. */
static inline socklen_t udp_name(corio_datagram *d,
                                 struct sockaddr_storage *ss) {
  socklen_t len = sizeof *ss;

  if (corio_datagram_sockname(d, (struct sockaddr *)ss, &len) < 0)
    return 0;
  return len;
}

/* A plain blocking UDP socket bound to loopback (the test's own peer). */
static inline int plain_udp(int family) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(family, 0, &ss);
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline int plain_sendto(int fd, const char *text,
                               const struct sockaddr_storage *to,
                               socklen_t len) {
  return sendto(fd, text, strlen(text), 0, (const struct sockaddr *)to, len) ==
                 (ssize_t)strlen(text)
             ? 0
             : -errno;
}

#endif
