/* Futures: states and outcome, done callbacks through the ready queue in
 * order (DESIGN.md §4 rule 3), and the report of an error never read. */
#include "task_test.h"

static corio_loop *new_loop(void) {
  corio_loop *loop = NULL;

  assert_int_equal(corio_loop_create(&loop), 0);
  return loop;
}

static void test_states_and_outcome(void **state) {
  corio_loop *loop = new_loop();
  corio_future *f;
  void *r = (void *)1;
  (void)state;

  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_false(corio_future_done(f));
  assert_false(corio_future_cancelled(f));
  assert_int_equal(corio_future_result(f, &r), CORIO_EINVALSTATE);
  assert_int_equal(corio_future_error(f), CORIO_EINVALSTATE);
  assert_null(corio_future_message(f));
  assert_int_equal(corio_future_set_result(f, CORIO_PTR(42)), 0);
  assert_true(corio_future_done(f));
  assert_int_equal(corio_future_set_result(f, NULL), CORIO_EINVALSTATE);
  assert_int_equal(corio_future_set_error(f, -EIO, NULL), CORIO_EINVALSTATE);
  assert_int_equal(corio_future_cancel(f, "late"), 0);
  assert_int_equal(corio_future_result(f, &r), 0);
  assert_int_equal(CORIO_INT(r), 42);
  assert_ptr_equal(corio_future_loop(f), loop);
  corio_future_unref(f);

  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_set_error(f, -EIO, "disk %d", 7), 0);
  assert_int_equal(corio_future_result(f, &r), -EIO);
  assert_null(r);
  assert_int_equal(corio_future_error(f), -EIO);
  assert_string_equal(corio_future_message(f), "disk 7");
  corio_future_unref(f);

  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_cancel(f, "bye"), 1);
  assert_true(corio_future_cancelled(f));
  assert_true(corio_future_done(f));
  assert_int_equal(corio_future_result(f, NULL), -ECANCELED);
  assert_string_equal(corio_future_message(f), "bye");
  assert_int_equal(corio_future_cancel(f, NULL), 0);
  corio_future_unref(f);
  corio_loop_unref(loop);
}

static void test_bad_input(void **state) {
  corio_loop *loop = new_loop();
  corio_future *f;
  (void)state;

  assert_int_equal(corio_future_create(loop, NULL), -EINVAL);
  assert_int_equal(corio_future_create(NULL, &f), CORIO_ENOLOOP);
  assert_int_equal(corio_future_set_result(NULL, NULL), -EINVAL);
  assert_int_equal(corio_future_cancel(NULL, NULL), -EINVAL);
  assert_int_equal(corio_future_result(NULL, NULL), -EINVAL);
  assert_int_equal(corio_future_add_done_callback(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_set_error(f, 0, NULL), -EINVAL);
  assert_int_equal(corio_future_set_error(f, 5, NULL), -EINVAL);
  assert_false(corio_future_done(f));
  assert_int_equal(corio_future_add_done_callback(f, NULL, NULL), -EINVAL);
  assert_int_equal(corio_future_await(f, NULL), CORIO_ENOTASK);
  corio_future_unref(f);
  corio_future_unref(NULL);
  assert_null(corio_future_ref(NULL));
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_future_create(loop, &f), CORIO_ELOOPCLOSED);
  corio_loop_unref(loop);
}

struct cb_log {
  struct trace trace;
  corio_future *fut;
  corio_loop *loop;
};

static void cb_a(corio_future *f, void *arg) {
  struct cb_log *l = arg;

  assert_true(corio_future_done(f));
  assert_ptr_equal(f, l->fut);
  trace_add(&l->trace, 'a');
}

static void cb_b(corio_future *f, void *arg) {
  (void)f;
  trace_add(&((struct cb_log *)arg)->trace, 'b');
}

static void cb_c(corio_future *f, void *arg) {
  (void)f;
  trace_add(&((struct cb_log *)arg)->trace, 'c');
}

static int soon_x(void *arg) {
  trace_add(&((struct cb_log *)arg)->trace, 'x');
  return 0;
}

static int stop_after(void *arg) {
  struct cb_log *l = arg;

  trace_add(&l->trace, '|');
  return corio_loop_stop(l->loop);
}

/* set_result runs nothing itself: callbacks come in the next loop
 * iteration, in the order added, behind what was ready before. */
static void test_callbacks_through_ready_queue(void **state) {
  struct cb_log l = {{""}, NULL, new_loop()};
  (void)state;

  assert_int_equal(corio_future_create(l.loop, &l.fut), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_a, &l), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_b, &l), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_c, &l), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_b, &l), 0);
  /* Both registrations of b go, c stays. */
  assert_int_equal(corio_future_remove_done_callback(l.fut, cb_b, &l), 2);
  assert_int_equal(corio_future_remove_done_callback(l.fut, cb_b, &l), 0);
  assert_int_equal(corio_loop_call_soon(l.loop, soon_x, &l, NULL), 0);
  assert_int_equal(corio_future_set_result(l.fut, NULL), 0);
  assert_string_equal(l.trace.log, "");
  /* Added after done: scheduled on its own, after the batch. */
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_b, &l), 0);
  /* Once scheduled, callbacks can no longer be removed (asyncio). */
  assert_int_equal(corio_future_remove_done_callback(l.fut, cb_a, &l), 0);
  assert_int_equal(corio_loop_call_soon(l.loop, stop_after, &l, NULL), 0);
  assert_int_equal(corio_loop_run_forever(l.loop), 0);
  assert_string_equal(l.trace.log, "xacb|");
  corio_future_unref(l.fut);
  corio_loop_unref(l.loop);
}

/* The future's last reference can go while its callbacks are queued: they
 * still run, with the future alive. */
static void test_unref_before_callbacks_run(void **state) {
  struct cb_log l = {{""}, NULL, new_loop()};
  (void)state;

  assert_int_equal(corio_future_create(l.loop, &l.fut), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_a, &l), 0);
  assert_int_equal(corio_future_cancel(l.fut, NULL), 1);
  corio_future_unref(l.fut);
  assert_int_equal(corio_loop_call_soon(l.loop, stop_after, &l, NULL), 0);
  assert_int_equal(corio_loop_run_forever(l.loop), 0);
  assert_string_equal(l.trace.log, "a|");
  corio_loop_unref(l.loop);
}

static void test_unretrieved_error_reported(void **state) {
  corio_loop *loop = new_loop();
  struct reports rep = {0};
  corio_future *f;
  (void)state;

  corio_loop_set_exception_handler(loop, capture_report, &rep);
  /* Read: no report. */
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_set_error(f, -EPIPE, "gone"), 0);
  assert_int_equal(corio_future_error(f), -EPIPE);
  corio_future_unref(f);
  assert_int_equal(rep.count, 0);
  /* Cancelled: no report. */
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_cancel(f, NULL), 1);
  corio_future_unref(f);
  assert_int_equal(rep.count, 0);
  /* Never read: reported when freed. */
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_set_error(f, -EPIPE, "gone"), 0);
  corio_future_unref(f);
  assert_int_equal(rep.count, 1);
  assert_int_equal(rep.last_error, -EPIPE);
  assert_string_equal(rep.last, "Future exception was never retrieved");
  assert_string_equal(rep.last_error_message, "gone");
  assert_ptr_equal(rep.last_future, f);
  assert_null(rep.last_task);
  corio_loop_unref(loop);
}

/* A future outlives its loop's close and its last loop reference: its
 * memory (and the exception handler) stay until the future goes. */
static void test_future_outlives_loop(void **state) {
  corio_loop *loop = new_loop();
  struct reports rep = {0};
  corio_future *f;
  (void)state;

  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(corio_future_create(loop, &f), 0);
  corio_loop_unref(loop);
  assert_int_equal(corio_future_set_error(f, -EIO, NULL), 0);
  assert_false(corio_future_add_done_callback(f, cb_b, NULL) == 0);
  corio_future_unref(f);
  assert_int_equal(rep.count, 1);
}

/* A callback added to a done future is queued; a loop closed before it
 * runs drops it without leaking it, the future or the loop. */
static void test_late_callback_dropped_at_close(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct cb_log l = {{""}, NULL, new_loop()};
  (void)state;

  assert_int_equal(corio_future_create(l.loop, &l.fut), 0);
  assert_int_equal(corio_future_set_result(l.fut, NULL), 0);
  assert_int_equal(corio_future_add_done_callback(l.fut, cb_b, &l), 0);
  corio_future_unref(l.fut);
  assert_int_equal(corio_loop_close(l.loop), 0);
  corio_loop_unref(l.loop);
  assert_string_equal(l.trace.log, "");
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_states_and_outcome),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_callbacks_through_ready_queue),
      cmocka_unit_test(test_unref_before_callbacks_run),
      cmocka_unit_test(test_unretrieved_error_reported),
      cmocka_unit_test(test_future_outlives_loop),
      cmocka_unit_test(test_late_callback_dropped_at_close),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
