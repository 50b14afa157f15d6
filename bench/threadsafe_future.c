/* threadsafe_future: what one corio_run_coroutine_threadsafe round trip
 * costs. A loop runs forever on a background thread; the main thread
 * submits tasks one at a time with corio_run_coroutine_threadsafe (the
 * body returns its argument at once) and blocks on each with
 * corio_threadsafe_future_result (no timeout) before submitting the next,
 * checking every result: 100,000 round trips in all, as 5 runs of 20,000
 * (or argv[1]) each.
 *
 *   threadsafe_roundtrips       the round trips of one run
 *   threadsafe_roundtrip_us     the median over the 5 runs of the mean time
 *                               of a round trip: the future made, the start
 *                               call posted and the loop woken through its
 *                               eventfd, the task spawned and run, its
 *                               outcome set on the future and the main
 *                               thread woken from its condition variable,
 *                               the future released
 *   threadsafe_roundtrip_per_s  one second divided by that
 *
 * Every round trip puts both threads to sleep and wakes each once, so the
 * figure is mostly the kernel's wake-up latency: on a VM whose idle vCPUs
 * halt it moves between ~10 us (the other CPU busy, or both threads on
 * one) and several times that (each wake-up waits for a halted vCPU).
 * The runs are kept short for that reason (20,000 round trips, not
 * 100,000, a run).
 *
 * The loop thread is started once and serves every run, after a warm-up
 * run of 10,000 that fills its task and stack pools. At the end the loop
 * is stopped with corio_loop_call_soon_threadsafe(loop, corio_loop_stop_cb,
 * loop), joined, closed and released.
 *
 * Nothing is pinned, as in bench/to_thread (whose pool threads would
 * inherit the loop's affinity): the figure is meant for the two threads
 * running side by side on (at least) 2 cores. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/loop.h"
#include "corio/thread.h"

#define DEFAULT_COUNT 20000L /* a run's; BENCH_RUNS runs */
#define WARMUP_COUNT 10000L

static void die(const char *what, int rc) {
  fprintf(stderr, "threadsafe_future: %s failed: %s (%d)\n", what,
          corio_strerror(rc), rc);
  exit(1);
}

/* The task body, on the loop's thread. */
static int echo(void *arg, void **result) {
  *result = arg;
  return 0;
}

static void *loop_thread(void *arg) {
  int rc = corio_loop_run_forever(arg);

  if (rc < 0)
    die("corio_loop_run_forever", rc);
  return NULL;
}

/* Seconds for count round trips. */
static double run(corio_loop *loop, long count) {
  double t0 = bench_now_s();

  for (long i = 0; i < count; i++) {
    void *expect = (void *)(intptr_t)(i + 1), *value = NULL;
    corio_threadsafe_future *fut;
    int rc = corio_run_coroutine_threadsafe(loop, echo, expect, &fut);

    if (rc < 0)
      die("corio_run_coroutine_threadsafe", rc);
    rc = corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &value);
    if (rc < 0)
      die("corio_threadsafe_future_result", rc);
    if (value != expect) {
      fprintf(stderr,
              "threadsafe_future: round trip %ld returned %p instead of %p\n",
              i, value, expect);
      exit(1);
    }
    corio_threadsafe_future_unref(fut);
  }
  return bench_now_s() - t0;
}

int main(int argc, char **argv) {
  long count = DEFAULT_COUNT;
  double s[BENCH_RUNS], median;
  corio_loop *loop;
  pthread_t thread;
  int rc;

  if (argc > 1) {
    char *end;

    count = strtol(argv[1], &end, 10);
    if (*end != '\0' || count <= 0) {
      fprintf(stderr, "usage: threadsafe_future [round_trips_per_run]\n");
      return 2;
    }
  }
  rc = corio_loop_create(&loop);
  if (rc < 0)
    die("corio_loop_create", rc);
  rc = pthread_create(&thread, NULL, loop_thread, loop);
  if (rc != 0)
    die("pthread_create", -rc);

  run(loop, count < WARMUP_COUNT ? count : WARMUP_COUNT); /* warm-up */
  for (int r = 0; r < BENCH_RUNS; r++)
    s[r] = run(loop, count) / (double)count;

  rc = corio_loop_call_soon_threadsafe(loop, corio_loop_stop_cb, loop);
  if (rc < 0)
    die("corio_loop_call_soon_threadsafe", rc);
  rc = pthread_join(thread, NULL);
  if (rc != 0)
    die("pthread_join", -rc);
  rc = corio_loop_close(loop);
  if (rc < 0)
    die("corio_loop_close", rc);
  corio_loop_unref(loop);

  median = bench_median(s, BENCH_RUNS);
  bench_print("threadsafe_roundtrips", (double)count, 0, "");
  bench_print("threadsafe_roundtrip_us", median * 1e6, 3, "us");
  bench_print("threadsafe_roundtrip_per_s", 1.0 / median, 0, "/s");
  return 0;
}
