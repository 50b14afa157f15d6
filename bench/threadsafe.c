/* Cross-thread calls: another thread posts 1,000,000 callbacks with
 * corio_loop_call_soon_threadsafe to a running loop; the last one stops
 * it.
 *
 *   threadsafe_calls_per_s  the median over 3 runs of 1,000,000 divided by
 *                           the time from the first post to the loop
 *                           stopped (run_forever returned), so it counts
 *                           posting, waking the loop, moving the calls to
 *                           the ready queue and running them
 *
 * The loop runs on the main thread, pinned to the last CPU; the poster is
 * pinned to another CPU when there is one, so the two run side by side as
 * a loop thread and a worker thread would. The poster starts posting only
 * once the loop runs (a callback on the loop lets it go). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/loop.h"

#define CALLS 1000000L
#define RUNS 3

struct state {
  corio_loop *loop;
  atomic_int go;  /* set on the loop's thread once it runs */
  long ran;       /* callbacks run, on the loop's thread */
  double t_first; /* written by the poster before its first post */
  int poster_cpu; /* -1: leave the poster unpinned */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "threadsafe: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

static int started(void *arg) {
  struct state *st = arg;

  atomic_store_explicit(&st->go, 1, memory_order_release);
  return 0;
}

static int count(void *arg) {
  struct state *st = arg;

  st->ran++;
  return 0;
}

static int last(void *arg) {
  struct state *st = arg;

  st->ran++;
  return corio_loop_stop(st->loop);
}

static void *poster(void *arg) {
  struct state *st = arg;

  if (st->poster_cpu >= 0) {
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(st->poster_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      fprintf(stderr, "threadsafe: could not pin the poster\n");
  }
  while (!atomic_load_explicit(&st->go, memory_order_acquire))
    sched_yield();
  st->t_first = bench_now_s();
  for (long i = 0; i < CALLS; i++) {
    int rc = corio_loop_call_soon_threadsafe(st->loop,
                                             i == CALLS - 1 ? last : count, st);
    if (rc < 0)
      die("corio_loop_call_soon_threadsafe", rc);
  }
  return NULL;
}

/* Calls per second over one run. */
static double run(corio_loop *loop, int poster_cpu) {
  struct state st = {.loop = loop, .poster_cpu = poster_cpu};
  pthread_t thread;
  double t_stopped;
  int rc;

  atomic_init(&st.go, 0);
  rc = corio_loop_call_soon(loop, started, &st, NULL);
  if (rc < 0)
    die("corio_loop_call_soon", rc);
  rc = pthread_create(&thread, NULL, poster, &st);
  if (rc != 0)
    die("pthread_create", -rc);
  rc = corio_loop_run_forever(loop);
  t_stopped = bench_now_s();
  if (rc < 0)
    die("corio_loop_run_forever", rc);
  rc = pthread_join(thread, NULL);
  if (rc != 0)
    die("pthread_join", -rc);
  if (st.ran != CALLS) {
    fprintf(stderr, "threadsafe: %ld callbacks ran instead of %ld\n", st.ran,
            CALLS);
    exit(1);
  }
  return (double)CALLS / (t_stopped - st.t_first);
}

/* The highest CPU this process may use other than `not_this`, or -1. */
static int other_cpu(const cpu_set_t *allowed, int not_this) {
  for (int i = CPU_SETSIZE - 1; i >= 0; i--)
    if (i != not_this && CPU_ISSET(i, allowed))
      return i;
  return -1;
}

int main(void) {
  double rates[RUNS];
  cpu_set_t allowed;
  corio_loop *loop;
  int loop_cpu, poster_cpu = -1, rc;

  /* The set before pinning: the poster gets a CPU from it. */
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    CPU_ZERO(&allowed);
  loop_cpu = bench_pin_last_cpu();
  if (loop_cpu < 0)
    fprintf(stderr, "threadsafe: could not pin to a CPU; figures are "
                    "noisier\n");
  else
    poster_cpu = other_cpu(&allowed, loop_cpu);
  if (loop_cpu >= 0 && poster_cpu < 0)
    poster_cpu = loop_cpu; /* one CPU: both threads share it */

  rc = corio_loop_create(&loop);
  if (rc < 0)
    die("corio_loop_create", rc);
  run(loop, poster_cpu); /* warm-up: grows the pools */
  for (int r = 0; r < RUNS; r++)
    rates[r] = run(loop, poster_cpu);
  corio_loop_unref(loop);
  bench_print("threadsafe_calls_per_s", bench_median(rates, RUNS), 0,
              "calls/s");
  return 0;
}
