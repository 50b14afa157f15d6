/* The poll(2) backend: a dense array of pollfd handed to the kernel as is,
 * and an fd -> slot map so that set() is O(1) (removal moves the last slot
 * into the hole). Portable, and the fallback where epoll is missing. */
#include "loop/poller.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/sys.h"

struct corio__poller {
  struct pollfd *fds; /* fds[0 .. nfds) are watched, each fd once */
  size_t nfds;
  size_t fds_cap;
  int *slot; /* slot[fd]: index into fds, or -1; for fd < slot_cap */
  size_t slot_cap;
  size_t start; /* where the next wait starts scanning, for fairness */
};

static int poll_create(struct corio__poller **out) {
  struct corio__poller *p = corio__calloc(sizeof *p);

  if (!p)
    return -ENOMEM;
  *out = p;
  return 0;
}

static void poll_destroy(struct corio__poller *p) {
  if (!p)
    return;
  corio__free(p->fds, p->fds_cap * sizeof *p->fds);
  corio__free(p->slot, p->slot_cap * sizeof *p->slot);
  corio__free(p, sizeof *p);
}

static short to_poll(unsigned events) {
  return (short)(((events & CORIO__POLL_IN) ? POLLIN : 0) |
                 ((events & CORIO__POLL_OUT) ? POLLOUT : 0));
}

static void remove_slot(struct corio__poller *p, int fd) {
  int i = p->slot[fd];
  struct pollfd last = p->fds[--p->nfds];

  if ((size_t)i != p->nfds) {
    p->fds[i] = last;
    p->slot[last.fd] = i;
  }
  p->slot[fd] = -1;
}

/* Makes room for fd in the map and for one more slot. Either array may
 * have grown when the other fails; both stay consistent. */
static int reserve(struct corio__poller *p, int fd) {
  size_t old_cap = p->slot_cap;
  int rc;

  if ((size_t)fd >= p->slot_cap) {
    rc = corio__grow_array((void **)&p->slot, &p->slot_cap, sizeof *p->slot,
                           (size_t)fd + 1, 16);
    if (rc < 0)
      return rc;
    for (size_t i = old_cap; i < p->slot_cap; i++)
      p->slot[i] = -1;
  }
  if (p->nfds == p->fds_cap)
    return corio__grow_array((void **)&p->fds, &p->fds_cap, sizeof *p->fds,
                             p->nfds + 1, 16);
  return 0;
}

static int poll_set(struct corio__poller *p, int fd, unsigned old,
                    unsigned events) {
  int i, rc;

  /* The map is the truth; `old` only saves epoll a lookup. */
  (void)old;
  events &= CORIO__POLL_IN | CORIO__POLL_OUT;
  if (fd < 0)
    return -EBADF;
  i = (size_t)fd < p->slot_cap ? p->slot[fd] : -1;
  if (!events) {
    if (i >= 0)
      remove_slot(p, fd);
    return 0;
  }
  if (i >= 0) {
    p->fds[i].events = to_poll(events);
    return 0;
  }
  /* poll() would only say POLLNVAL later; refuse a closed fd now, as
   * epoll does. */
  rc = corio__sys_fcntl_getfd(fd);
  if (rc < 0)
    return rc;
  rc = reserve(p, fd);
  if (rc < 0)
    return rc;
  p->fds[p->nfds].fd = fd;
  p->fds[p->nfds].events = to_poll(events);
  p->fds[p->nfds].revents = 0;
  p->slot[fd] = (int)p->nfds++;
  return 0;
}

static unsigned poll_to_corio(short got, short asked) {
  unsigned out = 0;

  /* POLLNVAL: the fd was closed behind our back. Report it as ready so
   * the owner's read or write fails with EBADF and it lets go. */
  if (got & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
    out |= CORIO__POLL_IN;
  if (got & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))
    out |= CORIO__POLL_OUT;
  return out & ((asked & POLLIN ? CORIO__POLL_IN : 0u) |
                (asked & POLLOUT ? CORIO__POLL_OUT : 0u));
}

static int poll_wait(struct corio__poller *p, int64_t timeout_ns,
                     corio__poll_event *events, int max) {
  int n, filled = 0;
  size_t i, seen, start;

  if (max <= 0)
    return -EINVAL;
  n = corio__sys_poll(p->fds, p->nfds, timeout_ns);
  if (n < 0)
    return n == -EINTR ? 0 : n;
  if (n == 0 || p->nfds == 0)
    return 0;
  /* Start where the last full batch stopped, so that with more ready fds
   * than `max` the ones at the end of the array get their turn too. */
  start = p->start < p->nfds ? p->start : 0;
  for (seen = 0, i = start; seen < p->nfds && filled < max && n > 0;
       seen++, i = i + 1 == p->nfds ? 0 : i + 1) {
    unsigned got;

    if (!p->fds[i].revents)
      continue;
    n--;
    got = poll_to_corio(p->fds[i].revents, p->fds[i].events);
    if (!got)
      continue;
    events[filled].fd = p->fds[i].fd;
    events[filled].events = got;
    filled++;
  }
  p->start = i;
  return filled;
}

const corio__poller_ops corio__poller_poll = {
    "poll", poll_create, poll_destroy, poll_set, poll_wait, NULL,
};
