/* The I/O backends behind one interface: epoll (default on Linux),
 * poll(2) (portable) and io_uring (readiness through poll requests, plus
 * the completions of ops the net layer submits: loop/uring.h). */
#ifndef CORIO_LOOP_POLLER_H
#define CORIO_LOOP_POLLER_H

#include <stdint.h>

enum {
  CORIO__POLL_IN = 1,   /* readable, or hung up / error: a read will tell */
  CORIO__POLL_OUT = 2,  /* writable, or error: a write will tell */
  CORIO__POLL_DONE = 4, /* io_uring only: a CQE of op (fd is -1) */
};

typedef struct corio__poll_event {
  int fd;
  unsigned events; /* CORIO__POLL_IN | CORIO__POLL_OUT, or _DONE */
  int res;         /* _DONE: the CQE's result and flags */
  unsigned flags;
  void *op; /* _DONE: the corio__uring_op */
} corio__poll_event;

struct corio__poller;

/* Contract details both backends keep:
 * - An fd must be removed (set x -> 0) before it is closed: epoll forgets a
 *   closed fd only if no duplicate of it is open, poll reports it POLLNVAL.
 * - `old` should be the interest last set; both backends recover from a
 *   wrong one (epoll retries ADD as MOD and the reverse; poll keeps its
 *   own table), but the loop passes the right one.
 * - Regular files: epoll refuses them (-EPERM), poll calls them always
 *   ready; the loop refuses them before they get here.
 * - wait reports each fd at most once, may report fewer than are ready
 *   (epoll at most 256 a call), returns -EINVAL for max <= 0, treats any
 *   negative timeout as no limit, and never wakes early (epoll rounds up
 *   to whole milliseconds). Events are copied out, so set may be called
 *   while handling them.
 * - A poller must not be used on both sides of a fork.
 * - io_uring learns of a closed fd only when its poll request is
 *   submitted (set returns 0): the request fails and the watch ends
 *   silently. The loop checks new fds itself (corio__sys_fd_pollable), so
 *   only replacing a watcher on an fd closed since is affected. */
typedef struct corio__poller_ops {
  const char *name;
  /* 0 or a negative errno. */
  int (*create)(struct corio__poller **out);
  void (*destroy)(struct corio__poller *poller);
  /* Changes the interest for fd from `old` to `events` (either may be 0:
   * 0 -> x adds, x -> 0 removes). Returns 0 or a negative errno: -EBADF
   * for a closed fd, -EPERM for one the backend cannot watch. */
  int (*set)(struct corio__poller *poller, int fd, unsigned old,
             unsigned events);
  /* Waits up to timeout_ns (-1: no limit, 0: do not block) and fills up to
   * max events. Returns their number (0 on timeout or EINTR) or a negative
   * errno. */
  int (*wait)(struct corio__poller *poller, int64_t timeout_ns,
              corio__poll_event *events, int max);
  /* NULL, or called on the running thread when a run of the loop ends:
   * lets go of what that thread holds for the poller. */
  void (*run_ended)(struct corio__poller *poller);
} corio__poller_ops;

extern const corio__poller_ops corio__poller_epoll;
extern const corio__poller_ops corio__poller_poll;
/* Its create fails (-ENOSYS) where corio was built without io_uring. */
extern const corio__poller_ops corio__poller_uring;
struct corio__uring *corio__poller_uring_ring(struct corio__poller *poller);

#endif
