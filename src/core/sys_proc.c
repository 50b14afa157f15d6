#include "core/sys_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/fault.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#if CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#include "core/raw.h"
#endif

int corio__sys_child_pipe(int fds[2], int parent_end) {
  int flags;

  if (corio__fault_hit(CORIO__FAULT_PIPE))
    return -EMFILE;
  if (corio__raw_pipe2(fds, O_CLOEXEC) < 0)
    return -errno;
  if (parent_end < 0)
    return 0;
  flags = corio__raw_fcntl(fds[parent_end], F_GETFL, 0);
  if (flags < 0 || corio__raw_fcntl(fds[parent_end], F_SETFL, flags | O_NONBLOCK) < 0) {
    int rc = -errno;

    (void)corio__raw_close(fds[0]);
    (void)corio__raw_close(fds[1]);
    return rc;
  }
  return 0;
}

int corio__sys_dup_high(int fd) {
  int copy;

  if (corio__fault_hit(CORIO__FAULT_FCNTL))
    return -EMFILE;
  copy = corio__raw_fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return copy < 0 ? -errno : copy;
}

int corio__sys_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd;

  if (corio__fault_hit(CORIO__FAULT_PIDFD))
    return -ENOSYS;
#if CORIO_HAVE_VALGRIND
  /* Valgrind 3.19 does not know the syscall: it fails it with ENOSYS
   * after a warning on stderr for every call. */
  if (RUNNING_ON_VALGRIND)
    return -ENOSYS;
#endif
  fd = syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -errno : (int)fd;
#else
  (void)pid;
  return -ENOSYS;
#endif
}

int corio__sys_pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0 ? 0 : -errno;
#else
  (void)pidfd;
  (void)sig;
  return -ENOSYS;
#endif
}

/* asyncio's returncode from what waitid reported. */
static int returncode(const siginfo_t *info) {
  return info->si_code == CLD_EXITED ? info->si_status : -info->si_status;
}

int corio__sys_pid_reap(pid_t pid, int block, int *status) {
  siginfo_t info;

  info.si_pid = 0;
  while (waitid(P_PID, (id_t)pid, &info, WEXITED | (block ? 0 : WNOHANG)) < 0)
    if (errno != EINTR)
      return -errno;
  if (info.si_pid == 0)
    return 0;
  *status = returncode(&info);
  return 1;
}

int corio__sys_pidfd_reap(int pidfd, pid_t pid, int block, int *status) {
  static atomic_int no_p_pidfd; /* the kernel refused P_PIDFD once */
  siginfo_t info;

  if (atomic_load_explicit(&no_p_pidfd, memory_order_relaxed))
    return corio__sys_pid_reap(pid, block, status);
  info.si_pid = 0;
  while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | (block ? 0 : WNOHANG)) <
         0) {
    if (errno == EINVAL) {
      atomic_store_explicit(&no_p_pidfd, 1, memory_order_relaxed);
      return corio__sys_pid_reap(pid, block, status);
    }
    if (errno != EINTR)
      return -errno;
  }
  if (info.si_pid == 0)
    return 0;
  *status = returncode(&info);
  return 1;
}

int corio__sys_pid_wait_exit(pid_t pid) {
  siginfo_t info;

  while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0)
    if (errno != EINTR)
      return -errno;
  return 0;
}
