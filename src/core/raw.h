/* corio's own calls of the functions the hook layer replaces (read,
 * write, connect, close, fcntl...), made straight to the kernel so that
 * they never pass through the hooks (DESIGN.md §7): with libcorio_hook
 * preloaded or linked, the names `read` etc. are the hooks', for
 * libcorio too. Same contract as the C library's: -1 with errno on
 * failure, so each is a drop-in for the call it replaces. Functions
 * without a syscall of their own (getaddrinfo) are bracketed with
 * corio__hook_bypass_begin/end instead (src/task/hook_support.h). */
#ifndef CORIO_CORE_RAW_H
#define CORIO_CORE_RAW_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static inline ssize_t corio__raw_read(int fd, void *buf, size_t len) {
  return syscall(SYS_read, fd, buf, len);
}

static inline ssize_t corio__raw_write(int fd, const void *buf, size_t len) {
  return syscall(SYS_write, fd, buf, len);
}

static inline ssize_t corio__raw_writev(int fd, const struct iovec *iov,
                                        int iovcnt) {
  return syscall(SYS_writev, fd, iov, iovcnt);
}

static inline int corio__raw_close(int fd) {
  return (int)syscall(SYS_close, fd);
}

static inline int corio__raw_pipe2(int fds[2], int flags) {
  return (int)syscall(SYS_pipe2, fds, flags);
}

static inline int corio__raw_socket(int family, int type, int protocol) {
  return (int)syscall(SYS_socket, family, type, protocol);
}

static inline int corio__raw_accept4(int fd, struct sockaddr *addr,
                                     socklen_t *len, int flags) {
  return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

static inline int corio__raw_connect(int fd, const struct sockaddr *addr,
                                     socklen_t len) {
  return (int)syscall(SYS_connect, fd, addr, len);
}

static inline ssize_t corio__raw_sendto(int fd, const void *buf, size_t len,
                                        int flags, const struct sockaddr *addr,
                                        socklen_t addrlen) {
  return syscall(SYS_sendto, fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t corio__raw_recvfrom(int fd, void *buf, size_t len,
                                          int flags, struct sockaddr *addr,
                                          socklen_t *addrlen) {
  return syscall(SYS_recvfrom, fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t corio__raw_sendmsg(int fd, const struct msghdr *msg,
                                         int flags) {
  return syscall(SYS_sendmsg, fd, msg, flags);
}

static inline int corio__raw_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n,
                                      int flags) {
  return (int)syscall(SYS_recvmmsg, fd, msgs, n, flags, NULL);
}

static inline int corio__raw_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n,
                                      int flags) {
  return (int)syscall(SYS_sendmmsg, fd, msgs, n, flags);
}

static inline int corio__raw_setsockopt(int fd, int level, int name,
                                        const void *value, socklen_t len) {
  return (int)syscall(SYS_setsockopt, fd, level, name, value, len);
}

static inline int corio__raw_getsockopt(int fd, int level, int name,
                                        void *value, socklen_t *len) {
  return (int)syscall(SYS_getsockopt, fd, level, name, value, len);
}

static inline int corio__raw_fcntl(int fd, int cmd, long arg) {
  return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* ppoll with no signal mask (aarch64 has no poll syscall). */
static inline int corio__raw_ppoll(struct pollfd *fds, nfds_t n,
                                   const struct timespec *ts) {
  return (int)syscall(SYS_ppoll, fds, n, ts, NULL, (size_t)(_NSIG / 8));
}

/* dup2 over dup3, which refuses old == new: dup2 then only checks fd. */
static inline int corio__raw_dup2(int old_fd, int new_fd) {
  if (old_fd == new_fd)
    return corio__raw_fcntl(old_fd, F_GETFD, 0) < 0 ? -1 : new_fd;
  return (int)syscall(SYS_dup3, old_fd, new_fd, 0);
}

#endif
