/* libcurl's easy API, unmodified, in corio tasks (issue 16's proof):
 * each task calls the blocking curl_easy_perform, and with the hooks on
 * the calls that would block (libcurl's poll on its socket) suspend the
 * task instead, so one thread runs a thousand transfers at once.
 *
 * The peer is http_server.c on its own thread and loop, on a free port of
 * 127.0.0.1, answering each request after a delay. Cases:
 * - 1,000 hooked tasks against a 100 ms delay: every transfer succeeds
 *   with the whole body, the server saw more than one request waiting at
 *   once, and the total is far below the 100 s serial would take (< 20 s,
 *   printed).
 * - The contrast, 5 tasks: opted out with corio_hook_task_set, and with
 *   the hooks disabled. Each transfer then blocks the thread: the server
 *   never sees two requests at once, and the total is at least 5 delays.
 * - A task cancelled while blocked inside curl_easy_perform (the server
 *   still waiting): curl returns an error at once (its poll failed with
 *   ECANCELED; libcurl 7.88 reports that as CURLE_BAD_FUNCTION_ARGUMENT),
 *   the task's next corio call gives -ECANCELED, and no fd is left open.
 * - The same through a timeout scope: -ETIMEDOUT at the scope's exit.
 * Every case also checks that no fd is left open and corio's allocations
 * are all returned (the server's included: it stops after each case).
 *
 * A thousand transfers need about 4,000 fds (the client's socket and
 * the socketpair of the multi handle inside each easy handle, and the
 * server's end): the soft limit is raised to the hard one, and the case
 * skips, saying so, where that is too low. A server that cannot start
 * skips its case, saying why. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "../task/task_check.h"
#include "corio/combine.h"
#include "corio/hook.h"
#include "corio/task.h"
#include "http_server.h"

#define MANY 1000
#define FEW 5
#define DELAY 0.1
#define BODY ((size_t)16 * 1024)
/* Far below MANY * DELAY (100 s), far above one delay: only overlapping
 * transfers get under it, and a loaded machine does not get over it.
 * Under Valgrind (about 4 s here, threads taking turns) the bound is
 * looser, still below serial. */
#define MANY_BOUND 20.0
#define MANY_BOUND_VALGRIND 60.0
/* fds one concurrent transfer holds: the client's socket, the wake-up
 * socketpair of the multi handle curl_easy_perform makes, the server's
 * end. */
#define FDS_PER_TRANSFER 4
/* The server's delay in the cancellation cases: a transfer that was not
 * interrupted would come back with the whole answer, and fail the case. */
#define LONG_DELAY 30.0

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Starts a server or skips the case, saying why. */
#define START_SERVER(server, delay_s, body)                                    \
  do {                                                                         \
    http_server_options options_ = {(delay_s), (body)};                        \
    const char *why_ = NULL;                                                   \
    int rc_ = http_server_start(&options_, &(server), &why_);                  \
    if (rc_ < 0) {                                                             \
      print_message("the HTTP server cannot start (%s: %s); skipped\n",        \
                    why_ ? why_ : "setup", corio_strerror(rc_));               \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* ---- one transfer -------------------------------------------------------- */

typedef struct transfer {
  int port;
  int opt_out;     /* the task opts out of the hooks first */
  double deadline; /* > 0: in a timeout scope of that many seconds */
  int hook_active; /* corio_hook_active() just before the perform */
  CURLcode code;
  long status;
  size_t bytes;
  int after; /* the next corio call's result (corio_sleep(0)) */
} transfer;

static size_t count_body(char *data, size_t size, size_t n, void *arg) {
  (void)data;
  *(size_t *)arg += size * n;
  return size * n;
}

/* What a program that knows nothing of corio does. */
static void fetch(transfer *t) {
  char url[64];
  CURL *curl = curl_easy_init();

  t->code = CURLE_FAILED_INIT;
  if (!curl)
    return;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", t->port);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  /* Never through a proxy named by the environment. */
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t->bytes);
  /* A hook that blocks the thread fails the case instead of hanging it. */
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 100L);
  t->hook_active = corio_hook_active();
  t->code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t->status);
  curl_easy_cleanup(curl);
}

static int transfer_task(void *arg, void **result) {
  transfer *t = arg;
  corio_timeout scope;
  int rc;

  (void)result;
  if (t->opt_out)
    CHECK_EQ(corio_hook_task_set(corio_current_task(), 0), 0);
  if (t->deadline > 0 && (rc = corio_timeout_enter(&scope, t->deadline)) < 0)
    return rc;
  fetch(t);
  /* A cancellation that interrupted curl is still pending: here it is. */
  t->after = corio_sleep(0);
  if (t->deadline > 0)
    return corio_timeout_exit(&scope, t->after);
  return t->after;
}

/* ---- a batch of concurrent transfers ------------------------------------- */

typedef struct batch {
  transfer *transfers;
  size_t n;
  double elapsed; /* from the first spawn until every task is done */
} batch;

static int batch_main(void *arg, void **result) {
  batch *b = arg;
  corio_task **tasks = calloc(b->n, sizeof *tasks);
  size_t spawned = 0;
  double start = now_s();
  int rc = 0;

  (void)result;
  if (!tasks)
    return -ENOMEM;
  while (spawned < b->n && (rc = corio_spawn(&tasks[spawned], transfer_task,
                                             &b->transfers[spawned])) == 0)
    spawned++;
  CHECK_EQ(rc, 0);
  for (size_t i = 0; i < spawned; i++) {
    CHECK_EQ(corio_task_await(tasks[i], NULL), 0);
    corio_task_unref(tasks[i]);
  }
  b->elapsed = now_s() - start;
  free(tasks);
  return 0;
}

/* n transfers from n tasks against the server; returns the seconds. */
static double run_batch(http_server *server, size_t n, int opt_out,
                        int hooked) {
  batch b = {calloc(n, sizeof(transfer)), n, 0};

  assert_non_null(b.transfers);
  for (size_t i = 0; i < n; i++) {
    b.transfers[i].port = http_server_port(server);
    b.transfers[i].opt_out = opt_out;
  }
  assert_int_equal(corio_run(batch_main, &b, NULL), 0);
  assert_checks_passed();
  for (size_t i = 0; i < n; i++) {
    transfer *t = &b.transfers[i];

    if (t->code != CURLE_OK)
      fail_msg("transfer %zu: %s", i, curl_easy_strerror(t->code));
    assert_int_equal(t->status, 200);
    assert_int_equal(t->bytes, BODY);
    assert_int_equal(t->hook_active, hooked);
    assert_int_equal(t->after, 0);
  }
  free(b.transfers);
  assert_int_equal(http_server_requests_answered(server), (long)n);
  return b.elapsed;
}

/* ---- cases --------------------------------------------------------------- */

static void many_hooked_transfers_overlap(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  struct rlimit limit;
  http_server *server;
  double elapsed;

  (void)state;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < (rlim_t)MANY * FDS_PER_TRANSFER + 64) {
    print_message("%d transfers need about %d fds; the limit is %llu "
                  "(ulimit -n); skipped\n",
                  MANY, MANY * FDS_PER_TRANSFER,
                  (unsigned long long)limit.rlim_cur);
    skip();
  }
  START_SERVER(server, DELAY, BODY);
  elapsed = run_batch(server, MANY, 0, 1);
  print_message("%d hooked transfers, %.0f ms each at the server: %.3f s "
                "(serial: at least %.0f s); at most %ld waiting at once\n",
                MANY, DELAY * 1e3, elapsed, MANY * DELAY,
                http_server_max_waiting(server));
  /* Serial transfers never have two requests waiting at once. */
  assert_true(http_server_max_waiting(server) > 1);
  assert_true(elapsed <
              (corio_test_under_valgrind() ? MANY_BOUND_VALGRIND : MANY_BOUND));
  assert_int_equal(http_server_stop(server), 0);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* One transfer at a time: each blocks the thread for a whole delay. */
static void check_serial(http_server *server, double elapsed, const char *how) {
  print_message("%d transfers %s: %.3f s (at least %.1f s)\n", FEW, how,
                elapsed, FEW * DELAY);
  assert_int_equal(http_server_max_waiting(server), 1);
  assert_true(elapsed >= FEW * DELAY);
}

static void opted_out_tasks_block(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  http_server *server;

  (void)state;
  START_SERVER(server, DELAY, BODY);
  check_serial(server, run_batch(server, FEW, 1, 0), "from opted-out tasks");
  assert_int_equal(http_server_stop(server), 0);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

static void disabled_hooks_block(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  http_server *server;

  (void)state;
  START_SERVER(server, DELAY, BODY);
  assert_int_equal(corio_hook_disable(), 0);
  assert_int_equal(corio_hook_enabled(), 0);
  check_serial(server, run_batch(server, FEW, 0, 0), "with hooks disabled");
  assert_int_equal(http_server_stop(server), 0);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* ---- cancellation -------------------------------------------------------- */

typedef struct interrupted {
  http_server *server;
  transfer t;
  int task_rc;    /* what awaiting the transfer's task gave */
  int cancelled;  /* the task ended cancelled */
  int cancel_now; /* cancel it (0: its timeout scope ends it) */
} interrupted;

/* Until the server has the request: the task is then blocked inside
 * curl_easy_perform, waiting for the answer. */
static int wait_for_request(http_server *server) {
  double give_up = now_s() + 60;
  int rc;

  while (http_server_requests_received(server) < 1) {
    if (now_s() > give_up)
      return -ETIMEDOUT;
    if ((rc = corio_sleep(0.001)) < 0)
      return rc;
  }
  return 0;
}

static int interrupted_main(void *arg, void **result) {
  interrupted *x = arg;
  corio_task *task;
  int rc;

  (void)result;
  if ((rc = corio_spawn(&task, transfer_task, &x->t)) < 0)
    return rc;
  CHECK_EQ(wait_for_request(x->server), 0);
  if (x->cancel_now)
    CHECK_EQ(corio_task_cancel(task, "enough"), 1);
  x->task_rc = corio_task_await(task, NULL);
  x->cancelled = corio_task_cancelled(task);
  if (x->cancel_now && x->cancelled)
    CHECK_STR(corio_task_cancel_message(task), "enough");
  corio_task_unref(task);
  return 0;
}

static void run_interrupted(double deadline, int want_rc) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  interrupted x = {0};
  double start;

  START_SERVER(x.server, LONG_DELAY, BODY);
  x.t.port = http_server_port(x.server);
  x.t.deadline = deadline;
  x.cancel_now = deadline <= 0;
  start = now_s();
  assert_int_equal(corio_run(interrupted_main, &x, NULL), 0);
  assert_checks_passed();
  print_message("curl_easy_perform interrupted after %.3f s: %s\n",
                now_s() - start, curl_easy_strerror(x.t.code));
  assert_int_not_equal(x.t.code, CURLE_OK);
  assert_int_equal(x.t.hook_active, 1);
  assert_int_equal(x.t.bytes, 0);
  assert_int_equal(x.t.after, -ECANCELED);
  assert_int_equal(x.task_rc, want_rc);
  assert_int_equal(x.cancelled, want_rc == -ECANCELED);
  assert_int_equal(http_server_requests_answered(x.server), 0);
  assert_int_equal(http_server_stop(x.server), 0);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

static void cancel_inside_perform(void **state) {
  (void)state;
  run_interrupted(0, -ECANCELED);
}

static void timeout_scope_inside_perform(void **state) {
  (void)state;
  run_interrupted(0.2, -ETIMEDOUT);
}

/* ---- main ---------------------------------------------------------------- */

/* Every case starts with the hooks on (a case that turned them off and
 * failed does not leave them off for the next). */
static int hooks_on(void **state) {
  int rc = corio_hook_enable();

  if (rc < 0) {
    print_error("corio_hook_enable: %s\n", corio_strerror(rc));
    return -1;
  }
  return reset_checks(state);
}

/* As many fds as the hard limit allows, for the thousand transfers. */
static void raise_fd_limit(void) {
  struct rlimit limit;

  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(many_hooked_transfers_overlap, hooks_on),
      cmocka_unit_test_setup(opted_out_tasks_block, hooks_on),
      cmocka_unit_test_setup(disabled_hooks_block, hooks_on),
      cmocka_unit_test_setup(cancel_inside_perform, hooks_on),
      cmocka_unit_test_setup(timeout_scope_inside_perform, hooks_on),
  };
  int rc;

  raise_fd_limit();
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "curl_global_init failed\n");
    return 1;
  }
  /* Without the hook library linked in, nothing here can work. */
  rc = corio_hook_enable();
  if (rc < 0) {
    fprintf(stderr, "corio_hook_enable: %s\n", corio_strerror(rc));
    curl_global_cleanup();
    return 1;
  }
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
