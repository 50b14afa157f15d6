/* Timeout scopes (DESIGN.md §4 rule 8): reschedule, when, expired,
 * nesting where each scope reports only its own expiry, and -ETIMEDOUT
 * only for the cancellation a scope caused. */
#include "corio/combine.h"
#include "task_test.h"

/* FOREVER: longer than any test runs. A sleep that long ends within the
 * test only if a scope cancels it; a deadline that far never passes in
 * it, however slow the machine. */
#define FOREVER 3600.0

static int expires(void *arg, void **result) {
  corio_timeout scope;
  int rc;

  (void)arg;
  (void)result;
  assert_int_equal(corio_timeout_enter(&scope, 0.01), 0);
  assert_false(corio_timeout_expired(&scope));
  assert_true(corio_timeout_when(&scope) > 0);
  rc = corio_sleep(FOREVER);
  assert_int_equal(rc, -ECANCELED);
  assert_true(corio_timeout_expired(&scope));
  assert_int_equal(corio_timeout_exit(&scope, rc), -ETIMEDOUT);
  assert_true(corio_timeout_expired(&scope));
  /* The task is not left cancelled. */
  assert_int_equal(corio_task_cancelling(corio_current_task()), 0);
  assert_int_equal(corio_sleep(0), 0);

  /* In time: rc unchanged. */
  assert_int_equal(corio_timeout_enter(&scope, FOREVER), 0);
  rc = corio_sleep(0.001);
  assert_int_equal(corio_timeout_exit(&scope, rc), 0);
  assert_false(corio_timeout_expired(&scope));
  /* Other codes pass through too. */
  assert_int_equal(corio_timeout_enter(&scope, 1.0), 0);
  assert_int_equal(corio_timeout_exit(&scope, -EIO), -EIO);
  return 0;
}

static void test_expiry_becomes_etimedout(void **state) {
  (void)state;
  assert_int_equal(run_main(expires, NULL), 0);
}

static int at_and_reschedule(void *arg, void **result) {
  corio_loop *loop = corio_loop_running();
  corio_timeout scope;
  double when;
  int rc;

  (void)arg;
  (void)result;
  /* timeout_at. */
  assert_int_equal(corio_timeout_enter_at(&scope, corio_loop_time(loop) + 0.01),
                   0);
  rc = corio_timeout_exit(&scope, corio_sleep(FOREVER));
  assert_int_equal(rc, -ETIMEDOUT);

  /* timeout(none), then rescheduled. */
  assert_int_equal(corio_timeout_enter(&scope, CORIO_NO_TIMEOUT), 0);
  assert_true(corio_timeout_when(&scope) == CORIO_NO_TIMEOUT);
  assert_int_equal(corio_sleep(0.005), 0);
  when = corio_loop_time(loop) + 0.01;
  assert_int_equal(corio_timeout_reschedule(&scope, when), 0);
  assert_true(corio_timeout_when(&scope) == when); /* exactly as given */
  rc = corio_sleep(FOREVER);
  assert_int_equal(corio_timeout_reschedule(&scope, when + 1),
                   CORIO_ETIMEOUTEXPIRED);
  assert_int_equal(corio_timeout_exit(&scope, rc), -ETIMEDOUT);

  /* Rescheduled later: it does not fire at the first deadline. */
  assert_int_equal(corio_timeout_enter(&scope, 0.005), 0);
  assert_int_equal(
      corio_timeout_reschedule(&scope, corio_loop_time(loop) + FOREVER), 0);
  assert_int_equal(corio_sleep(0.02), 0);
  assert_int_equal(corio_timeout_exit(&scope, 0), 0);
  /* Rescheduled to none. */
  assert_int_equal(corio_timeout_enter(&scope, 0.005), 0);
  assert_int_equal(corio_timeout_reschedule(&scope, CORIO_NO_TIMEOUT), 0);
  assert_int_equal(corio_sleep(0.02), 0);
  assert_int_equal(corio_timeout_exit(&scope, 0), 0);
  assert_int_equal(corio_timeout_reschedule(&scope, 1), CORIO_ETIMEOUTEXITED);
  return 0;
}

static void test_timeout_at_and_reschedule(void **state) {
  (void)state;
  assert_int_equal(run_main(at_and_reschedule, NULL), 0);
}

static int nested(void *arg, void **result) {
  corio_timeout outer, inner;
  int rc;

  (void)arg;
  (void)result;
  /* The inner one fires first: it reports the timeout, the outer passes
   * that code on untouched. */
  assert_int_equal(corio_timeout_enter(&outer, FOREVER), 0);
  assert_int_equal(corio_timeout_enter(&inner, 0.01), 0);
  rc = corio_timeout_exit(&inner, corio_sleep(FOREVER));
  assert_int_equal(rc, -ETIMEDOUT);
  assert_true(corio_timeout_expired(&inner));
  rc = corio_timeout_exit(&outer, rc);
  assert_int_equal(rc, -ETIMEDOUT);
  assert_false(corio_timeout_expired(&outer));

  /* The outer one fires first: the inner passes -ECANCELED on, the outer
   * turns it into its timeout. */
  assert_int_equal(corio_timeout_enter(&outer, 0.01), 0);
  assert_int_equal(corio_timeout_enter(&inner, FOREVER), 0);
  rc = corio_timeout_exit(&inner, corio_sleep(FOREVER));
  assert_int_equal(rc, -ECANCELED);
  assert_false(corio_timeout_expired(&inner));
  rc = corio_timeout_exit(&outer, rc);
  assert_int_equal(rc, -ETIMEDOUT);
  assert_true(corio_timeout_expired(&outer));
  assert_int_equal(corio_task_cancelling(corio_current_task()), 0);

  /* Both fire in the same iteration: two requests. The inner one sees a
   * request it did not cause still standing and passes -ECANCELED on;
   * the outer one, the last, reports the timeout. */
  assert_int_equal(corio_timeout_enter(&outer, 0.01), 0);
  assert_int_equal(corio_timeout_enter_at(&inner, corio_timeout_when(&outer)),
                   0);
  rc = corio_sleep(FOREVER);
  assert_int_equal(corio_task_cancelling(corio_current_task()), 2);
  rc = corio_timeout_exit(&inner, rc);
  assert_int_equal(rc, -ECANCELED);
  assert_true(corio_timeout_expired(&inner));
  assert_int_equal(corio_timeout_exit(&outer, rc), -ETIMEDOUT);
  assert_int_equal(corio_task_cancelling(corio_current_task()), 0);
  return 0;
}

static void test_nested_scopes_report_their_own_expiry(void **state) {
  (void)state;
  assert_int_equal(run_main(nested, NULL), 0);
}

/* A cancellation from outside passes through a scope unchanged, even one
 * that expires afterwards. */
struct victim {
  int rc;
  int expired;
};

static int in_scope(void *arg, void **result) {
  struct victim *v = arg;
  corio_timeout scope;
  int rc;

  (void)result;
  assert_int_equal(corio_timeout_enter(&scope, FOREVER), 0);
  rc = corio_sleep(FOREVER);
  v->rc = corio_timeout_exit(&scope, rc);
  v->expired = corio_timeout_expired(&scope);
  return v->rc;
}

static int outside_cancel(void *arg, void **result) {
  struct victim v = {1, 1};
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(in_scope, &v);
  assert_int_equal(corio_sleep(0.005), 0);
  assert_int_equal(corio_task_cancel(t, "from outside"), 1);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(v.rc, -ECANCELED);
  assert_false(v.expired);
  assert_true(corio_task_cancelled(t));
  corio_task_unref(t);
  return 0;
}

static void test_other_cancellation_passes_through(void **state) {
  (void)state;
  assert_int_equal(run_main(outside_cancel, NULL), 0);
}

static void test_misuse(void **state) {
  corio_timeout scope;
  (void)state;

  assert_int_equal(corio_timeout_enter(&scope, 1.0), CORIO_ENOTASK);
  assert_int_equal(corio_timeout_enter(NULL, 1.0), -EINVAL);
  assert_int_equal(corio_timeout_enter(&scope, 0.0 / 0.0), -EINVAL);
  assert_int_equal(corio_timeout_reschedule(NULL, 1), -EINVAL);
  assert_false(corio_timeout_expired(NULL));
  assert_true(corio_timeout_when(NULL) == CORIO_NO_TIMEOUT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expiry_becomes_etimedout),
      cmocka_unit_test(test_timeout_at_and_reschedule),
      cmocka_unit_test(test_nested_scopes_report_their_own_expiry),
      cmocka_unit_test(test_other_cancellation_passes_through),
      cmocka_unit_test(test_misuse),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
