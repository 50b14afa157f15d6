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

/* An endpoint connected to the address in ss (any local port). */
static inline int udp_connect_to(const struct sockaddr_storage *ss,
                                 socklen_t len, corio_datagram **d) {
  return corio_datagram_open_addr(NULL, NULL, 0, (const struct sockaddr *)ss,
                                  len, NULL, d);
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

/* A Unix datagram socketpair whose first socket has a small send buffer,
 * so that the kernel refuses (EAGAIN) while the other end has not read
 * and corio's own send queue fills. */
static inline int small_pair(int sv[2]) {
  int size = 4096;

  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -errno;
  if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0)
    return 0;
  size = -errno;
  close(sv[0]);
  close(sv[1]);
  return size;
}

/* The echo servers' answer: ASCII lower case upper-cased in place. */
static inline void upper_case(char *buf, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (buf[i] >= 'a' && buf[i] <= 'z')
      buf[i] = (char)(buf[i] - 'a' + 'A');
}

/* Runs body as a loop's main task and checks that every check passed and
 * that no fd, allocation or pooled object was left behind. */
static inline void udp_run(corio_task_fn body, void *arg) {
  int before = open_fds();
  corio_test_usage usage;

  reset_checks(NULL);
  corio_test_release_pools();
  usage = corio_test_usage_now();
  assert_int_equal(corio_run(body, arg, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
  corio_test_assert_no_leak(usage);
}

#endif
