/* Servers and connecting: an echo server on loopback, port 0, handlers
 * as tasks, wait_closed waiting for them (3.12), close/abort_clients,
 * serve_forever's cancellation, Unix servers (path, abstract, stale
 * file), connect errors with the address in the message. */
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core/fault.h"
#include "corio/combine.h"
#include "net_test.h"

struct echo_stats {
  int handled;
  int finished;
};

static int echo_handler(corio_stream *s, void *arg) {
  struct echo_stats *st = arg;
  char buf[256];
  size_t n;
  int rc;

  st->handled++;
  while ((rc = corio_stream_read(s, buf, sizeof buf, &n)) == 0 && n > 0)
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      break;
  st->finished++;
  return rc == -ECONNRESET ? 0 : rc;
}

static int echo_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  corio_stream *c[3];
  char buf[64];
  int port;

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  port = corio_server_port(srv);
  CHECK_TRUE(port > 0);
  CHECK_EQ(corio_server_is_serving(srv), 1);
  CHECK_EQ(corio_server_sockets(srv, NULL, 0), 1);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(corio_open_connection("127.0.0.1", port, &c[i]), 0);
  for (int i = 0; i < 3; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "hello %d\n", i);
    CHECK_EQ(corio_stream_write(c[i], msg, strlen(msg)), 0);
  }
  for (int i = 2; i >= 0; i--) {
    char want[32];
    size_t n;
    snprintf(want, sizeof want, "hello %d\n", i);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(corio_stream_readline(c[i], buf, sizeof buf, &n), 0);
    CHECK_STR(buf, want);
  }
  {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char text[64];
    CHECK_EQ(corio_stream_peername(c[0], (struct sockaddr *)&ss, &len), 0);
    corio_format_address((struct sockaddr *)&ss, len, text, sizeof text);
    snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
    CHECK_STR(text, buf);
  }
  CHECK_EQ(corio_server_clients(srv), 3);
  /* close stops listening; handlers go on; wait_closed waits for them. */
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_is_serving(srv), 0);
  CHECK_EQ(corio_server_start_serving(srv), CORIO_ESERVERCLOSED);
  {
    corio_stream *refused;
    CHECK_EQ(corio_open_connection("127.0.0.1", port, &refused), -ECONNREFUSED);
  }
  CHECK_EQ(corio_stream_write(c[1], "still\n", 6), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(c[1], buf, sizeof buf, NULL), 0);
  CHECK_STR(buf, "still\n");
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(corio_stream_close(c[i]), 0);
    corio_stream_unref(c[i]);
  }
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  CHECK_EQ(st.handled, 3);
  CHECK_EQ(st.finished, 3);
  CHECK_EQ(corio_server_clients(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_echo(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(echo_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- closing clients, serve_forever ------------------------------------ */

static int serve_task(void *arg, void **result) {
  (void)result;
  return corio_server_serve_forever(arg);
}

static int clients_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server_options opts = {0};
  corio_server *srv;
  corio_stream *c[2];
  corio_task *serving;
  size_t n;
  char buf[8];

  (void)arg, (void)result;
  opts.flags = CORIO_NET_NO_START;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &opts, &srv),
           0);
  CHECK_EQ(corio_server_is_serving(srv), 0);
  CHECK_EQ(corio_spawn(&serving, serve_task, srv), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c[i]),
             0);
    CHECK_EQ(corio_stream_write(c[i], "x", 1), 0);
    CHECK_EQ(corio_stream_readexactly(c[i], buf, 1, NULL), 0);
  }
  CHECK_EQ(corio_server_is_serving(srv), 1);
  CHECK_EQ(corio_server_clients(srv), 2);
  /* Cancelling serve_forever closes the server and waits for handlers:
   * close the clients so that the handlers see EOF. */
  CHECK_EQ(corio_task_cancel(serving, NULL), 1);
  CHECK_EQ(yield_n(2), 0);
  CHECK_EQ(corio_task_done(serving), 0);
  CHECK_EQ(corio_server_close_clients(srv), 0);
  CHECK_EQ(corio_task_await(serving, NULL), -ECANCELED);
  corio_task_unref(serving);
  CHECK_EQ(st.finished, 2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(corio_stream_read(c[i], buf, sizeof buf, &n), 0);
    CHECK_EQ(n, 0);
    corio_stream_unref(c[i]);
  }
  corio_server_unref(srv);
  return 0;
}

static void test_close_clients_serve_forever(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(clients_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* stop_serving leaves connections in the backlog until serving resumes;
 * the listeners' addresses are readable. */
static int stop_serving_body(void *arg, void **result) {
  struct echo_stats st = {0};
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  corio_server *srv;
  corio_stream *c;
  char buf[4];

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  CHECK_EQ(corio_server_address(srv, 0, (struct sockaddr *)&sa, &len), 0);
  CHECK_EQ(ntohs(sa.sin_port), corio_server_port(srv));
  CHECK_EQ(sa.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  CHECK_EQ(corio_server_address(srv, 1, (struct sockaddr *)&sa, &len), -ENOENT);
  CHECK_EQ(corio_server_stop_serving(srv), 0);
  CHECK_EQ(corio_server_is_serving(srv), 0);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c), 0);
  CHECK_EQ(corio_stream_write(c, "q", 1), 0);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(st.handled, 0);
  CHECK_EQ(corio_server_start_serving(srv), 0);
  CHECK_EQ(corio_stream_readexactly(c, buf, 1, NULL), 0);
  CHECK_EQ(st.handled, 1);
  corio_stream_unref(c);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_stop_serving(srv), CORIO_ESERVERCLOSED);
  CHECK_EQ(corio_server_address(srv, 0, (struct sockaddr *)&sa, &len), -ENOENT);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_stop_serving_address(void **state) {
  (void)state;
  assert_int_equal(corio_run(stop_serving_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* Closing clients from a plain loop callback: the handlers, woken by the
 * close, may finish (and their streams go) before the call returns. */
static int close_clients_cb(void *arg) {
  return corio_server_close_clients(arg);
}

static int close_from_callback_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server *srv;
  corio_stream *c[3];
  size_t n;
  char buf[4];

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c[i]),
             0);
    CHECK_EQ(corio_stream_write(c[i], "e", 1), 0);
    CHECK_EQ(corio_stream_readexactly(c[i], buf, 1, NULL), 0);
  }
  CHECK_EQ(corio_server_clients(srv), 3);
  CHECK_EQ(
      corio_loop_call_soon(corio_loop_running(), close_clients_cb, srv, NULL),
      0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(corio_stream_read(c[i], buf, sizeof buf, &n), 0);
    CHECK_EQ(n, 0);
    corio_stream_unref(c[i]);
  }
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  CHECK_EQ(st.finished, 3);
  corio_server_unref(srv);
  return 0;
}

static void test_close_clients_from_callback(void **state) {
  (void)state;
  assert_int_equal(corio_run(close_from_callback_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* The last user reference closes the server while handlers still run;
 * a handler that drops the server inside the accept callback (handlers
 * start there) does not pull it from under the accept loop; a handler
 * that stops serving stops the batch being accepted. */
struct owner {
  corio_server *srv;
  int handled;
  int release_in_handler;
  int stop_in_handler;
};

static int owner_handler(corio_stream *s, void *arg) {
  struct owner *o = arg;
  char buf[8];
  size_t n;

  o->handled++;
  if (o->stop_in_handler)
    (void)corio_server_stop_serving(o->srv);
  if (o->release_in_handler && o->srv) {
    corio_server *srv = o->srv;
    o->srv = NULL;
    (void)corio_server_close(srv);
    corio_server_unref(srv);
    return 0; /* without suspending: still inside the accept callback */
  }
  while (corio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0) {
  }
  return 0;
}

static int server_refs_body(void *arg, void **result) {
  struct owner o = {0};
  corio_stream *c[5];
  char buf[4];
  size_t n;
  int port;

  (void)arg, (void)result;
  /* 1. unref while a handler runs: the listener closes at once. */
  CHECK_EQ(corio_start_server(owner_handler, &o, "127.0.0.1", 0, NULL, &o.srv),
           0);
  port = corio_server_port(o.srv);
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &c[0]), 0);
  for (long i = 0; i < 1000000 && o.handled < 1; i++)
    CHECK_EQ(yield_n(1), 0);
  CHECK_EQ(o.handled, 1);
  corio_server_unref(o.srv);
  o.srv = NULL;
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &c[1]), -ECONNREFUSED);
  corio_stream_unref(c[0]); /* the handler sees EOF and returns */
  CHECK_EQ(yield_n(3), 0);
  /* 2. stop_serving from a handler stops the batch: five connections wait
   * in the backlog, one is taken. */
  o = (struct owner){0};
  o.stop_in_handler = 1;
  {
    corio_server_options opts = {0};
    opts.flags = CORIO_NET_NO_START;
    CHECK_EQ(
        corio_start_server(owner_handler, &o, "127.0.0.1", 0, &opts, &o.srv),
        0);
  }
  port = corio_server_port(o.srv);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(corio_open_connection("127.0.0.1", port, &c[i]), 0);
  CHECK_EQ(corio_server_start_serving(o.srv), 0);
  for (long i = 0; i < 1000000 && o.handled < 1; i++)
    CHECK_EQ(yield_n(1), 0);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(o.handled, 1);
  CHECK_EQ(corio_server_is_serving(o.srv), 0);
  CHECK_EQ(corio_server_close(o.srv), 0);
  for (int i = 0; i < 5; i++)
    corio_stream_unref(c[i]);
  CHECK_EQ(corio_server_wait_closed(o.srv), 0);
  corio_server_unref(o.srv);
  /* 3. A handler closes and drops the server before its first suspension,
   * inside the accept callback (ASan watches the accept loop). */
  o = (struct owner){0};
  o.release_in_handler = 1;
  CHECK_EQ(corio_start_server(owner_handler, &o, "127.0.0.1", 0, NULL, &o.srv),
           0);
  port = corio_server_port(o.srv);
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &c[0]), 0);
  CHECK_EQ(corio_stream_read(c[0], buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0); /* the handler returned: its stream was closed */
  CHECK_EQ(o.handled, 1);
  corio_stream_unref(c[0]);
  return 0;
}

static void test_server_references(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(server_refs_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* A handler whose task cannot get a stack never runs: the connection is
 * dropped, the server forgets it, and wait_closed does not wait for it. */
static int no_stack_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server_options opts = {0};
  corio_server *srv;
  corio_stream *c;
  char buf[4];
  size_t n;

  (void)arg, (void)result;
  /* A stack size class no other test uses: the first handler maps a new
   * stack slab. */
  opts.stack_size = (size_t)64 * 1024 * 1024;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &opts, &srv),
           0);
  corio__fault_arm(CORIO__FAULT_MMAP, 1);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c), 0);
  /* Written first, so that a handler that did run answers instead of
   * both sides waiting. */
  CHECK_EQ(corio_stream_write(c, "x", 1), 0);
  n = 9;
  (void)corio_stream_read(c, buf, sizeof buf, &n);
  CHECK_EQ(n, 0); /* dropped (EOF, or a reset for the unread byte) */
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_MMAP), 1);
  corio__fault_disarm_all();
  CHECK_EQ(st.handled, 0);
  CHECK_EQ(corio_server_clients(srv), 0);
  corio_stream_unref(c);
  /* The next connection is served. */
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &c), 0);
  CHECK_EQ(corio_stream_write(c, "s", 1), 0);
  CHECK_EQ(corio_stream_readexactly(c, buf, 1, NULL), 0);
  corio_stream_unref(c);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  CHECK_EQ(st.handled, 1);
  corio_server_unref(srv);
  return 0;
}

static void ignore_reports(corio_loop *loop, const corio_loop_error *e,
                           void *arg) {
  (void)loop, (void)e, (void)arg;
}

static int no_stack_main(void *arg, void **result) {
  corio_loop_set_exception_handler(corio_loop_running(), ignore_reports, NULL);
  return no_stack_body(arg, result);
}

static void test_handler_without_stack(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(no_stack_main, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- Unix servers ------------------------------------------------------- */

static int unix_body(void *arg, void **result) {
  char dir[] = "/tmp/corio-net-XXXXXX";
  char path[96], abstract[64], buf[8];
  struct echo_stats st = {0};
  corio_server *srv, *again;
  corio_stream *c;
  struct stat sb;

  (void)arg, (void)result;
  CHECK_TRUE(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/sock", dir);
  CHECK_EQ(corio_start_unix_server(echo_handler, &st, path, NULL, &srv), 0);
  CHECK_EQ(corio_server_port(srv), 0);
  /* A live socket is not taken over. */
  CHECK_EQ(corio_start_unix_server(echo_handler, &st, path, NULL, &again),
           -EADDRINUSE);
  CHECK_EQ(corio_open_unix_connection(path, NULL, &c), 0);
  CHECK_EQ(corio_stream_write(c, "ux", 2), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readexactly(c, buf, 2, NULL), 0);
  CHECK_STR(buf, "ux");
  corio_stream_unref(c);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  /* Closing removed the socket file. */
  CHECK_TRUE(stat(path, &sb) != 0);
  /* A stale file (its server gone without removing it) is replaced. */
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
  }
  CHECK_EQ(corio_start_unix_server(echo_handler, &st, path, NULL, &srv), 0);
  corio_server_unref(srv);
  /* Not a socket: refused, untouched. */
  {
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(fd);
    CHECK_EQ(corio_start_unix_server(echo_handler, &st, path, NULL, &srv),
             -EADDRINUSE);
    CHECK_EQ(stat(path, &sb), 0);
    unlink(path);
  }
  /* Abstract names. */
  snprintf(abstract, sizeof abstract, "@corio-test-%d", (int)getpid());
  CHECK_EQ(corio_start_unix_server(echo_handler, &st, abstract, NULL, &srv), 0);
  CHECK_EQ(corio_open_unix_connection(abstract, NULL, &c), 0);
  CHECK_EQ(corio_stream_write(c, "ab", 2), 0);
  CHECK_EQ(corio_stream_readexactly(c, buf, 2, NULL), 0);
  corio_stream_unref(c);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  CHECK_EQ(corio_open_unix_connection(abstract, NULL, &c), -ECONNREFUSED);
  rmdir(dir);
  return 0;
}

static void test_unix(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(unix_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- connect errors ---------------------------------------------------- */

static int refused_task(void *arg, void **result) {
  corio_stream *s;

  (void)result;
  return corio_open_connection("127.0.0.1", *(int *)arg, &s);
}

static int refused_body(void *arg, void **result) {
  corio_task *t;
  corio_stream *s;
  int port;

  (void)arg, (void)result;
  /* A port nobody listens on: bind one, then close it. */
  {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
  }
  CHECK_EQ(corio_spawn(&t, refused_task, &port), 0);
  CHECK_EQ(corio_task_await(t, NULL), -ECONNREFUSED);
  {
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK_TRUE(corio_task_message(t) != NULL);
    CHECK_TRUE(strstr(corio_task_message(t), want) != NULL);
  }
  corio_task_unref(t);
  /* The caller itself can read the message while it runs. */
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &s), -ECONNREFUSED);
  CHECK_TRUE(corio_fail_message(-ECONNREFUSED) != NULL);
  CHECK_TRUE(corio_fail_message(-EPIPE) == NULL);
  CHECK_TRUE(strstr(corio_fail_message(-ECONNREFUSED), "refused") != NULL);
  CHECK_EQ(corio_open_connection(NULL, 80, &s), -EINVAL);
  CHECK_EQ(corio_open_connection("127.0.0.1", 70000, &s), -EINVAL);
  CHECK_EQ(corio_open_connection("127.0.0.1", -1, &s), -EINVAL);
  CHECK_EQ(corio_open_connection("127.0.0.1", 80, NULL), -EINVAL);
  CHECK_EQ(corio_open_unix_connection(NULL, NULL, &s), -EINVAL);
  return 0;
}

static void test_connect_errors(void **state) {
  corio_stream *s;

  (void)state;
  assert_int_equal(corio_run(refused_body, NULL, NULL), 0);
  assert_checks_passed();
  /* Outside a task nothing can wait. */
  assert_int_equal(corio_open_connection("127.0.0.1", 1, &s), CORIO_ENOTASK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_echo, reset_checks),
      cmocka_unit_test_setup(test_close_clients_serve_forever, reset_checks),
      cmocka_unit_test_setup(test_stop_serving_address, reset_checks),
      cmocka_unit_test_setup(test_close_clients_from_callback, reset_checks),
      cmocka_unit_test_setup(test_server_references, reset_checks),
      cmocka_unit_test_setup(test_handler_without_stack, reset_checks),
      cmocka_unit_test_setup(test_unix, reset_checks),
      cmocka_unit_test_setup(test_connect_errors, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
