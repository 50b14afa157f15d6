/* An io_uring ring with its submission and completion queues mapped, as
 * the io_uring poller (poller_uring.c) and the net layer's completion
 * path (src/net/stream_uring.c) use it. Raw syscalls, no liburing: see
 * docs/loop.md, "The io_uring backend".
 *
 * Ops: a caller embeds a corio__uring_op, fills an SQE from
 * corio__uring_prep, and gets each CQE of it through op->done from the
 * loop's poll phase (corio__io_dispatch), with the CQE's res and flags.
 * The op's memory must live until its last CQE (flags without
 * IORING_CQE_F_MORE): the kernel may still write into whatever it points
 * at before then, so a cancelled op is waited for, never abandoned. */
#ifndef CORIO_LOOP_URING_H
#define CORIO_LOOP_URING_H

#include <stddef.h>
#include <stdint.h>

#include "corio/loop.h"

struct io_uring_sqe;
typedef struct corio__uring corio__uring;
typedef struct corio__uring_op corio__uring_op;

struct corio__uring_op {
  void (*done)(corio__uring_op *op, int res, unsigned flags);
};

/* What the running kernel offers beyond the poller's needs. */
enum {
  CORIO__URING_RECV_MULTISHOT = 1,   /* recv with IORING_RECV_MULTISHOT */
  CORIO__URING_ACCEPT_MULTISHOT = 2, /* accept with IORING_ACCEPT_MULTISHOT */
  CORIO__URING_BUF_RING = 4,         /* IORING_REGISTER_PBUF_RING */
  CORIO__URING_SEND = 8,             /* IORING_OP_SEND */
};

/* The provided-buffer group every multishot recv of a loop selects from,
 * its buffers' number and size. */
enum {
  CORIO__URING_BUF_GROUP = 0,
  CORIO__URING_BUF_COUNT = 256,
  CORIO__URING_BUF_SIZE = 16384
};

/* The ring of a loop on the io_uring backend, else NULL. */
corio__uring *corio__loop_uring(corio_loop *loop);
unsigned corio__uring_caps(const corio__uring *r);

/* An SQE for op, with opcode, fd and user data set and the rest zeroed,
 * or NULL (*err: -EBUSY when the queue stays full). Submitted by the
 * loop's next poll, or by corio__uring_flush. op NULL: an SQE whose CQE
 * is ignored (a cancel request). */
struct io_uring_sqe *corio__uring_prep(corio__uring *r, uint8_t opcode, int fd,
                                       corio__uring_op *op, int *err);
/* Asks the kernel to cancel every op of `op` (their last CQEs still
 * come): 0 or a negative errno. */
int corio__uring_cancel(corio__uring *r, corio__uring_op *op);
/* Takes back op's SQE if the kernel has not seen it yet (the ring not
 * enabled yet, an enter that failed): it becomes a no-op whose CQE is
 * ignored. 1 if it did, and then no CQE of op comes; 0 if op is in the
 * kernel (or not armed). Before an fd closes: a request submitted after
 * the close would act on whatever file reuses the number. */
int corio__uring_withdraw(corio__uring *r, corio__uring_op *op);
/* Submits what is queued now, without waiting: 0 or a negative errno. */
int corio__uring_flush(corio__uring *r);

/* The provided buffers, set up on first use: 0 or a negative errno. */
int corio__uring_bufs_ready(corio__uring *r);
/* Buffer bid's bytes (a CQE's flags >> IORING_CQE_BUFFER_SHIFT). */
char *corio__uring_buf(corio__uring *r, unsigned bid);
/* Gives buffer bid back to the kernel. */
void corio__uring_buf_recycle(corio__uring *r, unsigned bid);

#endif
