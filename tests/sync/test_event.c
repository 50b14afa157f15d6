/* Event: set wakes every waiter, even those whose wake-up is followed by a
 * clear before they run; wait on a set event returns at once. */
#include "../task/task_test.h"
#include "corio/sync.h"

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
  assert_int_equal(corio_sleep(0.005), 0);
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
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
