/* The io_uring backend's readiness half: fd watchers through one-shot
 * IORING_OP_POLL_ADD requests, re-armed after each report. A one-shot
 * poll armed on a ready fd completes at once, so an fd whose callback
 * left data unread is reported again by the next wait: level triggering,
 * as the loop's contract wants (a multishot poll only reports new
 * wake-ups). Every SQE of an iteration goes in with its one
 * io_uring_enter, which also waits. CQEs of ops (the net layer's recv,
 * send and accept) come out of wait as CORIO__POLL_DONE events. */
#include "loop/poller.h"

#if defined(__linux__) && defined(CORIO_HAVE_IO_URING)

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "core/alloc.h"
#include "loop/uring_internal.h"

/* One fd's poll state. */
typedef struct uring_fd {
  uint32_t gen;  /* bumped when its poll request is removed */
  uint8_t want;  /* the interest (CORIO__POLL_*) */
  uint8_t armed; /* the interest of the poll request in flight, or 0 */
  uint8_t rearm; /* in the re-arm list */
} uring_fd;

struct corio__poller {
  corio__uring ring;
  uring_fd *fds;
  size_t nfds;
  int *rearm; /* fds reported by the last wait: armed again by the next */
  size_t rearm_len, rearm_cap;
};

corio__uring *corio__poller_uring_ring(struct corio__poller *p) {
  return &p->ring;
}

static uint64_t poll_key(int fd, uint32_t gen) {
  return CORIO__URING_POLL_TAG | (uint64_t)(gen & 0x7fffffffu) << 32 |
         (uint32_t)fd;
}

static int uring_create(struct corio__poller **out) {
  struct corio__poller *p = corio__calloc(sizeof *p);
  int rc;

  if (!p)
    return -ENOMEM;
  if ((rc = corio__uring_init(&p->ring)) < 0) {
    corio__free(p, sizeof *p);
    return rc;
  }
  *out = p;
  return 0;
}

static void uring_destroy(struct corio__poller *p) {
  if (!p)
    return;
  corio__uring_exit(&p->ring);
  corio__free(p->fds, p->nfds * sizeof *p->fds);
  corio__free(p->rearm, p->rearm_cap * sizeof *p->rearm);
  corio__free(p, sizeof *p);
}

static int arm(struct corio__poller *p, int fd, uring_fd *e) {
  int err = 0;
  struct io_uring_sqe *sqe =
      corio__uring_prep(&p->ring, IORING_OP_POLL_ADD, fd, NULL, &err);

  if (!sqe)
    return err;
  /* POLLERR and POLLHUP come unasked; RDHUP so a half-closed peer
   * reads as readable, as with epoll. Little-endian layout. */
  sqe->poll32_events = ((e->want & CORIO__POLL_IN) ? POLLIN | POLLRDHUP : 0) |
                       ((e->want & CORIO__POLL_OUT) ? POLLOUT : 0);
  sqe->user_data = poll_key(fd, e->gen);
  e->armed = e->want;
  return 0;
}

static int disarm(struct corio__poller *p, int fd, uring_fd *e) {
  int err = 0;
  struct io_uring_sqe *sqe;

  if (!e->armed)
    return 0;
  sqe = corio__uring_prep(&p->ring, IORING_OP_POLL_REMOVE, -1, NULL, &err);
  if (!sqe)
    return err;
  sqe->addr = poll_key(fd, e->gen);
  e->armed = 0;
  e->gen++; /* a CQE of the removed request is stale from now on */
  return 0;
}

static void rearm_later(struct corio__poller *p, int fd, uring_fd *e) {
  if (e->rearm)
    return;
  p->rearm[p->rearm_len++] = fd;
  e->rearm = 1;
}

static int uring_set(struct corio__poller *p, int fd, unsigned old,
                     unsigned events) {
  uring_fd *e;
  int rc;

  old &= CORIO__POLL_IN | CORIO__POLL_OUT;
  events &= CORIO__POLL_IN | CORIO__POLL_OUT;
  if (fd < 0)
    return -EBADF;
  /* The re-arm list holds each fd at most once: sized with the table,
   * so that reporting an fd never needs memory. */
  if ((size_t)fd >= p->rearm_cap &&
      (rc = corio__grow_array((void **)&p->rearm, &p->rearm_cap,
                              sizeof *p->rearm, (size_t)fd + 1, 64)) < 0)
    return rc;
  if ((size_t)fd >= p->nfds &&
      (rc = corio__grow_array((void **)&p->fds, &p->nfds, sizeof *p->fds,
                              (size_t)fd + 1, 64)) < 0)
    return rc;
  e = &p->fds[fd];
  /* A fresh registration replaces whatever request the number had: it
   * may watch a file closed since (its number reused). */
  if ((!old || e->armed != events) && (rc = disarm(p, fd, e)) < 0)
    return rc;
  e->want = (uint8_t)events;
  /* A ring not enabled yet (its loop has not run) cannot take more than
   * one queue of SQEs: the first wait arms what was added before it. */
  if (events && !e->armed && !p->ring.enabled) {
    rearm_later(p, fd, e);
    return 0;
  }
  if (events && !e->armed)
    return arm(p, fd, e);
  /* Removed: the request holds the file, so it goes now, before the
   * caller closes the fd (its peer would not see the close otherwise). */
  if (!events)
    return corio__uring_flush(&p->ring);
  return 0;
}

static int rearm_reported(struct corio__poller *p) {
  size_t i;
  int rc = 0;

  if (!p->rearm_len)
    return 0; /* the list may not even exist yet: nothing was ever set */

  for (i = 0; i < p->rearm_len; i++) {
    int fd = p->rearm[i];
    uring_fd *e = &p->fds[fd];

    if (e->want && !e->armed && (rc = arm(p, fd, e)) < 0)
      break;
    e->rearm = 0;
  }
  /* What could not be armed (a full queue) waits for the next round
   * (p->rearm is NULL while no fd was ever registered). */
  if (i < p->rearm_len)
    memmove(p->rearm, p->rearm + i, (p->rearm_len - i) * sizeof *p->rearm);
  p->rearm_len -= i;
  return rc == -EBUSY ? 0 : rc;
}

static unsigned revents_to_corio(int res, unsigned asked) {
  unsigned out = 0, got = (unsigned)res;

  if (got & (POLLIN | POLLHUP | POLLERR | POLLRDHUP))
    out |= CORIO__POLL_IN;
  if (got & (POLLOUT | POLLHUP | POLLERR))
    out |= CORIO__POLL_OUT;
  return out & asked;
}

/* A poll request's CQE: an event if it is current and something asked
 * for happened. */
static int poll_done(struct corio__poller *p, uint64_t key, int res,
                     corio__poll_event *ev) {
  int fd = (int)(uint32_t)key;
  uring_fd *e;
  unsigned got;

  if ((size_t)fd >= p->nfds)
    return 0;
  e = &p->fds[fd];
  if (!e->armed ||
      (e->gen & 0x7fffffffu) != (uint32_t)(key >> 32 & 0x7fffffffu))
    return 0; /* removed since */
  e->armed = 0;
  /* An error (the fd closed behind the loop's back) ends the watch, as
   * epoll forgets a closed file. */
  if (res < 0)
    return 0;
  rearm_later(p, fd, e);
  got = revents_to_corio(res, e->want);
  if (!got)
    return 0;
  ev->fd = fd;
  ev->events = got;
  return 1;
}

static int uring_wait(struct corio__poller *p, int64_t timeout_ns,
                      corio__poll_event *events, int max) {
  corio__uring *r = &p->ring;
  unsigned head, tail;
  int rc, filled = 0;

  if (max <= 0)
    return -EINVAL;
  if ((rc = rearm_reported(p)) < 0)
    return rc;
  corio__uring_register_ring(r);
  /* Fds left unarmed (a full queue on a ring that this enter enables)
   * are armed by the next wait, which must come at once. */
  if (p->rearm_len)
    timeout_ns = 0;
  if (corio__uring_cq_ready(r) == 0)
    rc = corio__uring_enter(r, timeout_ns != 0, timeout_ns);
  else if (r->sq_tail != r->sq_submitted || r->backlog_len ||
           corio__uring_needs_enter(r))
    rc = corio__uring_enter(r, 0, 0);
  if (rc == 0)
    rc = corio__uring_run_deferred(r, (unsigned)max);
  if (rc < 0)
    return rc;
  head = *r->cq_khead;
  tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
  for (; head != tail && filled < max; head++) {
    const struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
    corio__poll_event *ev = &events[filled];

    if (!cqe->user_data)
      continue; /* a cancel or removal request's own CQE */
    if (cqe->user_data & CORIO__URING_POLL_TAG) {
      filled += poll_done(p, cqe->user_data, cqe->res, ev);
      continue;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE))
      r->ops_in_flight--;
    ev->fd = -1;
    ev->events = CORIO__POLL_DONE;
    ev->op = (void *)(uintptr_t)cqe->user_data;
    ev->res = cqe->res;
    ev->flags = cqe->flags;
    filled++;
  }
  __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE);
  return filled;
}

static void uring_run_ended(struct corio__poller *p) {
  corio__uring_unregister(&p->ring);
}

const corio__poller_ops corio__poller_uring = {
    "io_uring", uring_create, uring_destroy,
    uring_set,  uring_wait,   uring_run_ended,
};

#else

#include <errno.h>

#include "loop/uring.h"

/* Without io_uring the backend cannot be created: loops fall back to
 * epoll, and the net layer never sees a ring. */
static int uring_create(struct corio__poller **out) {
  (void)out;
  return -ENOSYS;
}

corio__uring *corio__poller_uring_ring(struct corio__poller *p) {
  (void)p;
  return NULL;
}

const corio__poller_ops corio__poller_uring = {
    "io_uring", uring_create, NULL, NULL, NULL, NULL,
};

#endif
