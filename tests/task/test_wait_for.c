/* wait_for and shield (DESIGN.md §4 rule 5). */
#include "corio/combine.h"
#include "task_test.h"

/* FOREVER: longer than any test runs, so that whatever must happen first
 * (a timeout, a cancellation) does, however slow the machine. */
#define FOREVER 3600.0

struct inner {
  double delay;
  int swallow; /* handle the cancellation and finish with a result */
  int cancelled, finished;
  corio_future *gate; /* if set: awaited instead of sleeping */
};

static int inner_body(void *arg, void **result) {
  struct inner *in = arg;
  int rc =
      in->gate ? corio_future_await(in->gate, NULL) : corio_sleep(in->delay);

  if (rc == -ECANCELED) {
    in->cancelled = 1;
    if (!in->swallow)
      return rc;
    /* Clean-up that takes a while, then a result all the same. */
    (void)corio_sleep(0.01);
  }
  in->finished = 1;
  *result = CORIO_PTR(7);
  return 0;
}

static int timeouts(void *arg, void **result) {
  struct inner slow = {FOREVER, 0, 0, 0, NULL}, quick = {0.0, 0, 0, 0, NULL};
  corio_task *t;
  void *r = NULL;

  (void)arg;
  (void)result;
  /* Times out: the inner task is cancelled and has finished by then (it
   * would sleep for an hour: the test finishing shows it was not waited
   * for). */
  t = spawn_or_fail(inner_body, &slow);
  assert_int_equal(corio_wait_for(corio_task_future(t), 0.02, &r), -ETIMEDOUT);
  assert_true(corio_task_done(t));
  assert_true(corio_task_cancelled(t));
  assert_true(slow.cancelled);
  corio_task_unref(t);
  /* In time: the result (a deadline that cannot pass first). */
  t = spawn_or_fail(inner_body, &quick);
  assert_int_equal(corio_wait_for(corio_task_future(t), FOREVER, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  corio_task_unref(t);
  /* No timeout. */
  quick.finished = 0;
  t = spawn_or_fail(inner_body, &quick);
  assert_int_equal(corio_wait_for(corio_task_future(t), CORIO_NO_TIMEOUT, &r),
                   0);
  assert_true(quick.finished);
  corio_task_unref(t);
  /* Timeout 0: done already gives the result, else cancelled at once. */
  assert_int_equal(
      corio_wait_for(
          corio_task_future(
              t = spawn_or_fail(inner_body,
                                &(struct inner){FOREVER, 0, 0, 0, NULL})),
          0, &r),
      -ETIMEDOUT);
  assert_true(corio_task_cancelled(t));
  corio_task_unref(t);
  t = spawn_or_fail(inner_body, &quick);
  assert_int_equal(corio_await(t, NULL), 0);
  assert_int_equal(corio_wait_for(corio_task_future(t), 0, &r), 0);
  corio_task_unref(t);
  return 0;
}

static void test_timeout_cancels_and_waits(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(timeouts, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* An inner task that swallows the cancellation and finishes: its result
 * comes back (asyncio 3.12 does the same). */
static int swallowed(void *arg, void **result) {
  struct inner stubborn = {FOREVER, 1, 0, 0, NULL};
  corio_task *t;
  void *r = NULL;

  (void)arg;
  (void)result;
  t = spawn_or_fail(inner_body, &stubborn);
  assert_int_equal(corio_wait_for(corio_task_future(t), 0.01, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  assert_true(stubborn.cancelled && stubborn.finished);
  corio_task_unref(t);
  return 0;
}

static void test_inner_swallows_cancellation(void **state) {
  (void)state;
  assert_int_equal(run_main(swallowed, NULL), 0);
}

/* The waiter itself cancelled: the inner task is cancelled and waited for,
 * then the waiter gets -ECANCELED. */
struct waiter {
  struct inner in;
  int rc;
};

static int wait_for_inner(void *arg, void **result) {
  struct waiter *w = arg;
  corio_task *t = spawn_or_fail(inner_body, &w->in);

  (void)result;
  w->rc = corio_wait_for(corio_task_future(t), FOREVER, NULL);
  assert_true(corio_task_done(t));
  corio_task_unref(t);
  return w->rc;
}

static int cancel_waiter(void *arg, void **result) {
  struct waiter w = {{FOREVER, 0, 0, 0, NULL}, 1};
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(wait_for_inner, &w);
  assert_int_equal(corio_sleep(0.01), 0);
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(w.rc, -ECANCELED);
  assert_true(w.in.cancelled);
  corio_task_unref(t);
  return 0;
}

static void test_waiter_cancelled(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_waiter, NULL), 0);
}

static int wait_for_misuse(void *arg, void **result) {
  corio_future *f;

  (void)arg;
  (void)result;
  assert_int_equal(corio_wait_for(NULL, 1, NULL), -EINVAL);
  assert_int_equal(corio_future_create(NULL, &f), 0);
  assert_int_equal(corio_wait_for(f, 0.0 / 0.0, NULL), -EINVAL);
  /* A plain future that times out is cancelled. */
  assert_int_equal(corio_wait_for(f, 0.005, NULL), -ETIMEDOUT);
  assert_true(corio_future_cancelled(f));
  corio_future_unref(f);
  assert_int_equal(
      corio_wait_for(corio_task_future(corio_current_task()), 1, NULL),
      -EDEADLK);
  return 0;
}

static void test_misuse(void **state) {
  corio_loop *loop;
  corio_future *f;
  (void)state;

  assert_int_equal(run_main(wait_for_misuse, NULL), 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_wait_for(f, 1, NULL), CORIO_ENOTASK);
  corio_future_unref(f);
  corio_loop_unref(loop);
}

/* ---- shield -------------------------------------------------------------- */

struct shielded {
  struct inner in;
  corio_future *outer;
  int rc;
};

static int await_shielded(void *arg, void **result) {
  struct shielded *s = arg;

  (void)result;
  s->rc = corio_future_await(s->outer, NULL);
  return s->rc;
}

static int shield_outer_cancel(void *arg, void **result) {
  struct shielded s = {{0.0, 0, 0, 0, NULL}, NULL, 1};
  corio_task *inner, *waiter;
  void *r = NULL;

  (void)arg;
  (void)result;
  /* The inner task works until the test lets it finish. */
  assert_int_equal(corio_future_create(NULL, &s.in.gate), 0);
  inner = spawn_or_fail(inner_body, &s.in);
  assert_int_equal(corio_shield(corio_task_future(inner), &s.outer), 0);
  waiter = spawn_or_fail(await_shielded, &s);
  assert_int_equal(corio_sleep(0), 0);
  /* Cancelling the waiter cancels the outer future it awaits (asyncio's
   * rule); the inner runs on. */
  assert_int_equal(corio_task_cancel(waiter, NULL), 1);
  assert_true(corio_future_cancelled(s.outer));
  assert_int_equal(corio_future_cancel(s.outer, NULL), 0);
  assert_int_equal(corio_await(waiter, NULL), -ECANCELED);
  assert_false(corio_task_done(inner));
  assert_false(corio_future_cancelled(s.in.gate));
  assert_int_equal(corio_future_set_result(s.in.gate, NULL), 0);
  assert_int_equal(corio_await(inner, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  assert_true(s.in.finished && !s.in.cancelled);
  corio_future_unref(s.in.gate);
  corio_future_unref(s.outer);
  corio_task_unref(waiter);
  corio_task_unref(inner);
  return 0;
}

static void test_shield_keeps_inner_running(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shield_outer_cancel, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int shield_inner_cancel(void *arg, void **result) {
  struct shielded s = {{FOREVER, 0, 0, 0, NULL}, NULL, 1};
  corio_task *inner, *waiter;
  corio_future *done_outer;
  void *r = NULL;

  (void)arg;
  (void)result;
  inner = spawn_or_fail(inner_body, &s.in);
  assert_int_equal(corio_shield(corio_task_future(inner), &s.outer), 0);
  waiter = spawn_or_fail(await_shielded, &s);
  assert_int_equal(corio_sleep(0.005), 0);
  /* Cancelling the inner one directly: the outer ends cancelled too. */
  assert_int_equal(corio_task_cancel(inner, NULL), 1);
  assert_int_equal(corio_await(waiter, NULL), -ECANCELED);
  assert_true(corio_future_cancelled(s.outer));
  corio_future_unref(s.outer);
  corio_task_unref(waiter);
  /* Shielding a done task: the outer has its outcome already. */
  assert_int_equal(corio_shield(corio_task_future(inner), &done_outer), 0);
  assert_true(corio_future_cancelled(done_outer));
  corio_future_unref(done_outer);
  corio_task_unref(inner);
  inner = spawn_or_fail(inner_body, &(struct inner){0.0, 0, 0, 0, NULL});
  assert_int_equal(corio_await(inner, NULL), 0);
  assert_int_equal(corio_shield(corio_task_future(inner), &done_outer), 0);
  assert_int_equal(corio_future_result(done_outer, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  corio_future_unref(done_outer);
  corio_task_unref(inner);
  assert_int_equal(corio_shield(NULL, &done_outer), -EINVAL);
  return 0;
}

static void test_shield_inner_cancel_propagates(void **state) {
  (void)state;
  assert_int_equal(run_main(shield_inner_cancel, NULL), 0);
}

/* The inner task's error is read through the shield: no "never
 * retrieved" report for it, and no message invented. */
static int failing_inner(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -EPIPE;
}

static int shield_error(void *arg, void **result) {
  struct reports *rep = arg;
  corio_future *outer;
  corio_task *t;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), capture_report, rep);
  t = spawn_or_fail(failing_inner, NULL);
  assert_int_equal(corio_shield(corio_task_future(t), &outer), 0);
  assert_int_equal(corio_future_await(outer, NULL), -EPIPE);
  assert_null(corio_future_message(outer));
  corio_future_unref(outer);
  corio_task_unref(t);
  return 0;
}

static void test_shield_passes_error_on(void **state) {
  struct reports rep = {0};
  (void)state;

  assert_int_equal(run_main(shield_error, &rep), 0);
  assert_int_equal(rep.count, 0);
}

/* Allocation failures in wait_for, shield and a timeout scope: a clean
 * error each time, nothing left behind. */
static int bounded_life(void *arg, void **result) {
  /* Static: after an injected failure the tasks may outlive this frame. */
  static struct inner quick, slow;
  corio_future *outer = NULL;
  corio_task *a = NULL, *b = NULL;
  corio_timeout scope;
  int rc;

  (void)arg;
  (void)result;
  quick = (struct inner){0.0, 0, 0, 0, NULL};
  slow = (struct inner){FOREVER, 0, 0, 0, NULL};
  if ((rc = corio_spawn(&a, inner_body, &quick)) < 0)
    return rc;
  if ((rc = corio_spawn(&b, inner_body, &slow)) < 0)
    goto out;
  if ((rc = corio_shield(corio_task_future(a), &outer)) < 0)
    goto out;
  if ((rc = corio_wait_for(outer, FOREVER, NULL)) < 0)
    goto out;
  rc = corio_wait_for(corio_task_future(b), 0.002, NULL);
  if (rc != -ETIMEDOUT)
    goto out;
  if ((rc = corio_timeout_enter(&scope, 0.002)) < 0)
    goto out;
  rc = corio_timeout_exit(&scope, corio_sleep(FOREVER));
  rc = rc == -ETIMEDOUT ? 0 : (rc < 0 ? rc : -EPROTO);
out:
  corio_future_unref(outer);
  if (b && !corio_task_done(b))
    (void)corio_task_cancel(b, NULL);
  corio_task_unref(a);
  corio_task_unref(b);
  return rc;
}

static void test_fault_walk(void **state) {
  (void)state;
  assert_true(walk_run(CORIO__FAULT_ALLOC, bounded_life,
                       corio_test_negative_or_tolerated) > 5);
  assert_int_equal(run_main(bounded_life, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timeout_cancels_and_waits),
      cmocka_unit_test(test_inner_swallows_cancellation),
      cmocka_unit_test(test_waiter_cancelled),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_shield_keeps_inner_running),
      cmocka_unit_test(test_shield_inner_cancel_propagates),
      cmocka_unit_test(test_shield_passes_error_on),
      cmocka_unit_test(test_fault_walk),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
