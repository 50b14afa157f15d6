/* Task groups: the C twins of seed 001's asyncio.TaskGroup examples
 * (section 2.2.3).
 *
 *   async def task(num):                           # the basic group
 *       await asyncio.sleep(1)
 *       print(f"Task {num} done")
 *       return f"Result {num}"
 *
 *   async def main():
 *       async with asyncio.TaskGroup() as tg:
 *           task1 = tg.create_task(task(1))
 *           task2 = tg.create_task(task(2))
 *           task3 = tg.create_task(task(3))
 *       print(f"Task 1: {task1.result()},Task 2: {task2.result()},"
 *             f"Task 3: {task3.result()}")
 *
 *   async def task_1():                            # an error cancels
 *       await asyncio.sleep(1)                     # the siblings
 *       print("Task 1 done")
 *       return "Result 1"
 *   async def task_2():
 *       await asyncio.sleep(2)
 *       raise ValueError("Task 2 failed!")
 *   async def task_3():
 *       try:
 *           await asyncio.sleep(3)
 *           print("Task 3 done")
 *       except asyncio.CancelledError:
 *           print("Task 3 was cancelled!")
 *
 *   async def main():
 *       try:
 *           async with asyncio.TaskGroup() as tg:
 *               tg.create_task(task_1())
 *               tg.create_task(task_2())
 *               tg.create_task(task_3())
 *       except Exception as e:
 *           print(f"An exception occurred: {e}")
 *
 *   class TerminateTaskGroup(Exception):           # terminating a group
 *       """Exception raised to terminate a task group."""
 *   async def force_terminate_task_group():
 *       raise TerminateTaskGroup()
 *   async def job(task_id, sleep_time):
 *       print(f'Task {task_id}: start')
 *       await asyncio.sleep(sleep_time)
 *       print(f'Task {task_id}: done')
 *
 *   async def main():
 *       try:
 *           async with TaskGroup() as group:
 *               group.create_task(job(1, 0.5))
 *               group.create_task(job(2, 1.5))
 *               await asyncio.sleep(1)
 *               group.create_task(force_terminate_task_group())
 *       except* TerminateTaskGroup:
 *           pass
 *
 * `async with TaskGroup() as g:` is corio_taskgroup_open(); its end is
 * corio_taskgroup_close(g, rc), which waits for every child. The first
 * child that fails cancels the others (and the owner's body, at its
 * current await); close then returns CORIO_ETASKGROUP, the C form of the
 * ExceptionGroup, and corio_taskgroup_error() lists the real errors, each
 * with the task that failed. ValueError is -EINVAL here, with the
 * message given to corio_fail().
 *
 * `except* TerminateTaskGroup: pass` is an error code of the program's own
 * (TERMINATE_TASK_GROUP below): after close, the owner checks that every
 * error listed is that code and goes on as if the group had ended
 * normally. The group withdraws the cancellation it sent its owner, so
 * the owner is not left cancelled (its cancelling() count is 0 again).
 *
 * Task 3 catches its cancellation and returns normally, as the seed's
 * does: it ends with a result, not cancelled, and it is not an error of
 * the group.
 *
 * The seed's seconds are EXAMPLE_UNIT; the terminating example's 0.5, 1
 * and 1.5 s become 1, 2 and 3 units, so that its events are a whole unit
 * apart. Each task sleeps until a deadline from the group's start
 * (example_sleep_until_ns), so the order of events is the same however
 * slow the machine is (see example.h). A task that the group cancels
 * (task_3, and job 2 when the group is terminated) must still be pending
 * when the cancel comes, an iteration or two after the failure that
 * causes it: a loop that fell a unit behind would run a deadline a unit
 * later in between, so those two sleep EXAMPLE_FOREVER instead of 3
 * units. */
#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "taskgroup"

/* An error code of this program's own, out of errno's range and corio's
 * (-4000 .. -4099): the TerminateTaskGroup exception. */
#define TERMINATE_TASK_GROUP (-5000)

static int64_t now_ns(void) { return corio_loop_time_ns(corio_loop_running()); }

/* What a child of these groups does: sleep until start_ns + units. */
struct child {
  int num;
  int units; /* FOREVER: EXAMPLE_FOREVER */
  int64_t start_ns;
  char result[16];
};

#define FOREVER (-1)

/* Sleeps until c's deadline. Returns 0, -ECANCELED, or another error
 * after a report. */
static int sleep_child(const struct child *c) {
  int rc = example_sleep_until_ns(
      c->start_ns +
      (c->units == FOREVER ? EXAMPLE_FOREVER_NS : c->units * EXAMPLE_UNIT_NS));

  if (rc < 0 && rc != -ECANCELED)
    return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  return rc;
}

/* Prints each error of the closed group g with the task that failed,
 * except those equal to `ignore` (0: none, errors are negative). Returns
 * how many it printed. */
static size_t print_errors(corio_taskgroup *g, int ignore) {
  size_t i, n = corio_taskgroup_error_count(g), others = 0;
  corio_task *task;
  int err;

  for (i = 0; i < n; i++) {
    err = corio_taskgroup_error(g, i, &task);
    if (err == ignore)
      continue;
    others++;
    printf("  %s: %s('%s')\n", task ? corio_task_name(task) : "the body",
           example_error_name(err),
           task && corio_task_message(task) ? corio_task_message(task) : "");
  }
  return others;
}

/* Frees g, which is closed: a failure is a report. */
static int free_group(corio_taskgroup *g) {
  int rc = corio_taskgroup_free(g);

  return rc < 0 ? example_task_fail(EXAMPLE, "corio_taskgroup_free", rc) : 0;
}

/* tg.create_task(fn(c)), named name. */
static int spawn(corio_taskgroup *g, corio_task **out, corio_task_fn fn,
                 void *c, const char *name) {
  int rc = corio_taskgroup_spawn_ex(g, out, fn, c,
                                    &(corio_spawn_options){.name = name});

  return rc < 0 ? example_task_fail(EXAMPLE, "corio_taskgroup_spawn", rc) : 0;
}

/* The owner must not be left cancelled by a group it closed: prints its
 * cancelling() count, which must be 0. Another count is reported on
 * stderr but does not stop the example: the output, checked by its test,
 * shows it, and the parts after this one still run. */
static int check_not_cancelled(void) {
  int n = corio_task_cancelling(corio_current_task());

  printf(">>> asyncio.current_task().cancelling()\n%d\n", n);
  if (n != 0)
    fprintf(stderr,
            "%s: cancelling() is %d after corio_taskgroup_close instead of 0:"
            " the group's cancellation of its owner was not withdrawn\n",
            EXAMPLE, n);
  return 0;
}

/* ---- the basic group ----------------------------------------------------- */

static int task(void *arg, void **result) {
  struct child *c = arg;
  int rc = sleep_child(c);

  if (rc < 0)
    return rc;
  printf("Task %d done\n", c->num);
  snprintf(c->result, sizeof c->result, "Result %d", c->num);
  *result = c->result;
  return 0;
}

static int basic_main(void *arg, void **result) {
  static const char *const names[3] = {"task1", "task2", "task3"};
  struct child children[3];
  corio_task *tasks[3];
  corio_taskgroup *g;
  int64_t start_ns = now_ns();
  void *values[3] = {NULL, NULL, NULL};
  int i, n = 0, rc, close_rc;

  (void)arg;
  (void)result;
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_taskgroup_open", rc);
  for (i = 0; i < 3 && rc == 0; i++) {
    children[i] = (struct child){i + 1, 1, start_ns, ""};
    rc = spawn(g, &tasks[i], task, &children[i], names[i]);
    if (rc == 0)
      n++;
  }
  /* The children use this stack: close waits for them, failure or not. */
  close_rc = corio_taskgroup_close(g, rc);
  for (i = 0; i < n && close_rc == 0; i++) {
    close_rc = corio_task_result(tasks[i], &values[i]);
  }
  for (i = 0; i < n; i++)
    corio_task_unref(tasks[i]);
  if (free_group(g) < 0 || rc < 0)
    return -EPROTO;
  if (close_rc != 0)
    return example_task_unexpected(EXAMPLE, "corio_taskgroup_close", close_rc,
                                   0);
  printf("Task 1: %s,Task 2: %s,Task 3: %s\n", (const char *)values[0],
         (const char *)values[1], (const char *)values[2]);
  return 0;
}

/* ---- an error cancels the other children -------------------------------- */

static int task_1(void *arg, void **result) {
  int rc = sleep_child(arg);

  if (rc < 0)
    return rc;
  puts("Task 1 done");
  *result = "Result 1";
  return 0;
}

static int task_2(void *arg, void **result) {
  int rc = sleep_child(arg);

  (void)result;
  if (rc < 0)
    return rc;
  return corio_fail(-EINVAL, "Task 2 failed!"); /* raise ValueError(...) */
}

static int task_3(void *arg, void **result) {
  int rc = sleep_child(arg);

  (void)result;
  if (rc == -ECANCELED) {
    puts("Task 3 was cancelled!");
    return 0; /* caught, not raised again */
  }
  if (rc < 0)
    return rc;
  puts("Task 3 done");
  return 0;
}

static int failing_main(void *arg, void **result) {
  static const corio_task_fn fns[3] = {task_1, task_2, task_3};
  static const char *const names[3] = {"task_1", "task_2", "task_3"};
  struct child children[3];
  corio_taskgroup *g;
  int64_t start_ns = now_ns();
  size_t n_errors;
  int i, rc;

  (void)arg;
  (void)result;
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_taskgroup_open", rc);
  for (i = 0; i < 3 && rc == 0; i++) {
    /* task_3 is cancelled: see the top of the file. */
    children[i] = (struct child){i + 1, i < 2 ? i + 1 : FOREVER, start_ns, ""};
    rc = spawn(g, NULL, fns[i], &children[i], names[i]);
  }
  rc = corio_taskgroup_close(g, rc);
  if (rc == CORIO_ETASKGROUP) { /* except Exception as e */
    n_errors = corio_taskgroup_error_count(g);
    printf("An exception occurred: %s: %s (%zu sub-exception%s)\n",
           corio_err_name(rc), corio_strerror(rc), n_errors,
           n_errors == 1 ? "" : "s");
    (void)print_errors(g, 0);
    rc = 0;
  } else {
    rc = example_task_unexpected(EXAMPLE, "corio_taskgroup_close", rc,
                                 CORIO_ETASKGROUP);
  }
  if (free_group(g) < 0)
    return -EPROTO;
  return rc < 0 ? rc : check_not_cancelled();
}

/* ---- terminating a group on purpose -------------------------------------- */

static int force_terminate_task_group(void *arg, void **result) {
  (void)arg;
  (void)result;
  return TERMINATE_TASK_GROUP; /* raise TerminateTaskGroup() */
}

static int job(void *arg, void **result) {
  struct child *c = arg;
  int rc;

  (void)result;
  printf("Task %d: start\n", c->num);
  rc = sleep_child(c);
  if (rc < 0)
    return rc;
  printf("Task %d: done\n", c->num);
  return 0;
}

static int terminate_main(void *arg, void **result) {
  struct child jobs[2];
  corio_task *job2 = NULL;
  corio_taskgroup *g;
  int64_t start_ns = now_ns();
  int rc;

  (void)arg;
  (void)result;
  jobs[0] = (struct child){1, 1, start_ns, ""};
  jobs[1] = (struct child){2, FOREVER, start_ns, ""}; /* cancelled */
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_taskgroup_open", rc);
  rc = spawn(g, NULL, job, &jobs[0], "job-1");
  if (rc == 0)
    rc = spawn(g, &job2, job, &jobs[1], "job-2");
  if (rc == 0) {
    /* await asyncio.sleep(1), on the group's schedule. */
    rc = example_sleep_until_ns(start_ns + 2 * EXAMPLE_UNIT_NS);
    if (rc < 0)
      rc = example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  }
  if (rc == 0)
    rc = spawn(g, NULL, force_terminate_task_group, NULL, "terminate");
  rc = corio_taskgroup_close(g, rc);
  if (rc == CORIO_ETASKGROUP && print_errors(g, TERMINATE_TASK_GROUP) == 0) {
    /* except* TerminateTaskGroup: pass */
    puts("(the group was terminated: every error was TerminateTaskGroup)");
    printf(">>> job2.cancelled()\n%s\n",
           job2 && corio_task_cancelled(job2) ? "True" : "False");
    rc = 0;
  } else {
    rc = example_task_unexpected(EXAMPLE, "corio_taskgroup_close", rc,
                                 CORIO_ETASKGROUP);
  }
  if (job2)
    corio_task_unref(job2);
  if (free_group(g) < 0)
    return -EPROTO;
  return rc < 0 ? rc : check_not_cancelled();
}

int example_taskgroup(void) {
  if (example_asyncio_run(EXAMPLE, basic_main, "# Three tasks in a group"))
    return 1;
  if (example_asyncio_run(EXAMPLE, failing_main,
                          "\n# Task 2 fails: the group cancels task 3"))
    return 1;
  return example_asyncio_run(
      EXAMPLE, terminate_main,
      "\n# Terminating a group on purpose (TerminateTaskGroup)");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_taskgroup)
#endif
