/* to_thread: what one corio_to_thread round trip costs when the pool is
 * kept busy. A main task spawns 100 (or argv[1]) tasks, each of which
 * makes 1,000 (or argv[2]) sequential corio_to_thread calls of an empty
 * function (it returns its argument), checks each result, and the main task
 * awaits them all: 100,000 round trips in one corio_runner_run.
 *
 *   to_thread_us      the median over 5 runs of the wall time from before
 *                     the first spawn to after the last await, divided by
 *                     the number of calls: a context copy, a job and a
 *                     future made on the loop, the executor's queue and
 *                     condition variable, the call on a pool thread, the
 *                     outcome posted back through the loop's wake-up, and
 *                     the waiting task resumed
 *   to_thread_per_s   the number of calls divided by that time
 *   pool_threads      corio_executor_threads of the loop's default
 *                     executor after the runs: the threads the pool grew to
 *   run_in_executor_us, run_in_executor_per_s
 *                     the same workload with corio_run_in_executor (no
 *                     context, so no copy) and corio_future_await in place
 *                     of corio_to_thread: what the context copy and run add
 *
 * Every run is on one runner (one loop, one default executor, whose
 * threads stay between runs), after a warm-up run of each workload (every
 * task, 100 calls each) that starts the pool's threads and fills the task
 * and stack pools. The two workloads then run by turns, 5 runs each, so
 * that both figures see the same state of the machine.
 *
 * Nothing is pinned: pool threads inherit the affinity of the thread that
 * starts them (the loop's), so pinning the loop with bench_pin_last_cpu
 * would put every thread on one CPU. The figure is meant for the loop and
 * the pool sharing (at least) 2 cores, so it moves with the scheduler:
 * most of a call's time is the kernel's (futex waits and wake-ups of the
 * pool threads on the executor's lock and condition variable), and other
 * load on the machine can cut the figure by several times. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/task.h"
#include "corio/thread.h"

#define DEFAULT_TASKS 100L
#define DEFAULT_CALLS 1000L
#define WARMUP_CALLS 100L

struct state {
  long tasks, calls; /* tasks, calls per task (of the run) */
  int use_executor;  /* run_in_executor instead of to_thread */
  corio_task **children;
  double seconds; /* the run's figure */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "to_thread: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

/* The empty function, on a pool thread. */
static int empty(void *arg, void **result) {
  *result = arg;
  return 0;
}

static int caller(void *arg, void **result) {
  struct state *st = arg;

  *result = NULL;
  for (long i = 0; i < st->calls; i++) {
    void *expect = (void *)(intptr_t)(i + 1), *value = NULL;
    int rc;

    if (st->use_executor) {
      corio_future *fut;

      rc = corio_run_in_executor(NULL, NULL, empty, expect, &fut);
      if (rc < 0)
        die("corio_run_in_executor", rc);
      rc = corio_future_await(fut, &value);
      corio_future_unref(fut);
      if (rc < 0)
        die("corio_future_await", rc);
    } else {
      rc = corio_to_thread(empty, expect, &value);
      if (rc < 0)
        die("corio_to_thread", rc);
    }
    if (value != expect) {
      fprintf(stderr, "to_thread: call %ld returned %p instead of %p\n", i,
              value, expect);
      exit(1);
    }
  }
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  double t0, t1;

  (void)result;
  t0 = bench_now_s();
  for (long i = 0; i < st->tasks; i++) {
    int rc = corio_spawn(&st->children[i], caller, st);

    if (rc < 0)
      die("corio_spawn", rc);
  }
  for (long i = 0; i < st->tasks; i++) {
    int rc = corio_await(st->children[i], NULL);

    if (rc < 0)
      die("corio_await", rc);
    corio_task_unref(st->children[i]);
  }
  t1 = bench_now_s();
  st->seconds = t1 - t0;
  return 0;
}

/* One run of the workload on runner: its seconds. */
static double run(corio_runner *runner, struct state *st, int use_executor,
                  long calls) {
  int rc;

  st->use_executor = use_executor;
  st->calls = calls;
  rc = corio_runner_run(runner, main_task, st, NULL);
  if (rc < 0)
    die("corio_runner_run", rc);
  return st->seconds;
}

static long parse_count(const char *text) {
  char *end;
  long n = strtol(text, &end, 10);

  if (*end != '\0' || n <= 0) {
    fprintf(stderr, "usage: to_thread [tasks [calls_per_task]]\n");
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  struct state st = {.tasks = DEFAULT_TASKS};
  corio_executor *ex;
  corio_runner *runner;
  double s_thread[BENCH_RUNS], s_executor[BENCH_RUNS], s, total;
  long calls = DEFAULT_CALLS, warm;
  unsigned threads;
  int rc;

  if (argc > 1)
    st.tasks = parse_count(argv[1]);
  if (argc > 2)
    calls = parse_count(argv[2]);
  total = (double)st.tasks * (double)calls;
  st.children = malloc((size_t)st.tasks * sizeof *st.children);
  if (!st.children) {
    fprintf(stderr, "to_thread: no memory for %ld tasks\n", st.tasks);
    return 1;
  }
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);

  /* Warm-up, then the two workloads run by turns, so that both see the
   * same state of the machine. */
  warm = calls < WARMUP_CALLS ? calls : WARMUP_CALLS;
  run(runner, &st, 0, warm);
  run(runner, &st, 1, warm);
  for (int r = 0; r < BENCH_RUNS; r++) {
    s_thread[r] = run(runner, &st, 0, calls);
    s_executor[r] = run(runner, &st, 1, calls);
  }
  /* The loop is not running: its default executor exists by now. */
  rc = corio_loop_default_executor(corio_runner_loop(runner), &ex);
  if (rc < 0)
    die("corio_loop_default_executor", rc);
  threads = corio_executor_threads(ex);
  s = bench_median(s_thread, BENCH_RUNS);
  bench_print("to_thread_calls", total, 0, "");
  bench_print("to_thread_us", s * 1e6 / total, 3, "us");
  bench_print("to_thread_per_s", total / s, 0, "/s");
  bench_print("pool_threads", (double)threads, 0, "threads");
  s = bench_median(s_executor, BENCH_RUNS);
  bench_print("run_in_executor_us", s * 1e6 / total, 3, "us");
  bench_print("run_in_executor_per_s", total / s, 0, "/s");

  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  free(st.children);
  return 0;
}
