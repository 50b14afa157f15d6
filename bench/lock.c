/* Locks: the cost of handing a contended corio_lock from one task to the
 * next. 1,000 tasks share one lock and each loops 10,000 times over
 * acquire, increment a shared counter, release: 10,000,000 acquisitions in
 * all (argv[1]: another multiple of 1,000).
 *
 *   lock_acquisitions  the total number of acquisitions of a run
 *   lock_handoff_ns    the median over 5 runs of the time from the main
 *                      task's release (every task then waits on the lock)
 *                      to after it has awaited them all, divided by the
 *                      acquisitions
 *
 * What makes the lock contended: the main task holds it while the 1,000
 * tasks start, so each of them queues on it. From then on every release
 * is a FIFO hand-off: it wakes the first waiter, which takes the lock
 * when it runs (asyncio's rule: no barging), and the releaser's next
 * acquire finds waiters ahead and queues at the back. So every
 * acquisition is one hand-off: the new holder woken through the ready
 * queue and its coroutine resumed, one task step. The
 * program checks the hand-offs really went round in FIFO order: each task
 * sees the counter go up by exactly 1,000 between two of its
 * acquisitions, and the counter ends at the total.
 * Each run is a corio_runner_run on one loop (a fresh lock each time),
 * after a first, shorter run that warms up the task and stack pools. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/sync.h"
#include "corio/task.h"

#define TASKS 1000
#define DEFAULT_ACQUISITIONS 10000000L

struct state {
  corio_lock lock;
  long per_task; /* acquisitions of each task */
  long counter;  /* incremented with the lock held */
  double seconds;
};

static corio_task *tasks[TASKS];

static void die(const char *what, int rc) {
  fprintf(stderr, "lock: %s failed: %s (%d)\n", what, corio_strerror(rc), rc);
  exit(1);
}

static int contender(void *arg, void **result) {
  struct state *st = arg;
  long last = 0;

  *result = NULL;
  for (long i = 0; i < st->per_task; i++) {
    long mine;
    int rc = corio_lock_acquire(&st->lock);

    if (rc < 0)
      die("corio_lock_acquire", rc);
    mine = ++st->counter;
    if (i > 0 && mine - last != TASKS) {
      fprintf(stderr,
              "lock: a task saw the counter go from %ld to %ld: not FIFO\n",
              last, mine);
      exit(1);
    }
    last = mine;
    rc = corio_lock_release(&st->lock);
    if (rc < 0)
      die("corio_lock_release", rc);
  }
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  double t0, t1;
  int rc;

  (void)result;
  corio_lock_init(&st->lock);
  /* Held while the tasks start: each of them queues on it. */
  rc = corio_lock_acquire(&st->lock);
  if (rc < 0)
    die("corio_lock_acquire", rc);
  for (int i = 0; i < TASKS; i++) {
    rc = corio_spawn(&tasks[i], contender, st);
    if (rc < 0)
      die("corio_spawn", rc);
  }
  rc = corio_sleep(0);
  if (rc < 0)
    die("corio_sleep", rc);
  t0 = bench_now_s();
  rc = corio_lock_release(&st->lock);
  if (rc < 0)
    die("corio_lock_release", rc);
  for (int i = 0; i < TASKS; i++) {
    void *value;

    rc = corio_await(tasks[i], &value);
    if (rc < 0)
      die("corio_await", rc);
  }
  t1 = bench_now_s();
  for (int i = 0; i < TASKS; i++)
    corio_task_unref(tasks[i]);
  st->seconds = t1 - t0;
  rc = corio_lock_destroy(&st->lock);
  if (rc < 0)
    die("corio_lock_destroy", rc);
  return 0;
}

/* Nanoseconds per acquisition of one run of `total` acquisitions. */
static double run(corio_runner *runner, long total) {
  struct state st = {.per_task = total / TASKS};
  int rc = corio_runner_run(runner, main_task, &st, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  if (st.counter != total) {
    fprintf(stderr, "lock: the counter is %ld after %ld acquisitions\n",
            st.counter, total);
    exit(1);
  }
  return st.seconds * 1e9 / (double)total;
}

int main(int argc, char **argv) {
  long total = DEFAULT_ACQUISITIONS;
  double ns[BENCH_RUNS];
  corio_runner *runner;
  int rc;

  if (argc > 1) {
    char *end;

    total = strtol(argv[1], &end, 10);
    if (*end != '\0' || total <= 0 || total % TASKS != 0) {
      fprintf(stderr, "usage: lock [acquisitions, a multiple of %d]\n", TASKS);
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "lock: could not pin to a CPU; figures are noisier\n");
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);
  run(runner, total / 10 >= TASKS ? total / 10 / TASKS * TASKS : TASKS);
  for (int r = 0; r < BENCH_RUNS; r++)
    ns[r] = run(runner, total);
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  bench_print("lock_acquisitions", (double)total, 0, "");
  bench_print("lock_handoff_ns", bench_median(ns, BENCH_RUNS), 2, "ns");
  return 0;
}
