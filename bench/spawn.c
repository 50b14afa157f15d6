/* Tasks: what one short-lived task costs to spawn, run and wait for. A main
 * task (inside corio_run) spawns 1,000,000 (or argv[1]) tasks whose body
 * returns 0 at once, keeping a reference to each in an array, then awaits
 * each in order and releases it.
 *
 *   spawn_1m_s         the median over 5 runs of the seconds from before the
 *                      first corio_spawn to after the last await and unref,
 *                      measured inside the main task; every task starts in
 *                      a later loop iteration (the first await lets the
 *                      loop run them all), each on its own coroutine with
 *                      the default stack size
 *   ns_per_task        that time divided by the count
 *   peak_rss_mb        VmHWM after those runs, in MiB (2^20 bytes): the
 *                      process-wide peak, including the benchmark's array
 *                      of task pointers (8 bytes a task)
 *   spawn_eager_1m_s   the same with corio_spawn_options.eager = 1: each
 *                      body runs inside corio_spawn_ex, so every task is
 *                      done before the next is spawned and its await
 *                      returns at once
 *   ns_per_task_eager  that time divided by the count
 *
 * Each run is its own corio_run (a fresh loop); the stack pool, which is
 * per thread, stays warm from one run to the next. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/task.h"

#define DEFAULT_COUNT 1000000L

struct state {
  corio_task **tasks;
  long count;
  int eager;
  double seconds; /* the run's figure */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "spawn: %s failed: %s (%d)\n", what, corio_strerror(rc), rc);
  exit(1);
}

static int trivial(void *arg, void **result) {
  (void)arg;
  *result = NULL;
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  corio_spawn_options opts = {.eager = st->eager};
  double t0, t1;

  (void)result;
  t0 = bench_now_s();
  for (long i = 0; i < st->count; i++) {
    int rc = corio_spawn_ex(&st->tasks[i], trivial, NULL, &opts);

    if (rc < 0)
      die("corio_spawn_ex", rc);
  }
  for (long i = 0; i < st->count; i++) {
    void *value;
    int rc = corio_await(st->tasks[i], &value);

    if (rc < 0)
      die("corio_await", rc);
    corio_task_unref(st->tasks[i]);
  }
  t1 = bench_now_s();
  st->seconds = t1 - t0;
  return 0;
}

/* The median seconds of BENCH_RUNS runs on one loop, after a first run
 * whose figure is returned in *first. */
static double median_run(struct state *st, double *first) {
  double s[BENCH_RUNS];
  corio_runner *runner;
  int rc = corio_runner_create(&runner);

  if (rc < 0)
    die("corio_runner_create", rc);
  for (int r = -1; r < BENCH_RUNS; r++) {
    rc = corio_runner_run(runner, main_task, st, NULL);
    if (rc < 0)
      die("corio_runner_run", rc);
    if (r < 0)
      *first = st->seconds;
    else
      s[r] = st->seconds;
  }
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  return bench_median(s, BENCH_RUNS);
}

int main(int argc, char **argv) {
  struct state st = {NULL, DEFAULT_COUNT, 0, 0};
  double s, first;
  long long hwm;

  if (argc > 1) {
    char *end;

    st.count = strtol(argv[1], &end, 10);
    if (*end != '\0' || st.count <= 0) {
      fprintf(stderr, "usage: spawn [count]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "spawn: could not pin to a CPU; figures are noisier\n");
  st.tasks = malloc((size_t)st.count * sizeof *st.tasks);
  if (!st.tasks) {
    fprintf(stderr, "spawn: no memory for %ld pointers\n", st.count);
    return 1;
  }

  s = median_run(&st, &first);
  hwm = bench_status_bytes("VmHWM");
  bench_print("spawn_1m_first_run_s", first, 3, "s");
  bench_print("spawn_1m_s", s, 3, "s");
  bench_print("ns_per_task", s * 1e9 / (double)st.count, 1, "ns");
  if (hwm < 0) {
    fprintf(stderr, "spawn: cannot read VmHWM from /proc/self/status\n");
    return 1;
  }
  bench_print("peak_rss_mb", (double)hwm / (1024.0 * 1024.0), 1, "MiB");

  st.eager = 1;
  s = median_run(&st, &first);
  bench_print("spawn_eager_1m_first_run_s", first, 3, "s");
  bench_print("spawn_eager_1m_s", s, 3, "s");
  bench_print("ns_per_task_eager", s * 1e9 / (double)st.count, 1, "ns");
  free(st.tasks);
  return 0;
}
