/* Condition: wait needs the lock and holds it again when it returns (also
 * when cancelled), except with CORIO_ECLOSED (its task closed with the
 * loop: never held, on every path); notify(n) wakes n waiters in FIFO
 * order; a waiter cancelled when notified passes the notification on. */
#include "corio/sync.h"
#include "sync_test.h"

struct box {
  corio_condition cond;
  struct trace trace;
  int items;
};

struct consumer {
  struct box *b;
  char mark;
  int rc;
  int held_after; /* the lock was held when wait returned */
};

static int has_item(void *arg) { return ((struct box *)arg)->items > 0; }

static int consume(void *arg, void **result) {
  struct consumer *c = arg;
  corio_lock *lock = corio_condition_lock(&c->b->cond);
  int rc;

  (void)result;
  assert_int_equal(corio_lock_acquire(lock), 0);
  rc = corio_condition_wait_for(&c->b->cond, has_item, c->b);
  c->rc = rc;
  c->held_after = corio_lock_locked(lock);
  if (rc == 0) {
    c->b->items--;
    trace_add(&c->b->trace, c->mark);
  }
  assert_int_equal(corio_lock_release(lock), 0);
  return rc;
}

static int produce(struct box *b, int n, int notify_all) {
  corio_lock *lock = corio_condition_lock(&b->cond);

  assert_int_equal(corio_lock_acquire(lock), 0);
  b->items += n;
  if (notify_all)
    assert_int_equal(corio_condition_notify_all(&b->cond), 0);
  else
    assert_int_equal(corio_condition_notify(&b->cond, n), 0);
  return corio_lock_release(lock);
}

static int notify_in_order(void *arg, void **result) {
  struct box *b = arg;
  struct consumer c[3] = {{b, 'a', 1, 0}, {b, 'b', 1, 0}, {b, 'c', 1, 0}};
  corio_task *t[3];

  (void)result;
  for (int i = 0; i < 3; i++)
    t[i] = spawn_or_fail(consume, &c[i]);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_condition_destroy(&b->cond), -EBUSY);
  assert_int_equal(produce(b, 2, 0), 0);
  yield_n(3); /* the two notified take the lock in turn and leave */
  assert_string_equal(b->trace.log, "ab");
  assert_false(corio_task_done(t[2]));
  assert_int_equal(produce(b, 1, 1), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    assert_true(c[i].held_after);
    corio_task_unref(t[i]);
  }
  return 0;
}

static void test_notify_wakes_in_fifo_order(void **state) {
  struct box b = {CORIO_CONDITION_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(notify_in_order, &b), 0);
  assert_string_equal(b.trace.log, "abc");
  assert_int_equal(corio_condition_destroy(&b.cond), 0);
}

/* Cancelled while waiting, with the lock held by another task at that
 * moment: wait returns -ECANCELED only once it holds the lock again. */
static int cancel_then_relock(void *arg, void **result) {
  struct box *b = arg;
  struct consumer c = {b, 'x', 1, 0};
  corio_lock *lock = corio_condition_lock(&b->cond);
  corio_task *t;

  (void)result;
  t = spawn_or_fail(consume, &c);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_lock_acquire(lock), 0);
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  yield_n(3);
  assert_false(corio_task_done(t)); /* waits for the lock */
  assert_int_equal(corio_lock_release(lock), 0);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(c.rc, -ECANCELED);
  assert_true(c.held_after);
  assert_false(corio_lock_locked(lock));
  corio_task_unref(t);
  return 0;
}

static void test_cancelled_wait_holds_lock_again(void **state) {
  struct box b = {CORIO_CONDITION_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(cancel_then_relock, &b), 0);
}

/* Rule 9: notified, then cancelled before it ran: the notification goes
 * to the next waiter. */
static int notification_passed_on(void *arg, void **result) {
  struct box *b = arg;
  struct consumer c1 = {b, 'x', 1, 0}, c2 = {b, 'y', 1, 0};
  corio_lock *lock = corio_condition_lock(&b->cond);
  corio_task *t1, *t2;

  (void)result;
  t1 = spawn_or_fail(consume, &c1);
  t2 = spawn_or_fail(consume, &c2);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_lock_acquire(lock), 0);
  b->items = 1;
  assert_int_equal(corio_condition_notify(&b->cond, 1), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  assert_int_equal(corio_lock_release(lock), 0);
  assert_int_equal(corio_await(t1, NULL), -ECANCELED);
  assert_int_equal(corio_await(t2, NULL), 0);
  assert_int_equal(b->items, 0);
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_cancelled_waiter_passes_notification_on(void **state) {
  struct box b = {CORIO_CONDITION_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(notification_passed_on, &b), 0);
  assert_string_equal(b.trace.log, "y");
}

/* A condition on a lock of the caller's. */
static int shared_lock(void *arg, void **result) {
  corio_lock *lock = arg;
  corio_condition cond;

  (void)result;
  corio_condition_init(&cond, lock);
  assert_ptr_equal(corio_condition_lock(&cond), lock);
  assert_int_equal(corio_condition_wait(&cond), CORIO_ENOTLOCKED);
  assert_int_equal(corio_condition_notify(&cond, 1), CORIO_ENOTLOCKED);
  assert_int_equal(corio_condition_notify_all(&cond), CORIO_ENOTLOCKED);
  assert_int_equal(corio_lock_acquire(lock), 0);
  assert_int_equal(corio_condition_notify(&cond, -1), -EINVAL);
  assert_int_equal(corio_condition_notify_all(&cond), 0);
  assert_int_equal(corio_lock_release(lock), 0);
  return corio_condition_destroy(&cond);
}

/* Notified but not holding the lock again yet: the condition (whose own
 * lock it will take) is still in use. */
static int destroy_while_relocking(void *arg, void **result) {
  struct box *b = arg;
  struct consumer c = {b, 'x', 1, 0};
  corio_lock *lock = corio_condition_lock(&b->cond);
  corio_task *t;

  (void)result;
  t = spawn_or_fail(consume, &c);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_lock_acquire(lock), 0);
  b->items = 1;
  assert_int_equal(corio_condition_notify(&b->cond, 1), 0);
  assert_int_equal(corio_lock_release(lock), 0);
  assert_int_equal(corio_condition_destroy(&b->cond), -EBUSY);
  assert_int_equal(corio_await(t, NULL), 0);
  assert_int_equal(corio_condition_destroy(&b->cond), 0);
  corio_task_unref(t);
  return 0;
}

static void test_destroy_refused_until_waiters_are_out(void **state) {
  struct box b = {CORIO_CONDITION_INIT, {""}, 0};
  (void)state;

  assert_int_equal(run_main(destroy_while_relocking, &b), 0);
}

/* ---- closed with the loop ---------------------------------------------- */

/* A task closed with its loop cannot wait for the lock, so wait returns
 * CORIO_ECLOSED without it on every path, even when the lock is free at
 * that moment. The waiter records what it saw; the main task sets the
 * scene and returns, `before_close` runs outside the stopped loop, then
 * the loop is closed with the waiter pending. */
struct closing {
  corio_condition cond;
  int rc;         /* what wait returned */
  int held;       /* the lock was locked when wait returned */
  int keep_lock;  /* the main task returns holding the lock */
  int waiter_out; /* the waiter had returned before the close */
};

static int wait_until_closed(void *arg, void **result) {
  struct closing *c = arg;
  corio_lock *lock = corio_condition_lock(&c->cond);

  (void)result;
  assert_int_equal(corio_lock_acquire(lock), 0);
  c->rc = corio_condition_wait(&c->cond);
  c->held = corio_lock_locked(lock);
  if (c->rc != CORIO_ECLOSED)
    assert_int_equal(corio_lock_release(lock), 0);
  return 0;
}

/* Spawns the waiter; with keep_lock, notifies it and keeps the lock, so
 * that the waiter runs and waits for the lock. */
static int set_scene(void *arg, void **result) {
  struct closing *c = arg;
  corio_lock *lock = corio_condition_lock(&c->cond);

  (void)result;
  corio_task_unref(spawn_or_fail(wait_until_closed, c));
  yield_n(1); /* it waits for a notification */
  if (c->keep_lock) {
    assert_int_equal(corio_lock_acquire(lock), 0);
    assert_int_equal(corio_condition_notify(&c->cond, 1), 0);
    yield_n(2); /* it runs, and waits for the lock */
  }
  return 0;
}

static void notify_from_outside(void *arg) {
  struct closing *c = arg;
  corio_lock *lock = corio_condition_lock(&c->cond);

  assert_int_equal(corio_lock_acquire(lock), 0);
  assert_int_equal(corio_condition_notify(&c->cond, 1), 0);
  assert_int_equal(corio_lock_release(lock), 0);
}

/* The main task's lock, released from outside: the waiter is woken for
 * it and closed before it runs. */
static void release_from_outside(void *arg) {
  struct closing *c = arg;

  assert_int_equal(corio_lock_release(corio_condition_lock(&c->cond)), 0);
}

static void run_then_close(struct closing *c, void (*before_close)(void *)) {
  corio_test_usage before = corio_test_usage_now();
  struct reports rep = {0};
  corio_loop *loop;
  corio_task *main_task;

  c->rc = c->held = 1;
  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(corio_spawn_ex(&main_task, set_scene, c,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  c->waiter_out = c->rc != 1;
  if (before_close)
    before_close(c);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(rep.count, 1); /* the waiter, destroyed while pending */
  corio_task_unref(main_task);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

static void test_closed_waiting_for_notify_returns_without_lock(void **state) {
  struct closing c = {.cond = CORIO_CONDITION_INIT};
  (void)state;

  /* Not notified: the lock is free when it is closed. */
  run_then_close(&c, NULL);
  assert_false(c.waiter_out);
  assert_int_equal(c.rc, CORIO_ECLOSED);
  assert_false(c.held);
  assert_false(corio_lock_locked(corio_condition_lock(&c.cond)));
  assert_int_equal(corio_condition_destroy(&c.cond), 0);

  /* Notified, and closed before it ran. */
  corio_condition_init(&c.cond, NULL);
  run_then_close(&c, notify_from_outside);
  assert_false(c.waiter_out);
  assert_int_equal(c.rc, CORIO_ECLOSED);
  assert_false(c.held);
  assert_false(corio_lock_locked(corio_condition_lock(&c.cond)));
  assert_int_equal(corio_condition_destroy(&c.cond), 0);
}

static void test_closed_relocking_returns_without_lock(void **state) {
  struct closing c = {.cond = CORIO_CONDITION_INIT, .keep_lock = 1};
  corio_lock *lock = corio_condition_lock(&c.cond);
  (void)state;

  /* Notified, and waiting for the lock, which the main task kept. */
  run_then_close(&c, NULL);
  assert_false(c.waiter_out);
  assert_int_equal(c.rc, CORIO_ECLOSED);
  assert_int_equal(corio_lock_release(lock), 0); /* the main task's */
  assert_false(corio_lock_locked(lock));
  assert_int_equal(corio_condition_destroy(&c.cond), 0);

  /* Woken for the lock (released from outside), closed before it ran: it
   * does not keep it. */
  corio_condition_init(&c.cond, NULL);
  run_then_close(&c, release_from_outside);
  assert_false(c.waiter_out);
  assert_int_equal(c.rc, CORIO_ECLOSED);
  assert_false(c.held);
  assert_false(corio_lock_locked(lock));
  assert_int_equal(corio_lock_release(lock), CORIO_ENOTLOCKED);
  assert_int_equal(corio_condition_destroy(&c.cond), 0);
}

static void test_misuse_and_given_lock(void **state) {
  corio_lock lock = CORIO_LOCK_INIT;
  corio_condition cond = CORIO_CONDITION_INIT;
  (void)state;

  assert_int_equal(run_main(shared_lock, &lock), 0);
  assert_int_equal(corio_lock_acquire(corio_condition_lock(&cond)), 0);
  assert_int_equal(corio_condition_wait(&cond), CORIO_ENOTASK);
  assert_true(corio_lock_locked(corio_condition_lock(&cond)));
  assert_int_equal(corio_condition_wait(NULL), -EINVAL);
  assert_int_equal(corio_condition_wait_for(&cond, NULL, NULL), -EINVAL);
  assert_null(corio_condition_lock(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notify_wakes_in_fifo_order),
      cmocka_unit_test(test_cancelled_wait_holds_lock_again),
      cmocka_unit_test(test_cancelled_waiter_passes_notification_on),
      cmocka_unit_test(test_destroy_refused_until_waiters_are_out),
      cmocka_unit_test(test_closed_waiting_for_notify_returns_without_lock),
      cmocka_unit_test(test_closed_relocking_returns_without_lock),
      cmocka_unit_test(test_misuse_and_given_lock),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
