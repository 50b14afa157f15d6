/* Cancellation at every suspension point of the net layer: each read
 * form, peek, drain, wait_closed, open_connection (resolving a name, and
 * connecting to an address that never answers), serve_forever and
 * server_wait_closed. Each call is cancelled exactly while it is
 * suspended there (the test knows: the call's task has started and not
 * finished, and for reads the stream refuses a second reader), by
 * corio_task_cancel, by two cancels, and by a timeout scope. Then: the
 * call returned -ECANCELED (-ETIMEDOUT for the scope), no byte was lost
 * or duplicated (everything sent is read afterwards, once, in order), and
 * no fd is left open; ASan and Valgrind runs check the memory. */
#include <pthread.h>
#include <sys/un.h>

#include "corio/thread.h"
#include "net_robust.h"

enum how { BY_CANCEL, BY_CANCEL_TWICE, BY_TIMEOUT, HOW_COUNT };

static const char *const how_names[HOW_COUNT] = {"cancel", "cancel twice",
                                                 "timeout scope"};

/* A suspending call run in a task of its own. */
struct op {
  int (*call)(struct op *o);
  enum how how;
  corio_stream *s;
  int form;
  size_t have;
  char buf[256];
  size_t n;
  /* open_connection */
  const char *host;
  int port;
  corio_stream *opened;
  corio_server *srv;
  int rc;
  int done;
};

static int op_task(void *arg, void **result) {
  struct op *o = arg;

  (void)result;
  if (o->how == BY_TIMEOUT) {
    corio_timeout tm;
    int rc = corio_timeout_enter(&tm, 0.02);

    if (rc == 0)
      rc = o->call(o);
    o->rc = corio_timeout_exit(&tm, rc);
  } else {
    o->rc = o->call(o);
  }
  o->done = 1;
  return o->rc;
}

/* Starts o in a task and lets it run until it suspends. */
static corio_task *op_start(struct op *o) {
  corio_task *t = NULL;

  o->done = 0;
  o->rc = 1;
  CHECK_EQ(corio_spawn(&t, op_task, o), 0);
  if (t)
    CHECK_TRUE(started_and_waiting(t));
  return t;
}

/* Interrupts the suspended call the chosen way and checks how it ended. */
static void op_interrupt(struct op *o, corio_task *t) {
  int want = o->how == BY_TIMEOUT ? -ETIMEDOUT : -ECANCELED;

  if (!t)
    return;
  CHECK_EQ(corio_task_done(t), 0);
  if (o->how != BY_TIMEOUT)
    CHECK_EQ(corio_task_cancel(t, "stop"), 1);
  if (o->how == BY_CANCEL_TWICE) {
    CHECK_EQ(yield_n(1), 0);
    (void)corio_task_cancel(t, "stop again");
  }
  CHECK_EQ(corio_task_await(t, NULL), want);
  CHECK_EQ(o->done, 1);
  CHECK_EQ(o->rc, want);
  corio_task_unref(t);
}

/* ---- the read forms -------------------------------------------------------
 */

/* None is satisfied by the bytes buffered before it starts ("part", or
 * nothing for read). */
static int form_call(struct op *o) {
  static const corio_bytes seps[2] = {{"\r\n", 2}, {"##", 2}};
  const void *view;
  int rc;

  o->n = 99;
  switch (o->form) {
  case F_READ:
    return corio_stream_read(o->s, o->buf, sizeof o->buf, &o->n);
  case F_READEXACTLY:
    return corio_stream_readexactly(o->s, o->buf, 100, &o->n);
  case F_READUNTIL:
    return corio_stream_readuntil(o->s, "\r\n", 2, o->buf, sizeof o->buf,
                                  &o->n);
  case F_READUNTIL_ANY:
    return corio_stream_readuntil_any(o->s, seps, 2, o->buf, sizeof o->buf,
                                      &o->n);
  case F_READLINE:
    return corio_stream_readline(o->s, o->buf, sizeof o->buf, &o->n);
  case F_READ_ALL:
    return corio_stream_read_all(o->s, o->buf, sizeof o->buf, &o->n);
  case F_PEEK:
    rc = corio_stream_peek(o->s, o->have, &view, &o->n);
    if (rc < 0)
      o->n = 0;
    return rc;
  }
  return -EINVAL;
}

/* Everything the stream still delivers, up to EOF. */
static size_t read_rest(corio_stream *s, char *buf, size_t cap) {
  size_t n = 0;

  CHECK_EQ(corio_stream_read_all(s, buf, cap, &n), 0);
  return n;
}

static void cancel_read_form(int form, enum how how, int racing) {
  static const char part[] = "part", rest[] = " and the rest\r\n##\n";
  struct op o = {0};
  corio_task *t;
  char all[128] = {0}, busy[4];
  size_t n;
  int peer;

  CHECK_EQ(stream_pair(&o.s, &peer), 0);
  if (failed.line)
    return;
  o.call = form_call;
  o.form = form;
  o.how = how;
  if (form != F_READ) {
    peer_send(peer, part);
    CHECK_EQ(wait_buffered(o.s, 4), 0);
    CHECK_EQ(corio_stream_buffered(o.s), 4);
    o.have = 4;
  }
  t = op_start(&o);
  /* The reader is registered: another read that would wait is refused. */
  if (form == F_READ)
    CHECK_EQ(corio_stream_read(o.s, busy, sizeof busy, &n), CORIO_EREADBUSY);
  if (racing) {
    /* Bytes reach the socket just before the cancel: the readiness
     * callback may run in the iteration the cancelled task resumes in. */
    peer_send(peer, "!");
  }
  op_interrupt(&o, t);
  /* Nothing consumed by the interrupted call. */
  CHECK_TRUE(o.n == 0 || o.n == 99);
  if (racing)
    YIELD_UNTIL(corio_stream_buffered(o.s) == (form == F_READ ? 1 : 5));
  CHECK_EQ(corio_stream_buffered(o.s),
           (form == F_READ ? 0 : 4) + (racing ? 1 : 0));
  /* Everything arrives afterwards, once and in order. */
  peer_send(peer, rest);
  shutdown(peer, SHUT_WR);
  n = read_rest(o.s, all, sizeof all - 1);
  {
    char want[128];
    snprintf(want, sizeof want, "%s%s%s", form == F_READ ? "" : part,
             racing ? "!" : "", rest);
    CHECK_EQ(n, strlen(want));
    CHECK_STR(all, want);
  }
  if (failed.line)
    print_error("form %s, %s%s\n", form_name(form), how_names[how],
                racing ? ", bytes racing" : "");
  close(peer);
  corio_stream_unref(o.s);
}

static int read_forms_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int f = 0; f < F_COUNT && !failed.line; f++)
    for (int h = 0; h < HOW_COUNT && !failed.line; h++) {
      cancel_read_form(f, (enum how)h, 0);
      if (h == BY_CANCEL)
        cancel_read_form(f, (enum how)h, 1);
    }
  return 0;
}

static void test_cancel_every_read_form(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(read_forms_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* A cancelled read leaves the stream usable by another task at once: the
 * next reader is not refused, and gets the bytes. */
static int next_reader_body(void *arg, void **result) {
  struct op o = {0};
  corio_task *t;
  char buf[16] = {0};
  size_t n;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&o.s, &peer), 0);
  if (failed.line)
    return 0;
  o.call = form_call;
  o.form = F_READEXACTLY;
  t = op_start(&o);
  op_interrupt(&o, t);
  peer_send(peer, "0123456789");
  CHECK_EQ(corio_stream_readexactly(o.s, buf, 10, &n), 0);
  CHECK_STR(buf, "0123456789");
  close(peer);
  corio_stream_unref(o.s);
  return 0;
}

static void test_cancelled_reader_lets_go(void **state) {
  (void)state;
  assert_int_equal(corio_run(next_reader_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* A second reader while another task waits with bytes buffered: net.h
 * says a second read "while another task waits in one returns
 * CORIO_EREADBUSY" - also when it would not have to wait. Every form. */
static int second_reader_body(void *arg, void **result) {
  struct op o = {0};
  corio_task *t;
  char buf[16] = {0};
  size_t n = 0;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&o.s, &peer), 0);
  if (failed.line)
    return 0;
  peer_send(peer, "part");
  CHECK_EQ(wait_buffered(o.s, 4), 0);
  o.call = form_call;
  o.form = F_READEXACTLY;
  t = op_start(&o);
  /* The bytes are the waiting reader's (this read took them before
   * 4ea0db5: the check was made only when a read would wait). */
  CHECK_EQ(corio_stream_read(o.s, buf, sizeof buf, &n), CORIO_EREADBUSY);
  CHECK_EQ(corio_stream_buffered(o.s), 4);
  for (int f = 0; f < F_COUNT; f++) {
    struct op second = {0};

    second.s = o.s;
    second.form = f;
    CHECK_EQ(form_call(&second), CORIO_EREADBUSY);
    CHECK_EQ(corio_stream_buffered(o.s), 4);
    if (failed.line) {
      print_error("second reader: %s\n", form_name(f));
      break;
    }
  }
  op_interrupt(&o, t);
  /* The waiting reader gone, the bytes are there for the next one. */
  CHECK_EQ(corio_stream_read(o.s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 4);
  close(peer);
  corio_stream_unref(o.s);
  return 0;
}

static void test_second_reader_refused_with_bytes_buffered(void **state) {
  (void)state;
  assert_int_equal(corio_run(second_reader_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* ---- drain ----------------------------------------------------------------
 */

enum { QUEUED = 256 * 1024 };

static int drain_call(struct op *o) { return corio_stream_drain(o->s); }

static int wait_closed_call(struct op *o) {
  return corio_stream_wait_closed(o->s);
}

/* A stream whose peer does not read: what is written stays queued. */
static int stuck_pair(corio_stream **s, int *peer) {
  int rc = stream_pair(s, peer), small = 4096;

  if (rc == 0) {
    setsockopt(corio_stream_fd(*s), SOL_SOCKET, SO_SNDBUF, &small,
               sizeof small);
    setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  return rc;
}

static void cancel_write_side(int closing, enum how how) {
  struct pattern_reader r = {0};
  struct op o = {0};
  unsigned char *data = malloc(QUEUED);
  pthread_t thread;
  corio_task *t;
  size_t queued;
  int peer;

  CHECK_EQ(stuck_pair(&o.s, &peer), 0);
  if (failed.line || !data) {
    free(data);
    return;
  }
  pattern_fill(data, QUEUED, 7, 0);
  CHECK_EQ(corio_stream_write(o.s, data, QUEUED), 0);
  queued = corio_stream_write_buffer_size(o.s);
  CHECK_TRUE(queued > CORIO_STREAM_DEFAULT_HIGH_WATER);
  if (closing) {
    /* close with bytes queued: the stream stays open until they leave,
     * and wait_closed waits for that. */
    CHECK_EQ(corio_stream_close(o.s), 0);
    o.call = wait_closed_call;
  } else {
    o.call = drain_call;
  }
  o.how = how;
  t = op_start(&o);
  op_interrupt(&o, t);
  /* The data is still queued, untouched, and the socket open. */
  CHECK_EQ(corio_stream_write_buffer_size(o.s), queued);
  CHECK_TRUE(corio_stream_fd(o.s) >= 0);
  /* The peer reads: everything arrives, once, in order. */
  r.fd = peer;
  r.id = 7;
  r.chunk = 8192;
  CHECK_EQ(pthread_create(&thread, NULL, pattern_reader_main, &r), 0);
  if (!closing) {
    CHECK_EQ(corio_stream_drain(o.s), 0);
    CHECK_EQ(corio_stream_close(o.s), 0);
  }
  CHECK_EQ(corio_stream_wait_closed(o.s), 0);
  CHECK_EQ(corio_stream_fd(o.s), -1);
  pthread_join(thread, NULL);
  CHECK_EQ(r.error, 0);
  CHECK_EQ(r.got, QUEUED);
  CHECK_EQ(r.bad_at, (size_t)-1);
  if (failed.line)
    print_error("%s, %s\n", closing ? "wait_closed" : "drain", how_names[how]);
  close(peer);
  corio_stream_unref(o.s);
  free(data);
}

static int write_side_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int closing = 0; closing < 2; closing++)
    for (int h = 0; h < HOW_COUNT && !failed.line; h++)
      cancel_write_side(closing, (enum how)h);
  return 0;
}

static void test_cancel_drain_and_wait_closed(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(write_side_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* Several drainers, one cancelled: the others still return when the
 * buffer drains. */
static int drainers_body(void *arg, void **result) {
  struct pattern_reader r = {0};
  struct op o[3];
  corio_task *t[3];
  unsigned char *data = malloc(QUEUED);
  pthread_t thread;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stuck_pair(&s, &peer), 0);
  if (failed.line || !data) {
    free(data);
    return 0;
  }
  pattern_fill(data, QUEUED, 8, 0);
  CHECK_EQ(corio_stream_write(s, data, QUEUED), 0);
  for (int i = 0; i < 3; i++) {
    memset(&o[i], 0, sizeof o[i]);
    o[i].s = s;
    o[i].call = drain_call;
    t[i] = op_start(&o[i]);
  }
  op_interrupt(&o[1], t[1]);
  r.fd = peer;
  r.id = 8;
  CHECK_EQ(pthread_create(&thread, NULL, pattern_reader_main, &r), 0);
  for (int i = 0; i < 3; i += 2) {
    CHECK_EQ(corio_task_await(t[i], NULL), 0);
    CHECK_EQ(o[i].rc, 0);
    corio_task_unref(t[i]);
  }
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(r.got, QUEUED);
  CHECK_EQ(r.bad_at, (size_t)-1);
  close(peer);
  corio_stream_unref(s);
  free(data);
  return 0;
}

static void test_cancel_one_of_several_drainers(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(drainers_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- open_connection ------------------------------------------------------
 */

static int connect_call(struct op *o) {
  return corio_open_connection(o->host, o->port, &o->opened);
}

/* Connecting to an address whose connects never complete. */
static int blackhole_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int family = AF_INET; family <= AF_INET6; family += AF_INET6 - AF_INET) {
    blackhole bh;

    if (family == AF_INET6 && !have_ipv6())
      break;
    CHECK_EQ(blackhole_open(&bh, family, 0), 0);
    if (failed.line)
      return 0;
    for (int h = 0; h < HOW_COUNT && !failed.line; h++) {
      struct op o = {0};
      corio_task *t;
      int fds = open_fds();

      o.call = connect_call;
      o.host = loopback_host(family);
      o.port = bh.port;
      o.how = (enum how)h;
      t = op_start(&o);
      /* Connecting: its socket is open. */
      CHECK_EQ(open_fds(), fds + 1);
      op_interrupt(&o, t);
      CHECK_PTR(o.opened, NULL);
      CHECK_EQ(open_fds(), fds);
      CHECK_EQ(blackhole_queued(&bh), bh.nfill);
      if (failed.line)
        print_error("connect to a blackhole, %s, family %d\n", how_names[h],
                    family);
    }
    blackhole_close(&bh);
  }
  return 0;
}

static void test_cancel_connect(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(blackhole_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* Cancelled while the connect to a live server is in progress: the
 * socket is closed, the server's handler sees the connection end, and
 * nothing stays open. */
static int live_connect_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  int fds;

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  fds = open_fds();
  for (int i = 0; i < 20 && !failed.line; i++) {
    struct op o = {0};
    corio_task *t;

    o.call = connect_call;
    o.host = "127.0.0.1";
    o.port = corio_server_port(srv);
    CHECK_EQ(corio_spawn(&t, op_task, &o), 0);
    CHECK_EQ(yield_n(1), 0); /* it ran to the connect's wait */
    if (corio_task_done(t)) {
      /* Connected in the same iteration: nothing to cancel here. */
      corio_task_unref(t);
      corio_stream_unref(o.opened);
      continue;
    }
    op_interrupt(&o, t);
    CHECK_PTR(o.opened, NULL);
  }
  YIELD_UNTIL(st.handled == st.finished && corio_server_clients(srv) == 0);
  CHECK_EQ(corio_server_clients(srv), 0);
  CHECK_EQ(st.got_data, 0);
  CHECK_EQ(open_fds(), fds);
  CHECK_EQ(echo_client("127.0.0.1", corio_server_port(srv), "still there\n"),
           0);
  CHECK_EQ(corio_server_close(srv), 0);
  /* Only after a failed check is a handler still waiting. */
  CHECK_EQ(corio_server_abort_clients(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_cancel_connect_in_progress(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(live_connect_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* Resolving "localhost" (a name: the resolver runs on the default
 * executor). The executor has one thread, kept busy, so the lookup is
 * known to be still queued when the cancel comes. */
static int block_on_pipe(void *arg, void **result) {
  char c;

  (void)result;
  return read(*(int *)arg, &c, 1) == 1 ? 0 : -EIO;
}

static int resolving_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_executor *ex;
  corio_server *srv;
  int p[2];

  (void)arg, (void)result;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_running(), ex), 0);
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  CHECK_EQ(pipe(p), 0);
  for (int h = 0; h < HOW_COUNT && !failed.line; h++) {
    corio_future *busy;
    struct op o = {0};
    corio_task *t;

    CHECK_EQ(corio_run_in_executor(NULL, NULL, block_on_pipe, &p[0], &busy), 0);
    o.call = connect_call;
    o.host = "localhost";
    o.port = corio_server_port(srv);
    o.how = (enum how)h;
    t = op_start(&o);
    op_interrupt(&o, t);
    CHECK_PTR(o.opened, NULL);
    /* Free the executor; the withdrawn lookup never ran or is dropped. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(corio_future_await(busy, NULL), 0);
    corio_future_unref(busy);
    CHECK_EQ(st.handled, 0);
    if (failed.line)
      print_error("resolving, %s\n", how_names[h]);
  }
  /* The name resolves and connects now. */
  CHECK_EQ(echo_client("localhost", corio_server_port(srv), "resolved\n"), 0);
  close(p[0]);
  close(p[1]);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_cancel_while_resolving(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(resolving_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* open_unix_connection: a Unix connect completes or fails at once (a full
 * backlog is EAGAIN on Linux), so there is no suspension to cancel; a
 * cancel requested before it is delivered at the task's next suspension
 * point, and the stream it got is released cleanly. */
static int unix_cancel_task(void *arg, void **result) {
  struct op *o = arg;
  char c;
  int rc;

  (void)result;
  /* Cancel ourselves first: the request waits for a suspension. */
  (void)corio_task_cancel(corio_current_task(), "early");
  rc = corio_open_unix_connection(o->host, NULL, &o->opened);
  o->n = (size_t)-rc;
  if (rc < 0)
    return rc;
  o->rc = corio_stream_read(o->opened, &c, 1, NULL);
  corio_stream_unref(o->opened);
  o->opened = NULL;
  return o->rc;
}

static int unix_body(void *arg, void **result) {
  char dir[] = "/tmp/corio-cancel-XXXXXX", path[96];
  struct echo_stats st = {0};
  struct op o = {0};
  corio_server *srv;
  corio_task *t;
  int fds;

  (void)arg, (void)result;
  CHECK_TRUE(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/s", dir);
  CHECK_EQ(corio_start_unix_server(echo_handler, &st, path, NULL, &srv), 0);
  if (failed.line)
    return 0;
  fds = open_fds();
  o.host = path;
  CHECK_EQ(corio_spawn(&t, unix_cancel_task, &o), 0);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  CHECK_EQ(o.n, 0);           /* the connect itself succeeded */
  CHECK_EQ(o.rc, -ECANCELED); /* the read took the cancellation */
  YIELD_UNTIL(st.handled == 1 && st.finished == 1);
  CHECK_EQ(st.finished, 1);
  CHECK_EQ(open_fds(), fds);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);

  /* A full backlog: an error at once, nothing left open. */
  {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), filler;
    corio_stream *s = NULL;
    int rc;

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    CHECK_EQ(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(l, 0), 0);
    filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK_EQ(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0);
    fds = open_fds();
    rc = corio_open_unix_connection(path, NULL, &s);
    CHECK_TRUE(rc == -EAGAIN || rc == 0);
    if (rc == 0)
      corio_stream_unref(s);
    CHECK_EQ(open_fds(), fds);
    close(filler);
    close(l);
    unlink(path);
  }
  rmdir(dir);
  return 0;
}

static void test_unix_connect_and_cancel(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(unix_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- servers --------------------------------------------------------------
 */

static int serve_call(struct op *o) {
  return corio_server_serve_forever(o->srv);
}

static int server_wait_call(struct op *o) {
  return corio_server_wait_closed(o->srv);
}

/* serve_forever cancelled while idle, and while a handler runs (it waits
 * for the handler, and a second cancel during that wait ends it). */
static int serve_forever_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int busy = 0; busy < 2; busy++)
    for (int h = 0; h < HOW_COUNT && !failed.line; h++) {
      struct echo_stats st = {0};
      corio_server_options so = {0};
      struct op o = {0};
      corio_stream *c = NULL;
      corio_task *t;
      int port, fds = open_fds();

      so.flags = CORIO_NET_NO_START;
      CHECK_EQ(
          corio_start_server(echo_handler, &st, "127.0.0.1", 0, &so, &o.srv),
          0);
      if (failed.line)
        return 0;
      port = corio_server_port(o.srv);
      o.call = serve_call;
      o.how = (enum how)h;
      t = op_start(&o);
      CHECK_EQ(corio_server_is_serving(o.srv), 1);
      if (busy) {
        /* A client whose handler is in the middle of its echo loop. */
        CHECK_EQ(corio_open_connection("127.0.0.1", port, &c), 0);
        CHECK_EQ(echo_once(c, "before\n"), 0);
        CHECK_EQ(corio_server_clients(o.srv), 1);
      }
      if (busy && h == BY_CANCEL) {
        /* The first cancel closes the server; serve_forever then waits
         * for the handler, and stays there. */
        CHECK_EQ(corio_task_cancel(t, NULL), 1);
        CHECK_EQ(yield_n(3), 0);
        CHECK_EQ(corio_task_done(t), 0);
        CHECK_EQ(corio_server_is_serving(o.srv), 0);
        /* The handler still serves its client. */
        CHECK_EQ(echo_once(c, "during\n"), 0);
        corio_stream_unref(c);
        c = NULL;
        CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
        corio_task_unref(t);
        CHECK_EQ(o.rc, -ECANCELED);
      } else {
        /* busy and cancelled twice: the second cancel ends the wait for
         * the handler. busy and timed out: the same, through the scope
         * (whose cancel comes once, so the client is closed first). */
        if (busy && h == BY_TIMEOUT) {
          corio_stream_unref(c);
          c = NULL;
        }
        op_interrupt(&o, t);
      }
      CHECK_EQ(corio_server_is_serving(o.srv), 0);
      {
        corio_stream *refused = NULL;
        CHECK_EQ(corio_open_connection("127.0.0.1", port, &refused),
                 -ECONNREFUSED);
      }
      if (c) {
        /* Left behind by the second cancel: the handler still runs. */
        CHECK_EQ(st.finished, 0);
        CHECK_EQ(echo_once(c, "after\n"), 0);
        corio_stream_unref(c);
      }
      CHECK_EQ(server_finish(o.srv), 0);
      CHECK_EQ(st.handled, busy);
      CHECK_EQ(st.finished, busy);
      corio_server_unref(o.srv);
      CHECK_EQ(open_fds(), fds);
      if (failed.line)
        print_error("serve_forever, %s, %s\n", busy ? "busy" : "idle",
                    how_names[h]);
    }
  return 0;
}

static void test_cancel_serve_forever(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(serve_forever_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

static int server_wait_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int h = 0; h < HOW_COUNT && !failed.line; h++) {
    struct echo_stats st = {0};
    struct op o = {0};
    corio_stream *c;
    corio_task *t;
    int fds = open_fds();

    CHECK_EQ(
        corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &o.srv), 0);
    if (failed.line)
      return 0;
    CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(o.srv), &c),
             0);
    CHECK_EQ(echo_once(c, "one\n"), 0);
    CHECK_EQ(corio_server_close(o.srv), 0);
    o.call = server_wait_call;
    o.how = (enum how)h;
    t = op_start(&o);
    op_interrupt(&o, t);
    /* Nothing changed: the handler serves on, and waiting again works. */
    CHECK_EQ(corio_server_clients(o.srv), 1);
    CHECK_EQ(echo_once(c, "two\n"), 0);
    corio_stream_unref(c);
    CHECK_EQ(server_finish(o.srv), 0);
    CHECK_EQ(st.finished, 1);
    CHECK_EQ(st.bytes, 8);
    corio_server_unref(o.srv);
    CHECK_EQ(open_fds(), fds);
    if (failed.line)
      print_error("server_wait_closed, %s\n", how_names[h]);
  }
  return 0;
}

static void test_cancel_server_wait_closed(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(server_wait_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* A handler's own read cut by a timeout scope inside the handler loses
 * nothing either. */
static int timed_handler(corio_stream *s, void *arg) {
  struct echo_stats *st = arg;
  char buf[64] = {0};
  corio_timeout tm;
  size_t n = 0;
  int rc;

  st->handled++;
  /* The first read times out: the client sends only later. */
  CHECK_EQ(corio_timeout_enter(&tm, 0.02), 0);
  rc = corio_stream_readexactly(s, buf, 6, &n);
  CHECK_EQ(corio_timeout_exit(&tm, rc), -ETIMEDOUT);
  CHECK_EQ(corio_stream_write(s, "go", 2), 0);
  CHECK_EQ(corio_stream_readexactly(s, buf, 6, &n), 0);
  CHECK_STR(buf, "abcdef");
  st->finished++;
  return 0;
}

static int handler_timeout_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  corio_stream *c;
  char buf[4] = {0};

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(timed_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c), 0);
  CHECK_EQ(corio_stream_write(c, "abc", 3), 0);
  CHECK_EQ(corio_stream_readexactly(c, buf, 2, NULL), 0);
  CHECK_STR(buf, "go");
  CHECK_EQ(corio_stream_write(c, "def", 3), 0);
  CHECK_EQ(server_finish(srv), 0);
  CHECK_EQ(st.finished, 1);
  corio_stream_unref(c);
  corio_server_unref(srv);
  return 0;
}

static void test_handler_read_timeout_keeps_bytes(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(handler_timeout_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_cancel_every_read_form, reset_checks),
      cmocka_unit_test_setup(test_cancelled_reader_lets_go, reset_checks),
      cmocka_unit_test_setup(test_second_reader_refused_with_bytes_buffered,
                             reset_checks),
      cmocka_unit_test_setup(test_cancel_drain_and_wait_closed, reset_checks),
      cmocka_unit_test_setup(test_cancel_one_of_several_drainers, reset_checks),
      cmocka_unit_test_setup(test_cancel_connect, reset_checks),
      cmocka_unit_test_setup(test_cancel_connect_in_progress, reset_checks),
      cmocka_unit_test_setup(test_cancel_while_resolving, reset_checks),
      cmocka_unit_test_setup(test_unix_connect_and_cancel, reset_checks),
      cmocka_unit_test_setup(test_cancel_serve_forever, reset_checks),
      cmocka_unit_test_setup(test_cancel_server_wait_closed, reset_checks),
      cmocka_unit_test_setup(test_handler_read_timeout_keeps_bytes,
                             reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
