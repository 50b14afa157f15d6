/* Wrappers over the process syscalls the proc layer makes, each a
 * fault-injection point like those in sys.h. They return 0 / an fd, or a
 * negative errno. */
#ifndef CORIO_CORE_SYS_PROC_H
#define CORIO_CORE_SYS_PROC_H

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

/* A pipe for a child's stdio: both ends close-on-exec, the parent's end
 * (fds[parent_end]) non-blocking and the child's blocking, as programs
 * expect; with parent_end -1 both blocking. A fault point
 * (CORIO__FAULT_PIPE). */
int corio__sys_child_pipe(int fds[2], int parent_end);
/* fcntl(fd, F_DUPFD_CLOEXEC, 3): a copy of fd above the stdio range. */
int corio__sys_dup_high(int fd);

/* pidfd_open(pid, 0): a close-on-exec fd that becomes readable when the
 * child exits. -ENOSYS where the kernel lacks it (before 5.3). */
int corio__sys_pidfd_open(pid_t pid);
/* pidfd_send_signal: -ESRCH once the child was reaped. */
int corio__sys_pidfd_send_signal(int pidfd, int sig);
/* waitid(P_PID, pid, WEXITED | (block ? 0 : WNOHANG)): 1 with *status
 * set (asyncio's returncode: the exit status or minus the signal) once the
 * child was reaped, 0 while it runs (only without block). -ECHILD:
 * somebody else reaped it. */
int corio__sys_pid_reap(pid_t pid, int block, int *status);
/* The same through the pidfd (waitid P_PIDFD), so that a pid that another
 * waitpid(-1) reaped and the kernel gave to a new child is never taken
 * for ours; by pid on kernels without P_PIDFD (5.3: EINVAL). */
int corio__sys_pidfd_reap(int pidfd, pid_t pid, int block, int *status);
/* waitid(P_PID, pid, WEXITED | WNOWAIT): blocks until the child exits
 * without reaping it, so its pid stays reserved. */
int corio__sys_pid_wait_exit(pid_t pid);

#endif
