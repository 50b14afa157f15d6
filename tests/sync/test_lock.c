/* Lock: FIFO order, asyncio's release (the lock is free until the woken
 * waiter runs, and newcomers still queue behind it), release errors, and
 * DESIGN.md §4 rule 9 (a waiter cancelled when it was woken wakes the
 * next one). */
#include "corio/sync.h"
#include "sync_test.h"

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
  yield_n(2); /* hold it across suspensions */
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
  /* The first waiter is woken: a newcomer cannot take the lock. */
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

/* asyncio 3.11+: release frees the lock and wakes the first waiter, which
 * takes it when it runs. In between, locked() is false, yet nobody can
 * barge in: try_acquire fails, acquire queues behind the waiter, and
 * destroy is refused. (What the main task saw is checked after the run.) */
struct release_probe {
  struct shared s;
  int locked_after_release, try_rc, destroy_rc;
  int locked_once_woken_ran;
  int newcomer_rc;
};

static int hold_and_trace(void *arg, void **result) {
  struct worker *w = arg;

  (void)result;
  w->rc = corio_lock_acquire(&w->s->lock);
  if (w->rc < 0)
    return 0;
  trace_add(&w->s->trace, w->mark);
  yield_n(2); /* holds it across suspensions */
  trace_add(&w->s->trace, (char)(w->mark - 'a' + 'A'));
  return corio_lock_release(&w->s->lock);
}

static int release_then_probe(void *arg, void **result) {
  struct release_probe *p = arg;
  struct worker w = {&p->s, 'w', 1};
  corio_task *t;

  (void)result;
  assert_int_equal(corio_lock_acquire(&p->s.lock), 0);
  t = spawn_or_fail(hold_and_trace, &w);
  yield_n(1); /* it waits */
  assert_int_equal(corio_lock_release(&p->s.lock), 0);
  p->locked_after_release = corio_lock_locked(&p->s.lock);
  p->try_rc = corio_lock_try_acquire(&p->s.lock);
  if (p->try_rc == 0)
    (void)corio_lock_release(&p->s.lock);
  p->destroy_rc = corio_lock_destroy(&p->s.lock);
  /* A newcomer queues behind the woken waiter: it gets the lock after w
   * released it. */
  p->newcomer_rc = corio_lock_acquire(&p->s.lock);
  trace_add(&p->s.trace, 'n');
  p->locked_once_woken_ran = corio_lock_locked(&p->s.lock);
  (void)corio_lock_release(&p->s.lock);
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_locked_false_until_woken_waiter_runs(void **state) {
  struct release_probe p = {{CORIO_LOCK_INIT, {""}, 0}, -1, -1, -1, -1, -1};
  (void)state;

  assert_int_equal(run_main(release_then_probe, &p), 0);
  assert_int_equal(p.locked_after_release, 0);
  assert_int_equal(p.try_rc, -EBUSY);
  assert_int_equal(p.destroy_rc, -EBUSY);
  assert_int_equal(p.newcomer_rc, 0);
  assert_true(p.locked_once_woken_ran);
  assert_string_equal(p.s.trace.log, "wWn");
  assert_false(corio_lock_locked(&p.s.lock));
  assert_int_equal(corio_lock_destroy(&p.s.lock), 0);
}

/* A woken waiter cancelled before it ran wakes the next one when it runs
 * (asyncio: `if not self._locked: self._wake_up_first()`); the lock stays
 * free until that one runs. */
struct pass_probe {
  struct shared s;
  int locked_after_release, first_rc, first_done, second_done;
  int locked_after_first_ran, second_rc;
};

static int woken_then_cancelled(void *arg, void **result) {
  struct pass_probe *p = arg;
  struct worker first = {&p->s, 'x', 1}, second = {&p->s, 'y', 1};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_lock_acquire(&p->s.lock), 0);
  t1 = spawn_or_fail(hold_and_trace, &first);
  t2 = spawn_or_fail(hold_and_trace, &second);
  yield_n(1); /* both wait */
  /* Wakes t1; the lock is free until t1 runs. */
  assert_int_equal(corio_lock_release(&p->s.lock), 0);
  p->locked_after_release = corio_lock_locked(&p->s.lock);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  yield_n(1); /* t1 runs: cancelled, it wakes t2, which runs next */
  p->first_done = corio_task_done(t1);
  p->second_done = corio_task_done(t2);
  p->locked_after_first_ran = corio_lock_locked(&p->s.lock);
  assert_int_equal(corio_await(t1, NULL), 0); /* its own outcome is 0 */
  assert_int_equal(corio_await(t2, NULL), 0);
  p->first_rc = first.rc;
  p->second_rc = second.rc;
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_cancelled_woken_waiter_wakes_next(void **state) {
  struct pass_probe p = {{CORIO_LOCK_INIT, {""}, 0}, -1, 1, -1, -1, -1, 1};
  (void)state;

  assert_int_equal(run_main(woken_then_cancelled, &p), 0);
  assert_int_equal(p.locked_after_release, 0);
  assert_true(p.first_done);
  assert_false(p.second_done);
  assert_int_equal(p.locked_after_first_ran, 0);
  assert_int_equal(p.first_rc, -ECANCELED);
  assert_int_equal(p.second_rc, 0);
  assert_string_equal(p.s.trace.log, "yY");
  assert_false(corio_lock_locked(&p.s.lock));
  assert_int_equal(corio_lock_destroy(&p.s.lock), 0);
}

/* Closed with the loop: a waiter woken for the lock (released from
 * outside the stopped loop) and closed before it ran gets CORIO_ECLOSED
 * without the lock and wakes the next, which is closed the same way: the
 * lock ends free, with nobody in line. */
struct closing_waiter {
  corio_lock *lock;
  int rc;
};

static int acquire_until_closed(void *arg, void **result) {
  struct closing_waiter *w = arg;

  (void)result;
  w->rc = corio_lock_acquire(w->lock);
  return 0;
}

static int hold_with_two_waiting(void *arg, void **result) {
  struct closing_waiter *w = arg;

  (void)result;
  assert_int_equal(corio_lock_acquire(w[0].lock), 0);
  for (int i = 0; i < 2; i++)
    corio_task_unref(spawn_or_fail(acquire_until_closed, &w[i]));
  yield_n(2); /* both wait; the lock stays held when this task returns */
  return 0;
}

static void test_woken_waiter_closed_with_loop_wakes_next(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_lock lock = CORIO_LOCK_INIT;
  struct closing_waiter w[2] = {{&lock, 1}, {&lock, 1}};
  struct reports rep = {0};
  corio_loop *loop;
  corio_task *main_task;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(corio_spawn_ex(&main_task, hold_with_two_waiting, w,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  assert_int_equal(corio_lock_release(&lock), 0); /* wakes w[0] */
  assert_false(corio_lock_locked(&lock));
  assert_int_equal(corio_lock_destroy(&lock), -EBUSY);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(rep.count, 2); /* both destroyed while pending */
  corio_task_unref(main_task);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
  assert_int_equal(w[0].rc, CORIO_ECLOSED);
  assert_int_equal(w[1].rc, CORIO_ECLOSED);
  assert_false(corio_lock_locked(&lock));
  assert_int_equal(corio_lock_try_acquire(&lock), 0);
  assert_int_equal(corio_lock_release(&lock), 0);
  assert_int_equal(corio_lock_destroy(&lock), 0);
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
      cmocka_unit_test(test_locked_false_until_woken_waiter_runs),
      cmocka_unit_test(test_cancelled_woken_waiter_wakes_next),
      cmocka_unit_test(test_woken_waiter_closed_with_loop_wakes_next),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_cancelled_waiters_never_block_the_next),
      cmocka_unit_test(test_mutual_exclusion),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
