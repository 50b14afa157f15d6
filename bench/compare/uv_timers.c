/* bench/timers' workload with libuv's uv_timer, for a side-by-side
 * figure: 1,000,000 timers with the same pseudo-random delays in [0, 1 s)
 * (same xorshift64 and seed), every second one stopped, uv_run until the
 * last live one has fired, then every handle closed and the loop freed
 * (libuv refuses to close a loop whose handles are open, as corio frees
 * its handles with the loop). That is all this program does.
 *
 *   uv_timers_1m_cpu_s   user + system CPU time of the whole process
 *   uv_timers_1m_wall_s  the wall time, from the first arm to the loop freed
 *   uv_timer_arm_ns      uv_timer_init + uv_timer_start, per timer
 *   uv_timer_cancel_ns   uv_timer_stop, per stopped timer (500,000)
 *
 * libuv's timeouts are whole milliseconds (uv_timer_start takes ms), so
 * each delay is the same nanosecond delay as corio's, truncated to ms. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <uv.h>

#include "bench.h"

#define TIMERS 1000000L
#define CANCELLED (TIMERS / 2)
#define MAX_DELAY_NS ((uint64_t)1000000000)
#define SEED ((uint64_t)0x9E3779B97F4A7C15)

struct state {
  long live;     /* timers still to fire */
  long misfired; /* stopped timers that ran: must stay 0 */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "uv_timers: %s failed: %s (%d)\n", what,
          rc < 0 ? uv_strerror(rc) : "?", rc);
  exit(1);
}

static void fired(uv_timer_t *timer) {
  struct state *st = timer->data;

  /* uv_run returns by itself once no timer is active. */
  st->live--;
}

static void cancelled_fired(uv_timer_t *timer) {
  struct state *st = timer->data;

  st->misfired++;
}

static double cpu_seconds(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    die("getrusage", -errno);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(void) {
  struct state st = {TIMERS - CANCELLED, 0};
  uv_loop_t loop;
  uv_timer_t *timers;
  uint64_t seed = SEED;
  double t0, t_armed, t_cancelled, t_end;
  int rc;

  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "uv_timers: could not pin to a CPU; figures are noisier\n");
  timers = malloc(TIMERS * sizeof *timers);
  if (!timers)
    die("malloc", -ENOMEM);
  rc = uv_loop_init(&loop);
  if (rc < 0)
    die("uv_loop_init", rc);

  t0 = bench_now_s();
  for (long i = 0; i < TIMERS; i++) {
    uint64_t delay_ms = (bench_xorshift64(&seed) % MAX_DELAY_NS) / 1000000;

    rc = uv_timer_init(&loop, &timers[i]);
    if (rc < 0)
      die("uv_timer_init", rc);
    timers[i].data = &st;
    rc = uv_timer_start(&timers[i], i % 2 == 0 ? fired : cancelled_fired,
                        delay_ms, 0);
    if (rc < 0)
      die("uv_timer_start", rc);
  }
  t_armed = bench_now_s();
  for (long i = 1; i < TIMERS; i += 2) {
    rc = uv_timer_stop(&timers[i]);
    if (rc < 0)
      die("uv_timer_stop", rc);
  }
  t_cancelled = bench_now_s();

  rc = uv_run(&loop, UV_RUN_DEFAULT);
  if (rc < 0)
    die("uv_run", rc);
  if (st.live != 0 || st.misfired != 0) {
    fprintf(stderr,
            "uv_timers: %ld timers did not fire, %ld stopped ones did\n",
            st.live, st.misfired);
    return 1;
  }
  for (long i = 0; i < TIMERS; i++)
    uv_close((uv_handle_t *)&timers[i], NULL);
  rc = uv_run(&loop, UV_RUN_DEFAULT); /* runs the closes */
  if (rc < 0)
    die("uv_run", rc);
  rc = uv_loop_close(&loop);
  if (rc < 0)
    die("uv_loop_close", rc);
  free(timers);
  t_end = bench_now_s();

  bench_print("uv_timers_1m_cpu_s", cpu_seconds(), 3, "s");
  bench_print("uv_timers_1m_wall_s", t_end - t0, 3, "s");
  bench_print("uv_timer_arm_ns", (t_armed - t0) * 1e9 / TIMERS, 1, "ns");
  bench_print("uv_timer_cancel_ns", (t_cancelled - t_armed) * 1e9 / CANCELLED,
              1, "ns");
  return 0;
}
