#include "core/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "core/fault.h"
#include "core/raw.h"

static atomic_long mapped_bytes;

int corio__sys_mmap_anon(size_t len, int prot, int flags, void **out) {
  void *p;

  if (corio__fault_hit(CORIO__FAULT_MMAP))
    return -ENOMEM;
  p = mmap(NULL, len, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return -errno;
  atomic_fetch_add(&mapped_bytes, (long)len);
  *out = p;
  return 0;
}

int corio__sys_munmap(void *addr, size_t len) {
  /* An injected munmap failure still unmaps: the caller can only report
   * it, and a test must not leak real memory to prove that. */
  int injected = corio__fault_hit(CORIO__FAULT_MUNMAP);

  if (munmap(addr, len) != 0)
    return -errno;
  atomic_fetch_sub(&mapped_bytes, (long)len);
  return injected ? -EINVAL : 0;
}

int corio__sys_mprotect(void *addr, size_t len, int prot) {
  if (corio__fault_hit(CORIO__FAULT_MPROTECT))
    return -ENOMEM;
  return mprotect(addr, len, prot) == 0 ? 0 : -errno;
}

int corio__sys_madvise(void *addr, size_t len, int advice) {
  if (corio__fault_hit(CORIO__FAULT_MADVISE))
    return -EAGAIN;
  return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

long corio__sys_mapped_bytes(void) { return atomic_load(&mapped_bytes); }

/* Asked on every stack handed out: cached after the first call. Racing
 * first calls store the same value. */
size_t corio__page_size(void) {
  static atomic_size_t cached;
  size_t page = atomic_load_explicit(&cached, memory_order_relaxed);

  if (!page) {
    page = (size_t)sysconf(_SC_PAGESIZE);
    atomic_store_explicit(&cached, page, memory_order_relaxed);
  }
  return page;
}

#ifdef __linux__
int corio__sys_epoll_create(void) {
  int fd;

  if (corio__fault_hit(CORIO__FAULT_EPOLL_CREATE))
    return -EMFILE;
  fd = epoll_create1(EPOLL_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

int corio__sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  if (corio__fault_hit(CORIO__FAULT_EPOLL_CTL))
    return -ENOMEM;
  return epoll_ctl(epfd, op, fd, ev) == 0 ? 0 : -errno;
}

int corio__sys_epoll_wait(int epfd, struct epoll_event *events, int max,
                          int timeout_ms) {
  int n;

  if (corio__fault_hit(CORIO__FAULT_EPOLL_WAIT))
    return -EINTR;
  n = epoll_wait(epfd, events, max, timeout_ms);
  return n >= 0 ? n : -errno;
}
#endif

int corio__sys_poll(struct pollfd *fds, size_t nfds, int64_t timeout_ns) {
  int n;

  if (corio__fault_hit(CORIO__FAULT_POLL))
    return -ENOMEM;
#ifdef __linux__
  if (timeout_ns >= 0) {
    struct timespec ts;

    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    n = corio__raw_ppoll(fds, (nfds_t)nfds, &ts);
  } else {
    n = corio__raw_ppoll(fds, (nfds_t)nfds, NULL);
  }
#else
  {
    /* Rounded up, so a caller never wakes before its deadline. */
    int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 > 0);

    n = poll(fds, (nfds_t)nfds,
             timeout_ns < 0 ? -1
             : ms > INT_MAX ? INT_MAX
                            : (int)ms);
  }
#endif
  return n >= 0 ? n : -errno;
}

int corio__sys_fcntl_getfd(int fd) {
  int flags;

  if (corio__fault_hit(CORIO__FAULT_FCNTL))
    return -EBADF;
  flags = corio__raw_fcntl(fd, F_GETFD, 0);
  return flags >= 0 ? flags : -errno;
}
