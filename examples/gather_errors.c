/* gather with results and with errors: the C twins of seed 001's gather
 * examples (section 2.2.5) and of seed 002's "exception + timeout"
 * example.
 *
 *   async def task(num):                                 # seed 001
 *       await asyncio.sleep(num)
 *       if num == 2:                    # (not in the first example)
 *           raise ValueError(f"Task {num} failed!")
 *       print(f"Task {num} completed")
 *       return f"Num {num}"
 *
 *   async def main():
 *       tasks = []
 *       for i in range(1, 4):
 *           tasks.append(task(i))
 *       try:
 *           results = await asyncio.gather(*tasks)
 *           # or: await asyncio.gather(*tasks, return_exceptions=True)
 *           print(f"Results: {results}")
 *       except Exception as e:
 *           print(f"An error occurred: {e}")
 *
 *   async def worker_1():                                # seed 002
 *       await asyncio.sleep(1)
 *       return 1
 *   async def worker_2():
 *       await asyncio.sleep(2)
 *       return 2 / 0
 *   async def worker_3():
 *       await asyncio.sleep(3)
 *       return 3
 *
 *   async def main():
 *       task_1 = asyncio.create_task(worker_1())
 *       task_2 = asyncio.create_task(worker_2())
 *       task_3 = asyncio.create_task(worker_3())
 *       await asyncio.sleep(2)
 *       task_3.cancel()
 *       res = await asyncio.gather(task_1, task_2, task_3,
 *                                  return_exceptions=True)
 *       print(res)
 *       # [1, ZeroDivisionError('division by zero'), CancelledError()]
 *
 * corio_gather() starts CORIO_AWAIT_FN(fn, arg) children as tasks (the
 * coroutines passed to gather) and awaits CORIO_AWAIT_TASK(t) ones. Each
 * child's outcome is a corio_outcome: a result, or an error code. The
 * exceptions print here as their codes with the task's message:
 * ValueError('Task 2 failed!') is -EINVAL('Task 2 failed!'),
 * ZeroDivisionError is -EDOM, and a cancelled child is -ECANCELED().
 *
 * Without CORIO_GATHER_RETURN_EXCEPTIONS the first error comes back at
 * once and the other children keep running (task 3 here, which corio_run
 * then cancels as main returns, as asyncio.run does); the gather future
 * (corio_gather_start) carries the failed child's message, the "{e}" of
 * the seed. With it, gather waits for every child and reports each.
 *
 * The seed's seconds are EXAMPLE_UNIT; the events are a whole unit apart
 * but for seed 002's second 2, where main's sleep and worker_2's end
 * together, in either order, with the same output. The order of the
 * output does not depend on the machine's speed (see example.h): the
 * children's sleeps start in one loop iteration, in argument order, so
 * they end in that order; main's cancel of task_3, due a unit before
 * task_3's end, comes first even when the loop runs both at once. Where
 * gather raises the first error, task 3 must still be pending when main
 * has printed it and returned, an iteration or two after task 2 failed:
 * there it sleeps EXAMPLE_FOREVER, not 3 units. */
#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "gather_errors"

/* Seed 001's task(num); fails at 2 if arg's `fail` is set. */
struct num_task {
  int num;
  int fail;
  int forever; /* sleeps EXAMPLE_FOREVER instead of num units */
  char result[16];
};

static int task(void *arg, void **result) {
  struct num_task *t = arg;
  int rc = corio_sleep(t->forever ? EXAMPLE_FOREVER : t->num * EXAMPLE_UNIT);

  if (rc == -ECANCELED)
    return rc;
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  if (t->fail && t->num == 2)
    return corio_fail(-EINVAL, "Task %d failed!", t->num); /* ValueError */
  printf("Task %d completed\n", t->num);
  snprintf(t->result, sizeof t->result, "Num %d", t->num);
  *result = t->result;
  return 0;
}

/* Prints an error the way Python's repr() shows an exception. */
static void print_error(int err, const char *message) {
  printf("%s('%s')", example_error_name(err), message ? message : "");
}

/* The three num_tasks; static, because after a first error gather returns
 * while the other children run on, and they must not be left with a
 * pointer into a stack that is gone. */
static struct num_task nums[3];

static void init_nums(int fail) {
  int i;

  for (i = 0; i < 3; i++)
    nums[i] = (struct num_task){i + 1, fail, 0, ""};
}

/* ---- every child succeeds -------------------------------------------------
 */

static int results_main(void *arg, void **result) {
  corio_awaitable children[3];
  corio_outcome outcomes[3];
  int i, rc;

  (void)arg;
  (void)result;
  init_nums(0);
  for (i = 0; i < 3; i++)
    children[i] = CORIO_AWAIT_FN(task, &nums[i]);
  rc = corio_gather(children, 3, outcomes, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  printf("Results: ['%s', '%s', '%s']\n", (const char *)outcomes[0].result,
         (const char *)outcomes[1].result, (const char *)outcomes[2].result);
  return 0;
}

/* ---- the first error, at once ---------------------------------------------
 */

static int first_error_main(void *arg, void **result) {
  corio_awaitable children[3];
  corio_future *gathered;
  int i, rc;

  (void)arg;
  (void)result;
  init_nums(1);
  nums[2].forever = 1; /* still pending at the end: corio_run cancels it */
  for (i = 0; i < 3; i++)
    children[i] = CORIO_AWAIT_FN(task, &nums[i]);
  rc = corio_gather_start(&gathered, children, 3, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather_start", rc);
  rc = corio_await(gathered, NULL);
  if (rc == -EINVAL) { /* except Exception as e */
    printf("An error occurred: %s (%s)\n", corio_future_message(gathered),
           example_error_name(rc));
    rc = 0;
  } else {
    rc = example_task_unexpected(EXAMPLE, "await gather", rc, -EINVAL);
  }
  corio_future_unref(gathered);
  return rc;
}

/* ---- return_exceptions ----------------------------------------------------
 */

/* Prints the outcomes of the gathered tasks as Python prints the list:
 * results through `show`, errors with the task's message. */
/* Each outcome carries its error's message, as the exception object in
 * asyncio's results list does. */
static void print_outcomes(const corio_outcome *outcomes, size_t n,
                           void (*show)(void *result)) {
  size_t i;

  for (i = 0; i < n; i++) {
    fputs(i ? ", " : "[", stdout);
    if (outcomes[i].error == -ECANCELED)
      printf("%s()", example_error_name(-ECANCELED));
    else if (outcomes[i].error < 0)
      print_error(outcomes[i].error, outcomes[i].message);
    else
      show(outcomes[i].result);
  }
  puts("]");
}

static void show_string(void *result) { printf("'%s'", (const char *)result); }

static void show_int(void *result) { printf("%d", (int)(intptr_t)result); }

/* Spawns fns[i](args[i]) into tasks; on a failure, those started are
 * cancelled and released. */
static int spawn_all(corio_task **tasks, const corio_task_fn *fns, void **args,
                     size_t n) {
  size_t i, j;
  int rc;

  for (i = 0; i < n; i++) {
    rc = corio_spawn(&tasks[i], fns[i], args ? args[i] : NULL);
    if (rc < 0) {
      for (j = 0; j < i; j++) {
        (void)corio_task_cancel(tasks[j], NULL);
        corio_task_unref(tasks[j]);
      }
      return example_task_fail(EXAMPLE, "corio_spawn", rc);
    }
  }
  return 0;
}

/* Gathers the n tasks with return_exceptions, prints prefix and the
 * outcomes, and releases the tasks. */
static int gather_and_print(corio_task **tasks, size_t n, const char *prefix,
                            void (*show)(void *result)) {
  corio_awaitable children[3];
  corio_outcome outcomes[3];
  size_t i;
  int rc;

  for (i = 0; i < n; i++)
    children[i] = CORIO_AWAIT_TASK(tasks[i]);
  rc = corio_gather(children, n, outcomes, CORIO_GATHER_RETURN_EXCEPTIONS);
  if (rc < 0) {
    (void)example_task_fail(EXAMPLE, "corio_gather", rc);
  } else {
    fputs(prefix, stdout);
    print_outcomes(outcomes, n, show);
  }
  corio_outcomes_clear(outcomes, n);
  /* Done, unless the gather failed: corio_run cancels those at the end. */
  for (i = 0; i < n; i++)
    corio_task_unref(tasks[i]);
  return rc;
}

static int return_exceptions_main(void *arg, void **result) {
  static const corio_task_fn fns[3] = {task, task, task};
  void *args[3] = {&nums[0], &nums[1], &nums[2]};
  corio_task *tasks[3];
  int rc;

  (void)arg;
  (void)result;
  init_nums(1);
  rc = spawn_all(tasks, fns, args, 3);
  if (rc < 0)
    return rc;
  return gather_and_print(tasks, 3, "Results: ", show_string);
}

/* ---- seed 002: an exception, and a task cancelled ------------------------ */

static int worker_1(void *arg, void **result) {
  int rc = corio_sleep(1 * EXAMPLE_UNIT);

  (void)arg;
  if (rc < 0)
    return rc == -ECANCELED ? rc : example_task_fail(EXAMPLE, "sleep", rc);
  *result = (void *)(intptr_t)1;
  return 0;
}

static int worker_2(void *arg, void **result) {
  int rc = corio_sleep(2 * EXAMPLE_UNIT);

  (void)arg;
  (void)result;
  if (rc < 0)
    return rc == -ECANCELED ? rc : example_task_fail(EXAMPLE, "sleep", rc);
  return corio_fail(-EDOM, "division by zero"); /* return 2 / 0 */
}

static int worker_3(void *arg, void **result) {
  int rc = corio_sleep(3 * EXAMPLE_UNIT);

  (void)arg;
  if (rc < 0)
    return rc == -ECANCELED ? rc : example_task_fail(EXAMPLE, "sleep", rc);
  *result = (void *)(intptr_t)3;
  return 0;
}

static int exception_timeout_main(void *arg, void **result) {
  static const corio_task_fn fns[3] = {worker_1, worker_2, worker_3};
  corio_task *tasks[3];
  int rc;

  (void)arg;
  (void)result;
  rc = spawn_all(tasks, fns, NULL, 3);
  if (rc < 0)
    return rc;
  rc = corio_sleep(2 * EXAMPLE_UNIT);
  if (rc < 0) {
    (void)example_task_fail(EXAMPLE, "corio_sleep", rc);
  } else {
    rc = corio_task_cancel(tasks[2], NULL);
    if (rc != 1)
      rc = example_task_unexpected(EXAMPLE, "task_3.cancel()", rc, 1);
    else
      rc = 0;
  }
  if (rc < 0) {
    /* corio_run cancels them as main returns. */
    for (int i = 0; i < 3; i++)
      corio_task_unref(tasks[i]);
    return rc;
  }
  return gather_and_print(tasks, 3, "", show_int);
}

int example_gather_errors(void) {
  static const example_part parts[] = {
      {results_main, "# results = await asyncio.gather(*tasks)"},
      {first_error_main, "\n# Task 2 fails: gather raises the first error at "
                         "once"},
      {return_exceptions_main,
       "\n# Task 2 fails: asyncio.gather(*tasks, return_exceptions=True)"},
      {exception_timeout_main,
       "\n# Seed 002: task_3 cancelled at 2, then\n"
       "#   asyncio.gather(task_1, task_2, task_3, return_exceptions=True)"},
  };
  return example_asyncio_run_parts(EXAMPLE, parts,
                                   sizeof parts / sizeof parts[0]);
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_gather_errors)
#endif
