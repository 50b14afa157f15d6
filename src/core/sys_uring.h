/* The three io_uring syscalls, called directly (no liburing: see
 * docs/loop.md), behind the fault seam like every syscall corio makes.
 * Each returns a value or a negative errno. Linux only; on other systems
 * every call is -ENOSYS. */
#ifndef CORIO_CORE_SYS_URING_H
#define CORIO_CORE_SYS_URING_H

#include <stddef.h>

struct io_uring_params;

/* io_uring_setup: the ring's fd (injected failure: -ENOSYS, as where the
 * kernel lacks io_uring or a seccomp filter hides it). */
int corio__sys_uring_setup(unsigned entries, struct io_uring_params *p);
/* io_uring_enter with an argument of arg_size bytes: the number of SQEs
 * consumed (injected failure: -EAGAIN, the kernel being short of memory
 * for a submission). */
int corio__sys_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
                           unsigned flags, const void *arg, size_t arg_size);
/* io_uring_register (injected failure: -ENOMEM). */
int corio__sys_uring_register(int fd, unsigned opcode, const void *arg,
                              unsigned nr_args);

#endif
