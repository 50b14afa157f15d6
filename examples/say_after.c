/* Awaiting in turn versus running tasks concurrently: the C twin of seed
 * 001's say_after programs (section 2.1).
 *
 *   async def say_after(delay, what):
 *       await asyncio.sleep(delay)
 *       print(what)
 *
 *   async def main():                      # the first main: 3 seconds
 *       print(f"started at {time.strftime('%X')}")
 *       await say_after(1, 'hello')
 *       await say_after(2, 'world')
 *       print(f"finished at {time.strftime('%X')}")
 *
 *   async def main():                      # the second main: 2 seconds
 *       task1 = asyncio.create_task(say_after(1, 'hello'))
 *       task2 = asyncio.create_task(say_after(2, 'world'))
 *       print(f"started at {time.strftime('%X')}")
 *       await task1
 *       await task2
 *       print(f"finished at {time.strftime('%X')}")
 *
 * Awaiting a coroutine is a plain call in C: say_after() suspends the task
 * that calls it, so the first main takes 1 + 2 units. corio_spawn() is
 * create_task(): each say_after runs as a task of its own, both sleep at
 * the same time, and the second main takes max(1, 2) units. A spawned task
 * starts in a later loop iteration, so "started at" comes first there too.
 *
 * The seed's seconds are EXAMPLE_UNIT here. The output must not depend on
 * the machine's speed (see example.h), so each main keeps a schedule:
 * say_after sleeps `delay` units from the time its caller was due to call
 * it (main's start, or the end of the sleep before), not from the time
 * the loop got there, and the times printed are times on that schedule,
 * in units since main started: when each line was due, not a reading of
 * the clock, which a loaded machine can make a unit late. Each time is
 * checked against the clock, which must not be early (example_due). */
#include "example.h"

#define EXAMPLE "say_after"

struct say {
  int delay;        /* in units */
  const char *what; /* printed after the delay */
  int64_t start_ns; /* when main started, on the loop's clock */
  int at;           /* units since then: when it is called, then printed */
};

/* The time on the schedule `at` units since start_ns, checked. */
static long long t(int64_t start_ns, int at) {
  return example_due(EXAMPLE, start_ns, at);
}

static int say_after(struct say *s) {
  int rc;

  s->at += s->delay;
  rc = example_sleep_until_ns(s->start_ns + s->at * EXAMPLE_UNIT_NS);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  printf("%s (t=%lld)\n", s->what, t(s->start_ns, s->at));
  return 0;
}

/* say_after as a task's body. */
static int say_after_task(void *arg, void **result) {
  (void)result;
  return say_after(arg);
}

static int sequential_main(void *arg, void **result) {
  int64_t start_ns = corio_loop_time_ns(corio_loop_running());
  struct say hello = {1, "hello", start_ns, 0};
  struct say world = {2, "world", start_ns, 0};
  int rc;

  (void)arg;
  (void)result;
  printf("started at t=%lld\n", t(start_ns, 0));
  rc = say_after(&hello);
  if (rc < 0)
    return rc;
  world.at = hello.at; /* called once hello's say_after has returned */
  rc = say_after(&world);
  if (rc < 0)
    return rc;
  printf("finished at t=%lld\n", t(start_ns, world.at));
  return 0;
}

/* Awaits task (an await is not allowed to fail here) and releases it. */
static int await_and_release(corio_task *task) {
  int rc = corio_await(task, NULL);

  corio_task_unref(task);
  if (rc != 0)
    return example_task_unexpected(EXAMPLE, "await task", rc, 0);
  return 0;
}

static int concurrent_main(void *arg, void **result) {
  int64_t start_ns = corio_loop_time_ns(corio_loop_running());
  struct say hello = {1, "hello", start_ns, 0};
  struct say world = {2, "world", start_ns, 0};
  corio_task *task1, *task2;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&task1, say_after_task, &hello);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = corio_spawn(&task2, say_after_task, &world);
  if (rc < 0) {
    /* task1 is left to run alone; corio_run cancels it at the end. */
    corio_task_unref(task1);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  printf("started at t=%lld\n", t(start_ns, 0));
  /* The structs live on this task's stack: both tasks are awaited before
   * it returns, whatever happens. */
  rc = await_and_release(task1);
  if (await_and_release(task2) < 0)
    rc = -EPROTO;
  if (rc < 0)
    return rc;
  /* Both awaited: main goes on once the later of the two has printed. */
  printf("finished at t=%lld\n",
         t(start_ns, hello.at > world.at ? hello.at : world.at));
  return 0;
}

int example_say_after(void) {
  printf("(t: time on main's schedule, in units of %d ms since it started)\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  if (example_asyncio_run(
          EXAMPLE, sequential_main,
          "# One after the other:\n"
          "#   await say_after(1, 'hello'); await say_after(2, 'world')"))
    return 1;
  return example_asyncio_run(
      EXAMPLE, concurrent_main,
      "\n# As two tasks, at the same time:\n"
      "#   task1 = asyncio.create_task(say_after(1, 'hello'))\n"
      "#   task2 = asyncio.create_task(say_after(2, 'world'))\n"
      "#   await task1; await task2");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_say_after)
#endif
