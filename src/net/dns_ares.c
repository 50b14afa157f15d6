/* The c-ares resolver on the loop: no thread, thousands of lookups in
 * flight from one task's loop (docs/dns.md).
 *
 * Each loop that chose c-ares owns a channel. c-ares tells us which of
 * its sockets it wants to read or write (its socket-state callback): they
 * become the loop's readers and writers, whose callbacks hand the socket
 * back to c-ares (ares_process_fd). One loop timer stands at c-ares's
 * next deadline (ares_timeout) while queries are pending. c-ares opens
 * and uses its sockets through our socket functions, so that each one is
 * non-blocking and close-on-exec from the start and no send can raise
 * SIGPIPE.
 *
 * A lookup is a record that the task and c-ares share. c-ares calls back
 * exactly once per lookup (with ARES_EDESTRUCTION when the channel goes):
 * if the task waits, it is woken; if it let go (cancelled, timed out,
 * closed), the callback frees the record and the answer. c-ares cannot
 * cancel one query, so a cancelled lookup runs on to its end unseen. */
#include "net/dns_ares.h"

#include <errno.h>
#include <math.h> /* isinf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/net.h"
#include "corio/sync.h"
#include "corio/task.h"

#if CORIO_HAVE_CARES

#include <ares.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "core/raw.h"
#include "core/sys_net.h"
#include "loop/ext.h"
#include "net/address.h"
#include "net/dns_result.h"
#include "task/wait.h"

/* ---- per-loop state ------------------------------------------------------ */

typedef struct ares_sock ares_sock;

typedef struct dns_ares {
  corio_loop *loop;
  ares_channel channel; /* NULL: the loop uses the system resolver */
  int chosen;           /* a choice was made (else the environment's) */
  unsigned flags;       /* CORIO_RESOLVER_* of the channel */
  ares_sock *socks;     /* the sockets c-ares has open */
  corio_handle *timer;  /* at timer_when, while queries are pending */
  int64_t timer_when;
  size_t in_flight; /* lookups c-ares has not called back yet */
  /* One per lookup given to c-ares (max_in_flight of them), back when
   * c-ares calls it back: lookups beyond wait here, in FIFO order. */
  corio_semaphore permits;
  size_t queued; /* tasks waiting for a permit (woken ones included) */
} dns_ares;

/* A socket c-ares opened, and which of its events the loop watches. */
struct ares_sock {
  ares_sock *next;
  dns_ares *owner;
  int fd;
  int datagram; /* UDP: its receive buffer is set once it is watched */
  int reading, writing;
};

static void reschedule(dns_ares *d);

/* ---- c-ares's sockets ---------------------------------------------------- */

static ares_sock *find_sock(dns_ares *d, int fd) {
  ares_sock *s = d->socks;

  while (s && s->fd != fd)
    s = s->next;
  return s;
}

static void after_processing(dns_ares *d) {
  /* A query answered or timed out moves c-ares's next deadline. */
  reschedule(d);
}

static int on_readable(void *arg) {
  ares_sock *s = arg;
  dns_ares *d = s->owner;

  /* c-ares may close the socket (and free s) in here. */
  ares_process_fd(d->channel, s->fd, ARES_SOCKET_BAD);
  after_processing(d);
  return 0;
}

static int on_writable(void *arg) {
  ares_sock *s = arg;
  dns_ares *d = s->owner;

  ares_process_fd(d->channel, ARES_SOCKET_BAD, s->fd);
  after_processing(d);
  return 0;
}

/* Thousands of answers can arrive on one UDP socket before the loop
 * reads one: the kernel's default buffer (about 280 small datagrams)
 * would drop the rest, each then costing a per-try timeout. The kernel
 * caps it at net.core.rmem_max. */
#define RECEIVE_BUFFER (4 << 20)

/* c-ares sets the receive buffer (ARES_OPT_SOCK_RCVBUF) only on sockets
 * it opens itself, not through socket functions: ours is set here, when
 * c-ares first wants to read a UDP socket, before its first query leaves.
 * Not in sock_open: the sockets c-ares opens to sort addresses (RFC 6724)
 * are never read, and there are one or two per lookup. Best effort. */
static void size_receive_buffer(ares_sock *s) {
  int size = RECEIVE_BUFFER;

  (void)corio__raw_setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  s->datagram = 0;
}

/* Makes the loop watch what c-ares asks for. A watcher that cannot be
 * added (-ENOMEM) leaves that query to c-ares's timeout and next try. */
static void watch(ares_sock *s, int readable, int writable) {
  corio_loop *loop = s->owner->loop;

  if (readable && s->datagram)
    size_receive_buffer(s);
  if (readable && !s->reading)
    s->reading = corio_loop_add_reader(loop, s->fd, on_readable, s) == 0;
  else if (!readable && s->reading)
    s->reading = corio_loop_remove_reader(loop, s->fd) < 0;
  if (writable && !s->writing)
    s->writing = corio_loop_add_writer(loop, s->fd, on_writable, s) == 0;
  else if (!writable && s->writing)
    s->writing = corio_loop_remove_writer(loop, s->fd) < 0;
}

/* ARES_OPT_SOCK_STATE_CB: c-ares wants (or no longer wants) to read or
 * write fd. */
static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable) {
  ares_sock *s = find_sock(data, fd);

  if (s)
    watch(s, readable, writable);
}

/* The socket functions return -1 with errno set, as the syscalls do. */
static ares_socket_t sock_open(int family, int type, int protocol, void *data) {
  dns_ares *d = data;
  ares_sock *s = corio__calloc(sizeof *s);
  int fd;

  if (!s) {
    errno = ENOMEM;
    return ARES_SOCKET_BAD;
  }
  fd = corio__sys_socket(family, type, protocol);
  if (fd < 0) {
    corio__free(s, sizeof *s);
    errno = -fd;
    return ARES_SOCKET_BAD;
  }
  /* What c-ares's configure_socket does to its own TCP sockets: a query
   * is one small write, never worth Nagle's delay. Best effort. */
  if (type == SOCK_STREAM)
    (void)corio__raw_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
                                sizeof(int));
  s->owner = d;
  s->fd = fd;
  s->datagram = type == SOCK_DGRAM;
  s->next = d->socks;
  d->socks = s;
  return fd;
}

static int sock_close(ares_socket_t fd, void *data) {
  dns_ares *d = data;
  ares_sock **link = &d->socks;

  while (*link && (*link)->fd != fd)
    link = &(*link)->next;
  if (*link) {
    ares_sock *s = *link;

    /* The loop must forget an fd before it is closed. */
    watch(s, 0, 0);
    *link = s->next;
    corio__free(s, sizeof *s);
  }
  return corio__raw_close(fd);
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *addr,
                        ares_socklen_t len, void *data) {
  int rc = corio__sys_connect(fd, addr, len);

  (void)data;
  if (rc < 0) {
    errno = -rc;
    return -1;
  }
  return 0;
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len,
                                  int flags, struct sockaddr *from,
                                  ares_socklen_t *from_len, void *data) {
  ssize_t n;

  (void)data;
  do
    n = corio__raw_recvfrom(fd, buf, len, flags, from, from_len);
  while (n < 0 && errno == EINTR);
  return n;
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov,
                               int iovcnt, void *data) {
  ssize_t n = corio__sys_sendv(fd, iov, iovcnt, 1);

  (void)data;
  if (n < 0) {
    errno = (int)-n;
    return -1;
  }
  return n;
}

static const struct ares_socket_functions socket_functions = {
    .asocket = sock_open,
    .aclose = sock_close,
    .aconnect = sock_connect,
    .arecvfrom = sock_recvfrom,
    .asendv = sock_sendv,
};

/* ---- the timer ----------------------------------------------------------- */

static void disarm(dns_ares *d) {
  if (d->timer) {
    corio_handle_cancel(d->timer);
    corio_handle_unref(d->timer);
    d->timer = NULL;
  }
}

static int on_timer(void *arg) {
  dns_ares *d = arg;

  corio_handle_unref(d->timer);
  d->timer = NULL;
  /* No socket: c-ares only looks at its deadlines. */
  ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  reschedule(d);
  return 0;
}

/* Keeps the timer at or before c-ares's next deadline. One that stands
 * earlier is left alone (it fires, finds nothing due and moves on): so
 * most lookups arm nothing. */
static void reschedule(dns_ares *d) {
  struct timeval buf, *left;
  int64_t when;

  if (!d->channel)
    return;
  left = ares_timeout(d->channel, NULL, &buf);
  if (!left) {
    disarm(d);
    return;
  }
  when = corio_loop_time_ns(d->loop) + (int64_t)left->tv_sec * 1000000000 +
         (int64_t)left->tv_usec * 1000;
  if (d->timer && d->timer_when <= when)
    return;
  disarm(d);
  /* Without a timer (-ENOMEM) a query whose server never answers waits
   * for the next event on the channel. */
  if (corio_loop_call_at_ns(d->loop, when, on_timer, d, &d->timer) < 0)
    d->timer = NULL;
  d->timer_when = when;
}

/* ---- the channel --------------------------------------------------------- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void init_library(void) {
  library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static int setup_error(int status, const char *what) {
  if (status == ARES_ENOMEM)
    return -ENOMEM;
  return corio_fail(CORIO_EAIFAIL, "c-ares %s: %s", what,
                    ares_strerror(status));
}

static void fill_options(const corio_resolver_options *o,
                         struct ares_options *opts, int *mask) {
  memset(opts, 0, sizeof *opts);
  /* Not ARES_OPT_SOCK_RCVBUF: c-ares applies it only to sockets it opens
   * itself; sock_open sets ours. */
  *mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
  opts->flags =
      ((o->flags & CORIO_RESOLVER_TCP) ? ARES_FLAG_USEVC : 0) |
      ((o->flags & CORIO_RESOLVER_NO_SEARCH) ? ARES_FLAG_NOSEARCH : 0);
  if (o->timeout > 0) {
    double ms = o->timeout * 1000;

    /* Rounded up: a timeout below 1 ms is still one. */
    opts->timeout = ms > 86400000 ? 86400000 : (int)ms + ((int)ms < ms);
    *mask |= ARES_OPT_TIMEOUTMS;
  }
  if (o->tries > 0) {
    opts->tries = o->tries;
    *mask |= ARES_OPT_TRIES;
  }
  if (o->flags & CORIO_RESOLVER_NO_HOSTS_FILE) {
    /* "b": DNS only; c-ares's default is "fb" (the hosts file first). */
    opts->lookups = (char *)"b";
    *mask |= ARES_OPT_LOOKUPS;
  }
}

/* A channel for d set up as o says: 0, or an error with nothing made. */
static int make_channel(dns_ares *d, const corio_resolver_options *o,
                        ares_channel *out) {
  struct ares_options opts;
  int mask, status;

  pthread_once(&library_once, init_library);
  if (library_status != ARES_SUCCESS)
    return setup_error(library_status, "library");
  fill_options(o, &opts, &mask);
  opts.sock_state_cb = sock_state;
  opts.sock_state_cb_data = d;
  if (corio__fault_hit(CORIO__FAULT_ARES))
    status = ARES_ENOMEM;
  else
    status = ares_init_options(out, &opts, mask);
  if (status != ARES_SUCCESS)
    return setup_error(status, "channel");
  ares_set_socket_functions(*out, &socket_functions, d);
  if (o->servers && o->servers[0]) {
    status = ares_set_servers_ports_csv(*out, o->servers);
    if (status != ARES_SUCCESS) {
      ares_destroy(*out);
      *out = NULL;
      return status == ARES_ENOMEM
                 ? -ENOMEM
                 : corio_fail(-EINVAL, "c-ares servers \"%s\": %s", o->servers,
                              ares_strerror(status));
    }
  }
  return 0;
}

/* Closes the channel: c-ares calls back every lookup still in flight
 * (ARES_EDESTRUCTION) and closes its sockets through sock_close. */
static void drop_channel(dns_ares *d) {
  ares_channel channel = d->channel;

  if (!channel)
    return;
  ares_destroy(channel);
  d->channel = NULL;
  disarm(d);
}

/* Loop close, first thing: the tasks were closed by then (their lookups
 * let go), so what c-ares calls back is freed. */
static void close_state(corio_loop *loop, void *data) {
  (void)loop;
  drop_channel(data);
}

static void free_state(void *data) { corio__free(data, sizeof(dns_ares)); }

static const corio__loop_ext_ops dns_ext_ops = {
    .close = close_state,
    .free = free_state,
};

static int get_state(corio_loop *loop, dns_ares **out) {
  void *data = NULL;
  int rc = corio__loop_ext_get_or_make(loop, CORIO__LOOP_EXT_DNS,
                                       sizeof(dns_ares), &dns_ext_ops, &data);

  if (rc < 0)
    return rc;
  *out = data;
  (*out)->loop = loop;
  return 0;
}

/* ---- choosing ------------------------------------------------------------ */

static int env_wants_ares(void) {
  const char *v = getenv("CORIO_RESOLVER");

  return v && strcmp(v, "ares") == 0;
}

static int check_options(const corio_resolver_options *o) {
  unsigned known = CORIO_RESOLVER_NO_HOSTS_FILE | CORIO_RESOLVER_TCP |
                   CORIO_RESOLVER_NO_SEARCH | CORIO_RESOLVER_NO_SORT;

  if (!(o->timeout >= 0) || isinf(o->timeout) || o->tries < 0 ||
      o->max_in_flight < 0 || (o->flags & ~known))
    return -EINVAL;
  return 0;
}

/* Lookups on the channel, or waiting for it: it cannot be replaced. */
static int busy(const dns_ares *d) { return d->in_flight || d->queued; }

static corio_loop *loop_or_current(corio_loop *loop) {
  return loop ? loop : corio_loop_current();
}

int corio_resolver_ares_available(void) { return 1; }

/* The loop's resolver state, to be replaced: CORIO_ELOOPCLOSED on a
 * closed loop, -EBUSY while lookups are in flight. */
static int idle_state(corio_loop *loop, dns_ares **out) {
  int rc;

  if (corio_loop_is_closed(loop))
    return CORIO_ELOOPCLOSED;
  if ((rc = get_state(loop, out)) < 0)
    return rc;
  return busy(*out) ? -EBUSY : 0;
}

int corio_loop_use_ares(corio_loop *loop,
                        const corio_resolver_options *options) {
  static const corio_resolver_options defaults;
  ares_channel channel = NULL;
  dns_ares *d;
  int rc;

  loop = loop_or_current(loop);
  if (!options)
    options = &defaults;
  if (!loop || check_options(options) < 0)
    return -EINVAL;
  if ((rc = idle_state(loop, &d)) < 0)
    return rc;
  if ((rc = make_channel(d, options, &channel)) < 0)
    return rc;
  drop_channel(d);
  d->channel = channel;
  d->flags = options->flags;
  /* Nothing holds or waits for a permit (busy above): a fresh count. */
  (void)corio_semaphore_init(&d->permits, options->max_in_flight
                                              ? options->max_in_flight
                                              : CORIO_RESOLVER_MAX_IN_FLIGHT);
  d->chosen = 1;
  return 0;
}

int corio_loop_use_system_resolver(corio_loop *loop) {
  dns_ares *d;
  int rc;

  loop = loop_or_current(loop);
  if (!loop)
    return -EINVAL;
  if ((rc = idle_state(loop, &d)) < 0)
    return rc;
  drop_channel(d);
  d->chosen = 1;
  return 0;
}

int corio_loop_resolver(corio_loop *loop) {
  dns_ares *d;

  loop = loop_or_current(loop);
  if (!loop)
    return -EINVAL;
  d = corio__loop_ext_get(loop, CORIO__LOOP_EXT_DNS);
  if (d && d->chosen)
    return d->channel ? CORIO_RESOLVER_ARES : CORIO_RESOLVER_SYSTEM;
  return env_wants_ares() ? CORIO_RESOLVER_ARES : CORIO_RESOLVER_SYSTEM;
}

int corio__ares_selected(corio_loop *loop) {
  dns_ares *d;

  if (!loop)
    return 0;
  d = corio__loop_ext_get(loop, CORIO__LOOP_EXT_DNS);
  if (d && d->chosen)
    return d->channel != NULL;
  if (!env_wants_ares())
    return 0;
  /* The environment's default, made now; if c-ares cannot start, the
   * loop stays with the system resolver (and does not try again). */
  if (corio_loop_use_ares(loop, NULL) < 0) {
    if (get_state(loop, &d) == 0)
      d->chosen = 1;
    return 0;
  }
  return 1;
}

/* ---- a lookup ------------------------------------------------------------ */

typedef struct ares_lookup {
  dns_ares *owner;
  size_t size;         /* of this record */
  corio__wait *waiter; /* the task's wait, while it waits */
  int abandoned;       /* the task let go: the callback frees the record */
  int done;            /* c-ares called back, with status */
  int status;
  /* For dumps, while the task waits (its arguments are alive then). */
  const char *what;
  const struct sockaddr *addr;
  socklen_t addr_len;
  /* The answer: getaddrinfo's, or getnameinfo's copied (its strings live
   * during the callback only); too long a name sets overflow. */
  struct ares_addrinfo *ai;
  int overflow;
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
} ares_lookup;

/* getaddrinfo's records stop before getnameinfo's buffers. */
#define GAI_LOOKUP_SIZE offsetof(ares_lookup, host)

/* A lookup record, once a permit is free (waiting in line for one while
 * max_in_flight lookups are with c-ares: cancellable, as every wait). On
 * success the permit is the record's until c-ares calls it back. */
static int lookup_new(dns_ares *d, size_t size, ares_lookup **out) {
  ares_lookup *l;
  int rc;

  d->queued++;
  rc = corio_semaphore_acquire(&d->permits);
  d->queued--;
  if (rc < 0)
    return rc;
  if (!(l = corio__calloc(size))) {
    corio_semaphore_release(&d->permits);
    return -ENOMEM;
  }
  l->owner = d;
  l->size = size;
  d->in_flight++;
  *out = l;
  return 0;
}

static void lookup_free(ares_lookup *l) {
  if (l->ai)
    ares_freeaddrinfo(l->ai);
  corio__free(l, l->size);
}

/* c-ares's answer (once per lookup). Returns whether the task still
 * wants it: if not, the lookup is freed here. */
static int lookup_answered(ares_lookup *l, int status) {
  l->owner->in_flight--;
  /* The query is over at the server too: the next in line may start. */
  corio_semaphore_release(&l->owner->permits);
  l->status = status;
  l->done = 1;
  if (l->abandoned) {
    lookup_free(l);
    return 0;
  }
  if (l->waiter)
    corio__wait_wake(l->waiter, 0, 0);
  return 1;
}

static void lookup_detach(corio__wait *w) {
  ares_lookup *l = w->data;

  l->waiter = NULL;
  l->abandoned = 1;
}

/* Waits for c-ares's answer (it may have come already: c-ares answers
 * some lookups inside the call, from the hosts file or at once). 0: the
 * answer is in l, still the caller's to free. An error: l is no longer
 * the caller's. */
static int lookup_wait(ares_lookup *l, const corio__wait_kind *kind) {
  corio__wait w = {.detach = lookup_detach,
                   .task = corio__wait_self(),
                   .data = l,
                   .kind = kind,
                   .object = l};
  int rc;

  if (l->done)
    return 0;
  l->waiter = &w;
  rc = corio__wait_suspend(&w);
  l->waiter = NULL;
  if (rc < 0) {
    /* Let go before the answer (c-ares frees it later), or cancelled
     * after it was given: then it is dropped here. */
    if (!l->abandoned)
      lookup_free(l);
    return rc;
  }
  return 0;
}

/* ---- errors -------------------------------------------------------------- */

static int ares_code(int status) {
  switch (status) {
  case ARES_SUCCESS:
    return 0;
  case ARES_ENOTFOUND: /* NXDOMAIN */
  case ARES_ENONAME:
  case ARES_EBADNAME:
    return CORIO_EAINONAME;
  case ARES_ENODATA:
    return CORIO_EAINODATA;
  case ARES_ETIMEOUT:
  case ARES_ECONNREFUSED:
  case ARES_ESERVFAIL:
  case ARES_EREFUSED:
  case ARES_EOF:
    return CORIO_EAIAGAIN; /* as glibc: try again later */
  case ARES_EFORMERR:
  case ARES_ENOTIMP:
  case ARES_EBADRESP:
  case ARES_EBADQUERY:
  case ARES_EFILE:
    return CORIO_EAIFAIL;
  case ARES_EBADFAMILY:
    return CORIO_EAIFAMILY;
  case ARES_ESERVICE:
    return CORIO_EAISERVICE;
  case ARES_EBADFLAGS:
  case ARES_EBADHINTS:
  case ARES_EBADSTR:
    return -EINVAL;
  case ARES_ENOMEM:
    return -ENOMEM;
  case ARES_EDESTRUCTION:
  case ARES_ECANCELLED:
    return CORIO_ECLOSED;
  default:
    return CORIO_EAIOTHER;
  }
}

static int fail_status(int status, const char *what) {
  return corio_fail(ares_code(status), "%s: %s", what, ares_strerror(status));
}

/* ---- getaddrinfo --------------------------------------------------------- */

static void describe_lookup(const void *object, char *buf, size_t len) {
  const ares_lookup *l = object;

  if (l->addr)
    corio_format_address(l->addr, l->addr_len, buf, len);
  else
    snprintf(buf, len, "%s", l->what ? l->what : "");
}

static const corio__wait_kind getaddrinfo_kind = {
    .name = "getaddrinfo (c-ares)", .describe = describe_lookup};
static const corio__wait_kind getnameinfo_kind = {
    .name = "getnameinfo (c-ares)", .describe = describe_lookup};

static void gai_answered(void *arg, int status, int timeouts,
                         struct ares_addrinfo *res) {
  ares_lookup *l = arg;

  (void)timeouts;
  l->ai = res; /* freed with l, if nobody takes it */
  (void)lookup_answered(l, status);
}

/* One of libc's flags and c-ares's counterpart. */
struct flag_pair {
  int ours, theirs;
};

/* flags through map; -1 for a flag the map (c-ares) does not know. */
static int translate_flags(int flags, const struct flag_pair *map,
                           size_t count) {
  int out = 0;

  for (size_t i = 0; i < count; i++) {
    if (flags & map[i].ours) {
      out |= map[i].theirs;
      flags &= ~map[i].ours;
    }
  }
  return flags ? -1 : out;
}

static const struct flag_pair ai_flag_map[] = {
    {AI_CANONNAME, ARES_AI_CANONNAME},   {AI_NUMERICHOST, ARES_AI_NUMERICHOST},
    {AI_PASSIVE, ARES_AI_PASSIVE},       {AI_NUMERICSERV, ARES_AI_NUMERICSERV},
    {AI_V4MAPPED, ARES_AI_V4MAPPED},     {AI_ALL, ARES_AI_ALL},
    {AI_ADDRCONFIG, ARES_AI_ADDRCONFIG},
};

/* getaddrinfo's flags as c-ares's; -1 for a flag c-ares does not know. */
static int ares_ai_flags(int flags) {
  return translate_flags(flags, ai_flag_map,
                         sizeof ai_flag_map / sizeof ai_flag_map[0]);
}

/* The canonical name: the end of the CNAME chain, else the name asked. */
static const char *canonical_name(const struct ares_addrinfo *ai) {
  const struct ares_addrinfo_cname *c = ai->cnames;

  while (c && c->next)
    c = c->next;
  return c && c->name ? c->name : ai->name;
}

/* c-ares's answer as a chain in glibc's layout (dns_result.h). */
static int convert_answer(const struct ares_addrinfo *ai,
                          const struct addrinfo *hints, struct addrinfo **res) {
  const char *canon =
      (hints->ai_flags & AI_CANONNAME) ? canonical_name(ai) : NULL;
  struct addrinfo *head = NULL, **tail = &head;

  for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
    struct addrinfo *node = corio__addrinfo_node(
        n->ai_family, n->ai_socktype ? n->ai_socktype : hints->ai_socktype,
        n->ai_protocol ? n->ai_protocol : hints->ai_protocol, n->ai_addr,
        n->ai_addrlen, head ? NULL : canon);

    if (!node) {
      corio_freeaddrinfo(head);
      return -ENOMEM;
    }
    node->ai_flags = hints->ai_flags;
    *tail = node;
    tail = &node->ai_next;
  }
  if (!head)
    return CORIO_EAINODATA;
  *res = head;
  return 0;
}

static void describe_gai_what(char *what, size_t len, const char *host,
                              const char *service) {
  if (service)
    snprintf(what, len, "%s, service %s", host, service);
  else
    snprintf(what, len, "%s", host);
}

int corio__ares_getaddrinfo(corio_loop *loop, const char *host,
                            const char *service, const struct addrinfo *hints,
                            struct addrinfo **res) {
  dns_ares *d = corio__loop_ext_get(loop, CORIO__LOOP_EXT_DNS);
  struct addrinfo want = {.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG};
  struct ares_addrinfo_hints ah;
  ares_lookup *l;
  char what[320];
  int rc, flags;

  if (hints)
    want = (struct addrinfo){.ai_flags = hints->ai_flags,
                             .ai_family = hints->ai_family,
                             .ai_socktype = hints->ai_socktype,
                             .ai_protocol = hints->ai_protocol};
  if ((flags = ares_ai_flags(want.ai_flags)) < 0)
    return -EINVAL; /* as EAI_BADFLAGS */
  if (!host[0]) {
    /* glibc knows no empty name, without asking; c-ares would ask the
     * server about the root. */
    describe_gai_what(what, sizeof what, host, service);
    return corio_fail(CORIO_EAINONAME, "%s: %s", what,
                      gai_strerror(EAI_NONAME));
  }
  ah = (struct ares_addrinfo_hints){
      .ai_flags =
          flags | ((d->flags & CORIO_RESOLVER_NO_SORT) ? ARES_AI_NOSORT : 0),
      .ai_family = want.ai_family,
      .ai_socktype = want.ai_socktype,
      .ai_protocol = want.ai_protocol};
  if ((rc = lookup_new(d, GAI_LOOKUP_SIZE, &l)) < 0)
    return rc;
  l->what = host;
  ares_getaddrinfo(d->channel, host, service, &ah, gai_answered, l);
  reschedule(d);
  if ((rc = lookup_wait(l, &getaddrinfo_kind)) < 0)
    return rc;
  describe_gai_what(what, sizeof what, host, service);
  if (l->status != ARES_SUCCESS)
    rc = fail_status(l->status, what);
  else if ((rc = convert_answer(l->ai, &want, res)) == CORIO_EAINODATA)
    rc = fail_status(ARES_ENODATA, what);
  lookup_free(l);
  return rc;
}

/* ---- getnameinfo --------------------------------------------------------- */

static void copy_answer(char *to, size_t size, const char *from,
                        int *overflow) {
  size_t n;

  if (!from)
    return;
  n = strlen(from);
  if (n >= size) {
    *overflow = 1;
    return;
  }
  memcpy(to, from, n + 1);
}

static void gni_answered(void *arg, int status, int timeouts, char *node,
                         char *service) {
  ares_lookup *l = arg;

  (void)timeouts;
  if (!l->abandoned && status == ARES_SUCCESS) {
    copy_answer(l->host, sizeof l->host, node, &l->overflow);
    copy_answer(l->service, sizeof l->service, service, &l->overflow);
  }
  (void)lookup_answered(l, status);
}

static const struct flag_pair ni_flag_map[] = {
    {NI_NOFQDN, ARES_NI_NOFQDN},
    {NI_NUMERICHOST, ARES_NI_NUMERICHOST},
    {NI_NAMEREQD, ARES_NI_NAMEREQD},
    {NI_NUMERICSERV, ARES_NI_NUMERICSERV},
    {NI_DGRAM, ARES_NI_DGRAM},
#ifdef NI_NUMERICSCOPE
    {NI_NUMERICSCOPE, ARES_NI_NUMERICSCOPE},
#endif
};

/* getnameinfo's flags as c-ares's; -1 for a flag c-ares does not know. */
static int ares_ni_flags(int flags) {
  return translate_flags(flags, ni_flag_map,
                         sizeof ni_flag_map / sizeof ni_flag_map[0]);
}

/* Into the caller's buffer (size 0: not asked for): -ENOBUFS when it does
 * not fit, as glibc's EAI_OVERFLOW. */
static int give(char *to, size_t size, const char *from) {
  size_t n = strlen(from) + 1;

  if (!size)
    return 0;
  if (n > size)
    return -ENOBUFS;
  memcpy(to, from, n);
  return 0;
}

int corio__ares_getnameinfo(corio_loop *loop, const struct sockaddr *addr,
                            socklen_t len, char *host, size_t host_len,
                            char *service, size_t service_len, int flags) {
  dns_ares *d = corio__loop_ext_get(loop, CORIO__LOOP_EXT_DNS);
  int aflags = ares_ni_flags(flags);
  socklen_t exact;
  char what[160];
  ares_lookup *l;
  int rc;

  if (aflags < 0)
    return -EINVAL; /* as EAI_BADFLAGS */
  /* c-ares takes the exact size only; glibc any that holds the address
   * (a whole sockaddr_storage, say), and calls a shorter one a family it
   * does not support. */
  exact = addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                     : sizeof(struct sockaddr_in6);
  if (len < exact) {
    corio_format_address(addr, len, what, sizeof what);
    return corio_fail(CORIO_EAIFAMILY, "%s: %s", what,
                      gai_strerror(EAI_FAMILY));
  }
  len = exact;
  aflags |= (host_len ? ARES_NI_LOOKUPHOST : 0) |
            (service_len ? ARES_NI_LOOKUPSERVICE : 0);
  if ((rc = lookup_new(d, sizeof *l, &l)) < 0)
    return rc;
  l->addr = addr;
  l->addr_len = len;
  ares_getnameinfo(d->channel, addr, len, aflags, gni_answered, l);
  reschedule(d);
  if ((rc = lookup_wait(l, &getnameinfo_kind)) < 0)
    return rc;
  corio_format_address(addr, len, what, sizeof what);
  if (l->status != ARES_SUCCESS)
    rc = fail_status(l->status, what);
  else if (l->overflow)
    rc = -ENOBUFS;
  else if ((rc = give(host, host_len, l->host)) == 0)
    rc = give(service, service_len, l->service);
  lookup_free(l);
  return rc;
}

#else /* !CORIO_HAVE_CARES */

/* Built without c-ares: the system resolver only. */

int corio_resolver_ares_available(void) { return 0; }

int corio_loop_use_ares(corio_loop *loop,
                        const corio_resolver_options *options) {
  (void)loop;
  (void)options;
  return -ENOTSUP;
}

int corio_loop_use_system_resolver(corio_loop *loop) {
  if (!loop && !corio_loop_current())
    return -EINVAL;
  return 0;
}

int corio_loop_resolver(corio_loop *loop) {
  if (!loop && !corio_loop_current())
    return -EINVAL;
  return CORIO_RESOLVER_SYSTEM;
}

int corio__ares_selected(corio_loop *loop) {
  (void)loop;
  return 0;
}

int corio__ares_getaddrinfo(corio_loop *loop, const char *host,
                            const char *service, const struct addrinfo *hints,
                            struct addrinfo **res) {
  (void)loop, (void)host, (void)service, (void)hints, (void)res;
  return -ENOTSUP;
}

int corio__ares_getnameinfo(corio_loop *loop, const struct sockaddr *addr,
                            socklen_t len, char *host, size_t host_len,
                            char *service, size_t service_len, int flags) {
  (void)loop, (void)addr, (void)len, (void)host, (void)host_len;
  (void)service, (void)service_len, (void)flags;
  return -ENOTSUP;
}

#endif
