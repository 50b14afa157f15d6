/* Lock: FIFO hand-off, release errors, and DESIGN.md §4 rule 9 (a waiter
 * cancelled when the lock was handed to it passes it on). */
#include "../task/task_test.h"
#include "corio/sync.h"

struct shared {
  corio_lock lock;
  struct trace trace;
  int inside; /* tasks inside the critical section */
};

struct worker {
  struct shared *s;
  char mark;
  int rc;
};

static int locked_work(void *arg, void **result) {
  struct worker *w = arg;
  int rc;

  (void)result;
  w->rc = rc = corio_lock_acquire(&w->s->lock);
  if (rc < 0)
    return rc;
  assert_int_equal(w->s->inside++, 0);
  trace_add(&w->s->trace, w->mark);
  assert_int_equal(corio_sleep(0.001), 0); /* hold it across a suspension */
  w->s->inside--;
  return corio_lock_release(&w->s->lock);
}

static int fifo_order(void *arg, void **result) {
  struct shared *s = arg;
  struct worker w[4] = {{s, 'a', 1}, {s, 'b', 1}, {s, 'c', 1}, {s, 'd', 1}};
  corio_task *t[4];

  (void)result;
  /* Held by main while all four queue up, in spawn order. */
  assert_int_equal(corio_lock_acquire(&s->lock), 0);
  for (int i = 0; i < 4; i++)
    t[i] = spawn_or_fail(locked_work, &w[i]);
  assert_int_equal(corio_sleep(0), 0);
  assert_true(corio_lock_locked(&s->lock));
  assert_int_equal(corio_lock_try_acquire(&s->lock), -EBUSY);
  assert_int_equal(corio_lock_destroy(&s->lock), -EBUSY);
  assert_int_equal(corio_lock_release(&s->lock), 0);
  /* Handed over: still locked, and a newcomer cannot take it. */
  assert_true(corio_lock_locked(&s->lock));
  assert_int_equal(corio_lock_try_acquire(&s->lock), -EBUSY);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  assert_false(corio_lock_locked(&s->lock));
  return 0;
}

static void test_fifo_hand_off(void **state) {
  struct shared s = {CORIO_LOCK_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(fifo_order, &s), 0);
  assert_string_equal(s.trace.log, "abcd");
  assert_int_equal(corio_lock_destroy(&s.lock), 0);
}

static void test_misuse(void **state) {
  corio_lock lock;
  (void)state;

  corio_lock_init(&lock);
  assert_false(corio_lock_locked(&lock));
  assert_int_equal(corio_lock_release(&lock), CORIO_ENOTLOCKED);
  /* A free lock can be taken outside a task; waiting for it cannot. */
  assert_int_equal(corio_lock_acquire(&lock), 0);
  assert_int_equal(corio_lock_acquire(&lock), CORIO_ENOTASK);
  assert_int_equal(corio_lock_release(&lock), 0);
  assert_int_equal(corio_lock_release(&lock), CORIO_ENOTLOCKED);
  assert_int_equal(corio_lock_acquire(NULL), -EINVAL);
  assert_int_equal(corio_lock_release(NULL), -EINVAL);
  assert_int_equal(corio_lock_try_acquire(NULL), -EINVAL);
  assert_int_equal(corio_lock_destroy(NULL), -EINVAL);
  assert_false(corio_lock_locked(NULL));
  corio_lock_init(NULL);
}

/* ---- cancellation ----------------------------------------------------------
 */

static int handed_then_cancelled(void *arg, void **result) {
  struct shared *s = arg;
  struct worker first = {s, 'x', 1}, second = {s, 'y', 1};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_lock_acquire(&s->lock), 0);
  t1 = spawn_or_fail(locked_work, &first);
  t2 = spawn_or_fail(locked_work, &second);
  assert_int_equal(corio_sleep(0), 0); /* both wait */
  /* The lock goes to t1, which is cancelled before it can run. */
  assert_int_equal(corio_lock_release(&s->lock), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  assert_int_equal(corio_await(t1, NULL), -ECANCELED);
  assert_int_equal(first.rc, -ECANCELED);
  /* t1 passed it on: t2 got it and released it. */
  assert_int_equal(corio_await(t2, NULL), 0);
  assert_int_equal(second.rc, 0);
  assert_false(corio_lock_locked(&s->lock));
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static int cancelled_while_waiting(void *arg, void **result) {
  struct shared *s = arg;
  struct worker first = {s, 'x', 1}, second = {s, 'y', 1};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_lock_acquire(&s->lock), 0);
  t1 = spawn_or_fail(locked_work, &first);
  t2 = spawn_or_fail(locked_work, &second);
  assert_int_equal(corio_sleep(0), 0);
  /* Cancelled in the queue: it leaves it, and never holds the lock. */
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  assert_int_equal(corio_await(t1, NULL), -ECANCELED);
  assert_true(corio_lock_locked(&s->lock));
  assert_int_equal(corio_lock_release(&s->lock), 0);
  assert_int_equal(corio_await(t2, NULL), 0);
  assert_false(corio_lock_locked(&s->lock));
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_cancelled_waiters_never_block_the_next(void **state) {
  struct shared s = {CORIO_LOCK_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(handed_then_cancelled, &s), 0);
  assert_string_equal(s.trace.log, "y");
  s.trace.log[0] = 0;
  assert_int_equal(run_main(cancelled_while_waiting, &s), 0);
  assert_string_equal(s.trace.log, "y");
}

/* Many tasks, many rounds: mutual exclusion holds. */
struct many {
  corio_lock lock;
  int inside, total;
};

static int hammer(void *arg, void **result) {
  struct many *m = arg;

  (void)result;
  for (int i = 0; i < 50; i++) {
    assert_int_equal(corio_lock_acquire(&m->lock), 0);
    assert_int_equal(m->inside++, 0);
    m->total++;
    if (i % 3 == 0)
      assert_int_equal(corio_sleep(0), 0);
    m->inside--;
    assert_int_equal(corio_lock_release(&m->lock), 0);
  }
  return 0;
}

static int run_hammer(void *arg, void **result) {
  corio_task *t[20];

  (void)result;
  for (int i = 0; i < 20; i++)
    t[i] = spawn_or_fail(hammer, arg);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  return 0;
}

static void test_mutual_exclusion(void **state) {
  struct many m = {CORIO_LOCK_INIT, 0, 0};
  (void)state;

  assert_int_equal(run_main(run_hammer, &m), 0);
  assert_int_equal(m.total, 20 * 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_hand_off),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_cancelled_waiters_never_block_the_next),
      cmocka_unit_test(test_mutual_exclusion),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
