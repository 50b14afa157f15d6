/* Barrier: arrival indices, reuse over rounds, abort and reset, broken
 * barrier errors, a cancelled waiter breaking it, destroy refused while a
 * woken waiter has not run, and waiters closed with their loop. */
#include "corio/sync.h"
#include "sync_test.h"

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

/* A task blocked while the last round drains is woken when the last one
 * leaves; it reads the barrier again when it runs, so destroy must be
 * refused until then. The barrier is on the heap and freed as soon as
 * destroy allows it: a destroy that allowed it too early is a
 * use-after-free for AddressSanitizer and Valgrind. */
struct woken_probe {
  corio_barrier *barrier;
  int blocked_woken; /* the last party left; the blocked one not run yet */
  int destroy_rc;    /* destroy at that moment */
  int blocked_rc;
};

static int destroy_while_blocked_woken(void *arg, void **result) {
  struct woken_probe *w = arg;
  corio_barrier *b = w->barrier;
  struct party a = {b, 1, {-1, -1, -1}, 1}, t = a, c = a;
  corio_task *ta, *tt, *tc;

  (void)result;
  ta = spawn_or_fail(attend, &a);
  yield_n(1); /* a waits in the round */
  /* tt trips the round and leaves; tc comes while it drains: blocked. */
  tt = spawn_or_fail(attend, &t);
  tc = spawn_or_fail(attend, &c);
  yield_n(1);
  /* a runs and leaves, waking tc, which has not run yet. */
  yield_n(1);
  w->blocked_woken =
      corio_task_done(ta) && corio_task_done(tt) && !corio_task_done(tc);
  w->destroy_rc = corio_barrier_destroy(b);
  if (w->destroy_rc == 0) {
    free(b);
    w->barrier = NULL;
  }
  /* Else tc would wait alone in the next round. */
  if (w->barrier)
    corio_barrier_abort(b);
  assert_int_equal(corio_await(tc, NULL), CORIO_EBROKENBARRIER);
  w->blocked_rc = c.rc;
  for (int i = 0; i < 2; i++)
    assert_int_equal(corio_await(i ? tt : ta, NULL), 0);
  corio_task_unref(ta);
  corio_task_unref(tt);
  corio_task_unref(tc);
  return 0;
}

static void test_destroy_refused_while_woken_waiter_not_run(void **state) {
  struct woken_probe w = {malloc(sizeof(corio_barrier)), 0, 1, 1};
  (void)state;

  assert_non_null(w.barrier);
  assert_int_equal(corio_barrier_init(w.barrier, 2), 0);
  assert_int_equal(run_main(destroy_while_blocked_woken, &w), 0);
  assert_true(w.blocked_woken);
  assert_int_equal(w.destroy_rc, -EBUSY);
  assert_int_equal(w.blocked_rc, CORIO_EBROKENBARRIER);
  assert_int_equal(corio_barrier_destroy(w.barrier), 0);
  free(w.barrier);
}

/* A waiter whose task is closed with its loop (its wait returns
 * CORIO_ECLOSED) leaves the round once: the barrier is then idle (destroy
 * works), broken as by a cancelled waiter, and works again after reset. */
static int wait_in_round(void *arg, void **result) {
  (void)result;
  return corio_barrier_wait(arg, NULL) == CORIO_ECLOSED ? 0 : -EPROTO;
}

static int leave_waiter_pending(void *arg, void **result) {
  (void)result;
  corio_task_unref(spawn_or_fail(wait_in_round, arg));
  yield_n(3);
  return corio_barrier_n_waiting(arg) == 1 ? 0 : -EPROTO;
}

struct next_round {
  corio_barrier *barrier;
  int done_in_time; /* both parties passed within a few iterations */
};

static int two_parties(void *arg, void **result) {
  struct next_round *n = arg;
  struct party p1 = {n->barrier, 1, {-1, -1, -1}, 1}, p2 = p1;
  corio_task *t1, *t2;

  (void)result;
  t1 = spawn_or_fail(attend, &p1);
  t2 = spawn_or_fail(attend, &p2);
  yield_n(4);
  n->done_in_time = corio_task_done(t1) && corio_task_done(t2) && p1.rc == 0 &&
                    p2.rc == 0 && p1.index[0] + p2.index[0] == 1;
  if (!n->done_in_time)
    corio_barrier_abort(n->barrier); /* release them: no hang */
  (void)corio_await(t1, NULL);
  (void)corio_await(t2, NULL);
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_waiter_closed_with_loop_leaves_once(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_barrier b = CORIO_BARRIER_INIT(2);
  struct next_round n = {&b, 0};
  struct reports rep = {0};
  corio_loop *loop;
  corio_task *main_task;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(corio_spawn_ex(&main_task, leave_waiter_pending, &b,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(rep.count, 1); /* the waiter, destroyed while pending */
  corio_task_unref(main_task);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);

  assert_int_equal(corio_barrier_n_waiting(&b), 0);
  assert_true(corio_barrier_broken(&b));
  assert_int_equal(corio_barrier_destroy(&b), 0);
  corio_barrier_reset(&b);
  assert_false(corio_barrier_broken(&b));
  assert_int_equal(run_main(two_parties, &n), 0);
  assert_true(n.done_in_time);
  assert_int_equal(corio_barrier_destroy(&b), 0);
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
      cmocka_unit_test(test_destroy_refused_while_woken_waiter_not_run),
      cmocka_unit_test(test_waiter_closed_with_loop_leaves_once),
      cmocka_unit_test(test_misuse),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
