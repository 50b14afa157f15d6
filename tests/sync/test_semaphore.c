/* Semaphore and bounded semaphore: limits, FIFO fairness (a newcomer never
 * overtakes a waiter, even one woken that has not run yet), the bound, and
 * rule 9 for permits. */
#include "corio/sync.h"
#include "sync_test.h"

struct pool {
  corio_semaphore sem;
  struct trace trace;
  int inside, max_inside;
};

struct user {
  struct pool *p;
  char mark;
  int rc;
};

static int use_permit(void *arg, void **result) {
  struct user *u = arg;

  (void)result;
  u->rc = corio_semaphore_acquire(&u->p->sem);
  if (u->rc < 0)
    return u->rc;
  trace_add(&u->p->trace, u->mark);
  if (++u->p->inside > u->p->max_inside)
    u->p->max_inside = u->p->inside;
  yield_n(2); /* hold it across suspensions */
  u->p->inside--;
  return corio_semaphore_release(&u->p->sem);
}

static int limited(void *arg, void **result) {
  struct pool *p = arg;
  struct user u[6];
  corio_task *t[6];

  (void)result;
  for (int i = 0; i < 6; i++) {
    u[i] = (struct user){p, (char)('a' + i), 1};
    t[i] = spawn_or_fail(use_permit, &u[i]);
  }
  for (int i = 0; i < 6; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  return 0;
}

static void test_limits_concurrency_in_order(void **state) {
  struct pool p = {CORIO_SEMAPHORE_INIT(2), {""}, 0, 0};
  (void)state;

  assert_int_equal(run_main(limited, &p), 0);
  assert_int_equal(p.max_inside, 2);
  assert_string_equal(p.trace.log, "abcdef");
  assert_int_equal(corio_semaphore_value(&p.sem), 2);
  assert_int_equal(corio_semaphore_destroy(&p.sem), 0);
}

/* A newcomer's try_acquire cannot take a permit released to a waiter. */
static int no_overtaking(void *arg, void **result) {
  struct pool *p = arg;
  struct user u = {p, 'w', 1};
  corio_task *t;

  (void)result;
  assert_int_equal(corio_semaphore_acquire(&p->sem), 0);
  assert_true(corio_semaphore_locked(&p->sem));
  t = spawn_or_fail(use_permit, &u);
  assert_int_equal(corio_sleep(0), 0); /* it waits */
  assert_int_equal(corio_semaphore_release(&p->sem), 0);
  assert_int_equal(corio_semaphore_value(&p->sem), 0);
  assert_int_equal(corio_semaphore_try_acquire(&p->sem), -EBUSY);
  assert_int_equal(corio_await(t, NULL), 0);
  assert_int_equal(corio_semaphore_value(&p->sem), 1);
  corio_task_unref(t);
  return 0;
}

static void test_newcomer_does_not_overtake(void **state) {
  struct pool p = {CORIO_SEMAPHORE_INIT(1), {""}, 0, 0};
  (void)state;

  assert_int_equal(run_main(no_overtaking, &p), 0);
}

/* Rule 9: a permit handed to a waiter cancelled at that moment goes on. */
static int permit_passed_on(void *arg, void **result) {
  struct pool *p = arg;
  struct user first = {p, 'x', 1}, second = {p, 'y', 1};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_semaphore_acquire(&p->sem), 0);
  t1 = spawn_or_fail(use_permit, &first);
  t2 = spawn_or_fail(use_permit, &second);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_semaphore_release(&p->sem), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  assert_int_equal(corio_await(t1, NULL), -ECANCELED);
  assert_int_equal(corio_await(t2, NULL), 0);
  assert_int_equal(second.rc, 0);
  assert_int_equal(corio_semaphore_value(&p->sem), 1);
  corio_task_unref(t1);
  corio_task_unref(t2);
  return 0;
}

static void test_cancelled_waiter_passes_permit_on(void **state) {
  struct pool p = {CORIO_SEMAPHORE_INIT(1), {""}, 0, 0};
  (void)state;

  assert_int_equal(run_main(permit_passed_on, &p), 0);
  assert_string_equal(p.trace.log, "y");
}

/* A waiter handed a permit and cancelled has yet to pass it on: the
 * semaphore is still in use until it has run. */
static int destroy_while_woken(void *arg, void **result) {
  struct pool *p = arg;
  struct user u = {p, 'w', 1};
  corio_task *t;

  (void)result;
  assert_int_equal(corio_semaphore_acquire(&p->sem), 0);
  t = spawn_or_fail(use_permit, &u);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_semaphore_release(&p->sem), 0);
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  assert_int_equal(corio_semaphore_destroy(&p->sem), -EBUSY);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(corio_semaphore_value(&p->sem), 1);
  assert_int_equal(corio_semaphore_destroy(&p->sem), 0);
  corio_task_unref(t);
  return 0;
}

static void test_destroy_refused_while_a_waiter_is_inside(void **state) {
  struct pool p = {CORIO_SEMAPHORE_INIT(1), {""}, 0, 0};
  (void)state;

  assert_int_equal(run_main(destroy_while_woken, &p), 0);
}

/* asyncio 3.12+: locked() is true while any waiter is in line, woken or
 * not, even if value > 0, so that a newcomer queues behind it; a waiter
 * leaving wakes as many more as there are permits. */
struct in_line_probe {
  struct pool p;
  int value_after_second_release, locked_after_second_release, try_rc;
  int newcomer_rc, value_at_end;
};

static int take_and_trace(void *arg, void **result) {
  struct user *u = arg;

  (void)result;
  u->rc = corio_semaphore_acquire(&u->p->sem);
  if (u->rc == 0)
    trace_add(&u->p->trace, u->mark);
  return 0;
}

static int two_releases_one_woken(void *arg, void **result) {
  struct in_line_probe *probe = arg;
  struct pool *p = &probe->p;
  struct user w = {p, 'w', 1};
  corio_task *t;

  (void)result;
  t = spawn_or_fail(take_and_trace, &w);
  yield_n(1); /* w waits: the value is 0 */
  /* The first release is for w, the second adds a free permit. */
  assert_int_equal(corio_semaphore_release(&p->sem), 0);
  assert_int_equal(corio_semaphore_release(&p->sem), 0);
  probe->value_after_second_release = corio_semaphore_value(&p->sem);
  probe->locked_after_second_release = corio_semaphore_locked(&p->sem);
  probe->try_rc = corio_semaphore_try_acquire(&p->sem);
  if (probe->try_rc == 0)
    (void)corio_semaphore_release(&p->sem);
  /* Behind w: suspends, and gets the free permit once w has run. */
  probe->newcomer_rc = corio_semaphore_acquire(&p->sem);
  trace_add(&p->trace, 'n');
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  probe->value_at_end = corio_semaphore_value(&p->sem);
  return 0;
}

static void test_locked_while_woken_waiter_in_line(void **state) {
  struct in_line_probe probe = {
      {CORIO_SEMAPHORE_INIT(0), {""}, 0, 0}, -1, -1, 1, 1, -1};
  (void)state;

  assert_int_equal(run_main(two_releases_one_woken, &probe), 0);
  assert_int_equal(probe.value_after_second_release, 1);
  assert_true(probe.locked_after_second_release);
  assert_int_equal(probe.try_rc, -EBUSY);
  assert_int_equal(probe.newcomer_rc, 0);
  assert_string_equal(probe.p.trace.log, "wn");
  assert_int_equal(probe.value_at_end, 0);
  assert_true(corio_semaphore_locked(&probe.p.sem));
  assert_int_equal(corio_semaphore_destroy(&probe.p.sem), 0);
}

static void test_bounded(void **state) {
  corio_semaphore sem = CORIO_BOUNDED_SEMAPHORE_INIT(2), zero;
  (void)state;

  assert_int_equal(corio_semaphore_release(&sem), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_semaphore_value(&sem), 2);
  assert_int_equal(corio_semaphore_try_acquire(&sem), 0);
  assert_int_equal(corio_semaphore_release(&sem), 0);
  assert_int_equal(corio_semaphore_release(&sem), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_bounded_semaphore_init(&zero, 0), 0);
  assert_int_equal(corio_semaphore_release(&zero), CORIO_ETOOMANYRELEASES);
  /* Unbounded: releases just add permits. */
  assert_int_equal(corio_semaphore_init(&sem, 0), 0);
  assert_int_equal(corio_semaphore_acquire(&sem), CORIO_ENOTASK);
  assert_int_equal(corio_semaphore_release(&sem), 0);
  assert_int_equal(corio_semaphore_release(&sem), 0);
  assert_int_equal(corio_semaphore_value(&sem), 2);
  assert_int_equal(corio_semaphore_init(&sem, -1), -EINVAL);
  assert_int_equal(corio_bounded_semaphore_init(NULL, 1), -EINVAL);
  assert_int_equal(corio_semaphore_acquire(NULL), -EINVAL);
  assert_int_equal(corio_semaphore_release(NULL), -EINVAL);
  assert_int_equal(corio_semaphore_value(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limits_concurrency_in_order),
      cmocka_unit_test(test_newcomer_does_not_overtake),
      cmocka_unit_test(test_locked_while_woken_waiter_in_line),
      cmocka_unit_test(test_cancelled_waiter_passes_permit_on),
      cmocka_unit_test(test_destroy_refused_while_a_waiter_is_inside),
      cmocka_unit_test(test_bounded),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
