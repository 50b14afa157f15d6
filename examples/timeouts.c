/* Timeouts: the C twins of seed 001's section 2.2.8 (asyncio.timeout,
 * timeout(None) with reschedule, timeout_at, wait_for).
 *
 *   async def example_task():
 *       print("Task started")
 *       await asyncio.sleep(3)
 *       print("Task completed")
 *       return "Task result"
 *
 *   async def main():                                  # timeout
 *       try:
 *           async with asyncio.timeout(2):
 *               result = await example_task()
 *               print(f"Task finished with result: {result}")
 *       except asyncio.TimeoutError:
 *           print("Task took too long and was cancelled due to timeout.")
 *
 *   async def long_running_task():                     # timeout(None)
 *       print("Task started")
 *       await asyncio.sleep(5)
 *       print("Task completed")
 *
 *   async def main():
 *       try:
 *           async with asyncio.timeout(None) as cm:
 *               new_deadline = asyncio.get_running_loop().time() + 3
 *               cm.reschedule(new_deadline)
 *               await long_running_task()
 *       except TimeoutError:
 *           pass
 *       if cm.expired():
 *           print("Looks like we haven't finished on time.")
 *
 *   async def main():                                  # timeout_at
 *       loop = asyncio.get_running_loop()
 *       when = loop.time() + 2
 *       try:
 *           async with asyncio.timeout_at(when):
 *               result = await example_task()
 *               print(f"Task finished with result: {result}")
 *       except asyncio.TimeoutError:
 *           print("Task was cancelled due to timeout.")
 *
 *   async def main():                                  # wait_for
 *       try:
 *           result = await asyncio.wait_for(example_task(), timeout=2.0)
 *           print(f"Task finished with result: {result}")
 *       except asyncio.TimeoutError:
 *           print("Task took too long and was cancelled due to timeout.")
 *
 * `async with asyncio.timeout(d):` is a corio_timeout scope on the task's
 * stack, entered with corio_timeout_enter() and left with
 * corio_timeout_exit(scope, rc), rc being how the block ended. When the
 * deadline passes the task is cancelled: the await in the block returns
 * -ECANCELED, and the block passes it on; exit turns the cancellation it
 * caused into -ETIMEDOUT (TimeoutError), only there, as asyncio's
 * context manager does. corio_timeout_enter_at() takes a time on the
 * loop's clock (loop.time() is corio_loop_time()), and
 * corio_timeout_reschedule() and corio_timeout_expired() are the
 * manager's reschedule() and expired().
 *
 * Awaiting the coroutine example_task() is a plain call in C: it runs in
 * the main task, whose sleep the timeout interrupts. wait_for takes a
 * future, so example_task runs there as a task of its own; wait_for
 * cancels it on timeout and waits until it has finished.
 *
 * The seed's seconds are EXAMPLE_UNIT. Each deadline comes a unit before
 * the end of the sleep it interrupts, so the outcome does not depend on
 * the machine's speed: a timeout due first always comes first, even when
 * the loop falls behind and runs both in one iteration (see example.h).
 * A last part shows a scope whose deadline is not reached; the other way
 * round a sleep would have to end before a deadline due a unit later,
 * which a loop a unit behind would not do, so its deadline is 3600 units
 * away (3 minutes, more than any run of the test). */
#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "timeouts"

/* example_task, awaited (called) from the current task: sleeps `units`.
 * Returns 0 with *result, -ECANCELED, or another error after a report. */
static int example_task(int units, void **result) {
  int rc;

  puts("Task started");
  rc = corio_sleep(units * EXAMPLE_UNIT);
  if (rc == -ECANCELED)
    return rc;
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  puts("Task completed");
  *result = "Task result";
  return 0;
}

/* Prints how a timed block ended: the result, or the seed's message for
 * -ETIMEDOUT. Anything else is unexpected. */
static int report(int rc, const char *result, const char *on_timeout) {
  if (rc == 0) {
    printf("Task finished with result: %s\n", result);
    return 0;
  }
  if (rc == -ETIMEDOUT) { /* except asyncio.TimeoutError */
    puts(on_timeout);
    return 0;
  }
  return example_task_unexpected(EXAMPLE, "the timed block", rc, -ETIMEDOUT);
}

/* `async with asyncio.timeout(units): result = await example_task(task
 * units)`: returns the block's outcome. */
static int with_timeout(int units, int task_units, void **result) {
  corio_timeout scope;
  int rc = corio_timeout_enter(&scope, units * EXAMPLE_UNIT);

  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_timeout_enter", rc);
  rc = example_task(task_units, result);
  return corio_timeout_exit(&scope, rc);
}

static int timeout_main(void *arg, void **result) {
  void *value = NULL;
  int rc = with_timeout(2, 3, &value);

  (void)arg;
  (void)result;
  return report(rc, value,
                "Task took too long and was cancelled due to timeout.");
}

/* ---- timeout(None), rescheduled -------------------------------------------
 */

static int long_running_task(void) {
  void *ignored;

  return example_task(5, &ignored);
}

static int reschedule_main(void *arg, void **result) {
  corio_timeout cm;
  double new_deadline;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_timeout_enter(&cm, CORIO_NO_TIMEOUT); /* timeout(None) */
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_timeout_enter", rc);
  new_deadline = corio_loop_time(corio_loop_running()) + 3 * EXAMPLE_UNIT;
  rc = corio_timeout_reschedule(&cm, new_deadline);
  if (rc < 0) {
    (void)corio_timeout_exit(&cm, rc);
    return example_task_fail(EXAMPLE, "corio_timeout_reschedule", rc);
  }
  rc = long_running_task();
  rc = corio_timeout_exit(&cm, rc);
  if (rc != -ETIMEDOUT) /* except TimeoutError: pass */
    return example_task_unexpected(EXAMPLE, "corio_timeout_exit", rc,
                                   -ETIMEDOUT);
  if (corio_timeout_expired(&cm))
    puts("Looks like we haven't finished on time.");
  return 0;
}

/* ---- timeout_at -----------------------------------------------------------
 */

static int timeout_at_main(void *arg, void **result) {
  double when = corio_loop_time(corio_loop_running()) + 2 * EXAMPLE_UNIT;
  corio_timeout scope;
  void *value = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_timeout_enter_at(&scope, when);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_timeout_enter_at", rc);
  rc = example_task(3, &value);
  rc = corio_timeout_exit(&scope, rc);
  return report(rc, value, "Task was cancelled due to timeout.");
}

/* ---- wait_for -------------------------------------------------------------
 */

static int example_task_body(void *arg, void **result) {
  (void)arg;
  return example_task(3, result);
}

static int wait_for_main(void *arg, void **result) {
  corio_task *task;
  void *value = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&task, example_task_body, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = corio_wait_for(corio_task_future(task), 2 * EXAMPLE_UNIT, &value);
  rc =
      report(rc, value, "Task took too long and was cancelled due to timeout.");
  if (rc == 0)
    printf(">>> task.cancelled()  # wait_for waited until it was\n%s\n",
           corio_task_cancelled(task) ? "True" : "False");
  corio_task_unref(task);
  return rc;
}

/* ---- in time --------------------------------------------------------------
 */

static int in_time_main(void *arg, void **result) {
  corio_timeout scope;
  void *value = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_timeout_enter(&scope, 3600 * EXAMPLE_UNIT);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_timeout_enter", rc);
  rc = example_task(3, &value);
  rc = corio_timeout_exit(&scope, rc);
  rc =
      report(rc, value, "Task took too long and was cancelled due to timeout.");
  if (rc == 0)
    printf(">>> cm.expired()\n%s\n",
           corio_timeout_expired(&scope) ? "True" : "False");
  return rc;
}

int example_timeouts(void) {
  static const example_part parts[] = {
      {timeout_main, "# async with asyncio.timeout(2): a 3-unit task"},
      {reschedule_main, "\n# asyncio.timeout(None), rescheduled to "
                        "loop.time() + 3: a 5-unit task"},
      {timeout_at_main,
       "\n# async with asyncio.timeout_at(loop.time() + 2): a 3-unit task"},
      {wait_for_main, "\n# asyncio.wait_for(example_task(), timeout=2.0)"},
      {in_time_main, "\n# async with asyncio.timeout(3600) as cm: a 3-unit "
                     "task finishes in time"},
  };
  return example_asyncio_run_parts(EXAMPLE, parts,
                                   sizeof parts / sizeof parts[0]);
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_timeouts)
#endif
