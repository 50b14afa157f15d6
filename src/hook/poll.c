/* poll, ppoll, select, pselect. A timeout of zero passes through; else
 * the real call with a zero timeout first, and only if nothing is ready
 * the task waits on every fd at once (duplicates and epoll fds too: they
 * are watched like any other) until one is ready, the timeout passes or
 * the task is cancelled; then the real call again fills in revents. A
 * signal mask given to ppoll/pselect applies to those real calls only. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "hook/hook_internal.h"

/* Waiters on the task's stack up to this many fds; more come from malloc
 * (which is never hooked). */
#define POLL_STACK_FDS 16

static unsigned events_of(short events) {
  unsigned e = 0;

  if (events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP))
    e |= HOOK_IN;
  if (events & (POLLOUT | POLLWRNORM | POLLWRBAND))
    e |= HOOK_OUT;
  /* Errors and hang-ups are reported whatever was asked: they wake a
   * reader's watch too. */
  return e ? e : HOOK_IN;
}

static int poll_now(struct pollfd *fds, nfds_t n, const sigset_t *mask) {
  static const struct timespec zero = {0, 0};

  return mask ? REAL(ppoll)(fds, n, &zero, mask) : REAL(poll)(fds, n, 0);
}

static int hooked_poll(corio_task *t, struct pollfd *fds, nfds_t n,
                       int64_t deadline, const sigset_t *mask) {
  hook_waiter stack_waiters[POLL_STACK_FDS], *w = stack_waiters;
  int ready, rc;

  if (n > POLL_STACK_FDS) {
    if (n > SIZE_MAX / sizeof *w || !(w = malloc(n * sizeof *w))) {
      errno = ENOMEM;
      return -1;
    }
  }
  for (;;) {
    ready = poll_now(fds, n, mask);
    if (ready != 0)
      break;
    memset(w, 0, n * sizeof *w);
    for (nfds_t i = 0; i < n; i++) {
      w[i].fd = fds[i].fd;
      w[i].events = events_of(fds[i].events);
      w[i].entry = fds[i].fd >= 0 ? corio__hook_fd(fds[i].fd) : NULL;
    }
    rc = corio__hook_wait_many(t, w, n, deadline);
    if (rc == -EAGAIN || rc == -EBADF) {
      /* Timed out, or an fd was closed: the real call says which. */
      ready = poll_now(fds, n, mask);
      break;
    }
    if (rc < 0) {
      ready = corio__hook_fail(t, rc);
      break;
    }
  }
  if (w != stack_waiters)
    free(w);
  return ready;
}

static int64_t ms_deadline(corio_task *t, int timeout_ms) {
  return timeout_ms < 0
             ? HOOK_NO_DEADLINE
             : corio__hook_deadline(t, (int64_t)timeout_ms * 1000000);
}

static int64_t ts_deadline(corio_task *t, const struct timespec *ts) {
  if (!ts)
    return HOOK_NO_DEADLINE;
  if (ts->tv_sec > INT64_MAX / 1000000000 - 1)
    return HOOK_NO_DEADLINE;
  return corio__hook_deadline(t,
                              (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec);
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  corio_task *t;

  if (timeout_ms == 0 || !(t = corio__hook_task()))
    return REAL(poll)(fds, n, timeout_ms);
  return hooked_poll(t, fds, n, ms_deadline(t, timeout_ms), NULL);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
          const sigset_t *mask) {
  corio_task *t;

  if ((ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !(t = corio__hook_task()))
    return REAL(ppoll)(fds, n, ts, mask);
  if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
    errno = EINVAL;
    return -1;
  }
  return hooked_poll(t, fds, n, ts_deadline(t, ts), mask);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fds_len);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fds_len) {
  extern void __chk_fail(void) __attribute__((noreturn));

  if (fds_len / sizeof *fds < n)
    __chk_fail();
  return poll(fds, n, timeout_ms);
}

/* ---- select
 * ------------------------------------------------------------------ */

/* select over poll: one pollfd per fd in any set. */
static int hooked_select(corio_task *t, int nfds, fd_set *r, fd_set *w,
                         fd_set *x, int64_t deadline, const sigset_t *mask) {
  struct pollfd stack_fds[64], *fds = stack_fds;
  nfds_t n = 0;
  int ready, count = 0;

  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  if ((size_t)nfds > sizeof stack_fds / sizeof *stack_fds &&
      !(fds = malloc((size_t)nfds * sizeof *fds))) {
    errno = ENOMEM;
    return -1;
  }
  for (int fd = 0; fd < nfds; fd++) {
    short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
                       (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
                       (x && FD_ISSET(fd, x) ? POLLPRI : 0));
    if (ev)
      fds[n++] = (struct pollfd){.fd = fd, .events = ev};
  }
  ready = hooked_poll(t, fds, n, deadline, mask);
  if (ready >= 0) {
    for (nfds_t i = 0; i < n; i++)
      if (fds[i].revents & POLLNVAL) {
        errno = EBADF;
        ready = -1;
      }
  }
  if (ready >= 0) {
    if (r)
      FD_ZERO(r);
    if (w)
      FD_ZERO(w);
    if (x)
      FD_ZERO(x);
    for (nfds_t i = 0; i < n; i++) {
      short re = fds[i].revents, ev = fds[i].events;

      if (r && (ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
        FD_SET(fds[i].fd, r);
        count++;
      }
      if (w && (ev & POLLOUT) && (re & (POLLOUT | POLLERR))) {
        FD_SET(fds[i].fd, w);
        count++;
      }
      if (x && (ev & POLLPRI) && (re & POLLPRI)) {
        FD_SET(fds[i].fd, x);
        count++;
      }
    }
    ready = count;
  }
  if (fds != stack_fds)
    free(fds);
  return ready;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv) {
  corio_task *t;
  int64_t deadline;
  int rc;

  if ((tv && tv->tv_sec == 0 && tv->tv_usec == 0) || !(t = corio__hook_task()))
    return REAL(select)(nfds, r, w, x, tv);
  if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
    errno = EINVAL;
    return -1;
  }
  deadline = tv ? corio__hook_deadline(t, (int64_t)tv->tv_sec * 1000000000 +
                                              (int64_t)tv->tv_usec * 1000)
                : HOOK_NO_DEADLINE;
  rc = hooked_select(t, nfds, r, w, x, deadline, NULL);
  if (tv && deadline != HOOK_NO_DEADLINE) {
    /* Linux leaves the time not slept in *tv. */
    int64_t left = deadline - corio_loop_time_ns(corio_task_loop(t));

    if (left < 0)
      left = 0;
    tv->tv_sec = (time_t)(left / 1000000000);
    tv->tv_usec = (suseconds_t)(left % 1000000000 / 1000);
  }
  return rc;
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x,
            const struct timespec *ts, const sigset_t *mask) {
  corio_task *t;

  if ((ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !(t = corio__hook_task()))
    return REAL(pselect)(nfds, r, w, x, ts, mask);
  if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
    errno = EINVAL;
    return -1;
  }
  return hooked_select(t, nfds, r, w, x, ts_deadline(t, ts), mask);
}
