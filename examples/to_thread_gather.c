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
 * The order of the output: the three jobs start on their threads at
 * nearly the same instant, in an order the scheduler picks, so the start
 * lines take turns (a ticket under a mutex and condition variable, in
 * submission order: A, B, C). The completions are a whole unit apart,
 * which orders them; each call sleeps from its own start, as the seed's
 * time.sleep(delay), so calls that ran one after the other would show. The
 * other lines follow from what comes before them: "started main" is
 * printed before the jobs are submitted, and "finished main" once every
 * job's outcome has reached the loop.
 *
 * Times are whole units since main started, rounded down (see
 * example_units_since), never clock times. */
#include <pthread.h>

#include <corio/combine.h>
#include <corio/thread.h>

#include "example.h"

#define EXAMPLE "to_thread_gather"

struct call {
  const char *name;
  int delay; /* units */
  int turn;  /* its place among the start lines */
};

/* Static, not on main's stack: should a child fail, gather would return
 * at once with the other jobs still running on their threads. */
static struct call calls[3] = {{"A", 1, 0}, {"B", 3, 1}, {"C", 2, 2}};

static int64_t start_ns; /* when main started */

/* The start lines' turns: next_turn is the turn of the line printed next. */
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static int next_turn;

static void print_start_in_turn(const struct call *c) {
  pthread_mutex_lock(&turn_lock);
  while (next_turn != c->turn)
    pthread_cond_wait(&turn_cond, &turn_lock);
  printf("Task %s start blocking_io at t=%lld\n", c->name,
         example_units_since(start_ns));
  next_turn++;
  pthread_cond_broadcast(&turn_cond);
  pthread_mutex_unlock(&turn_lock);
}

/* The blocking function, on a pool thread. */
static int blocking_io(void *arg, void **result) {
  const struct call *c = arg;

  (void)result;
  print_start_in_turn(c);
  example_block_ns(c->delay * EXAMPLE_UNIT_NS); /* time.sleep(delay) */
  printf("Task %s blocking_io complete at t=%lld\n", c->name,
         example_units_since(start_ns));
  return 0;
}

/* asyncio.to_thread(blocking_io, name, delay), as a gather child. */
static int to_thread_child(void *arg, void **result) {
  int rc = corio_to_thread(blocking_io, arg, result);

  return rc < 0 ? example_task_fail(EXAMPLE, "corio_to_thread", rc) : 0;
}

static int gather_main(void *arg, void **result) {
  corio_awaitable children[3];
  int i, rc;

  (void)arg;
  (void)result;
  rc = example_warm_pool(3); /* not timed: see example.h */
  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_warm_pool", rc);
  start_ns = example_clock_ns();
  next_turn = 0;
  printf("started main at t=%lld\n", example_units_since(start_ns));
  for (i = 0; i < 3; i++)
    children[i] = CORIO_AWAIT_FN(to_thread_child, &calls[i]);
  rc = corio_gather(children, 3, NULL, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_gather", rc);
  printf("finished main at t=%lld\n", example_units_since(start_ns));
  return 0;
}

int example_to_thread_gather(void) {
  printf("(t: whole units of %d ms since main started)\n",
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
