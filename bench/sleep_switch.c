/* Task switches through the loop: two tasks take turns, each calling
 * corio_sleep(0) 5,000,000 times, 10,000,000 hand-offs in all (argv[1]:
 * another even total).
 *
 *   task_switch_ns  the median over 5 runs of the time from before the two
 *                   tasks are spawned to after the main task has awaited
 *                   both, divided by the 10,000,000 calls of
 *                   corio_sleep(0)
 *
 * corio_sleep(0) queues the caller's next step and suspends it for one
 * loop iteration, so an iteration runs one step of each task: a hand-off
 * is one suspension of a task's coroutine back to the loop, one resumption
 * of the other's and its trip through the ready queue, plus half an
 * iteration (a non-blocking poll) of the loop. Each run is its own
 * corio_run, on a fresh loop; a first, shorter run warms up. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/task.h"

#define HANDOFFS 10000000L

struct state {
  long per_task;  /* corio_sleep(0) calls of each of the two tasks */
  double seconds; /* the run's elapsed time */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "sleep_switch: %s failed: %s (%d)\n", what,
          corio_strerror(rc), rc);
  exit(1);
}

static int ping(void *arg, void **result) {
  const struct state *st = arg;

  *result = NULL;
  for (long i = 0; i < st->per_task; i++) {
    int rc = corio_sleep(0);

    if (rc < 0)
      return rc;
  }
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  corio_task *a, *b;
  void *value;
  double t0, t1;
  int rc;

  (void)result;
  t0 = bench_now_s();
  rc = corio_spawn(&a, ping, st);
  if (rc < 0)
    die("corio_spawn", rc);
  rc = corio_spawn(&b, ping, st);
  if (rc < 0)
    die("corio_spawn", rc);
  rc = corio_await(a, &value);
  if (rc < 0)
    die("corio_await (first task)", rc);
  rc = corio_await(b, &value);
  if (rc < 0)
    die("corio_await (second task)", rc);
  t1 = bench_now_s();
  corio_task_unref(a);
  corio_task_unref(b);
  st->seconds = t1 - t0;
  return 0;
}

/* Nanoseconds per hand-off over `handoffs` (even) hand-offs. */
static double run(long handoffs) {
  struct state st = {handoffs / 2, 0};
  int rc = corio_run(main_task, &st, NULL);

  if (rc < 0)
    die("corio_run", rc);
  return st.seconds * 1e9 / (double)handoffs;
}

int main(int argc, char **argv) {
  long handoffs = HANDOFFS;
  double ns[BENCH_RUNS];

  if (argc > 1) {
    char *end;

    handoffs = strtol(argv[1], &end, 10);
    if (*end != '\0' || handoffs < 2 || handoffs % 2 != 0) {
      fprintf(stderr, "usage: sleep_switch [hand-offs, even]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr,
            "sleep_switch: could not pin to a CPU; figures are noisier\n");
  run(handoffs / 10 / 2 * 2 > 0 ? handoffs / 10 / 2 * 2 : 2);
  for (int r = 0; r < BENCH_RUNS; r++)
    ns[r] = run(handoffs);
  bench_print("task_switch_ns", bench_median(ns, BENCH_RUNS), 2, "ns");
  return 0;
}
