/* Task groups: what a child of a corio_taskgroup costs. A main task opens
 * a group, spawns 1,000,000 (or argv[1]) children into it with
 * corio_taskgroup_spawn(g, NULL, fn, arg), each returning a result at
 * once, closes the group (close waits for every child) and frees it.
 *
 *   taskgroup_children  the number of children of a run
 *   taskgroup_1m_s      the median over 5 runs of the seconds from before
 *                       corio_taskgroup_open to after corio_taskgroup_free,
 *                       measured inside the main task; every child starts
 *                       in a later loop iteration (close lets the loop run
 *                       them all), and the group keeps a reference to each
 *                       child until it is freed
 *   ns_per_child        that time divided by the count
 *
 * The program checks that every child ran, that close returns 0 and that
 * the group lists no error. Each run is a corio_runner_run on one loop,
 * after a first run that warms up the task and stack pools. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/combine.h"
#include "corio/task.h"

#define DEFAULT_COUNT 1000000L

struct state {
  long count;
  long ran; /* children that ran */
  double seconds;
};

static void die(const char *what, int rc) {
  fprintf(stderr, "taskgroup: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

static int child(void *arg, void **result) {
  struct state *st = arg;

  st->ran++;
  *result = NULL;
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  corio_taskgroup *g;
  double t0, t1;
  size_t errors;
  int rc;

  (void)result;
  t0 = bench_now_s();
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    die("corio_taskgroup_open", rc);
  for (long i = 0; i < st->count; i++) {
    rc = corio_taskgroup_spawn(g, NULL, child, st);
    if (rc < 0)
      die("corio_taskgroup_spawn", rc);
  }
  rc = corio_taskgroup_close(g, 0);
  if (rc < 0)
    die("corio_taskgroup_close", rc);
  errors = corio_taskgroup_error_count(g);
  rc = corio_taskgroup_free(g);
  if (rc < 0)
    die("corio_taskgroup_free", rc);
  t1 = bench_now_s();
  if (errors != 0) {
    fprintf(stderr, "taskgroup: %zu errors listed\n", errors);
    exit(1);
  }
  st->seconds = t1 - t0;
  return 0;
}

/* Seconds of one run of `count` children. */
static double run(corio_runner *runner, long count) {
  struct state st = {.count = count};
  int rc = corio_runner_run(runner, main_task, &st, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  if (st.ran != count) {
    fprintf(stderr, "taskgroup: %ld of %ld children ran\n", st.ran, count);
    exit(1);
  }
  return st.seconds;
}

int main(int argc, char **argv) {
  long count = DEFAULT_COUNT;
  double s[BENCH_RUNS], median;
  corio_runner *runner;
  int rc;

  if (argc > 1) {
    char *end;

    count = strtol(argv[1], &end, 10);
    if (*end != '\0' || count <= 0) {
      fprintf(stderr, "usage: taskgroup [count]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "taskgroup: could not pin to a CPU; figures are noisier\n");
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);
  run(runner, count);
  for (int r = 0; r < BENCH_RUNS; r++)
    s[r] = run(runner, count);
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  median = bench_median(s, BENCH_RUNS);
  bench_print("taskgroup_children", (double)count, 0, "");
  bench_print("taskgroup_1m_s", median, 3, "s");
  bench_print("ns_per_child", median * 1e9 / (double)count, 1, "ns");
  return 0;
}
