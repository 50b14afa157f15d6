/* Signals delivered on the loop's thread as ordinary callbacks, and the
 * previous disposition restored. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "loop_test.h"

struct caught {
  corio_loop *loop;
  int count;
  int signum;
};

static int on_signal(void *arg) {
  struct caught *c = arg;

  c->count++;
  /* A normal callback: it may use the loop freely. */
  assert_ptr_equal(corio_loop_running(), c->loop);
  return corio_loop_stop(c->loop);
}

static int raise_it(void *arg) {
  struct caught *c = arg;

  assert_int_equal(raise(c->signum), 0);
  return 0;
}

static void (*disposition(int signum))(int) {
  struct sigaction now;

  assert_int_equal(sigaction(signum, NULL, &now), 0);
  return now.sa_handler;
}

static void test_signal_runs_as_a_callback(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct caught c = {new_loop(), 0, SIGUSR1};
  (void)state;

  assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
  assert_int_equal(
      corio_loop_add_signal_handler(c.loop, SIGUSR1, on_signal, &c), 0);
  assert_ptr_not_equal(disposition(SIGUSR1), SIG_DFL);
  assert_int_equal(corio_loop_call_soon(c.loop, raise_it, &c, NULL), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(c.count, 1);
  /* Removal restores what was there before. */
  assert_int_equal(corio_loop_remove_signal_handler(c.loop, SIGUSR1), 1);
  assert_int_equal(corio_loop_remove_signal_handler(c.loop, SIGUSR1), 0);
  assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
  corio_loop_unref(c.loop);
  corio_test_assert_no_leak(before);
}

static void test_close_restores_previous_disposition(void **state) {
  struct caught c = {new_loop(), 0, SIGUSR2};
  (void)state;

  assert_int_equal(signal(SIGUSR2, SIG_IGN) != SIG_ERR, 1);
  assert_int_equal(
      corio_loop_add_signal_handler(c.loop, SIGUSR2, on_signal, &c), 0);
  assert_int_equal(corio_loop_close(c.loop), 0);
  assert_ptr_equal(disposition(SIGUSR2), SIG_IGN);
  corio_loop_unref(c.loop);
  signal(SIGUSR2, SIG_DFL);
}

static int second_handler(void *arg) {
  struct caught *c = arg;

  c->count += 10;
  return corio_loop_stop(c->loop);
}

static void test_replace_and_one_loop_per_signal(void **state) {
  struct caught c = {new_loop(), 0, SIGUSR1};
  corio_loop *other = new_loop();
  (void)state;

  assert_int_equal(
      corio_loop_add_signal_handler(c.loop, SIGUSR1, on_signal, &c), 0);
  assert_int_equal(
      corio_loop_add_signal_handler(c.loop, SIGUSR1, second_handler, &c), 0);
  assert_int_equal(corio_loop_add_signal_handler(other, SIGUSR1, on_signal, &c),
                   -EBUSY);
  assert_int_equal(corio_loop_call_soon(c.loop, raise_it, &c, NULL), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(c.count, 10);
  corio_loop_unref(c.loop);
  /* Free again once the first loop is gone. */
  assert_int_equal(corio_loop_add_signal_handler(other, SIGUSR1, on_signal, &c),
                   0);
  corio_loop_unref(other);
  assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
}

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static void test_signals_that_cannot_be_handled(void **state) {
  corio_loop *loop = new_loop();
  (void)state;

  assert_int_equal(corio_loop_add_signal_handler(loop, SIGKILL, noop, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_add_signal_handler(loop, SIGSTOP, noop, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_add_signal_handler(loop, 0, noop, NULL), -EINVAL);
  assert_int_equal(corio_loop_add_signal_handler(loop, 1000, noop, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_add_signal_handler(loop, SIGINT, NULL, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_remove_signal_handler(loop, SIGKILL), -EINVAL);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_loop_add_signal_handler(loop, SIGINT, noop, NULL),
                   CORIO_ELOOPCLOSED);
  corio_loop_unref(loop);
}

/* An arrival queued before its handler was removed must not call it: the
 * handler's context may already be gone. */
struct removal {
  corio_loop *loop;
  int handler_calls;
};

static int counting_handler(void *arg) {
  ((struct removal *)arg)->handler_calls++;
  return 0;
}

static int remove_the_handler(void *arg) {
  struct removal *r = arg;

  assert_int_equal(corio_loop_remove_signal_handler(r->loop, SIGUSR1), 1);
  return 0;
}

static int raise_then_schedule_removal(void *arg) {
  struct removal *r = arg;

  /* The removal is queued now; the arrival joins the queue after it, in
   * the next iteration's poll. */
  assert_int_equal(corio_loop_call_soon(r->loop, remove_the_handler, r, NULL),
                   0);
  assert_int_equal(raise(SIGUSR1), 0);
  return 0;
}

static void test_removed_handler_skips_queued_arrivals(void **state) {
  struct removal r = {new_loop(), 0};
  (void)state;

  assert_int_equal(
      corio_loop_add_signal_handler(r.loop, SIGUSR1, counting_handler, &r), 0);
  assert_int_equal(
      corio_loop_call_soon(r.loop, raise_then_schedule_removal, &r, NULL), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_loop_stop(r.loop), 0);
    assert_int_equal(corio_loop_run_forever(r.loop), 0);
  }
  assert_int_equal(r.handler_calls, 0);
  assert_ptr_equal(disposition(SIGUSR1), SIG_DFL);
  corio_loop_unref(r.loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signal_runs_as_a_callback),
      cmocka_unit_test(test_close_restores_previous_disposition),
      cmocka_unit_test(test_replace_and_one_loop_per_signal),
      cmocka_unit_test(test_signals_that_cannot_be_handled),
      cmocka_unit_test(test_removed_handler_skips_queued_arrivals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
