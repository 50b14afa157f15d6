/* Edge cases of the combinators found in review: eager children that spawn
 * or fail inside a task group's spawn, a cancellation arriving while
 * wait_for drains, a shield over a task the loop closes under, the loop
 * closing under a group's close, and a task gathering itself. */
#include "corio/combine.h"
#include "task_test.h"

static corio_taskgroup *group;

static int leaf(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0.001);
}

static int fail_now(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -EIO;
}

/* An eager child that adds a sibling while its own spawn is running. */
static int spawn_sibling(void *arg, void **result) {
  (void)arg;
  (void)result;
  if (corio_taskgroup_spawn(group, NULL, leaf, NULL) < 0)
    return -EPROTO;
  return corio_sleep(0.001);
}

static int eager_spawns_sibling(void *arg, void **result) {
  (void)arg;
  (void)result;
  assert_int_equal(corio_taskgroup_open(&group), 0);
  for (int i = 0; i < 15; i++) /* fills 15 of the first 16 slots */
    assert_int_equal(corio_taskgroup_spawn(group, NULL, leaf, NULL), 0);
  assert_int_equal(corio_taskgroup_spawn_ex(group, NULL, spawn_sibling, NULL,
                                            &(corio_spawn_options){.eager = 1}),
                   0);
  assert_int_equal(corio_taskgroup_close(group, 0), 0);
  return corio_taskgroup_free(group);
}

static void test_eager_child_spawning_a_sibling(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(eager_spawns_sibling, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* An eager child whose own eager child fails at once: the group has
 * failed by the time the outer spawn returns, and cancels that child. */
static int eager_with_failing_child(void *arg, void **result) {
  int *sleep_rc = arg;

  (void)result;
  if (corio_taskgroup_spawn_ex(group, NULL, fail_now, NULL,
                               &(corio_spawn_options){.eager = 1}) < 0)
    return -EPROTO;
  *sleep_rc = corio_sleep(3600); /* an hour: only the group's cancel ends it */
  return *sleep_rc;
}

static int eager_abort(void *arg, void **result) {
  int rc;

  (void)result;
  assert_int_equal(corio_taskgroup_open(&group), 0);
  assert_int_equal(corio_taskgroup_spawn_ex(group, NULL,
                                            eager_with_failing_child, arg,
                                            &(corio_spawn_options){.eager = 1}),
                   0);
  rc = corio_taskgroup_close(group, corio_sleep(0));
  assert_int_equal(rc, CORIO_ETASKGROUP);
  assert_int_equal(corio_taskgroup_error_count(group), 1);
  return corio_taskgroup_free(group);
}

static void test_eager_child_cancelled_when_group_fails(void **state) {
  int sleep_rc = 1;
  (void)state;

  assert_int_equal(run_main(eager_abort, &sleep_rc), 0);
  assert_int_equal(sleep_rc, -ECANCELED);
}

/* A cancellation of the waiter while wait_for waits for its timed-out
 * inner task to finish is reported, not lost. */
struct drain_waiter {
  int rc, next_rc;
  corio_future *draining; /* set once the inner task cleans up */
};

static int slow_to_stop(void *arg, void **result) {
  struct drain_waiter *w = arg;

  (void)result;
  if (corio_sleep(3600) == -ECANCELED) { /* only the timeout ends it */
    (void)corio_future_set_result(w->draining, NULL);
    (void)corio_sleep(0.1); /* clean-up */
  }
  return -ECANCELED;
}

static int waits_with_timeout(void *arg, void **result) {
  struct drain_waiter *w = arg;
  corio_task *inner = spawn_or_fail(slow_to_stop, w);

  (void)result;
  w->rc = corio_wait_for(corio_task_future(inner), 0.02, NULL);
  corio_task_unref(inner);
  w->next_rc = corio_sleep(0);
  return w->rc;
}

static int cancel_during_drain(void *arg, void **result) {
  struct drain_waiter *w = arg;
  corio_task *t;

  (void)result;
  assert_int_equal(corio_future_create(NULL, &w->draining), 0);
  t = spawn_or_fail(waits_with_timeout, w);
  /* Timed out, now draining: woken in the iteration after the inner task
   * began its clean-up, which lasts longer (a timer due later). */
  assert_int_equal(corio_future_await(w->draining, NULL), 0);
  assert_false(corio_task_done(t));
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  (void)corio_await(t, NULL);
  corio_task_unref(t);
  corio_future_unref(w->draining);
  return 0;
}

static void test_cancel_during_wait_for_drain_not_lost(void **state) {
  struct drain_waiter w = {1, 1, NULL};
  (void)state;

  assert_int_equal(run_main(cancel_during_drain, &w), 0);
  assert_int_equal(w.rc, -ECANCELED);
}

/* A shield over a task the loop closes under leaks nothing. */
static int forever(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(3600);
}

static void test_shield_over_task_closed_with_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct reports rep = {0};
  corio_loop *loop;
  corio_task *t;
  corio_future *outer;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(
      corio_spawn_ex(&t, forever, NULL, &(corio_spawn_options){.loop = loop}),
      0);
  assert_int_equal(corio_shield(corio_task_future(t), &outer), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_future_unref(outer);
  corio_task_unref(t);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

/* The loop closes while a group's close waits: CORIO_ECLOSED, not 0. */
struct closing_owner {
  int close_rc;
};

static int owner_body(void *arg, void **result) {
  struct closing_owner *o = arg;
  corio_taskgroup *g;

  (void)result;
  if (corio_taskgroup_open(&g) < 0 ||
      corio_taskgroup_spawn(g, NULL, forever, NULL) < 0)
    return -EPROTO;
  o->close_rc = corio_taskgroup_close(g, 0);
  (void)corio_taskgroup_free(g);
  return o->close_rc;
}

static int stop_soon(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0.01);
}

static void test_group_close_when_loop_closes(void **state) {
  struct closing_owner o = {1};
  struct reports rep = {0};
  corio_loop *loop;
  corio_task *owner, *main_task;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(corio_spawn_ex(&owner, owner_body, &o,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(corio_spawn_ex(&main_task, stop_soon, NULL,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(o.close_rc, CORIO_ECLOSED);
  corio_task_unref(owner);
  corio_task_unref(main_task);
  corio_loop_unref(loop);
}

static int gather_self(void *arg, void **result) {
  corio_awaitable me = CORIO_AWAIT_TASK(corio_current_task());
  corio_future *g;

  (void)arg;
  (void)result;
  assert_int_equal(corio_gather(&me, 1, NULL, 0), -EDEADLK);
  assert_int_equal(corio_gather_start(&g, &me, 1, 0), -EDEADLK);
  return 0;
}

static void test_gathering_oneself_is_refused(void **state) {
  (void)state;
  assert_int_equal(run_main(gather_self, NULL), 0);
}

/* wait holds what it waits on: its owner may drop it meanwhile. */
struct borrowed {
  corio_future *f;
  int rc;
  size_t n_done;
};

static int wait_on_borrowed(void *arg, void **result) {
  struct borrowed *b = arg;

  (void)result;
  b->rc = corio_wait(&b->f, 1, 0.01, CORIO_ALL_COMPLETED, NULL, &b->n_done,
                     NULL, NULL);
  return b->rc;
}

static int drop_while_waited(void *arg, void **result) {
  struct borrowed *b = arg;
  corio_task *t;

  (void)result;
  assert_int_equal(corio_future_create(NULL, &b->f), 0);
  t = spawn_or_fail(wait_on_borrowed, b);
  assert_int_equal(corio_sleep(0), 0);
  corio_future_unref(b->f); /* pending: the only reference but the wait's */
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_wait_holds_its_futures(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct borrowed b = {NULL, 1, 0};
  (void)state;

  assert_int_equal(run_main(drop_while_waited, &b), 0);
  assert_int_equal(b.rc, 0);
  assert_int_equal(b.n_done, 0); /* timed out, the future still pending */
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_eager_child_spawning_a_sibling),
      cmocka_unit_test(test_eager_child_cancelled_when_group_fails),
      cmocka_unit_test(test_cancel_during_wait_for_drain_not_lost),
      cmocka_unit_test(test_shield_over_task_closed_with_loop),
      cmocka_unit_test(test_group_close_when_loop_closes),
      cmocka_unit_test(test_gathering_oneself_is_refused),
      cmocka_unit_test(test_wait_holds_its_futures),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
