/* Timers: 1,000,000 timers with pseudo-random delays in [0, 1 s), every
 * second one cancelled, the loop run until the last live one has fired.
 * That is all this program does, so the process's CPU time is the cost of
 * the whole workload (bench/compare/uv_timers does the same with libuv).
 *
 *   timers_1m_cpu_s   user + system CPU time of the whole process
 *                     (getrusage at exit, after the loop is freed); the
 *                     wall time is about 1 s whatever the cost, as the
 *                     last timer is due about 1 s after the first
 *   timers_1m_wall_s  that wall time, from the first arm to the loop freed
 *   timer_arm_ns      corio_loop_call_later_ns, per timer (1,000,000; the
 *                     cancelled half also take a handle)
 *   timer_cancel_ns   corio_handle_cancel + corio_handle_unref, per
 *                     cancelled timer (500,000)
 *
 * The delays come from xorshift64 with a fixed seed, so every run (and the
 * libuv twin) arms the same deadlines. A single run: the figure is the
 * process's CPU time, which a repetition inside the program would blur. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench.h"
#include "corio/loop.h"

#define TIMERS 1000000L
#define CANCELLED (TIMERS / 2)
#define MAX_DELAY_NS ((uint64_t)1000000000)
#define SEED ((uint64_t)0x9E3779B97F4A7C15)

struct state {
  corio_loop *loop;
  long live;     /* timers still to fire */
  long misfired; /* cancelled timers that ran: must stay 0 */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "timers: %s failed: %s (%d)\n", what, corio_strerror(rc), rc);
  exit(1);
}

static int fired(void *arg) {
  struct state *st = arg;

  if (--st->live == 0)
    return corio_loop_stop(st->loop);
  return 0;
}

static int cancelled_fired(void *arg) {
  struct state *st = arg;

  st->misfired++;
  return 0;
}

static double cpu_seconds(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    die("getrusage", -errno);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(void) {
  struct state st = {NULL, TIMERS - CANCELLED, 0};
  corio_handle **handles;
  uint64_t seed = SEED;
  double t0, t_armed, t_cancelled, t_end;
  int rc;

  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "timers: could not pin to a CPU; figures are noisier\n");
  handles = malloc(CANCELLED * sizeof *handles);
  if (!handles)
    die("malloc", -ENOMEM);
  rc = corio_loop_create(&st.loop);
  if (rc < 0)
    die("corio_loop_create", rc);

  /* Even timers fire; odd ones are cancelled, so they keep a handle. */
  t0 = bench_now_s();
  for (long i = 0; i < TIMERS; i++) {
    int64_t delay = (int64_t)(bench_xorshift64(&seed) % MAX_DELAY_NS);

    if (i % 2 == 0)
      rc = corio_loop_call_later_ns(st.loop, delay, fired, &st, NULL);
    else
      rc = corio_loop_call_later_ns(st.loop, delay, cancelled_fired, &st,
                                    &handles[i / 2]);
    if (rc < 0)
      die("corio_loop_call_later_ns", rc);
  }
  t_armed = bench_now_s();
  for (long i = 0; i < CANCELLED; i++) {
    corio_handle_cancel(handles[i]);
    corio_handle_unref(handles[i]);
  }
  t_cancelled = bench_now_s();

  rc = corio_loop_run_forever(st.loop);
  if (rc < 0)
    die("corio_loop_run_forever", rc);
  if (st.live != 0 || st.misfired != 0) {
    fprintf(stderr, "timers: %ld timers did not fire, %ld cancelled ones did\n",
            st.live, st.misfired);
    return 1;
  }
  corio_loop_unref(st.loop);
  free(handles);
  t_end = bench_now_s();

  bench_print("timers_1m_cpu_s", cpu_seconds(), 3, "s");
  bench_print("timers_1m_wall_s", t_end - t0, 3, "s");
  bench_print("timer_arm_ns", (t_armed - t0) * 1e9 / TIMERS, 1, "ns");
  bench_print("timer_cancel_ns", (t_cancelled - t_armed) * 1e9 / CANCELLED, 1,
              "ns");
  return 0;
}
