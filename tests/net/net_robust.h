/* Helpers of the net layer's robustness tests (test_connect, test_tcp,
 * test_cancel, test_fault): loopback addresses, a "blackhole" listener
 * whose connects never complete, an echo server handler, a byte pattern,
 * and bounded waits on conditions (never on time).
 *
 * A blackhole is a listener with listen(fd, 0) whose accept queue is
 * filled by a connection that is never accepted: the kernel then drops
 * further SYNs, so a connect to it stays in progress until it is given up
 * (minutes later). The queue is known to be full when TCP_INFO of the
 * listener says so (tcpi_unacked: the queue's length, tcpi_sacked: its
 * limit), so no timing is involved. */
#ifndef CORIO_NET_ROBUST_H
#define CORIO_NET_ROBUST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "corio/combine.h"
#include "net_test.h"

/* ---- addresses ------------------------------------------------------------
 */

static inline socklen_t loopback(int family, int port,
                                 struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons((uint16_t)port);
    return sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons((uint16_t)port);
    return sizeof *a;
  }
}

static inline const char *loopback_host(int family) {
  return family == AF_INET6 ? "::1" : "127.0.0.1";
}

static inline int port_of_addr(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  return 0;
}

/* Whether ::1 can be bound (a kernel or container without IPv6 cannot). */
static inline int have_ipv6(void) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(AF_INET6, 0, &ss);
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

  if (fd < 0)
    return 0;
  ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
  close(fd);
  return ok;
}

/* A port free on loopback of `family` right now (bound and released). */
static inline int free_port(int family) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(family, 0, &ss);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
      getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
    port = port_of_addr(&ss);
  close(fd);
  return port;
}

/* ---- blackhole ---------------------------------------------------------- */

enum { BLACKHOLE_MAX_FILL = 8 };

typedef struct blackhole {
  int fd;
  int port;
  int family;
  int fill[BLACKHOLE_MAX_FILL];
  int nfill;
} blackhole;

static inline int listen_queue(int fd, unsigned *len, unsigned *max) {
  struct tcp_info ti;
  socklen_t n = sizeof ti;

  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) != 0)
    return -errno;
  *len = ti.tcpi_unacked;
  *max = ti.tcpi_sacked;
  return 0;
}

static inline void blackhole_close(blackhole *bh) {
  for (int i = 0; i < bh->nfill; i++)
    close(bh->fill[i]);
  bh->nfill = 0;
  if (bh->fd >= 0)
    close(bh->fd);
  bh->fd = -1;
}

/* Opens a blackhole on loopback of family at port (0: any). Returns 0 or
 * a negative errno (-EADDRINUSE if port is taken). */
static inline int blackhole_open(blackhole *bh, int family, int port) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(family, port, &ss);
  int on = 1, rc;

  memset(bh, 0, sizeof *bh);
  bh->family = family;
  bh->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (bh->fd < 0)
    return -errno;
  if (family == AF_INET6)
    setsockopt(bh->fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (bind(bh->fd, (struct sockaddr *)&ss, len) != 0 ||
      listen(bh->fd, 0) != 0 ||
      getsockname(bh->fd, (struct sockaddr *)&ss, &len) != 0) {
    rc = -errno;
    blackhole_close(bh);
    return rc;
  }
  bh->port = port_of_addr(&ss);
  /* Fill the accept queue with connections nobody accepts. Each filler
   * connects while the queue has room, so its blocking connect returns;
   * the queue's length is then read until the kernel has queued it. */
  for (;;) {
    unsigned qlen = 0, qmax = 0;
    int c;

    if ((rc = listen_queue(bh->fd, &qlen, &qmax)) < 0)
      break;
    if (qlen > qmax)
      return 0; /* full: SYNs are dropped from now on */
    if ((int)qlen < bh->nfill) {
      sched_yield(); /* a filler's handshake is not queued yet */
      continue;
    }
    if (bh->nfill == BLACKHOLE_MAX_FILL) {
      rc = -ENOSPC;
      break;
    }
    c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) {
      rc = -errno;
      break;
    }
    bh->fill[bh->nfill++] = c;
    if (connect(c, (struct sockaddr *)&ss, len) != 0) {
      rc = -errno;
      break;
    }
  }
  blackhole_close(bh);
  return rc;
}

/* Connections the blackhole's queue holds (the fillers, and any connect
 * that got through: there must be none). */
static inline int blackhole_queued(const blackhole *bh) {
  unsigned qlen = 0, qmax = 0;

  if (listen_queue(bh->fd, &qlen, &qmax) < 0)
    return -1;
  return (int)qlen;
}

/* ---- data pattern ---------------------------------------------------------
 */

static inline unsigned char pattern_byte(uint64_t stream_id, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (stream_id << 17);
  x ^= x >> 29;
  return (unsigned char)(x ^ (x >> 8) ^ (i >> 12));
}

static inline void pattern_fill(void *buf, size_t n, uint64_t stream_id,
                                uint64_t offset) {
  unsigned char *p = buf;
  for (size_t i = 0; i < n; i++)
    p[i] = pattern_byte(stream_id, offset + i);
}

/* The index of the first byte that differs, or n. */
static inline size_t pattern_check(const void *buf, size_t n,
                                   uint64_t stream_id, uint64_t offset) {
  const unsigned char *p = buf;
  for (size_t i = 0; i < n; i++)
    if (p[i] != pattern_byte(stream_id, offset + i))
      return i;
  return n;
}

/* ---- echo server -------------------------------------------------------- */

struct echo_stats {
  int handled;     /* handlers started */
  int finished;    /* handlers returned */
  int got_data;    /* connections that sent at least one byte */
  long bytes;      /* echoed */
  int last_rc;     /* the last handler's end */
  int first_error; /* the first handler that ended with an error */
};

static inline int echo_handler(corio_stream *s, void *arg) {
  struct echo_stats *st = arg;
  char buf[4096];
  size_t n;
  int rc, any = 0;

  st->handled++;
  while ((rc = corio_stream_read(s, buf, sizeof buf, &n)) == 0 && n > 0) {
    if (!any++)
      st->got_data++;
    st->bytes += (long)n;
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      break;
  }
  st->finished++;
  st->last_rc = rc;
  if (rc < 0 && !st->first_error)
    st->first_error = rc;
  return rc == -ECONNRESET || rc == -EPIPE ? 0 : rc;
}

/* Sends msg, reads its echo back and compares: 0, the error, or -EPROTO
 * for different bytes. */
static inline int echo_once(corio_stream *s, const char *msg) {
  size_t len = strlen(msg), n = 0;
  char buf[256];
  int rc;

  if (len > sizeof buf)
    return -EINVAL;
  if ((rc = corio_stream_write(s, msg, len)) < 0)
    return rc;
  if ((rc = corio_stream_readexactly(s, buf, len, &n)) < 0)
    return rc;
  return memcmp(buf, msg, len) == 0 ? 0 : -EPROTO;
}

/* A whole conversation on s: `count` echoes of "<who> says <i>", a
 * half-close, then the server's EOF with nothing before it; closes and
 * drops s (wait_closed's error counts where the rest went well). */
static inline int echo_conversation(corio_stream *s, const char *who,
                                    int count) {
  char msg[64], buf[8];
  size_t n;
  int rc = 0;

  for (int i = 0; i < count && rc == 0; i++) {
    snprintf(msg, sizeof msg, "%s says %d\n", who, i);
    rc = echo_once(s, msg);
  }
  if (rc == 0)
    rc = corio_stream_write_eof(s);
  if (rc == 0) {
    rc = corio_stream_read(s, buf, sizeof buf, &n);
    if (rc == 0 && n != 0)
      rc = -EPROTO;
  }
  (void)corio_stream_close(s);
  if (rc == 0)
    rc = corio_stream_wait_closed(s);
  corio_stream_unref(s);
  return rc;
}

/* Connects to host:port, echoes one message, closes. */
static inline int echo_client(const char *host, int port, const char *msg) {
  corio_stream *s;
  int rc = corio_open_connection(host, port, &s);

  if (rc < 0)
    return rc;
  rc = echo_once(s, msg);
  (void)corio_stream_close(s);
  if (rc == 0)
    rc = corio_stream_wait_closed(s);
  corio_stream_unref(s);
  return rc;
}

/* Closes a server and waits for its handlers. A handler still waiting
 * after 30 s is a bug that already failed a check: rather than hang, its
 * connection is aborted and -ETIMEDOUT returned. */
static inline int server_finish(corio_server *srv) {
  corio_timeout guard;
  int rc;

  (void)corio_server_close(srv);
  if ((rc = corio_timeout_enter(&guard, 30)) < 0)
    return rc;
  rc = corio_timeout_exit(&guard, corio_server_wait_closed(srv));
  if (rc == -ETIMEDOUT) {
    (void)corio_server_abort_clients(srv);
    (void)corio_server_wait_closed(srv);
  }
  return rc;
}

/* ---- waiting on conditions ------------------------------------------------
 */

/* Long enough for any loopback event to be seen; only a bug exhausts it. */
enum { SPIN = 200000 };

/* Yields until cond holds, at most SPIN loop iterations: the caller then
 * checks cond. The bound only turns a bug into a failure instead of a
 * hang: a correct run meets the condition long before. */
#define YIELD_UNTIL(cond)                                                      \
  for (long yu_i_ = 0; !(cond) && yu_i_ < SPIN && corio_sleep(0) == 0;         \
       yu_i_++) {                                                              \
  }

/* Lets a task run until it suspends: it was started and has not
 * finished. */
static inline int started_and_waiting(corio_task *t) {
  if (yield_n(3) < 0)
    return 0;
  return !corio_task_done(t);
}

/* ---- a peer on a thread ----------------------------------------------------
 */

/* Reads fd on a thread until EOF (or error), chunk bytes at a time,
 * checking the pattern of stream `id` as it goes. */
struct pattern_reader {
  int fd;
  uint64_t id;
  size_t chunk;
  int quickack; /* a TCP peer: acknowledge every read at once */
  size_t got;
  size_t bad_at; /* first wrong byte's offset, or (size_t)-1 */
  int error;
};

static inline void *pattern_reader_main(void *arg) {
  struct pattern_reader *r = arg;
  size_t chunk = r->chunk ? r->chunk : 4096;
  unsigned char *buf = malloc(chunk);

  r->bad_at = (size_t)-1;
  if (!buf) {
    r->error = -ENOMEM;
    return NULL;
  }
  for (;;) {
    ssize_t n = read(r->fd, buf, chunk);
    size_t at;

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r->error = -errno;
      break;
    }
    if (n == 0)
      break;
    /* Acknowledge at once: with a tiny send buffer on the other side,
     * delayed acknowledgements would stall the transfer for 40 ms at a
     * time (Linux clears quick-ack mode by itself, hence each time). */
    if (r->quickack) {
      int on = 1;
      setsockopt(r->fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    }
    at = pattern_check(buf, (size_t)n, r->id, r->got);
    if (at < (size_t)n && r->bad_at == (size_t)-1)
      r->bad_at = r->got + at;
    r->got += (size_t)n;
    sched_yield(); /* a slow reader */
  }
  free(buf);
  return NULL;
}

/* A plain TCP listener on loopback (the test drives its connections with
 * syscalls). Returns the fd, *port set. */
static inline int raw_listener(int family, int *port) {
  struct sockaddr_storage ss;
  socklen_t len = loopback(family, 0, &ss);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -errno;
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  *port = port_of_addr(&ss);
  return fd;
}

/* Resets a connection: the peer's close sends RST, not FIN. */
static inline void close_with_reset(int fd) {
  struct linger lg = {1, 0};

  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static inline int sockopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;

  if (getsockopt(fd, level, name, &v, &len) != 0)
    return -errno;
  return v;
}

/* The read forms the cancel and TCP tests drive one by one. */
enum form {
  F_READ,
  F_READEXACTLY,
  F_READUNTIL,
  F_READUNTIL_ANY,
  F_READLINE,
  F_READ_ALL,
  F_PEEK,
  F_COUNT
};

static inline const char *form_name(int form) {
  static const char *const names[F_COUNT] = {
      "read",     "readexactly", "readuntil", "readuntil_any",
      "readline", "read_all",    "peek"};

  return form >= 0 && form < F_COUNT ? names[form] : "?";
}

#endif
