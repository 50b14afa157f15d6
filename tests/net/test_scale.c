/* Many connections on one loop: `make test`'s small version of the soak
 * (bench/c10k.c, `make soak`). One loop runs an echo server and SCALE_CONNS
 * client tasks; every client connects, and only once all of them are
 * connected and the server has accepted every one (all open at once) do
 * they exchange SCALE_MESSAGES messages each, each one sent before the
 * previous echo is read (see client_exchange). Message m of connection i
 * is a byte pattern of i and m, its length too (1..SCALE_MAX_MESSAGE), so
 * a byte lost, duplicated, reordered, corrupted or crossed over to another
 * connection fails the check, without a wait that only a timer could end.
 * Each client half-closes after its last message and must read EOF with
 * no byte more; the server's handlers must all end on that EOF.
 * Afterwards no fd and no allocation may be left.
 *
 * It runs on an epoll loop and, where the kernel allows it, on an
 * io_uring loop (skipped, saying why, where it refuses, and under
 * Valgrind, where a waiting io_uring_enter stops the other threads: see
 * tests/support/backend_gate.c). Nothing depends on time: every wait is
 * for a condition, and ctest's timeout is the only bound.
 *
 * Each connection costs the process two fds (both ends are here): the
 * soft fd limit is raised to the hard one, and the count lowered, with a
 * note, where even that is too small. Under Valgrind the count is
 * halved (SCALE_CONNS_VALGRIND) to stay well inside ctest's timeout on a
 * busy machine. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "corio/net.h"
#include "corio/sync.h"
#include "corio/task.h"
#include "support.h"

#define SCALE_CONNS 2000
/* Under Valgrind: 2,000 took 8 s on an idle 2-CPU machine but 60-65 s
 * with both CPUs busy (ctest's timeout is 120 s), so half. */
#define SCALE_CONNS_VALGRIND 1000
#define SCALE_MESSAGES 5
#define SCALE_MAX_MESSAGE 256
/* fds besides the connections: stdio, the loop's, the listener, slack. */
#define SCALE_SPARE_FDS 64

typedef struct scale_run {
  int conns;
  int port;
  corio_event all_open; /* set once every connection is open */
  int connects_done;    /* clients past their connect, ok or not */
  int connected;        /* clients connected */
  int accepted;         /* handlers started */
  int handler_errors;   /* handlers that did not end on EOF */
  int client_errors;
  long messages_ok;
} scale_run;

typedef struct scale_client {
  scale_run *run;
  uint32_t index;
} scale_client;

/* ---- the pattern --------------------------------------------------------
 */

static uint32_t mix(uint32_t conn, uint32_t msg) {
  uint32_t x = conn * 2654435761u ^ (msg + 1) * 2246822519u;

  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return x;
}

static size_t message_fill(uint32_t conn, uint32_t msg, uint8_t *buf) {
  uint32_t key = mix(conn, msg);
  size_t len = 1 + key % SCALE_MAX_MESSAGE;

  for (size_t j = 0; j < len; j++)
    buf[j] = (uint8_t)((key >> (8 * (j & 3))) + (j >> 2) * 37);
  return len;
}

/* ---- the server -----------------------------------------------------------
 */

/* Sets all_open once the last connect is done and the server has accepted
 * every connection that was made (a failed connect sets it too, so the
 * main task wakes to report it). */
static void check_all_open(scale_run *run) {
  if (run->connects_done == run->conns && run->accepted >= run->connected)
    corio_event_set(&run->all_open);
}

/* Echo with peek/write/consume, as examples/echo_server.c. */
static int echo_handler(corio_stream *s, void *arg) {
  scale_run *run = arg;
  const void *data;
  size_t len;
  int rc;

  run->accepted++;
  check_all_open(run);
  for (;;) {
    rc = corio_stream_peek(s, 0, &data, &len);
    if (rc < 0 || len == 0)
      break;
    rc = corio_stream_write(s, data, len);
    (void)corio_stream_consume(s, len);
    if (rc < 0)
      break;
    if (corio_stream_write_buffer_size(s) && (rc = corio_stream_drain(s)) < 0)
      break;
  }
  if (rc < 0)
    run->handler_errors++;
  return rc == -ECANCELED ? rc : 0;
}

/* ---- a client -------------------------------------------------------------
 */

/* Reads the echo of message m and checks it. */
static int client_check(scale_client *c, corio_stream *s, uint32_t m) {
  uint8_t want[SCALE_MAX_MESSAGE], got[SCALE_MAX_MESSAGE];
  size_t len = message_fill(c->index, m, want), n;
  int rc = corio_stream_readexactly(s, got, len, &n);

  if (rc < 0)
    return rc;
  if (memcmp(want, got, len) != 0)
    return -EBADMSG;
  c->run->messages_ok++;
  return 0;
}

/* Message m goes out before the echo of m - 1 is read, so a byte the
 * server loses shifts the next message's bytes into this check (or, for
 * the last one, the server's EOF ends it short) instead of leaving the
 * client waiting for it. After the last message the client half-closes;
 * the handler sees EOF and closes: nothing may come before that EOF. */
static int client_exchange(scale_client *c, corio_stream *s) {
  uint8_t buf[SCALE_MAX_MESSAGE];
  size_t len, n;
  int rc;

  for (uint32_t m = 0; m < SCALE_MESSAGES; m++) {
    len = message_fill(c->index, m, buf);
    if ((rc = corio_stream_write(s, buf, len)) < 0)
      return rc;
    if (m + 1 == SCALE_MESSAGES && (rc = corio_stream_write_eof(s)) < 0)
      return rc;
    if (m > 0 && (rc = client_check(c, s, m - 1)) < 0)
      return rc;
  }
  if ((rc = client_check(c, s, SCALE_MESSAGES - 1)) < 0 ||
      (rc = corio_stream_read(s, buf, sizeof buf, &n)) < 0)
    return rc;
  return n == 0 ? 0 : -EBADMSG;
}

static int client_main(void *arg, void **result) {
  scale_client *c = arg;
  scale_run *run = c->run;
  corio_connect_options options = {0};
  corio_stream *s = NULL;
  int rc;

  (void)result;
  options.family = AF_INET;
  rc = corio_open_connection_ex("127.0.0.1", run->port, &options, &s);
  run->connects_done++;
  if (rc == 0)
    run->connected++;
  check_all_open(run);
  if (rc == 0 && (rc = corio_event_wait(&run->all_open)) == 0)
    rc = client_exchange(c, s);
  if (s) {
    (void)corio_stream_close(s);
    (void)corio_stream_wait_closed(s);
    corio_stream_unref(s);
  }
  if (rc < 0) {
    if (run->client_errors++ == 0)
      print_message("client %u: %s\n", c->index, corio_strerror(rc));
  }
  return 0;
}

/* ---- the run --------------------------------------------------------------
 */

/* The checks in the loop fail the run with a message (no cmocka assert
 * in a task: its longjmp would leave the loop running); run_scale
 * asserts the outcome. */
static int scale_check(scale_run *run, corio_server *server) {
  if (run->connected != run->conns || run->accepted != run->conns ||
      (int)corio_server_clients(server) != run->conns)
    return corio_fail(-EPROTO,
                      "all open: %d connected, %d accepted, %zu "
                      "served, of %d",
                      run->connected, run->accepted,
                      corio_server_clients(server), run->conns);
  return 0;
}

static int scale_main(void *arg, void **result) {
  scale_run *run = arg;
  corio_server_options options = {0};
  corio_server *server = NULL;
  scale_client *clients;
  corio_task **tasks;
  int spawned = 0, rc;

  (void)result;
  clients = calloc((size_t)run->conns, sizeof *clients);
  tasks = calloc((size_t)run->conns, sizeof *tasks);
  if (!clients || !tasks) {
    rc = -ENOMEM;
    goto out;
  }
  options.backlog = run->conns; /* every connect fits the accept queue */
  options.family = AF_INET;
  rc = corio_start_server(echo_handler, run, "127.0.0.1", 0, &options, &server);
  if (rc < 0)
    goto out;
  run->port = corio_server_port(server);
  for (; spawned < run->conns; spawned++) {
    clients[spawned].run = run;
    clients[spawned].index = (uint32_t)spawned;
    rc = corio_spawn(&tasks[spawned], client_main, &clients[spawned]);
    if (rc < 0)
      goto out;
  }

  /* All open at once: every client connected and waiting, every
   * connection accepted and its handler waiting for bytes. */
  if ((rc = corio_event_wait(&run->all_open)) < 0 ||
      (rc = scale_check(run, server)) < 0)
    goto out;
  for (int i = 0; i < spawned; i++)
    if ((rc = corio_task_await(tasks[i], NULL)) < 0)
      goto out;
  if (run->client_errors ||
      run->messages_ok != (long)run->conns * SCALE_MESSAGES) {
    rc = corio_fail(-EPROTO, "%d clients failed, %ld messages of %ld",
                    run->client_errors, run->messages_ok,
                    (long)run->conns * SCALE_MESSAGES);
    goto out;
  }
  /* Each handler ends on its client's EOF. */
  (void)corio_server_close(server);
  if ((rc = corio_server_wait_closed(server)) < 0)
    goto out;
  if (run->handler_errors || corio_server_clients(server))
    rc = corio_fail(-EPROTO, "%d handlers failed, %zu left",
                    run->handler_errors, corio_server_clients(server));

out:
  for (int i = 0; i < spawned; i++) {
    if (rc < 0)
      (void)corio_task_cancel(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
  if (server) {
    (void)corio_server_close(server);
    (void)corio_server_abort_clients(server);
    (void)corio_server_wait_closed(server);
    corio_server_unref(server);
  }
  free(tasks);
  free(clients);
  return rc;
}

/* The count that fits the fd limit: two fds per connection. */
static int scale_conns(void) {
  int want = corio_test_under_valgrind() ? SCALE_CONNS_VALGRIND : SCALE_CONNS;
  struct rlimit rl;
  long fit;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return want;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur == RLIM_INFINITY)
    return want;
  fit = ((long)rl.rlim_cur - SCALE_SPARE_FDS) / 2;
  if (fit >= want)
    return want;
  print_message("fd limit %llu: %ld connections, not %d\n",
                (unsigned long long)rl.rlim_cur, fit, want);
  return (int)fit;
}

static void run_scale(const corio_loop_options *loop_options) {
  corio_runner *runner = NULL;
  scale_run run = {0};
  corio_test_usage usage;
  char message[256];
  int fds, rc;

  if (loop_options->backend == CORIO_LOOP_BACKEND_IO_URING &&
      (rc = corio_test_uring_refused()) < 0) {
    print_message("io_uring refused: %s; skipped\n", corio_strerror(rc));
    skip();
  }
  run.conns = scale_conns();
  assert_true(run.conns > 0);
  corio_test_release_pools();
  usage = corio_test_usage_now();
  fds = corio_test_open_fds();

  rc = corio_runner_create_with(&runner, loop_options);
  assert_int_equal(rc, 0);
  corio_event_init(&run.all_open);
  rc = corio_runner_run_ex(runner, scale_main, &run, NULL, message,
                           sizeof message);
  if (rc != 0)
    print_message("run: %s %s\n", corio_strerror(rc), message);
  assert_int_equal(rc, 0);
  assert_int_equal(corio_runner_close(runner), 0);
  assert_int_equal(corio_event_destroy(&run.all_open), 0);
  if (getenv("CORIO_TEST_VERBOSE"))
    print_message("%d connections, %ld messages checked\n", run.conns,
                  run.messages_ok);

  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(usage);
}

static void test_scale_epoll(void **state) {
  static const corio_loop_options epoll_only = {CORIO_LOOP_BACKEND_EPOLL,
                                                CORIO_LOOP_NO_FALLBACK};

  (void)state;
  run_scale(&epoll_only);
}

static void test_scale_uring(void **state) {
  static const corio_loop_options uring_only = {CORIO_LOOP_BACKEND_IO_URING,
                                                CORIO_LOOP_NO_FALLBACK};

  (void)state;
  if (corio_test_under_valgrind()) {
    print_message("io_uring under Valgrind: a waiting io_uring_enter stops "
                  "every other thread; skipped\n");
    skip();
  }
  run_scale(&uring_only);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scale_epoll),
      cmocka_unit_test(test_scale_uring),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
