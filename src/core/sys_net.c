#include "core/sys_net.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/raw.h"

int corio__sys_socket(int family, int type, int protocol) {
  int fd;

  if (corio__fault_hit(CORIO__FAULT_SOCKET))
    return -EMFILE;
  fd = corio__raw_socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  return fd < 0 ? -errno : fd;
}

int corio__sys_bind(int fd, const struct sockaddr *addr, socklen_t len) {
  if (corio__fault_hit(CORIO__FAULT_BIND))
    return -EADDRINUSE;
  return bind(fd, addr, len) == 0 ? 0 : -errno;
}

int corio__sys_listen(int fd, int backlog) {
  if (corio__fault_hit(CORIO__FAULT_LISTEN))
    return -EADDRINUSE;
  return listen(fd, backlog) == 0 ? 0 : -errno;
}

int corio__sys_accept(int fd, struct sockaddr *addr, socklen_t *len) {
  int c;

  if (corio__fault_hit(CORIO__FAULT_ACCEPT))
    return -EMFILE;
  do
    c = corio__raw_accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  return c < 0 ? -errno : c;
}

int corio__sys_connect(int fd, const struct sockaddr *addr, socklen_t len) {
  if (corio__fault_hit(CORIO__FAULT_CONNECT))
    return -ECONNREFUSED;
  /* A non-blocking connect interrupted by a signal goes on in the
   * background, exactly like EINPROGRESS. */
  if (corio__raw_connect(fd, addr, len) == 0)
    return 0;
  return errno == EINTR ? -EINPROGRESS : -errno;
}

ssize_t corio__sys_recv(int fd, void *buf, size_t len) {
  ssize_t n;

  if (corio__fault_hit(CORIO__FAULT_RECV))
    return -ECONNRESET;
  do
    n = corio__raw_read(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

/* A write to a pipe whose reader is gone raises SIGPIPE, and pipes have
 * no MSG_NOSIGNAL. Rather than touch the process's disposition, the
 * signal is blocked in this thread around the write and, if the write
 * raised it, taken back before it is unblocked (unless one was pending
 * already: that one is not ours to take). Also when the caller had it
 * blocked: it would fire when they unblock it. */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt) {
  sigset_t pipe_only, old, pending;
  int was_pending;
  ssize_t n;

  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  sigpending(&pending);
  was_pending = sigismember(&pending, SIGPIPE);
  do
    n = corio__raw_writev(fd, iov, iovcnt);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EPIPE && !was_pending) {
    int saved = errno;
    struct timespec none = {0, 0};

    while (sigtimedwait(&pipe_only, NULL, &none) < 0 && errno == EINTR) {
    }
    errno = saved;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return n < 0 ? -errno : n;
}

ssize_t corio__sys_sendv(int fd, const struct iovec *iov, int iovcnt,
                         int is_socket) {
  struct msghdr msg = {0};
  ssize_t n;

  if (corio__fault_hit(CORIO__FAULT_SEND))
    return -EPIPE;
  if (!is_socket)
    return writev_nosigpipe(fd, iov, iovcnt);
  /* sendmsg does not write to the iovecs; msghdr just lacks const. */
  memcpy(&msg.msg_iov, &iov, sizeof iov);
  msg.msg_iovlen = (size_t)iovcnt;
  do
    n = corio__raw_sendmsg(fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

ssize_t corio__sys_send(int fd, const void *buf, size_t len, int is_socket) {
  ssize_t n;

  if (corio__fault_hit(CORIO__FAULT_SEND))
    return -EPIPE;
  if (!is_socket) {
    struct iovec iov;

    /* The iovec only carries the pointer: nothing writes through it. */
    memcpy(&iov.iov_base, &buf, sizeof buf);
    iov.iov_len = len;
    return writev_nosigpipe(fd, &iov, 1);
  }
  do
    n = corio__raw_sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

ssize_t corio__sys_sendto(int fd, const void *buf, size_t len,
                          const struct sockaddr *addr, socklen_t addrlen) {
  ssize_t n;

  if (corio__fault_hit(CORIO__FAULT_SEND))
    return -EPIPE;
  do
    n = corio__raw_sendto(fd, buf, len, MSG_NOSIGNAL, addr, addr ? addrlen : 0);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int corio__sys_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags) {
  int got;

  if (corio__fault_hit(CORIO__FAULT_RECV))
    return -ECONNRESET;
  do
    got = corio__raw_recvmmsg(fd, msgs, n, flags);
  while (got < 0 && errno == EINTR);
  return got < 0 ? -errno : got;
}

int corio__sys_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n) {
  int sent;

  if (corio__fault_hit(CORIO__FAULT_SEND))
    return -EPIPE;
  do
    sent = corio__raw_sendmmsg(fd, msgs, n, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  return sent < 0 ? -errno : sent;
}

int corio__sys_setsockopt_int(int fd, int level, int name, int value) {
  return corio__raw_setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

int corio__sys_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;

  if (corio__raw_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return -errno;
  return -err;
}

int corio__sys_shutdown(int fd, int how) {
  return shutdown(fd, how) == 0 ? 0 : -errno;
}

int corio__sys_set_nonblock_cloexec(int fd) {
  int fl = corio__raw_fcntl(fd, F_GETFL, 0);

  if (fl < 0)
    return -errno;
  if (!(fl & O_NONBLOCK) && corio__raw_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -errno;
  fl = corio__raw_fcntl(fd, F_GETFD, 0);
  if (fl < 0)
    return -errno;
  if (!(fl & FD_CLOEXEC) && corio__raw_fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

int corio__sys_peer_uid(int fd, uid_t *uid) {
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (corio__raw_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return -errno;
  *uid = cred.uid;
  return 0;
}
