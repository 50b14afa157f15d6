/* A blocking function on a pool thread: the C twin of seed 001's first
 * to_thread example (section 2.2.10).
 *
 *   def blocking_io():
 *       print(f"start blocking_io at {time.strftime('%X')}")
 *       time.sleep(1)
 *       print(f"blocking_io complete at {time.strftime('%X')}")
 *
 *   async def main():
 *       print(f"started main at {time.strftime('%X')}")
 *       await asyncio.gather(
 *           asyncio.to_thread(blocking_io),
 *           asyncio.sleep(1))
 *       print(f"finished main at {time.strftime('%X')}")
 *
 * blocking_io is a corio_thread_fn, which has the shape of a task body;
 * corio_to_thread(blocking_io, arg, &result), called in a task, runs it on
 * the loop's default executor and suspends the task until it returns. The
 * two children of the gather are tasks here: one calls to_thread, the
 * other sleeps, so the loop sleeps while the pool thread blocks, and main
 * takes 1 unit, not 2.
 *
 * As the seed says, the current context goes along: to_thread runs the
 * function inside a copy of the calling task's context, so blocking_io
 * sees the request id main set (each gathered child starts with a copy of
 * main's context). A set made on the pool thread goes into that copy and
 * never comes back to main.
 *
 * The seed's second part says what a direct call costs: blocking_io()
 * called in a coroutine blocks the loop, so the sleep next to it only
 * starts once it has returned, and main takes 2 units.
 *
 * The output order needs no extra mechanism: every line is printed after
 * the one before it has happened. "start blocking_io" is printed by the
 * job, which main submits after printing "started main"; the job prints
 * "complete" before it returns, and the gather, hence "finished main",
 * ends only once the job's outcome has reached the loop. All threads
 * print to the one stdout buffer, in the order of the calls.
 *
 * The output must not depend on the machine's speed (see example.h), so
 * main keeps a schedule, and the times printed are times on it, in units
 * since main started: when each line was due, not a reading of the clock,
 * which a loaded machine can make a unit late (a pool thread, or the
 * loop, may get to a wake-up that late). blocking_io blocks until its
 * deadline, one unit after its start; the sleep child sleeps one unit
 * from the time it could start: at once while the blocking call runs on
 * a pool thread, but only once it has returned when it runs in a task and
 * holds up the loop, which blocking_io notes in loop_free_at. main
 * finishes when the later of the two ends. Each time printed is checked
 * against the clock, which must not be early (example_due). */
#include <corio/combine.h>
#include <corio/thread.h>

#include "example.h"

#define EXAMPLE "to_thread"

static corio_contextvar *request_id;
static int64_t start_ns; /* when main started */
/* On main's schedule, in units: when blocking_io ended, when the sleep
 * child ended, and when the loop's thread is free again (a blocking_io
 * called in a task holds it until then). */
static int blocking_end, sleep_end, loop_free_at;

/* The time on the schedule `at` units since start_ns, checked. */
static long long t(int at) { return example_due(EXAMPLE, start_ns, at); }

/* Prints what request_id holds in the current context. */
static void print_request_id(const char *who) {
  printf("%s sees request_id = '%s'\n", who,
         (const char *)corio_contextvar_get_or(request_id, "(unset)"));
}

/* The blocking function: a corio_thread_fn, run on a pool thread by
 * corio_to_thread, or called in a task in the second part. */
static int blocking_io(void *arg, void **result) {
  int start = 0, rc; /* submitted, or called, at main's start */

  (void)arg;
  (void)result;
  printf("start blocking_io at t=%lld\n", t(start));
  print_request_id("blocking_io");
  /* Only this context, main's copy, changes. */
  rc = corio_contextvar_set(request_id, "set by blocking_io", NULL);
  if (rc < 0)
    return rc;
  blocking_end = start + 1;
  if (corio_loop_running()) /* called in a task: the loop waits too */
    loop_free_at = blocking_end;
  /* time.sleep(1), until its deadline */
  example_block_until_ns(start_ns + blocking_end * EXAMPLE_UNIT_NS);
  printf("blocking_io complete at t=%lld\n", t(blocking_end));
  return 0;
}

/* asyncio.to_thread(blocking_io), as a gather child. */
static int to_thread_child(void *arg, void **result) {
  int rc = corio_to_thread(blocking_io, arg, result);

  return rc < 0 ? example_task_fail(EXAMPLE, "corio_to_thread", rc) : 0;
}

/* asyncio.sleep(1), as a gather child: from the time it could start. */
static int sleep_child(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  sleep_end = loop_free_at + 1;
  rc = example_sleep_until_ns(start_ns + sleep_end * EXAMPLE_UNIT_NS);
  return rc < 0 ? example_task_fail(EXAMPLE, "example_sleep_until_ns", rc) : 0;
}

/* main, with the blocking child given: to_thread_child or blocking_io. */
static int run_main(corio_task_fn blocking_child) {
  corio_awaitable children[2];
  int rc;

  rc = example_warm_pool(1); /* not timed: see example.h */
  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_warm_pool", rc);
  start_ns = example_clock_ns();
  blocking_end = sleep_end = loop_free_at = 0;
  rc = corio_contextvar_set(request_id, "req-42", NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_contextvar_set", rc);
  printf("started main at t=%lld\n", t(0));
  print_request_id("main");
  children[0] = CORIO_AWAIT_FN(blocking_child, NULL);
  children[1] = CORIO_AWAIT_FN(sleep_child, NULL);
  rc = corio_gather(children, 2, NULL, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  /* gather returned: both children have ended. */
  printf("finished main at t=%lld\n",
         t(blocking_end > sleep_end ? blocking_end : sleep_end));
  print_request_id("main still");
  return 0;
}

static int to_thread_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  return run_main(to_thread_child);
}

static int direct_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  return run_main(blocking_io);
}

int example_to_thread(void) {
  static const example_part parts[] = {
      {to_thread_main, "# await asyncio.gather(asyncio.to_thread(blocking_io), "
                       "asyncio.sleep(1))"},
      {direct_main, "\n# blocking_io() called in a coroutine blocks the "
                    "loop:\n"
                    "# await asyncio.gather(<blocking_io() in a task>, "
                    "asyncio.sleep(1))"},
  };
  int rc, failed;

  printf("(t: time on main's schedule, in units of %d ms since it started)\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  rc = corio_contextvar_create(&request_id, "request_id");
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_contextvar_create", rc);
  failed =
      example_asyncio_run_parts(EXAMPLE, parts, sizeof parts / sizeof parts[0]);
  corio_contextvar_free(request_id);
  request_id = NULL;
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_to_thread)
#endif
