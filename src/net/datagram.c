/* A datagram endpoint's life, its receive path (recvmmsg batches into the
 * bounded queue; the receive calls take from it) and its send path
 * (straight to the kernel; what it refuses with EAGAIN is queued and
 * leaves with sendmmsg). Sockets are made in datagram_open.c. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/raw.h"
#include "core/str.h"
#include "core/sys_fd.h"
#include "core/sys_net.h"
#include "loop/ext.h"
#include "net/datagram_internal.h"

/* The largest payload of a UDP datagram over IPv4 and IPv6 (without
 * jumbograms): a queued datagram larger than this could never leave. */
enum { UDP4_MAX_PAYLOAD = 65507, UDP6_MAX_PAYLOAD = 65527 };
/* The shortest IPv6 address the kernel takes (RFC 2133's, without the
 * scope id). */
enum { SIN6_MIN_LEN = 24 };
/* The smallest send buffer a queue grows from. */
enum { OUT_MIN_CAP = 16384 };
/* The largest max_size: a receive batch takes 32 of them. */
#define MAX_DATAGRAM_SIZE ((size_t)1 << 20)

/* ---- waits, for dumps ---------------------------------------------------- */

static void describe(const void *object, char *buf, size_t len) {
  const corio_datagram *d = object;
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = 0;
  corio__appendf(buf, len, &used, "fd %d, %zu queued, %zu bytes to send", d->fd,
                 d->in.count, d->out.payload);
}

static const corio__wait_kind recv_kind = {.name = "datagram recv",
                                           .describe = describe};
static const corio__wait_kind drain_kind = {.name = "datagram drain",
                                            .describe = describe};
static const corio__wait_kind closed_kind = {.name = "datagram wait_closed",
                                             .describe = describe};

/* ---- life ---------------------------------------------------------------- */

static void datagram_free(corio_datagram *d) {
  corio_loop *loop = d->loop;

  corio__dgram_ring_clear(&d->in);
  corio__dgram_ring_clear(&d->out);
  corio__free(d, sizeof *d);
  corio__loop_mem_unref(loop);
}

corio_datagram *corio_datagram_ref(corio_datagram *d) {
  if (d)
    d->refs++;
  return d;
}

void corio_datagram_unref(corio_datagram *d) {
  if (!d || --d->refs > 0)
    return;
  if (!d->closed) {
    /* The last reference closes; a pending flush keeps it alive through
     * closing_ref until the fd is closed. */
    d->refs++;
    (void)corio_datagram_close(d);
    if (--d->refs > 0)
      return;
  }
  datagram_free(d);
}

/* As in stream.c: only on_readable wakes the reader at once (now), as its
 * last action; anywhere else the caller goes on using the endpoint. */
static void wake_reader(corio_datagram *d, int now) {
  if (d->reader)
    corio__wait_wake(d->reader, 0, now);
}

/* Keeps an error the socket reported for a receive, behind the datagrams
 * queued so far. */
static void report_error(corio_datagram *d, int error) {
  if (d->error)
    return;
  d->error = error;
  d->error_before = d->in.count;
}

/* A bound Unix socket's file goes with it, if it is still the same
 * file (somebody may have replaced it). */
static void remove_path(corio_datagram *d) {
  struct stat st;

  if (!d->owns_path)
    return;
  d->owns_path = 0;
  if (stat(d->bound_path.sun_path, &st) == 0 && st.st_dev == d->path_dev &&
      st.st_ino == d->path_ino)
    (void)unlink(d->bound_path.sun_path);
}

void corio__datagram_force_close(corio_datagram *d) {
  if (d->closed)
    return;
  if (d->reading)
    (void)corio_loop_remove_reader(d->loop, d->fd);
  if (d->writing)
    (void)corio_loop_remove_writer(d->loop, d->fd);
  d->reading = d->writing = 0;
  remove_path(d);
  corio__sys_close(d->fd);
  d->fd = -1;
  d->closed = d->closing = 1;
  d->sends_lost = d->out.count > 0;
  corio__dgram_ring_clear(&d->out);
  corio__net_loop_remove_datagram(d->net, d);
  d->write_paused = 0;
  wake_reader(d, 0);
  corio__waitq_wake_all(&d->drainers, 0);
  corio__waitq_wake_all(&d->closers, 0);
  if (d->closing_ref) {
    d->closing_ref = 0;
    corio_datagram_unref(d);
  }
}

/* ---- receiving: the loop's side ------------------------------------------ */

/* The scratch a batch is received into: the headers, then
 * CORIO__DATAGRAM_BATCH slots of max_size bytes. Shared by the loop's
 * endpoints (used only inside on_readable) and grown to the largest
 * max_size asked for. */
typedef struct scratch {
  struct mmsghdr msgs[CORIO__DATAGRAM_BATCH];
  struct iovec iov[CORIO__DATAGRAM_BATCH];
  struct sockaddr_storage addrs[CORIO__DATAGRAM_BATCH];
  size_t slot;   /* the layout the headers are set up for (0: none) */
  int want_addr; /* msg_name set */
  char data[];
} scratch;

static scratch *get_scratch(corio_datagram *d) {
  corio__net_loop *net = d->net;
  size_t size = sizeof(scratch) + CORIO__DATAGRAM_BATCH * d->max_size;
  scratch *s;

  if (net->datagram_scratch_size >= size)
    return net->datagram_scratch;
  if (!(s = corio__alloc(size)))
    return NULL;
  s->slot = 0;
  if (net->datagram_scratch)
    corio__free(net->datagram_scratch, net->datagram_scratch_size);
  net->datagram_scratch = s;
  net->datagram_scratch_size = size;
  return s;
}

/* Points the headers at the slots; only when the layout changes (another
 * endpoint's max_size, connected or not): between batches the kernel
 * changes only the lengths and flags. */
static void prepare_batch(scratch *s, size_t slot, int want_addr) {
  if (s->slot == slot && s->want_addr == want_addr) {
    if (want_addr)
      for (int i = 0; i < CORIO__DATAGRAM_BATCH; i++)
        s->msgs[i].msg_hdr.msg_namelen = sizeof s->addrs[i];
    return;
  }
  for (int i = 0; i < CORIO__DATAGRAM_BATCH; i++) {
    struct msghdr *h = &s->msgs[i].msg_hdr;

    s->iov[i].iov_base = s->data + (size_t)i * slot;
    s->iov[i].iov_len = slot;
    h->msg_name = want_addr ? &s->addrs[i] : NULL;
    h->msg_namelen = want_addr ? sizeof s->addrs[i] : 0;
    h->msg_iov = &s->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
  }
  s->slot = slot;
  s->want_addr = want_addr;
}

/* Queues one received datagram, or drops it (counted) when the queue is
 * full: by count, or by bytes. */
static void enqueue(corio_datagram *d, const struct mmsghdr *m) {
  const struct msghdr *h = &m->msg_hdr;
  int rc;

  if (h->msg_flags & MSG_TRUNC)
    d->truncated++;
  if (d->in.count >= d->queue_size) {
    d->drops++;
    return;
  }
  rc = corio__dgram_ring_push(&d->in, h->msg_name, h->msg_namelen,
                              h->msg_iov[0].iov_base, m->msg_len);
  if (rc == -ENOMEM)
    report_error(d, rc);
  if (rc < 0)
    d->drops++;
}

/* Out of memory for the scratch: the waiting datagram is taken and
 * dropped (counted), so a readable socket never spins the loop. */
static corio__cold void drop_one(corio_datagram *d) {
  char byte;

  /* read(2) takes one whole datagram, whatever its size. */
  if (corio__sys_recv(d->fd, &byte, 1) >= 0)
    d->drops++;
  report_error(d, -ENOMEM);
}

/* One batch per readiness event: level triggering reports the socket
 * again if more is waiting, and other fds get their turn in between.
 * Every datagram is taken from the kernel, queued or dropped, so drops
 * are counted here, exactly. */
static int on_readable(void *arg) {
  corio_datagram *d = arg;
  scratch *s;
  int n;

  if (d->closed)
    return 0;
  if (!(s = get_scratch(d))) {
    drop_one(d);
    wake_reader(d, 1);
    return 0;
  }
  prepare_batch(s, d->max_size, !d->connected);
  n = corio__sys_recvmmsg(d->fd, s->msgs, CORIO__DATAGRAM_BATCH, 0);
  if (n == -EAGAIN || n == -EWOULDBLOCK)
    return 0;
  if (n < 0) {
    /* An ICMP error (connected socket), or worse: asyncio's
     * error_received. The endpoint stays open. */
    report_error(d, n);
  }
  for (int i = 0; i < n; i++)
    enqueue(d, &s->msgs[i]);
  wake_reader(d, 1);
  return 0;
}

/* ---- receiving: the task's side ------------------------------------------ */

static void reader_detach(corio__wait *w) {
  corio_datagram *d = w->data;

  if (d->reader == w)
    d->reader = NULL;
}

static corio__noinline int wait_readable(corio_datagram *d) {
  corio_task *self = corio__wait_self();
  corio__wait w = {
      .detach = reader_detach, .data = d, .kind = &recv_kind, .object = d};
  int rc;

  if (!self)
    return CORIO_ENOTASK;
  w.task = self;
  d->reader = &w;
  d->refs++;
  rc = corio__wait_suspend(&w);
  if (d->reader == &w)
    d->reader = NULL;
  corio_datagram_unref(d);
  return rc;
}

/* Copies the first datagram out, if it fits. */
static int take(corio_datagram *d, void *buf, size_t cap, size_t *nread,
                struct sockaddr *addr, socklen_t *addrlen) {
  corio__dgram_rec *r = corio__dgram_ring_front(&d->in);

  if (nread)
    *nread = r->len;
  if (r->len > cap)
    return -ENOBUFS;
  if (r->len)
    memcpy(buf, corio__dgram_rec_data(r), r->len);
  if (addr) {
    socklen_t have = *addrlen;

    if (!r->addrlen) {
      /* A connected socket's datagrams come from its peer. */
      memcpy(addr, &d->peer, have < d->peer_len ? have : d->peer_len);
      *addrlen = d->peer_len;
    } else {
      memcpy(addr, corio__dgram_rec_addr(r),
             have < r->addrlen ? have : r->addrlen);
      *addrlen = r->addrlen;
    }
  }
  corio__dgram_ring_pop(&d->in);
  if (d->error && d->error_before)
    d->error_before--;
  return 0;
}

int corio_datagram_recvfrom(corio_datagram *d, void *buf, size_t cap,
                            size_t *nread, struct sockaddr *addr,
                            socklen_t *addrlen) {
  int rc;

  if (nread)
    *nread = 0;
  if (!d || (!buf && cap) || (addr && !addrlen))
    return -EINVAL;
  if (d->reader)
    return CORIO_EREADBUSY;
  for (;;) {
    if (d->error && d->error_before == 0) {
      rc = d->error;
      d->error = 0;
      return rc;
    }
    if (d->in.count)
      return take(d, buf, cap, nread, addr, addrlen);
    if (d->closing)
      return CORIO_ESTREAMCLOSED;
    if ((rc = wait_readable(d)) < 0)
      return rc;
  }
}

int corio_datagram_recv(corio_datagram *d, void *buf, size_t cap,
                        size_t *nread) {
  return corio_datagram_recvfrom(d, buf, cap, nread, NULL, NULL);
}

size_t corio_datagram_queued(const corio_datagram *d) {
  return d ? d->in.count : 0;
}

uint64_t corio_datagram_drops(const corio_datagram *d) {
  return d ? d->drops : 0;
}

uint64_t corio_datagram_truncated(const corio_datagram *d) {
  return d ? d->truncated : 0;
}

/* ---- sending ------------------------------------------------------------- */

static void after_flush(corio_datagram *d) {
  if (d->write_paused && d->out.payload <= d->low_water) {
    d->write_paused = 0;
    corio__waitq_wake_all(&d->drainers, 0);
  }
  if (d->out.count)
    return;
  corio__dgram_ring_clear(&d->out);
  if (d->writing) {
    (void)corio_loop_remove_writer(d->loop, d->fd);
    d->writing = 0;
  }
  if (d->closing)
    corio__datagram_force_close(d);
}

/* Points a batch of headers at the queued datagrams, oldest first. */
static unsigned build_batch(corio_datagram *d, struct mmsghdr *msgs,
                            struct iovec *iov) {
  size_t off = d->out.head;
  unsigned n = 0;

  while (n < d->out.count && n < CORIO__DATAGRAM_BATCH) {
    corio__dgram_rec *r = (corio__dgram_rec *)(void *)(d->out.data + off);

    memset(&msgs[n], 0, sizeof msgs[n]);
    iov[n].iov_base = corio__dgram_rec_data(r);
    iov[n].iov_len = r->len;
    msgs[n].msg_hdr.msg_name = r->addrlen ? corio__dgram_rec_addr(r) : NULL;
    msgs[n].msg_hdr.msg_namelen = r->addrlen;
    msgs[n].msg_hdr.msg_iov = &iov[n];
    msgs[n].msg_hdr.msg_iovlen = 1;
    n++;
    if (n < d->out.count)
      (void)corio__dgram_ring_next(&d->out, &off);
  }
  return n;
}

/* Sends what is queued, a batch at a time, until the kernel refuses. A
 * datagram the kernel fails (not EAGAIN) is dropped and its error goes to
 * the next receive, as asyncio's error_received. */
static int on_writable(void *arg) {
  corio_datagram *d = arg;
  struct mmsghdr msgs[CORIO__DATAGRAM_BATCH];
  struct iovec iov[CORIO__DATAGRAM_BATCH];

  if (d->closed)
    return 0;
  while (d->out.count) {
    unsigned n = build_batch(d, msgs, iov);
    int sent = corio__sys_sendmmsg(d->fd, msgs, n);

    if (sent == -EAGAIN || sent == -EWOULDBLOCK || sent == -ENOBUFS)
      break;
    if (sent < 0) {
      report_error(d, sent);
      sent = 1;
      wake_reader(d, 0);
    }
    for (int i = 0; i < sent; i++)
      corio__dgram_ring_pop(&d->out);
  }
  after_flush(d);
  return 0;
}

static int send_error(const corio_datagram *d) {
  return d->closing ? CORIO_ESTREAMCLOSED : 0;
}

/* A Unix datagram larger than the send buffer (less the kernel's 32
 * bytes of overhead) can never be sent; smaller than this always fits
 * the smallest buffer the kernel allows, so no syscall is needed. */
enum { UNIX_ALWAYS_FITS = 2048, UNIX_SEND_OVERHEAD = 32 };

/* What the kernel would refuse at once (checked the way it checks), for a
 * datagram that must queue behind others instead of meeting the kernel
 * now: its error belongs to this call, not to a later receive. */
static int check_queued(const corio_datagram *d, size_t len,
                        const struct sockaddr *addr, socklen_t addrlen) {
  size_t limit = d->family == AF_INET6 ? UDP6_MAX_PAYLOAD : UDP4_MAX_PAYLOAD;
  int sndbuf;
  socklen_t optlen = sizeof sndbuf;

  if (d->family == AF_UNIX) {
    if (addr && (addr->sa_family != AF_UNIX ||
                 addrlen <= (socklen_t)offsetof(struct sockaddr_un, sun_path)))
      return -EINVAL;
    if (len > UNIX_ALWAYS_FITS &&
        corio__raw_getsockopt(d->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen) ==
            0 &&
        len + UNIX_SEND_OVERHEAD > (size_t)sndbuf)
      return -EMSGSIZE;
    return 0;
  }
  if (d->family != AF_INET && d->family != AF_INET6)
    return 0; /* nothing known to check */
  if (addr) {
    if (addr->sa_family == AF_INET) {
      if (addrlen < (socklen_t)sizeof(struct sockaddr_in))
        return -EINVAL;
      limit = UDP4_MAX_PAYLOAD; /* also an IPv6 socket's, to IPv4 */
    } else if (d->family == AF_INET) {
      return -EAFNOSUPPORT; /* udp_sendmsg's answer */
    } else if (addr->sa_family != AF_INET6 ||
               addrlen < (socklen_t)SIN6_MIN_LEN) {
      return -EINVAL; /* udpv6_sendmsg's */
    }
  }
  return len > limit ? -EMSGSIZE : 0;
}

/* Queues what the kernel refused for lack of buffer space (and what must
 * wait behind it); the writer watcher (installed now) sends it when the
 * socket is writable. */
static corio__noinline int queue_datagram(corio_datagram *d, const void *data,
                                          size_t len,
                                          const struct sockaddr *addr,
                                          socklen_t addrlen) {
  corio__dgram_ring *q = &d->out;
  int rc;

  if ((rc = check_queued(d, len, addr, addrlen)) < 0)
    return rc;
  while ((rc = corio__dgram_ring_push(q, addr, addrlen, data, len)) ==
         -ENOBUFS) {
    size_t cap = q->cap ? q->cap : OUT_MIN_CAP;

    while (cap < q->cap + corio__dgram_rec_size(addrlen, len)) {
      if (cap > SIZE_MAX / 2)
        return -ENOMEM;
      cap *= 2;
    }
    if ((rc = corio__dgram_ring_grow(q, cap)) < 0)
      return rc;
  }
  if (rc < 0)
    return rc;
  if (!d->writing) {
    rc = corio_loop_add_writer(d->loop, d->fd, on_writable, d);
    if (rc < 0) {
      /* It could never leave: take it back (it was the only one). */
      corio__dgram_ring_clear(q);
      return rc;
    }
    d->writing = 1;
  }
  if (q->payload > d->high_water)
    d->write_paused = 1;
  return 0;
}

/* The length of a Unix address's name: a path up to its NUL, an abstract
 * name (leading NUL) to the end; 0 for an unnamed socket. */
static size_t unix_name_len(const struct sockaddr *a, socklen_t len) {
  const struct sockaddr_un *u = (const void *)a;
  size_t n = len > (socklen_t)offsetof(struct sockaddr_un, sun_path)
                 ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                 : 0;

  if (n > sizeof u->sun_path)
    n = sizeof u->sun_path;
  return n && u->sun_path[0] ? strnlen(u->sun_path, n) : n;
}

/* Whether a (from the user, alen bytes) names the destination b: 1 or 0,
 * or -EINVAL when a is too short for its family. Ports and addresses are
 * compared, not padding; Unix paths by name, whatever length was given
 * (sizeof(struct sockaddr_un), SUN_LEN, or the kernel's). */
static int same_address(const struct sockaddr *a, socklen_t alen,
                        const struct sockaddr_storage *b, socklen_t blen) {
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

    if (alen < (socklen_t)sizeof *x)
      return -EINVAL;
    return b->ss_family == AF_INET && x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

    if (alen < (socklen_t)SIN6_MIN_LEN)
      return -EINVAL;
    return b->ss_family == AF_INET6 && x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  if (a->sa_family == AF_UNIX) {
    size_t n = unix_name_len(a, alen);

    return b->ss_family == AF_UNIX &&
           n == unix_name_len((const struct sockaddr *)b, blen) &&
           memcmp(((const struct sockaddr_un *)(const void *)a)->sun_path,
                  ((const struct sockaddr_un *)(const void *)b)->sun_path,
                  n) == 0;
  }
  return alen == blen && memcmp(a, b, (size_t)alen) == 0;
}

int corio_datagram_sendto(corio_datagram *d, const void *data, size_t len,
                          const struct sockaddr *addr, socklen_t addrlen) {
  ssize_t n;
  int rc;

  if (!d || (!data && len) ||
      (addr &&
       (addrlen <= 0 || addrlen > (socklen_t)sizeof(struct sockaddr_storage))))
    return -EINVAL;
  /* No socket carries more (the kernel caps a send at INT_MAX), and a
   * queued record's size cannot overflow then, even with a 32-bit size_t. */
  if (len > (size_t)INT_MAX)
    return -EMSGSIZE;
  if ((rc = send_error(d)) < 0)
    return rc;
  if (d->default_dest) {
    /* asyncio: "Invalid address: must be None or" the peer. */
    if (addr && (rc = same_address(addr, addrlen, &d->peer, d->peer_len)) <= 0)
      return rc < 0 ? rc : -EISCONN;
    /* A connected socket sends to its peer without being told. */
    addr = d->connected ? NULL : (const struct sockaddr *)&d->peer;
    addrlen = d->connected ? 0 : d->peer_len;
  } else if (!addr) {
    return -EDESTADDRREQ;
  }
  if (d->out.count == 0) {
    /* Nothing queued: straight to the kernel, no copy. */
    n = corio__sys_sendto(d->fd, data, len, addr, addrlen);
    if (n >= 0)
      return 0;
    if (n != -EAGAIN && n != -EWOULDBLOCK && n != -ENOBUFS)
      return (int)n;
  }
  return queue_datagram(d, data, len, addr, addrlen);
}

int corio_datagram_send(corio_datagram *d, const void *data, size_t len) {
  return corio_datagram_sendto(d, data, len, NULL, 0);
}

int corio_datagram_drain(corio_datagram *d) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!d)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  d->refs++;
  while (rc == 0 && d->write_paused && !d->closed) {
    sync_waiter waiter;

    rc = corio__waitq_wait_on(&d->drainers, &waiter, self, &drain_kind, d);
  }
  /* Aborted (or the loop closed) with datagrams still to send: they did
   * not leave, which a drain must not call a success. */
  if (rc == 0 && d->closed && d->sends_lost)
    rc = CORIO_ESTREAMCLOSED;
  corio_datagram_unref(d);
  return rc;
}

int corio_datagram_set_write_buffer_limits(corio_datagram *d, size_t high,
                                           size_t low) {
  if (!d)
    return -EINVAL;
  if (high == 0) {
    high = CORIO_DATAGRAM_DEFAULT_HIGH_WATER;
    if (low == 0)
      low = CORIO_DATAGRAM_DEFAULT_LOW_WATER;
  }
  if (low > high)
    return -EINVAL;
  d->high_water = high;
  d->low_water = low;
  if (d->out.payload > high)
    d->write_paused = 1;
  if (d->write_paused && d->out.payload <= low) {
    d->write_paused = 0;
    corio__waitq_wake_all(&d->drainers, 0);
  }
  return 0;
}

size_t corio_datagram_write_buffer_size(const corio_datagram *d) {
  return d ? d->out.payload : 0;
}

/* ---- closing ------------------------------------------------------------- */

int corio_datagram_close(corio_datagram *d) {
  if (!d)
    return -EINVAL;
  if (d->closing)
    return 0;
  d->closing = 1;
  /* Receiving stops (asyncio removes the reader); what is queued can
   * still be taken. */
  if (d->reading) {
    (void)corio_loop_remove_reader(d->loop, d->fd);
    d->reading = 0;
  }
  wake_reader(d, 0);
  if (d->out.count == 0) {
    corio__datagram_force_close(d);
    return 0;
  }
  /* The queued datagrams still leave; the endpoint lives until then. */
  d->closing_ref = 1;
  d->refs++;
  return 0;
}

int corio_datagram_abort(corio_datagram *d) {
  if (!d)
    return -EINVAL;
  corio__datagram_force_close(d);
  return 0;
}

int corio_datagram_is_closing(const corio_datagram *d) {
  return d && d->closing;
}

int corio_datagram_wait_closed(corio_datagram *d) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!d)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  d->refs++;
  while (!d->closed && rc == 0) {
    sync_waiter waiter;

    rc = corio__waitq_wait_on(&d->closers, &waiter, self, &closed_kind, d);
  }
  corio_datagram_unref(d);
  return rc;
}

/* ---- get_extra_info ------------------------------------------------------ */

int corio_datagram_fd(const corio_datagram *d) { return d ? d->fd : -1; }

corio_loop *corio_datagram_loop(const corio_datagram *d) {
  return d ? d->loop : NULL;
}

static int socket_name(const corio_datagram *d, struct sockaddr *addr,
                       socklen_t *len, int peer) {
  int rc;

  if (!d || !addr || !len)
    return -EINVAL;
  if (d->closed)
    return CORIO_ESTREAMCLOSED;
  rc = peer ? getpeername(d->fd, addr, len) : getsockname(d->fd, addr, len);
  return rc == 0 ? 0 : -errno;
}

int corio_datagram_sockname(const corio_datagram *d, struct sockaddr *addr,
                            socklen_t *len) {
  return socket_name(d, addr, len, 0);
}

int corio_datagram_peername(const corio_datagram *d, struct sockaddr *addr,
                            socklen_t *len) {
  return socket_name(d, addr, len, 1);
}

/* ---- creation ------------------------------------------------------------ */

int corio__datagram_set_destination(corio_datagram *d,
                                    const struct sockaddr *addr,
                                    socklen_t len) {
  if (!addr || len <= 0 || len > (socklen_t)sizeof d->peer)
    return -EINVAL;
  memcpy(&d->peer, addr, (size_t)len);
  d->peer_len = len;
  d->default_dest = 1;
  return 0;
}

int corio__datagram_check_options(const corio_datagram_options *o) {
  size_t max_size = o->max_size ? o->max_size : CORIO_DATAGRAM_DEFAULT_MAX_SIZE;
  size_t bytes =
      o->queue_bytes ? o->queue_bytes : CORIO_DATAGRAM_DEFAULT_QUEUE_BYTES;

  /* The scratch holds a batch of max_size slots: keep it sane. A queue
   * must hold at least one datagram of max_size with its address. */
  if (max_size > MAX_DATAGRAM_SIZE || max_size > UINT32_MAX ||
      bytes < corio__dgram_rec_size(sizeof(struct sockaddr_storage), max_size))
    return -EINVAL;
  if (o->flags &
      ~(unsigned)(CORIO_DATAGRAM_REUSE_ADDRESS | CORIO_DATAGRAM_REUSE_PORT |
                  CORIO_DATAGRAM_BROADCAST))
    return -EINVAL;
  return 0;
}

int corio__datagram_new(corio_loop *loop, int fd, int family, int connected,
                        const corio_datagram_options *options,
                        corio_datagram **out) {
  static const corio_datagram_options defaults;
  corio__net_loop *net;
  corio_datagram *d;
  int rc;

  if (!options)
    options = &defaults;
  if ((rc = corio__datagram_check_options(options)) < 0 ||
      (rc = corio__net_loop_get(loop, &net)) < 0)
    goto fail;
  if (!(d = corio__calloc(sizeof *d))) {
    rc = -ENOMEM;
    goto fail;
  }
  d->loop = loop;
  d->net = net;
  d->refs = 1;
  d->fd = fd;
  d->family = family;
  d->connected = d->default_dest = connected != 0;
  d->queue_size =
      options->queue_size ? options->queue_size : CORIO_DATAGRAM_DEFAULT_QUEUE;
  d->in.cap = options->queue_bytes ? options->queue_bytes
                                   : CORIO_DATAGRAM_DEFAULT_QUEUE_BYTES;
  d->max_size =
      options->max_size ? options->max_size : CORIO_DATAGRAM_DEFAULT_MAX_SIZE;
  d->high_water = CORIO_DATAGRAM_DEFAULT_HIGH_WATER;
  d->low_water = CORIO_DATAGRAM_DEFAULT_LOW_WATER;
  if (connected) {
    d->peer_len = sizeof d->peer;
    if (getpeername(fd, (struct sockaddr *)&d->peer, &d->peer_len) != 0)
      d->peer_len = 0;
  }
  /* Registered with the poller once, for the endpoint's life. */
  if ((rc = corio_loop_add_reader(loop, fd, on_readable, d)) < 0) {
    corio__free(d, sizeof *d);
    goto fail;
  }
  d->reading = 1;
  corio__loop_mem_ref(loop);
  corio__net_loop_add_datagram(net, d);
  *out = d;
  return 0;
fail:
  corio__sys_close(fd);
  return rc;
}
