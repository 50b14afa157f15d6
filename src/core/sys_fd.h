/* Wrappers over the fd and signal syscalls the loop makes (eventfd, pipes,
 * reads, writes, sigaction), each a fault-injection point like those in
 * sys.h. They return 0 / a count, or a negative errno. */
#ifndef CORIO_CORE_SYS_FD_H
#define CORIO_CORE_SYS_FD_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

int corio__sys_eventfd(int *out);
int corio__sys_pipe(int fds[2]);
ssize_t corio__sys_read(int fd, void *buf, size_t len);
ssize_t corio__sys_write(int fd, const void *buf, size_t len);
void corio__sys_close(int fd);
int corio__sys_sigaction(int signum, const struct sigaction *act,
                         struct sigaction *old);
/* Whether fd is open and can be polled: 0, -EBADF (not open) or -EPERM
 * (a regular file or a directory, which are always "ready"). */
int corio__sys_fd_pollable(int fd);

#endif
