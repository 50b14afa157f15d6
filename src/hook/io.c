/* read, write and the socket send/receive family. Inside a task each call
 * tries the kernel first (the fd is non-blocking underneath) and waits on
 * the loop only on EAGAIN, so a ready fd costs a table lookup more than
 * the C library's call. An inherited fd keeps its flags: a socket is
 * tried with MSG_DONTWAIT, a pipe called once poll says ready (written
 * PIPE_BUF bytes at a time). Blocking semantics are the
 * kernel's: a write to a stream socket or pipe takes everything (or stops
 * at a timeout or cancellation with the count so far), MSG_WAITALL waits
 * for all, SO_RCVTIMEO / SO_SNDTIMEO give EAGAIN or the partial count,
 * MSG_DONTWAIT and fds the user made non-blocking pass through. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "hook/hook_internal.h"

/* How one attempt is made on an fd whose kernel flag is not the hooks'
 * (an inherited socket or pipe): it must not block the thread. */
enum {
  ATTEMPT_PLAIN = 0,
  /* A socket: MSG_DONTWAIT (read is recv, write send, the vectors
   * recvmsg/sendmsg), tried at once; EAGAIN waits. */
  ATTEMPT_NOWAIT,
  /* A pipe, written once poll says writable: at most PIPE_BUF bytes,
   * which then fit without blocking (a bigger blocking write would wait
   * for the reader, perhaps a task on this very thread). */
  ATTEMPT_PIPE_BUF,
};

/* One attempt at the call: the count, or -1 with errno. done is what
 * earlier attempts transferred (calls that continue); mode an ATTEMPT_*. */
typedef ssize_t (*hook_attempt)(int fd, void *arg, size_t done, int mode);

/* A tty or device left blocking: it is called only once poll says it
 * is ready (it could still block if another process takes the data). */
static int ready_now(int fd, unsigned event) {
  struct pollfd p = {.fd = fd, .events = event == HOOK_IN ? POLLIN : POLLOUT};

  return REAL(poll)(&p, 1, 0) != 0;
}

/* Runs attempt until it is done (t: the task, or NULL outside one), waiting for
 * event whenever the kernel says EAGAIN. total > 0: the call continues until
 * total units moved (or a read returns 0); else the first answer is the call's.
 */
static ssize_t run_io(corio_task *t, int fd, hook_fd *e, unsigned event,
                      hook_attempt attempt, void *arg, size_t total) {
  /* Inside a task, an fd whose kernel flag is not the hooks' (a tty, an
   * inherited pipe) is called only once ready; otherwise the call is
   * tried first and EAGAIN waits. */
  int blocking =
      t && !atomic_load_explicit(&e->ours_nonblock, memory_order_relaxed);
  unsigned kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
  int mode = !blocking                                   ? ATTEMPT_PLAIN
             : kind == HOOK_FD_SOCKET                    ? ATTEMPT_NOWAIT
             : kind == HOOK_FD_PIPE && event == HOOK_OUT ? ATTEMPT_PIPE_BUF
                                                         : ATTEMPT_PLAIN;
  int64_t deadline = -1;
  size_t done = 0;
  ssize_t n;
  int rc;

  if (mode == ATTEMPT_NOWAIT)
    blocking = 0; /* each attempt is non-blocking by itself */
  for (;;) {
    if (corio__hook_fault(event == HOOK_IN ? CORIO__FAULT_RECV
                                           : CORIO__FAULT_SEND,
                          event == HOOK_IN ? ECONNRESET : EPIPE))
      return done > 0 ? (ssize_t)done : -1;
    if (!blocking || ready_now(fd, event)) {
      n = attempt(fd, arg, done, mode);
      if (n > 0 && total > 0 && (done += (size_t)n) < total)
        continue;
      if (n >= 0)
        return total > 0 ? (ssize_t)done : n;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return done > 0 ? (ssize_t)done : -1;
    }
    if (deadline < 0)
      deadline = corio__hook_deadline_for(t, e, event);
    rc = corio__hook_wait(t, fd, e, event, deadline);
    if (rc < 0) {
      if (done > 0) {
        if (t && (rc == -ECANCELED || rc == CORIO_ECLOSED))
          corio__hook_keep_cancel(t);
        return (ssize_t)done; /* the kernel's partial count */
      }
      return corio__hook_fail(t, rc);
    }
  }
}

/* A stream socket or pipe: a blocking write takes everything. */
static size_t whole(hook_fd *e, size_t len) {
  return atomic_load_explicit(&e->datagram, memory_order_relaxed) ? 0 : len;
}

/* ---- read / write -----------------------------------------------------------
 */

typedef struct buf_arg {
  void *buf;
  size_t len;
  int flags;
  off_t offset;
  struct sockaddr *addr;
  socklen_t *addr_len;
  const struct sockaddr *to;
  socklen_t to_len;
} buf_arg;

static ssize_t attempt_read(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;

  if (mode == ATTEMPT_NOWAIT)
    return REAL(recvfrom)(fd, (char *)a->buf + done, a->len - done,
                          MSG_DONTWAIT, NULL, NULL);
  return REAL(read)(fd, (char *)a->buf + done, a->len - done);
}

ssize_t read(int fd, void *buf, size_t len) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  buf_arg a = {.buf = buf, .len = len};

  if (!e || len == 0)
    return REAL(read)(fd, buf, len);
  return run_io(t, fd, e, HOOK_IN, attempt_read, &a, 0);
}

static ssize_t attempt_write(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;
  size_t len = a->len - done;

  if (mode == ATTEMPT_NOWAIT)
    return REAL(sendto)(fd, (const char *)a->buf + done, len, MSG_DONTWAIT,
                        NULL, 0);
  if (mode == ATTEMPT_PIPE_BUF && len > PIPE_BUF)
    len = PIPE_BUF;
  return REAL(write)(fd, (const char *)a->buf + done, len);
}

ssize_t write(int fd, const void *buf, size_t len) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  buf_arg a = {.buf = (void *)(uintptr_t)buf, .len = len};

  if (!e || len == 0)
    return REAL(write)(fd, buf, len);
  return run_io(t, fd, e, HOOK_OUT, attempt_write, &a, whole(e, len));
}

/* pread and pwrite on a socket or pipe fail at once (ESPIPE): the mode
 * changes nothing. */
static ssize_t attempt_pread(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;

  (void)mode;
  return REAL(pread)(fd, (char *)a->buf + done, a->len - done,
                     a->offset + (off_t)done);
}

ssize_t pread(int fd, void *buf, size_t len, off_t offset) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  buf_arg a = {.buf = buf, .len = len, .offset = offset};

  if (!e || len == 0)
    return REAL(pread)(fd, buf, len, offset);
  return run_io(t, fd, e, HOOK_IN, attempt_pread, &a, 0);
}

static ssize_t attempt_pwrite(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;

  (void)mode;
  return REAL(pwrite)(fd, (const char *)a->buf + done, a->len - done,
                      a->offset + (off_t)done);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  buf_arg a = {.buf = (void *)(uintptr_t)buf, .len = len, .offset = offset};

  if (!e || len == 0)
    return REAL(pwrite)(fd, buf, len, offset);
  return run_io(t, fd, e, HOOK_OUT, attempt_pwrite, &a, whole(e, len));
}

#if defined(__LP64__)
/* What _FILE_OFFSET_BITS=64 code calls: off_t is 64 bits already. */
ssize_t pread64(int fd, void *buf, size_t len, off_t offset)
    __attribute__((alias("pread")));
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t offset)
    __attribute__((alias("pwrite")));
#endif

/* ---- readv / writev
 * ----------------------------------------------------------- */

typedef struct vec_arg {
  const struct iovec *iov;
  int count;
} vec_arg;

/* A socket's vector call with MSG_DONTWAIT. */
static ssize_t vec_nowait(int fd, const struct iovec *iov, int count, int out) {
  struct msghdr m;

  memset(&m, 0, sizeof m);
  m.msg_iov = (struct iovec *)(uintptr_t)iov;
  m.msg_iovlen = count > 0 ? (size_t)count : 0;
  return out ? REAL(sendmsg)(fd, &m, MSG_DONTWAIT)
             : REAL(recvmsg)(fd, &m, MSG_DONTWAIT);
}

static ssize_t attempt_readv(int fd, void *arg, size_t done, int mode) {
  vec_arg *a = arg;

  (void)done;
  if (mode == ATTEMPT_NOWAIT)
    return vec_nowait(fd, a->iov, a->count, 0);
  return REAL(readv)(fd, a->iov, a->count);
}

ssize_t readv(int fd, const struct iovec *iov, int count) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  vec_arg a = {iov, count};

  if (!e)
    return REAL(readv)(fd, iov, count);
  return run_io(t, fd, e, HOOK_IN, attempt_readv, &a, 0);
}

/* The part of iov after `done` bytes, into out (at most max entries).
 * Returns the count of entries. */
static int iov_rest(const struct iovec *iov, int count, size_t done,
                    struct iovec *out, int max) {
  int i = 0, n = 0;

  while (i < count && done >= iov[i].iov_len)
    done -= iov[i++].iov_len;
  for (; i < count && n < max; i++, n++) {
    out[n].iov_base = (char *)iov[i].iov_base + done;
    out[n].iov_len = iov[i].iov_len - done;
    done = 0;
  }
  return n;
}

static size_t iov_total(const struct iovec *iov, int count) {
  size_t sum = 0;

  for (int i = 0; i < count; i++) {
    if (iov[i].iov_len > SIZE_MAX - sum)
      return 0; /* the kernel's EINVAL, on the first attempt */
    sum += iov[i].iov_len;
  }
  return sum;
}

/* Continuing a writev needs the rest of the vector: on the stack for a
 * short one; a long one (rare) returns its first partial count. */
#define HOOK_IOV_CONTINUE 32

/* The first `cap` bytes of iov[0..count): the count of entries kept. */
static int iov_cap(struct iovec *iov, int count, size_t cap) {
  for (int i = 0; i < count; i++) {
    if (iov[i].iov_len >= cap) {
      iov[i].iov_len = cap;
      return i + 1;
    }
    cap -= iov[i].iov_len;
  }
  return count;
}

static ssize_t attempt_writev(int fd, void *arg, size_t done, int mode) {
  vec_arg *a = arg;
  struct iovec rest[HOOK_IOV_CONTINUE];
  int n;

  if (done == 0 && mode == ATTEMPT_PLAIN)
    return REAL(writev)(fd, a->iov, a->count);
  if (done == 0 && mode == ATTEMPT_NOWAIT)
    return vec_nowait(fd, a->iov, a->count, 1);
  n = iov_rest(a->iov, a->count, done, rest, HOOK_IOV_CONTINUE);
  if (mode == ATTEMPT_NOWAIT)
    return vec_nowait(fd, rest, n, 1);
  if (mode == ATTEMPT_PIPE_BUF)
    n = iov_cap(rest, n, PIPE_BUF);
  return REAL(writev)(fd, rest, n);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
  corio_task *t;
  hook_fd *e = corio__hook_fd_blocking(fd, &t);
  vec_arg a = {iov, count};

  if (!e || count <= 0)
    return REAL(writev)(fd, iov, count);
  return run_io(t, fd, e, HOOK_OUT, attempt_writev, &a,
                count <= HOOK_IOV_CONTINUE ? whole(e, iov_total(iov, count))
                                           : 0);
}

/* ---- recv / send -----------------------------------------------------------
 */

static ssize_t attempt_recvfrom(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;

  return REAL(recvfrom)(fd, (char *)a->buf + done, a->len - done,
                        (a->flags & ~MSG_WAITALL) |
                            (mode == ATTEMPT_NOWAIT ? MSG_DONTWAIT : 0),
                        done ? NULL : a->addr, done ? NULL : a->addr_len);
}

/* MSG_PEEK | MSG_WAITALL on a stream: the kernel waits until the whole
 * length can be peeked. Peeking always starts at the first byte, so each
 * try peeks the whole length; while only part is there the fd stays
 * readable, and the task looks again every millisecond instead of
 * waiting for readiness. At the deadline: what the last peek saw. */
static ssize_t peek_all(corio_task *t, int fd, hook_fd *e, buf_arg *a) {
  int64_t deadline = corio__hook_deadline_for(t, e, HOOK_IN);
  struct timespec ms = {0, 1000000};
  ssize_t n;
  int rc;

  for (;;) {
    /* In a task never the kernel's wait (an inherited socket blocks). */
    n = REAL(recvfrom)(fd, a->buf, a->len,
                       (a->flags & ~MSG_WAITALL) | (t ? MSG_DONTWAIT : 0),
                       a->addr, a->addr_len);
    if (n == 0 || (size_t)n == a->len ||
        (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return n;
    if (n < 0)
      rc = corio__hook_wait(t, fd, e, HOOK_IN, deadline);
    else if (deadline != HOOK_NO_DEADLINE &&
             corio__hook_deadline(t, 1) > deadline)
      return n;
    else if (t)
      rc = corio_sleep_ns(1000000);
    else
      rc = REAL(nanosleep)(&ms, NULL) < 0 ? -errno : 0;
    if (rc < 0) {
      if (n > 0) {
        if (t && (rc == -ECANCELED || rc == CORIO_ECLOSED))
          corio__hook_keep_cancel(t);
        return n;
      }
      return corio__hook_fail(t, rc);
    }
  }
}

static ssize_t recv_common(int fd, buf_arg *a) {
  corio_task *t;
  hook_fd *e;

  /* A zero-length recv blocks until data (a datagram) is there, as the
   * kernel's does. A peek cannot be continued at an offset (it would copy
   * the same bytes again): MSG_PEEK | MSG_WAITALL has its own loop. */
  if ((a->flags & MSG_DONTWAIT) || !(e = corio__hook_fd_blocking(fd, &t)))
    return REAL(recvfrom)(fd, a->buf, a->len, a->flags, a->addr, a->addr_len);
  if ((a->flags & MSG_PEEK) && (a->flags & MSG_WAITALL) && whole(e, a->len))
    return peek_all(t, fd, e, a);
  return run_io(t, fd, e, HOOK_IN, attempt_recvfrom, a,
                (a->flags & MSG_WAITALL) && !(a->flags & MSG_PEEK)
                    ? whole(e, a->len)
                    : 0);
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  buf_arg a = {.buf = buf, .len = len, .flags = flags};

  return recv_common(fd, &a);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                 struct sockaddr *addr, socklen_t *addr_len) {
  buf_arg a = {.buf = buf,
               .len = len,
               .flags = flags,
               .addr = addr,
               .addr_len = addr_len};

  return recv_common(fd, &a);
}

static ssize_t attempt_sendto(int fd, void *arg, size_t done, int mode) {
  buf_arg *a = arg;

  return REAL(sendto)(fd, (const char *)a->buf + done, a->len - done,
                      a->flags | (mode == ATTEMPT_NOWAIT ? MSG_DONTWAIT : 0),
                      a->to, a->to_len);
}

static ssize_t send_common(int fd, buf_arg *a) {
  corio_task *t;
  hook_fd *e;

  if ((a->flags & MSG_DONTWAIT) || a->len == 0 ||
      !(e = corio__hook_fd_blocking(fd, &t)))
    return REAL(sendto)(fd, a->buf, a->len, a->flags, a->to, a->to_len);
  return run_io(t, fd, e, HOOK_OUT, attempt_sendto, a, whole(e, a->len));
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  buf_arg a = {.buf = (void *)(uintptr_t)buf, .len = len, .flags = flags};

  return send_common(fd, &a);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *to, socklen_t to_len) {
  buf_arg a = {.buf = (void *)(uintptr_t)buf,
               .len = len,
               .flags = flags,
               .to = to,
               .to_len = to_len};

  return send_common(fd, &a);
}

/* ---- recvmsg / sendmsg
 * -------------------------------------------------------- */

typedef struct msg_arg {
  struct msghdr *msg;
  int flags;
} msg_arg;

static ssize_t attempt_recvmsg(int fd, void *arg, size_t done, int mode) {
  msg_arg *a = arg;

  (void)done;
  return REAL(recvmsg)(fd, a->msg,
                       a->flags | (mode == ATTEMPT_NOWAIT ? MSG_DONTWAIT : 0));
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  corio_task *t;
  hook_fd *e;
  msg_arg a = {msg, flags};

  /* MSG_WAITALL over a vector is left to the kernel's one call. */
  if ((flags & MSG_DONTWAIT) || !(e = corio__hook_fd_blocking(fd, &t)))
    return REAL(recvmsg)(fd, msg, flags);
  return run_io(t, fd, e, HOOK_IN, attempt_recvmsg, &a, 0);
}

static ssize_t attempt_sendmsg(int fd, void *arg, size_t done, int mode) {
  msg_arg *a = arg;
  struct iovec rest[HOOK_IOV_CONTINUE];
  struct msghdr m;
  int flags = a->flags | (mode == ATTEMPT_NOWAIT ? MSG_DONTWAIT : 0);

  if (done == 0)
    return REAL(sendmsg)(fd, a->msg, flags);
  /* Ancillary data went with the first part. */
  memset(&m, 0, sizeof m);
  m.msg_iov = rest;
  m.msg_iovlen = (size_t)iov_rest(a->msg->msg_iov, (int)a->msg->msg_iovlen,
                                  done, rest, HOOK_IOV_CONTINUE);
  return REAL(sendmsg)(fd, &m, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  corio_task *t;
  hook_fd *e;
  msg_arg a = {(struct msghdr *)(uintptr_t)msg, flags};
  size_t total = 0;

  if ((flags & MSG_DONTWAIT) || !(e = corio__hook_fd_blocking(fd, &t)))
    return REAL(sendmsg)(fd, msg, flags);
  if (msg->msg_iovlen <= HOOK_IOV_CONTINUE && !msg->msg_name)
    total = whole(e, iov_total(msg->msg_iov, (int)msg->msg_iovlen));
  return run_io(t, fd, e, HOOK_OUT, attempt_sendmsg, &a, total);
}

/* ---- _FORTIFY_SOURCE's checked entry points
 * ------------------------------------- */

extern void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buf_len);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buf_len, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buf_len, int flags,
                       struct sockaddr *addr, socklen_t *addr_len);
ssize_t __pread_chk(int fd, void *buf, size_t len, off_t offset,
                    size_t buf_len);

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buf_len) {
  if (len > buf_len)
    __chk_fail();
  return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buf_len, int flags) {
  if (len > buf_len)
    __chk_fail();
  return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buf_len, int flags,
                       struct sockaddr *addr, socklen_t *addr_len) {
  if (len > buf_len)
    __chk_fail();
  return recvfrom(fd, buf, len, flags, addr, addr_len);
}

ssize_t __pread_chk(int fd, void *buf, size_t len, off_t offset,
                    size_t buf_len) {
  if (len > buf_len)
    __chk_fail();
  return pread(fd, buf, len, offset);
}
