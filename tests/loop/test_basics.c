/* Loop life cycle, stop, handles, bad input, the exception handler and
 * debug mode. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop_test.h"

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static int count(void *arg) {
  ++*(int *)arg;
  return 0;
}

static int close_running(void *arg) {
  corio_loop *loop = arg;

  assert_int_equal(corio_loop_close(loop), CORIO_ELOOPRUNNING);
  assert_true(corio_loop_is_running(loop));
  assert_ptr_equal(corio_loop_running(), loop);
  assert_ptr_equal(corio_loop_current(), loop);
  /* Neither this loop nor another may run on this thread now. */
  assert_int_equal(corio_loop_run_forever(loop), CORIO_ELOOPRUNNING);
  return corio_loop_stop(loop);
}

static void test_life_cycle(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = new_loop();
  (void)state;

  assert_false(corio_loop_is_running(loop));
  assert_false(corio_loop_is_closed(loop));
  assert_null(corio_loop_running());
  assert_int_equal(corio_loop_call_soon(loop, close_running, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_false(corio_loop_is_running(loop));
  assert_null(corio_loop_running());
  assert_int_equal(corio_loop_close(loop), 0);
  assert_true(corio_loop_is_closed(loop));
  assert_int_equal(corio_loop_close(loop), 0); /* idempotent */
  assert_int_equal(corio_loop_run_forever(loop), CORIO_ELOOPCLOSED);
  assert_int_equal(corio_loop_call_soon(loop, noop, NULL, NULL),
                   CORIO_ELOOPCLOSED);
  assert_int_equal(corio_loop_call_later(loop, 1, noop, NULL, NULL),
                   CORIO_ELOOPCLOSED);
  assert_int_equal(corio_loop_add_reader(loop, 0, noop, NULL),
                   CORIO_ELOOPCLOSED);
  assert_int_equal(corio_loop_call_soon_threadsafe(loop, noop, NULL),
                   CORIO_ELOOPCLOSED);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

static void test_unref_closes(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = new_loop();
  int ran = 0;
  (void)state;

  /* Pending work is dropped with the loop. */
  assert_int_equal(corio_loop_call_soon(loop, count, &ran, NULL), 0);
  assert_int_equal(corio_loop_call_later(loop, 10, count, &ran, NULL), 0);
  corio_loop_unref(loop);
  assert_int_equal(ran, 0);
  corio_test_assert_no_leak(before);
}

static void test_stop_before_run_runs_one_iteration(void **state) {
  corio_loop *loop = new_loop();
  int ran = 0;
  (void)state;

  assert_int_equal(corio_loop_call_soon(loop, count, &ran, NULL), 0);
  assert_int_equal(corio_loop_stop(loop), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(ran, 1);
  /* The stop was used up: the next run needs its own. */
  assert_int_equal(corio_loop_call_soon(loop, stop_loop, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  corio_loop_unref(loop);
}

static void test_bad_input(void **state) {
  corio_loop *loop = new_loop();
  corio_handle *h = NULL;
  (void)state;

  assert_int_equal(corio_loop_create(NULL), -EINVAL);
  assert_int_equal(corio_loop_call_soon(NULL, noop, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_soon(loop, NULL, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_later(loop, -1, noop, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_later(loop, NAN, noop, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_later(loop, INFINITY, noop, NULL, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_call_at(loop, -5, noop, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_later_ns(loop, -1, noop, NULL, NULL),
                   -EINVAL);
  assert_int_equal(corio_loop_call_at_ns(loop, -1, noop, NULL, &h), -EINVAL);
  assert_null(h);
  assert_int_equal(corio_loop_run_forever(NULL), -EINVAL);
  assert_int_equal(corio_loop_stop(NULL), -EINVAL);
  assert_int_equal(corio_loop_close(NULL), -EINVAL);
  assert_int_equal(corio_loop_call_soon_threadsafe(NULL, noop, NULL), -EINVAL);
  assert_int_equal(corio_loop_call_soon_threadsafe(loop, NULL, NULL), -EINVAL);
  assert_int_equal(corio_loop_set_slow_callback_duration(loop, -1), -EINVAL);
  /* NULL handles are harmless. */
  corio_handle_cancel(NULL);
  corio_handle_unref(NULL);
  assert_false(corio_handle_cancelled(NULL));
  corio_loop_unref(loop);
}

static void test_handles(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = new_loop();
  corio_handle *soon, *timer, *ran_handle;
  int ran = 0, cancelled = 0;
  double t0 = corio_loop_time(loop);
  (void)state;

  assert_int_equal(corio_loop_call_soon(loop, count, &cancelled, &soon), 0);
  assert_int_equal(
      corio_loop_call_later(loop, 0.001, count, &cancelled, &timer), 0);
  assert_int_equal(corio_loop_call_soon(loop, count, &ran, &ran_handle), 0);
  assert_true(corio_handle_when(timer) >= t0 + 0.001);
  assert_true(corio_handle_when_ns(timer) >= (int64_t)(t0 * 1e9) + 1000000);
  assert_int_equal(corio_handle_when_ns(soon), 0);
  assert_true(corio_handle_when(soon) == 0.0);
  corio_handle_cancel(soon);
  corio_handle_cancel(soon); /* twice: harmless */
  corio_handle_cancel(timer);
  assert_true(corio_handle_cancelled(soon));
  assert_int_equal(corio_loop_call_later(loop, 0.01, stop_loop, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(cancelled, 0);
  assert_int_equal(ran, 1);
  corio_handle_cancel(ran_handle); /* after it ran: harmless */
  corio_handle_unref(soon);
  corio_handle_unref(timer);
  corio_handle_unref(ran_handle);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

static void test_handle_outlives_loop_reference(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = new_loop();
  corio_handle *h;
  struct sigaction now;
  (void)state;

  assert_int_equal(corio_loop_call_later(loop, 5, noop, NULL, &h), 0);
  assert_int_equal(corio_loop_add_signal_handler(loop, SIGUSR2, noop, NULL), 0);
  /* The handle keeps its memory valid, but the loop's last reference still
   * closes it: its fds and signal handlers go now. */
  corio_loop_unref(loop);
  assert_true(corio_loop_is_closed(loop));
  assert_int_equal(sigaction(SIGUSR2, NULL, &now), 0);
  assert_ptr_equal(now.sa_handler, SIG_DFL);
  assert_false(corio_handle_cancelled(h));
  corio_handle_cancel(h);
  corio_handle_unref(h);
  corio_test_assert_no_leak(before);
}

static void test_extra_handle_unref_is_ignored(void **state) {
  corio_loop *loop = new_loop();
  corio_handle *h;
  int ran = 0;
  (void)state;

  assert_int_equal(corio_loop_call_soon(loop, count, &ran, &h), 0);
  corio_handle_unref(h);
  /* Not the user's to drop: the loop's own reference is untouched. */
  corio_handle_unref(h);
  assert_int_equal(corio_loop_stop(loop), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(ran, 1);
  corio_loop_unref(loop);
}

static void test_extreme_deadlines(void **state) {
  corio_loop *loop = new_loop();
  corio_handle *far, *due;
  int ran = 0;
  (void)state;

  /* Past the end of the clock: clamped, not overflowed. */
  assert_int_equal(corio_loop_call_later_ns(loop, INT64_MAX, count, &ran, &far),
                   0);
  assert_true(corio_handle_when(far) > 1e9);
  /* Due exactly now: runs in the first iteration. */
  assert_int_equal(
      corio_loop_call_at_ns(loop, corio_loop_time_ns(loop), count, &ran, &due),
      0);
  assert_int_equal(corio_loop_stop(loop), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(ran, 1);
  corio_handle_unref(far);
  corio_handle_unref(due);
  corio_loop_unref(loop);
}

/* ---- errors from callbacks ----------------------------------------------- */

struct errors_seen {
  int count, last;
  corio_callback cb;
  char message[128]; /* copied: it is valid during the call only */
};

static void record_error(corio_loop *loop, const corio_loop_error *e,
                         void *arg) {
  struct errors_seen *seen = arg;
  (void)loop;

  seen->count++;
  seen->last = e->error;
  seen->cb = e->callback;
  snprintf(seen->message, sizeof seen->message, "%s", e->message);
}

static int fail_io(void *arg) {
  (void)arg;
  return -EIO;
}

static void test_failing_callback_goes_to_handler(void **state) {
  struct errors_seen seen = {0};
  corio_loop *loop = new_loop();
  void *got_arg = NULL;
  int ran = 0;
  (void)state;

  assert_ptr_equal(corio_loop_get_exception_handler(loop, NULL), NULL);
  corio_loop_set_exception_handler(loop, record_error, &seen);
  assert_ptr_equal(corio_loop_get_exception_handler(loop, &got_arg),
                   record_error);
  assert_ptr_equal(got_arg, &seen);
  assert_int_equal(corio_loop_call_soon(loop, fail_io, NULL, NULL), 0);
  assert_int_equal(corio_loop_call_soon(loop, count, &ran, NULL), 0);
  assert_int_equal(corio_loop_call_soon(loop, stop_loop, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  /* Reported, and the loop went on. */
  assert_int_equal(seen.count, 1);
  assert_int_equal(seen.last, -EIO);
  assert_ptr_equal(seen.cb, fail_io);
  assert_string_equal(seen.message, "Exception in callback");
  assert_int_equal(ran, 1);
  corio_loop_set_exception_handler(loop, NULL, NULL);
  assert_null(corio_loop_get_exception_handler(loop, &got_arg));
  assert_null(got_arg);
  corio_loop_unref(loop);
}

/* ---- debug mode ------------------------------------------------------------
 */

/* Takes at least 30 ms (a sleep never ends early), then stops the loop:
 * the only callback of its run, so no other callback is timed, and a
 * preempted one cannot add a warning. */
static int slow(void *arg) {
  usleep(30 * 1000);
  return corio_loop_stop(arg);
}

static void test_debug_warns_about_slow_callbacks(void **state) {
  struct errors_seen seen = {0};
  corio_loop *loop = new_loop();
  (void)state;

  assert_true(fabs(corio_loop_get_slow_callback_duration(loop) - 0.1) < 1e-9);
  assert_int_equal(corio_loop_set_slow_callback_duration(loop, 0.01), 0);
  corio_loop_set_exception_handler(loop, record_error, &seen);
  /* Not in debug mode: no warning. */
  assert_int_equal(corio_loop_call_soon(loop, slow, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(seen.count, 0);
  corio_loop_set_debug(loop, 1);
  assert_true(corio_loop_get_debug(loop));
  assert_int_equal(corio_loop_call_soon(loop, slow, loop, NULL), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(seen.count, 1);
  assert_int_equal(seen.last, 0); /* a warning, not an error */
  assert_ptr_equal(seen.cb, slow);
  assert_non_null(strstr(seen.message, "took"));
  corio_loop_unref(loop);
}

struct foreign_call {
  corio_loop *loop;
  int rc_soon, rc_threadsafe;
};

static void *call_from_other_thread(void *arg) {
  struct foreign_call *f = arg;

  f->rc_soon = corio_loop_call_soon(f->loop, noop, NULL, NULL);
  f->rc_threadsafe =
      corio_loop_call_soon_threadsafe(f->loop, stop_loop, f->loop);
  return NULL;
}

static int spawn_foreign(void *arg) {
  struct foreign_call *f = arg;
  pthread_t t;

  assert_int_equal(pthread_create(&t, NULL, call_from_other_thread, f), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  return 0;
}

static void test_debug_refuses_other_threads(void **state) {
  struct foreign_call f = {new_loop(), 1, 1};
  (void)state;

  corio_loop_set_debug(f.loop, 1);
  assert_int_equal(corio_loop_call_soon(f.loop, spawn_foreign, &f, NULL), 0);
  assert_int_equal(corio_loop_run_forever(f.loop), 0);
  assert_int_equal(f.rc_soon, CORIO_ETHREAD);
  assert_int_equal(f.rc_threadsafe, 0);
  corio_loop_unref(f.loop);
}

static void test_debug_from_environment(void **state) {
  corio_loop *loop;
  (void)state;

  setenv("CORIO_DEBUG", "1", 1);
  loop = new_loop();
  unsetenv("CORIO_DEBUG");
  assert_true(corio_loop_get_debug(loop));
  corio_loop_unref(loop);
  loop = new_loop();
  assert_false(corio_loop_get_debug(loop));
  corio_loop_unref(loop);
}

/* ---- current loop, clock ----------------------------------------------------
 */

static void test_current_loop_and_clock(void **state) {
  corio_loop *loop = new_loop();
  int64_t a, b;
  double s;
  (void)state;

  assert_null(corio_loop_current());
  corio_loop_set_current(loop);
  assert_ptr_equal(corio_loop_current(), loop);
  assert_null(corio_loop_running());
  a = corio_loop_time_ns(loop);
  s = corio_loop_time(loop);
  b = corio_loop_time_ns(loop);
  assert_true(a <= b);
  /* The same clock, read between the two: however long this thread was
   * preempted in between, s lies in [a, b] (give or take a rounding to
   * double; not a wall-time slack). */
  assert_true(s >= (double)a / 1e9 - 1e-6);
  assert_true(s <= (double)b / 1e9 + 1e-6);
  /* Closing forgets it as the current loop. */
  assert_int_equal(corio_loop_close(loop), 0);
  assert_null(corio_loop_current());
  corio_loop_unref(loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_life_cycle),
      cmocka_unit_test(test_unref_closes),
      cmocka_unit_test(test_stop_before_run_runs_one_iteration),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_handles),
      cmocka_unit_test(test_handle_outlives_loop_reference),
      cmocka_unit_test(test_extra_handle_unref_is_ignored),
      cmocka_unit_test(test_extreme_deadlines),
      cmocka_unit_test(test_failing_callback_goes_to_handler),
      cmocka_unit_test(test_debug_warns_about_slow_callbacks),
      cmocka_unit_test(test_debug_refuses_other_threads),
      cmocka_unit_test(test_debug_from_environment),
      cmocka_unit_test(test_current_loop_and_clock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
