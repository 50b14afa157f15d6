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
 * TLS is not swept here (tls_certs.c is not linked into this program). */
#include <signal.h>
#include <stdlib.h>

#include "net_robust.h"
#include "sweep.h"

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

static int write_in_pieces(corio_stream *s, const unsigned char *data,
                           size_t len) {
  for (size_t at = 0; at < len; at += PIECE) {
    size_t n = len - at < PIECE ? len - at : PIECE;
    int rc = corio_stream_write(s, data + at, n);

    if (rc == 0)
      rc = corio_stream_drain(s);
    if (rc == 0)
      rc = corio_sleep(0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

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

/* ---- one point's run ----------------------------------------------------- */

/* Runs main (its own loop) and checks that it left no fd and no corio
 * allocation behind. */
static int run_point(corio_task_fn main, void *ctx) {
  corio_test_usage before, after;
  int fds = open_fds(), rc;

  corio_test_release_pools();
  before = corio_test_usage_now();
  rc = corio_run(main, ctx, NULL);
  CHECK_EQ(rc, 0);
  CHECK_EQ(open_fds(), fds);
  corio_test_release_pools();
  after = corio_test_usage_now();
  CHECK_EQ(after.allocations, before.allocations);
  return failed.line != 0;
}

/* The target's outcome at pt: cancelled where a cancel was made (its
 * first error -ECANCELED), finished otherwise. */
static void check_outcome(const sweep_point *pt, corio_task *t, int first_rc) {
  CHECK_EQ(pt->unseen, 0);
  CHECK_EQ(pt->nested, 0);
  CHECK_TRUE(corio_task_done(t));
  if (pt->reached[0]) {
    CHECK_EQ(first_rc, -ECANCELED);
    CHECK_TRUE(corio_task_cancelled(t));
  } else {
    CHECK_EQ(first_rc, 0);
    CHECK_EQ(corio_task_error(t), 0);
    /* An uncancelled run went past every point the sweep asked for. */
    CHECK_EQ(pt->cancel_at[0] == 0 || pt->cancel_at[0] > pt->suspensions, 1);
  }
}

static void report(const char *scenario, const sweep_point *pt) {
  if (failed.line)
    print_error("%s: cancel at %ld and %ld: %s:%d: %s\n", scenario,
                pt->cancel_at[0], pt->cancel_at[1], failed.file, failed.line,
                failed.text);
}

/* ---- a client ------------------------------------------------------------ */

struct client_case {
  int unix_socket;
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
 * reads on to EOF (nothing more may come). */
static int client_peer(corio_stream *s, void *arg) {
  struct client_case *c = arg;
  size_t n = 0;
  int rc;

  c->handlers++;
  rc = corio_stream_readexactly(s, c->peer_got.buf, big_len, &n);
  if (rc == 0 || rc == CORIO_EINCOMPLETEREAD)
    c->peer_got.len = n;
  if (rc == 0)
    rc = write_in_pieces(s, msg, msg_len);
  if (rc == 0)
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

static int client_read(corio_stream *s, struct client_case *c, int form) {
  size_t n = 0, room = c->got.cap - c->got.len;
  unsigned char *at = c->got.buf + c->got.len;
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
  default:
    rc = corio_stream_read_all(s, at, room, &n);
    break;
  }
  if (rc == 0)
    c->got.len += n;
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
    rc = corio_open_connection("127.0.0.1", c->port, &s);
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
  for (int form = 0; form < 4; form++)
    STEP(client_read(s, c, form));
  if (rc == 0) {
    closed = 1;
    rc = corio_stream_close(s);
    STEP(corio_stream_wait_closed(s));
  }
  c->first_rc = rc;
  if (rc < 0 && s) {
    /* The cleanup: what the peer still sends is read to EOF (a cancelled
     * read consumed nothing), then the stream is closed (what is queued
     * is still sent) and waited for. */
    int crc = closed ? 0 : sink_read_to_eof(s, &c->got);

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
    rc = corio_start_server(client_peer, c, "127.0.0.1", 0, NULL, &srv);
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
  check_outcome(c->pt, t, c->first_rc);
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
  run_point(client_main, c);
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
  report(c->unix_socket ? "unix client" : "tcp client", pt);
  return failed.line != 0;
}

static void sweep_client(int unix_socket) {
  struct client_case c;
  sweep_stats st;

  memset(&c, 0, sizeof c);
  c.unix_socket = unix_socket;
  snprintf(c.path, sizeof c.path, "/tmp/corio-sweep-%ld.sock", (long)getpid());
  assert_int_equal(sink_init(&c.got, msg_len), 0);
  assert_int_equal(sink_init(&c.peer_got, big_len), 0);
  assert_int_equal(sweep_all(unix_socket ? "unix client" : "tcp client",
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
  sweep_client(0);
}

static void test_unix_client(void **state) {
  (void)state;
  sweep_client(1);
}

/* ---- a server's handler -------------------------------------------------- */

struct handler_case {
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

static int handler_read(corio_stream *s, struct handler_case *h, int form) {
  size_t n = 0, room = h->got.cap - h->got.len;
  unsigned char *at = h->got.buf + h->got.len;
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
  default:
    rc = corio_stream_read_all(s, at, room, &n);
    break;
  }
  if (rc == 0)
    h->got.len += n;
  return rc;
}

/* The target: reads the message piece by piece and answers with the big
 * buffer in two writes (the first drained). When cancelled it reads what
 * is left to EOF and returns; the server closes the stream. */
static int target_handler(corio_stream *s, void *arg) {
  struct handler_case *h = arg;
  size_t half = big_len / 2;
  int rc = 0;

  if (h->handler)
    return -EPROTO; /* one connection only */
  h->handler = corio_task_ref(corio_current_task());
  sweep_watch(h->handler, h->pt->cancel_at[0], h->pt->cancel_at[1]);
  STEP(handler_read(s, h, 0));
  STEP(handler_read(s, h, 1));
  STEP(corio_stream_write(s, big, half));
  if (rc == 0)
    h->wrote = half;
  STEP(corio_stream_drain(s));
  STEP(handler_read(s, h, 2));
  STEP(corio_stream_write(s, big + half, big_len - half));
  if (rc == 0)
    h->wrote = big_len;
  STEP(handler_read(s, h, 3));
  h->first_rc = rc;
  if (rc < 0)
    h->cleanup_rc = sink_read_to_eof(s, &h->got);
  return rc;
}

/* The handler's peer: sends the whole message and EOF, reads to EOF. */
static int handler_client(void *arg, void **result) {
  struct handler_case *h = arg;
  corio_stream *s;
  int rc;

  (void)result;
  rc = corio_open_connection("127.0.0.1", h->port, &s);
  if (rc < 0) {
    h->client_rc = rc;
    return 0;
  }
  STEP(write_in_pieces(s, msg, msg_len));
  STEP(corio_stream_write_eof(s));
  STEP(sink_read_to_eof(s, &h->client_got));
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
  CHECK_EQ(corio_start_server(target_handler, h, "127.0.0.1", 0, NULL, &srv),
           0);
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
    check_outcome(h->pt, h->handler, h->first_rc);
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
  run_point(handler_main, h);
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
  report("handler", pt);
  return failed.line != 0;
}

static void test_handler(void **state) {
  struct handler_case h;
  sweep_stats st;

  (void)state;
  memset(&h, 0, sizeof h);
  assert_int_equal(sink_init(&h.got, msg_len), 0);
  assert_int_equal(sink_init(&h.client_got, big_len), 0);
  assert_int_equal(sweep_all("handler", handler_point, &h, 400, 8, &st), 0);
  assert_true(st.first >= 1);
  free(h.got.buf);
  free(h.client_got.buf);
  assert_checks_passed();
}

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
  check_outcome(l->pt, t, l->first_rc);
  corio_task_unref(t);
  corio_server_unref(l->srv);
  return 0;
}

static int life_point(void *ctx, sweep_point *pt) {
  struct life_case *l = ctx;

  memset(l, 0, sizeof *l);
  l->pt = pt;
  l->first_rc = l->cleanup_rc = 1;
  run_point(life_main, l);
  if (l->first_rc == 0)
    CHECK_EQ(l->echoed, 1);
  report("server life", pt);
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
  run_point(forever_main, f);
  report("serve_forever", pt);
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
  };
  int rc;

  (void)check_str; /* task_check.h's, unused here */
  setup(NULL);
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(big);
  free(msg);
  return rc;
}
