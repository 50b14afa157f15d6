/* wait_for: what corio_wait_for adds to awaiting a task. A main task loops
 * 1,000,000 (or argv[1]) times over: spawn a task whose body returns a
 * result at once, wait for it with corio_wait_for and a 10 s timeout,
 * check the result, release the task. The task is never done when
 * wait_for is called (it starts in a later loop iteration), so every call
 * arms a timer, suspends, is woken by the task's completion and cancels
 * the timer.
 *
 *   wait_for_ns       the median over 5 runs of the time of the loop
 *                     divided by the count: one spawn, one wait_for (its
 *                     timer armed and cancelled), one unref per call; the
 *                     spawn and the task's own step are included
 *   spawn_await_ns    the same loop with corio_await (no timeout) in place
 *                     of corio_wait_for
 *   wait_for_extra_ns the difference: what wait_for itself adds
 *
 * Each run is a corio_runner_run on one loop, timed inside the main task,
 * after a first, shorter run of each kind that warms up the task and
 * stack pools and the timer heap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/combine.h"
#include "corio/task.h"

#define DEFAULT_COUNT 1000000L
#define TIMEOUT_S 10.0

struct state {
  long count;
  int use_wait_for;
  double seconds;
};

static void die(const char *what, int rc) {
  fprintf(stderr, "wait_for: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
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

  (void)result;
  t0 = bench_now_s();
  for (long i = 0; i < st->count; i++) {
    void *expected = (void *)(intptr_t)(i + 1), *value = NULL;
    corio_task *t;
    int rc = corio_spawn(&t, trivial, expected);

    if (rc < 0)
      die("corio_spawn", rc);
    if (st->use_wait_for) {
      rc = corio_wait_for(corio_task_future(t), TIMEOUT_S, &value);
      if (rc < 0)
        die("corio_wait_for", rc);
    } else {
      rc = corio_await(t, &value);
      if (rc < 0)
        die("corio_await", rc);
    }
    if (value != expected) {
      fprintf(stderr, "wait_for: task %ld gave %p, not %p\n", i, value,
              expected);
      exit(1);
    }
    corio_task_unref(t);
  }
  t1 = bench_now_s();
  st->seconds = t1 - t0;
  return 0;
}

/* Nanoseconds per iteration of one run. */
static double run(corio_runner *runner, long count, int use_wait_for) {
  struct state st = {.count = count, .use_wait_for = use_wait_for};
  int rc = corio_runner_run(runner, main_task, &st, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  return st.seconds * 1e9 / (double)count;
}

/* The median of BENCH_RUNS runs, after a warm-up run of a tenth. */
static double median_run(corio_runner *runner, long count, int use_wait_for) {
  double ns[BENCH_RUNS];

  run(runner, count / 10 > 0 ? count / 10 : 1, use_wait_for);
  for (int r = 0; r < BENCH_RUNS; r++)
    ns[r] = run(runner, count, use_wait_for);
  return bench_median(ns, BENCH_RUNS);
}

int main(int argc, char **argv) {
  long count = DEFAULT_COUNT;
  double wait_for_ns, await_ns;
  corio_runner *runner;
  int rc;

  if (argc > 1) {
    char *end;

    count = strtol(argv[1], &end, 10);
    if (*end != '\0' || count <= 0) {
      fprintf(stderr, "usage: wait_for [count]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "wait_for: could not pin to a CPU; figures are noisier\n");
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);
  wait_for_ns = median_run(runner, count, 1);
  await_ns = median_run(runner, count, 0);
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  bench_print("wait_for_calls", (double)count, 0, "");
  bench_print("wait_for_ns", wait_for_ns, 1, "ns");
  bench_print("spawn_await_ns", await_ns, 1, "ns");
  bench_print("wait_for_extra_ns", wait_for_ns - await_ns, 1, "ns");
  return 0;
}
