/* Destroying coroutines: the close rule (Python's generator.close()). */
#include <errno.h>

#include "corio/coro.h"
#include "support.h"

static int cleaned_up;

/* Holds a resource across a yield and releases it when closed. */
static void *holds_resource(void *arg) {
  int rc;
  (void)arg;

  rc = corio_coro_yield(NULL, NULL);
  assert_int_equal(rc, CORIO_ECLOSED);
  cleaned_up = 1;
  return corio_coro_fail(rc);
}

static void test_destroy_suspended_closes_it(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *co;
  (void)state;

  cleaned_up = 0;
  assert_int_equal(
      corio_coro_create(&co, holds_resource, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_int_equal(cleaned_up, 1);
  corio_test_assert_no_leak(before);
}

static void *returns_normally_on_close(void *arg) {
  (void)arg;
  if (corio_coro_yield(NULL, NULL) == CORIO_ECLOSED)
    cleaned_up = 2;
  return CORIO_PTR(1);
}

static void test_close_then_normal_return_is_success(void **state) {
  corio_coro *co;
  (void)state;

  cleaned_up = 0;
  assert_int_equal(corio_coro_create(&co, returns_normally_on_close, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_int_equal(cleaned_up, 2);
}

static void *fails_with_close_ignored(void *arg) {
  (void)arg;
  (void)corio_coro_yield(NULL, NULL);
  /* A body may pass such a code up; destroy must still report "freed". */
  return corio_coro_fail(CORIO_ECLOSEIGNORED);
}

static void test_body_error_never_looks_like_alive(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *co;
  (void)state;

  assert_int_equal(corio_coro_create(&co, fails_with_close_ignored, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  corio_test_assert_no_leak(before);
}

static void test_double_destroy_and_use_after_destroy(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *co, *next;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, holds_resource, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  cleaned_up = 0;
  assert_int_equal(corio_coro_destroy(co), 0);
  /* The stack sits in the pool: the stale pointer is refused, and the
   * pool is not corrupted by a second free. */
  assert_int_equal(corio_coro_destroy(co), -EINVAL);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), -EINVAL);
  assert_int_equal(corio_coro_throw(co, -EIO, NULL), -EINVAL);
  assert_int_equal(corio_coro_switch(co, NULL, NULL), -EINVAL);
  assert_int_equal(corio_coro_set_parent(co, NULL), -EINVAL);
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_DEAD);
  /* The pool hands the stack out once, not twice. */
  assert_int_equal(
      corio_coro_create(&next, holds_resource, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_ptr_equal(next, co);
  corio_coro *other;
  assert_int_equal(
      corio_coro_create(&other, holds_resource, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_ptr_not_equal(other, next);
  assert_int_equal(corio_coro_destroy(other), 0);
  assert_int_equal(corio_coro_destroy(next), 0);
  corio_test_assert_no_leak(before);
}

/* A close that re-enters: while being closed, the body switches to a
 * coroutine that tries to destroy it too. */
static corio_coro *victim, *meddler;
static int meddler_rc;

static void *victim_body(void *arg) {
  (void)arg;
  if (corio_coro_yield(NULL, NULL) == CORIO_ECLOSED)
    (void)corio_coro_switch(meddler, NULL, NULL);
  return NULL;
}

static void *meddler_body(void *arg) {
  (void)arg;
  meddler_rc = corio_coro_destroy(victim);
  (void)corio_coro_switch(victim, NULL, NULL);
  return NULL;
}

static void test_destroy_during_close_is_refused(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *a, *b;
  (void)state;

  assert_int_equal(
      corio_coro_create(&victim, victim_body, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(
      corio_coro_create(&meddler, meddler_body, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(victim, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(victim), 0);
  assert_int_equal(meddler_rc, CORIO_ERUNNING);
  assert_int_equal(corio_coro_destroy(meddler), 0);
  /* Freed once: two new coroutines get two different stacks. */
  assert_int_equal(
      corio_coro_create(&a, victim_body, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(
      corio_coro_create(&b, victim_body, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_ptr_not_equal(a, b);
  assert_int_equal(corio_coro_destroy(a), 0);
  assert_int_equal(corio_coro_destroy(b), 0);
  corio_test_assert_no_leak(before);
}

enum { SLAB_PLUS = 300 }; /* more than one slab of default stacks */

static void test_stale_pointer_after_pages_are_given_back(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *all[SLAB_PLUS];
  (void)state;

  for (int i = 0; i < SLAB_PLUS; i++)
    assert_int_equal(corio_coro_create(&all[i], holds_resource, NULL,
                                       CORIO_CORO_STACK_DEFAULT),
                     0);
  /* Empty the second slab (kept warm: the class's one empty slab), then
   * the first: its pages go back to the OS, but it stays mapped. */
  for (int i = 256; i < SLAB_PLUS; i++)
    assert_int_equal(corio_coro_destroy(all[i]), 0);
  for (int i = 0; i < 256; i++)
    assert_int_equal(corio_coro_destroy(all[i]), 0);
  for (int i = 0; i < 256; i++) {
    assert_int_equal(corio_coro_destroy(all[i]), -EINVAL);
    assert_int_equal(corio_coro_resume(all[i], NULL, NULL), -EINVAL);
    assert_int_equal(corio_coro_state_of(all[i]), CORIO_CORO_DEAD);
    assert_null(corio_coro_parent(all[i]));
    assert_int_equal(corio_coro_stack_size(all[i]), 0);
  }
  corio_test_assert_no_leak(before);
}

static int ignore_budget;

/* Ignores close a number of times, like a generator that yields in its
 * finally block. */
static void *ignores_close(void *arg) {
  (void)arg;
  for (;;) {
    int rc = corio_coro_yield(NULL, NULL);
    if (rc == CORIO_ECLOSED && ignore_budget-- == 0)
      return NULL;
  }
}

static void test_close_ignored_keeps_coroutine(void **state) {
  corio_coro *co;
  (void)state;

  ignore_budget = 1;
  assert_int_equal(
      corio_coro_create(&co, ignores_close, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), CORIO_ECLOSEIGNORED);
  /* Still alive and usable; the next close is honoured. */
  assert_int_equal(corio_coro_state_of(co), CORIO_CORO_SUSPENDED);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static void *fails_differently_on_close(void *arg) {
  (void)arg;
  (void)corio_coro_yield(NULL, NULL);
  return corio_coro_fail(-EBADMSG);
}

static void test_other_error_on_close_is_dropped(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *co;
  (void)state;

  assert_int_equal(corio_coro_create(&co, fails_differently_on_close, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  /* Freed, so 0: a non-zero return always means "still alive". */
  assert_int_equal(corio_coro_destroy(co), 0);
  corio_test_assert_no_leak(before);
}

static void *never_runs(void *arg) {
  (void)arg;
  fail();
  return NULL;
}

static void test_destroy_created_and_dead(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, never_runs, NULL, CORIO_CORO_STACK_DEFAULT), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_int_equal(corio_coro_create(&co, returns_normally_on_close, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_throw(co, -EIO, NULL), -EIO);
  assert_int_equal(corio_coro_destroy(co), 0);
  corio_test_assert_no_leak(before);
}

static void *destroy_self_and_parent(void *arg) {
  corio_coro *me = corio_coro_current();
  (void)arg;

  assert_int_equal(corio_coro_destroy(me), CORIO_ERUNNING);
  return NULL;
}

static void *resumes_child(void *arg) {
  corio_coro *child;
  (void)arg;

  assert_int_equal(corio_coro_create(&child, destroy_self_and_parent, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(child, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(child), 0);
  return NULL;
}

static void *destroys_its_resumer(void *arg) {
  /* arg is the coroutine waiting in NORMAL state on us. */
  assert_int_equal(corio_coro_destroy(arg), CORIO_ERUNNING);
  return NULL;
}

static void *resumes_destroyer(void *arg) {
  corio_coro *child;
  (void)arg;

  assert_int_equal(corio_coro_create(&child, destroys_its_resumer,
                                     corio_coro_current(),
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(child, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(child), 0);
  return NULL;
}

static corio_coro *suspended_parent;

static void *destroys_suspended_ancestor(void *arg) {
  (void)arg;
  /* Its parent switched here, so it is suspended, not normal. */
  assert_int_equal(corio_coro_state_of(suspended_parent), CORIO_CORO_SUSPENDED);
  assert_int_equal(corio_coro_destroy(suspended_parent), CORIO_ERUNNING);
  return NULL;
}

static void *switches_to_child(void *arg) {
  corio_coro *child;
  (void)arg;

  assert_int_equal(corio_coro_create(&child, destroys_suspended_ancestor, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  /* The child returns into us, its parent. */
  assert_int_equal(corio_coro_switch(child, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(child), 0);
  return NULL;
}

static void test_destroy_suspended_ancestor_is_refused(void **state) {
  (void)state;

  assert_int_equal(corio_coro_create(&suspended_parent, switches_to_child, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(suspended_parent, NULL, NULL),
                   CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(suspended_parent), 0);
}

/* A dead ancestor runs nothing when freed: destroying it from a
 * descendant is allowed, and the descendant is adopted. */
static corio_coro *dead_parent, *orphan;

static void *frees_its_dead_parent(void *arg) {
  (void)arg;
  assert_int_equal(corio_coro_state_of(dead_parent), CORIO_CORO_DEAD);
  assert_ptr_equal(corio_coro_parent(orphan), dead_parent);
  assert_int_equal(corio_coro_destroy(dead_parent), 0);
  assert_null(corio_coro_parent(orphan)); /* adopted by the thread */
  return CORIO_PTR(33);
}

static void *creates_child_then_dies(void *arg) {
  (void)arg;
  assert_int_equal(corio_coro_create(&orphan, frees_its_dead_parent, NULL,
                                     CORIO_CORO_STACK_MIN),
                   0);
  return NULL;
}

static void test_destroy_dead_ancestor_is_allowed(void **state) {
  corio_test_usage before = corio_test_usage_now();
  void *got = NULL;
  (void)state;

  assert_int_equal(corio_coro_create(&dead_parent, creates_child_then_dies,
                                     NULL, CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(corio_coro_resume(dead_parent, NULL, NULL),
                   CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_switch(orphan, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 33);
  assert_int_equal(corio_coro_destroy(orphan), 0);
  corio_test_assert_no_leak(before);
}

static void test_destroy_running_or_normal_is_refused(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(corio_coro_destroy(NULL), -EINVAL);
  assert_int_equal(
      corio_coro_create(&co, resumes_child, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
  assert_int_equal(
      corio_coro_create(&co, resumes_destroyer, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_destroy_suspended_closes_it),
      cmocka_unit_test(test_close_then_normal_return_is_success),
      cmocka_unit_test(test_close_ignored_keeps_coroutine),
      cmocka_unit_test(test_other_error_on_close_is_dropped),
      cmocka_unit_test(test_body_error_never_looks_like_alive),
      cmocka_unit_test(test_destroy_created_and_dead),
      cmocka_unit_test(test_destroy_running_or_normal_is_refused),
      cmocka_unit_test(test_double_destroy_and_use_after_destroy),
      cmocka_unit_test(test_destroy_during_close_is_refused),
      cmocka_unit_test(test_stale_pointer_after_pages_are_given_back),
      cmocka_unit_test(test_destroy_suspended_ancestor_is_refused),
      cmocka_unit_test(test_destroy_dead_ancestor_is_allowed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
