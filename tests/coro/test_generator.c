/* Generator semantics: resume/yield/send/throw/return, as Python's. */
#include <errno.h>
#include <string.h>

#include "corio/coro.h"
#include "support.h"

static void *count_to_three(void *arg) {
  intptr_t limit = CORIO_INT(arg);

  for (intptr_t i = 1; i <= limit; i++)
    if (corio_coro_yield(CORIO_PTR(i), NULL) != 0)
      return NULL;
  return CORIO_PTR(100);
}

static void test_yields_values_then_returns(void **state) {
  corio_coro *co;
  void *out = NULL;
  (void)state;

  assert_int_equal(corio_coro_create(&co, count_to_three, CORIO_PTR(3),
                                     CORIO_CORO_STACK_DEFAULT),
                   0);
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_CREATED);
  for (intptr_t i = 1; i <= 3; i++) {
    assert_int_equal(corio_coro_resume(co, NULL, &out), 0);
    assert_int_equal(CORIO_INT(out), i);
    assert_int_equal(corio_coro_state_of(co), CORIO_CORO_SUSPENDED);
  }
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(out), 100);
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_DEAD);
  assert_int_equal(CORIO_INT(corio_coro_result(co)), 100);
  assert_int_equal(corio_coro_error(co), 0);
  /* Like next() after StopIteration. */
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_EDEAD);
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* val = yield 1; record(val); yield 2 */
static void *echo_sent(void *arg) {
  void **seen = arg;
  void *v = NULL;

  assert_int_equal(corio_coro_yield(CORIO_PTR(1), &v), 0);
  *seen = v;
  assert_int_equal(corio_coro_yield(CORIO_PTR(2), &v), 0);
  return v;
}

static void test_send_becomes_value_of_yield(void **state) {
  corio_coro *co;
  void *seen = NULL, *out = NULL;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, echo_sent, &seen, CORIO_CORO_STACK_MIN), 0);
  /* The first resume's value is not delivered: the body gets its arg. */
  assert_int_equal(corio_coro_resume(co, "ignored", &out), 0);
  assert_int_equal(CORIO_INT(out), 1);
  assert_int_equal(corio_coro_resume(co, "abc", &out), 0);
  assert_string_equal(seen, "abc");
  assert_int_equal(CORIO_INT(out), 2);
  assert_int_equal(corio_coro_resume(co, "last", &out), CORIO_CORO_RETURNED);
  assert_string_equal(out, "last");
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* An error thrown in surfaces at the pending yield; uncaught, it ends the
 * body with that error (the C form of an exception propagating). */
static void *propagate_thrown(void *arg) {
  int rc = corio_coro_yield(arg, NULL);

  if (rc < 0)
    return corio_coro_fail(rc);
  return CORIO_PTR(1);
}

static void test_throw_uncaught_finishes_with_error(void **state) {
  corio_coro *co;
  void *out = CORIO_PTR(7);
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, propagate_thrown, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_throw(co, -EIO, &out), -EIO);
  assert_null(out);
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_DEAD);
  assert_int_equal(corio_coro_error(co), -EIO);
  assert_null(corio_coro_result(co));
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* A body that handles the thrown error and goes on, like try/except. */
static void *catch_and_continue(void *arg) {
  int rc;
  (void)arg;

  rc = corio_coro_yield(CORIO_PTR(1), NULL);
  assert_int_equal(rc, -EPIPE);
  assert_int_equal(corio_coro_yield(CORIO_PTR(2), NULL), 0);
  return CORIO_PTR(3);
}

static void test_throw_caught_continues(void **state) {
  corio_coro *co;
  void *out;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, catch_and_continue, NULL, CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, &out), 0);
  assert_int_equal(corio_coro_throw(co, -EPIPE, &out), 0);
  assert_int_equal(CORIO_INT(out), 2);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(out), 3);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static int body_ran;

static void *mark_ran(void *arg) {
  (void)arg;
  body_ran = 1;
  return NULL;
}

static void test_throw_before_start_skips_body(void **state) {
  corio_coro *co;
  (void)state;

  body_ran = 0;
  assert_int_equal(corio_coro_create(&co, mark_ran, NULL, CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_throw(co, -EINTR, NULL), -EINTR);
  assert_int_equal(body_ran, 0);
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_DEAD);
  assert_int_equal(corio_coro_error(co), -EINTR);
  assert_int_equal(corio_coro_throw(co, -EINTR, NULL), CORIO_EDEAD);
  assert_int_equal(corio_coro_throw(co, 5, NULL), -EINVAL);
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* ---- yield from ---------------------------------------------------------- */

struct trace {
  const char *lines[8];
  int n;
};

static struct trace *trace_of;

static void *inner(void *arg) {
  void *got = NULL;
  (void)arg;

  assert_int_equal(corio_coro_yield(CORIO_PTR(2), &got), 0);
  trace_of->lines[trace_of->n++] = got; /* print('inner', inner_result) */
  return CORIO_PTR(3);
}

static void *outer(void *arg) {
  corio_coro *sub;
  void *val = NULL;
  (void)arg;

  assert_int_equal(corio_coro_yield(CORIO_PTR(1), NULL), 0);
  assert_int_equal(corio_coro_create(&sub, inner, NULL, CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_yield_from(sub, &val), 0);
  assert_int_equal(corio_coro_destroy(sub), 0);
  assert_int_equal(CORIO_INT(val), 3); /* print('outer', val) */
  assert_int_equal(corio_coro_yield(CORIO_PTR(4), NULL), 0);
  return NULL;
}

static void test_yield_from_passes_values_both_ways(void **state) {
  struct trace trace = {{0}, 0};
  corio_coro *co;
  void *out;
  (void)state;

  trace_of = &trace;
  assert_int_equal(
      corio_coro_create(&co, outer, NULL, CORIO_CORO_STACK_DEFAULT), 0);
  assert_int_equal(corio_coro_resume(co, NULL, &out), 0);
  assert_int_equal(CORIO_INT(out), 1);
  assert_int_equal(corio_coro_resume(co, NULL, &out),
                   0); /* goes inside inner */
  assert_int_equal(CORIO_INT(out), 2);
  assert_int_equal(corio_coro_resume(co, "abc", &out), 0);
  assert_int_equal(trace.n, 1);
  assert_string_equal(trace.lines[0], "abc");
  assert_int_equal(CORIO_INT(out), 4);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static void *inner_fails_on_throw(void *arg) {
  int rc = corio_coro_yield(arg, NULL);

  return rc < 0 ? corio_coro_fail(rc - 1) : NULL;
}

static void *outer_delegates(void *arg) {
  corio_coro *sub;
  int rc;
  (void)arg;

  assert_int_equal(corio_coro_create(&sub, inner_fails_on_throw, CORIO_PTR(9),
                                     CORIO_CORO_STACK_MIN),
                   0);
  rc = corio_coro_yield_from(sub, NULL);
  assert_int_equal(corio_coro_destroy(sub), 0);
  return corio_coro_fail(rc);
}

static void test_yield_from_forwards_throw_and_error(void **state) {
  corio_coro *co;
  void *out;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, outer_delegates, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, &out), 0);
  assert_int_equal(CORIO_INT(out), 9);
  /* The thrown code reaches the inner body; its own error comes back out. */
  assert_int_equal(corio_coro_throw(co, -100, &out), -101);
  assert_int_equal(corio_coro_error(co), -101);
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* Closing the delegating coroutine closes the inner one first (PEP 380). */
static int inner_closed, outer_saw;

static void *inner_until_closed(void *arg) {
  int rc;
  (void)arg;

  while ((rc = corio_coro_yield(NULL, NULL)) == 0)
    ;
  inner_closed = rc == CORIO_ECLOSED;
  return arg; /* handled the close and returned normally */
}

static void *outer_delegates_forever(void *arg) {
  corio_coro *sub;
  (void)arg;

  assert_int_equal(
      corio_coro_create(&sub, inner_until_closed, NULL, CORIO_CORO_STACK_MIN),
      0);
  outer_saw = corio_coro_yield_from(sub, NULL);
  assert_int_equal(corio_coro_destroy(sub), 0);
  return corio_coro_fail(outer_saw);
}

static void test_close_propagates_through_yield_from(void **state) {
  corio_coro *co;
  (void)state;

  inner_closed = 0;
  outer_saw = 0;
  assert_int_equal(corio_coro_create(&co, outer_delegates_forever, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  /* Freed, not "ignored": the delegating body saw the close too. */
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_true(inner_closed);
  assert_int_equal(outer_saw, CORIO_ECLOSED);
}

static void *inner_fails_on_close(void *arg) {
  (void)arg;
  (void)corio_coro_yield(NULL, NULL);
  return corio_coro_fail(-ENOTRECOVERABLE);
}

static void *outer_reports_inner_error(void *arg) {
  corio_coro *sub;
  (void)arg;

  assert_int_equal(
      corio_coro_create(&sub, inner_fails_on_close, NULL, CORIO_CORO_STACK_MIN),
      0);
  outer_saw = corio_coro_yield_from(sub, NULL);
  assert_int_equal(corio_coro_destroy(sub), 0);
  return NULL;
}

static void test_inner_error_on_close_reaches_outer(void **state) {
  corio_coro *co;
  (void)state;

  outer_saw = 0;
  assert_int_equal(corio_coro_create(&co, outer_reports_inner_error, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_int_equal(outer_saw, -ENOTRECOVERABLE);
}

static void test_yield_from_outside_coroutine(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(corio_coro_create(&co, mark_ran, NULL, CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_yield_from(co, NULL), CORIO_ENOTCORO);
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* ---- current, nesting --------------------------------------------------- */

static void *report_current(void *arg) {
  corio_coro **slot = arg;

  *slot = corio_coro_current();
  assert_int_equal(corio_coro_state_of(*slot), CORIO_CORO_RUNNING);
  return NULL;
}

static void test_current(void **state) {
  corio_coro *co, *seen = NULL;
  (void)state;

  assert_null(corio_coro_current());
  assert_int_equal(
      corio_coro_create(&co, report_current, &seen, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_ptr_equal(seen, co);
  assert_null(corio_coro_current());
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* A chain of coroutines each resuming the next; the deepest yields a value
 * that each passes up with one more added. */
static void *chain_link(void *arg) {
  intptr_t depth = CORIO_INT(arg);
  corio_coro *next;
  void *v = NULL;

  if (depth == 0)
    return CORIO_PTR(1);
  assert_int_equal(corio_coro_create(&next, chain_link, CORIO_PTR(depth - 1),
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_state_of(corio_coro_current()),
                   CORIO_CORO_RUNNING);
  assert_int_equal(corio_coro_resume(next, NULL, &v), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(next), 0);
  return CORIO_PTR(CORIO_INT(v) + 1);
}

static void test_deep_resume_chain(void **state) {
  corio_coro *co;
  void *out;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, chain_link, CORIO_PTR(200), CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(out), 201);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static void *normal_state_probe(void *arg) {
  corio_coro *parent = arg;

  /* The coroutine that resumed us waits in NORMAL state and can't be resumed.
   */
  assert_int_equal(corio_coro_state_of(parent), CORIO_CORO_NORMAL);
  assert_int_equal(corio_coro_resume(parent, NULL, NULL), CORIO_ERUNNING);
  return NULL;
}

static void *spawn_probe(void *arg) {
  corio_coro *child;
  (void)arg;

  assert_int_equal(corio_coro_create(&child, normal_state_probe,
                                     corio_coro_current(),
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(child, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(child), 0);
  /* Resuming itself is refused too. */
  assert_int_equal(corio_coro_resume(corio_coro_current(), NULL, NULL),
                   CORIO_ERUNNING);
  return NULL;
}

static void test_normal_state(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, spawn_probe, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static void *fail_with_positive(void *arg) {
  (void)arg;
  return corio_coro_fail(5);
}

static void test_fail_with_non_negative_code_is_einval(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, fail_with_positive, NULL, CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), -EINVAL);
  assert_int_equal(corio_coro_destroy(co), 0);
  /* Outside a coroutine it only returns NULL. */
  assert_null(corio_coro_fail(-EIO));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yields_values_then_returns),
      cmocka_unit_test(test_send_becomes_value_of_yield),
      cmocka_unit_test(test_throw_uncaught_finishes_with_error),
      cmocka_unit_test(test_throw_caught_continues),
      cmocka_unit_test(test_throw_before_start_skips_body),
      cmocka_unit_test(test_yield_from_passes_values_both_ways),
      cmocka_unit_test(test_yield_from_forwards_throw_and_error),
      cmocka_unit_test(test_close_propagates_through_yield_from),
      cmocka_unit_test(test_inner_error_on_close_reaches_outer),
      cmocka_unit_test(test_yield_from_outside_coroutine),
      cmocka_unit_test(test_current),
      cmocka_unit_test(test_deep_resume_chain),
      cmocka_unit_test(test_normal_state),
      cmocka_unit_test(test_fail_with_non_negative_code_is_einval),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
