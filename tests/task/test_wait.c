/* wait and as_completed (include/corio/combine.h): which futures come back
 * done and which pending, in which order, when each call returns, and that
 * neither ever cancels what it waits for. */
#include <math.h>
#include <stdio.h>

#include "corio/combine.h"
#include "task_check.h"
#include "task_test.h"

/* ---- helpers ------------------------------------------------------------- */

/* FOREVER: a deadline that passes after any test has ended. */
#define FOREVER 3600.0

/* A child: waits, then returns rc with value as its result. What decides
 * when it finishes is never how fast the machine is, unless a test says
 * so: it waits for its gate if it has one (until the test opens it), else
 * for `steps` loop iterations, else sleeps `delay` seconds if that is more
 * than 0, else not at all (it finishes in its first step). */
struct job {
  double delay;
  int rc;
  intptr_t value;
  corio_future *gate;
  int steps;
  int sleep_rc; /* what its wait returned */
  int finished; /* got past the wait */
};

static int job_body(void *arg, void **result) {
  struct job *j = arg;

  if (j->gate)
    j->sleep_rc = corio_future_await(j->gate, NULL);
  else if (j->steps > 0)
    for (int i = 0; i < j->steps && j->sleep_rc == 0; i++)
      j->sleep_rc = corio_sleep(0);
  else if (j->delay > 0)
    j->sleep_rc = corio_sleep(j->delay);
  if (j->sleep_rc < 0)
    return j->sleep_rc;
  j->finished = 1;
  *result = CORIO_PTR(j->value);
  return j->rc;
}

static void start_jobs(struct job *j, size_t n, corio_task **t,
                       corio_future **f) {
  for (size_t i = 0; i < n; i++) {
    t[i] = spawn_or_fail(job_body, &j[i]);
    f[i] = corio_task_future(t[i]);
  }
}

/* A gate for jobs: they finish once it is opened (set). */
static corio_future *gate_create(void) {
  corio_future *gate = NULL;

  assert_int_equal(corio_future_create(NULL, &gate), 0);
  return gate;
}

/* Lets every job waiting for the gate go on, and drops the test's hold. */
static void gate_open(corio_future *gate) {
  CHECK_EQ(corio_future_set_result(gate, NULL), 0);
  corio_future_unref(gate);
}

/* Awaits every job: each must finish normally with its own value, neither
 * cancelled nor asked to be. Releases the tasks. */
static void finish_jobs_untouched(struct job *j, size_t n, corio_task **t) {
  for (size_t i = 0; i < n; i++) {
    void *r = NULL;

    CHECK_EQ(corio_task_cancelling(t[i]), 0);
    CHECK_EQ(corio_await(t[i], &r), j[i].rc);
    CHECK_EQ(corio_task_cancelled(t[i]), 0);
    CHECK_EQ(j[i].sleep_rc, 0);
    CHECK_EQ(j[i].finished, 1);
    if (j[i].rc == 0)
      CHECK_EQ(CORIO_INT(r), j[i].value);
    corio_task_unref(t[i]);
  }
}

/* The letters ('A' + index in all) of the futures in set, in set's order. */
static const char *letters(corio_future *const *set, size_t n,
                           corio_future *const *all, size_t n_all, char *buf) {
  size_t k = 0;

  for (size_t i = 0; i < n && k + 1 < 16; i++) {
    char c = '?';
    for (size_t a = 0; a < n_all; a++)
      if (set[i] == all[a])
        c = (char)('A' + a);
    buf[k++] = c;
  }
  buf[k] = 0;
  return buf;
}

/* Nothing in these runs may be reported to the loop's handler. */
static struct reports reports;

static void watch_reports(void) {
  memset(&reports, 0, sizeof reports);
  corio_loop_set_exception_handler(corio_loop_running(), capture_report,
                                   &reports);
}

/* ---- wait: when it returns, and what it returns -------------------------- */

static int wait_first_completed(void *arg, void **result) {
  /* B finishes first; A and C wait for a gate opened after the checks. */
  corio_future *gate = gate_create();
  struct job j[3] = {{.gate = gate, .value = 1},
                     {.delay = 0.01, .value = 2},
                     {.gate = gate, .value = 3}};
  corio_task *t[3];
  corio_future *f[3], *done[3] = {0}, *pending[3] = {0};
  size_t nd = 99, np = 99;
  char buf[16];

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 3, t, f);
  CHECK_EQ(corio_wait(f, 3, CORIO_NO_TIMEOUT, CORIO_FIRST_COMPLETED, done, &nd,
                      pending, &np),
           0);
  CHECK_EQ(nd, 1);
  CHECK_EQ(np, 2);
  CHECK_STR(letters(done, nd, f, 3, buf), "B");
  CHECK_STR(letters(pending, np, f, 3, buf), "AC");
  CHECK_TRUE(corio_task_done(t[1]));
  CHECK_TRUE(!corio_task_done(t[0]) && !corio_task_done(t[2]));
  /* Only counts: done and pending may be NULL. */
  nd = np = 99;
  CHECK_EQ(corio_wait(f, 3, CORIO_NO_TIMEOUT, CORIO_FIRST_COMPLETED, NULL, &nd,
                      NULL, &np),
           0);
  CHECK_EQ(nd, 1);
  CHECK_EQ(np, 2);
  gate_open(gate);
  finish_jobs_untouched(j, 3, t);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_first_completed(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_first_completed, NULL), 0);
  assert_checks_passed();
}

static int wait_all_completed(void *arg, void **result) {
  /* Completion order B, C, A; the done set is in argument order. */
  struct job j[3] = {{.delay = 0.06, .value = 1},
                     {.delay = 0.01, .value = 2},
                     {.delay = 0.03, .rc = -EIO}};
  corio_task *t[3];
  corio_future *f[3], *done[3] = {0}, *pending[3] = {0};
  size_t nd = 99, np = 99;
  double t0 = wall_s();
  char buf[16];

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 3, t, f);
  CHECK_EQ(corio_wait(f, 3, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, done, &nd,
                      pending, &np),
           0);
  CHECK_TRUE(wall_s() - t0 >= 0.055);
  CHECK_EQ(nd, 3);
  CHECK_EQ(np, 0);
  CHECK_STR(letters(done, nd, f, 3, buf), "ABC");
  CHECK_TRUE(corio_task_done(t[0]) && corio_task_done(t[1]) &&
             corio_task_done(t[2]));
  finish_jobs_untouched(j, 3, t);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_all_completed(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_all_completed, NULL), 0);
  assert_checks_passed();
}

static int wait_first_exception(void *arg, void **result) {
  /* A is cancelled first (not an exception), B finishes with a result
   * (not one either), C fails: wait returns there, D still runs. A, B and
   * C start their sleeps in that order, each longer than the one before:
   * their deadlines come in that order however late each one starts. D
   * waits for a gate opened after the checks. */
  corio_future *gate = gate_create();
  struct job j[4] = {{.delay = 0.01, .rc = -ECANCELED},
                     {.delay = 0.03, .value = 2},
                     {.delay = 0.06, .rc = -EIO},
                     {.gate = gate, .value = 4}};
  corio_task *t[4];
  corio_future *f[4], *done[4] = {0}, *pending[4] = {0};
  size_t nd = 99, np = 99;
  char buf[16];

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 4, t, f);
  CHECK_EQ(corio_wait(f, 4, CORIO_NO_TIMEOUT, CORIO_FIRST_EXCEPTION, done, &nd,
                      pending, &np),
           0);
  CHECK_EQ(nd, 3);
  CHECK_EQ(np, 1);
  CHECK_STR(letters(done, nd, f, 4, buf), "ABC");
  CHECK_STR(letters(pending, np, f, 4, buf), "D");
  CHECK_TRUE(corio_task_cancelled(t[0]));
  CHECK_EQ(corio_task_error(t[2]), -EIO);
  CHECK_TRUE(!corio_task_done(t[3]));
  /* D was left alone. */
  gate_open(gate);
  CHECK_EQ(corio_await(t[3], NULL), 0);
  CHECK_EQ(corio_task_cancelling(t[3]), 0);
  CHECK_EQ(j[3].sleep_rc, 0);
  for (size_t i = 0; i < 4; i++)
    corio_task_unref(t[i]);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_first_exception(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_first_exception, NULL), 0);
  assert_checks_passed();
}

static int wait_first_exception_none_fails(void *arg, void **result) {
  /* A cancelled, B and C with results: FIRST_EXCEPTION is ALL_COMPLETED. */
  struct job j[3] = {{.delay = 0.01, .rc = -ECANCELED},
                     {.delay = 0.03, .value = 2},
                     {.delay = 0.06, .value = 3}};
  corio_task *t[3];
  corio_future *f[3], *done[3] = {0}, *pending[3] = {0};
  size_t nd = 99, np = 99;
  double t0 = wall_s();
  char buf[16];

  (void)arg;
  (void)result;
  start_jobs(j, 3, t, f);
  CHECK_EQ(corio_wait(f, 3, CORIO_NO_TIMEOUT, CORIO_FIRST_EXCEPTION, done, &nd,
                      pending, &np),
           0);
  CHECK_TRUE(wall_s() - t0 >= 0.055);
  CHECK_EQ(nd, 3);
  CHECK_EQ(np, 0);
  CHECK_STR(letters(done, nd, f, 3, buf), "ABC");
  CHECK_TRUE(corio_task_cancelled(t[0]));
  CHECK_TRUE(corio_task_done(t[2]));
  for (size_t i = 0; i < 3; i++)
    corio_task_unref(t[i]);
  return 0;
}

static void test_wait_first_exception_without_errors(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_first_exception_none_fails, NULL), 0);
  assert_checks_passed();
}

static int wait_timeout(void *arg, void **result) {
  /* A finishes in its first step, queued before the wait began: before
   * the deadline whenever that passes. The others wait for a gate opened
   * only after the checks. */
  corio_future *gate = gate_create();
  struct job j[3] = {
      {.value = 1}, {.gate = gate, .value = 2}, {.gate = gate, .value = 3}};
  struct job k[2] = {{.gate = gate, .value = 5}, {.gate = gate, .value = 6}};
  corio_task *t[3], *u[2];
  corio_future *f[3], *g[2], *done[3] = {0}, *pending[3] = {0};
  size_t nd = 99, np = 99;
  double t0 = wall_s(), waited;
  char buf[16];

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 3, t, f);
  CHECK_EQ(corio_wait(f, 3, 0.08, CORIO_ALL_COMPLETED, done, &nd, pending, &np),
           0);
  waited = wall_s() - t0;
  CHECK_TRUE(waited >= 0.075);
  CHECK_EQ(nd, 1);
  CHECK_EQ(np, 2);
  CHECK_STR(letters(done, nd, f, 3, buf), "A");
  CHECK_STR(letters(pending, np, f, 3, buf), "BC");
  CHECK_TRUE(!corio_task_done(t[1]) && !corio_task_done(t[2]));

  /* FIRST_COMPLETED with nothing done in time; and a timeout of 0. */
  start_jobs(k, 2, u, g);
  nd = np = 99;
  CHECK_EQ(
      corio_wait(g, 2, 0.02, CORIO_FIRST_COMPLETED, done, &nd, pending, &np),
      0);
  CHECK_EQ(nd, 0);
  CHECK_EQ(np, 2);
  CHECK_STR(letters(pending, np, g, 2, buf), "AB");
  nd = np = 99;
  CHECK_EQ(corio_wait(g, 2, 0, CORIO_ALL_COMPLETED, done, &nd, pending, &np),
           0);
  CHECK_EQ(nd, 0);
  CHECK_EQ(np, 2);

  /* Nothing was cancelled: every task finishes normally afterwards. */
  gate_open(gate);
  finish_jobs_untouched(j, 3, t);
  finish_jobs_untouched(k, 2, u);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_timeout_cancels_nothing(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_timeout, NULL), 0);
  assert_checks_passed();
}

static int wait_already_done(void *arg, void **result) {
  struct job pj = {.delay = 0.15, .value = 7};
  corio_future *r, *e, *x, *p, *done[3] = {0}, *pending[3] = {0};
  corio_task *pt;
  size_t nd = 99, np = 99;
  char buf[16];
  void *v = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  assert_int_equal(corio_future_create(NULL, &r), 0);
  assert_int_equal(corio_future_create(NULL, &e), 0);
  assert_int_equal(corio_future_create(NULL, &x), 0);
  assert_int_equal(corio_future_set_result(r, CORIO_PTR(1)), 0);
  assert_int_equal(corio_future_set_error(e, -EIO, NULL), 0);
  assert_int_equal(corio_future_cancel(x, NULL), 1);
  pt = spawn_or_fail(job_body, &pj);
  p = corio_task_future(pt);

  {
    /* FIRST_COMPLETED returns at once with the done ones. */
    corio_future *fs[3] = {p, r, e};
    CHECK_EQ(corio_wait(fs, 3, CORIO_NO_TIMEOUT, CORIO_FIRST_COMPLETED, done,
                        &nd, pending, &np),
             0);
    CHECK_EQ(nd, 2);
    CHECK_EQ(np, 1);
    CHECK_STR(letters(done, nd, fs, 3, buf), "BC");
    CHECK_STR(letters(pending, np, fs, 3, buf), "A");
    CHECK_TRUE(!corio_task_done(pt));
  }
  {
    /* FIRST_EXCEPTION: a future failed already. */
    corio_future *fs[2] = {p, e};
    nd = np = 99;
    CHECK_EQ(corio_wait(fs, 2, CORIO_NO_TIMEOUT, CORIO_FIRST_EXCEPTION, done,
                        &nd, pending, &np),
             0);
    CHECK_EQ(nd, 1);
    CHECK_EQ(np, 1);
    CHECK_STR(letters(done, nd, fs, 2, buf), "B");
    CHECK_TRUE(!corio_task_done(pt));
  }
  {
    /* ALL_COMPLETED with everything done. */
    corio_future *fs[3] = {x, e, r};
    nd = np = 99;
    CHECK_EQ(corio_wait(fs, 3, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, done, &nd,
                        pending, &np),
             0);
    CHECK_EQ(nd, 3);
    CHECK_EQ(np, 0);
    CHECK_STR(letters(done, nd, fs, 3, buf), "ABC");
  }
  {
    /* A future cancelled already is no exception: FIRST_EXCEPTION waits
     * for the task. */
    corio_future *fs[2] = {x, p};
    nd = np = 99;
    CHECK_EQ(corio_wait(fs, 2, CORIO_NO_TIMEOUT, CORIO_FIRST_EXCEPTION, done,
                        &nd, pending, &np),
             0);
    CHECK_EQ(nd, 2);
    CHECK_EQ(np, 0);
    CHECK_STR(letters(done, nd, fs, 2, buf), "AB");
    CHECK_TRUE(corio_task_done(pt));
  }
  CHECK_EQ(corio_await(pt, &v), 0);
  CHECK_EQ(CORIO_INT(v), 7);
  CHECK_EQ(corio_future_result(e, NULL), -EIO);
  corio_task_unref(pt);
  corio_future_unref(r);
  corio_future_unref(e);
  corio_future_unref(x);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_already_done(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_already_done, NULL), 0);
  assert_checks_passed();
}

/* The waiting task cancelled: -ECANCELED, and nothing else happens. */
struct waiter {
  corio_future **fs;
  size_t n;
  double timeout;
  corio_future *later; /* what it waits for next, set by the test */
  int rc, second_rc;
  size_t second_nd;
};

static int waiter_body(void *arg, void **result) {
  struct waiter *w = arg;

  (void)result;
  w->rc = corio_wait(w->fs, w->n, w->timeout, CORIO_ALL_COMPLETED, NULL, NULL,
                     NULL, NULL);
  if (w->rc != -ECANCELED)
    return w->rc;
  /* Handles it and waits again, from the same frame: a done callback or a
   * timer the cancelled wait left behind would wake this wait instead. */
  corio_task_uncancel(corio_current_task());
  w->second_nd = 99;
  w->second_rc = corio_wait(&w->later, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED,
                            NULL, &w->second_nd, NULL, NULL);
  return 0;
}

static int wait_caller_cancelled(void *arg, void **result) {
  static const double timeouts[2] = {CORIO_NO_TIMEOUT, 0.03};

  (void)arg;
  (void)result;
  watch_reports();
  for (int round = 0; round < 2; round++) {
    struct job j[2] = {{.delay = 0.05, .value = 1},
                       {.delay = 0.07, .value = 2}};
    corio_task *t[2], *w;
    corio_future *f[2];
    struct waiter wt = {.fs = f, .n = 2, .timeout = timeouts[round]};

    start_jobs(j, 2, t, f);
    assert_int_equal(corio_future_create(NULL, &wt.later), 0);
    w = spawn_or_fail(waiter_body, &wt);
    /* One iteration: the children start their sleeps and the waiter its
     * wait, none of which can end in that same iteration. */
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(corio_task_cancel(w, NULL), 1);
    /* Past the children's ends and the old deadline. */
    CHECK_EQ(corio_sleep(0.15), 0);
    CHECK_EQ(wt.rc, -ECANCELED);
    CHECK_TRUE(!corio_task_done(w));
    CHECK_EQ(corio_future_set_result(wt.later, NULL), 0);
    CHECK_EQ(corio_await(w, NULL), 0);
    CHECK_EQ(wt.second_rc, 0);
    CHECK_EQ(wt.second_nd, 1);
    /* The children were left alone. */
    finish_jobs_untouched(j, 2, t);
    corio_task_unref(w);
    corio_future_unref(wt.later);
  }
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_wait_caller_cancelled(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(wait_caller_cancelled, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- errors -------------------------------------------------------------- */

static int wait_misuse(void *arg, void **result) {
  struct job j = {.delay = 0.01};
  corio_future *f[2], *mine, *theirs, *nulls[2] = {NULL, NULL};
  corio_as_completed *it = (corio_as_completed *)&j; /* untouched on error */
  corio_loop *other;
  corio_task *t;
  size_t nd = 99;

  (void)arg;
  (void)result;
  t = spawn_or_fail(job_body, &j);
  f[0] = corio_task_future(t);
  CHECK_EQ(corio_wait(f, 0, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, NULL, &nd,
                      NULL, NULL),
           -EINVAL);
  CHECK_EQ(corio_wait(NULL, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, NULL, &nd,
                      NULL, NULL),
           -EINVAL);
  CHECK_EQ(corio_wait(nulls, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, NULL,
                      &nd, NULL, NULL),
           -EINVAL);
  CHECK_EQ(corio_wait(f, 1, NAN, CORIO_ALL_COMPLETED, NULL, &nd, NULL, NULL),
           -EINVAL);
  CHECK_EQ(corio_wait(f, 1, CORIO_NO_TIMEOUT, (corio_wait_when)7, NULL, &nd,
                      NULL, NULL),
           -EINVAL);
  CHECK_EQ(nd, 99);
  CHECK_EQ(corio_as_completed_start(&it, f, 0, CORIO_NO_TIMEOUT), -EINVAL);
  CHECK_EQ(corio_as_completed_start(&it, NULL, 1, CORIO_NO_TIMEOUT), -EINVAL);
  CHECK_EQ(corio_as_completed_start(NULL, f, 1, CORIO_NO_TIMEOUT), -EINVAL);
  CHECK_EQ(corio_as_completed_start(&it, nulls, 1, CORIO_NO_TIMEOUT), -EINVAL);
  CHECK_EQ(corio_as_completed_start(&it, f, 1, NAN), -EINVAL);
  CHECK_PTR(it, &j);
  CHECK_EQ(corio_as_completed_next(NULL, f), -EINVAL);
  corio_as_completed_free(NULL);

  /* A future of another loop, next to one of this loop. */
  assert_int_equal(corio_loop_create(&other), 0);
  assert_int_equal(corio_future_create(other, &theirs), 0);
  assert_int_equal(corio_future_create(NULL, &mine), 0);
  f[0] = mine;
  f[1] = theirs;
  CHECK_EQ(corio_wait(f, 2, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, NULL, &nd,
                      NULL, NULL),
           CORIO_EWRONGLOOP);
  CHECK_EQ(corio_as_completed_start(&it, f, 2, CORIO_NO_TIMEOUT),
           CORIO_EWRONGLOOP);
  CHECK_PTR(it, &j);
  CHECK_EQ(nd, 99);
  corio_future_unref(theirs);
  corio_future_unref(mine);
  corio_loop_unref(other);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

/* An iterator made in one run of a runner, stepped outside any task. */
static corio_as_completed *kept_it;
static corio_future *kept_f;

static int start_kept(void *arg, void **result) {
  (void)arg;
  (void)result;
  assert_int_equal(corio_future_create(NULL, &kept_f), 0);
  return corio_as_completed_start(&kept_it, &kept_f, 1, CORIO_NO_TIMEOUT);
}

static int finish_kept(void *arg, void **result) {
  corio_future *next = NULL;

  (void)arg;
  (void)result;
  CHECK_EQ(corio_future_set_result(kept_f, NULL), 0);
  CHECK_EQ(corio_as_completed_next(kept_it, &next), 0);
  CHECK_PTR(next, kept_f);
  CHECK_EQ(corio_as_completed_next(kept_it, &next), CORIO_AS_COMPLETED_END);
  corio_as_completed_free(kept_it);
  corio_future_unref(kept_f);
  return 0;
}

static void test_misuse(void **state) {
  corio_future *f, *next = NULL;
  corio_as_completed *it = NULL;
  corio_runner *runner;
  corio_loop *loop;
  size_t nd = 99;
  (void)state;

  assert_int_equal(run_main(wait_misuse, NULL), 0);
  assert_checks_passed();

  /* Outside a task. */
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_wait(&f, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED,
                              NULL, &nd, NULL, NULL),
                   CORIO_ENOTASK);
  assert_int_equal(nd, 99);
  assert_int_equal(corio_as_completed_start(&it, &f, 1, CORIO_NO_TIMEOUT),
                   CORIO_ENOTASK);
  assert_null(it);
  corio_future_unref(f);
  corio_loop_unref(loop);

  assert_int_equal(corio_runner_create(&runner), 0);
  assert_int_equal(corio_runner_run(runner, start_kept, NULL, NULL), 0);
  assert_int_equal(corio_as_completed_next(kept_it, &next), CORIO_ENOTASK);
  assert_null(next);
  assert_int_equal(corio_runner_run(runner, finish_kept, NULL, NULL), 0);
  assert_int_equal(corio_runner_close(runner), 0);
  assert_checks_passed();
}

/* ---- as_completed -------------------------------------------------------- */

static int as_completed_order(void *arg, void **result) {
  /* Spawned A, B, C; they finish B, C, A (after 1, 5 and 10 loop
   * iterations). D and E are done already. */
  struct job j[3] = {{.steps = 10, .value = 1},
                     {.steps = 1, .value = 2},
                     {.steps = 5, .value = 3}};
  corio_task *t[3];
  corio_future *tf[3], *d, *e, *fs[5], *next;
  corio_as_completed *it;
  char order[16] = "", buf[16];
  int rc;

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 3, t, tf);
  assert_int_equal(corio_future_create(NULL, &d), 0);
  assert_int_equal(corio_future_create(NULL, &e), 0);
  assert_int_equal(corio_future_set_result(d, CORIO_PTR(4)), 0);
  assert_int_equal(corio_future_set_result(e, CORIO_PTR(5)), 0);
  /* Argument order: A E B D C. */
  fs[0] = tf[0];
  fs[1] = e;
  fs[2] = tf[1];
  fs[3] = d;
  fs[4] = tf[2];
  CHECK_EQ(corio_as_completed_start(&it, fs, 5, CORIO_NO_TIMEOUT), 0);
  while ((rc = corio_as_completed_next(it, &next)) == 0) {
    size_t k = strlen(order);
    CHECK_TRUE(corio_future_done(next));
    order[k] = letters(&next, 1, fs, 5, buf)[0];
    order[k + 1] = 0;
  }
  CHECK_EQ(rc, CORIO_AS_COMPLETED_END);
  /* Argument letters: A=task A, B=E, C=task B, D=D, E=task C. So done
   * ones first in argument order (B, D), then tasks B, C, A. */
  CHECK_STR(order, "BDCEA");
  CHECK_EQ(corio_as_completed_next(it, &next), CORIO_AS_COMPLETED_END);
  corio_as_completed_free(it);
  finish_jobs_untouched(j, 3, t);
  corio_future_unref(d);
  corio_future_unref(e);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_as_completed_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(as_completed_order, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static int as_completed_timeout(void *arg, void **result) {
  /* A and C (tasks) wait for a gate opened after the checks; B (a plain
   * future) is set right after the iterator starts: its completion is
   * queued before the deadline can pass, whenever that is. */
  corio_future *gate = gate_create(), *b;
  struct job j[2] = {{.gate = gate, .value = 1}, {.gate = gate, .value = 3}};
  corio_task *t[2];
  corio_future *tf[2], *f[3], *next = NULL;
  corio_as_completed *it;
  double t0 = wall_s(), waited;
  void *v = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  start_jobs(j, 2, t, tf);
  assert_int_equal(corio_future_create(NULL, &b), 0);
  f[0] = tf[0];
  f[1] = b;
  f[2] = tf[1];
  CHECK_EQ(corio_as_completed_start(&it, f, 3, 0.06), 0);
  CHECK_EQ(corio_future_set_result(b, CORIO_PTR(2)), 0);
  CHECK_EQ(corio_as_completed_next(it, &next), 0);
  CHECK_PTR(next, f[1]);
  CHECK_TRUE(corio_future_done(next));
  next = NULL;
  CHECK_EQ(corio_as_completed_next(it, &next), -ETIMEDOUT);
  waited = wall_s() - t0;
  CHECK_TRUE(waited >= 0.055);
  CHECK_PTR(next, NULL);
  /* Nothing was cancelled, and the deadline stays passed. */
  CHECK_TRUE(!corio_task_done(t[0]) && !corio_task_done(t[1]));
  CHECK_EQ(corio_task_cancelling(t[0]), 0);
  CHECK_EQ(corio_task_cancelling(t[1]), 0);
  CHECK_EQ(corio_as_completed_next(it, &next), -ETIMEDOUT);
  gate_open(gate);
  finish_jobs_untouched(j, 2, t);
  CHECK_EQ(corio_future_result(b, &v), 0);
  CHECK_EQ(CORIO_INT(v), 2);
  corio_future_unref(b);
  corio_as_completed_free(it);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_as_completed_timeout(void **state) {
  (void)state;
  assert_int_equal(run_main(as_completed_timeout, NULL), 0);
  assert_checks_passed();
}

static int as_completed_free_early(void *arg, void **result) {
  /* A (a plain future) is set right after the first iterator starts: its
   * completion is queued before that iterator's deadline can pass. B and
   * C (tasks) wait for a gate opened once both iterators are freed. */
  corio_future *gate = gate_create(), *a;
  struct job j[2] = {{.gate = gate, .value = 2}, {.gate = gate, .value = 3}};
  corio_task *t[2];
  corio_future *tf[2], *f[3], *next;
  corio_as_completed *it;

  (void)arg;
  (void)result;
  start_jobs(j, 2, t, tf);
  assert_int_equal(corio_future_create(NULL, &a), 0);
  f[0] = a;
  f[1] = tf[0];
  f[2] = tf[1];
  /* One taken, then freed with the others pending and a timer armed. */
  CHECK_EQ(corio_as_completed_start(&it, f, 3, 0.02), 0);
  CHECK_EQ(corio_future_set_result(a, CORIO_PTR(1)), 0);
  CHECK_EQ(corio_as_completed_next(it, &next), 0);
  CHECK_PTR(next, f[0]);
  corio_as_completed_free(it);
  /* Never stepped at all. */
  CHECK_EQ(corio_as_completed_start(&it, f, 3, 0.01), 0);
  corio_as_completed_free(it);
  /* Past both deadlines (set before this sleep, and shorter) and the
   * completions: nothing fires into the freed iterators. */
  gate_open(gate);
  CHECK_EQ(corio_sleep(0.06), 0);
  finish_jobs_untouched(j, 2, t);
  corio_future_unref(a);
  return 0;
}

static void test_as_completed_free_early(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(as_completed_free_early, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

struct iterating {
  corio_as_completed *it;
  int first_rc, second_rc, third_rc;
  corio_future *got;
};

static int iterate_body(void *arg, void **result) {
  struct iterating *s = arg;

  (void)result;
  s->first_rc = corio_as_completed_next(s->it, &s->got);
  if (s->first_rc != -ECANCELED)
    return s->first_rc;
  /* Handles it: the iteration goes on where it was. */
  corio_task_uncancel(corio_current_task());
  s->second_rc = corio_as_completed_next(s->it, &s->got);
  s->third_rc = corio_as_completed_next(s->it, &s->got);
  return 0;
}

static int as_completed_cancelled(void *arg, void **result) {
  /* The job finishes only once the iterating task has been cancelled. */
  corio_future *gate = gate_create();
  struct job j = {.gate = gate, .value = 1};
  struct iterating s = {.got = NULL};
  corio_task *t, *w;
  corio_future *f;

  (void)arg;
  (void)result;
  start_jobs(&j, 1, &t, &f);
  CHECK_EQ(corio_as_completed_start(&s.it, &f, 1, FOREVER), 0);
  w = spawn_or_fail(iterate_body, &s);
  CHECK_EQ(corio_sleep(0), 0); /* w waits in next() now */
  CHECK_EQ(corio_task_cancel(w, NULL), 1);
  gate_open(gate);
  CHECK_EQ(corio_await(w, NULL), 0);
  CHECK_EQ(s.first_rc, -ECANCELED);
  CHECK_EQ(s.second_rc, 0);
  CHECK_PTR(s.got, f);
  CHECK_EQ(s.third_rc, CORIO_AS_COMPLETED_END);
  corio_as_completed_free(s.it);
  corio_task_unref(w);
  finish_jobs_untouched(&j, 1, &t);
  return 0;
}

static void test_as_completed_caller_cancelled(void **state) {
  (void)state;
  assert_int_equal(run_main(as_completed_cancelled, NULL), 0);
  assert_checks_passed();
}

/* ---- allocation failures ------------------------------------------------- */

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

static void on_done(corio_future *f, void *arg) {
  (void)f;
  ++*(int *)arg;
}

#define STEP(call)                                                             \
  do {                                                                         \
    rc = (call);                                                               \
    if (rc < 0)                                                                \
      goto out;                                                                \
  } while (0)

/* wait with a timeout that passes, wait for the rest, then as_completed
 * (with a deadline that passes first, and one that does not). Every future
 * has a done callback already, so that registering on it allocates. Any
 * unexpected outcome is an error, so that a failure cannot go unnoticed. */
static int walked(void *arg, void **result) {
  /* Static: after a failure the body returns with children pending, which
   * may still run a step before corio_run cancels them. */
  static int callbacks;
  static struct job j[3];
  static corio_future *gate;
  corio_task *t[3] = {NULL, NULL, NULL};
  corio_future *f[3], *done[3], *pending[3], *next;
  corio_as_completed *it = NULL;
  size_t nd = 0, np = 0, seen = 0;
  int rc = 0;

  (void)arg;
  (void)result;
  gate = NULL;
  j[0] = (struct job){.delay = 0.001, .value = 1};
  j[1] = (struct job){.delay = 0.002, .value = 2};
  j[2] = (struct job){.delay = 0.03, .value = 3};
  corio_loop_set_exception_handler(corio_loop_running(), quiet, NULL);
  for (size_t i = 0; i < 3; i++) {
    STEP(corio_spawn(&t[i], job_body, &j[i]));
    f[i] = corio_task_future(t[i]);
    STEP(corio_future_add_done_callback(f[i], on_done, &callbacks));
  }
  STEP(corio_wait(f, 3, 0.015, CORIO_ALL_COMPLETED, done, &nd, pending, &np));
  STEP(corio_wait(f, 3, CORIO_NO_TIMEOUT, CORIO_FIRST_EXCEPTION, done, &nd,
                  pending, &np));
  if (nd != 3)
    STEP(-EPROTO);
  STEP(corio_as_completed_start(&it, f, 3, 1.0));
  while ((rc = corio_as_completed_next(it, &next)) == 0)
    seen++;
  corio_as_completed_free(it);
  it = NULL;
  if (rc != CORIO_AS_COMPLETED_END || seen != 3)
    STEP(rc < 0 ? rc : -EPROTO);
  for (size_t i = 0; i < 3; i++)
    STEP(corio_await(t[i], NULL));
  /* A deadline that passes before the last child, which waits for a gate
   * opened only after that. */
  STEP(corio_future_create(NULL, &gate));
  j[2] = (struct job){.gate = gate, .value = 3};
  corio_task_unref(t[2]);
  t[2] = NULL;
  STEP(corio_spawn(&t[2], job_body, &j[2]));
  f[2] = corio_task_future(t[2]);
  STEP(corio_future_add_done_callback(f[2], on_done, &callbacks));
  STEP(corio_as_completed_start(&it, f, 3, 0.01));
  seen = 0;
  while ((rc = corio_as_completed_next(it, &next)) == 0)
    seen++;
  if (rc != -ETIMEDOUT || seen != 2)
    STEP(rc < 0 && rc != -ETIMEDOUT ? rc : -EPROTO);
  STEP(corio_future_set_result(gate, NULL));
  STEP(corio_await(t[2], NULL));
  rc = 0;
out:
  corio_as_completed_free(it);
  /* The last child reads its gate in its first step: one that has not
   * run yet must not run at all once the gate is gone. */
  if (gate && t[2] && !corio_task_done(t[2]))
    (void)corio_task_cancel(t[2], NULL);
  corio_future_unref(gate);
  for (size_t i = 0; i < 3; i++)
    corio_task_unref(t[i]);
  return rc;
}

static void test_fault_walk(void **state) {
  long points;
  (void)state;

  assert_int_equal(run_main(walked, NULL), 0);
  points = walk_run(CORIO__FAULT_ALLOC, walked, corio_test_negative);
  /* Runner, loop, tasks, timers, callback arrays, iterators... */
  assert_true(points >= 10);
  assert_int_equal(run_main(walked, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_wait_first_completed, reset_checks),
      cmocka_unit_test_setup(test_wait_all_completed, reset_checks),
      cmocka_unit_test_setup(test_wait_first_exception, reset_checks),
      cmocka_unit_test_setup(test_wait_first_exception_without_errors,
                             reset_checks),
      cmocka_unit_test_setup(test_wait_timeout_cancels_nothing, reset_checks),
      cmocka_unit_test_setup(test_wait_already_done, reset_checks),
      cmocka_unit_test_setup(test_wait_caller_cancelled, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
      cmocka_unit_test_setup(test_as_completed_order, reset_checks),
      cmocka_unit_test_setup(test_as_completed_timeout, reset_checks),
      cmocka_unit_test_setup(test_as_completed_free_early, reset_checks),
      cmocka_unit_test_setup(test_as_completed_caller_cancelled, reset_checks),
      cmocka_unit_test_setup(test_fault_walk, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
