/* io_uring's syscalls through syscall(2): glibc has no wrappers. */
#include "core/sys_uring.h"

#include <errno.h>

#include "core/fault.h"

#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__linux__) && defined(__NR_io_uring_setup)
int corio__sys_uring_setup(unsigned entries, struct io_uring_params *p) {
  long rc;

  if (corio__fault_hit(CORIO__FAULT_URING_SETUP))
    return -ENOSYS;
  rc = syscall(__NR_io_uring_setup, entries, p);
  return rc >= 0 ? (int)rc : -errno;
}

int corio__sys_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
                           unsigned flags, const void *arg, size_t arg_size) {
  long rc;

  if (corio__fault_hit(CORIO__FAULT_URING_ENTER))
    return -EAGAIN;
  rc = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg,
               arg_size);
  return rc >= 0 ? (int)rc : -errno;
}

int corio__sys_uring_register(int fd, unsigned opcode, const void *arg,
                              unsigned nr_args) {
  long rc;

  if (corio__fault_hit(CORIO__FAULT_URING_REGISTER))
    return -ENOMEM;
  rc = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
  return rc >= 0 ? (int)rc : -errno;
}
#else
int corio__sys_uring_setup(unsigned entries, struct io_uring_params *p) {
  (void)entries, (void)p;
  return -ENOSYS;
}

int corio__sys_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
                           unsigned flags, const void *arg, size_t arg_size) {
  (void)fd, (void)to_submit, (void)min_complete, (void)flags, (void)arg,
      (void)arg_size;
  return -ENOSYS;
}

int corio__sys_uring_register(int fd, unsigned opcode, const void *arg,
                              unsigned nr_args) {
  (void)fd, (void)opcode, (void)arg, (void)nr_args;
  return -ENOSYS;
}
#endif
