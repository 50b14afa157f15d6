/* Several blocking calls at once: the C twin of seed 001's second
 * to_thread example (section 2.2.10), where the whole takes as long as the
 * longest call.
 *
 *   def blocking_io(name, delay):
 *       print(f"Task {name} start blocking_io at {time.strftime('%X')}")
 *       time.sleep(delay)
 *       print(f"Task {name} blocking_io complete at {time.strftime('%X')}")
 *
 *   async def main():
 *       print(f"started main at {time.strftime('%X')}")
 *       await asyncio.gather(
 *           asyncio.to_thread(blocking_io, 'A', 1),
 *           asyncio.to_thread(blocking_io, 'B', 3),
 *           asyncio.to_thread(blocking_io, 'C', 2))
 *       print(f"finished main at {time.strftime('%X')}")
 *
 * Each gather child is a task that calls corio_to_thread(blocking_io,
 * &call, NULL); the three tasks submit their jobs in argument order in one
 * loop iteration, and the default executor runs them on three threads at
 * once (started before main's clock, see example_warm_pool). The three
 * sleeps overlap: main takes 3 units, not 1 + 3 + 2 = 6, and the calls
 * complete in the order A, C, B.
 *
 * The output must not depend on the machine's speed (see example.h). The
 * three jobs start on their threads at nearly the same instant, in an
 * order the scheduler picks, so the start lines take turns (a ticket
 * under a mutex and condition variable, in submission order: A, B, C).
 * The completions are a whole unit apart, but a thread woken a unit late
 * (the scheduler of a loaded machine can do that) would print after the
 * next one, so the completion lines take turns too, in the order of
 * their deadlines: A, C, B. Calls that ran one after the other could not
 * take those turns (C's would wait for B's call to end, and B's line for
 * C's): the example would hang, and its test fail. The other lines follow
 * from what comes before them: "started main" is printed before the jobs
 * are submitted, and "finished main" once every job's outcome has reached
 * the loop.
 *
 * main keeps a schedule: each call blocks until its deadline, `delay`
 * units after main started (when the call was submitted), and the times
 * printed are times on the schedule: when each line was due, not a
 * reading of the clock, which a loaded machine can make a unit late. Each
 * is checked against the clock, which must not be early (example_due). */
#include <pthread.h>

#include <corio/combine.h>
#include <corio/thread.h>

#include "example.h"

#define EXAMPLE "to_thread_gather"

struct call {
  const char *name;
  int delay;    /* units */
  int turn;     /* its place among the start lines */
  int end_turn; /* its place among the completion lines */
};

/* Static, not on main's stack: should a child fail, gather would return
 * at once with the other jobs still running on their threads. */
static struct call calls[3] = {{"A", 1, 0, 0}, {"B", 3, 1, 2}, {"C", 2, 2, 1}};

static int64_t start_ns; /* when main started */

/* The lines' turns: next_turn is the turn of the line printed next (the
 * start lines take 0 to 2, the completion lines 3 to 5). */
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static int next_turn;

/* Prints "Task <name> <what> at t=<at>" when its turn comes. */
static void print_in_turn(const struct call *c, int turn, const char *what,
                          int at) {
  pthread_mutex_lock(&turn_lock);
  while (next_turn != turn)
    pthread_cond_wait(&turn_cond, &turn_lock);
  printf("Task %s %s at t=%lld\n", c->name, what,
         example_due(EXAMPLE, start_ns, at));
  next_turn++;
  pthread_cond_broadcast(&turn_cond);
  pthread_mutex_unlock(&turn_lock);
}

/* The blocking function, on a pool thread. */
static int blocking_io(void *arg, void **result) {
  const struct call *c = arg;

  (void)result;
  print_in_turn(c, c->turn, "start blocking_io", 0);
  /* time.sleep(delay), until its deadline */
  example_block_until_ns(start_ns + c->delay * EXAMPLE_UNIT_NS);
  print_in_turn(c, 3 + c->end_turn, "blocking_io complete", c->delay);
  return 0;
}

/* asyncio.to_thread(blocking_io, name, delay), as a gather child. */
static int to_thread_child(void *arg, void **result) {
  int rc = corio_to_thread(blocking_io, arg, result);

  return rc < 0 ? example_task_fail(EXAMPLE, "corio_to_thread", rc) : 0;
}

static int gather_main(void *arg, void **result) {
  corio_awaitable children[3];
  int i, rc, last = 0;

  (void)arg;
  (void)result;
  rc = example_warm_pool(3); /* not timed: see example.h */
  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_warm_pool", rc);
  start_ns = example_clock_ns();
  next_turn = 0;
  printf("started main at t=%lld\n", example_due(EXAMPLE, start_ns, 0));
  for (i = 0; i < 3; i++)
    children[i] = CORIO_AWAIT_FN(to_thread_child, &calls[i]);
  rc = corio_gather(children, 3, NULL, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  /* gather returned: every call has ended; main goes on after the last. */
  for (i = 0; i < 3; i++)
    if (calls[i].delay > last)
      last = calls[i].delay;
  printf("finished main at t=%lld\n", example_due(EXAMPLE, start_ns, last));
  return 0;
}

int example_to_thread_gather(void) {
  printf("(t: time on main's schedule, in units of %d ms since it started)\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  return example_asyncio_run(EXAMPLE, gather_main,
                             "# await asyncio.gather(\n"
                             "#     asyncio.to_thread(blocking_io, 'A', 1),\n"
                             "#     asyncio.to_thread(blocking_io, 'B', 3),\n"
                             "#     asyncio.to_thread(blocking_io, 'C', 2))");
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_to_thread_gather)
#endif
