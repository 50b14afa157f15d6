/* gather: what corio_gather costs over many short-lived tasks. A main task
 * spawns 100,000 (or argv[1]) tasks whose body returns a result at once
 * (its index plus one), keeping a reference to each, then gathers them all
 * with corio_gather (a CORIO_AWAIT_TASK child each, an outcomes array, no
 * flags), checks every outcome (no error, the task's own result) and
 * releases every task.
 *
 *   gather_tasks    the number of tasks of a round
 *   gather_100k_ms  the median over 10 rounds of the milliseconds from
 *                   before the first corio_spawn to after the last unref,
 *                   measured inside the main task: spawning, the gather
 *                   (every task starts in a later loop iteration, once the
 *                   gather suspends the main task), the check, the unrefs
 *   ns_per_task     that time divided by the count
 *
 * Each round is a corio_runner_run on one loop, after a first round that
 * warms up the task and stack pools. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/combine.h"
#include "corio/task.h"

#define DEFAULT_COUNT 100000L
#define ROUNDS 10

struct state {
  corio_task **tasks;
  corio_awaitable *children;
  corio_outcome *outcomes;
  long count;
  double seconds; /* the round's figure */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "gather: %s failed: %s (%d)\n", what, corio_strerror(rc), rc);
  exit(1);
}

/* Returns its argument, a non-NULL value, as the result. */
static int trivial(void *arg, void **result) {
  *result = arg;
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  double t0, t1;
  int rc;

  (void)result;
  t0 = bench_now_s();
  for (long i = 0; i < st->count; i++) {
    rc = corio_spawn(&st->tasks[i], trivial, (void *)(intptr_t)(i + 1));
    if (rc < 0)
      die("corio_spawn", rc);
    st->children[i] = CORIO_AWAIT_TASK(st->tasks[i]);
  }
  rc = corio_gather(st->children, (size_t)st->count, st->outcomes, 0);
  if (rc < 0)
    die("corio_gather", rc);
  for (long i = 0; i < st->count; i++) {
    if (st->outcomes[i].error != 0 ||
        st->outcomes[i].result != (void *)(intptr_t)(i + 1)) {
      fprintf(stderr, "gather: child %ld: error %d, result %p\n", i,
              st->outcomes[i].error, st->outcomes[i].result);
      exit(1);
    }
    corio_task_unref(st->tasks[i]);
  }
  t1 = bench_now_s();
  st->seconds = t1 - t0;
  return 0;
}

static double run(corio_runner *runner, struct state *st) {
  int rc = corio_runner_run(runner, main_task, st, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  return st->seconds;
}

int main(int argc, char **argv) {
  struct state st = {.count = DEFAULT_COUNT};
  double s[ROUNDS], median;
  corio_runner *runner;
  int rc;

  if (argc > 1) {
    char *end;

    st.count = strtol(argv[1], &end, 10);
    if (*end != '\0' || st.count <= 0) {
      fprintf(stderr, "usage: gather [count]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "gather: could not pin to a CPU; figures are noisier\n");
  st.tasks = malloc((size_t)st.count * sizeof *st.tasks);
  st.children = malloc((size_t)st.count * sizeof *st.children);
  st.outcomes = malloc((size_t)st.count * sizeof *st.outcomes);
  if (!st.tasks || !st.children || !st.outcomes) {
    fprintf(stderr, "gather: no memory for %ld tasks\n", st.count);
    return 1;
  }
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);
  run(runner, &st);
  for (int r = 0; r < ROUNDS; r++)
    s[r] = run(runner, &st);
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  median = bench_median(s, ROUNDS);
  bench_print("gather_tasks", (double)st.count, 0, "");
  bench_print("gather_100k_ms", median * 1e3, 2, "ms");
  bench_print("ns_per_task", median * 1e9 / (double)st.count, 1, "ns");
  free(st.tasks);
  free(st.children);
  free(st.outcomes);
  return 0;
}
