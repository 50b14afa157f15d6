/* The ready queue: what one callback costs to schedule with
 * corio_loop_call_soon and to run.
 *
 *   call_soon_ns  the median over 5 runs of the time to schedule and run
 *                 10,000,000 callbacks, divided by 10,000,000
 *
 * Each run starts 1,000 callbacks; each one, when it runs, schedules the
 * next while the total is not reached, so an iteration runs 1,000
 * callbacks that schedule the 1,000 of the next one (asyncio's rule: what
 * a callback schedules waits for the next iteration). The loop thus makes
 * 10,000 iterations a run, each with one non-blocking poll, which is part
 * of the figure as it is part of running callbacks. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/loop.h"

#define CALLBACKS 10000000L
#define WIDTH 1000L

struct state {
  corio_loop *loop;
  long scheduled, ran, total;
  int rc; /* the first failure of call_soon inside a callback */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "call_soon: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

static int tick(void *arg) {
  struct state *st = arg;

  if (++st->ran == st->total)
    return corio_loop_stop(st->loop);
  if (st->scheduled < st->total) {
    int rc = corio_loop_call_soon(st->loop, tick, st, NULL);
    if (rc < 0) {
      st->rc = rc;
      return corio_loop_stop(st->loop);
    }
    st->scheduled++;
  }
  return 0;
}

/* Nanoseconds per scheduled-and-run callback over `total` callbacks. */
static double run(corio_loop *loop, long total) {
  struct state st = {loop, 0, 0, total, 0};
  double t0 = bench_now_s();
  int rc;

  for (; st.scheduled < WIDTH && st.scheduled < total; st.scheduled++) {
    rc = corio_loop_call_soon(loop, tick, &st, NULL);
    if (rc < 0)
      die("corio_loop_call_soon", rc);
  }
  rc = corio_loop_run_forever(loop);
  double t1 = bench_now_s();
  if (rc < 0)
    die("corio_loop_run_forever", rc);
  if (st.rc < 0)
    die("corio_loop_call_soon (in a callback)", st.rc);
  if (st.ran != total) {
    fprintf(stderr, "call_soon: %ld callbacks ran instead of %ld\n", st.ran,
            total);
    exit(1);
  }
  return (t1 - t0) * 1e9 / (double)total;
}

int main(void) {
  double ns[BENCH_RUNS];
  corio_loop *loop;
  int rc;

  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "call_soon: could not pin to a CPU; figures are noisier\n");
  rc = corio_loop_create(&loop);
  if (rc < 0)
    die("corio_loop_create", rc);
  /* Warm-up: grows the handle pool to its working set and lets the CPU
   * leave its idle clock. */
  run(loop, CALLBACKS / 10);
  for (int r = 0; r < BENCH_RUNS; r++)
    ns[r] = run(loop, CALLBACKS);
  corio_loop_unref(loop);
  bench_print("call_soon_ns", bench_median(ns, BENCH_RUNS), 2, "ns");
  return 0;
}
