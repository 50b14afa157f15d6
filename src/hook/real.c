/* The C library's own function behind each hook, found with
 * dlsym(RTLD_NEXT): the next definition after the hooks, whether they are
 * in a preloaded libcorio_hook.so or linked into the program. A static
 * program has no dynamic symbols to search: then each call goes to its
 * syscall (and the resolver hooks fail with EAI_SYSTEM / ENOSYS). */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>

#include "core/raw.h"
#include "hook/hook_internal.h"

corio__hook_real corio__real;
atomic_int corio__real_ready;

/* ---- syscall fallbacks, with the C library's signatures -------------------
 */

static ssize_t sys_read(int fd, void *buf, size_t n) {
  return corio__raw_read(fd, buf, n);
}
static ssize_t sys_write(int fd, const void *buf, size_t n) {
  return corio__raw_write(fd, buf, n);
}
static ssize_t sys_readv(int fd, const struct iovec *iov, int n) {
  return syscall(SYS_readv, fd, iov, n);
}
static ssize_t sys_writev(int fd, const struct iovec *iov, int n) {
  return corio__raw_writev(fd, iov, n);
}
static ssize_t sys_pread(int fd, void *buf, size_t n, off_t off) {
  return syscall(SYS_pread64, fd, buf, n, off);
}
static ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off) {
  return syscall(SYS_pwrite64, fd, buf, n, off);
}
static ssize_t sys_recv(int fd, void *buf, size_t n, int flags) {
  return corio__raw_recvfrom(fd, buf, n, flags, NULL, NULL);
}
static ssize_t sys_send(int fd, const void *buf, size_t n, int flags) {
  return corio__raw_sendto(fd, buf, n, flags, NULL, 0);
}
static ssize_t sys_recvmsg(int fd, struct msghdr *msg, int flags) {
  return syscall(SYS_recvmsg, fd, msg, flags);
}
static int sys_accept(int fd, struct sockaddr *addr, socklen_t *len) {
  return corio__raw_accept4(fd, addr, len, 0);
}
static int sys_poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};

  return corio__raw_ppoll(fds, n, timeout_ms < 0 ? NULL : &ts);
}
static int sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                     const sigset_t *mask) {
  return (int)syscall(SYS_ppoll, fds, n, ts, mask, (size_t)(_NSIG / 8));
}
static int sys_pselect(int n, fd_set *r, fd_set *w, fd_set *x,
                       const struct timespec *ts, const sigset_t *mask) {
  struct {
    const sigset_t *mask;
    size_t size;
  } sig = {mask, _NSIG / 8};

  return (int)syscall(SYS_pselect6, n, r, w, x, ts, mask ? &sig : NULL);
}
static int sys_select(int n, fd_set *r, fd_set *w, fd_set *x,
                      struct timeval *tv) {
  struct timespec ts;

  if (tv) {
    ts.tv_sec = tv->tv_sec;
    ts.tv_nsec = tv->tv_usec * 1000;
  }
  return sys_pselect(n, r, w, x, tv ? &ts : NULL, NULL);
}
static int sys_close_range(unsigned first, unsigned last, int flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}
static int sys_fclose(FILE *f) {
  (void)f;
  errno = ENOSYS; /* a static program without its C library's fclose */
  return EOF;
}
static int sys_dup(int fd) { return (int)syscall(SYS_dup, fd); }
static int sys_dup3(int old_fd, int new_fd, int flags) {
  return (int)syscall(SYS_dup3, old_fd, new_fd, flags);
}
static int sys_fcntl(int fd, int cmd, ...) {
  va_list ap;
  long arg;

  va_start(ap, cmd);
  arg = va_arg(ap, long);
  va_end(ap);
  return corio__raw_fcntl(fd, cmd, arg);
}
static int sys_ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  void *arg;

  va_start(ap, req);
  arg = va_arg(ap, void *);
  va_end(ap);
  return (int)syscall(SYS_ioctl, fd, req, arg);
}
static int sys_socketpair(int family, int type, int protocol, int fds[2]) {
  return (int)syscall(SYS_socketpair, family, type, protocol, fds);
}
static int sys_pipe(int fds[2]) { return corio__raw_pipe2(fds, 0); }
static int sys_nanosleep(const struct timespec *req, struct timespec *rem) {
  return (int)syscall(SYS_nanosleep, req, rem);
}
static int sys_clock_nanosleep(clockid_t clock, int flags,
                               const struct timespec *req,
                               struct timespec *rem) {
  /* clock_nanosleep returns the error instead of setting errno. */
  return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
}
static unsigned sys_sleep(unsigned seconds) {
  struct timespec ts = {(time_t)seconds, 0}, rem = {0, 0};

  if (sys_nanosleep(&ts, &rem) < 0)
    return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
  return 0;
}
static int sys_usleep(useconds_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

  return sys_nanosleep(&ts, NULL);
}
static int sys_getaddrinfo(const char *host, const char *service,
                           const struct addrinfo *hints,
                           struct addrinfo **res) {
  (void)host, (void)service, (void)hints, (void)res;
  errno = ENOSYS;
  return EAI_SYSTEM;
}
static int sys_getnameinfo(const struct sockaddr *addr, socklen_t len,
                           char *host, socklen_t host_len, char *service,
                           socklen_t service_len, int flags) {
  (void)addr, (void)len, (void)host, (void)host_len, (void)service,
      (void)service_len, (void)flags;
  errno = ENOSYS;
  return EAI_SYSTEM;
}
static struct hostent *sys_gethostbyname(const char *name) {
  (void)name;
  h_errno = NO_RECOVERY;
  return NULL;
}
static int sys_gethostbyname_r(const char *name, struct hostent *ret, char *buf,
                               size_t len, struct hostent **out, int *err) {
  (void)name, (void)ret, (void)buf, (void)len;
  *out = NULL;
  *err = NO_RECOVERY;
  return ENOSYS;
}
static pid_t sys_fork(void) { return (pid_t)syscall(SYS_clone, SIGCHLD, 0); }

/* ---- lookup -----------------------------------------------------------------
 */

#define FIND(name, fallback)                                                   \
  do {                                                                         \
    void *sym = dlsym(RTLD_NEXT, #name);                                       \
    corio__real.name = sym ? (__typeof__(corio__real.name))sym : (fallback);   \
  } while (0)

void corio__hook_real_init(void) {
  if (atomic_load_explicit(&corio__real_ready, memory_order_acquire))
    return;
  /* Racing threads store the same pointers: harmless. */
  FIND(read, sys_read);
  FIND(write, sys_write);
  FIND(readv, sys_readv);
  FIND(writev, sys_writev);
  FIND(pread, sys_pread);
  FIND(pwrite, sys_pwrite);
  FIND(recv, sys_recv);
  FIND(send, sys_send);
  FIND(recvfrom, corio__raw_recvfrom);
  FIND(sendto, corio__raw_sendto);
  FIND(recvmsg, sys_recvmsg);
  FIND(sendmsg, corio__raw_sendmsg);
  FIND(connect, corio__raw_connect);
  FIND(accept, sys_accept);
  FIND(accept4, corio__raw_accept4);
  FIND(poll, sys_poll);
  FIND(ppoll, sys_ppoll);
  FIND(select, sys_select);
  FIND(pselect, sys_pselect);
  FIND(close, corio__raw_close);
  FIND(close_range, sys_close_range);
  FIND(fclose, sys_fclose);
  FIND(dup, sys_dup);
  FIND(dup2, corio__raw_dup2);
  FIND(dup3, sys_dup3);
  FIND(fcntl, sys_fcntl);
  FIND(ioctl, sys_ioctl);
  FIND(setsockopt, corio__raw_setsockopt);
  FIND(getsockopt, corio__raw_getsockopt);
  FIND(socket, corio__raw_socket);
  FIND(socketpair, sys_socketpair);
  FIND(pipe, sys_pipe);
  FIND(pipe2, corio__raw_pipe2);
  FIND(sleep, sys_sleep);
  FIND(usleep, sys_usleep);
  FIND(nanosleep, sys_nanosleep);
  FIND(clock_nanosleep, sys_clock_nanosleep);
  FIND(getaddrinfo, sys_getaddrinfo);
  FIND(getnameinfo, sys_getnameinfo);
  FIND(gethostbyname, sys_gethostbyname);
  FIND(gethostbyname_r, sys_gethostbyname_r);
  FIND(fork, sys_fork);
  atomic_store_explicit(&corio__real_ready, 1, memory_order_release);
}
