/* Barrier: arrival indices, reuse over rounds, abort and reset, broken
 * barrier errors, and a cancelled waiter breaking it. */
#include "../task/task_test.h"
#include "corio/sync.h"

struct party {
  corio_barrier *barrier;
  int rounds;
  int index[3];
  int rc;
};

static int attend(void *arg, void **result) {
  struct party *p = arg;

  (void)result;
  for (int r = 0; r < p->rounds; r++) {
    p->rc = corio_barrier_wait(p->barrier, &p->index[r]);
    if (p->rc < 0)
      return p->rc;
  }
  return 0;
}

static int rounds(void *arg, void **result) {
  corio_barrier *b = arg;
  struct party p[3];
  corio_task *t[3];

  (void)result;
  for (int i = 0; i < 3; i++)
    p[i] = (struct party){b, 3, {-1, -1, -1}, 1};
  t[0] = spawn_or_fail(attend, &p[0]);
  t[1] = spawn_or_fail(attend, &p[1]);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_barrier_n_waiting(b), 2);
  assert_int_equal(corio_barrier_destroy(b), -EBUSY);
  t[2] = spawn_or_fail(attend, &p[2]);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  /* Every round, each index 0..2 went to exactly one party. */
  for (int r = 0; r < 3; r++) {
    int seen = 0;
    for (int i = 0; i < 3; i++)
      seen |= 1 << p[i].index[r];
    assert_int_equal(seen, 7);
  }
  /* Round one: arrival order is spawn order. */
  assert_int_equal(p[0].index[0], 0);
  assert_int_equal(p[2].index[0], 2);
  return 0;
}

static void test_indices_over_rounds(void **state) {
  corio_barrier b = CORIO_BARRIER_INIT(3);
  (void)state;

  assert_int_equal(corio_barrier_parties(&b), 3);
  assert_int_equal(run_main(rounds, &b), 0);
  assert_int_equal(corio_barrier_n_waiting(&b), 0);
  assert_false(corio_barrier_broken(&b));
  assert_int_equal(corio_barrier_destroy(&b), 0);
}

static int abort_and_reset(void *arg, void **result) {
  corio_barrier *b = arg;
  struct party p = {b, 1, {-1, -1, -1}, 1};
  corio_task *t;

  (void)result;
  t = spawn_or_fail(attend, &p);
  assert_int_equal(corio_sleep(0), 0);
  corio_barrier_abort(b);
  assert_int_equal(corio_await(t, NULL), CORIO_EBROKENBARRIER);
  assert_true(corio_barrier_broken(b));
  assert_int_equal(corio_barrier_wait(b, NULL), CORIO_EBROKENBARRIER);
  corio_task_unref(t);

  corio_barrier_reset(b);
  assert_false(corio_barrier_broken(b));
  /* Reset with a waiter: it fails, the barrier works afterwards. */
  t = spawn_or_fail(attend, &p);
  assert_int_equal(corio_sleep(0), 0);
  corio_barrier_reset(b);
  assert_int_equal(corio_await(t, NULL), CORIO_EBROKENBARRIER);
  corio_task_unref(t);
  assert_int_equal(corio_sleep(0), 0);
  p.rc = 1;
  t = spawn_or_fail(attend, &p);
  assert_int_equal(corio_barrier_wait(b, &p.index[1]), 0);
  assert_int_equal(corio_await(t, NULL), 0);
  assert_int_equal(p.index[0] + p.index[1], 1);
  corio_task_unref(t);
  return 0;
}

static void test_abort_and_reset(void **state) {
  corio_barrier b;
  (void)state;

  assert_int_equal(corio_barrier_init(&b, 2), 0);
  assert_int_equal(run_main(abort_and_reset, &b), 0);
}

/* A waiter cancelled while the round fills breaks the barrier. */
static int cancel_breaks(void *arg, void **result) {
  corio_barrier *b = arg;
  struct party p1 = {b, 1, {-1, -1, -1}, 1}, p2 = p1;
  corio_task *t1, *t2;

  (void)result;
  t1 = spawn_or_fail(attend, &p1);
  t2 = spawn_or_fail(attend, &p2);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  assert_int_equal(corio_await(t1, NULL), -ECANCELED);
  assert_int_equal(corio_await(t2, NULL), CORIO_EBROKENBARRIER);
  assert_true(corio_barrier_broken(b));
  assert_int_equal(corio_barrier_n_waiting(b), 0);
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_cancelled_waiter_breaks_barrier(void **state) {
  corio_barrier b = CORIO_BARRIER_INIT(3);
  (void)state;

  assert_int_equal(run_main(cancel_breaks, &b), 0);
}

/* A task arriving while the last round drains waits for the next one:
 * it is not counted in the round that tripped. */
static int drain_then_next(void *arg, void **result) {
  corio_barrier *b = arg;
  struct party p[3];
  corio_task *t[3];
  int idx = -1;

  (void)result;
  for (int i = 0; i < 3; i++)
    p[i] = (struct party){b, 1, {-1, -1, -1}, 1};
  t[0] = spawn_or_fail(attend, &p[0]);
  t[1] = spawn_or_fail(attend, &p[1]);
  /* t0 waits, t1 trips the round and leaves; t0 is woken, not gone. */
  assert_int_equal(corio_sleep(0), 0);
  assert_true(corio_task_done(t[1]));
  assert_false(corio_task_done(t[0]));
  assert_int_equal(corio_barrier_n_waiting(b), 0); /* draining */
  t[2] = spawn_or_fail(attend, &p[2]);
  /* Blocks until t0 has left, then makes the next round with t2. */
  assert_int_equal(corio_barrier_wait(b, &idx), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  assert_int_equal(p[0].index[0] + p[1].index[0], 1);
  assert_int_equal(idx + p[2].index[0], 1);
  return 0;
}

static void test_arrival_during_drain_waits(void **state) {
  corio_barrier b = CORIO_BARRIER_INIT(2);
  (void)state;

  assert_int_equal(run_main(drain_then_next, &b), 0);
  (void)b;
}

/* The break happens at the cancellation, not when the cancelled task next
 * runs: a newcomer cannot trip a round that counts the cancelled task, and
 * a reset right after the cancellation sticks. */
static int cancel_then_arrive(void *arg, void **result) {
  corio_barrier *b = arg;
  struct party a = {b, 1, {-1, -1, -1}, 1}, w = a;
  corio_task *ta, *tw;

  (void)result;
  ta = spawn_or_fail(attend, &a);
  tw = spawn_or_fail(attend, &w);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(tw, NULL), 1);
  assert_true(corio_barrier_broken(b));
  assert_int_equal(corio_barrier_wait(b, NULL), CORIO_EBROKENBARRIER);
  assert_int_equal(corio_await(ta, NULL), CORIO_EBROKENBARRIER);
  assert_int_equal(corio_await(tw, NULL), -ECANCELED);
  corio_task_unref(ta);
  corio_task_unref(tw);
  /* Cancel, then reset before the cancelled task runs: reset wins. */
  ta = spawn_or_fail(attend, &a);
  tw = spawn_or_fail(attend, &w);
  corio_barrier_reset(b);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(tw, NULL), 1);
  corio_barrier_reset(b);
  assert_int_equal(corio_await(tw, NULL), -ECANCELED);
  assert_int_equal(corio_await(ta, NULL), CORIO_EBROKENBARRIER);
  assert_false(corio_barrier_broken(b));
  corio_task_unref(ta);
  corio_task_unref(tw);
  return 0;
}

static void test_cancel_breaks_at_once(void **state) {
  corio_barrier b = CORIO_BARRIER_INIT(3);
  (void)state;

  assert_int_equal(run_main(cancel_then_arrive, &b), 0);
}

static void test_misuse(void **state) {
  corio_barrier b;
  (void)state;

  assert_int_equal(corio_barrier_init(&b, 0), -EINVAL);
  assert_int_equal(corio_barrier_init(NULL, 2), -EINVAL);
  assert_int_equal(corio_barrier_init(&b, 2), 0);
  assert_int_equal(corio_barrier_wait(&b, NULL), CORIO_ENOTASK);
  assert_int_equal(corio_barrier_n_waiting(&b), 0);
  assert_int_equal(corio_barrier_init(&b, 1), 0);
  /* One party: passes at once, even outside a task. */
  assert_int_equal(corio_barrier_wait(&b, NULL), 0);
  assert_int_equal(corio_barrier_wait(NULL, NULL), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_indices_over_rounds),
      cmocka_unit_test(test_abort_and_reset),
      cmocka_unit_test(test_cancelled_waiter_breaks_barrier),
      cmocka_unit_test(test_arrival_during_drain_waits),
      cmocka_unit_test(test_cancel_breaks_at_once),
      cmocka_unit_test(test_misuse),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
