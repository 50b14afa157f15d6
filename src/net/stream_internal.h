/* A stream's state, shared by the files of src/net/. The connection owns
 * its reads (DESIGN.md §7): on_readable fills `in`, the read calls of
 * stream_read.c take from it, so a read that is cancelled consumes
 * nothing. */
#ifndef CORIO_NET_STREAM_INTERNAL_H
#define CORIO_NET_STREAM_INTERNAL_H

#include <stddef.h>
#include <sys/uio.h>

#include "corio/net.h"
#include "loop/uring.h"
#include "net/net_loop.h"
#include "sync/waitq.h"
#include "task/wait.h"

/* Bytes in a buffer: data at [pos, pos + len) of [0, cap). */
typedef struct stream_buf {
  char *data;
  size_t cap, pos, len;
} stream_buf;

struct corio_stream {
  corio_loop *loop;
  corio__net_loop *net;
  int refs;
  int fd;
  int error; /* the connection's error once it was lost (negative), else 0 */

  unsigned is_socket : 1;
  unsigned can_write_eof : 1;
  unsigned reading : 1;         /* the reader watcher is installed */
  unsigned writing : 1;         /* the writer watcher is installed */
  unsigned eof : 1;             /* the peer's EOF was read */
  unsigned closing : 1;         /* close or abort was called */
  unsigned closed : 1;          /* the fd is closed */
  unsigned eof_wanted : 1;      /* write_eof was called */
  unsigned eof_sent : 1;        /* shutdown(SHUT_WR) done */
  unsigned write_paused : 1;    /* above the high-water mark until at low */
  unsigned closing_ref : 1;     /* holds a reference until the fd closes */
  unsigned handler_started : 1; /* a server's handler ran (server.c) */
  unsigned read_only : 1;       /* a pipe's read end: writes are -EBADF */
  unsigned uring : 1;           /* reads and writes are ops on the ring */
  unsigned recv_armed : 1;      /* the multishot recv is in flight */
  unsigned recv_cancelled : 1;  /* ... and asked to stop */
  unsigned send_armed : 1;      /* a send of `sending` is in flight */
  unsigned batch_writes : 1;    /* CORIO_NET_BATCH_WRITES */

  stream_buf in;
  size_t limit;
  corio__wait *reader; /* the task waiting in a read, if any */

  stream_buf out; /* what the kernel did not take */
  /* io_uring streams: the bytes the send in flight reads (never moved
   * while it is), and the ops; the memory stays until their last CQEs
   * (corio__stream_free_unused). */
  stream_buf sending;
  corio__uring *ring;
  corio__uring_op recv_op, send_op;
  size_t high_water, low_water;
  sync_waitq drainers;
  sync_waitq closers;

  /* TLS state (tls_stream.c); NULL on a plain stream, so the plain paths
   * pay one predictable branch. */
  struct corio__tls *tls;

  /* The loop's list of open streams (net_loop.c). */
  corio_stream *prev, *next;
  /* A server's connection: its list of clients (server.c). */
  struct corio_server *server;
  corio_stream *client_prev, *client_next;
};

/* stream_describe.c: what a task waiting on a stream waits on (the
 * object is the stream). */
extern const corio__wait_kind corio__stream_read_kind;
extern const corio__wait_kind corio__stream_drain_kind;
extern const corio__wait_kind corio__stream_closed_kind;

/* stream.c */
/* Wraps fd (owned from now on, closed on failure too). family: the
 * socket's (AF_INET...), -1 for a socket whose family is to be found, or
 * AF_UNSPEC for an fd that is not a socket. */
int corio__stream_new(corio_loop *loop, int fd, int family,
                      const corio_connect_options *options, corio_stream **out);
/* Frees a stream nobody refers to, once no io_uring op is in flight. */
void corio__stream_free_unused(corio_stream *s);
/* Closes the fd now: buffered writes dropped, every waiter woken. */
void corio__stream_force_close(corio_stream *s);
/* The read side has ended: EOF, an error, or the stream is closing. */
/* Reading pauses above asyncio's mark: more than twice the limit
 * buffered (written so that a huge limit cannot overflow). */
static inline int corio__stream_above_read_mark(const corio_stream *s) {
  return s->in.len > s->limit && s->in.len - s->limit > s->limit;
}

static inline int corio__stream_read_ended(const corio_stream *s) {
  return s->eof || s->error || s->closing;
}
/* After bytes were taken from `in`: give an empty buffer back, resume
 * reading below the limit. */
void corio__stream_consumed(corio_stream *s);
/* Waits for the read side to change (more bytes, EOF, error, close).
 * Returns 0, CORIO_EREADBUSY, CORIO_ENOTASK, -ECANCELED, CORIO_ECLOSED. */
int corio__stream_wait_readable(corio_stream *s);
/* For the TLS layer (tls_stream.c), which fills `in` with plaintext and
 * sends ciphertext through the plain send path. */
int corio__stream_start_reading(corio_stream *s);
void corio__stream_stop_reading(corio_stream *s);
void corio__stream_wake_reader(corio_stream *s, int now);
/* Makes room at the end of `in` for a read (0 or -ENOMEM). */
int corio__stream_read_room(corio_stream *s);
/* ... for `need` more bytes. */
int corio__stream_read_room_for(corio_stream *s, size_t need);
/* Bytes written and not yet taken by the kernel. */
static inline size_t corio__stream_pending(const corio_stream *s) {
  return s->out.len + s->sending.len;
}
/* Appends iov (less its first skip bytes) to `out`: 0 or -ENOMEM. */
int corio__stream_append_out(corio_stream *s, const struct iovec *iov,
                             int iovcnt, size_t skip);
/* After the kernel took bytes: wakes drainers, finishes a close or
 * write_eof once nothing is pending. */
void corio__stream_after_flush(corio_stream *s);
void corio__stream_update_write_paused(corio_stream *s);
/* Gives an empty `in` buffer back. */
void corio__stream_release_in(corio_stream *s);
/* The connection failed: the error sticks, the fd closes. */
void corio__stream_lost(corio_stream *s, int error);
/* Sends at once what the kernel takes, queues the rest (write's path
 * without its checks): 0 or the error the connection was lost to. */
int corio__stream_send_raw(corio_stream *s, const void *data, size_t len);

/* stream_uring.c: the completion path of a socket stream on an io_uring
 * loop (docs/loop.md, "The io_uring backend"). */
/* Whether a new stream of this family uses it (sets s->uring, s->ring). */
void corio__stream_uring_attach(corio_stream *s, int family);
/* The multishot recv: armed (0 or a negative errno), asked to stop. */
int corio__stream_uring_recv(corio_stream *s);
void corio__stream_uring_recv_stop(corio_stream *s);
/* Queues iov (total bytes, > 0) for a send op, after what is pending:
 * 0 or an error. */
int corio__stream_uring_write(corio_stream *s, const struct iovec *iov,
                              int iovcnt, size_t total);
/* Before the fd closes: every op asked to stop, the requests submitted.
 * Their last CQEs come later; the ops' references keep the stream. */
void corio__stream_uring_cancel(corio_stream *s);

#endif
