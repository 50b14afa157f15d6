#include "core/sys_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/raw.h"

int corio__sys_eventfd(int *out) {
  int fd;

  if (corio__fault_hit(CORIO__FAULT_EVENTFD))
    return -EMFILE;
  fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0)
    return -errno;
  *out = fd;
  return 0;
}

int corio__sys_pipe(int fds[2]) {
  if (corio__fault_hit(CORIO__FAULT_PIPE))
    return -EMFILE;
  return corio__raw_pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno;
}

ssize_t corio__sys_read(int fd, void *buf, size_t len) {
  ssize_t n;

  do
    n = corio__raw_read(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

ssize_t corio__sys_write(int fd, const void *buf, size_t len) {
  ssize_t n;

  do
    n = corio__raw_write(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

void corio__sys_close(int fd) {
  /* Linux releases the fd even when close reports EINTR: never retry. */
  if (fd >= 0)
    (void)corio__raw_close(fd);
}

int corio__sys_sigaction(int signum, const struct sigaction *act,
                         struct sigaction *old) {
  if (corio__fault_hit(CORIO__FAULT_SIGACTION))
    return -EINVAL;
  return sigaction(signum, act, old) == 0 ? 0 : -errno;
}

int corio__sys_fd_pollable(int fd) {
  struct stat st;

  if (corio__fault_hit(CORIO__FAULT_FSTAT))
    return -EBADF;
  if (fstat(fd, &st) != 0)
    return -errno;
  return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ? -EPERM : 0;
}
