/* The I/O readiness backends behind one interface: epoll (default on
 * Linux) and poll(2) (portable). io_uring would be a third ops table. */
#ifndef CORIO_LOOP_POLLER_H
#define CORIO_LOOP_POLLER_H

#include <stdint.h>

enum {
  CORIO__POLL_IN = 1,  /* readable, or hung up / error: a read will tell */
  CORIO__POLL_OUT = 2, /* writable, or error: a write will tell */
};

typedef struct corio__poll_event {
  int fd;
  unsigned events; /* CORIO__POLL_IN | CORIO__POLL_OUT */
} corio__poll_event;

struct corio__poller;

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
} corio__poller_ops;

extern const corio__poller_ops corio__poller_epoll;
extern const corio__poller_ops corio__poller_poll;

#endif
