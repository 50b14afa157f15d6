/* corio_run, the Runner, run_until_complete and sleep. */
#include "loop/ext.h"
#include "task_test.h"

static int answer(void *arg, void **result) {
  (void)arg;
  *result = CORIO_PTR(42);
  return 0;
}

static int fails(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-EPROTO, "bad");
}

/* Inside a running loop, nothing runs another loop: not corio_run, not a
 * runner's run, not a runner's close (which would have to run its loop to
 * wait for its tasks), and the runner is left as it was. */
static int nested_run(void *arg, void **result) {
  corio_runner **r = arg;

  (void)result;
  assert_int_equal(corio_run(answer, NULL, NULL), CORIO_ELOOPRUNNING);
  assert_int_equal(corio_runner_create(r), 0);
  assert_int_equal(corio_runner_run(*r, answer, NULL, NULL),
                   CORIO_ELOOPRUNNING);
  assert_int_equal(corio_runner_close(*r), CORIO_ELOOPRUNNING);
  assert_non_null(corio_runner_loop(*r));
  return 0;
}

static void test_run_outcome(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_runner *runner = NULL;
  void *r = NULL;
  (void)state;

  assert_int_equal(corio_run(answer, NULL, &r), 0);
  assert_int_equal(CORIO_INT(r), 42);
  assert_int_equal(corio_run(answer, NULL, NULL), 0);
  assert_int_equal(corio_run(fails, NULL, &r), -EPROTO);
  assert_null(r);
  assert_int_equal(corio_run(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(corio_run(nested_run, &runner, NULL), 0);
  assert_int_equal(corio_runner_run(runner, answer, NULL, &r), 0);
  assert_int_equal(corio_runner_close(runner), 0);
  /* The loop is gone afterwards. */
  assert_null(corio_loop_current());
  corio_test_assert_no_leak(before);
}

struct counter {
  int runs;
  corio_loop *loop;
};

static int count_run(void *arg, void **result) {
  struct counter *c = arg;

  c->runs++;
  *result = CORIO_PTR(c->runs);
  if (c->loop)
    assert_ptr_equal(corio_loop_running(), c->loop);
  c->loop = corio_loop_running();
  return corio_sleep(0.001);
}

static int shutdown_calls;

static int count_shutdown(corio_loop *loop, void *data) {
  (void)loop;
  (void)data;
  shutdown_calls++;
  return -EBUSY;
}

static void free_nothing(void *data) { (void)data; }

static const corio__loop_ext_ops fake_executor = {.shutdown = count_shutdown,
                                                  .free = free_nothing};

static void test_runner(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct counter c = {0, NULL};
  corio_runner *runner;
  void *r;
  (void)state;

  assert_int_equal(corio_runner_create(NULL), -EINVAL);
  assert_int_equal(corio_runner_create(&runner), 0);
  assert_int_equal(corio_runner_run(runner, count_run, &c, &r), 0);
  assert_int_equal(CORIO_INT(r), 1);
  assert_int_equal(corio_runner_run(runner, count_run, &c, &r), 0);
  assert_int_equal(CORIO_INT(r), 2);
  assert_ptr_equal(corio_runner_loop(runner), c.loop);
  assert_int_equal(corio_runner_run(runner, NULL, NULL, NULL), -EINVAL);
  /* What a higher layer registered is shut down at close, and its error
   * comes back. */
  assert_int_equal(corio__loop_ext_set(corio_runner_loop(runner),
                                       CORIO__LOOP_EXT_THREAD, NULL,
                                       &fake_executor),
                   0);
  shutdown_calls = 0;
  assert_int_equal(corio_runner_close(runner), -EBUSY);
  assert_int_equal(shutdown_calls, 1);
  assert_int_equal(corio_runner_close(NULL), -EINVAL);
  corio_test_assert_no_leak(before);
}

/* A task left pending is cancelled at the end of run; one that fails with
 * an error of its own while stopping is reported, not dropped. */
static int fails_when_cancelled(void *arg, void **result) {
  (void)arg;
  (void)result;
  if (corio_sleep(3600) == -ECANCELED)
    return corio_fail(-EIO, "clean-up failed");
  return 0;
}

static int leave_failing_task(void *arg, void **result) {
  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), capture_report, arg);
  assert_int_equal(corio_spawn(NULL, fails_when_cancelled, NULL), 0);
  return corio_sleep(0);
}

static void test_shutdown_error_reported(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct reports rep = {0};
  (void)state;

  assert_int_equal(corio_run(leave_failing_task, &rep, NULL), 0);
  assert_int_equal(rep.count, 1);
  assert_int_equal(rep.last_error, -EIO);
  assert_non_null(strstr(rep.last, "unhandled exception during corio_run()"));
  assert_string_equal(rep.last_error_message, "clean-up failed");
  corio_test_assert_no_leak(before);
}

/* ---- run_until_complete -------------------------------------------------- */

static int stop_loop_early(void *arg, void **result) {
  (void)arg;
  (void)result;
  assert_int_equal(corio_loop_stop(corio_loop_running()), 0);
  return corio_sleep(0.01);
}

static void test_run_until_complete(void **state) {
  corio_loop *loop, *other;
  corio_future *f;
  corio_task *t;
  void *r;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_loop_create(&other), 0);
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_run_until_complete(NULL, f, NULL), -EINVAL);
  assert_int_equal(corio_run_until_complete(other, f, NULL), CORIO_EWRONGLOOP);
  /* Done already: returns at once. */
  assert_int_equal(corio_future_set_result(f, CORIO_PTR(1)), 0);
  assert_int_equal(corio_run_until_complete(loop, f, &r), 0);
  assert_int_equal(CORIO_INT(r), 1);
  corio_future_unref(f);
  /* Stopped from inside before the task is done. */
  assert_int_equal(corio_spawn_ex(&t, stop_loop_early, NULL,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(corio_run_until_complete(loop, corio_task_future(t), NULL),
                   CORIO_ELOOPSTOPPED);
  assert_int_equal(corio_run_until_complete(loop, corio_task_future(t), NULL),
                   0);
  corio_task_unref(t);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_future_create(other, &f), 0);
  corio_loop_unref(other);
  /* The future keeps its closed loop's memory. */
  assert_int_equal(corio_run_until_complete(corio_future_loop(f), f, NULL),
                   CORIO_ELOOPCLOSED);
  corio_future_unref(f);
  corio_loop_unref(loop);
}

/* ---- sleep --------------------------------------------------------------- */

struct ticks {
  struct trace *trace; /* shared */
  char mark;
  int rounds;
};

static int tick(void *arg, void **result) {
  struct ticks *t = arg;

  (void)result;
  for (int i = 0; i < t->rounds; i++) {
    trace_add(t->trace, t->mark);
    assert_int_equal(corio_sleep(0), 0);
  }
  return 0;
}

/* sleep(0) yields exactly one iteration: two tasks alternate. */
static int alternate(void *arg, void **result) {
  struct ticks *both = arg;
  corio_task *a, *b;

  (void)result;
  a = spawn_or_fail(tick, &both[0]);
  b = spawn_or_fail(tick, &both[1]);
  assert_int_equal(corio_await(a, NULL), 0);
  assert_int_equal(corio_await(b, NULL), 0);
  corio_task_unref(a);
  corio_task_unref(b);
  return 0;
}

static void test_sleep_zero_alternates(void **state) {
  struct trace trace = {""};
  struct ticks both[2] = {{&trace, 'a', 3}, {&trace, 'b', 3}};
  (void)state;

  assert_int_equal(run_main(alternate, both), 0);
  assert_string_equal(trace.log, "ababab");
}

struct sleep_order {
  struct trace *trace;
  double delay;
  char mark;
  int *asleep, *most_asleep; /* shared: sleeping now, and at most */
  int rc;
};

static int sleep_mark(void *arg, void **result) {
  struct sleep_order *s = arg;
  double t0 = wall_s();

  (void)result;
  if (++*s->asleep > *s->most_asleep)
    *s->most_asleep = *s->asleep;
  s->rc = corio_sleep(s->delay);
  --*s->asleep;
  if (s->rc == 0) {
    assert_true(wall_s() - t0 >= s->delay);
    trace_add(s->trace, s->mark);
  }
  return s->rc;
}

/* c starts first and sleeps longest: an hour, so that a and b, which
 * start after it, end before it however late each one starts (deadlines
 * closer together could come in another order on a busy machine). c is
 * cancelled once they have. */
static int sleeps(void *arg, void **result) {
  struct trace *trace = arg;
  int asleep = 0, most_asleep = 0;
  struct sleep_order o[3] = {{trace, 3600, 'c', &asleep, &most_asleep, 1},
                             {trace, 0.01, 'a', &asleep, &most_asleep, 1},
                             {trace, 0.02, 'b', &asleep, &most_asleep, 1}};
  corio_task *t[3];

  (void)result;
  for (int i = 0; i < 3; i++)
    t[i] = spawn_or_fail(sleep_mark, &o[i]);
  for (int i = 1; i < 3; i++) {
    assert_int_equal(corio_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  assert_false(corio_task_done(t[0]));
  assert_int_equal(corio_task_cancel(t[0], NULL), 1);
  assert_int_equal(corio_await(t[0], NULL), -ECANCELED);
  assert_int_equal(o[0].rc, -ECANCELED);
  corio_task_unref(t[0]);
  /* Concurrent, not one after another: all three slept at once. */
  assert_int_equal(most_asleep, 3);
  assert_int_equal(corio_sleep_ns(1000), 0);
  return 0;
}

static void test_sleep_durations(void **state) {
  struct trace trace = {""};
  (void)state;

  assert_int_equal(run_main(sleeps, &trace), 0);
  assert_string_equal(trace.log, "ab");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_outcome),
      cmocka_unit_test(test_runner),
      cmocka_unit_test(test_shutdown_error_reported),
      cmocka_unit_test(test_run_until_complete),
      cmocka_unit_test(test_sleep_zero_alternates),
      cmocka_unit_test(test_sleep_durations),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
