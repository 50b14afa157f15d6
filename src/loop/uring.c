/* The ring itself: setup with the best flags the kernel takes, the
 * submission queue, the enter call, provided buffers, and an exact
 * teardown. The poller (poller_uring.c) reads the completion queue. */
#include "loop/uring.h"

#include <errno.h>

#if defined(__linux__) && defined(CORIO_HAVE_IO_URING)

#include "loop/uring_internal.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sys.h"
#include "core/sys_fd.h"
#include "core/sys_uring.h"
#include "loop/loop_internal.h"

enum {
  SQ_ENTRIES = 512,
  CQ_ENTRIES = 8192, /* room for a burst of completions: NODROP keeps more */
  EXIT_ROUNDS = 64,  /* waits for the last CQEs before giving up */
};

/* The setups tried, best first; a kernel that refuses one flag (EINVAL)
 * gets the next. What each level's kernel also offers follows from the
 * flag it accepted: single issuer and multishot recv came in 6.0, the
 * cooperative task run and multishot accept in 5.19. */
static const struct setup_level {
  unsigned flags;
  unsigned caps;
} setup_levels[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
         IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL,
     CORIO__URING_RECV_MULTISHOT | CORIO__URING_ACCEPT_MULTISHOT |
         CORIO__URING_BUF_RING},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
         IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL,
     CORIO__URING_RECV_MULTISHOT | CORIO__URING_ACCEPT_MULTISHOT |
         CORIO__URING_BUF_RING},
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL,
     CORIO__URING_ACCEPT_MULTISHOT | CORIO__URING_BUF_RING},
    {0, 0},
};

/* What the poller cannot do without. */
#define NEEDED_FEATURES                                                        \
  (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG |        \
   IORING_FEAT_FAST_POLL)

static int setup(corio__uring *r) {
  struct io_uring_params p;
  int fd = -EINVAL;

  for (size_t i = 0; i < sizeof setup_levels / sizeof *setup_levels; i++) {
    memset(&p, 0, sizeof p);
    p.flags = setup_levels[i].flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = CQ_ENTRIES;
    fd = corio__sys_uring_setup(SQ_ENTRIES, &p);
    if (fd != -EINVAL)
      break;
  }
  if (fd < 0)
    return fd;
  r->fd = r->enter_fd = fd;
  r->setup_flags = p.flags;
  r->features = p.features;
  for (size_t i = 0; i < sizeof setup_levels / sizeof *setup_levels; i++)
    if ((p.flags & ~(IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP)) ==
        setup_levels[i].flags)
      r->caps = setup_levels[i].caps;
  r->enabled = !(p.flags & IORING_SETUP_R_DISABLED);
  if ((p.features & NEEDED_FEATURES) != NEEDED_FEATURES)
    return -EOPNOTSUPP;

  r->sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  if (p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe) >
      r->sq_map_size)
    r->sq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  r->sq_map = mmap(NULL, r->sq_map_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (r->sq_map == MAP_FAILED) {
    r->sq_map = NULL;
    return -ENOMEM;
  }
  r->cq_map = r->sq_map; /* IORING_FEAT_SINGLE_MMAP */
  r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) {
    r->sqes = NULL;
    return -ENOMEM;
  }
  char *sq = r->sq_map, *cq = r->cq_map;
  r->sq_khead = (unsigned *)(sq + p.sq_off.head);
  r->sq_ktail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_kflags = (unsigned *)(sq + p.sq_off.flags);
  r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_entries = p.sq_entries;
  r->cq_khead = (unsigned *)(cq + p.cq_off.head);
  r->cq_ktail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  /* SQE i always sits at index i: the array is the identity. */
  unsigned *array = (unsigned *)(sq + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++)
    array[i] = i;
  r->sq_tail = r->sq_submitted = *r->sq_ktail;
  return 0;
}

/* The opcodes the poller and the net layer use; the net layer's are
 * optional (it falls back to readiness without them). */
static int probe(corio__uring *r) {
  enum { PROBE_OPS = 256 };
  size_t size = sizeof(struct io_uring_probe) +
                PROBE_OPS * sizeof(struct io_uring_probe_op);
  struct io_uring_probe *pr = corio__calloc(size);
  int rc;

  if (!pr)
    return -ENOMEM;
  rc = corio__sys_uring_register(r->fd, IORING_REGISTER_PROBE, pr, PROBE_OPS);
  if (rc >= 0) {
#define HAS(op)                                                                \
  (pr->last_op >= (op) && (pr->ops[op].flags & IO_URING_OP_SUPPORTED))
    if (!HAS(IORING_OP_POLL_ADD) || !HAS(IORING_OP_POLL_REMOVE) ||
        !HAS(IORING_OP_ASYNC_CANCEL))
      rc = -EOPNOTSUPP;
    else {
      rc = 0;
      if (!HAS(IORING_OP_RECV))
        r->caps &= ~(unsigned)CORIO__URING_RECV_MULTISHOT;
      if (!HAS(IORING_OP_ACCEPT))
        r->caps &= ~(unsigned)CORIO__URING_ACCEPT_MULTISHOT;
      if (HAS(IORING_OP_SEND))
        r->caps |= CORIO__URING_SEND;
    }
#undef HAS
  }
  corio__free(pr, size);
  return rc;
}

static void unmap(corio__uring *r) {
  if (r->sqes)
    munmap(r->sqes, r->sqes_size);
  if (r->sq_map)
    munmap(r->sq_map, r->sq_map_size);
  r->sqes = NULL;
  r->sq_map = r->cq_map = NULL;
}

int corio__uring_init(corio__uring *r) {
  int rc;

  memset(r, 0, sizeof *r);
  r->fd = r->enter_fd = -1;
  if ((rc = setup(r)) == 0)
    rc = probe(r);
  if (rc < 0) {
    unmap(r);
    if (r->fd >= 0)
      corio__sys_close(r->fd);
    r->fd = -1;
  }
  return rc;
}

/* A ring created disabled is enabled by the thread that first enters it,
 * which then is its only issuer (IORING_SETUP_SINGLE_ISSUER); the ring's
 * fd is registered by the same thread, as registrations are per thread. */
/* gettid() is a syscall each time: cached, as the issuer is checked on
 * every enter. */
static pid_t current_tid(void) {
  static __thread pid_t tid;

  if (!tid)
    tid = gettid();
  return tid;
}

static int enable(corio__uring *r) {
  int rc;

  if (!r->enabled) {
    rc =
        corio__sys_uring_register(r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (rc < 0)
      return rc;
    r->enabled = 1;
  }
  r->issuer = current_tid();
  /* Only the poller's wait enables a ring (a flush leaves a disabled one
   * alone): this is a run's first wait. */
  corio__uring_register_ring(r);
  return 0;
}

/* Optional: saves the fd lookup on every enter. Registered only while a
 * run of the loop lasts (the poller's wait asks, corio__uring_unregister
 * undoes it when the run ends): the registration is the thread's own
 * reference to the ring, which would keep the ring, and every file its
 * poll requests hold, alive until that thread ends, even after the loop
 * closed on another thread. */
void corio__uring_register_ring(corio__uring *r) {
  struct io_uring_rsrc_update reg = {.offset = (unsigned)-1,
                                     .data = (uint64_t)r->fd};

  if ((r->enter_flags & IORING_ENTER_REGISTERED_RING) || !r->enabled ||
      r->issuer != current_tid())
    return;
  if (corio__sys_uring_register(r->fd, IORING_REGISTER_RING_FDS, &reg, 1) ==
      1) {
    r->enter_fd = (int)reg.offset;
    r->enter_flags = IORING_ENTER_REGISTERED_RING;
  }
}

void corio__uring_unregister(corio__uring *r) {
  struct io_uring_rsrc_update reg = {.offset = (unsigned)r->enter_fd};

  if (!(r->enter_flags & IORING_ENTER_REGISTERED_RING) ||
      r->issuer != current_tid())
    return;
  (void)corio__sys_uring_register(r->fd, IORING_UNREGISTER_RING_FDS, &reg, 1);
  r->enter_fd = r->fd;
  r->enter_flags = 0;
}

/* Moves backlogged SQEs into the queue, as many as it has room for. */
static void backlog_move(corio__uring *r) {
  unsigned head = __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
  size_t n = r->sq_entries - (r->sq_tail - head);

  if (n > r->backlog_len)
    n = r->backlog_len;
  for (size_t i = 0; i < n; i++)
    r->sqes[r->sq_tail++ & r->sq_mask] = r->backlog[i];
  memmove(r->backlog, r->backlog + n,
          (r->backlog_len - n) * sizeof *r->backlog);
  r->backlog_len -= n;
}

int corio__uring_enter(corio__uring *r, int wait, int64_t timeout_ns) {
  struct __kernel_timespec ts;
  struct io_uring_getevents_arg arg = {0};
  unsigned flags = IORING_ENTER_EXT_ARG, to_submit;
  int rc;

  if (!r->enabled || r->issuer == 0) {
    if ((rc = enable(r)) < 0)
      return rc;
  } else if (r->issuer != current_tid()) {
    /* Another thread runs the loop now: the registered fd is not its. */
    if (r->setup_flags & IORING_SETUP_SINGLE_ISSUER)
      return CORIO_ETHREAD;
    r->enter_fd = r->fd;
    r->enter_flags = 0;
    r->issuer = current_tid();
  }
  /* The backlog goes first, submitted as the queue takes it. */
  while (r->backlog_len) {
    backlog_move(r);
    if (!r->backlog_len)
      break;
    __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE);
    rc = corio__sys_uring_enter(r->enter_fd, r->sq_tail - r->sq_submitted, 0,
                                IORING_ENTER_EXT_ARG | r->enter_flags, &arg,
                                sizeof arg);
    if (rc <= 0)
      return rc < 0 ? rc : -EBUSY;
    r->sq_submitted += (unsigned)rc;
  }
  __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE);
  to_submit = r->sq_tail - r->sq_submitted;
  if (wait || (r->setup_flags & IORING_SETUP_DEFER_TASKRUN) ||
      corio__uring_needs_enter(r))
    flags |= IORING_ENTER_GETEVENTS;
  if (wait && timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    arg.ts = (uint64_t)(uintptr_t)&ts;
  }
  rc = corio__sys_uring_enter(r->enter_fd, to_submit, wait ? 1 : 0,
                              flags | r->enter_flags, &arg, sizeof arg);
  if (rc >= 0) {
    r->sq_submitted += (unsigned)rc;
    return 0;
  }
  /* SQEs the kernel did not take stay queued for the next enter. */
  if (rc == -ETIME || rc == -EINTR)
    return 0;
  /* The kernel's word for a single-issuer ring entered by another task. */
  return rc == -EEXIST ? CORIO_ETHREAD : rc;
}

/* A wait runs at most 20 deferred completions beyond the number it waits
 * for (Linux 6.13 and later), so a wait for one leaves most of a burst
 * behind; a zero-timeout wait for `want` runs up to that many at once. */
int corio__uring_run_deferred(corio__uring *r, unsigned want) {
  struct __kernel_timespec ts = {0, 0};
  struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts};
  unsigned ready = corio__uring_cq_ready(r);
  int rc;

  if (!(r->setup_flags & IORING_SETUP_DEFER_TASKRUN) || ready >= want ||
      !corio__uring_needs_enter(r))
    return 0;
  rc = corio__sys_uring_enter(r->enter_fd, 0, want - ready,
                              IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG |
                                  r->enter_flags,
                              &arg, sizeof arg);
  return rc >= 0 || rc == -ETIME || rc == -EINTR ? 0 : rc;
}

int corio__uring_flush(corio__uring *r) {
  if (!r->enabled || (r->sq_tail == r->sq_submitted && !r->backlog_len))
    return 0; /* a disabled ring submits when its thread first waits */
  return corio__uring_enter(r, 0, 0);
}

unsigned corio__uring_cq_ready(const corio__uring *r) {
  return __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE) - *r->cq_khead;
}

int corio__uring_needs_enter(const corio__uring *r) {
  unsigned f = __atomic_load_n(r->sq_kflags, __ATOMIC_RELAXED);
  return (f & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

struct io_uring_sqe *corio__uring_prep(corio__uring *r, uint8_t opcode, int fd,
                                       corio__uring_op *op, int *err) {
  struct io_uring_sqe *sqe;
  unsigned head = __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);

  if (r->exiting && op) {
    *err = -ECANCELED;
    return NULL;
  }
  if (!r->backlog_len && r->sq_tail - head >= r->sq_entries && r->enabled) {
    (void)corio__uring_flush(r);
    head = __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
  }
  if (r->backlog_len || r->sq_tail - head >= r->sq_entries) {
    /* No room (and none to be made now): queued in memory, in order. */
    int rc = corio__grow_array((void **)&r->backlog, &r->backlog_cap,
                               sizeof *r->backlog, r->backlog_len + 1, 64);
    if (rc < 0) {
      *err = rc;
      return NULL;
    }
    sqe = &r->backlog[r->backlog_len++];
  } else {
    sqe = &r->sqes[r->sq_tail & r->sq_mask];
    r->sq_tail++;
  }
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = opcode;
  sqe->fd = fd;
  sqe->user_data = (uint64_t)(uintptr_t)op;
  if (op)
    r->ops_in_flight++;
  return sqe;
}

int corio__uring_cancel(corio__uring *r, corio__uring_op *op) {
  int err = 0;
  struct io_uring_sqe *sqe =
      corio__uring_prep(r, IORING_OP_ASYNC_CANCEL, -1, NULL, &err);

  if (!sqe)
    return err;
  sqe->addr = (uint64_t)(uintptr_t)op;
  sqe->cancel_flags = IORING_ASYNC_CANCEL_ALL;
  return 0;
}

int corio__uring_withdraw(corio__uring *r, corio__uring_op *op) {
  /* SQEs from sq_submitted on are queued but unseen by the kernel; an op
   * has at most one SQE at a time. */
  for (unsigned i = r->sq_submitted; i != r->sq_tail; i++) {
    struct io_uring_sqe *sqe = &r->sqes[i & r->sq_mask];

    if (sqe->user_data != (uint64_t)(uintptr_t)op)
      continue;
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_NOP; /* user data 0: its CQE is dropped */
    r->ops_in_flight--;
    return 1;
  }
  for (size_t i = 0; i < r->backlog_len; i++) {
    struct io_uring_sqe *sqe = &r->backlog[i];

    if (sqe->user_data != (uint64_t)(uintptr_t)op)
      continue;
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_NOP;
    r->ops_in_flight--;
    return 1;
  }
  return 0;
}

corio__uring *corio__loop_uring(corio_loop *loop) {
  if (!loop || loop->poller_ops != &corio__poller_uring || !loop->poller)
    return NULL;
  return corio__poller_uring_ring(loop->poller);
}

unsigned corio__uring_caps(const corio__uring *r) { return r->caps; }

/* ---- provided buffers ---------------------------------------------------- */

static void buf_publish(corio__uring *r, unsigned bid) {
  struct io_uring_buf *b = &r->buf_ring->bufs[r->buf_tail & (r->buf_count - 1)];

  b->addr =
      (uint64_t)(uintptr_t)(r->buf_mem + (size_t)bid * CORIO__URING_BUF_SIZE);
  b->len = CORIO__URING_BUF_SIZE;
  b->bid = (uint16_t)bid;
  r->buf_tail++;
}

static void bufs_free(corio__uring *r) {
  if (r->buf_ring)
    munmap(r->buf_ring, r->buf_count * sizeof(struct io_uring_buf));
  if (r->buf_mem)
    munmap(r->buf_mem, (size_t)r->buf_count * CORIO__URING_BUF_SIZE);
  r->buf_ring = NULL;
  r->buf_mem = NULL;
}

/* Plain mmap, not the fault seam's: the buffers are set up by whichever
 * stream comes first, and a fault armed for something else (a task's
 * stack) must not land here. Their failures are walked through the
 * registration instead (CORIO__FAULT_URING_REGISTER). */
static void *map_anon(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int corio__uring_bufs_ready(corio__uring *r) {
  struct io_uring_buf_reg reg = {0};
  void *ring, *mem;
  int rc;

  if (r->buf_ring)
    return 0;
  if (r->bufs_failed || !(r->caps & CORIO__URING_BUF_RING))
    return -EOPNOTSUPP;
  r->buf_count = CORIO__URING_BUF_COUNT;
  /* The entries must be page aligned: a mapping of their own. */
  rc = -ENOMEM;
  if (!(ring = map_anon(CORIO__URING_BUF_COUNT * sizeof(struct io_uring_buf))))
    goto fail;
  r->buf_ring = ring;
  if (!(mem = map_anon((size_t)CORIO__URING_BUF_COUNT * CORIO__URING_BUF_SIZE)))
    goto fail;
  r->buf_mem = mem;
  reg.ring_addr = (uint64_t)(uintptr_t)ring;
  reg.ring_entries = CORIO__URING_BUF_COUNT;
  reg.bgid = CORIO__URING_BUF_GROUP;
  rc = corio__sys_uring_register(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1);
  if (rc < 0)
    goto fail;
  r->buf_tail = 0;
  for (unsigned i = 0; i < CORIO__URING_BUF_COUNT; i++)
    buf_publish(r, i);
  __atomic_store_n(&r->buf_ring->tail, r->buf_tail, __ATOMIC_RELEASE);
  return 0;
fail:
  bufs_free(r);
  r->bufs_failed = 1;
  return rc;
}

char *corio__uring_buf(corio__uring *r, unsigned bid) {
  return r->buf_mem + (size_t)bid * CORIO__URING_BUF_SIZE;
}

void corio__uring_buf_recycle(corio__uring *r, unsigned bid) {
  buf_publish(r, bid);
  __atomic_store_n(&r->buf_ring->tail, r->buf_tail, __ATOMIC_RELEASE);
}

/* ---- teardown ------------------------------------------------------------ */

/* Reads every CQE there is; ops get their callbacks. */
static void reap_all(corio__uring *r) {
  unsigned head = *r->cq_khead;
  unsigned tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);

  while (head != tail) {
    struct io_uring_cqe cqe = r->cqes[head & r->cq_mask];
    head++;
    __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE);
    if (cqe.user_data && !(cqe.user_data & CORIO__URING_POLL_TAG)) {
      corio__uring_op *op = (corio__uring_op *)(uintptr_t)cqe.user_data;
      if (!(cqe.flags & IORING_CQE_F_MORE))
        r->ops_in_flight--;
      op->done(op, cqe.res, cqe.flags);
    }
    tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
  }
}

void corio__uring_exit(corio__uring *r) {
  int rounds = 0;

  if (r->fd < 0)
    return;
  r->exiting = 1;
  /* Every op is cancelled and its last CQE read before the ring and the
   * buffers go: their owners' memory is released by those callbacks. A
   * ring another thread must issue on cannot be waited on here. */
  if (r->ops_in_flight && r->enabled &&
      (!r->issuer || r->issuer == current_tid() ||
       !(r->setup_flags & IORING_SETUP_SINGLE_ISSUER))) {
    int err;
    struct io_uring_sqe *sqe =
        corio__uring_prep(r, IORING_OP_ASYNC_CANCEL, -1, NULL, &err);
    if (sqe)
      sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;
    while (r->ops_in_flight && rounds++ < EXIT_ROUNDS) {
      if (corio__uring_enter(r, 1, 100 * 1000000) < 0)
        break;
      reap_all(r);
    }
  }
  if (r->buf_ring) {
    struct io_uring_buf_reg reg = {.bgid = CORIO__URING_BUF_GROUP};
    (void)corio__sys_uring_register(r->fd, IORING_UNREGISTER_PBUF_RING, &reg,
                                    1);
  }
  corio__uring_unregister(r);
  unmap(r);
  corio__sys_close(r->fd);
  r->fd = -1;
  bufs_free(r);
  corio__free(r->backlog, r->backlog_cap * sizeof *r->backlog);
  r->backlog = NULL;
  r->backlog_len = r->backlog_cap = 0;
}

#else /* no io_uring: no loop has a ring, so none of these is reached */

#include "loop/loop_internal.h"

corio__uring *corio__loop_uring(corio_loop *loop) {
  (void)loop;
  return NULL;
}

unsigned corio__uring_caps(const corio__uring *r) {
  (void)r;
  return 0;
}

struct io_uring_sqe *corio__uring_prep(corio__uring *r, uint8_t opcode, int fd,
                                       corio__uring_op *op, int *err) {
  (void)r, (void)opcode, (void)fd, (void)op;
  *err = -ENOSYS;
  return NULL;
}

int corio__uring_cancel(corio__uring *r, corio__uring_op *op) {
  (void)r, (void)op;
  return -ENOSYS;
}

int corio__uring_withdraw(corio__uring *r, corio__uring_op *op) {
  (void)r, (void)op;
  return 0;
}

int corio__uring_flush(corio__uring *r) {
  (void)r;
  return -ENOSYS;
}

int corio__uring_bufs_ready(corio__uring *r) {
  (void)r;
  return -ENOSYS;
}

char *corio__uring_buf(corio__uring *r, unsigned bid) {
  (void)r, (void)bid;
  return NULL;
}

void corio__uring_buf_recycle(corio__uring *r, unsigned bid) {
  (void)r, (void)bid;
}

#endif
