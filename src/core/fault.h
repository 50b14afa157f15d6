/* Fault injection: tests make the Nth allocation, or the Nth call of one
 * syscall, fail, and check that the error comes back cleanly. Armed only
 * by tests; when disarmed the cost is one predictable branch. */
#ifndef CORIO_CORE_FAULT_H
#define CORIO_CORE_FAULT_H

#include <stdatomic.h>

#include "corio/export.h"

enum corio__fault_point {
  CORIO__FAULT_ALLOC,
  CORIO__FAULT_MMAP,
  CORIO__FAULT_MUNMAP,
  CORIO__FAULT_MPROTECT,
  CORIO__FAULT_MADVISE,
  CORIO__FAULT_EPOLL_CREATE,
  CORIO__FAULT_EPOLL_CTL,
  CORIO__FAULT_EPOLL_WAIT,
  CORIO__FAULT_POLL,
  CORIO__FAULT_FCNTL,
  CORIO__FAULT_EVENTFD,
  CORIO__FAULT_PIPE,
  CORIO__FAULT_SIGACTION,
  CORIO__FAULT_FSTAT,
  CORIO__FAULT_THREAD_CREATE,
  CORIO__FAULT_SOCKET, /* socket, and the option calls right after it */
  CORIO__FAULT_BIND,
  CORIO__FAULT_LISTEN,
  CORIO__FAULT_ACCEPT,
  CORIO__FAULT_CONNECT,
  CORIO__FAULT_RECV,
  CORIO__FAULT_SEND,
  CORIO__FAULT_SPAWN, /* posix_spawn and vfork */
  CORIO__FAULT_PIDFD, /* pidfd_open: -ENOSYS, as on kernels before 5.3 */
  CORIO__FAULT_TLS,   /* OpenSSL object creation (SSL_new, BIO_new...) */
  CORIO__FAULT_ARES,  /* c-ares channel creation (ares_init_options) */
  CORIO__FAULT_URING_SETUP,
  CORIO__FAULT_URING_ENTER,
  CORIO__FAULT_URING_REGISTER,
  CORIO__FAULT_COUNT
};

/* Makes the nth call (1-based) at `point` fail, counting from now; n = 0
 * disarms. Each point has its own counter. */
void corio__fault_arm(enum corio__fault_point point, long n);
void corio__fault_disarm_all(void);
/* Calls seen at `point` since it was armed. */
long corio__fault_calls(enum corio__fault_point point);
/* Whether an injected failure fired since the point was armed. */
int corio__fault_fired(enum corio__fault_point point);

/* Exported from libcorio.so for libcorio_hook.so, whose hooked calls go
 * through the same seam (not API: two underscores). */
CORIO_API extern atomic_int corio__fault_armed;
CORIO_API int corio__fault_hit_slow(enum corio__fault_point point);

/* True when this call must fail. */
static inline int corio__fault_hit(enum corio__fault_point point) {
  if (__builtin_expect(
          atomic_load_explicit(&corio__fault_armed, memory_order_relaxed), 0))
    return corio__fault_hit_slow(point);
  return 0;
}

#endif
