/* The ring's layout, shared by uring.c (setup, queues, buffers) and
 * poller_uring.c (readiness and the wait). */
#ifndef CORIO_LOOP_URING_INTERNAL_H
#define CORIO_LOOP_URING_INTERNAL_H

#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop/uring.h"

/* user_data of a poll request: this bit, a generation and the fd. Op
 * pointers never have it (user-space addresses), cancel requests are 0. */
#define CORIO__URING_POLL_TAG ((uint64_t)1 << 63)

struct corio__uring {
  int fd;
  int enter_fd;         /* fd, or the registered ring's index */
  unsigned enter_flags; /* IORING_ENTER_REGISTERED_RING when registered */
  unsigned setup_flags;
  unsigned features;
  unsigned caps; /* CORIO__URING_* */
  int enabled;   /* created disabled (single issuer): enabled by its thread */
  /* The thread that enters the ring, by kernel thread id: a pthread_t
   * is reused by the next thread as soon as its owner is joined. */
  pid_t issuer;

  /* Submission queue: the kernel's head, our tail (published on flush). */
  unsigned *sq_khead, *sq_ktail, *sq_kflags;
  unsigned sq_mask, sq_entries;
  struct io_uring_sqe *sqes;
  unsigned sq_tail;      /* SQEs handed out */
  unsigned sq_submitted; /* of those, the ones the kernel took */
  /* SQEs handed out while the queue was full and could not be submitted
   * (a ring not enabled yet, an enter that failed): moved into the queue,
   * in order, by the next enter. */
  struct io_uring_sqe *backlog;
  size_t backlog_len, backlog_cap;

  /* Completion queue. */
  unsigned *cq_khead, *cq_ktail;
  unsigned cq_mask;
  struct io_uring_cqe *cqes;

  void *sq_map, *cq_map;
  size_t sq_map_size, cq_map_size, sqes_size;

  /* Ops whose last CQE has not come (drained before the ring goes). */
  size_t ops_in_flight;

  /* Provided buffers (lazily): a ring of entries and the buffers. */
  struct io_uring_buf_ring *buf_ring;
  char *buf_mem;
  unsigned buf_count;
  uint16_t buf_tail;
  int bufs_failed; /* a setup failed: never tried again */
  int exiting;     /* corio__uring_exit runs: no new ops */
};

/* Sets the ring up: 0 or a negative errno (-ENOSYS, -EPERM where the
 * kernel refuses io_uring; -EOPNOTSUPP where it lacks what the poller
 * needs). */
int corio__uring_init(corio__uring *r);
/* Cancels every op, waits for their last CQEs (calling their done
 * callbacks, which release what they hold), then unmaps and closes. */
void corio__uring_exit(corio__uring *r);
/* One io_uring_enter: submits what is queued; with wait, waits up to
 * timeout_ns (-1: no limit) for a CQE. Returns 0 or a negative errno;
 * -ETIME and -EINTR are 0. */
int corio__uring_enter(corio__uring *r, int wait, int64_t timeout_ns);
/* Runs completions the kernel deferred (DEFER_TASKRUN) until `want` CQEs
 * are ready or none is left, without waiting: 0 or a negative errno. */
int corio__uring_run_deferred(corio__uring *r, unsigned want);
/* The ring's fd registered for the calling thread (its issuer), for the
 * length of a run; unregistered when the run ends and at exit. */
void corio__uring_register_ring(corio__uring *r);
void corio__uring_unregister(corio__uring *r);
/* CQEs ready to be read. */
unsigned corio__uring_cq_ready(const corio__uring *r);
/* Whether an enter is needed to learn of completions the kernel holds
 * back (deferred task work, an overflowed CQ). */
int corio__uring_needs_enter(const corio__uring *r);

#endif
