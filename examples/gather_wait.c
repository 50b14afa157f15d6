/* Running awaitables concurrently: the C twins of seed 000's section 4
 * (gather, wait_for, wait, as_completed, nested coroutines).
 *
 *   async def factorial(name, number):              # 4-1 gather
 *       f = 1
 *       for i in range(2, number + 1):
 *           print(f"Task {name}: Compute factorial({i})...")
 *           await asyncio.sleep(1)
 *           f *= i
 *       print(f"Task {name}: factorial({number}) = {f}")
 *       return f"Task {name}: Finished!"
 *
 *   async def main():
 *       results = await asyncio.gather(
 *           factorial("A", 2), factorial("B", 3), factorial("C", 4))
 *       print(results)
 *
 *   async def eternity():                            # 4-3 wait_for
 *       await asyncio.sleep(3600)
 *       print('yay!')
 *
 *   async def main():
 *       try:
 *           await asyncio.wait_for(eternity(), timeout=1.0)
 *       except asyncio.TimeoutError:
 *           print('timeout!')
 *
 *   async def foo():                                 # 4-4 wait
 *       return 42
 *   task = asyncio.create_task(foo())
 *   done, pending = await asyncio.wait((task, ))
 *   if task in done:
 *       print(f"The task's result is {task.result()}")
 *
 *   async def work_1(x):                             # wait and gather
 *       print(f"Starting {x}")
 *       time.sleep(1)
 *       print(f"Starting {x}")
 *       for _ in range(3):
 *           print(f"Work {x} is running ..")
 *           await asyncio.sleep(2)
 *       return f"Work {x} is finished"
 *
 *   async def work_2(x):
 *       print(f"Starting {x}")
 *       for _ in range(3):
 *           await asyncio.sleep(1)
 *           print(f"Work {x} is running ..")
 *       return f"Work {x} is finished"
 *
 *   tasks = [asyncio.ensure_future(work_1(1)),
 *            asyncio.ensure_future(work_2(2))]
 *   dones, pendings = loop.run_until_complete(asyncio.wait(tasks))
 *   for task in dones:
 *       print(task.result())
 *   # or: print(loop.run_until_complete(asyncio.gather(*tasks)))
 *
 *   async def work(x):                               # 5 nested coroutines
 *       for _ in range(3):
 *           print("Work {} is running ..".format(x))
 *           await asyncio.sleep(1)
 *       return "Work {} is finished!".format(x)
 *
 *   async def main_work():
 *       tasks = [asyncio.ensure_future(work(1)),
 *                asyncio.ensure_future(work(2)),
 *                asyncio.ensure_future(work(3))]
 *       dones, pendings = await asyncio.wait(tasks)
 *       for task in dones:
 *           print("The task's result is : {}".format(task.result()))
 *
 *   async def main_work():                           # with as_completed
 *       tasks = [asyncio.ensure_future(work(2)),
 *                asyncio.ensure_future(work(1)),
 *                asyncio.ensure_future(work(3))]
 *       for task in asyncio.as_completed(tasks):
 *           result = await task
 *           print(f"The task's result is : {result}")
 *
 * In C:
 * - corio_gather() takes CORIO_AWAIT_FN(fn, arg) children, which it starts
 *   as tasks (a coroutine passed to gather), or CORIO_AWAIT_TASK(t) for a
 *   task started already; the outcomes come back in argument order.
 * - corio_wait_for() on timeout cancels the task and waits until it has
 *   really finished, then returns -ETIMEDOUT (asyncio.TimeoutError).
 * - corio_wait() sorts futures into done and pending arrays. They are in
 *   argument order, where Python's are sets printed in hash order: the
 *   seed's "Work 2, Work 3, Work 1" comes out as 1, 2, 3 here.
 * - corio_as_completed_next() returns the futures in the order they
 *   complete.
 *
 * Determinism. The seed's seconds are EXAMPLE_UNIT. Tasks that the seed
 * wakes at the same second (the three factorials, work_1 and work_2 at
 * t=3, the three works) must wake in the same order on every machine, so
 * each task keeps its schedule with deadlines from a common start
 * (example_sleep_until_ns): equal deadlines wake in one loop iteration, in
 * the order the sleeps began, as asyncio's equal sleeps do. work_1's
 * time.sleep(1) blocks the whole loop for one unit, as in the seed. */
#include <time.h>

#include <corio/combine.h>

#include "example.h"

#define EXAMPLE "gather_wait"

static int64_t now_ns(void) { return corio_loop_time_ns(corio_loop_running()); }

/* Sleeps until *due_ns + units, which becomes the new *due_ns. Returns 0,
 * -ECANCELED, or another error after a report. */
static int sleep_on_schedule(int64_t *due_ns, int units) {
  int rc;

  *due_ns += units * EXAMPLE_UNIT_NS;
  rc = example_sleep_until_ns(*due_ns);
  if (rc < 0 && rc != -ECANCELED)
    return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  return rc;
}

/* Prints a list of string results, as Python prints a list. */
static void print_strings(const corio_outcome *outcomes, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    printf("%s'%s'", i ? ", " : "[", (const char *)outcomes[i].result);
  puts("]");
}

/* ---- 4-1 gather: three factorials at once -------------------------------- */

struct factorial {
  const char *name;
  int number;
  int64_t due_ns;  /* when its last sleep was due */
  char result[32]; /* its return value */
};

static int factorial(void *arg, void **result) {
  struct factorial *f = arg;
  long long value = 1;
  int i, rc;

  for (i = 2; i <= f->number; i++) {
    printf("Task %s: Compute factorial(%d)...\n", f->name, i);
    rc = sleep_on_schedule(&f->due_ns, 1);
    if (rc < 0)
      return rc;
    value *= i;
  }
  printf("Task %s: factorial(%d) = %lld\n", f->name, f->number, value);
  snprintf(f->result, sizeof f->result, "Task %s: Finished!", f->name);
  *result = f->result;
  return 0;
}

static int factorial_main(void *arg, void **result) {
  /* Static: after a first error gather returns while the others run on,
   * and they must not be left with a pointer into this stack. */
  static struct factorial fs[3];
  static const char *const names[3] = {"A", "B", "C"};
  int64_t start_ns = now_ns();
  corio_awaitable children[3];
  corio_outcome outcomes[3];
  int i, rc;

  (void)arg;
  (void)result;
  for (i = 0; i < 3; i++) {
    fs[i] = (struct factorial){names[i], i + 2, start_ns, ""};
    children[i] = CORIO_AWAIT_FN(factorial, &fs[i]);
  }
  rc = corio_gather(children, 3, outcomes, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  print_strings(outcomes, 3);
  return 0;
}

/* ---- 4-3 wait_for: eternity times out -------------------------------------
 */

static int eternity(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  rc = corio_sleep(3600.0); /* an hour, really */
  if (rc < 0)
    return rc; /* -ECANCELED: wait_for gave up */
  puts("yay!");
  return 0;
}

static int eternity_main(void *arg, void **result) {
  corio_task *task;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&task, eternity, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = corio_wait_for(corio_task_future(task), 1 * EXAMPLE_UNIT, NULL);
  if (rc == -ETIMEDOUT) {
    puts("timeout!");
    /* wait_for returns once the task has really finished. */
    printf(">>> task.cancelled()  # eternity, after wait_for\n%s\n",
           corio_task_cancelled(task) ? "True" : "False");
    rc = 0;
  } else {
    rc = example_task_unexpected(EXAMPLE, "corio_wait_for", rc, -ETIMEDOUT);
  }
  corio_task_unref(task);
  return rc;
}

/* ---- 4-4 wait: a single task ----------------------------------------------
 */

static int foo(void *arg, void **result) {
  (void)arg;
  *result = (void *)(intptr_t)42;
  return 0;
}

static int foo_main(void *arg, void **result) {
  corio_task *task;
  corio_future *fs[1], *done[1];
  size_t n_done = 0;
  void *value = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&task, foo, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  fs[0] = corio_task_future(task);
  rc = corio_wait(fs, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, done, &n_done,
                  NULL, NULL);
  if (rc < 0) {
    rc = example_task_fail(EXAMPLE, "corio_wait", rc);
  } else if (n_done == 1 && done[0] == fs[0]) { /* if task in done */
    rc = corio_task_result(task, &value);
    if (rc == 0)
      printf("The task's result is %d\n", (int)(intptr_t)value);
    else
      rc = example_task_unexpected(EXAMPLE, "corio_task_result", rc, 0);
  } else {
    rc = example_task_unexpected(EXAMPLE, "corio_wait: done count", (int)n_done,
                                 1);
  }
  corio_task_unref(task);
  return rc;
}

/* ---- wait and gather: work_1 and work_2 ---------------------------------- */

struct work {
  int x;
  int64_t due_ns;  /* when its last sleep was due */
  char result[32]; /* its return value */
};

/* time.sleep(1): blocks the thread, and with it the whole loop. */
static void block_one_unit(void) {
  struct timespec ts = {0, (long)EXAMPLE_UNIT_NS};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int work_1(void *arg, void **result) {
  struct work *w = arg;
  int i, rc;

  printf("Starting %d\n", w->x);
  block_one_unit();
  printf("Starting %d\n", w->x);
  for (i = 0; i < 3; i++) {
    printf("Work %d is running ..\n", w->x);
    rc = sleep_on_schedule(&w->due_ns, 2);
    if (rc < 0)
      return rc;
  }
  snprintf(w->result, sizeof w->result, "Work %d is finished", w->x);
  *result = w->result;
  return 0;
}

static int work_2(void *arg, void **result) {
  struct work *w = arg;
  int i, rc;

  printf("Starting %d\n", w->x);
  for (i = 0; i < 3; i++) {
    rc = sleep_on_schedule(&w->due_ns, 1);
    if (rc < 0)
      return rc;
    printf("Work %d is running ..\n", w->x);
  }
  snprintf(w->result, sizeof w->result, "Work %d is finished", w->x);
  *result = w->result;
  return 0;
}

/* Cancels the first n tasks, waits until they have finished, and releases
 * them: for error paths, before the stack they use goes. */
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

/* Starts work_1(1) and work_2(2) into tasks; both schedules start one unit
 * from now, when work_1's blocking sleep is over. */
static int spawn_works(corio_task **tasks, struct work *works) {
  int64_t start_ns = now_ns() + EXAMPLE_UNIT_NS;
  int rc;

  works[0] = (struct work){1, start_ns, ""};
  works[1] = (struct work){2, start_ns, ""};
  rc = corio_spawn(&tasks[0], work_1, &works[0]);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = corio_spawn(&tasks[1], work_2, &works[1]);
  if (rc < 0) {
    cancel_and_release(tasks, 1);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  return 0;
}

static int works_wait_main(void *arg, void **result) {
  struct work works[2];
  corio_task *tasks[2];
  corio_future *fs[2], *done[2];
  size_t i, n_done = 0;
  void *value;
  int rc;

  (void)arg;
  (void)result;
  rc = spawn_works(tasks, works);
  if (rc < 0)
    return rc;
  fs[0] = corio_task_future(tasks[0]);
  fs[1] = corio_task_future(tasks[1]);
  rc = corio_wait(fs, 2, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, done, &n_done,
                  NULL, NULL);
  if (rc < 0) {
    cancel_and_release(tasks, 2);
    return example_task_fail(EXAMPLE, "corio_wait", rc);
  }
  for (i = 0; i < n_done && rc == 0; i++) { /* for task in dones */
    rc = corio_future_result(done[i], &value);
    if (rc == 0)
      puts((const char *)value);
    else
      rc = example_task_unexpected(EXAMPLE, "corio_future_result", rc, 0);
  }
  cancel_and_release(tasks, 2); /* both are done: this only releases */
  return rc;
}

static int works_gather_main(void *arg, void **result) {
  struct work works[2];
  corio_task *tasks[2];
  corio_awaitable children[2];
  corio_outcome outcomes[2];
  int rc;

  (void)arg;
  (void)result;
  rc = spawn_works(tasks, works);
  if (rc < 0)
    return rc;
  children[0] = CORIO_AWAIT_TASK(tasks[0]);
  children[1] = CORIO_AWAIT_TASK(tasks[1]);
  rc = corio_gather(children, 2, outcomes, 0);
  if (rc < 0)
    (void)example_task_fail(EXAMPLE, "corio_gather", rc);
  else
    print_strings(outcomes, 2);
  cancel_and_release(tasks, 2);
  return rc;
}

/* ---- 5: nested coroutines, with wait and with as_completed --------------- */

static int work(void *arg, void **result) {
  struct work *w = arg;
  int i, rc;

  for (i = 0; i < 3; i++) {
    printf("Work %d is running ..\n", w->x);
    rc = sleep_on_schedule(&w->due_ns, 1);
    if (rc < 0)
      return rc;
  }
  snprintf(w->result, sizeof w->result, "Work %d is finished!", w->x);
  *result = w->result;
  return 0;
}

/* Starts work(x) for each x of xs into tasks and fs, on one schedule. */
static int spawn_three(const int *xs, struct work *works, corio_task **tasks,
                       corio_future **fs) {
  int64_t start_ns = now_ns();
  size_t i;
  int rc;

  for (i = 0; i < 3; i++) {
    works[i] = (struct work){xs[i], start_ns, ""};
    rc = corio_spawn(&tasks[i], work, &works[i]);
    if (rc < 0) {
      cancel_and_release(tasks, i);
      return example_task_fail(EXAMPLE, "corio_spawn", rc);
    }
    fs[i] = corio_task_future(tasks[i]);
  }
  return 0;
}

static int nested_wait_main(void *arg, void **result) {
  static const int xs[3] = {1, 2, 3};
  struct work works[3];
  corio_task *tasks[3];
  corio_future *fs[3], *done[3];
  size_t i, n_done = 0;
  void *value;
  int rc;

  (void)arg;
  (void)result;
  rc = spawn_three(xs, works, tasks, fs);
  if (rc < 0)
    return rc;
  rc = corio_wait(fs, 3, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, done, &n_done,
                  NULL, NULL);
  if (rc < 0) {
    cancel_and_release(tasks, 3);
    return example_task_fail(EXAMPLE, "corio_wait", rc);
  }
  for (i = 0; i < n_done && rc == 0; i++) {
    rc = corio_future_result(done[i], &value);
    if (rc == 0)
      printf("The task's result is : %s\n", (const char *)value);
    else
      rc = example_task_unexpected(EXAMPLE, "corio_future_result", rc, 0);
  }
  cancel_and_release(tasks, 3);
  return rc;
}

static int nested_as_completed_main(void *arg, void **result) {
  static const int xs[3] = {2, 1, 3};
  struct work works[3];
  corio_task *tasks[3];
  corio_future *fs[3], *next;
  corio_as_completed *it;
  void *value;
  int rc;

  (void)arg;
  (void)result;
  rc = spawn_three(xs, works, tasks, fs);
  if (rc < 0)
    return rc;
  rc = corio_as_completed_start(&it, fs, 3, CORIO_NO_TIMEOUT);
  if (rc < 0) {
    cancel_and_release(tasks, 3);
    return example_task_fail(EXAMPLE, "corio_as_completed_start", rc);
  }
  while ((rc = corio_as_completed_next(it, &next)) == 0) {
    rc = corio_future_result(next, &value); /* result = await task */
    if (rc < 0)
      break;
    printf("The task's result is : %s\n", (const char *)value);
  }
  corio_as_completed_free(it);
  cancel_and_release(tasks, 3);
  if (rc != CORIO_AS_COMPLETED_END)
    return example_task_unexpected(EXAMPLE, "corio_as_completed_next", rc,
                                   CORIO_AS_COMPLETED_END);
  return 0;
}

int example_gather_wait(void) {
  static const struct {
    corio_task_fn main;
    const char *title;
  } parts[] = {
      {factorial_main, "# 4-1 gather: three factorials at once\n"
                       ">>> asyncio.run(main())"},
      {eternity_main, "\n# 4-3 wait_for: eternity() times out after 1\n"
                      ">>> asyncio.run(main())"},
      {foo_main, "\n# 4-4 wait: a single task\n"
                 ">>> done, pending = await asyncio.wait((task, ))"},
      {works_wait_main,
       "\n# work_1 (which blocks the loop once) and work_2, with wait\n"
       ">>> loop.run_until_complete(asyncio.wait(tasks))"},
      {works_gather_main,
       "\n# The same with gather\n"
       ">>> loop.run_until_complete(asyncio.gather(*tasks))"},
      {nested_wait_main, "\n# 5 Nested: main_work awaits wait(tasks)\n"
                         ">>> loop.run_until_complete(main_work())"},
      {nested_as_completed_main,
       "\n# main_work with as_completed(tasks), tasks 2, 1, 3\n"
       ">>> loop.run_until_complete(main_work())"},
  };
  size_t i;

  for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (example_run(EXAMPLE, parts[i].main, parts[i].title))
      return 1;
  return 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_gather_wait)
#endif
