/* Locks: the cost of handing a contended corio_lock from one task to the
 * next. 1,000 tasks share one lock and each loops 10,000 times over
 * acquire, increment a shared counter, corio_sleep(0), release:
 * 10,000,000 acquisitions in all (argv[1]: another multiple of 1,000).
 *
 *   lock_acquisitions  the total number of acquisitions of a run
 *   lock_handoff_ns    the median over 5 runs of the time from before the
 *                      1,000 tasks are spawned to after the main task has
 *                      awaited them all, divided by the acquisitions
 *
 * The corio_sleep(0) inside the critical section is what makes the lock
 * contended: the holder suspends for one loop iteration with the lock
 * held, so every other task that runs meanwhile finds it taken and queues
 * on it. From then on, until tasks finish in the last round, the 999
 * others are always waiting and every release is a FIFO hand-off: the
 * release wakes the first waiter, which now holds the lock, and the
 * releaser's next acquire queues it at the back. One acquisition is
 * therefore one hand-off (a wake-up through the ready queue and the
 * resumption of the new holder's coroutine) plus the holder's
 * corio_sleep(0) (a suspension and a resumption): two task steps and two
 * loop iterations, so the figure is at least twice bench/sleep_switch's
 * task_switch_ns. The program checks that the counter does not change
 * while a task holds the lock across its sleep, and that it ends at the
 * total.
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

  *result = NULL;
  for (long i = 0; i < st->per_task; i++) {
    long mine;
    int rc = corio_lock_acquire(&st->lock);

    if (rc < 0)
      die("corio_lock_acquire", rc);
    mine = ++st->counter;
    rc = corio_sleep(0);
    if (rc < 0)
      die("corio_sleep", rc);
    if (st->counter != mine) {
      fprintf(stderr,
              "lock: the counter went from %ld to %ld while the lock was "
              "held\n",
              mine, st->counter);
      exit(1);
    }
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
  t0 = bench_now_s();
  for (int i = 0; i < TASKS; i++) {
    rc = corio_spawn(&tasks[i], contender, st);
    if (rc < 0)
      die("corio_spawn", rc);
  }
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
