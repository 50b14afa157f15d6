/* Fire and forget: the C twin of seed 004's answer on starting a task
 * without awaiting it, and on the tasks still pending when the loop ends.
 *
 *   async def async_foo():
 *       print("async_foo started")
 *       await asyncio.sleep(1)
 *       print("async_foo done")
 *
 *   async def main():
 *       asyncio.ensure_future(async_foo())  # fire and forget async_foo()
 *       print('Do some actions 1')
 *       await asyncio.sleep(1)
 *       print('Do some actions 2')
 *       await asyncio.sleep(1)
 *       print('Do some actions 3')
 *
 * corio_spawn(NULL, fn, arg) starts a task and keeps no reference to it:
 * the loop holds it until it is done. What happens to a forgotten task
 * that is still pending at the end depends on how the loop ends:
 *
 * - corio_run() (asyncio.run) cancels every task still pending once main
 *   is done, and runs the loop until they have finished: their await
 *   returns -ECANCELED and they can clean up. This is the seed's "kill
 *   tasks instead of awaiting them", done for you; echo_forever shows it.
 * - A loop closed with a task still pending reports "Task was destroyed
 *   but it is pending" through its exception handler, then closes the
 *   task's coroutine: its await returns CORIO_ECLOSED, so that it can
 *   still clean up, and the task ends cancelled. The fix from the seed is
 *   to cancel the pending tasks (corio_all_tasks is asyncio.all_tasks) and
 *   run the loop until each is done before closing it.
 *
 * A forgotten task that fails has nobody to read its error: when it is
 * freed the loop reports "Task exception was never retrieved".
 *
 * The seconds of the seed are EXAMPLE_UNIT. The output does not depend on
 * the machine's speed (see example.h):
 * - A forgotten task starts in the loop iteration after the one that
 *   spawned it, so async_foo's sleep of 1 starts after main's first one
 *   and ends before main's second one, whatever the loop's delays.
 * - echo_forever and echo_main keep the examples' schedule, with
 *   deadlines from main's start (example_sleep_until_ns): ticks at 0, 1,
 *   2, 3 units..., main's actions at 1.5 and 2.5. The schedule lets main
 *   end, and corio_run cancel echo_forever, before the tick at 3 can come,
 *   however late the loop is.
 * - In the loops of our own, async_foo must still be pending when main
 *   ends a tenth of a unit in: there it sleeps EXAMPLE_FOREVER. */
#include "example.h"

#define EXAMPLE "fire_and_forget"

/* Sleeps 1 unit, or EXAMPLE_FOREVER if arg is not NULL. */
static int async_foo(void *arg, void **result) {
  int rc;

  (void)result;
  puts("async_foo started");
  rc = corio_sleep(arg ? EXAMPLE_FOREVER : EXAMPLE_UNIT);
  if (rc == -ECANCELED) {
    puts("async_foo: cancelled");
    return rc;
  }
  if (rc == CORIO_ECLOSED) {
    printf("async_foo: sleep returned %s: the loop is closing\n",
           corio_err_name(rc));
    return rc;
  }
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  puts("async_foo done");
  return 0;
}

/* echo_main's start: the schedule of its ticks and of main's actions. */
static int64_t echo_start_ns;

/* Ticks every unit on echo_main's schedule. */
static int echo_forever(void *arg, void **result) {
  int64_t tick;
  int rc;

  (void)arg;
  (void)result;
  for (tick = 1;; tick++) {
    puts("echo");
    rc = example_sleep_until_ns(echo_start_ns + tick * EXAMPLE_UNIT_NS);
    if (rc == -ECANCELED) {
      puts("echo_forever: cancelled");
      return rc;
    }
    if (rc < 0)
      return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  }
}

static int send_report(void *arg, void **result) {
  (void)arg;
  (void)result;
  puts("send_report: fails");
  return corio_fail(-EIO, "could not send the report");
}

/* Spawns fn(arg) as a forgotten task named name (NULL: a default name). */
static int forget(corio_task_fn fn, void *arg, const char *name,
                  const char *call) {
  int rc;

  printf(">>> %s  # fire and forget\n", call);
  rc = corio_spawn_ex(NULL, fn, arg, &(corio_spawn_options){.name = name});
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_spawn_ex", rc) : 0;
}

/* `await asyncio.sleep(units)`, printed as in Python. */
static int sleep_units(double units, const char *call) {
  int rc;

  printf(">>> %s\n", call);
  rc = corio_sleep(units * EXAMPLE_UNIT);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_sleep", rc) : 0;
}

/* Prints `Do some actions <n>`, then sleeps if units > 0. */
static int actions(int n, double units, const char *call) {
  printf("Do some actions %d\n", n);
  return units > 0 ? sleep_units(units, call) : 0;
}

/* The same on echo_main's schedule: prints `Do some actions <n>`, then,
 * if call is not NULL, prints it and sleeps until `until` units after
 * echo_start_ns. */
static int actions_until(int n, double until, const char *call) {
  int rc;

  printf("Do some actions %d\n", n);
  if (!call)
    return 0;
  printf(">>> %s\n", call);
  rc = example_sleep_until_ns(echo_start_ns +
                              (int64_t)(until * (double)EXAMPLE_UNIT_NS));
  return rc < 0 ? example_task_fail(EXAMPLE, "example_sleep_until_ns", rc) : 0;
}

static int seed_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  rc = forget(async_foo, NULL, NULL, "asyncio.ensure_future(async_foo())");
  if (rc == 0)
    rc = actions(1, 1, "await asyncio.sleep(1)");
  if (rc == 0)
    rc = actions(2, 1, "await asyncio.sleep(1)");
  if (rc == 0)
    rc = actions(3, 0, NULL);
  return rc;
}

/* echo_forever ticks at 0, 1 and 2 units; main's actions come at 0, 1.5
 * and 2.5, and then corio_run cancels the tick due at 3. */
static int echo_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  echo_start_ns = corio_loop_time_ns(corio_loop_running());
  rc =
      forget(echo_forever, NULL, NULL, "asyncio.ensure_future(echo_forever())");
  if (rc == 0)
    rc = actions_until(1, 1.5, "await asyncio.sleep(1.5)");
  if (rc == 0)
    rc = actions_until(2, 2.5, "await asyncio.sleep(1)");
  if (rc == 0)
    rc = actions_until(3, 0, NULL);
  return rc;
}

/* Prints what the loop reports, so that it is checked with the output
 * (the default handler writes to stderr). */
static void handler(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)arg;
  printf("exception handler: %s", e->message);
  if (e->task_name)
    printf(" [%s]", e->task_name);
  if (e->error_message)
    printf(": %s", e->error_message);
  if (e->error)
    printf(" (%s)", corio_strerror(e->error));
  putchar('\n');
}

static int failing_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts(">>> asyncio.get_running_loop().set_exception_handler(handler)");
  corio_loop_set_exception_handler(corio_loop_running(), handler, NULL);
  rc = forget(send_report, NULL, "send_report",
              "asyncio.create_task(send_report(), name=\"send_report\")");
  return rc == 0 ? sleep_units(0, "await asyncio.sleep(0)") : rc;
}

/* main for a loop of our own: async_foo is still pending when it ends (it
 * sleeps EXAMPLE_FOREVER). */
static int short_main(void *arg, void **result) {
  static int forever = 1;
  int rc;

  (void)arg;
  (void)result;
  rc = forget(async_foo, &forever, "async_foo",
              "asyncio.create_task(async_foo(), name=\"async_foo\")");
  if (rc == 0)
    rc = actions(1, 0.1, "await asyncio.sleep(0.1)");
  if (rc == 0)
    rc = actions(2, 0, NULL);
  return rc;
}

/* The seed's fix: cancel what is pending and run the loop until each task
 * is done. Returns 0 or 1 (reported). */
static int cancel_pending(corio_loop *loop) {
  corio_task *pending[4];
  size_t i, n;
  int failed = 0, rc;

  puts(">>> for task in asyncio.all_tasks(loop):\n"
       "...     task.cancel()\n"
       "...     with suppress(asyncio.CancelledError):\n"
       "...         loop.run_until_complete(task)");
  n = corio_all_tasks(loop, pending, 4);
  if (n != 1)
    failed = example_unexpected(EXAMPLE, "corio_all_tasks", (int)n, 1);
  for (i = 0; i < n && i < 4; i++) {
    printf("pending: %s\n", corio_task_name(pending[i]));
    rc = corio_task_cancel(pending[i], NULL);
    if (rc != 1)
      failed = example_unexpected(EXAMPLE, "task.cancel()", rc, 1);
    rc = corio_run_until_complete(loop, corio_task_future(pending[i]), NULL);
    if (rc != -ECANCELED)
      failed = example_unexpected(EXAMPLE, "loop.run_until_complete(task)", rc,
                                  -ECANCELED);
    corio_task_unref(pending[i]);
  }
  return failed;
}

/* loop.run_until_complete(main()) on a loop of our own, then close it,
 * with or without the clean-up first. */
static int own_loop(int clean_up) {
  corio_loop *loop;
  corio_task *main_task;
  int failed = 0, rc;

  puts(">>> loop = asyncio.new_event_loop()");
  rc = corio_loop_create(&loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_create", rc);
  puts(">>> loop.set_exception_handler(handler)");
  corio_loop_set_exception_handler(loop, handler, NULL);
  puts(">>> loop.run_until_complete(main())");
  rc = corio_spawn_ex(&main_task, short_main, NULL,
                      &(corio_spawn_options){.loop = loop});
  if (rc < 0) {
    corio_loop_unref(loop);
    return example_fail(EXAMPLE, "corio_spawn_ex", rc);
  }
  rc = corio_run_until_complete(loop, corio_task_future(main_task), NULL);
  corio_task_unref(main_task);
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_run_until_complete", rc);
  if (!failed && clean_up)
    failed = cancel_pending(loop);
  puts(">>> loop.close()");
  rc = corio_loop_close(loop);
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_loop_close", rc);
  corio_loop_unref(loop);
  return failed;
}

int example_fire_and_forget(void) {
  if (example_asyncio_run(EXAMPLE, seed_main, "# A task nobody awaits") ||
      example_asyncio_run(EXAMPLE, echo_main,
                          "\n# Still pending when main is done: corio_run "
                          "cancels it") ||
      example_asyncio_run(EXAMPLE, failing_main,
                          "\n# A forgotten task that fails"))
    return 1;
  puts("\n# A loop closed while a task is pending");
  if (own_loop(0))
    return 1;
  puts("\n# The fix: cancel the pending tasks and wait for them first");
  return own_loop(1);
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_fire_and_forget)
#endif
