/* Tasks: the first step is scheduled, not run (rule 2) unless eager;
 * outcomes; awaiting; names; current and pending tasks; misuse. */
#include <math.h>

#include "task_test.h"

struct order {
  struct trace trace;
  int value;
};

static int mark_a(void *arg, void **result) {
  trace_add(&((struct order *)arg)->trace, 'a');
  *result = CORIO_PTR(7);
  return 0;
}

static int mark_then_sleep(void *arg, void **result) {
  struct order *o = arg;
  int rc;

  (void)result;
  trace_add(&o->trace, 'e');
  rc = corio_sleep(0);
  trace_add(&o->trace, 'E');
  return rc;
}

static int spawn_is_scheduled(void *arg, void **result) {
  struct order *o = arg;
  corio_task *a, *e;
  void *r = NULL;

  (void)result;
  a = spawn_or_fail(mark_a, o);
  trace_add(&o->trace, 'm');
  assert_false(corio_task_done(a));
  /* Eager: runs now, up to its first suspension. */
  assert_int_equal(corio_spawn_ex(&e, mark_then_sleep, o,
                                  &(corio_spawn_options){.eager = 1}),
                   0);
  trace_add(&o->trace, 'M');
  assert_int_equal(corio_task_await(a, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  assert_int_equal(corio_await(e, NULL), 0);
  corio_task_unref(a);
  corio_task_unref(e);
  return 0;
}

static void test_spawn_schedules_first_step(void **state) {
  struct order o = {{""}, 0};
  (void)state;

  assert_int_equal(run_main(spawn_is_scheduled, &o), 0);
  assert_string_equal(o.trace.log, "meMaE");
}

static int eager_done_at_once(void *arg, void **result) {
  struct order o = {{""}, 0};
  corio_task *t;
  void *r;

  (void)arg;
  (void)result;
  assert_int_equal(
      corio_spawn_ex(&t, mark_a, &o, &(corio_spawn_options){.eager = 1}), 0);
  assert_true(corio_task_done(t));
  assert_int_equal(corio_task_result(t, &r), 0);
  assert_int_equal(CORIO_INT(r), 7);
  corio_task_unref(t);
  return 0;
}

static void test_eager_task_that_never_suspends(void **state) {
  (void)state;
  assert_int_equal(run_main(eager_done_at_once, NULL), 0);
}

/* Without a running loop, eager start is ignored (asyncio). */
static void test_eager_needs_running_loop(void **state) {
  struct order o = {{""}, 0};
  corio_loop *loop;
  corio_task *t;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(
      corio_spawn_ex(&t, mark_a, &o,
                     &(corio_spawn_options){.loop = loop, .eager = 1}),
      0);
  assert_string_equal(o.trace.log, "");
  assert_int_equal(corio_run_until_complete(loop, corio_task_future(t), NULL),
                   0);
  assert_string_equal(o.trace.log, "a");
  corio_task_unref(t);
  corio_loop_unref(loop);
}

static int fail_plain(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -ENOENT;
}

static int fail_with_message(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-EACCES, "no access to %s", "x");
}

/* corio_fail's message belongs to its code: returning another drops it. */
static int fail_other_code(void *arg, void **result) {
  (void)arg;
  (void)result;
  (void)corio_fail(-EACCES, "dropped");
  return -EIO;
}

static int return_positive(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 3;
}

static int outcomes(void *arg, void **result) {
  corio_task *t;
  void *r = CORIO_PTR(1);

  (void)arg;
  (void)result;
  t = spawn_or_fail(fail_plain, NULL);
  assert_int_equal(corio_await(t, &r), -ENOENT);
  assert_null(r);
  assert_null(corio_task_message(t));
  assert_int_equal(corio_task_error(t), -ENOENT);
  assert_false(corio_task_cancelled(t));
  corio_task_unref(t);

  t = spawn_or_fail(fail_with_message, NULL);
  assert_int_equal(corio_await(t, NULL), -EACCES);
  assert_string_equal(corio_task_message(t), "no access to x");
  corio_task_unref(t);

  t = spawn_or_fail(fail_other_code, NULL);
  assert_int_equal(corio_await(t, NULL), -EIO);
  assert_null(corio_task_message(t));
  corio_task_unref(t);

  t = spawn_or_fail(return_positive, NULL);
  assert_int_equal(corio_await(t, NULL), -EINVAL);
  assert_non_null(corio_task_message(t));
  corio_task_unref(t);
  return 0;
}

static void test_outcomes(void **state) {
  (void)state;
  assert_int_equal(run_main(outcomes, NULL), 0);
  /* corio_fail outside a task only returns the code. */
  assert_int_equal(corio_fail(-EIO, "x"), -EIO);
  assert_int_equal(corio_fail(0, NULL), -EINVAL);
}

/* ---- names, current task, pending tasks --------------------------------- */

static int check_self(void *arg, void **result) {
  corio_task *self = corio_current_task();

  (void)arg;
  *result = self;
  assert_non_null(self);
  assert_string_equal(corio_task_name(self), "worker");
  assert_ptr_equal(corio_task_loop(self), corio_loop_running());
  assert_ptr_equal(corio_task_context(self), corio_context_current());
  return corio_sleep(0);
}

static int names_and_lists(void *arg, void **result) {
  corio_task *t, *u, *buf[4];
  const char *name;
  void *r;

  (void)arg;
  (void)result;
  assert_int_equal(corio_all_tasks(NULL, NULL, 0), 1); /* main */
  assert_int_equal(corio_spawn_ex(&t, check_self, NULL,
                                  &(corio_spawn_options){.name = "wrong name"}),
                   0);
  assert_int_equal(corio_task_set_name(t, "worker"), 0);
  assert_int_equal(corio_task_set_name(t, NULL), -EINVAL);
  u = spawn_or_fail(mark_then_sleep, &(struct order){{""}, 0});
  name = corio_task_name(u);
  assert_true(strncmp(name, "Task-", 5) == 0);
  assert_true(strtoul(name + 5, NULL, 10) > 0);
  assert_int_equal(corio_all_tasks(NULL, buf, 4), 3);
  assert_ptr_equal(buf[0], corio_current_task());
  assert_ptr_equal(buf[1], t);
  assert_ptr_equal(buf[2], u);
  for (int i = 0; i < 3; i++)
    corio_task_unref(buf[i]);
  assert_int_equal(corio_await(t, &r), 0);
  assert_ptr_equal(r, t);
  assert_int_equal(corio_await(u, NULL), 0);
  assert_int_equal(corio_all_tasks(NULL, NULL, 0), 1);
  corio_task_unref(t);
  corio_task_unref(u);
  return 0;
}

static void test_names_current_and_all_tasks(void **state) {
  (void)state;
  assert_null(corio_current_task());
  assert_int_equal(run_main(names_and_lists, NULL), 0);
  assert_null(corio_current_task());
}

/* ---- misuse -------------------------------------------------------------- */

static int await_self(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_task_await(corio_current_task(), NULL);
}

struct two_loops {
  corio_future *foreign;
};

static int await_foreign(void *arg, void **result) {
  struct two_loops *tl = arg;

  (void)result;
  return corio_future_await(tl->foreign, NULL);
}

/* A coroutine of the task's own cannot suspend the task. */
static void *inner_coro(void *arg) {
  (void)arg;
  return CORIO_PTR(corio_sleep(0));
}

static int sleep_from_inner_coro(void *arg, void **result) {
  corio_coro *co;
  void *out = NULL;

  (void)arg;
  (void)result;
  assert_int_equal(corio_coro_create(&co, inner_coro, NULL, 64 * 1024), 0);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
  return (int)CORIO_INT(out);
}

static int misuse(void *arg, void **result) {
  struct two_loops tl;
  corio_loop *other;
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(await_self, NULL);
  assert_int_equal(corio_await(t, NULL), -EDEADLK);
  corio_task_unref(t);

  assert_int_equal(corio_loop_create(&other), 0);
  assert_int_equal(corio_future_create(other, &tl.foreign), 0);
  t = spawn_or_fail(await_foreign, &tl);
  assert_int_equal(corio_await(t, NULL), CORIO_EWRONGLOOP);
  corio_task_unref(t);
  corio_future_unref(tl.foreign);
  corio_loop_unref(other);

  t = spawn_or_fail(sleep_from_inner_coro, NULL);
  assert_int_equal(corio_await(t, NULL), CORIO_ENOTASK);
  corio_task_unref(t);

  assert_int_equal(corio_spawn(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(corio_spawn_ex(NULL, mark_a, NULL,
                                  &(corio_spawn_options){.stack_size = 100}),
                   -EINVAL);
  /* asyncio: a negative delay is sleep(0). */
  assert_int_equal(corio_sleep(-1), 0);
  assert_int_equal(corio_sleep_ns(-1), 0);
  assert_int_equal(corio_sleep(NAN), -EINVAL);
  assert_int_equal(corio_task_await(NULL, NULL), -EINVAL);
  return 0;
}

static void test_misuse(void **state) {
  corio_loop *loop;
  corio_task *t;
  (void)state;

  assert_int_equal(run_main(misuse, NULL), 0);
  /* Outside any task or loop. */
  assert_int_equal(corio_sleep(0), CORIO_ENOTASK);
  assert_int_equal(corio_sleep(1), CORIO_ENOTASK);
  assert_int_equal(corio_sleep(-1), CORIO_ENOTASK);
  assert_int_equal(corio_spawn(&t, mark_a, NULL), CORIO_ENOLOOP);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(
      corio_spawn_ex(&t, mark_a, NULL, &(corio_spawn_options){.loop = loop}),
      CORIO_ELOOPCLOSED);
  corio_loop_unref(loop);
  assert_int_equal(corio_task_cancel(NULL, NULL), -EINVAL);
  assert_null(corio_task_name(NULL));
  corio_task_unref(NULL);
}

/* ---- fire and forget ----------------------------------------------------- */

static int count_up(void *arg, void **result) {
  int *n = arg;
  int rc = corio_sleep(0.001);

  (void)result;
  if (rc == 0)
    ++*n;
  return rc;
}

static int forget_tasks(void *arg, void **result) {
  int *n = arg;

  (void)result;
  for (int i = 0; i < 10; i++)
    assert_int_equal(corio_spawn(NULL, count_up, arg), 0);
  /* Until they have all counted: the main task outlasts them however
   * late their timers fire. */
  while (*n < 10)
    assert_int_equal(corio_sleep(0), 0);
  return corio_sleep(0);
}

/* Tasks nobody holds run to completion and are freed. */
static void test_fire_and_forget(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int n = 0;
  (void)state;

  assert_int_equal(run_main(forget_tasks, &n), 0);
  assert_int_equal(n, 10);
  corio_test_assert_no_leak(before);
}

/* An error nobody reads from a forgotten task is reported. */
static int fail_forgotten(void *arg, void **result) {
  struct reports *rep = arg;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), capture_report, rep);
  assert_int_equal(corio_spawn(NULL, fail_with_message, NULL), 0);
  return corio_sleep(0.01);
}

static void test_unretrieved_task_error(void **state) {
  struct reports rep = {0};
  (void)state;

  assert_int_equal(run_main(fail_forgotten, &rep), 0);
  assert_int_equal(rep.count, 1);
  assert_int_equal(rep.last_error, -EACCES);
  assert_string_equal(rep.last, "Task exception was never retrieved");
  assert_string_equal(rep.last_error_message, "no access to x");
  assert_non_null(rep.last_task);
  assert_ptr_equal(rep.last_future, rep.last_task);
  assert_true(strncmp(rep.last_task_name, "Task-", 5) == 0);
}

/* Many tasks at once, each with its own stack, all complete. */
static int many(void *arg, void **result) {
  enum { N = 2000 };
  static corio_task *tasks[N];
  int n = 0;

  (void)arg;
  (void)result;
  for (int i = 0; i < N; i++)
    tasks[i] = spawn_or_fail(count_up, &n);
  for (int i = 0; i < N; i++) {
    assert_int_equal(corio_await(tasks[i], NULL), 0);
    corio_task_unref(tasks[i]);
  }
  assert_int_equal(n, N);
  return 0;
}

static void test_many_tasks(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(many, NULL), 0);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spawn_schedules_first_step),
      cmocka_unit_test(test_eager_task_that_never_suspends),
      cmocka_unit_test(test_eager_needs_running_loop),
      cmocka_unit_test(test_outcomes),
      cmocka_unit_test(test_names_current_and_all_tasks),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_fire_and_forget),
      cmocka_unit_test(test_unretrieved_task_error),
      cmocka_unit_test(test_many_tasks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
