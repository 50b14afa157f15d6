/* gather (DESIGN.md §4 rule 6): results in argument order, the first error
 * at once while the others run on, return_exceptions, cancellation of the
 * gather or of its awaiter, nested gathers. */
#include "corio/combine.h"
#include "task_test.h"

/* FOREVER: longer than any test runs; a child sleeping that long is still
 * running whenever the test looks, however slow the machine. */
#define FOREVER 3600.0

struct child {
  double delay;
  int rc;         /* what the body returns */
  intptr_t value; /* its result */
  int finished;   /* the body ran to its end */
  int cancelled;  /* its sleep returned -ECANCELED */
  int steps;      /* if not 0: loop iterations to wait instead of delay */
};

static int child_body(void *arg, void **result) {
  struct child *c = arg;
  int rc = 0;

  if (c->steps > 0)
    for (int i = 0; i < c->steps && rc == 0; i++)
      rc = corio_sleep(0);
  else
    rc = corio_sleep(c->delay);
  if (rc == -ECANCELED) {
    c->cancelled = 1;
    return rc;
  }
  c->finished = 1;
  *result = CORIO_PTR(c->value);
  return c->rc;
}

static int in_order(void *arg, void **result) {
  struct child c[3] = {
      {0.02, 0, 10, 0, 0, 0}, {0.0, 0, 20, 0, 0, 0}, {0.01, 0, 30, 0, 0, 0}};
  corio_task *t = spawn_or_fail(child_body, &c[0]);
  corio_future *f;
  corio_awaitable items[3];
  corio_outcome out[3];

  (void)arg;
  (void)result;
  assert_int_equal(corio_future_create(NULL, &f), 0);
  assert_int_equal(corio_future_set_result(f, CORIO_PTR(30)), 0);
  /* A task, a function started as a task, a future. */
  items[0] = CORIO_AWAIT_TASK(t);
  items[1] = CORIO_AWAIT_FN(child_body, &c[1]);
  items[2] = CORIO_AWAIT_FUTURE(f);
  assert_int_equal(corio_gather(items, 3, out, 0), 0);
  assert_int_equal(out[0].error, 0);
  assert_int_equal(CORIO_INT(out[0].result), 10);
  assert_int_equal(CORIO_INT(out[1].result), 20);
  assert_int_equal(CORIO_INT(out[2].result), 30);
  assert_true(c[1].finished);
  corio_task_unref(t);
  corio_future_unref(f);
  return 0;
}

static void test_results_in_argument_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(in_order, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int first_error(void *arg, void **result) {
  /* The second fails after one iteration; the others take 100. */
  struct child c[3] = {{.value = 1, .steps = 100},
                       {.rc = -EIO, .value = 2},
                       {.value = 3, .steps = 100}};
  corio_task *t[3];
  corio_awaitable items[3];
  corio_outcome out[3];

  (void)arg;
  (void)result;
  for (int i = 0; i < 3; i++) {
    t[i] = spawn_or_fail(child_body, &c[i]);
    items[i] = CORIO_AWAIT_TASK(t[i]);
  }
  /* Returned at once, the others still running. */
  assert_int_equal(corio_gather(items, 3, out, 0), -EIO);
  assert_int_equal(out[1].error, -EIO);
  assert_int_equal(out[0].error, CORIO_EINVALSTATE);
  assert_false(corio_task_done(t[0]));
  assert_false(corio_task_done(t[2]));
  for (int i = 0; i < 3; i++) {
    (void)corio_await(t[i], NULL);
    corio_task_unref(t[i]);
  }
  assert_true(c[0].finished && c[2].finished);
  return 0;
}

static void test_first_error_others_keep_running(void **state) {
  (void)state;
  assert_int_equal(run_main(first_error, NULL), 0);
}

static int return_exceptions(void *arg, void **result) {
  struct child c[3] = {{0.0, 0, 1, 0, 0, 0},
                       {0.0, -EPROTO, 2, 0, 0, 0},
                       {FOREVER, 0, 3, 0, 0, 0}};
  corio_task *t[3];
  corio_awaitable items[3];
  corio_outcome out[3];

  (void)arg;
  (void)result;
  for (int i = 0; i < 3; i++) {
    t[i] = spawn_or_fail(child_body, &c[i]);
    items[i] = CORIO_AWAIT_TASK(t[i]);
  }
  /* The third is cancelled on its own: a cancellation error of its own,
   * the gather goes on. */
  assert_int_equal(corio_sleep(0.005), 0);
  assert_int_equal(corio_task_cancel(t[2], NULL), 1);
  assert_int_equal(corio_gather(items, 3, out, CORIO_GATHER_RETURN_EXCEPTIONS),
                   0);
  assert_int_equal(out[0].error, 0);
  assert_int_equal(CORIO_INT(out[0].result), 1);
  assert_int_equal(out[1].error, -EPROTO);
  assert_int_equal(out[2].error, -ECANCELED);
  for (int i = 0; i < 3; i++)
    corio_task_unref(t[i]);
  return 0;
}

static void test_return_exceptions_reports_each_child(void **state) {
  (void)state;
  assert_int_equal(run_main(return_exceptions, NULL), 0);
}

/* A child cancelled on its own, without return_exceptions: the gather's
 * error is -ECANCELED, and the gather itself is not cancelled. */
static int child_cancelled(void *arg, void **result) {
  /* The first sleeps until cancelled; the second takes 100 iterations. */
  struct child c[2] = {{.delay = FOREVER, .value = 1},
                       {.value = 2, .steps = 100}};
  corio_awaitable items[2];
  corio_future *g;
  corio_task *t[2];

  (void)arg;
  (void)result;
  for (int i = 0; i < 2; i++) {
    t[i] = spawn_or_fail(child_body, &c[i]);
    items[i] = CORIO_AWAIT_TASK(t[i]);
  }
  assert_int_equal(corio_gather_start(&g, items, 2, 0), 0);
  assert_int_equal(corio_sleep(0), 0); /* both have started */
  assert_int_equal(corio_task_cancel(t[0], NULL), 1);
  assert_int_equal(corio_future_await(g, NULL), -ECANCELED);
  assert_false(corio_future_cancelled(g));
  assert_int_equal(corio_future_error(g), -ECANCELED);
  assert_false(corio_task_done(t[1])); /* not cancelled by the gather */
  assert_int_equal(corio_await(t[1], NULL), 0);
  corio_future_unref(g);
  for (int i = 0; i < 2; i++)
    corio_task_unref(t[i]);
  return 0;
}

static void test_child_cancelled_does_not_cancel_gather(void **state) {
  (void)state;
  assert_int_equal(run_main(child_cancelled, NULL), 0);
}

/* Cancelling the task awaiting the gather cancels every unfinished child,
 * and the awaiter returns only once they have all finished. */
struct awaiter {
  struct child c[3];
  corio_outcome out[3];
  int rc;
};

static int gather_three(void *arg, void **result) {
  struct awaiter *a = arg;
  corio_awaitable items[3];

  (void)result;
  for (int i = 0; i < 3; i++)
    items[i] = CORIO_AWAIT_FN(child_body, &a->c[i]);
  a->rc = corio_gather(items, 3, a->out, 0);
  return a->rc;
}

static int cancel_awaiter(void *arg, void **result) {
  struct awaiter a = {{{0.0, 0, 1, 0, 0, 0},
                       {FOREVER, 0, 2, 0, 0, 0},
                       {FOREVER, 0, 3, 0, 0, 0}},
                      {{0}},
                      1};
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(gather_three, &a);
  /* Until the first child has finished (the others sleep on). */
  while (!a.c[0].finished)
    assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  /* Returns once the children have finished: their sleeps cancelled. */
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(a.rc, -ECANCELED);
  assert_true(a.c[0].finished);
  assert_true(a.c[1].cancelled && a.c[2].cancelled);
  assert_int_equal(a.out[0].error, 0);
  assert_int_equal(a.out[1].error, -ECANCELED);
  assert_int_equal(a.out[2].error, -ECANCELED);
  corio_task_unref(t);
  return 0;
}

static void test_cancelling_awaiter_cancels_children(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(cancel_awaiter, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* Groups of groups (seed 004): cancelling one group cancels its children
 * only; the outer gather with return_exceptions reports it. */
static int nested(void *arg, void **result) {
  struct child c[4] = {{0.01, 0, 1, 0, 0, 0},
                       {0.01, 0, 2, 0, 0, 0},
                       {FOREVER, 0, 3, 0, 0, 0},
                       {FOREVER, 0, 4, 0, 0, 0}};
  corio_awaitable g1[2], g2[2], all[2];
  corio_future *group1, *group2;
  corio_outcome out[2], inner[2];

  (void)arg;
  (void)result;
  for (int i = 0; i < 2; i++) {
    g1[i] = CORIO_AWAIT_FN(child_body, &c[i]);
    g2[i] = CORIO_AWAIT_FN(child_body, &c[i + 2]);
  }
  assert_int_equal(
      corio_gather_start(&group1, g1, 2, CORIO_GATHER_RETURN_EXCEPTIONS), 0);
  assert_int_equal(
      corio_gather_start(&group2, g2, 2, CORIO_GATHER_RETURN_EXCEPTIONS), 0);
  all[0] = CORIO_AWAIT_FUTURE(group1);
  all[1] = CORIO_AWAIT_FUTURE(group2);
  assert_int_equal(corio_sleep(0.005), 0);
  assert_int_equal(corio_future_cancel(group2, NULL), 1);
  assert_int_equal(corio_gather(all, 2, out, CORIO_GATHER_RETURN_EXCEPTIONS),
                   0);
  assert_int_equal(out[0].error, 0);
  assert_int_equal(out[1].error, -ECANCELED);
  assert_true(corio_future_cancelled(group2));
  assert_int_equal(corio_gather_outcomes(group1, inner, 2), 0);
  assert_int_equal(CORIO_INT(inner[1].result), 2);
  assert_int_equal(corio_gather_outcomes(group2, inner, 2), 0);
  assert_int_equal(inner[0].error, -ECANCELED);
  assert_true(c[2].cancelled && c[3].cancelled);
  assert_true(c[0].finished && c[1].finished);
  corio_future_unref(group1);
  corio_future_unref(group2);
  return 0;
}

static void test_nested_gathers(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(nested, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* A gather future cancelled (without return_exceptions): every child is
 * cancelled, and the gather ends cancelled only once they all have
 * finished, also one that takes a while to clean up. */
static int slow_cleanup(void *arg, void **result) {
  struct child *c = arg;
  int rc = corio_sleep(FOREVER);

  (void)result;
  if (rc == -ECANCELED) {
    c->cancelled = 1;
    (void)corio_sleep(0.02);
    c->finished = 1;
  }
  return rc;
}

static int cancel_gather_future(void *arg, void **result) {
  struct child quick = {FOREVER, 0, 1, 0, 0, 0}, slow = {0};
  corio_awaitable items[2] = {CORIO_AWAIT_FN(child_body, &quick),
                              CORIO_AWAIT_FN(slow_cleanup, &slow)};
  corio_outcome out[2];
  corio_future *g;

  (void)arg;
  (void)result;
  assert_int_equal(corio_gather_start(&g, items, 2, 0), 0);
  assert_int_equal(corio_sleep(0.005), 0);
  assert_int_equal(corio_future_cancel(g, NULL), 1);
  assert_int_equal(corio_future_await(g, NULL), -ECANCELED);
  assert_true(corio_future_cancelled(g));
  assert_true(slow.finished); /* waited for */
  assert_int_equal(corio_gather_outcomes(g, out, 2), 0);
  assert_int_equal(out[0].error, -ECANCELED);
  assert_int_equal(out[1].error, -ECANCELED);
  corio_future_unref(g);
  return 0;
}

static void test_cancelled_gather_waits_for_children(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_gather_future, NULL), 0);
}

static int misuse(void *arg, void **result) {
  corio_awaitable bad = {NULL, NULL, NULL};
  corio_future *g, *mine, *theirs;
  corio_loop *other;
  corio_awaitable items[2];

  (void)arg;
  (void)result;
  assert_int_equal(corio_gather(NULL, 1, NULL, 0), -EINVAL);
  assert_int_equal(corio_gather(&bad, 1, NULL, 0), -EINVAL);
  /* asyncio: gather() of nothing is done at once. */
  assert_int_equal(corio_gather(&bad, 0, NULL, 0), 0);
  assert_int_equal(corio_gather(NULL, 0, NULL, 0), 0);
  assert_int_equal(corio_gather_start(NULL, &bad, 1, 0), -EINVAL);
  /* Children of two loops. */
  assert_int_equal(corio_loop_create(&other), 0);
  assert_int_equal(corio_future_create(other, &theirs), 0);
  assert_int_equal(corio_future_create(NULL, &mine), 0);
  items[0] = CORIO_AWAIT_FUTURE(mine);
  items[1] = CORIO_AWAIT_FUTURE(theirs);
  assert_int_equal(corio_gather_start(&g, items, 2, 0), CORIO_EWRONGLOOP);
  corio_future_unref(theirs);
  corio_future_unref(mine);
  corio_loop_unref(other);
  assert_int_equal(corio_gather_outcomes(NULL, NULL, 0), -EINVAL);
  return 0;
}

static void test_misuse(void **state) {
  corio_awaitable item = CORIO_AWAIT_FN(child_body, NULL);
  (void)state;

  assert_int_equal(run_main(misuse, NULL), 0);
  assert_int_equal(corio_gather(&item, 1, NULL, 0), CORIO_ENOTASK);
}

/* Allocation failures: a clean error, nothing left behind. */
static int gather_life(void *arg, void **result) {
  struct child c[3] = {
      {0.0, 0, 1, 0, 0, 0}, {0.001, 0, 2, 0, 0, 0}, {0.002, -EIO, 3, 0, 0, 0}};
  corio_awaitable items[3];
  corio_outcome out[3];
  int rc;

  (void)arg;
  (void)result;
  for (int i = 0; i < 3; i++)
    items[i] = CORIO_AWAIT_FN(child_body, &c[i]);
  rc = corio_gather(items, 3, out, CORIO_GATHER_RETURN_EXCEPTIONS);
  corio_outcomes_clear(out, 3);
  if (rc < 0)
    return rc;
  return out[2].error == -EIO ? 0 : out[2].error;
}

static void test_fault_walk(void **state) {
  (void)state;
  assert_true(walk_run(CORIO__FAULT_ALLOC, gather_life,
                       corio_test_negative_or_tolerated) > 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_results_in_argument_order),
      cmocka_unit_test(test_first_error_others_keep_running),
      cmocka_unit_test(test_return_exceptions_reports_each_child),
      cmocka_unit_test(test_child_cancelled_does_not_cancel_gather),
      cmocka_unit_test(test_cancelling_awaiter_cancels_children),
      cmocka_unit_test(test_nested_gathers),
      cmocka_unit_test(test_cancelled_gather_waits_for_children),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_fault_walk),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
