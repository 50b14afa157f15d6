/* Greenlet semantics: symmetric switch, parents, return into the parent. */
#include <errno.h>
#include <string.h>

#include "corio/coro.h"
#include "support.h"

static corio_coro *g1, *g2;
static char log_buf[256];

static void note(const char *s) { strcat(log_buf, s); }

/* Seed 000: task_1 and task_2 hand control to each other, bounded. */
static void *task_1(void *arg) {
  intptr_t rounds = CORIO_INT(arg);

  for (intptr_t i = 0; i < rounds; i++) {
    note("1");
    assert_int_equal(corio_coro_switch(g2, NULL, NULL), 0);
  }
  return CORIO_PTR(11);
}

static void *task_2(void *arg) {
  (void)arg;
  for (;;) {
    note("2");
    /* Fails only with CORIO_ECLOSED, when it is destroyed. */
    if (corio_coro_switch(g1, NULL, NULL) != 0)
      return NULL;
  }
}

static void test_ping_pong_then_return_to_parent(void **state) {
  void *got = NULL;
  (void)state;

  log_buf[0] = 0;
  assert_int_equal(
      corio_coro_create(&g1, task_1, CORIO_PTR(4), CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_create(&g2, task_2, NULL, CORIO_CORO_STACK_MIN),
                   0);
  /* Both were created by the thread, so the thread is their parent: when
   * task_1 returns, this switch returns its result. */
  assert_int_equal(corio_coro_switch(g1, NULL, &got), 0);
  assert_string_equal(log_buf, "12121212");
  assert_int_equal(CORIO_INT(got), 11);
  assert_int_equal(corio_coro_state_of(g1), CORIO_CORO_DEAD);
  assert_int_equal(corio_coro_state_of(g2), CORIO_CORO_SUSPENDED);
  assert_int_equal(corio_coro_destroy(g1), 0);
  /* task_2 never finishes by itself: destroying it closes it. */
  assert_int_equal(corio_coro_destroy(g2), 0);
  assert_string_equal(log_buf, "12121212");
}

static void *relay(void *arg) {
  void *v = NULL;
  (void)arg;
  /* Switch values travel both ways. */
  assert_int_equal(corio_coro_switch(g2, CORIO_PTR(1), &v), 0);
  return CORIO_PTR(CORIO_INT(v) * 10);
}

static void *yield_zero(void *arg) {
  (void)arg;
  (void)corio_coro_yield(CORIO_PTR(0), NULL); /* CORIO_ECLOSED on destroy */
  return NULL;
}

static void test_switch_passes_values(void **state) {
  void *got = NULL;
  (void)state;

  assert_int_equal(corio_coro_create(&g1, relay, NULL, CORIO_CORO_STACK_MIN),
                   0);
  assert_int_equal(
      corio_coro_create(&g2, yield_zero, NULL, CORIO_CORO_STACK_MIN), 0);
  /* g1 switches to g2, which yields 0 to its parent: the thread. */
  assert_int_equal(corio_coro_switch(g1, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 0);
  /* Hand g1 the value 7 as the result of its switch. */
  assert_int_equal(corio_coro_switch(g1, CORIO_PTR(7), &got), 0);
  assert_int_equal(CORIO_INT(got), 70);
  assert_int_equal(corio_coro_state_of(g1), CORIO_CORO_DEAD);
  assert_int_equal(corio_coro_destroy(g1), 0);
  assert_int_equal(corio_coro_destroy(g2), 0); /* closes yield_zero */
}

static void *child_returns(void *arg) { return arg; }

static corio_coro *grandchild;

static void *parent_dies_first(void *arg) {
  (void)arg;
  assert_int_equal(corio_coro_create(&grandchild, child_returns, CORIO_PTR(42),
                                     CORIO_CORO_STACK_MIN),
                   0);
  assert_ptr_equal(corio_coro_parent(grandchild), corio_coro_current());
  return CORIO_PTR(1);
}

static void test_finish_goes_to_nearest_live_ancestor(void **state) {
  corio_coro *p;
  void *got;
  (void)state;

  assert_int_equal(
      corio_coro_create(&p, parent_dies_first, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_null(corio_coro_parent(p));
  assert_int_equal(corio_coro_switch(p, NULL, &got), 0);
  assert_int_equal(corio_coro_state_of(p), CORIO_CORO_DEAD);
  /* The grandchild's parent is dead: its result comes to the thread. */
  assert_int_equal(corio_coro_switch(grandchild, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 42);
  /* Destroying the parent first: the child is adopted by the thread. */
  assert_int_equal(corio_coro_destroy(p), 0);
  assert_null(corio_coro_parent(grandchild));
  assert_int_equal(corio_coro_destroy(grandchild), 0);
}

static void test_orphans_are_adopted_on_destroy(void **state) {
  corio_coro *a, *b, *c;
  void *got;
  (void)state;

  assert_int_equal(
      corio_coro_create(&a, child_returns, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(
      corio_coro_create(&b, child_returns, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(
      corio_coro_create(&c, child_returns, CORIO_PTR(5), CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_set_parent(b, a), 0);
  assert_int_equal(corio_coro_set_parent(c, b), 0);
  assert_ptr_equal(corio_coro_parent(c), b);
  assert_int_equal(corio_coro_destroy(b), 0); /* never started: freed */
  assert_ptr_equal(corio_coro_parent(c), a);
  assert_int_equal(corio_coro_destroy(a), 0);
  assert_null(corio_coro_parent(c));
  assert_int_equal(corio_coro_switch(c, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 5);
  assert_int_equal(corio_coro_destroy(c), 0);
}

static void test_set_parent_rejects_loops(void **state) {
  corio_coro *a, *b;
  (void)state;

  assert_int_equal(
      corio_coro_create(&a, child_returns, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(
      corio_coro_create(&b, child_returns, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_set_parent(b, a), 0);
  assert_int_equal(corio_coro_set_parent(a, b), -EINVAL);
  assert_int_equal(corio_coro_set_parent(a, a), -EINVAL);
  assert_int_equal(corio_coro_set_parent(NULL, a), -EINVAL);
  assert_int_equal(corio_coro_set_parent(b, NULL), 0);
  assert_null(corio_coro_parent(b));
  assert_int_equal(corio_coro_destroy(a), 0);
  assert_int_equal(corio_coro_destroy(b), 0);
}

static void test_switch_to_self_and_bad_targets(void **state) {
  corio_coro *a;
  void *got = NULL;
  (void)state;

  assert_int_equal(corio_coro_switch(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(
      corio_coro_create(&a, child_returns, CORIO_PTR(3), CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_switch(a, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 3);
  assert_int_equal(corio_coro_switch(a, NULL, &got), CORIO_EDEAD);
  assert_int_equal(corio_coro_destroy(a), 0);
}

static void *switch_to_self(void *arg) {
  void *got = NULL;

  assert_int_equal(corio_coro_switch(corio_coro_current(), arg, &got), 0);
  return got;
}

static void test_switch_to_self_returns_value(void **state) {
  corio_coro *a;
  void *got = NULL;
  (void)state;

  assert_int_equal(
      corio_coro_create(&a, switch_to_self, CORIO_PTR(8), CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(a, NULL, &got), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(got), 8);
  assert_int_equal(corio_coro_destroy(a), 0);
}

/* main resumes A, A resumes B, and B leaves A for another parent: A must
 * not wait for B forever. */
static corio_coro *coro_a, *coro_b;

static void *b_changes_parent(void *arg) {
  (void)arg;
  assert_int_equal(corio_coro_set_parent(corio_coro_current(), NULL), 0);
  /* A no longer waits on us. */
  assert_int_equal(corio_coro_state_of(coro_a), CORIO_CORO_SUSPENDED);
  (void)corio_coro_yield(CORIO_PTR(21), NULL); /* to the thread */
  return NULL;
}

static void *a_resumes_b(void *arg) {
  void *got = NULL;
  int rc;
  (void)arg;

  assert_int_equal(
      corio_coro_create(&coro_b, b_changes_parent, NULL, CORIO_CORO_STACK_MIN),
      0);
  /* Ends when something switches back into A, not when B yields. */
  rc = corio_coro_resume(coro_b, NULL, &got);
  assert_int_equal(rc, 0);
  assert_string_equal(got, "wake");
  return CORIO_PTR(22);
}

static void test_parent_waiting_on_a_child_that_leaves(void **state) {
  void *got = NULL;
  (void)state;

  assert_int_equal(
      corio_coro_create(&coro_a, a_resumes_b, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(coro_a, NULL, &got), 0);
  assert_int_equal(CORIO_INT(got), 21); /* B's value, through its new parent */
  assert_int_equal(corio_coro_state_of(coro_a), CORIO_CORO_SUSPENDED);
  assert_int_equal(corio_coro_resume(coro_a, "wake", &got),
                   CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(got), 22);
  assert_int_equal(corio_coro_destroy(coro_a), 0);
  assert_int_equal(corio_coro_destroy(coro_b), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ping_pong_then_return_to_parent),
      cmocka_unit_test(test_switch_passes_values),
      cmocka_unit_test(test_finish_goes_to_nearest_live_ancestor),
      cmocka_unit_test(test_orphans_are_adopted_on_destroy),
      cmocka_unit_test(test_set_parent_rejects_loops),
      cmocka_unit_test(test_switch_to_self_and_bad_targets),
      cmocka_unit_test(test_switch_to_self_returns_value),
      cmocka_unit_test(test_parent_waiting_on_a_child_that_leaves),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
