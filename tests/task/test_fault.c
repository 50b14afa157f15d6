/* Fault injection over the task layer: every allocation and every stack
 * mapping call of a run that uses each feature fails in turn. Each failure
 * comes back as a clean error (or is tolerated: a message that cannot be
 * copied is dropped), nothing leaks, and the next run works. */
#include "task_test.h"

static corio_contextvar *var;

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

static int worker(void *arg, void **result) {
  int rc = corio_sleep(0.001);

  *result = arg;
  return rc;
}

static int waits_on(void *arg, void **result) {
  (void)result;
  return corio_future_await(arg, NULL);
}

static int fails_loudly(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-EIO, "failed %d", 1);
}

static int lingers(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(10);
}

static void on_done(corio_future *f, void *arg) {
  (void)f;
  ++*(int *)arg;
}

/* Each step's first error is the outcome. */
#define STEP(call)                                                             \
  do {                                                                         \
    rc = (call);                                                               \
    if (rc < 0)                                                                \
      goto out;                                                                \
  } while (0)

static int scenario(void *arg, void **result) {
  corio_task *a = NULL, *b = NULL, *c = NULL, *named = NULL;
  corio_future *f = NULL;
  corio_context_token tok;
  static int callbacks; /* they may run after this body has returned */
  int rc;
  void *r;

  (void)arg;
  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet, NULL);
  STEP(corio_contextvar_set(var, CORIO_PTR(1), &tok));
  STEP(corio_future_create(NULL, &f));
  STEP(corio_future_add_done_callback(f, on_done, &callbacks));
  STEP(corio_future_add_done_callback(f, on_done, &callbacks));
  STEP(corio_spawn(&a, worker, CORIO_PTR(3)));
  STEP(corio_spawn_ex(&b, waits_on, f, &(corio_spawn_options){.eager = 1}));
  STEP(corio_spawn(&c, lingers, NULL));
  STEP(corio_spawn_ex(&named, worker, NULL,
                      &(corio_spawn_options){.name = "named"}));
  STEP(corio_spawn(NULL, fails_loudly, NULL));
  STEP(corio_spawn(NULL, lingers, NULL)); /* left for run to cancel */
  STEP(corio_sleep(0));
  (void)corio_task_cancel(c, "stop");
  STEP(corio_future_set_result(f, NULL));
  STEP(corio_await(a, &r));
  STEP(corio_await(b, NULL));
  rc = corio_await(c, NULL);
  if (rc != -ECANCELED)
    goto out;
  STEP(corio_await(named, NULL));
  STEP(corio_sleep(0.001));
  if (!corio_task_name(a))
    rc = -EINVAL;
  else
    rc = corio_contextvar_reset(var, &tok);
out:
  corio_task_unref(a);
  corio_task_unref(b);
  corio_task_unref(c);
  corio_task_unref(named);
  corio_future_unref(f);
  return rc;
}

static void test_walk_every_point(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_ALLOC,   CORIO__FAULT_MMAP,         CORIO__FAULT_MPROTECT,
      CORIO__FAULT_MADVISE, CORIO__FAULT_EPOLL_CREATE, CORIO__FAULT_EVENTFD,
  };
  long walked[sizeof points / sizeof points[0]];
  (void)state;

  assert_int_equal(corio_contextvar_create(&var, "v"), 0);
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
    walked[i] = walk_run(points[i], scenario, corio_test_negative_or_tolerated);
  /* Allocations: runner, loop, task state, pool slabs, names, messages,
   * context maps, callback arrays... */
  assert_true(walked[0] >= 15);
  assert_true(walked[1] >= 1); /* the stack slab */
  assert_int_equal(run_main(scenario, NULL), 0);
  corio_contextvar_free(var);
}

/* An allocation failure that must surface: the stack of a task's first
 * step cannot be mapped, so the task fails with -ENOMEM. */
static int first_step_without_stack(void *arg, void **result) {
  corio_task *t;
  int rc;

  (void)arg;
  (void)result;
  corio_coro_pool_trim();
  assert_int_equal(
      corio_spawn_ex(&t, worker, NULL,
                     &(corio_spawn_options){.stack_size = 4 << 20}),
      0);
  corio__fault_arm(CORIO__FAULT_MMAP, 1);
  rc = corio_await(t, NULL);
  corio__fault_arm(CORIO__FAULT_MMAP, 0);
  assert_int_equal(rc, -ENOMEM);
  assert_non_null(corio_task_message(t));
  corio_task_unref(t);
  return 0;
}

static void test_stack_failure_fails_the_task(void **state) {
  (void)state;
  /* The worker's stack size is a class of its own, so its first step
   * maps a new slab. */
  assert_int_equal(run_main(first_step_without_stack, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_every_point),
      cmocka_unit_test(test_stack_failure_fails_the_task),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
