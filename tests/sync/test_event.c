/* Event: set wakes every waiter, even those whose wake-up is followed by a
 * clear before they run; wait on a set event returns at once; destroy is
 * refused while a waiter, woken or not, has not returned. */
#include "corio/sync.h"
#include "sync_test.h"

struct flag {
  corio_event event;
  int woke;
};

static int waiter(void *arg, void **result) {
  struct flag *f = arg;
  int rc = corio_event_wait(&f->event);

  (void)result;
  if (rc == 0)
    f->woke++;
  return rc;
}

static int set_then_clear(void *arg, void **result) {
  struct flag *f = arg;
  corio_task *t[3];

  (void)result;
  for (int i = 0; i < 3; i++)
    t[i] = spawn_or_fail(waiter, f);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_event_destroy(&f->event), -EBUSY);
  assert_false(corio_event_is_set(&f->event));
  corio_event_set(&f->event);
  corio_event_clear(&f->event); /* too late to take the wake-ups back */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  assert_int_equal(f->woke, 3);
  /* Waiting again after the clear waits for the next set. */
  t[0] = spawn_or_fail(waiter, f);
  yield_n(3);
  assert_false(corio_task_done(t[0]));
  corio_event_set(&f->event);
  assert_true(corio_event_is_set(&f->event));
  assert_int_equal(corio_await(t[0], NULL), 0);
  assert_int_equal(f->woke, 4);
  corio_task_unref(t[0]);
  /* Set: no wait at all. */
  assert_int_equal(corio_event_wait(&f->event), 0);
  return 0;
}

static void test_set_wakes_every_waiter(void **state) {
  struct flag f = {CORIO_EVENT_INIT, 0};
  (void)state;

  assert_int_equal(run_main(set_then_clear, &f), 0);
  assert_int_equal(corio_event_destroy(&f.event), 0);
}

/* set() woke the waiters, which have not run yet: they will still touch
 * the event when they do, so destroy is refused until then, as for
 * waiters not woken. (The codes are checked after the run.) */
struct destroy_codes {
  int before_set, after_set, after_run;
};

static int destroy_around_set(void *arg, void **result) {
  struct destroy_codes *codes = arg;
  struct flag f = {CORIO_EVENT_INIT, 0};
  corio_task *t[2];

  (void)result;
  for (int i = 0; i < 2; i++)
    t[i] = spawn_or_fail(waiter, &f);
  yield_n(1);
  codes->before_set = corio_event_destroy(&f.event);
  corio_event_set(&f.event);
  codes->after_set = corio_event_destroy(&f.event);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  assert_int_equal(f.woke, 2);
  codes->after_run = corio_event_destroy(&f.event);
  return 0;
}

static void test_destroy_refused_until_woken_waiters_ran(void **state) {
  struct destroy_codes codes = {1, 1, 1};
  (void)state;

  assert_int_equal(run_main(destroy_around_set, &codes), 0);
  assert_int_equal(codes.before_set, -EBUSY);
  assert_int_equal(codes.after_set, -EBUSY);
  assert_int_equal(codes.after_run, 0);
}

static int cancel_a_waiter(void *arg, void **result) {
  struct flag *f = arg;
  corio_task *a, *b;

  (void)result;
  a = spawn_or_fail(waiter, f);
  b = spawn_or_fail(waiter, f);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(a, NULL), 1);
  assert_int_equal(corio_await(a, NULL), -ECANCELED);
  corio_event_set(&f->event);
  assert_int_equal(corio_await(b, NULL), 0);
  assert_int_equal(f->woke, 1);
  corio_task_unref(a);
  corio_task_unref(b);
  return 0;
}

static void test_cancelled_waiter_leaves(void **state) {
  struct flag f;
  (void)state;

  corio_event_init(&f.event);
  f.woke = 0;
  assert_int_equal(run_main(cancel_a_waiter, &f), 0);
  assert_int_equal(corio_event_wait(NULL), -EINVAL);
  corio_event_clear(&f.event);
  assert_int_equal(corio_event_wait(&f.event), CORIO_ENOTASK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_wakes_every_waiter),
      cmocka_unit_test(test_cancelled_waiter_leaves),
      cmocka_unit_test(test_destroy_refused_until_woken_waiters_ran),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
