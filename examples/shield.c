/* shield: the C twin of seed 001's asyncio.shield example (section
 * 2.2.7), then the other two uses seed 000 describes (section 4-2): a
 * shield inside wait_for, and a task cancelled from inside.
 *
 *   async def example_task():
 *       print("Task started")
 *       await asyncio.sleep(2)
 *       print("Task completed")
 *       return "Task result"
 *
 *   async def cancel_task(task):
 *       await asyncio.sleep(1)
 *       print("Cancelling task...")
 *       task.cancel()
 *
 *   async def main():
 *       task = asyncio.create_task(example_task())
 *       protected_task = asyncio.shield(task)
 *       asyncio.create_task(cancel_task(protected_task))
 *       try:
 *           result = await protected_task
 *           print(f"Protected task finished with result: {result}")
 *       except asyncio.CancelledError:
 *           print("Protected task was cancelled")
 *
 * corio_shield(inner, &outer) gives a new future that mirrors inner's
 * outcome. Cancelling outer (cancel_task does) makes its awaiters see
 * -ECANCELED, CancelledError, and leaves the task inside running: its
 * result stays readable on the task, and the C version awaits it after
 * the seed's output ends (asyncio.run, in the seed, cancels it instead,
 * as main returns; so does corio_run with a task still pending).
 *
 * Where a shield matters: cancelling a task cancels what it awaits, as in
 * asyncio, and so do the combinators that own what they wait for:
 * wait_for on timeout, gather when cancelled, task groups. A shield
 * between them and the task keeps the task out of it, as the second part
 * shows with wait_for. The other way round, a shielded task cancelled by other
 * means cancels its shield too (the third part).
 *
 * The seed's seconds are EXAMPLE_UNIT. The events are a whole unit apart;
 * their order does not depend on the machine's speed (see example.h):
 * - In the seed's part, the task's 2 and cancel_task's 1 count from
 *   main's start, so the cancel comes first however late either task's
 *   first step comes; a timeout or a cancel due before the task's end
 *   comes first even when the loop runs both in one iteration.
 * - example_task does not print "Task completed" (the seed's output
 *   never shows it: asyncio.run cancels the task first). main learns
 *   of the cancel or timeout an iteration or two after it happened, and
 *   a loop that fell a unit behind would run the task's end in between:
 *   the line would come before main's. For the same reason main checks
 *   task.cancelled() (False: the task goes on) rather than task.done(),
 *   which such a loop could make True. */
#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "shield"

/* When main started, for the seed's part: the task's and cancel_task's
 * sleeps count from there (0: from their own start). */
static int64_t start_ns;

/* Sleeps `units` from start_ns, or from now if start_ns is 0. */
static int sleep_units(int units) {
  int64_t delay_ns = units * EXAMPLE_UNIT_NS;

  if (start_ns)
    delay_ns += start_ns - corio_loop_time_ns(corio_loop_running());
  return corio_sleep_ns(delay_ns);
}

static int example_task(void *arg, void **result) {
  int rc;

  (void)arg;
  puts("Task started");
  rc = sleep_units(2);
  if (rc == -ECANCELED)
    return rc;
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  *result = "Task result";
  return 0;
}

/* Cancels the future arg after a unit, and releases it. */
static int cancel_task(void *arg, void **result) {
  int rc;

  (void)result;
  rc = sleep_units(1);
  if (rc == 0) {
    puts("Cancelling task...");
    rc = corio_future_cancel(arg, NULL);
    rc = rc == 1
             ? 0
             : example_task_unexpected(EXAMPLE, "corio_future_cancel", rc, 1);
  } else if (rc != -ECANCELED) {
    rc = example_task_fail(EXAMPLE, "corio_sleep", rc);
  }
  corio_future_unref(arg);
  return rc;
}

/* Awaits task, which must finish with its result, and prints it. */
static int await_result(corio_task *task) {
  void *value = NULL;
  int rc;

  puts(">>> await task");
  rc = corio_await(task, &value);
  if (rc != 0)
    return example_task_unexpected(EXAMPLE, "await task", rc, 0);
  puts((const char *)value);
  return 0;
}

static int cancelled_line(corio_task *task) {
  printf(">>> task.cancelled()\n%s\n",
         corio_task_cancelled(task) ? "True" : "False");
  return 0;
}

/* The seed's main, then the task awaited. */
static int seed_part(corio_task *task) {
  corio_future *protected_task;
  void *value = NULL;
  int rc;

  rc = corio_shield(corio_task_future(task), &protected_task);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_shield", rc);
  /* cancel_task gets a reference of its own. */
  rc = corio_spawn(NULL, cancel_task, corio_future_ref(protected_task));
  if (rc < 0) {
    corio_future_unref(protected_task);
    corio_future_unref(protected_task);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  rc = corio_await(protected_task, &value);
  if (rc == 0) {
    printf("Protected task finished with result: %s\n", (const char *)value);
  } else if (rc == -ECANCELED) {
    puts("Protected task was cancelled");
    rc = 0;
  } else {
    rc = example_task_unexpected(EXAMPLE, "await protected_task", rc,
                                 -ECANCELED);
  }
  corio_future_unref(protected_task);
  if (rc < 0)
    return rc;
  puts("# The task inside the shield goes on:");
  cancelled_line(task);
  return await_result(task);
}

/* wait_for(shield(task), 1): the timeout cancels the shield only. */
static int wait_for_part(corio_task *task) {
  corio_future *outer;
  int rc;

  rc = corio_shield(corio_task_future(task), &outer);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_shield", rc);
  puts(">>> await asyncio.wait_for(asyncio.shield(task), timeout=1)");
  rc = corio_wait_for(outer, 1 * EXAMPLE_UNIT, NULL);
  corio_future_unref(outer);
  if (rc != -ETIMEDOUT)
    return example_task_unexpected(EXAMPLE, "corio_wait_for", rc, -ETIMEDOUT);
  printf("TimeoutError (%s)\n", example_error_name(rc));
  cancelled_line(task);
  return await_result(task);
}

/* The task is cancelled directly: its shield is cancelled too. */
static int inner_cancelled_part(corio_task *task) {
  corio_future *outer;
  int rc;

  rc = corio_shield(corio_task_future(task), &outer);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_shield", rc);
  rc = corio_sleep(1 * EXAMPLE_UNIT);
  if (rc == 0) {
    puts(">>> task.cancel()");
    rc = corio_task_cancel(task, NULL);
    rc = rc == 1 ? 0
                 : example_task_unexpected(EXAMPLE, "corio_task_cancel", rc, 1);
  } else {
    rc = example_task_fail(EXAMPLE, "corio_sleep", rc);
  }
  if (rc == 0) {
    puts(">>> await shield");
    rc = corio_await(outer, NULL);
    if (rc == -ECANCELED) {
      puts("CancelledError");
      printf(">>> shield.cancelled()\n%s\n",
             corio_future_cancelled(outer) ? "True" : "False");
      rc = 0;
    } else {
      rc = example_task_unexpected(EXAMPLE, "await shield", rc, -ECANCELED);
    }
  }
  corio_future_unref(outer);
  return rc;
}

static int run_part(int (*part)(corio_task *)) {
  corio_task *task;
  int rc;

  puts(">>> task = asyncio.create_task(example_task())");
  rc = corio_spawn(&task, example_task, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = part(task);
  /* On a failure, the task may still run: corio_run cancels it. */
  corio_task_unref(task);
  return rc;
}

static int shield_main(void *arg, void **result) {
  static const struct {
    const char *title;
    int (*run)(corio_task *);
  } parts[] = {
      {"", seed_part},
      {"\n# A shield inside wait_for: the timeout cancels the shield only",
       wait_for_part},
      {"\n# The task cancelled by other means: its shield is cancelled too",
       inner_cancelled_part},
  };
  size_t i;
  int rc;

  (void)arg;
  (void)result;
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (parts[i].title[0])
      puts(parts[i].title);
    /* The seed's part keeps a schedule from here; the others need none. */
    start_ns = parts[i].run == seed_part
                   ? corio_loop_time_ns(corio_loop_running())
                   : 0;
    rc = run_part(parts[i].run);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int example_shield(void) {
  int rc;

  puts(">>> asyncio.run(main())");
  rc = corio_run(shield_main, NULL, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_shield)
#endif
