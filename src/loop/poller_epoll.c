/* The epoll backend: level-triggered, one registration per fd. The
 * interest is packed next to the fd in the event's user data, so the
 * backend keeps no per-fd table of its own. */
#include "loop/poller.h"

#ifdef __linux__

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>

#include "core/alloc.h"
#include "core/sys.h"
#include "core/sys_fd.h"

/* Events fetched per wait. More ready fds than this are reported by the
 * next wait: level triggering keeps them ready, and the kernel rotates
 * its ready list, so none starves. */
enum { EPOLL_BATCH = 256 };

struct corio__poller {
  int epfd;
  struct epoll_event buf[EPOLL_BATCH];
};

static int epoll_create_(struct corio__poller **out) {
  struct corio__poller *p = corio__alloc(sizeof *p);
  int fd;

  if (!p)
    return -ENOMEM;
  fd = corio__sys_epoll_create();
  if (fd < 0) {
    corio__free(p, sizeof *p);
    return fd;
  }
  p->epfd = fd;
  *out = p;
  return 0;
}

static void epoll_destroy(struct corio__poller *p) {
  if (!p)
    return;
  corio__sys_close(p->epfd);
  corio__free(p, sizeof *p);
}

static int epoll_ctl_(struct corio__poller *p, int op, int fd,
                      unsigned events) {
  struct epoll_event ev = {0};

  ev.events = ((events & CORIO__POLL_IN) ? EPOLLIN : 0) |
              ((events & CORIO__POLL_OUT) ? EPOLLOUT : 0);
  /* The fd in the low half, the interest in the high half: wait() needs
   * the interest to map HUP and ERR onto what was asked for. */
  ev.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)events << 32;
  return corio__sys_epoll_ctl(p->epfd, op, fd, &ev);
}

static int epoll_set(struct corio__poller *p, int fd, unsigned old,
                     unsigned events) {
  int rc;

  old &= CORIO__POLL_IN | CORIO__POLL_OUT;
  events &= CORIO__POLL_IN | CORIO__POLL_OUT;
  if (fd < 0)
    return -EBADF;
  if (old == events)
    return 0;
  if (!events) {
    rc = epoll_ctl_(p, EPOLL_CTL_DEL, fd, 0);
    /* A closed fd has already left the set: the removal happened. */
    return rc == -EBADF || rc == -ENOENT ? 0 : rc;
  }
  if (!old) {
    rc = epoll_ctl_(p, EPOLL_CTL_ADD, fd, events);
    /* Still registered (the caller lost track of a removal that never
     * happened): change it instead, as libuv does. */
    if (rc == -EEXIST)
      rc = epoll_ctl_(p, EPOLL_CTL_MOD, fd, events);
    return rc;
  }
  rc = epoll_ctl_(p, EPOLL_CTL_MOD, fd, events);
  /* The fd was closed and its number reused: the kernel dropped the old
   * registration, so this one is new. */
  if (rc == -ENOENT)
    rc = epoll_ctl_(p, EPOLL_CTL_ADD, fd, events);
  return rc;
}

/* Rounded up, so the loop never wakes before its next timer is due. */
static int timeout_ms(int64_t ns) {
  int64_t ms;

  if (ns < 0)
    return -1;
  ms = ns / 1000000 + (ns % 1000000 != 0);
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

static unsigned epoll_to_corio(uint32_t got, unsigned asked) {
  unsigned out = 0;

  if (got & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
    out |= CORIO__POLL_IN;
  if (got & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    out |= CORIO__POLL_OUT;
  return out & asked;
}

static int epoll_wait_(struct corio__poller *p, int64_t timeout_ns,
                       corio__poll_event *events, int max) {
  int n, filled = 0;

  if (max <= 0)
    return -EINVAL;
  n = corio__sys_epoll_wait(p->epfd, p->buf,
                            max < EPOLL_BATCH ? max : EPOLL_BATCH,
                            timeout_ms(timeout_ns));
  if (n < 0)
    return n == -EINTR ? 0 : n;
  for (int i = 0; i < n; i++) {
    uint64_t data = p->buf[i].data.u64;
    unsigned got = epoll_to_corio(p->buf[i].events, (unsigned)(data >> 32));

    if (!got)
      continue;
    events[filled].fd = (int)(uint32_t)data;
    events[filled].events = got;
    filled++;
  }
  return filled;
}

const corio__poller_ops corio__poller_epoll = {
    "epoll", epoll_create_, epoll_destroy, epoll_set, epoll_wait_, NULL,
};

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int corio__poller_epoll_unavailable;

#endif
