/* open_connection: resolve, then try the addresses, either one after
 * another (asyncio's default) or overlapping after a delay (RFC 8305's
 * happy eyeballs). All attempts are non-blocking connects watched by the
 * one task that asked: no helper tasks, and exactly one winner whose
 * socket becomes the stream; the losers are closed. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "core/alloc.h"
#include "core/str.h"
#include "core/sys_fd.h"
#include "core/sys_net.h"
#include "net/address.h"
#include "net/stream_internal.h"
#include "net/tls_internal.h"

/* The most addresses one connect tries. */
enum { MAX_ATTEMPTS = 16 };

typedef struct attempt {
  const struct addrinfo *ai;
  int fd;
  int ready; /* its socket reported writable: the connect finished */
  struct connect_state *st;
} attempt;

typedef struct connect_state {
  corio_loop *loop;
  const char *what;     /* what the caller connects to, for dumps */
  corio__wait *waiting; /* the suspended task's wait, if any */
  int timer_fired;
  /* An attempt failed: the next starts at once, not after the delay
   * (RFC 8305 §5). */
  int failed;
  attempt attempts[MAX_ATTEMPTS];
  size_t count;    /* addresses to try */
  size_t started;  /* attempts started so far */
  size_t inflight; /* attempts connecting now */
  int first_error;
  char report[512]; /* "addr: error; ..." for the message */
  size_t report_len;
} connect_state;

static void wake(connect_state *st) {
  corio__wait *w = st->waiting;

  if (w) {
    st->waiting = NULL;
    corio__wait_wake(w, 0, 1);
  }
}

static int on_connect_done(void *arg) {
  attempt *a = arg;

  a->ready = 1;
  wake(a->st);
  return 0;
}

static int on_delay(void *arg) {
  connect_state *st = arg;

  st->timer_fired = 1;
  wake(st);
  return 0;
}

/* "example.com:80: 93.184.215.14:80 connecting, 1 of 2 addresses tried",
 * for dumps (task/wait.h). */
static void describe_connect(const void *object, char *buf, size_t len) {
  const connect_state *st = object;
  char addr[128] = "";
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = 0;
  corio__appendf(buf, len, &used, "%s", st->what);

  for (size_t i = 0; i < st->started; i++) {
    const attempt *a = &st->attempts[i];

    if (a->fd >= 0 && !a->ready) {
      corio_format_address(a->ai->ai_addr, a->ai->ai_addrlen, addr,
                           sizeof addr);
      break;
    }
  }
  corio__appendf(buf, len, &used, ": %s%s%zu of %zu addresses tried", addr,
                 addr[0] ? " connecting, " : "", st->started, st->count);
}

static const corio__wait_kind connect_kind = {.name = "connect",
                                              .describe = describe_connect};

static void wait_detach(corio__wait *w) {
  connect_state *st = w->data;

  if (st->waiting == w)
    st->waiting = NULL;
}

static void record_failure(connect_state *st, const struct addrinfo *ai,
                           int error) {
  char addr[128];
  int n;

  st->failed = 1;
  if (!st->first_error)
    st->first_error = error;
  if (st->report_len >= sizeof st->report - 1)
    return;
  corio_format_address(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr);
  n = snprintf(st->report + st->report_len, sizeof st->report - st->report_len,
               "%s%s: %s", st->report_len ? "; " : "", addr,
               corio_strerror(error));
  if (n > 0)
    st->report_len += (size_t)n;
  if (st->report_len >= sizeof st->report)
    st->report_len = sizeof st->report - 1;
}

static void drop_attempt(connect_state *st, attempt *a) {
  if (a->fd < 0)
    return;
  (void)corio_loop_remove_writer(st->loop, a->fd);
  corio__sys_close(a->fd);
  a->fd = -1;
  st->inflight--;
}

/* Starts the next address. Returns 1 if it connected at once (its fd in
 * *winner), else 0 (connecting, or failed and recorded). */
static int start_attempt(connect_state *st,
                         const corio_connect_options *options, int *winner) {
  attempt *a = &st->attempts[st->started++];
  const struct addrinfo *ai = a->ai;
  int fd, rc;

  a->st = st;
  a->fd = -1;
  fd = corio__sys_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0) {
    record_failure(st, ai, fd);
    return 0;
  }
  if (options->local_addr &&
      (rc = corio__sys_bind(fd, options->local_addr, options->local_addr_len)) <
          0)
    goto fail;
  rc = corio__sys_connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc == 0) {
    *winner = fd;
    return 1;
  }
  if (rc != -EINPROGRESS)
    goto fail;
  rc = corio_loop_add_writer(st->loop, fd, on_connect_done, a);
  if (rc < 0)
    goto fail;
  a->fd = fd;
  st->inflight++;
  return 0;
fail:
  corio__sys_close(fd);
  record_failure(st, ai, rc);
  return 0;
}

/* Looks at the attempts whose connect finished. */
static int collect(connect_state *st, int *winner) {
  for (size_t i = 0; i < st->started; i++) {
    attempt *a = &st->attempts[i];
    int err;

    if (a->fd < 0 || !a->ready)
      continue;
    a->ready = 0;
    err = corio__sys_socket_error(a->fd);
    if (err == 0) {
      (void)corio_loop_remove_writer(st->loop, a->fd);
      *winner = a->fd;
      a->fd = -1;
      st->inflight--;
      return 1;
    }
    record_failure(st, a->ai, err);
    drop_attempt(st, a);
  }
  return 0;
}

/* RFC 8305 §4: alternate the families, starting with the first one's. */
static size_t order_addresses(connect_state *st, const struct addrinfo *res,
                              int interleave) {
  const struct addrinfo *first[MAX_ATTEMPTS], *other[MAX_ATTEMPTS];
  size_t nf = 0, no = 0, n = 0;
  int family = res ? res->ai_family : 0;

  for (const struct addrinfo *ai = res; ai && nf + no < MAX_ATTEMPTS;
       ai = ai->ai_next) {
    if (!interleave || ai->ai_family == family)
      first[nf++] = ai;
    else
      other[no++] = ai;
  }
  for (size_t i = 0; i < nf || i < no; i++) {
    if (i < nf)
      st->attempts[n++].ai = first[i];
    if (i < no)
      st->attempts[n++].ai = other[i];
  }
  return n;
}

static int connect_addresses(corio_loop *loop, const struct addrinfo *res,
                             const corio_connect_options *options,
                             const char *what, int *out_fd) {
  double delay = options->happy_eyeballs_delay;
  int overlap, winner = -1, rc = 0;
  corio_handle *timer = NULL;
  connect_state *st;

  if (delay == 0)
    delay = CORIO_HAPPY_EYEBALLS_DEFAULT_DELAY;
  if (isnan(delay) || delay < 0)
    return -EINVAL;
  overlap = !isinf(delay);
  /* Kept off the task's stack: the attempts hold pointers to it while
   * their callbacks are installed. */
  st = corio__calloc(sizeof *st);
  if (!st)
    return -ENOMEM;
  st->loop = loop;
  st->what = what;
  st->count = order_addresses(st, res, overlap);
  for (;;) {
    corio__wait w = {
        .detach = wait_detach, .data = st, .kind = &connect_kind, .object = st};

    if (collect(st, &winner))
      break;
    if (st->started < st->count &&
        (st->inflight == 0 || st->timer_fired || st->failed)) {
      st->timer_fired = 0;
      st->failed = 0;
      if (timer) {
        corio_handle_cancel(timer);
        corio_handle_unref(timer);
        timer = NULL;
      }
      if (start_attempt(st, options, &winner))
        break;
      if (overlap && st->inflight && st->started < st->count &&
          (rc = corio_loop_call_later(loop, delay, on_delay, st, &timer)) < 0)
        break;
      continue;
    }
    if (st->inflight == 0)
      break; /* every address failed */
    w.task = corio__wait_self();
    st->waiting = &w;
    rc = corio__wait_suspend(&w);
    if (st->waiting == &w)
      st->waiting = NULL;
    if (rc < 0)
      break;
  }
  if (timer) {
    corio_handle_cancel(timer);
    corio_handle_unref(timer);
  }
  for (size_t i = 0; i < st->started; i++)
    drop_attempt(st, &st->attempts[i]);
  if (winner >= 0) {
    *out_fd = winner;
    rc = 0;
  } else if (rc == 0) {
    rc = st->first_error ? st->first_error : -ECONNREFUSED;
    (void)corio_fail(rc, "connect to %s failed: %s", what,
                     st->report_len ? st->report : "no address");
  }
  corio__free(st, sizeof *st);
  return rc;
}

/* The connected fd becomes the stream; with a TLS context the handshake
 * runs before the caller gets it (a failed one aborts it). */
static int make_stream(corio_loop *loop, int fd, int family,
                       const corio_connect_options *options,
                       const char *hostname, corio_stream **out) {
  corio_stream *s;
  int rc = corio__stream_new(loop, fd, family, options, &s);

  if (rc < 0 || !options->tls) {
    if (rc == 0)
      *out = s;
    return rc;
  }
  if (options->server_hostname)
    hostname = options->server_hostname;
  rc = corio__tls_begin(s, options->tls, hostname,
                        options->tls_handshake_timeout,
                        options->tls_shutdown_timeout);
  if (rc < 0) {
    (void)corio_stream_abort(s);
    corio_stream_unref(s);
    return rc;
  }
  *out = s;
  return 0;
}

static int check_caller(corio_stream **out, corio_loop **loop,
                        const corio_connect_options *options) {
  int rc;

  if (!out)
    return -EINVAL;
  *out = NULL;
  if (options && options->tls &&
      (rc = corio__tls_check_options(options->tls, CORIO_TLS_CLIENT,
                                     options->tls_handshake_timeout,
                                     options->tls_shutdown_timeout)) < 0)
    return rc;
  if (!corio__wait_self())
    return CORIO_ENOTASK;
  *loop = corio_loop_running();
  return 0;
}

int corio_open_connection_ex(const char *host, int port,
                             const corio_connect_options *options,
                             corio_stream **out) {
  static const corio_connect_options defaults;
  struct addrinfo *res = NULL;
  char what[300];
  corio_loop *loop;
  int rc, fd = -1;

  if ((rc = check_caller(out, &loop, options)) < 0)
    return rc;
  if (!host || !*host)
    return -EINVAL;
  if (!options)
    options = &defaults;
  rc = corio__net_resolve(host, port, options->family, 0, &res);
  if (rc < 0)
    return rc;
  snprintf(what, sizeof what, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
           port);
  rc = connect_addresses(loop, res, options, what, &fd);
  corio_freeaddrinfo(res);
  if (rc < 0)
    return rc;
  return make_stream(loop, fd, -1, options, host, out);
}

int corio_open_connection(const char *host, int port, corio_stream **out) {
  corio_connect_options options = {0};

  options.happy_eyeballs_delay = CORIO_NO_TIMEOUT;
  return corio_open_connection_ex(host, port, &options, out);
}

int corio_open_unix_connection(const char *path,
                               const corio_connect_options *options,
                               corio_stream **out) {
  struct sockaddr_un sa;
  struct addrinfo ai = {0};
  corio_connect_options opts = {0};
  corio_loop *loop;
  socklen_t len;
  int rc, fd = -1;

  if ((rc = check_caller(out, &loop, options)) < 0)
    return rc;
  if ((rc = corio__net_unix_address(path, &sa, &len)) < 0)
    return rc;
  if (options)
    opts = *options;
  opts.happy_eyeballs_delay = CORIO_NO_TIMEOUT;
  ai.ai_family = AF_UNIX;
  ai.ai_socktype = SOCK_STREAM;
  ai.ai_addr = (struct sockaddr *)&sa;
  ai.ai_addrlen = len;
  rc = connect_addresses(loop, &ai, &opts, path, &fd);
  if (rc < 0)
    return rc;
  return make_stream(loop, fd, AF_UNIX, &opts, NULL, out);
}
