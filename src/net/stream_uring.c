/* A socket stream on an io_uring loop: completions instead of readiness.
 *
 * Reads: one multishot recv per connection, picking buffers from the
 * loop's provided-buffer ring. Each CQE's bytes are copied into the
 * stream's `in` at once and the buffer goes back, so the transport owns
 * what arrived: a reader cancelled while waiting loses nothing, and no
 * op ever holds a pointer into a task's stack.
 *
 * Writes: with nothing pending, a write goes to the socket at once, as
 * asyncio's transports do (callers may rely on the bytes having left
 * when write returns). What the socket does not take is copied into
 * `out`; one send op at a time reads it from `sending`, which nothing
 * moves or frees while it is in flight. With CORIO_NET_BATCH_WRITES,
 * small writes skip the direct send: they are queued as send ops that go
 * in with the loop's one io_uring_enter per iteration, so a busy server
 * makes one syscall per iteration rather than one per write. From 64 KiB
 * up the direct send is always tried first, so bulk data is not copied
 * for nothing.
 *
 * Teardown: closing asks the kernel to cancel the ops before the fd
 * closes. The ops hold no reference (the last user reference still
 * closes the stream), but its memory stays until their last CQEs, the
 * last of which frees it (corio__uring_exit reaps them if the loop closes
 * first). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/fault.h"
#include "core/sys_net.h"
#include "net/stream_internal.h"
#include "net/tls_internal.h"

#if defined(__linux__) && defined(CORIO_HAVE_IO_URING)

#include <linux/io_uring.h>

enum { DIRECT_SEND_MIN = 64 * 1024 };

static void recv_done(corio__uring_op *op, int res, unsigned flags);
static void send_done(corio__uring_op *op, int res, unsigned flags);

void corio__stream_uring_attach(corio_stream *s, int family) {
  corio__uring *ring = corio__loop_uring(s->loop);
  unsigned need = CORIO__URING_RECV_MULTISHOT | CORIO__URING_SEND;

  if (!ring || (family != AF_INET && family != AF_INET6 && family != AF_UNIX))
    return;
  if ((corio__uring_caps(ring) & need) != need ||
      corio__uring_bufs_ready(ring) < 0)
    return; /* readiness, as on epoll */
  s->uring = 1;
  s->ring = ring;
  s->recv_op.done = recv_done;
  s->send_op.done = send_done;
}

/* ---- reading ------------------------------------------------------------- */

static int arm_recv(corio_stream *s) {
  int err = 0;
  struct io_uring_sqe *sqe =
      corio__uring_prep(s->ring, IORING_OP_RECV, s->fd, &s->recv_op, &err);

  if (!sqe)
    return err;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = CORIO__URING_BUF_GROUP;
  s->recv_armed = 1;
  s->recv_cancelled = 0;
  return 0;
}

int corio__stream_uring_recv(corio_stream *s) {
  /* Still in flight, asked to stop: its last CQE arms it again. */
  if (s->recv_armed)
    return 0;
  return arm_recv(s);
}

void corio__stream_uring_recv_stop(corio_stream *s) {
  if (!s->recv_armed || s->recv_cancelled)
    return;
  /* Bytes already on their way still arrive and are kept. */
  if (corio__uring_cancel(s->ring, &s->recv_op) == 0)
    s->recv_cancelled = 1;
}

/* n bytes arrived (0: EOF). */
static void deliver(corio_stream *s, const char *data, size_t n) {
  stream_buf *b = &s->in;

  if (s->tls) {
    corio__tls_received(s, data, n);
    return;
  }
  if (n == 0) {
    s->eof = 1;
    corio__stream_stop_reading(s);
    return;
  }
  if (corio__stream_read_room_for(s, n) < 0) {
    corio__stream_lost(s, -ENOMEM);
    return;
  }
  memcpy(b->data + b->pos + b->len, data, n);
  b->len += n;
  /* Pause above twice the limit, unless a reader waits for more. */
  if (corio__stream_above_read_mark(s) && !s->reader)
    corio__stream_stop_reading(s);
}

static void recv_done(corio__uring_op *op, int res, unsigned flags) {
  corio_stream *s = corio__container_of(op, corio_stream, recv_op);
  int last = !(flags & IORING_CQE_F_MORE), changed = 0;

  if (flags & IORING_CQE_F_BUFFER) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

    /* The readiness path's fault seam (corio__sys_recv), so the same
     * walks run here: the bytes are dropped with the connection. */
    if (res > 0 && corio__fault_hit(CORIO__FAULT_RECV)) {
      corio__uring_buf_recycle(s->ring, bid);
      flags &= ~(unsigned)IORING_CQE_F_BUFFER;
      res = -ECONNRESET;
    }
  }
  if (flags & IORING_CQE_F_BUFFER) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

    if (res > 0 && !s->closed) {
      deliver(s, corio__uring_buf(s->ring, bid), (size_t)res);
      changed = 1;
    }
    corio__uring_buf_recycle(s->ring, bid);
  } else if (res == 0 && !s->closed) {
    deliver(s, NULL, 0);
    changed = 1;
  } else if (res < 0 && res != -ECANCELED && res != -ENOBUFS && !s->closed) {
    /* Out of provided buffers (-ENOBUFS) only ends this op: re-armed
     * below, the others having given theirs back meanwhile. */
    corio__stream_lost(s, res);
    changed = 1;
  }
  /* TLS wakes its reader itself, after decrypting. The op still counts
   * as in flight here, so the reader cannot free the stream under us. */
  if (changed && !s->tls)
    corio__stream_wake_reader(s, 1);
  if (!last)
    return;
  s->recv_armed = 0;
  s->recv_cancelled = 0;
  if (s->refs > 0 && s->reading && !corio__stream_read_ended(s)) {
    if (arm_recv(s) == 0)
      return;
    s->recv_armed = 1; /* holds the memory across the close */
    corio__stream_lost(s, -ENOMEM);
    s->recv_armed = 0;
  }
  corio__stream_free_unused(s);
}

/* ---- writing ------------------------------------------------------------- */

static int arm_send(corio_stream *s) {
  int err = 0;
  struct io_uring_sqe *sqe =
      corio__uring_prep(s->ring, IORING_OP_SEND, s->fd, &s->send_op, &err);

  if (!sqe)
    return err;
  sqe->addr = (uint64_t)(uintptr_t)(s->sending.data + s->sending.pos);
  sqe->len =
      (unsigned)(s->sending.len > 0x7ffff000 ? 0x7ffff000 : s->sending.len);
  sqe->msg_flags = MSG_NOSIGNAL;
  return 0;
}

/* Moves what `out` holds to `sending` and sends it, unless a send is in
 * flight (its completion comes back here). */
static int start_send(corio_stream *s) {
  stream_buf spare;
  int rc;

  if (s->send_armed || s->out.len == 0 || s->closed)
    return 0;
  /* Swap: the emptied buffer becomes `out`, for the next writes. */
  spare = s->sending;
  s->sending = s->out;
  s->out = spare;
  s->out.pos = s->out.len = 0;
  if ((rc = arm_send(s)) < 0)
    return rc;
  s->send_armed = 1;
  return 0;
}

int corio__stream_uring_write(corio_stream *s, const struct iovec *iov,
                              int iovcnt, size_t total) {
  size_t skip = 0;
  int rc;

  /* Nothing pending: what the socket takes now is not copied. */
  if ((!s->batch_writes || total >= DIRECT_SEND_MIN) &&
      corio__stream_pending(s) == 0) {
    ssize_t n = corio__sys_sendv(s->fd, iov, iovcnt, 1);

    if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK) {
      corio__stream_lost(s, (int)n);
      return (int)n;
    }
    skip = n > 0 ? (size_t)n : 0;
    if (skip == total)
      return 0;
  }
  if ((rc = corio__stream_append_out(s, iov, iovcnt, skip)) < 0) {
    if (skip) /* part left already: a retry would send it twice */
      corio__stream_lost(s, rc);
    return rc;
  }
  if ((rc = start_send(s)) < 0) {
    corio__stream_lost(s, rc);
    return rc;
  }
  corio__stream_update_write_paused(s);
  return 0;
}

static void send_done(corio__uring_op *op, int res, unsigned flags) {
  corio_stream *s = corio__container_of(op, corio_stream, send_op);
  stream_buf *b = &s->sending;

  (void)flags;
  if (res > 0 && corio__fault_hit(CORIO__FAULT_SEND))
    res = -EPIPE; /* corio__sys_send's fault seam */
  if (!s->closed) {
    if (res > 0) {
      b->pos += (size_t)res;
      b->len -= (size_t)res;
    } else if (res != -ECANCELED) {
      corio__stream_lost(s, res == 0 ? -EPIPE : res);
    }
  }
  /* A short send: the rest goes by the same op. */
  if (!s->closed && b->len) {
    if (arm_send(s) == 0)
      return;
    corio__stream_lost(s, -ENOMEM);
  }
  s->send_armed = 0;
  b->pos = b->len = 0;
  /* Kept while small, as after_flush keeps `out`. */
  if (!s->closed && b->cap > 4096) {
    corio__free(b->data, b->cap);
    memset(b, 0, sizeof *b);
  }
  if (s->closed) {
    if (b->data)
      corio__free(b->data, b->cap);
    memset(b, 0, sizeof *b);
    corio__stream_free_unused(s);
  } else if (start_send(s) < 0) {
    corio__stream_lost(s, -ENOMEM);
  } else {
    /* Last: it may close the stream and let it go. */
    corio__stream_after_flush(s);
  }
}

void corio__stream_uring_cancel(corio_stream *s) {
  /* Ops the kernel has not seen are taken back: submitted after the fd
   * closes, they would read from or send to the file that reuses its
   * number. */
  if (s->recv_armed && corio__uring_withdraw(s->ring, &s->recv_op))
    s->recv_armed = s->recv_cancelled = 0;
  if (s->send_armed && corio__uring_withdraw(s->ring, &s->send_op))
    s->send_armed = 0;
  if (s->recv_armed && !s->recv_cancelled &&
      corio__uring_cancel(s->ring, &s->recv_op) == 0)
    s->recv_cancelled = 1;
  if (s->send_armed)
    (void)corio__uring_cancel(s->ring, &s->send_op);
  /* Dropped, as `out` is; the buffer itself stays until the op ends. */
  s->sending.pos = s->sending.len = 0;
  /* Submitted now, while the fd is still the one the ops were given. */
  (void)corio__uring_flush(s->ring);
}

#else

void corio__stream_uring_attach(corio_stream *s, int family) {
  (void)s, (void)family;
}

int corio__stream_uring_recv(corio_stream *s) {
  (void)s;
  return -ENOSYS;
}

void corio__stream_uring_recv_stop(corio_stream *s) { (void)s; }

int corio__stream_uring_write(corio_stream *s, const struct iovec *iov,
                              int iovcnt, size_t total) {
  (void)s, (void)iov, (void)iovcnt, (void)total;
  return -ENOSYS;
}

void corio__stream_uring_cancel(corio_stream *s) { (void)s; }

#endif
