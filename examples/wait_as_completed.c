/* Waiting for tasks: the C twins of seed 001's section 2.2.9
 * (asyncio.wait with a timeout, asyncio.as_completed, with and without a
 * timeout).
 *
 *   async def example_task(name, delay):
 *       print(f"Task {name} started")
 *       await asyncio.sleep(delay)
 *       print(f"Task {name} completed")
 *       return name
 *
 *   async def main():                                     # wait
 *       tasks = [asyncio.create_task(example_task("A", 1)),
 *                asyncio.create_task(example_task("B", 2)),
 *                asyncio.create_task(example_task("C", 3))]
 *       done, pending = await asyncio.wait(
 *           tasks, timeout=2, return_when=asyncio.ALL_COMPLETED)
 *       print("\nResults:")
 *       for task in done:
 *           print(f"{task.result()} completed")
 *       if pending:
 *           print("Pending tasks:")
 *           for task in pending:
 *               print(f"{task}")
 *
 *   async def main():                                     # as_completed
 *       tasks = [asyncio.create_task(example_task("A", 3)),
 *                asyncio.create_task(example_task("B", 1)),
 *                asyncio.create_task(example_task("C", 2))]
 *       for completed_task in asyncio.as_completed(tasks):
 *           result = await completed_task
 *           print(f"Task {result} has finished")
 *
 *   async def main():                        # as_completed with a timeout
 *       tasks = [asyncio.create_task(example_task("A", 3)),
 *                asyncio.create_task(example_task("B", 5)),
 *                asyncio.create_task(example_task("C", 1))]
 *       try:
 *           for completed_task in asyncio.as_completed(tasks, timeout=4):
 *               result = await completed_task
 *               print(f"Task {result} has finished")
 *       except asyncio.TimeoutError:
 *           print("Some tasks did not complete within the timeout period")
 *
 * corio_wait() sorts the futures into done and pending arrays (in argument
 * order; Python's are sets) and, unlike wait_for, cancels nothing when
 * its timeout passes: the seed's output ends with "Task B completed",
 * printed while asyncio.run was finishing. The C version awaits the
 * pending tasks to show they run on. A task prints as its name, which is
 * given at spawn: the default "Task-N" counts tasks in the whole process.
 *
 * corio_as_completed_start()/next() is the iterator; next returns each
 * future as it completes, done, so `await completed_task` is reading its
 * result. With a timeout, next returns -ETIMEDOUT (TimeoutError) once it
 * has passed; B is still pending then, and corio_run cancels it once main
 * returns, as asyncio.run does.
 *
 * The seed's seconds are EXAMPLE_UNIT. Where the seed has a tie (B's sleep
 * of 2 and wait's timeout of 2) the timeout is due first, as in asyncio:
 * wait sets its deadline before B's first step sets B's. Other events
 * are a whole unit apart.
 *
 * The output does not depend on the machine's speed (see example.h):
 * - In wait, A's sleep of 1 counts from main's start, before the wait
 *   began, so it cannot end after the timeout however late A's first step
 *   comes; B and C sleep from their own start, after the wait began, so
 *   they cannot end before it. wait sorts the futures when main resumes,
 *   after A's end even when the loop runs A's end and the timeout in one
 *   iteration.
 * - With as_completed, the tasks sleep on the examples' schedule, from
 *   main's start (example_sleep_until_ns): main has printed "Task B has
 *   finished" before C's end can come, however late the loop is.
 * - With as_completed and a timeout, one change to the seed: no task ends
 *   before the timeout. One that ends a unit before it would be reported
 *   as timed out by a loop that fell a unit behind (the timeout is a
 *   timer of its own, outside the schedule), so A, B and C all take
 *   longer (EXAMPLE_FOREVER; corio_run cancels them once main returns). */
#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "wait_as_completed"

/* How a task's sleep counts its delay. */
enum from {
  FROM_OWN_START,  /* from the task's first step: corio_sleep */
  FROM_MAIN,       /* from start_ns, a loop timer of its own */
  ON_THE_SCHEDULE, /* from start_ns, on the examples' schedule */
};

struct spec {
  char name[2]; /* also the task's result */
  int delay;    /* in units; FOREVER: EXAMPLE_FOREVER */
  enum from from;
  int64_t start_ns; /* main's start, unless FROM_OWN_START */
};

#define FOREVER (-1)

static int example_task(void *arg, void **result) {
  struct spec *s = arg;
  int64_t delay_ns = s->delay * EXAMPLE_UNIT_NS;
  int rc;

  printf("Task %s started\n", s->name);
  if (s->delay == FOREVER)
    rc = corio_sleep(EXAMPLE_FOREVER);
  else if (s->from == ON_THE_SCHEDULE)
    rc = example_sleep_until_ns(s->start_ns + delay_ns);
  else if (s->from == FROM_MAIN)
    rc = corio_sleep_ns(s->start_ns + delay_ns -
                        corio_loop_time_ns(corio_loop_running()));
  else
    rc = corio_sleep_ns(delay_ns);
  if (rc == -ECANCELED)
    return rc;
  if (rc < 0)
    return example_task_fail(EXAMPLE, "sleep", rc);
  printf("Task %s completed\n", s->name);
  *result = s->name;
  return 0;
}

/* Cancels the first n tasks, waits until they have finished, and releases
 * them. */
static void cancel_and_release(corio_task **tasks, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    (void)corio_task_cancel(tasks[i], NULL);
  for (i = 0; i < n; i++) {
    while (!corio_task_done(tasks[i]))
      if (corio_await(tasks[i], NULL) == CORIO_ECLOSED)
        break;
    corio_task_unref(tasks[i]);
  }
}

/* Starts example_task for each of the three specs, named after them. */
static int spawn_three(struct spec *specs, corio_task **tasks,
                       corio_future **fs) {
  size_t i;
  int rc;

  for (i = 0; i < 3; i++) {
    rc = corio_spawn_ex(&tasks[i], example_task, &specs[i],
                        &(corio_spawn_options){.name = specs[i].name});
    if (rc < 0) {
      cancel_and_release(tasks, i);
      return example_task_fail(EXAMPLE, "corio_spawn_ex", rc);
    }
    fs[i] = corio_task_future(tasks[i]);
  }
  return 0;
}

static void release(corio_task **tasks, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    corio_task_unref(tasks[i]);
}

/* ---- wait with a timeout --------------------------------------------------
 */

static int print_done(corio_future *const *done, size_t n) {
  void *value;
  size_t i;
  int rc;

  puts("\nResults:");
  for (i = 0; i < n; i++) {
    rc = corio_future_result(done[i], &value);
    if (rc < 0)
      return example_task_unexpected(EXAMPLE, "corio_future_result", rc, 0);
    printf("%s completed\n", (const char *)value);
  }
  return 0;
}

static int wait_main(void *arg, void **result) {
  static struct spec specs[3] = {{"A", 1, FROM_MAIN, 0},
                                 {"B", 2, FROM_OWN_START, 0},
                                 {"C", 3, FROM_OWN_START, 0}};
  corio_task *tasks[3];
  corio_future *fs[3], *done[3], *pending[3];
  corio_awaitable rest[3];
  size_t i, n_done = 0, n_pending = 0;
  int rc;

  (void)arg;
  (void)result;
  specs[0].start_ns = corio_loop_time_ns(corio_loop_running()); /* A's */
  rc = spawn_three(specs, tasks, fs);
  if (rc < 0)
    return rc;
  rc = corio_wait(fs, 3, 2 * EXAMPLE_UNIT, CORIO_ALL_COMPLETED, done, &n_done,
                  pending, &n_pending);
  if (rc < 0) {
    cancel_and_release(tasks, 3);
    return example_task_fail(EXAMPLE, "corio_wait", rc);
  }
  rc = print_done(done, n_done);
  if (rc == 0 && n_pending > 0) {
    puts("Pending tasks:");
    for (i = 0; i < n_pending; i++) {
      printf("<Task pending name='%s'>\n",
             corio_task_name(corio_future_task(pending[i])));
      rest[i] = CORIO_AWAIT_FUTURE(pending[i]);
    }
    puts(">>> await asyncio.gather(*pending)  # wait() cancelled nothing");
    rc = corio_gather(rest, n_pending, NULL, 0);
    if (rc < 0)
      (void)example_task_fail(EXAMPLE, "corio_gather", rc);
  }
  cancel_and_release(tasks, 3); /* only releases, unless something failed */
  return rc;
}

/* ---- as_completed ---------------------------------------------------------
 */

/* Runs the three tasks and prints them as they complete; returns what
 * corio_as_completed_next returned last (CORIO_AS_COMPLETED_END, or
 * -ETIMEDOUT). */
static int as_completed(struct spec *specs, double timeout) {
  corio_task *tasks[3];
  corio_future *fs[3], *completed_task;
  corio_as_completed *it;
  void *value;
  int rc;

  rc = spawn_three(specs, tasks, fs);
  if (rc < 0)
    return rc;
  rc = corio_as_completed_start(&it, fs, 3, timeout);
  if (rc < 0) {
    cancel_and_release(tasks, 3);
    return example_task_fail(EXAMPLE, "corio_as_completed_start", rc);
  }
  while ((rc = corio_as_completed_next(it, &completed_task)) == 0) {
    rc = corio_future_result(completed_task, &value);
    if (rc < 0) {
      rc = example_task_unexpected(EXAMPLE, "corio_future_result", rc, 0);
      break;
    }
    printf("Task %s has finished\n", (const char *)value);
  }
  corio_as_completed_free(it);
  /* A task still pending goes on; corio_run cancels it at the end. */
  release(tasks, 3);
  return rc;
}

static int as_completed_main(void *arg, void **result) {
  static struct spec specs[3] = {{"A", 3, ON_THE_SCHEDULE, 0},
                                 {"B", 1, ON_THE_SCHEDULE, 0},
                                 {"C", 2, ON_THE_SCHEDULE, 0}};
  int64_t start_ns = corio_loop_time_ns(corio_loop_running());
  int rc, i;

  (void)arg;
  (void)result;
  for (i = 0; i < 3; i++)
    specs[i].start_ns = start_ns;
  rc = as_completed(specs, CORIO_NO_TIMEOUT);
  if (rc != CORIO_AS_COMPLETED_END)
    return example_task_unexpected(EXAMPLE, "corio_as_completed_next", rc,
                                   CORIO_AS_COMPLETED_END);
  return 0;
}

static int as_completed_timeout_main(void *arg, void **result) {
  static struct spec specs[3] = {{"A", FOREVER, FROM_OWN_START, 0},
                                 {"B", FOREVER, FROM_OWN_START, 0},
                                 {"C", FOREVER, FROM_OWN_START, 0}};
  int rc = as_completed(specs, 4 * EXAMPLE_UNIT);

  (void)arg;
  (void)result;
  if (rc != -ETIMEDOUT)
    return example_task_unexpected(EXAMPLE, "corio_as_completed_next", rc,
                                   -ETIMEDOUT);
  puts("Some tasks did not complete within the timeout period");
  return 0;
}

int example_wait_as_completed(void) {
  if (example_asyncio_run(EXAMPLE, wait_main,
                          "# asyncio.wait(tasks, timeout=2): A 1, B 2, C 3"))
    return 1;
  if (example_asyncio_run(EXAMPLE, as_completed_main,
                          "\n# asyncio.as_completed(tasks): A 3, B 1, C 2"))
    return 1;
  return example_asyncio_run(
      EXAMPLE, as_completed_timeout_main,
      "\n# asyncio.as_completed(tasks, timeout=4): A, B and C take longer");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_wait_as_completed)
#endif
