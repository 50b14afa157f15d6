/* Fault walks over the net layer: for each fault point (socket, bind,
 * listen, accept, connect, recv, send, poller registration, and every
 * allocation), the Nth call fails for N = 1, 2, ... until a run gets
 * through without reaching an Nth call. Each failure must come back as a
 * negative code (or be absorbed where the layer recovers by design: the
 * accept loop backs off and retries), never a crash; no fd and no
 * allocation may be left behind; and the same loop still serves a fresh
 * connection right after. Also: loops closed while streams and servers
 * are still open (corio_run, a runner, corio_loop_close) close every fd
 * and leak nothing. */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core/alloc.h"
#include "net_robust.h"

/* ---- what the loop reports
 * --------------------------------------------------- */

static int reports, accept_reports;

static void count_reports(corio_loop *loop, const corio_loop_error *e,
                          void *arg) {
  (void)loop, (void)arg;
  reports++;
  if (e->message && strstr(e->message, "accept"))
    accept_reports++;
}

/* ---- the exchange
 * ------------------------------------------------------------- */

enum kind { TCP, UNIX_PATH };

struct walk {
  enum corio__fault_point point;
  enum kind kind;
  char path[108]; /* UNIX_PATH: the socket file (a stale one is left there
                     first, so that replacing it is walked too) */
  int fired;      /* the fault fired in the faulted part */
  int fresh_rc;   /* the unfaulted part on the same loop */
};

static void leave_stale_socket(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  unlink(path);
  if (fd >= 0) {
    (void)bind(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
  }
}

static int start(const struct walk *w, corio_server **srv,
                 struct echo_stats *st) {
  if (w->kind == UNIX_PATH) {
    leave_stale_socket(w->path);
    return corio_start_unix_server(echo_handler, st, w->path, NULL, srv);
  }
  return corio_start_server(echo_handler, st, "127.0.0.1", 0, NULL, srv);
}

static int connect_to(const struct walk *w, corio_server *srv,
                      corio_stream **s) {
  if (w->kind == UNIX_PATH)
    return corio_open_unix_connection(w->path, NULL, s);
  return corio_open_connection("127.0.0.1", corio_server_port(srv), s);
}

/* One client's whole conversation: connect, three echoes, half-close,
 * the server's end, close. */
static int client(const struct walk *w, corio_server *srv, int id) {
  corio_stream *s;
  char who[32];
  int rc;

  if ((rc = connect_to(w, srv, &s)) < 0)
    return rc;
  snprintf(who, sizeof who, "client %d", id);
  return echo_conversation(s, who, 3);
}

/* A server, three clients one after the other, the server closed and
 * waited for. The first error is the outcome; everything is released on
 * every path. */
static int exchange(const struct walk *w) {
  struct echo_stats st = {0};
  corio_server *srv;
  int rc, rc2;

  if ((rc = start(w, &srv, &st)) < 0)
    return rc;
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = client(w, srv, i);
  (void)corio_server_close(srv);
  /* A client that failed may leave its handler waiting for more. */
  if (rc < 0)
    (void)corio_server_close_clients(srv);
  rc2 = corio_server_wait_closed(srv);
  if (rc == 0)
    rc = rc2;
  /* A failure on the server's side shows in its handler. */
  if (rc == 0)
    rc = st.first_error;
  corio_server_unref(srv);
  return rc;
}

static int walk_body(void *arg, void **result) {
  struct walk *w = arg;
  corio_timeout guard;
  int rc;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  /* Only a guard: a failure that left something waiting forever fails
   * the walk instead of hanging it. */
  rc = corio_timeout_enter(&guard, 20);
  if (rc == 0)
    rc = corio_timeout_exit(&guard, exchange(w));
  /* Disarming resets what fired: read it first. */
  w->fired = corio__fault_fired(w->point);
  corio__fault_arm(w->point, 0);
  /* The same loop serves a fresh server and connection. */
  w->fresh_rc = exchange(w);
  return rc;
}

/* Failures the layer absorbs by design, where the exchange may succeed:
 * the accept loop retries after a backoff (there it must succeed: every
 * client is served in the end); unregistering an fd that is
 * closed anyway; allocations whose loss is tolerated (a message's copy);
 * and a Unix server's check for a stale socket file, whose connect
 * (the first one) refused means "stale". Everywhere else the error
 * shows. */
static int may_recover(enum corio__fault_point point, enum kind kind, long n) {
  return point == CORIO__FAULT_ACCEPT || point == CORIO__FAULT_EPOLL_CTL ||
         point == CORIO__FAULT_ALLOC || point == CORIO__FAULT_URING_ENTER ||
         point == CORIO__FAULT_URING_REGISTER ||
         (point == CORIO__FAULT_CONNECT && kind == UNIX_PATH && n == 1);
}

static const char *point_name(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
    return "alloc";
  case CORIO__FAULT_SOCKET:
    return "socket";
  case CORIO__FAULT_BIND:
    return "bind";
  case CORIO__FAULT_LISTEN:
    return "listen";
  case CORIO__FAULT_ACCEPT:
    return "accept";
  case CORIO__FAULT_CONNECT:
    return "connect";
  case CORIO__FAULT_RECV:
    return "recv";
  case CORIO__FAULT_SEND:
    return "send";
  case CORIO__FAULT_EPOLL_CTL:
    return "epoll_ctl";
  case CORIO__FAULT_URING_ENTER:
    return "io_uring_enter";
  case CORIO__FAULT_URING_REGISTER:
    return "io_uring_register";
  default:
    return "?";
  }
}

static void make_path(struct walk *w) {
  snprintf(w->path, sizeof w->path, "/tmp/corio-fault-%d.sock", (int)getpid());
}

/* Walks `point` over the exchange of `kind`; returns the points walked. */
static long walk(enum corio__fault_point point, enum kind kind) {
  struct walk w = {0};
  long n;

  w.point = point;
  w.kind = kind;
  make_path(&w);
  for (n = 1;; n++) {
    corio_test_usage before;
    int fds, rc;

    reset_checks(NULL);
    corio_test_release_pools();
    before = corio_test_usage_now();
    fds = open_fds();
    w.fired = 0;
    w.fresh_rc = 1;
    corio__fault_arm(point, n);
    rc = corio_run(walk_body, &w, NULL);
    /* A fault in corio_run's own setup fires before the body runs. */
    if (corio__fault_fired(point))
      w.fired = 1;
    corio__fault_arm(point, 0);
    if (kind == UNIX_PATH)
      unlink(w.path);
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr, "walk %s/%s: call %ld fired %d rc %d fresh %d\n",
              point_name(point), kind == TCP ? "tcp" : "unix", n, w.fired, rc,
              w.fresh_rc);
    if (!w.fired) {
      assert_int_equal(rc, 0);
      assert_int_equal(w.fresh_rc, 0);
      assert_checks_passed();
      return n - 1;
    }
    if (rc > 0 || (rc == 0 && !may_recover(point, kind, n)) ||
        (rc < 0 && point == CORIO__FAULT_ACCEPT)) {
      print_error("%s/%s: failing call %ld gave %d\n", point_name(point),
                  kind == TCP ? "tcp" : "unix", n, rc);
      fail();
    }
    /* The body ran (its setup did not fail): its second half worked. */
    if (w.fresh_rc != 1 && w.fresh_rc != 0) {
      print_error("%s/%s: after failing call %ld the loop could not serve "
                  "again: %d\n",
                  point_name(point), kind == TCP ? "tcp" : "unix", n,
                  w.fresh_rc);
      fail();
    }
    if (open_fds() != fds) {
      print_error("%s/%s: failing call %ld leaked %d fds\n", point_name(point),
                  kind == TCP ? "tcp" : "unix", n, open_fds() - fds);
      fail();
    }
    corio_test_assert_no_leak(before);
    assert_checks_passed();
  }
}

static void warm_up(void) {
  struct walk w = {0};

  w.point = CORIO__FAULT_COUNT - 1; /* not armed */
  w.kind = TCP;
  make_path(&w);
  assert_int_equal(corio_run(walk_body, &w, NULL), 0);
  assert_int_equal(w.fresh_rc, 0);
}

static void test_walk_syscalls_tcp(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_SOCKET,  CORIO__FAULT_BIND,      CORIO__FAULT_LISTEN,
      CORIO__FAULT_CONNECT, CORIO__FAULT_EPOLL_CTL, CORIO__FAULT_RECV,
      CORIO__FAULT_SEND};
  long walked[sizeof points / sizeof points[0]];

  (void)state;
  warm_up();
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
    walked[i] = walk(points[i], TCP);
  assert_true(walked[0] >= 4); /* the listener, 3 clients */
  assert_true(walked[1] >= 1);
  assert_true(walked[2] >= 1);
  assert_true(walked[3] >= 3); /* each client */
  /* Both sides read and write, by syscall; on io_uring streams do it
   * through the ring (test_walk_backend walks its submissions). */
  if (strcmp(corio_test_backend(), "io_uring") != 0) {
    assert_true(walked[5] >= 12);
    assert_true(walked[6] >= 12);
  }
}

static void test_walk_syscalls_unix(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_SOCKET,  CORIO__FAULT_BIND, CORIO__FAULT_LISTEN,
      CORIO__FAULT_CONNECT, CORIO__FAULT_RECV, CORIO__FAULT_SEND};

  int uring = strcmp(corio_test_backend(), "io_uring") == 0;

  (void)state;
  warm_up();
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    long walked = walk(points[i], UNIX_PATH);

    /* Streams on io_uring read and write through the ring. */
    if (!uring ||
        (points[i] != CORIO__FAULT_RECV && points[i] != CORIO__FAULT_SEND))
      assert_true(walked >= 1);
  }
}

/* The backend's own calls, on io_uring (the .uring variant): the enter
 * each iteration makes, which submits what the net layer registered (a
 * failure stops the run with its error, or, for a removal's submission,
 * is tolerated), and the registrations: the probe at the loop's creation,
 * enabling the ring at its first wait (each fails the run), the ring's
 * fd (optional). Every failure is cleaned up by corio_run's shutdown. */
static void test_walk_backend(void **state) {
  (void)state;
  if (strcmp(corio_test_backend(), "io_uring") != 0)
    skip();
  warm_up();
  assert_true(walk(CORIO__FAULT_URING_ENTER, TCP) >= 6);
  assert_true(walk(CORIO__FAULT_URING_ENTER, UNIX_PATH) >= 6);
  assert_true(walk(CORIO__FAULT_URING_REGISTER, TCP) >= 2);
}

/* accept failing (EMFILE): the server backs off and accepts later, so
 * every client is served. (A server on io_uring may accept through the
 * ring, with few accept calls or none to walk.) */
static void test_walk_accept(void **state) {
  long min = strcmp(corio_test_backend(), "io_uring") == 0 ? 0 : 6;

  (void)state;
  warm_up();
  assert_true(walk(CORIO__FAULT_ACCEPT, TCP) >= min);
  assert_true(walk(CORIO__FAULT_ACCEPT, UNIX_PATH) >= min);
}

static void test_walk_allocations(void **state) {
  (void)state;
  warm_up();
  /* The loop, the task stacks' bookkeeping, the net state, streams,
   * buffers, servers, handler tasks... */
  assert_true(walk(CORIO__FAULT_ALLOC, TCP) >= 20);
  assert_true(walk(CORIO__FAULT_ALLOC, UNIX_PATH) >= 20);
}

/* ---- the accept loop out of fds
 * ---------------------------------------------- */

/* Each accept failure pauses accepting briefly, and the connection that
 * waited is served then; the shortage is reported once per server. */
static int accept_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  int port;

  (void)arg, (void)result;
  reports = accept_reports = 0;
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  port = corio_server_port(srv);
  for (int i = 0; i < 3; i++) {
    char msg[32];

    snprintf(msg, sizeof msg, "round %d\n", i);
    corio_timeout guard; /* only against a hang */
    corio__fault_arm(CORIO__FAULT_ACCEPT, 1);
    CHECK_EQ(corio_timeout_enter(&guard, 30), 0);
    CHECK_EQ(corio_timeout_exit(&guard, echo_client("127.0.0.1", port, msg)),
             0);
    CHECK_EQ(corio__fault_fired(CORIO__FAULT_ACCEPT), 1);
    CHECK_EQ(corio_server_is_serving(srv), 1);
  }
  corio__fault_arm(CORIO__FAULT_ACCEPT, 0);
  CHECK_EQ(echo_client("127.0.0.1", port, "plain\n"), 0);
  CHECK_EQ(accept_reports, 1);
  CHECK_EQ(server_finish(srv), 0);
  CHECK_EQ(st.got_data, 4);
  corio_server_unref(srv);
  return 0;
}

static void test_accept_failure_keeps_serving(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(accept_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* Closing a server while its accept loop rests (after a failure): the
 * backoff timer goes with it. */
static int accept_close_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  corio_stream *c;

  (void)arg, (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  corio__fault_arm(CORIO__FAULT_ACCEPT, 1);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c), 0);
  YIELD_UNTIL(corio__fault_fired(CORIO__FAULT_ACCEPT));
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_ACCEPT), 1);
  corio__fault_arm(CORIO__FAULT_ACCEPT, 0);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  /* The connection was never accepted: it ends when the listener goes. */
  {
    char b;
    size_t n = 9;
    int rc = corio_stream_read(c, &b, 1, &n);
    CHECK_TRUE((rc == 0 && n == 0) || rc == -ECONNRESET);
  }
  corio_stream_unref(c);
  CHECK_EQ(st.handled, 0);
  /* Nothing fires later: the backoff timer is gone with the server. */
  CHECK_EQ(corio_sleep(0.15), 0);
  return 0;
}

static void test_close_while_accept_backs_off(void **state) {
  int before = open_fds();
  corio_test_usage usage;

  (void)state;
  corio_test_release_pools();
  usage = corio_test_usage_now();
  assert_int_equal(corio_run(accept_close_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
  corio_test_assert_no_leak(usage);
}

/* A real shortage: the process's fd limit is lowered to what is open, so
 * the server's accept4 fails with EMFILE while clients wait (their
 * sockets were made before). The server rests and retries, reports the
 * shortage once, accepts nothing meanwhile, and serves every waiting
 * client once fds are available again. */
static int highest_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int max = -1;

  if (!d)
    return -1;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) > max &&
        atoi(e->d_name) != dirfd(d)) /* not the listing's own */
      max = atoi(e->d_name);
  closedir(d);
  return max;
}

static int emfile_body(void *arg, void **result) {
  struct echo_stats st = {0};
  struct rlimit saved, low;
  corio_server *srv;
  int raw[3], port, holes[256], nholes = 0;
  enum { N = 3 };

  (void)arg, (void)result;
  reports = accept_reports = 0;
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  port = corio_server_port(srv);
  for (int i = 0; i < N; i++)
    raw[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  low = saved;
  low.rlim_cur = (rlim_t)highest_fd() + 1;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  /* Fill the free numbers below the limit: now no fd can be made. */
  while (nholes < (int)(sizeof holes / sizeof holes[0]) &&
         (holes[nholes] = dup(0)) >= 0)
    nholes++;
  CHECK_TRUE(nholes < (int)(sizeof holes / sizeof holes[0]));
  for (int i = 0; i < N; i++) {
    struct sockaddr_storage ss;
    socklen_t len = loopback(AF_INET, port, &ss);

    CHECK_EQ(connect(raw[i], (struct sockaddr *)&ss, len), 0);
  }
  YIELD_UNTIL(accept_reports > 0);
  CHECK_EQ(accept_reports, 1);
  /* Several retries fail meanwhile (a sleep only to show that nothing
   * is accepted and nothing more is reported). */
  CHECK_EQ(corio_sleep(0.35), 0);
  CHECK_EQ(st.handled, 0);
  CHECK_EQ(accept_reports, 1);
  CHECK_EQ(corio_server_is_serving(srv), 1);
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  while (nholes > 0)
    close(holes[--nholes]);
  for (int i = 0; i < N; i++) {
    corio_stream *c;
    char msg[32];

    /* The client's socket as a stream (no new fd). */
    CHECK_EQ(corio_stream_open_fd(NULL, raw[i], NULL, &c), 0);
    if (failed.line)
      break;
    snprintf(msg, sizeof msg, "late %d\n", i);
    CHECK_EQ(echo_once(c, msg), 0);
    corio_stream_unref(c);
  }
  CHECK_EQ(server_finish(srv), 0);
  CHECK_EQ(st.got_data, N);
  CHECK_EQ(accept_reports, 1);
  corio_server_unref(srv);
  return 0;
}

static void test_accept_out_of_fds(void **state) {
  int before = open_fds();

  (void)state;
  if (corio_test_under_valgrind()) {
    /* Valgrind emulates the fd limit and refuses to lower it. */
    print_message("[  SKIPPED ] fd limit under Valgrind\n");
    return;
  }
  assert_int_equal(corio_run(emfile_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- loops closed with everything still open
 * --------------------------------- */

/* What a main leaves behind: a server with a busy handler, a client with
 * bytes queued that the handler never reads, a stream closing with bytes
 * still queued, a stream with a reader task waiting, and a server never
 * started. */
static corio_server *left_srv, *left_idle;
static corio_stream *left_client, *left_closing, *left_read;
static int left_peer = -1, left_peer2 = -1;
static struct echo_stats left_st;

static int sink_handler(corio_stream *s, void *arg) {
  (void)s;
  ((struct echo_stats *)arg)->handled++;
  /* Reads nothing: the client's bytes pile up. Ends when cancelled. */
  return corio_sleep(3600);
}

static int lingering_reader(void *arg, void **result) {
  char buf[8];
  size_t n;

  (void)result;
  return corio_stream_read(arg, buf, sizeof buf, &n);
}

static int leave_open_body(void *arg, void **result) {
  static char chunk[1 << 16];
  corio_server_options so = {0};
  int small = 4096;

  (void)arg, (void)result;
  memset(&left_st, 0, sizeof left_st);
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  CHECK_EQ(corio_start_server(sink_handler, &left_st, "127.0.0.1", 0, NULL,
                              &left_srv),
           0);
  if (failed.line)
    return 0;
  so.flags = CORIO_NET_NO_START;
  CHECK_EQ(corio_start_server(echo_handler, &left_st, "127.0.0.1", 0, &so,
                              &left_idle),
           0);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(left_srv),
                                 &left_client),
           0);
  if (failed.line)
    return 0;
  setsockopt(corio_stream_fd(left_client), SOL_SOCKET, SO_SNDBUF, &small,
             sizeof small);
  for (int i = 0; i < 64 && corio_stream_write_buffer_size(left_client) == 0;
       i++)
    CHECK_EQ(corio_stream_write(left_client, chunk, sizeof chunk), 0);
  CHECK_TRUE(corio_stream_write_buffer_size(left_client) > 0);
  YIELD_UNTIL(left_st.handled == 1);
  CHECK_EQ(left_st.handled, 1);
  /* A stream closing with its bytes still queued (its peer never reads). */
  CHECK_EQ(stream_pair(&left_closing, &left_peer), 0);
  setsockopt(corio_stream_fd(left_closing), SOL_SOCKET, SO_SNDBUF, &small,
             sizeof small);
  while (corio_stream_write_buffer_size(left_closing) == 0 && !failed.line)
    CHECK_EQ(corio_stream_write(left_closing, chunk, sizeof chunk), 0);
  CHECK_EQ(corio_stream_close(left_closing), 0);
  /* A stream with a task waiting in a read (cancelled by the run's end). */
  CHECK_EQ(stream_pair(&left_read, &left_peer2), 0);
  CHECK_EQ(corio_spawn(NULL, lingering_reader, left_read), 0);
  CHECK_EQ(yield_n(2), 0);
  return 0;
}

/* Drops what the main left, outside any loop; then nothing is left. */
static void release_left(void) {
  corio_server_unref(left_srv);
  corio_server_unref(left_idle);
  corio_stream_unref(left_client);
  corio_stream_unref(left_closing);
  corio_stream_unref(left_read);
  left_srv = left_idle = NULL;
  left_client = left_closing = left_read = NULL;
  close(left_peer);
  close(left_peer2);
  left_peer = left_peer2 = -1;
}

static void test_run_ends_with_everything_open(void **state) {
  int before;
  corio_test_usage usage;

  (void)state;
  warm_up();
  corio_test_release_pools();
  usage = corio_test_usage_now();
  before = open_fds();
  assert_int_equal(corio_run(leave_open_body, NULL, NULL), 0);
  assert_checks_passed();
  /* Only the test's own socketpair ends are open. */
  assert_int_equal(open_fds(), before + 2);
  release_left();
  assert_int_equal(open_fds(), before);
  corio_test_assert_no_leak(usage);
}

/* A second run on the same loop still uses what the first left. */
static int use_left_body(void *arg, void **result) {
  corio_stream *c;

  (void)arg, (void)result;
  CHECK_TRUE(corio_stream_fd(left_client) >= 0);
  CHECK_EQ(corio_server_is_serving(left_srv), 1);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(left_srv), &c),
           0);
  YIELD_UNTIL(left_st.handled == 2);
  CHECK_EQ(left_st.handled, 2);
  corio_stream_unref(c);
  return 0;
}

static void test_runner_closes_with_everything_open(void **state) {
  corio_runner *runner;
  corio_test_usage usage;
  int before;

  (void)state;
  warm_up();
  corio_test_release_pools();
  usage = corio_test_usage_now();
  before = open_fds();
  assert_int_equal(corio_runner_create(&runner), 0);
  assert_int_equal(corio_runner_run(runner, leave_open_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_runner_run(runner, use_left_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_runner_close(runner), 0);
  assert_int_equal(open_fds(), before + 2);
  release_left();
  assert_int_equal(open_fds(), before);
  corio_test_assert_no_leak(usage);
}

/* corio_loop_close on a loop whose main task returned and whose handler
 * and reader tasks are still pending. */
static void test_loop_close_with_everything_open(void **state) {
  corio_spawn_options opts = {0};
  corio_test_usage usage;
  corio_loop *loop;
  corio_task *main_task;
  int before;

  (void)state;
  warm_up();
  corio_test_release_pools();
  usage = corio_test_usage_now();
  before = open_fds();
  assert_int_equal(corio_loop_create(&loop), 0);
  opts.loop = loop;
  assert_int_equal(corio_spawn_ex(&main_task, leave_open_body, NULL, &opts), 0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  assert_checks_passed();
  corio_task_unref(main_task);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(open_fds(), before + 2);
  corio_loop_unref(loop);
  release_left();
  assert_int_equal(open_fds(), before);
  corio_test_assert_no_leak(usage);
}

int main(void) {
  /* The walks last: a memory error they find (as the recv walk found
   * the one test_tcp's test_reader_drops_stream_on_reset guards against)
   * ends the program under ASan, and the other tests should have run. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_accept_failure_keeps_serving, reset_checks),
      cmocka_unit_test_setup(test_close_while_accept_backs_off, reset_checks),
      cmocka_unit_test_setup(test_accept_out_of_fds, reset_checks),
      cmocka_unit_test_setup(test_run_ends_with_everything_open, reset_checks),
      cmocka_unit_test_setup(test_runner_closes_with_everything_open,
                             reset_checks),
      cmocka_unit_test_setup(test_loop_close_with_everything_open,
                             reset_checks),
      cmocka_unit_test_setup(test_walk_accept, reset_checks),
      cmocka_unit_test_setup(test_walk_syscalls_unix, reset_checks),
      cmocka_unit_test_setup(test_walk_syscalls_tcp, reset_checks),
      cmocka_unit_test_setup(test_walk_allocations, reset_checks),
      cmocka_unit_test_setup(test_walk_backend, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
