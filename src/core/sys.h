/* Thin wrappers over the syscalls corio makes, so tests can fail the Nth
 * call of any of them. They return 0 / a value, or a negative errno;
 * errno is never the error channel. */
#ifndef CORIO_CORE_SYS_H
#define CORIO_CORE_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Anonymous private mapping; *out gets the address. */
int corio__sys_mmap_anon(size_t len, int prot, int flags, void **out);
int corio__sys_munmap(void *addr, size_t len);
int corio__sys_mprotect(void *addr, size_t len, int prot);
int corio__sys_madvise(void *addr, size_t len, int advice);

/* Bytes mapped through corio__sys_mmap_anon and not yet unmapped. */
long corio__sys_mapped_bytes(void);

size_t corio__page_size(void);

/* Readiness syscalls behind the pollers. The structures are only declared
 * here so that this header stays free of OS-specific includes. */
struct epoll_event;
struct pollfd;

/* epoll_create1(EPOLL_CLOEXEC): the new fd, or a negative errno (an
 * injected failure is -EMFILE). Linux only. */
int corio__sys_epoll_create(void);
/* epoll_ctl: 0 or a negative errno (injected: -ENOMEM). Linux only. */
int corio__sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
/* epoll_wait: the number of events or a negative errno. An injected
 * failure is -EINTR, the only error a correct caller ever sees. */
int corio__sys_epoll_wait(int epfd, struct epoll_event *events, int max,
                          int timeout_ms);
/* poll(2) with a timeout in ns (-1: no limit), exact where ppoll exists,
 * else rounded up to ms. The number of ready fds or a negative errno
 * (injected: -ENOMEM). */
int corio__sys_poll(struct pollfd *fds, size_t nfds, int64_t timeout_ns);
/* fcntl(fd, F_GETFD): the fd flags, or -EBADF for a closed fd (also what
 * an injected failure returns). */
int corio__sys_fcntl_getfd(int fd);

#endif
