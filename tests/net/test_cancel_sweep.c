/* The cancellation sweep over streams and servers (issue 18): each
 * scenario is a task making a sequence of corio calls; it runs once
 * uncancelled, then cancelled at each of its suspensions in turn, and for
 * each of those once more at each suspension of its cleanup (see
 * tests/support/sweep.h for how a suspension is pinned down exactly).
 * After every run: the interrupted call returned -ECANCELED, what the
 * peer received is exactly a prefix of what was written, and all of it
 * when the cleanup ran to its end (no byte lost, none duplicated), what
 * the scenario read is a prefix of what was sent, all of it when its
 * cleanup read to EOF, and no fd or corio allocation is left; ASan and
 * Valgrind runs check the rest of the memory.
 *
 * Scenarios: a client (open_connection, write, drain, readline,
 * readexactly, readuntil, read_all, close, wait_closed) over TCP and over
 * a Unix socket; a server's handler (the same reads and writes from the
 * server's side); a server's whole life (start_server on "localhost",
 * which resolves on the executor, a connection to it, server_close,
 * server_wait_closed); serve_forever with a client in its handler.
 * With TLS built (CORIO_TEST_TLS, tls_certs.c linked): a TLS client (its
 * handshake, the reads and writes, close with its close_notify exchange,
 * wait_closed), a TLS server's handler, and start_tls on a plain
 * connection, from the client's side and from the handler's.
 *
 * The client, handler and TLS scenarios run on an io_uring loop too,
 * where completions step tasks outside any loop callback (sweep.h
 * patches them); skipped, saying why, where the kernel refuses io_uring
 * and under Valgrind (see tests/support/backend_gate.c). */
#include <signal.h>
#include <stdlib.h>

#include "net_robust.h"
#include "sweep.h"
#ifdef CORIO_TEST_TLS
#include "corio/tls.h"
#include "tls_certs.h"
#endif

/* The loop each point runs on: NULL, the default (epoll); or io_uring. */
static const corio_loop_options *backend;
static const corio_loop_options uring_only = {CORIO_LOOP_BACKEND_IO_URING,
                                              CORIO_LOOP_NO_FALLBACK};

/* What the client writes (big: drain waits while the peer reads), and
 * the message that goes the other way: a line, a block, a part ended by
 * "END", a tail up to EOF. Smaller under Valgrind: every byte is checked
 * by both ends, and the sweep runs a point per suspension. */
static size_t big_len, block_len, msg_len;
static unsigned char *big, *msg;
static const char line[] = "hello, sweep\n";

enum { MSG_EXTRA = 64 };

static void make_data(void) {
  size_t at = 0;

  big_len = corio_test_under_valgrind() ? 96 * 1024 : 192 * 1024;
  block_len = corio_test_under_valgrind() ? 48 * 1024 : 96 * 1024;
  msg_len = strlen(line) + block_len + 9 + 5;
  big = malloc(big_len);
  msg = malloc(msg_len);
  assert_non_null(big);
  assert_non_null(msg);
  pattern_fill(big, big_len, 1, 0);
  memcpy(msg, line, strlen(line));
  at += strlen(line);
  /* The block never holds "END" nor a newline (the readline and the
   * readuntil must stop where the test expects). */
  for (size_t i = 0; i < block_len; i++)
    msg[at + i] = (unsigned char)('a' + pattern_byte(2, i) % 26);
  at += block_len;
  memcpy(msg + at, "part, END", 9);
  at += 9;
  memcpy(msg + at, "tail\n", 5);
}

/* Sends data a piece at a time, letting the loop run between pieces: the
 * reader at the other end gets them one by one, each arrival a wake-up
 * of its read (a suspension more to sweep), whatever the socket buffers'
 * sizes. Returns 0 or the first error. */
enum { PIECE = 4096 };

/* Appends what a read gave into a buffer that is checked against what
 * was sent: has room for more, so a duplicated byte shows. */
struct sink {
  unsigned char *buf;
  size_t len, cap;
};

static int sink_init(struct sink *k, size_t want) {
  k->len = 0;
  k->cap = want + MSG_EXTRA;
  k->buf = malloc(k->cap);
  return k->buf ? 0 : -ENOMEM;
}

/* Reads everything to EOF into k; 0 at EOF, or the read's error. */
static int sink_read_to_eof(corio_stream *s, struct sink *k) {
  for (;;) {
    size_t n = 0;
    int rc;

    if (k->len == k->cap)
      return -ENOBUFS; /* more than was sent */
    rc = corio_stream_read(s, k->buf + k->len, k->cap - k->len, &n);
    if (rc < 0)
      return rc;
    if (n == 0)
      return 0;
    k->len += n;
  }
}

/* k holds a prefix of want[0..want_len), or all of it. */
static int sink_prefix_of(const struct sink *k, const void *want,
                          size_t want_len) {
  return k->len <= want_len && memcmp(k->buf, want, k->len) == 0;
}

/* A TLS handshake that a cancel cut short fails on the server's side
 * too, and a server reports that to the loop's exception handler:
 * expected here, so kept off stderr (counted, for a trace). */
static long quiet_reports;

static void quiet_handler(corio_loop *loop, const corio_loop_error *e,
                          void *arg) {
  (void)loop, (void)e, (void)arg;
  quiet_reports++;
}

/* Connects to 127.0.0.1:port, over TLS with tls (checking the name
 * "localhost"), else in the clear. */
static int connect_to(int port, struct corio_tls_context *tls,
                      corio_stream **out) {
  corio_connect_options o = {0};

  if (!tls)
    return corio_open_connection("127.0.0.1", port, out);
  o.tls = tls;
  o.server_hostname = "localhost";
  return corio_open_connection_ex("127.0.0.1", port, &o, out);
}

/* A server on 127.0.0.1, TLS with tls (a server context). */
static int serve_on(corio_stream_handler handler, void *arg,
                    struct corio_tls_context *tls, corio_server **out) {
  corio_server_options o = {0};

  o.tls = tls;
  if (tls)
    corio_loop_set_exception_handler(corio_loop_current(), quiet_handler, NULL);
  return corio_start_server(handler, arg, "127.0.0.1", 0, &o, out);
}

/* ---- one point's run ----------------------------------------------------- */

/* ---- a client ------------------------------------------------------------ */

struct client_case {
  int unix_socket;
  /* TLS: the server's and the client's contexts (else NULL). */
  struct corio_tls_context *server_tls, *client_tls;
  char path[108];
  int port;
  sweep_point *pt;
  /* the client's */
  struct sink got;
  size_t wrote;
  int first_rc, cleanup_rc, connected;
  /* the server's handler */
  struct sink peer_got;
  int peer_rc, handlers;
};

/* The peer of the client: reads what the client writes (all of it, or
 * up to its EOF), then sends the message in pieces and a half-close, and
 * reads on to EOF (nothing more may come). TLS has no half-close: there
 * the client reads exactly the message, and its close_notify is the EOF
 * this reads to (the server's close then sends the peer's). */
static int client_peer(corio_stream *s, void *arg) {
  struct client_case *c = arg;
  size_t n = 0;
  int rc;

  c->handlers++;
  rc = corio_stream_readexactly(s, c->peer_got.buf, big_len, &n);
  if (rc == 0 || rc == CORIO_EINCOMPLETEREAD)
    c->peer_got.len = n;
  if (rc == 0)
    rc = sweep_write_in_pieces(s, msg, msg_len, PIECE);
  if (rc == 0 && !c->client_tls)
    rc = corio_stream_write_eof(s);
  if (rc == 0)
    rc = sink_read_to_eof(s, &c->peer_got);
  c->peer_rc = rc;
  return 0;
}

/* One step of the client's sequence: the first error stops it. */
#define STEP(call)                                                             \
  do {                                                                         \
    if (rc == 0)                                                               \
      rc = (call);                                                             \
  } while (0)

/* One read of the message into k, in the form asked: 0 readline, 1
 * readexactly of a block, 2 readuntil "END", 3 read_all, 4 the rest of
 * the message exactly (TLS: no EOF comes). */
static int sink_read(corio_stream *s, struct sink *k, int form) {
  size_t n = 0, room = k->cap - k->len;
  unsigned char *at = k->buf + k->len;
  int rc;

  switch (form) {
  case 0:
    rc = corio_stream_readline(s, at, room, &n);
    break;
  case 1:
    rc = corio_stream_readexactly(s, at, block_len, &n);
    break;
  case 2:
    rc = corio_stream_readuntil(s, "END", 3, at, room, &n);
    break;
  case 3:
    rc = corio_stream_read_all(s, at, room, &n);
    break;
  default:
    rc = corio_stream_readexactly(s, at, msg_len - k->len, &n);
    break;
  }
  if (rc == 0)
    k->len += n;
  return rc;
}

static int client_task(void *arg, void **result) {
  struct client_case *c = arg;
  corio_stream *s = NULL;
  int rc = 0, closed = 0;

  (void)result;
  if (c->unix_socket)
    rc = corio_open_unix_connection(c->path, NULL, &s);
  else
    rc = connect_to(c->port, c->client_tls, &s);
  c->connected = rc == 0;
  if (rc == 0) {
    /* A small send buffer (the peer's receive buffer keeps its size, so
     * TCP's window never closes): most of the write stays queued in the
     * stream and drain waits. */
    int size = 16384;

    setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  STEP(corio_stream_write(s, big, big_len));
  if (rc == 0)
    c->wrote = big_len;
  STEP(corio_stream_drain(s));
  for (int form = 0; form < 3; form++)
    STEP(sink_read(s, &c->got, form));
  STEP(sink_read(s, &c->got, c->client_tls ? 4 : 3));
  if (rc == 0) {
    closed = 1;
    rc = corio_stream_close(s);
    STEP(corio_stream_wait_closed(s));
  }
  c->first_rc = rc;
  if (rc < 0 && s) {
    /* The cleanup: what the peer still sends is read to EOF (TLS: the
     * rest of the message; a cancelled read consumed nothing), then the
     * stream is closed (what is queued is still sent) and waited for. */
    int crc = closed          ? 0
              : c->client_tls ? sink_read(s, &c->got, 4)
                              : sink_read_to_eof(s, &c->got);

    (void)corio_stream_close(s);
    if (crc == 0)
      crc = corio_stream_wait_closed(s);
    c->cleanup_rc = crc;
  }
  corio_stream_unref(s);
  return rc;
}

static int client_main(void *arg, void **result) {
  struct client_case *c = arg;
  corio_server *srv = NULL;
  corio_task *t = NULL;
  int rc;

  (void)result;
  sweep_install();
  if (c->unix_socket)
    rc = corio_start_unix_server(client_peer, c, c->path, NULL, &srv);
  else
    rc = serve_on(client_peer, c, c->server_tls, &srv);
  CHECK_EQ(rc, 0);
  if (rc < 0) {
    sweep_uninstall();
    return 0;
  }
  c->port = corio_server_port(srv);
  CHECK_EQ(corio_spawn(&t, client_task, c), 0);
  sweep_watch(t, c->pt->cancel_at[0], c->pt->cancel_at[1]);
  (void)corio_task_await(t, NULL);
  sweep_collect(c->pt);
  /* Every handler has returned: the peer read to its EOF. */
  CHECK_EQ(server_finish(srv), 0);
  sweep_uninstall();
  sweep_check_outcome(c->pt, t, c->first_rc);
  corio_task_unref(t);
  corio_server_unref(srv);
  return 0;
}

static int client_point(void *ctx, sweep_point *pt) {
  struct client_case *c = ctx;
  int whole;

  c->pt = pt;
  c->wrote = 0;
  c->first_rc = c->cleanup_rc = 1;
  c->connected = c->handlers = 0;
  c->peer_rc = 1;
  c->got.len = c->peer_got.len = 0;
  sweep_run_point(client_main, c, backend, NULL);
  /* The client's reads: a prefix of the message, all of it when the
   * cleanup read to EOF (or nothing was cancelled). */
  CHECK_TRUE(sink_prefix_of(&c->got, msg, msg_len));
  whole = c->connected && (c->first_rc == 0 || c->cleanup_rc == 0);
  if (whole)
    CHECK_EQ(c->got.len, msg_len);
  /* The peer's: a prefix of what was written; all of it when the client
   * closed after reading to EOF (a close with unread bytes may reset). */
  CHECK_TRUE(c->handlers <= 1);
  CHECK_TRUE(sink_prefix_of(&c->peer_got, big, big_len));
  if (whole) {
    CHECK_EQ(c->handlers, 1);
    CHECK_EQ(c->peer_got.len, c->wrote);
    if (c->wrote == big_len)
      CHECK_EQ(c->peer_rc, 0);
  }
  sweep_report(c->client_tls    ? "tls client"
               : c->unix_socket ? "unix client"
                                : "tcp client",
               pt);
  return failed.line != 0;
}

/* The scenario's name, with the backend's when it is not the default. */
static const char *named(const char *scenario) {
  static char name[64];

  snprintf(name, sizeof name, "%s%s", scenario, backend ? " (io_uring)" : "");
  return name;
}

static void sweep_client(int unix_socket, struct corio_tls_context *server_tls,
                         struct corio_tls_context *client_tls) {
  struct client_case c;
  sweep_stats st;

  memset(&c, 0, sizeof c);
  c.unix_socket = unix_socket;
  c.server_tls = server_tls;
  c.client_tls = client_tls;
  snprintf(c.path, sizeof c.path, "/tmp/corio-sweep-%ld.sock", (long)getpid());
  assert_int_equal(sink_init(&c.got, msg_len), 0);
  assert_int_equal(sink_init(&c.peer_got, big_len), 0);
  assert_int_equal(sweep_all(named(client_tls    ? "tls client"
                                   : unix_socket ? "unix client"
                                                 : "tcp client"),
                             client_point, &c, 400, 8, &st),
                   0);
  /* The sweep went somewhere: the connect and a read suspend at least
   * (how many reads and drains do depends on the sizes). */
  assert_true(st.first >= 2);
  free(c.got.buf);
  free(c.peer_got.buf);
  assert_checks_passed();
}

static void test_tcp_client(void **state) {
  (void)state;
  sweep_client(0, NULL, NULL);
}

static void test_unix_client(void **state) {
  (void)state;
  sweep_client(1, NULL, NULL);
}

/* ---- a server's handler -------------------------------------------------- */

struct handler_case {
  struct corio_tls_context *server_tls, *client_tls; /* TLS, else NULL */
  sweep_point *pt;
  int port;
  corio_task *handler; /* the first connection's, held */
  /* the handler's */
  struct sink got;
  size_t wrote;
  int first_rc, cleanup_rc;
  /* the client's */
  struct sink client_got;
  int client_rc;
};

/* The target: reads the message piece by piece and answers with the big
 * buffer in two writes (the first drained). When cancelled it reads what
 * is left to EOF and returns; the server closes the stream. Over TLS the
 * client closes (its close_notify: that EOF) only once it has the whole
 * buffer, so a cancelled handler writes the rest first. */
static int target_handler(corio_stream *s, void *arg) {
  struct handler_case *h = arg;
  size_t half = big_len / 2;
  int rc = 0;

  if (h->handler)
    return -EPROTO; /* one connection only */
  h->handler = corio_task_ref(corio_current_task());
  sweep_watch(h->handler, h->pt->cancel_at[0], h->pt->cancel_at[1]);
  STEP(sink_read(s, &h->got, 0));
  STEP(sink_read(s, &h->got, 1));
  STEP(corio_stream_write(s, big, half));
  if (rc == 0)
    h->wrote = half;
  STEP(corio_stream_drain(s));
  STEP(sink_read(s, &h->got, 2));
  STEP(corio_stream_write(s, big + half, big_len - half));
  if (rc == 0)
    h->wrote = big_len;
  STEP(sink_read(s, &h->got, 3));
  h->first_rc = rc;
  if (rc < 0) {
    int crc = 0;

    if (h->server_tls && h->wrote < big_len) {
      crc = corio_stream_write(s, big + h->wrote, big_len - h->wrote);
      if (crc == 0)
        h->wrote = big_len;
    }
    if (crc == 0)
      crc = sink_read_to_eof(s, &h->got);
    h->cleanup_rc = crc;
  }
  return rc;
}

/* The handler's peer: sends the whole message and EOF, reads to EOF
 * (TLS: the whole buffer, then closes). */
static int handler_client(void *arg, void **result) {
  struct handler_case *h = arg;
  corio_stream *s;
  int rc;

  (void)result;
  rc = connect_to(h->port, h->client_tls, &s);
  if (rc < 0) {
    h->client_rc = rc;
    return 0;
  }
  STEP(sweep_write_in_pieces(s, msg, msg_len, PIECE));
  if (h->client_tls) {
    size_t n = 0;

    STEP(corio_stream_readexactly(s, h->client_got.buf, big_len, &n));
    if (rc == 0 || rc == CORIO_EINCOMPLETEREAD)
      h->client_got.len = n;
  } else {
    STEP(corio_stream_write_eof(s));
    STEP(sink_read_to_eof(s, &h->client_got));
  }
  h->client_rc = rc;
  (void)corio_stream_close(s);
  (void)corio_stream_wait_closed(s);
  corio_stream_unref(s);
  return 0;
}

static int handler_main(void *arg, void **result) {
  struct handler_case *h = arg;
  corio_server *srv = NULL;
  corio_task *client = NULL;

  (void)result;
  sweep_install();
  CHECK_EQ(serve_on(target_handler, h, h->server_tls, &srv), 0);
  if (!srv) {
    sweep_uninstall();
    return 0;
  }
  h->port = corio_server_port(srv);
  CHECK_EQ(corio_spawn(&client, handler_client, h), 0);
  (void)corio_task_await(client, NULL);
  CHECK_EQ(server_finish(srv), 0);
  sweep_collect(h->pt);
  sweep_uninstall();
  CHECK_TRUE(h->handler != NULL);
  if (h->handler)
    sweep_check_outcome(h->pt, h->handler, h->first_rc);
  corio_task_unref(h->handler);
  corio_task_unref(client);
  corio_server_unref(srv);
  return 0;
}

static int handler_point(void *ctx, sweep_point *pt) {
  struct handler_case *h = ctx;
  int whole;

  h->pt = pt;
  h->handler = NULL;
  h->wrote = 0;
  h->first_rc = h->cleanup_rc = h->client_rc = 1;
  h->got.len = h->client_got.len = 0;
  sweep_run_point(handler_main, h, backend, NULL);
  whole = h->first_rc == 0 || h->cleanup_rc == 0;
  CHECK_TRUE(sink_prefix_of(&h->got, msg, msg_len));
  if (whole)
    CHECK_EQ(h->got.len, msg_len);
  /* The client got a prefix of what the handler wrote; all of it when
   * the handler read to EOF before the server closed the stream. */
  CHECK_TRUE(sink_prefix_of(&h->client_got, big, big_len));
  if (whole) {
    CHECK_EQ(h->client_rc, 0);
    CHECK_EQ(h->client_got.len, h->wrote);
  }
  sweep_report(h->server_tls ? "tls handler" : "handler", pt);
  return failed.line != 0;
}

static void sweep_handler(struct corio_tls_context *server_tls,
                          struct corio_tls_context *client_tls) {
  struct handler_case h;
  sweep_stats st;

  memset(&h, 0, sizeof h);
  h.server_tls = server_tls;
  h.client_tls = client_tls;
  assert_int_equal(sink_init(&h.got, msg_len), 0);
  assert_int_equal(sink_init(&h.client_got, big_len), 0);
  assert_int_equal(sweep_all(named(server_tls ? "tls handler" : "handler"),
                             handler_point, &h, 400, 8, &st),
                   0);
  assert_true(st.first >= 1);
  free(h.got.buf);
  free(h.client_got.buf);
  assert_checks_passed();
}

static void test_handler(void **state) {
  (void)state;
  sweep_handler(NULL, NULL);
}

#ifdef CORIO_TEST_TLS
/* ---- start_tls ----------------------------------------------------------- */

/* A plain connection upgraded (asyncio's start_tls): the client asks with
 * a line, the handler answers one, both shake hands, a line is echoed
 * over TLS, the client closes. The target is the client, or the handler
 * (watched from its first step). A cancelled side closes and waits for
 * the close (its cleanup): the other side sees EOF, or its handshake
 * fail, and ends too. */
static const char upgrade_ask[] = "STARTTLS\n", upgrade_ok[] = "OK\n",
                  upgrade_line[] = "ping\n";

struct upgrade_case {
  struct corio_tls_context *server_tls, *client_tls;
  int target_handler; /* else the client */
  sweep_point *pt;
  int port;
  corio_task *handler; /* held */
  /* what each side read (checked against what the other sent) and its
   * first error; the target's cleanup's */
  struct sink client_got, handler_got;
  int client_rc, handler_rc, cleanup_rc;
};

/* The target's cleanup: close (its TLS shutdown, if TLS began) and wait. */
static int close_and_wait(corio_stream *s) {
  (void)corio_stream_close(s);
  return corio_stream_wait_closed(s);
}

/* Reads a line into k: 0 (an empty line at EOF), or the read's error. */
static int sink_readline(corio_stream *s, struct sink *k) {
  size_t n = 0;
  int rc = corio_stream_readline(s, k->buf + k->len, k->cap - k->len, &n);

  if (rc == 0)
    k->len += n;
  return rc;
}

static int upgrade_handler(corio_stream *s, void *arg) {
  struct upgrade_case *u = arg;
  corio_tls_options o = {0};
  int rc = 0;

  if (u->handler)
    return 0; /* one connection only: refused by closing */
  u->handler = corio_task_ref(corio_current_task());
  if (u->target_handler)
    sweep_watch(u->handler, u->pt->cancel_at[0], u->pt->cancel_at[1]);
  STEP(sink_readline(s, &u->handler_got));
  STEP(corio_stream_write(s, upgrade_ok, strlen(upgrade_ok)));
  STEP(corio_stream_start_tls(s, u->server_tls, &o));
  STEP(sink_readline(s, &u->handler_got));
  STEP(corio_stream_write(s, upgrade_line, strlen(upgrade_line)));
  /* The client's close_notify: EOF, nothing more. */
  STEP(sink_read_to_eof(s, &u->handler_got));
  u->handler_rc = rc;
  if (rc < 0 && u->target_handler)
    u->cleanup_rc = close_and_wait(s);
  return u->target_handler ? rc : 0;
}

static int upgrade_client(void *arg, void **result) {
  struct upgrade_case *u = arg;
  corio_tls_options o = {.server_hostname = "localhost"};
  corio_stream *s = NULL;
  int rc = 0, closed = 0;

  (void)result;
  rc = corio_open_connection("127.0.0.1", u->port, &s);
  STEP(corio_stream_write(s, upgrade_ask, strlen(upgrade_ask)));
  STEP(sink_readline(s, &u->client_got));
  STEP(corio_stream_start_tls(s, u->client_tls, &o));
  STEP(corio_stream_write(s, upgrade_line, strlen(upgrade_line)));
  STEP(sink_readline(s, &u->client_got));
  if (rc == 0) {
    closed = 1;
    rc = corio_stream_close(s);
    STEP(corio_stream_wait_closed(s));
  }
  u->client_rc = rc;
  if (rc < 0 && s) {
    if (u->target_handler || !closed)
      (void)corio_stream_close(s);
    if (!u->target_handler)
      u->cleanup_rc = corio_stream_wait_closed(s);
  }
  corio_stream_unref(s);
  return u->target_handler ? 0 : rc;
}

static int upgrade_main(void *arg, void **result) {
  struct upgrade_case *u = arg;
  corio_server *srv = NULL;
  corio_task *client = NULL;
  corio_task *target;
  int target_rc;

  (void)result;
  sweep_install();
  corio_loop_set_exception_handler(corio_loop_current(), quiet_handler, NULL);
  CHECK_EQ(corio_start_server(upgrade_handler, u, "127.0.0.1", 0, NULL, &srv),
           0);
  if (!srv) {
    sweep_uninstall();
    return 0;
  }
  u->port = corio_server_port(srv);
  CHECK_EQ(corio_spawn(&client, upgrade_client, u), 0);
  if (!u->target_handler)
    sweep_watch(client, u->pt->cancel_at[0], u->pt->cancel_at[1]);
  (void)corio_task_await(client, NULL);
  CHECK_EQ(server_finish(srv), 0);
  sweep_collect(u->pt);
  sweep_uninstall();
  target = u->target_handler ? u->handler : client;
  target_rc = u->target_handler ? u->handler_rc : u->client_rc;
  CHECK_TRUE(target != NULL);
  if (target)
    sweep_check_outcome(u->pt, target, target_rc);
  corio_task_unref(u->handler);
  corio_task_unref(client);
  corio_server_unref(srv);
  return 0;
}

static int upgrade_point(void *ctx, sweep_point *pt) {
  struct upgrade_case *u = ctx;
  const char *name = u->target_handler ? "start_tls handler" : "start_tls";
  char to_client[16], to_handler[16];

  u->pt = pt;
  u->handler = NULL;
  u->client_rc = u->handler_rc = 1;
  u->cleanup_rc = 0; /* set by a cleanup that ran */
  u->client_got.len = u->handler_got.len = 0;
  sweep_run_point(upgrade_main, u, backend, NULL);
  snprintf(to_client, sizeof to_client, "%s%s", upgrade_ok, upgrade_line);
  snprintf(to_handler, sizeof to_handler, "%s%s", upgrade_ask, upgrade_line);
  CHECK_TRUE(sink_prefix_of(&u->client_got, to_client, strlen(to_client)));
  CHECK_TRUE(sink_prefix_of(&u->handler_got, to_handler, strlen(to_handler)));
  if (!pt->reached[0]) {
    CHECK_EQ(u->client_got.len, strlen(to_client));
    CHECK_EQ(u->handler_got.len, strlen(to_handler));
    CHECK_EQ(u->client_rc, 0);
    CHECK_EQ(u->handler_rc, 0);
  } else if (pt->cancel_at[1] == 0) {
    /* Only the first cancel: the cleanup's close ran to its end. */
    CHECK_EQ(u->cleanup_rc, 0);
  }
  sweep_report(name, pt);
  return failed.line != 0;
}

static void sweep_upgrade(struct corio_tls_context *server_tls,
                          struct corio_tls_context *client_tls,
                          int target_handler) {
  struct upgrade_case u;
  sweep_stats st;

  memset(&u, 0, sizeof u);
  u.server_tls = server_tls;
  u.client_tls = client_tls;
  u.target_handler = target_handler;
  assert_int_equal(sink_init(&u.client_got, 16), 0);
  assert_int_equal(sink_init(&u.handler_got, 16), 0);
  assert_int_equal(sweep_all(named(target_handler ? "start_tls handler"
                                                  : "start_tls client"),
                             upgrade_point, &u, 400, 8, &st),
                   0);
  /* The handshake takes a round trip at least, each side. */
  assert_true(st.first >= 3);
  free(u.client_got.buf);
  free(u.handler_got.buf);
  assert_checks_passed();
}
#endif

/* ---- a server's life ----------------------------------------------------- */

/* Echoes lines until EOF. */
static int echo_lines(corio_stream *s, void *arg) {
  char buf[128];
  size_t n;
  int rc;

  (void)arg;
  while ((rc = corio_stream_readline(s, buf, sizeof buf, &n)) == 0 && n > 0)
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      break;
  return 0;
}

struct life_case {
  sweep_point *pt;
  corio_server *srv; /* a reference for the main task */
  int first_rc, cleanup_rc, echoed;
};

/* The target: a server on "localhost" (resolved on the executor), a
 * connection to it by name, a line echoed, everything closed. */
static int life_task(void *arg, void **result) {
  struct life_case *l = arg;
  corio_server *srv = NULL;
  corio_stream *s = NULL;
  char buf[64];
  size_t n = 0;
  int rc = 0;

  (void)result;
  rc = corio_start_server(echo_lines, NULL, "localhost", 0, NULL, &srv);
  if (rc == 0)
    l->srv = corio_server_ref(srv);
  STEP(corio_open_connection("localhost", corio_server_port(srv), &s));
  STEP(corio_stream_write(s, "ping\n", 5));
  STEP(corio_stream_readline(s, buf, sizeof buf, &n));
  if (rc == 0)
    l->echoed = n == 5 && memcmp(buf, "ping\n", 5) == 0;
  STEP(corio_stream_close(s));
  STEP(corio_stream_wait_closed(s));
  STEP(corio_server_close(srv));
  STEP(corio_server_wait_closed(srv));
  l->first_rc = rc;
  if (rc < 0) {
    int crc = 0;

    if (s) {
      (void)corio_stream_close(s);
      crc = corio_stream_wait_closed(s);
    }
    if (srv) {
      (void)corio_server_close(srv);
      if (crc == 0)
        crc = corio_server_wait_closed(srv);
    }
    l->cleanup_rc = crc;
  }
  corio_stream_unref(s);
  corio_server_unref(srv);
  return rc;
}

static int life_main(void *arg, void **result) {
  struct life_case *l = arg;
  corio_task *t = NULL;

  (void)result;
  sweep_install();
  CHECK_EQ(corio_spawn(&t, life_task, l), 0);
  sweep_watch(t, l->pt->cancel_at[0], l->pt->cancel_at[1]);
  (void)corio_task_await(t, NULL);
  sweep_collect(l->pt);
  /* A cleanup cancelled in server_wait_closed left the handler to end. */
  if (l->srv)
    CHECK_EQ(server_finish(l->srv), 0);
  sweep_uninstall();
  sweep_check_outcome(l->pt, t, l->first_rc);
  corio_task_unref(t);
  corio_server_unref(l->srv);
  return 0;
}

static int life_point(void *ctx, sweep_point *pt) {
  struct life_case *l = ctx;

  memset(l, 0, sizeof *l);
  l->pt = pt;
  l->first_rc = l->cleanup_rc = 1;
  sweep_run_point(life_main, l, backend, NULL);
  if (l->first_rc == 0)
    CHECK_EQ(l->echoed, 1);
  sweep_report("server life", pt);
  return failed.line != 0;
}

static void test_server_life(void **state) {
  struct life_case l;
  sweep_stats st;

  (void)state;
  assert_int_equal(sweep_all("server life", life_point, &l, 400, 8, &st), 0);
  /* Each of the two lookups of "localhost" waits for the executor. */
  assert_true(st.first >= 2);
  assert_checks_passed();
}

/* ---- serve_forever ------------------------------------------------------- */

struct forever_case {
  sweep_point *pt;
  corio_server *srv;
  int serve_rc, client_rc, echoed, eof;
};

static int forever_task(void *arg, void **result) {
  struct forever_case *f = arg;

  (void)result;
  f->serve_rc = corio_server_serve_forever(f->srv);
  return f->serve_rc;
}

/* A client of the server: a line echoed, then EOF. */
static int forever_client(void *arg, void **result) {
  struct forever_case *f = arg;
  corio_stream *s;
  char buf[64];
  size_t n = 0;
  int rc;

  (void)result;
  rc = corio_open_connection("127.0.0.1", corio_server_port(f->srv), &s);
  if (rc < 0) {
    f->client_rc = rc;
    return 0;
  }
  STEP(corio_stream_write(s, "ping\n", 5));
  STEP(corio_stream_readline(s, buf, sizeof buf, &n));
  if (rc == 0)
    f->echoed = n == 5 && memcmp(buf, "ping\n", 5) == 0;
  f->eof = rc == 0 && n == 0;
  f->client_rc = rc;
  (void)corio_stream_close(s);
  (void)corio_stream_wait_closed(s);
  corio_stream_unref(s);
  return 0;
}

/* serve_forever ends only when cancelled: the uncancelled run is one
 * where main cancels it once its client is done; the sweep's cancels come
 * before (while it serves the client) or after (in its wait for the
 * handler). */
static int forever_main(void *arg, void **result) {
  struct forever_case *f = arg;
  corio_server_options o = {.flags = CORIO_NET_NO_START};
  corio_task *t = NULL, *client = NULL;

  (void)result;
  sweep_install();
  CHECK_EQ(corio_start_server(echo_lines, NULL, "127.0.0.1", 0, &o, &f->srv),
           0);
  if (!f->srv) {
    sweep_uninstall();
    return 0;
  }
  CHECK_EQ(corio_spawn(&t, forever_task, f), 0);
  sweep_watch(t, f->pt->cancel_at[0], f->pt->cancel_at[1]);
  CHECK_EQ(corio_spawn(&client, forever_client, f), 0);
  (void)corio_task_await(client, NULL);
  (void)corio_task_cancel(t, "done");
  (void)corio_task_await(t, NULL);
  sweep_collect(f->pt);
  CHECK_EQ(server_finish(f->srv), 0);
  sweep_uninstall();
  CHECK_EQ(f->pt->unseen, 0);
  CHECK_EQ(f->serve_rc, -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t));
  /* Cancelled before its handler started, serve_forever closed the
   * server: the connect is refused, or reset in the backlog, or the
   * connection ends. Otherwise the line is echoed. */
  if (f->client_rc == 0)
    CHECK_TRUE(f->echoed || f->eof);
  else
    CHECK_TRUE(f->client_rc == -ECONNREFUSED || f->client_rc == -ECONNRESET);
  if (!f->pt->reached[0])
    CHECK_EQ(f->echoed, 1);
  corio_task_unref(t);
  corio_task_unref(client);
  corio_server_unref(f->srv);
  return 0;
}

static int forever_point(void *ctx, sweep_point *pt) {
  struct forever_case *f = ctx;

  memset(f, 0, sizeof *f);
  f->pt = pt;
  f->client_rc = 1;
  sweep_run_point(forever_main, f, backend, NULL);
  sweep_report("serve_forever", pt);
  return failed.line != 0;
}

static void test_serve_forever(void **state) {
  struct forever_case f;
  sweep_stats st;

  (void)state;
  assert_int_equal(sweep_all("serve_forever", forever_point, &f, 400, 8, &st),
                   0);
  assert_checks_passed();
}

/* ---- the TLS and io_uring runs ------------------------------------------ */

#ifdef CORIO_TEST_TLS
static tls_certs certs;
static corio_tls_context *server_tls, *client_tls;

/* The contexts live across every point (what they allocate once, at
 * their first handshake, is not a point's leak). */
static int tls_setup(void **state) {
  (void)state;
  if (tls_certs_make(&certs) < 0)
    return -1;
  if (corio_tls_context_new(CORIO_TLS_SERVER, &server_tls) < 0 ||
      corio_tls_context_load_cert_chain(server_tls, certs.server, certs.key) <
          0 ||
      corio_tls_context_new(CORIO_TLS_CLIENT, &client_tls) < 0 ||
      corio_tls_context_load_verify_locations(client_tls, certs.ca, NULL) < 0)
    return -1;
  return 0;
}

static int tls_teardown(void **state) {
  (void)state;
  corio_tls_context_unref(server_tls);
  corio_tls_context_unref(client_tls);
  tls_certs_remove(&certs);
  return 0;
}

static void test_tls_client(void **state) {
  (void)state;
  sweep_client(0, server_tls, client_tls);
}

static void test_tls_handler(void **state) {
  (void)state;
  sweep_handler(server_tls, client_tls);
}

static void test_start_tls_client(void **state) {
  (void)state;
  sweep_upgrade(server_tls, client_tls, 0);
}

static void test_start_tls_handler(void **state) {
  (void)state;
  sweep_upgrade(server_tls, client_tls, 1);
}
#endif

/* Runs test on an io_uring loop: skipped where the kernel refuses one,
 * and under Valgrind, whose waiting io_uring_enter stops every other
 * thread (a wake-up from the executor would never come). Says whether
 * the streams used the ring's ops (they do not where the kernel lacks
 * multishot recv: readiness then, as on epoll). */
static void on_uring(void (*test)(void **), void **state) {
  int rc;

  if (corio_test_under_valgrind()) {
    print_message("io_uring under Valgrind: skipped (see backend_gate.c)\n");
    skip();
  }
  if ((rc = corio_test_uring_refused()) < 0) {
    print_message("io_uring refused: %s; skipped\n", corio_strerror(rc));
    skip();
  }
  backend = &uring_only;
  sweep_patched_ops = 0;
  test(state);
  backend = NULL;
  if (sweep_patched_ops == 0)
    print_message("io_uring: no stream used the ring's ops (readiness)\n");
}

#define URING_TEST(name)                                                       \
  static void name##_uring(void **state) { on_uring(name, state); }
URING_TEST(test_tcp_client)
URING_TEST(test_unix_client)
URING_TEST(test_handler)
#ifdef CORIO_TEST_TLS
URING_TEST(test_tls_client)
URING_TEST(test_tls_handler)
URING_TEST(test_start_tls_client)
URING_TEST(test_start_tls_handler)
#endif

static int setup(void **state) {
  signal(SIGPIPE, SIG_IGN);
  make_data();
  return reset_checks(state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_tcp_client, reset_checks),
      cmocka_unit_test_setup(test_unix_client, reset_checks),
      cmocka_unit_test_setup(test_handler, reset_checks),
      cmocka_unit_test_setup(test_server_life, reset_checks),
      cmocka_unit_test_setup(test_serve_forever, reset_checks),
#ifdef CORIO_TEST_TLS
      cmocka_unit_test_setup(test_tls_client, reset_checks),
      cmocka_unit_test_setup(test_tls_handler, reset_checks),
      cmocka_unit_test_setup(test_start_tls_client, reset_checks),
      cmocka_unit_test_setup(test_start_tls_handler, reset_checks),
#endif
      cmocka_unit_test_setup(test_tcp_client_uring, reset_checks),
      cmocka_unit_test_setup(test_unix_client_uring, reset_checks),
      cmocka_unit_test_setup(test_handler_uring, reset_checks),
#ifdef CORIO_TEST_TLS
      cmocka_unit_test_setup(test_tls_client_uring, reset_checks),
      cmocka_unit_test_setup(test_tls_handler_uring, reset_checks),
      cmocka_unit_test_setup(test_start_tls_client_uring, reset_checks),
      cmocka_unit_test_setup(test_start_tls_handler_uring, reset_checks),
#endif
  };
  int rc;

  setup(NULL);
#ifdef CORIO_TEST_TLS
  rc = cmocka_run_group_tests(tests, tls_setup, tls_teardown);
#else
  rc = cmocka_run_group_tests(tests, NULL, NULL);
#endif
  free(big);
  free(msg);
  return rc;
}
