/* A stream's life and its write side: the fd callbacks that fill the read
 * buffer and flush the write buffer, write/drain/write_eof, close/abort,
 * and get_extra_info. The read calls are in stream_read.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/raw.h"
#include "core/sys_fd.h"
#include "core/sys_net.h"
#include "loop/ext.h"
#include "net/stream_internal.h"
#include "net/tls_internal.h"

/* Below this much free space at the end, the read buffer is compacted or
 * grown before a read, so no read is ever tiny. */
enum { READ_MIN_SPACE = 4096 };
/* The largest write buffer an io_uring stream keeps while empty. */
enum { KEPT_OUT_CAP = 4096 };
/* A reader that waits with at most this much buffered (a slow peer's
 * partial line) parks it in an allocation of this size and gives the
 * read block back: thousands of slow connections then cost their bytes,
 * not 64 KiB each. Parked buffers are the only ones below a block. */
enum { PARKED_CAP = 1024 };

static void stream_free(corio_stream *s) {
  corio_loop *loop = s->loop;

  if (s->in.data) {
    if (s->in.cap == CORIO__NET_READ_CHUNK)
      corio__net_buffer_give(s->net, s->in.data);
    else
      corio__free(s->in.data, s->in.cap);
  }
  if (s->sending.data)
    corio__free(s->sending.data, s->sending.cap);
  if (s->tls)
    corio__tls_free(s);
  corio__free(s, sizeof *s);
  corio__loop_mem_unref(loop);
}

corio_stream *corio_stream_ref(corio_stream *stream) {
  if (stream)
    stream->refs++;
  return stream;
}

void corio_stream_unref(corio_stream *stream) {
  if (!stream || --stream->refs > 0)
    return;
  if (!stream->closed) {
    /* The last reference closes the stream; a pending flush keeps it alive
     * through closing_ref until the fd is closed. */
    stream->refs++;
    (void)corio_stream_close(stream);
    if (--stream->refs > 0)
      return;
  }
  corio__stream_free_unused(stream);
}

void corio__stream_free_unused(corio_stream *s) {
  /* An io_uring op in flight may still write into the stream's buffers:
   * its last CQE frees it (stream_uring.c). */
  if (s->refs == 0 && !s->recv_armed && !s->send_armed)
    stream_free(s);
}

/* ---- watchers ------------------------------------------------------------ */

static int on_readable(void *arg);
static int on_writable(void *arg);

static int start_reading(corio_stream *s) {
  int rc;

  if (s->reading || s->closed)
    return 0;
  rc = s->uring ? corio__stream_uring_recv(s)
                : corio_loop_add_reader(s->loop, s->fd, on_readable, s);
  if (rc == 0)
    s->reading = 1;
  return rc;
}

static void stop_reading(corio_stream *s) {
  if (!s->reading)
    return;
  if (s->uring)
    corio__stream_uring_recv_stop(s);
  else
    (void)corio_loop_remove_reader(s->loop, s->fd);
  s->reading = 0;
}

/* Queues the waiting reader's step. Only on_readable steps it at once
 * (now), as its very last action: the reader may finish its handler,
 * whose server then frees the stream. Anywhere else (close called from a
 * loop callback) the caller goes on using the stream after the wake.
 * The reader stays registered until it has run (it unregisters itself),
 * so no other task reads in between: a second wake does nothing. */
static void wake_reader(corio_stream *s, int now) {
  if (s->reader)
    corio__wait_wake(s->reader, 0, now);
}

static void release_in(corio_stream *s) {
  if (s->in.cap == CORIO__NET_READ_CHUNK)
    corio__net_buffer_give(s->net, s->in.data);
  else
    corio__free(s->in.data, s->in.cap);
  memset(&s->in, 0, sizeof s->in);
}

static void release_out(corio_stream *s) {
  if (s->out.data)
    corio__free(s->out.data, s->out.cap);
  memset(&s->out, 0, sizeof s->out);
}

void corio__stream_force_close(corio_stream *s) {
  if (s->closed)
    return;
  stop_reading(s);
  if (s->writing) {
    (void)corio_loop_remove_writer(s->loop, s->fd);
    s->writing = 0;
  }
  if (s->uring)
    corio__stream_uring_cancel(s);
  corio__sys_close(s->fd);
  s->fd = -1;
  s->closed = 1;
  s->closing = 1;
  release_out(s);
  corio__net_loop_remove_stream(s->net, s);
  if (s->tls)
    corio__tls_closed(s);
  s->write_paused = 0;
  wake_reader(s, 0);
  corio__waitq_wake_all(&s->drainers, 0);
  corio__waitq_wake_all(&s->closers, 0);
  if (s->closing_ref) {
    s->closing_ref = 0;
    corio_stream_unref(s);
  }
}

/* The connection failed: the error sticks, the socket closes. */
static corio__cold void connection_lost(corio_stream *s, int error) {
  if (!s->error)
    s->error = error;
  corio__stream_force_close(s);
}

/* Grows or compacts `in` so that `need` more bytes fit. */
static int make_read_room(corio_stream *s, size_t need) {
  stream_buf *b = &s->in;
  size_t cap;
  char *data;

  if (!b->data) {
    b->data = corio__net_buffer_take(s->net);
    if (!b->data)
      return -ENOMEM;
    b->cap = CORIO__NET_READ_CHUNK;
    b->pos = b->len = 0;
    return 0;
  }
  if (b->cap - b->pos - b->len >= need)
    return 0;
  if (b->cap < CORIO__NET_READ_CHUNK &&
      b->len + need <= CORIO__NET_READ_CHUNK) {
    data = corio__net_buffer_take(s->net); /* a parked buffer: unpark */
    if (!data)
      return -ENOMEM;
    memcpy(data, b->data + b->pos, b->len);
    corio__free(b->data, b->cap);
    b->data = data;
    b->cap = CORIO__NET_READ_CHUNK;
    b->pos = 0;
    return 0;
  }
  if (b->pos > 0 && b->cap - b->len >= b->cap / 2 && b->cap - b->len >= need) {
    memmove(b->data, b->data + b->pos, b->len);
    b->pos = 0;
    return 0;
  }
  cap = b->cap * 2;
  while (cap - b->len < need)
    cap *= 2;
  data = corio__alloc(cap);
  if (!data)
    return -ENOMEM;
  memcpy(data, b->data + b->pos, b->len);
  if (b->cap == CORIO__NET_READ_CHUNK)
    corio__net_buffer_give(s->net, b->data);
  else
    corio__free(b->data, b->cap);
  b->data = data;
  b->cap = cap;
  b->pos = 0;
  return 0;
}

/* One read per readiness event: level triggering reports the fd again if
 * more is waiting, and other connections get their turn in between. */
static int on_readable(void *arg) {
  corio_stream *s = arg;
  stream_buf *b = &s->in;
  ssize_t n;
  int rc;

  if (corio__unlikely(s->tls))
    return corio__tls_on_readable(s);
  if (s->closed || !s->reading)
    return 0;
  if ((rc = make_read_room(s, READ_MIN_SPACE)) < 0) {
    /* The bytes would have nowhere to go: fail the connection rather
     * than spin on a readable socket. */
    connection_lost(s, rc);
    return 0;
  }
  n = corio__sys_recv(s->fd, b->data + b->pos + b->len,
                      b->cap - b->pos - b->len);
  if (n > 0) {
    b->len += (size_t)n;
    /* Pause above twice the limit, unless a reader waits for more. */
    if (corio__stream_above_read_mark(s) && !s->reader)
      stop_reading(s);
  } else if (n == 0) {
    s->eof = 1;
    stop_reading(s);
  } else if (n == -EAGAIN || n == -EWOULDBLOCK) {
    if (b->len == 0)
      release_in(s);
    return 0;
  } else {
    if (b->len == 0)
      release_in(s);
    connection_lost(s, (int)n);
    return 0;
  }
  if (b->len == 0)
    release_in(s);
  wake_reader(s, 1);
  return 0;
}

void corio__stream_consumed(corio_stream *s) {
  if (s->in.len == 0) {
    if (s->in.data)
      release_in(s);
  }
  if (!s->reading && !corio__stream_read_ended(s) && s->in.len <= s->limit)
    (void)start_reading(s);
}

/* See PARKED_CAP. Parking is only an economy: without memory for it the
 * block stays. */
static void park_read_buffer(corio_stream *s) {
  stream_buf *b = &s->in;
  char *data;

  if (b->cap != CORIO__NET_READ_CHUNK || b->len > PARKED_CAP)
    return;
  if (b->len == 0) {
    release_in(s);
    return;
  }
  if (!(data = corio__alloc(PARKED_CAP)))
    return;
  memcpy(data, b->data + b->pos, b->len);
  corio__net_buffer_give(s->net, b->data);
  b->data = data;
  b->cap = PARKED_CAP;
  b->pos = 0;
}

static void reader_detach(corio__wait *w) {
  corio_stream *s = w->data;

  if (s->reader == w)
    s->reader = NULL;
}

int corio__stream_wait_readable(corio_stream *s) {
  corio_task *self = corio__wait_self();
  corio__wait w = {.detach = reader_detach,
                   .data = s,
                   .kind = &corio__stream_read_kind,
                   .object = s};
  int rc;

  if (!self)
    return CORIO_ENOTASK;
  if (s->reader)
    return CORIO_EREADBUSY;
  /* A reader that wants more than is buffered overrides the pause (as
   * asyncio's _wait_for_data does). */
  if (!s->reading && (rc = start_reading(s)) < 0)
    return rc;
  park_read_buffer(s);
  w.task = self;
  s->reader = &w;
  s->refs++;
  rc = corio__wait_suspend(&w);
  if (s->reader == &w)
    s->reader = NULL;
  if (s->tls && rc == 0 && s->error)
    corio__tls_report(s);
  corio_stream_unref(s);
  return rc;
}

int corio__stream_start_reading(corio_stream *s) { return start_reading(s); }

void corio__stream_stop_reading(corio_stream *s) { stop_reading(s); }

void corio__stream_wake_reader(corio_stream *s, int now) {
  wake_reader(s, now);
}

int corio__stream_read_room(corio_stream *s) {
  return make_read_room(s, READ_MIN_SPACE);
}

int corio__stream_read_room_for(corio_stream *s, size_t need) {
  return make_read_room(s, need);
}

void corio__stream_release_in(corio_stream *s) { release_in(s); }

void corio__stream_lost(corio_stream *s, int error) {
  connection_lost(s, error);
}

/* ---- creation ------------------------------------------------------------ */

static int socket_family(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
    return -1;
  return ss.ss_family;
}

int corio__stream_new(corio_loop *loop, int fd, int family,
                      const corio_connect_options *options,
                      corio_stream **out) {
  static const corio_connect_options defaults;
  corio__net_loop *net;
  corio_stream *s;
  int rc, access_mode = O_RDWR;

  if (!options)
    options = &defaults;
  if ((rc = corio__net_loop_get(loop, &net)) < 0)
    goto fail;
  s = corio__calloc(sizeof *s);
  if (!s) {
    rc = -ENOMEM;
    goto fail;
  }
  s->loop = loop;
  s->net = net;
  s->refs = 1;
  s->fd = fd;
  s->is_socket = family != AF_UNSPEC;
  s->can_write_eof = s->is_socket;
  s->limit = options->limit ? options->limit : CORIO_STREAM_DEFAULT_LIMIT;
  s->high_water = CORIO_STREAM_DEFAULT_HIGH_WATER;
  s->low_water = CORIO_STREAM_DEFAULT_LOW_WATER;
  if (family < 0)
    family = socket_family(fd);
  if (family == AF_INET || family == AF_INET6) {
    /* asyncio sets TCP_NODELAY on every TCP connection. */
    if (!(options->flags & CORIO_NET_NO_NODELAY))
      (void)corio__sys_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (options->flags & CORIO_NET_KEEPALIVE)
      (void)corio__sys_setsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  }
  corio__stream_uring_attach(s, family);
  s->batch_writes = (options->flags & CORIO_NET_BATCH_WRITES) != 0;
  /* The write end of a pipe has nothing to read: watching it would only
   * report the reader's departure as readable, and read() would fail. */
  if (family == AF_UNSPEC)
    access_mode = corio__raw_fcntl(fd, F_GETFL, 0) & O_ACCMODE;
  /* The read end of a pipe cannot be written: a write is refused up
   * front, so that its -EBADF does not count as the connection lost. */
  s->read_only = access_mode == O_RDONLY;
  if (access_mode == O_WRONLY)
    s->eof = 1;
  /* Registered with the poller once, for the stream's life. */
  else if ((rc = start_reading(s)) < 0) {
    corio__free(s, sizeof *s);
    goto fail;
  }
  corio__loop_mem_ref(loop);
  corio__net_loop_add_stream(net, s);
  *out = s;
  return 0;
fail:
  corio__sys_close(fd);
  return rc;
}

int corio_stream_open_fd(corio_loop *loop, int fd,
                         const corio_connect_options *options,
                         corio_stream **out) {
  int rc, type = 0;
  socklen_t len = sizeof type;
  int is_socket;

  if (fd < 0 || !out) {
    if (fd >= 0)
      corio__sys_close(fd);
    return -EINVAL;
  }
  if (!loop)
    loop = corio_loop_current();
  if (!loop) {
    corio__sys_close(fd);
    return CORIO_ENOLOOP;
  }
  is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
  if (is_socket && type != SOCK_STREAM) {
    corio__sys_close(fd);
    return -EPROTOTYPE;
  }
  if ((rc = corio__sys_set_nonblock_cloexec(fd)) < 0) {
    corio__sys_close(fd);
    return rc;
  }
  return corio__stream_new(loop, fd, is_socket ? -1 : AF_UNSPEC, options, out);
}

/* ---- writing ------------------------------------------------------------- */

int corio__stream_append_out(corio_stream *s, const struct iovec *iov,
                             int iovcnt, size_t skip) {
  stream_buf *b = &s->out;
  size_t total = 0, need;

  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  total -= skip;
  if (total > (size_t)SSIZE_MAX - b->len)
    return -ENOMEM;
  need = b->len + total;
  if (b->pos + need > b->cap) {
    if (need <= b->cap && b->pos > 0) {
      memmove(b->data, b->data + b->pos, b->len);
      b->pos = 0;
    } else {
      size_t cap = b->cap ? b->cap : s->uring ? KEPT_OUT_CAP / 4 : 16384;
      char *data;

      while (cap < need)
        cap *= 2;
      data = corio__alloc(cap);
      if (!data)
        return -ENOMEM;
      if (b->len)
        memcpy(data, b->data + b->pos, b->len);
      if (b->data)
        corio__free(b->data, b->cap);
      b->data = data;
      b->cap = cap;
      b->pos = 0;
    }
  }
  for (int i = 0; i < iovcnt; i++) {
    const char *p = iov[i].iov_base;
    size_t n = iov[i].iov_len;

    if (skip >= n) {
      skip -= n;
      continue;
    }
    memcpy(b->data + b->pos + b->len, p + skip, n - skip);
    b->len += n - skip;
    skip = 0;
  }
  return 0;
}

static int write_error(const corio_stream *s) {
  if (s->read_only)
    return -EBADF;
  if (s->error)
    return s->error;
  if (s->closing)
    return CORIO_ESTREAMCLOSED;
  if (s->eof_wanted)
    return CORIO_EWRITEEOF;
  return 0;
}

static void send_eof(corio_stream *s) {
  if (s->eof_sent || s->closed)
    return;
  s->eof_sent = 1;
  (void)corio__sys_shutdown(s->fd, SHUT_WR);
}

/* The write buffer emptied or shrank: wake drainers below the low-water
 * mark, finish a pending write_eof or close. */
void corio__stream_after_flush(corio_stream *s) {
  if (s->write_paused && corio__stream_pending(s) <= s->low_water) {
    s->write_paused = 0;
    corio__waitq_wake_all(&s->drainers, 0);
  }
  if (corio__stream_pending(s))
    return;
  /* An io_uring stream queues small writes as send ops (batched writes):
   * a small buffer is kept for the next ones, not freed and allocated
   * again each time. */
  if (!s->uring || s->out.cap > KEPT_OUT_CAP)
    release_out(s);
  if (s->writing) {
    (void)corio_loop_remove_writer(s->loop, s->fd);
    s->writing = 0;
  }
  if (s->closing) {
    if (!s->tls || corio__tls_may_close(s))
      corio__stream_force_close(s);
  } else if (s->eof_wanted)
    send_eof(s);
}

static int on_writable(void *arg) {
  corio_stream *s = arg;
  stream_buf *b = &s->out;
  ssize_t n;

  if (s->closed || !b->len)
    return 0;
  n = corio__sys_send(s->fd, b->data + b->pos, b->len, s->is_socket);
  if (n == -EAGAIN || n == -EWOULDBLOCK)
    return 0;
  if (n < 0) {
    connection_lost(s, (int)n);
    return 0;
  }
  b->pos += (size_t)n;
  b->len -= (size_t)n;
  corio__stream_after_flush(s);
  return 0;
}

void corio__stream_update_write_paused(corio_stream *s) {
  if (corio__stream_pending(s) > s->high_water)
    s->write_paused = 1;
}

/* What the kernel did not take (everything, once something is queued)
 * goes into the write buffer, flushed by the writer watcher. Out of line:
 * it keeps the direct path of write short. */
static corio__noinline int queue_rest(corio_stream *s, const struct iovec *iov,
                                      int iovcnt, size_t skip) {
  int rc;

  if ((rc = corio__stream_append_out(s, iov, iovcnt, skip)) < 0) {
    /* Part of it left already: a retry would send that part twice, so
     * the connection cannot go on. */
    if (skip)
      connection_lost(s, rc);
    return rc;
  }
  if (!s->writing) {
    rc = corio_loop_add_writer(s->loop, s->fd, on_writable, s);
    if (rc < 0) {
      connection_lost(s, rc);
      return rc;
    }
    s->writing = 1;
  }
  corio__stream_update_write_paused(s);
  return 0;
}

/* A direct send's outcome: the bytes the kernel took (0 if it would
 * block), or the error the connection was lost to. */
static ssize_t sent(corio_stream *s, ssize_t n) {
  if (n >= 0)
    return n;
  if (n == -EAGAIN || n == -EWOULDBLOCK)
    return 0;
  connection_lost(s, (int)n);
  return n;
}

int corio_stream_writev(corio_stream *stream, const struct iovec *iov,
                        int iovcnt) {
  size_t total = 0;
  ssize_t n = 0;
  int rc;

  if (!stream || iovcnt < 0 || (iovcnt > 0 && !iov) || iovcnt > IOV_MAX)
    return -EINVAL;
  if ((rc = write_error(stream)) < 0)
    return rc;
  for (int i = 0; i < iovcnt; i++) {
    if ((!iov[i].iov_base && iov[i].iov_len) ||
        iov[i].iov_len > (size_t)SSIZE_MAX - total)
      return -EINVAL;
    total += iov[i].iov_len;
  }
  if (total == 0)
    return 0;
  if (corio__unlikely(stream->tls))
    return corio__tls_writev(stream, iov, iovcnt);
  if (stream->uring)
    return corio__stream_uring_write(stream, iov, iovcnt, total);
  if (stream->out.len == 0) {
    /* Nothing queued: straight to the socket, no copy, no wake-up. */
    n = sent(stream,
             corio__sys_sendv(stream->fd, iov, iovcnt, stream->is_socket));
    if (n < 0 || (size_t)n == total)
      return n < 0 ? (int)n : 0;
  }
  return queue_rest(stream, iov, iovcnt, (size_t)n);
}

/* One buffer to the socket: straight out when nothing is queued (no copy,
 * no wake-up), the rest queued. TLS sends its records through here. */
int corio__stream_send_raw(corio_stream *s, const void *data, size_t len) {
  struct iovec iov;
  ssize_t n = 0;

  if (s->uring) {
    memcpy(&iov.iov_base, &data, sizeof data);
    iov.iov_len = len;
    return corio__stream_uring_write(s, &iov, 1, len);
  }
  if (s->out.len == 0) {
    n = sent(s, corio__sys_send(s->fd, data, len, s->is_socket));
    if (n < 0 || (size_t)n == len)
      return n < 0 ? (int)n : 0;
  }
  /* The iovec only carries the pointer: nothing writes through it. */
  memcpy(&iov.iov_base, &data, sizeof data);
  iov.iov_len = len;
  return queue_rest(s, &iov, 1, (size_t)n);
}

int corio_stream_write(corio_stream *stream, const void *data, size_t len) {
  int rc;

  if (!stream || (!data && len) || len > (size_t)SSIZE_MAX)
    return -EINVAL;
  if ((rc = write_error(stream)) < 0)
    return rc;
  if (len == 0)
    return 0;
  if (corio__unlikely(stream->tls)) {
    struct iovec iov;

    memcpy(&iov.iov_base, &data, sizeof data);
    iov.iov_len = len;
    return corio__tls_writev(stream, &iov, 1);
  }
  /* writev's path, without building and walking a vector. */
  return corio__stream_send_raw(stream, data, len);
}

int corio_stream_writelines(corio_stream *stream, const corio_bytes *bufs,
                            size_t n) {
  struct iovec iov[64];
  size_t done = 0;
  int rc;

  if (!stream || (n && !bufs))
    return -EINVAL;
  /* In batches of up to 64 buffers: only the first can go straight to
   * the socket, the rest queue behind what it left, so order holds. */
  while (done < n) {
    int count = 0;

    for (; count < 64 && done + (size_t)count < n; count++) {
      const void *data = bufs[done + (size_t)count].data;

      /* The iovec only carries the pointer: nothing writes through it. */
      memcpy(&iov[count].iov_base, &data, sizeof data);
      iov[count].iov_len = bufs[done + (size_t)count].len;
    }
    if ((rc = corio_stream_writev(stream, iov, count)) < 0)
      return rc;
    done += (size_t)count;
  }
  return 0;
}

int corio_stream_drain(corio_stream *stream) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!stream)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  stream->refs++;
  if (stream->closing) {
    /* asyncio: yield, so that a connection being lost is seen lost. */
    rc = corio_sleep(0);
  }
  while (rc == 0) {
    sync_waiter waiter;

    if (stream->error) {
      rc = stream->error;
      break;
    }
    if (stream->closed) {
      rc = -ECONNRESET;
      break;
    }
    if (!stream->write_paused)
      break;
    rc = corio__waitq_wait_on(&stream->drainers, &waiter, self,
                              &corio__stream_drain_kind, stream);
    /* Woken: drained, or the connection went. As asyncio's drain waiter,
     * a close that sent everything first is a success; a lost one is
     * its error. */
    if (rc == 0) {
      rc = stream->error;
      break;
    }
  }
  corio_stream_unref(stream);
  return rc;
}

int corio_stream_write_all(corio_stream *stream, const void *data, size_t len) {
  int rc = corio_stream_write(stream, data, len);

  return rc < 0 ? rc : corio_stream_drain(stream);
}

int corio_stream_set_write_buffer_limits(corio_stream *stream, size_t high,
                                         size_t low) {
  if (!stream)
    return -EINVAL;
  if (high == 0) {
    high = CORIO_STREAM_DEFAULT_HIGH_WATER;
    if (low == 0)
      low = CORIO_STREAM_DEFAULT_LOW_WATER;
  }
  if (low > high)
    return -EINVAL;
  stream->high_water = high;
  stream->low_water = low;
  corio__stream_update_write_paused(stream);
  if (stream->write_paused && corio__stream_pending(stream) <= low) {
    stream->write_paused = 0;
    corio__waitq_wake_all(&stream->drainers, 0);
  }
  return 0;
}

size_t corio_stream_write_buffer_size(const corio_stream *stream) {
  return stream ? corio__stream_pending(stream) : 0;
}

int corio_stream_can_write_eof(const corio_stream *stream) {
  return stream && stream->can_write_eof;
}

int corio_stream_write_eof(corio_stream *stream) {
  int rc;

  if (!stream)
    return -EINVAL;
  if (!stream->can_write_eof)
    return -ENOTSUP;
  if (stream->eof_wanted)
    return 0;
  if ((rc = write_error(stream)) < 0)
    return rc;
  stream->eof_wanted = 1;
  if (corio__stream_pending(stream) == 0)
    send_eof(stream);
  return 0;
}

/* ---- closing ------------------------------------------------------------- */

int corio_stream_close(corio_stream *stream) {
  if (!stream)
    return -EINVAL;
  if (stream->closing)
    return 0;
  stream->closing = 1;
  /* A TLS stream goes on reading, for the peer's close_notify. */
  if (!stream->tls || !corio__tls_shutdown(stream))
    stop_reading(stream);
  /* A reader sees the end of the stream (after what is buffered). */
  wake_reader(stream, 0);
  if (stream->closed)
    return 0;
  if (corio__stream_pending(stream) == 0 &&
      (!stream->tls || corio__tls_may_close(stream))) {
    corio__stream_force_close(stream);
    return 0;
  }
  /* The buffered bytes still leave; the stream lives until they have. */
  stream->closing_ref = 1;
  stream->refs++;
  return 0;
}

int corio_stream_abort(corio_stream *stream) {
  if (!stream)
    return -EINVAL;
  corio__stream_force_close(stream);
  return 0;
}

int corio_stream_is_closing(const corio_stream *stream) {
  return stream && stream->closing;
}

int corio_stream_wait_closed(corio_stream *stream) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!stream)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  stream->refs++;
  while (!stream->closed && rc == 0) {
    sync_waiter waiter;

    rc = corio__waitq_wait_on(&stream->closers, &waiter, self,
                              &corio__stream_closed_kind, stream);
  }
  corio_stream_unref(stream);
  return rc;
}

/* ---- get_extra_info ------------------------------------------------------ */

int corio_stream_fd(const corio_stream *stream) {
  return stream ? stream->fd : -1;
}

corio_loop *corio_stream_loop(const corio_stream *stream) {
  return stream ? stream->loop : NULL;
}

static int socket_name(const corio_stream *s, struct sockaddr *addr,
                       socklen_t *len, int peer) {
  int rc;

  if (!s || !addr || !len)
    return -EINVAL;
  if (s->closed)
    return CORIO_ESTREAMCLOSED;
  rc = peer ? getpeername(s->fd, addr, len) : getsockname(s->fd, addr, len);
  return rc == 0 ? 0 : -errno;
}

int corio_stream_peername(const corio_stream *stream, struct sockaddr *addr,
                          socklen_t *len) {
  return socket_name(stream, addr, len, 1);
}

int corio_stream_sockname(const corio_stream *stream, struct sockaddr *addr,
                          socklen_t *len) {
  return socket_name(stream, addr, len, 0);
}

static int set_option(corio_stream *s, int level, int name, int on) {
  if (!s)
    return -EINVAL;
  if (s->closed)
    return CORIO_ESTREAMCLOSED;
  return corio__sys_setsockopt_int(s->fd, level, name, on != 0);
}

int corio_stream_set_nodelay(corio_stream *stream, int on) {
  return set_option(stream, IPPROTO_TCP, TCP_NODELAY, on);
}

int corio_stream_set_keepalive(corio_stream *stream, int on) {
  return set_option(stream, SOL_SOCKET, SO_KEEPALIVE, on);
}
