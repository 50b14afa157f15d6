/* Memory and wake-up of many idle tasks: a main task (inside corio_run)
 * spawns 1,000,000 (or argv[1]) tasks with the default stack size, each of
 * which sleeps 2 s, all asleep at once; the main task then sleeps 1 s,
 * reads the memory figures while all of them sleep, and awaits them all.
 *
 *   tasks                 how many slept at once
 *   spawn_s               seconds of the corio_spawn calls alone (the tasks
 *                         start in a later loop iteration)
 *   start_s               seconds from the first task's first step to the
 *                         last one's call to corio_sleep_ns: coroutine
 *                         creation, first touch of each stack, arming the
 *                         timers of all but the last
 *   bytes_per_idle_task   (RSS while all sleep - RSS before spawning) /
 *                         count. The "peak" is VmRSS read by the main task
 *                         when its 1 s sleep ends, which is no earlier
 *                         than the end of the loop iteration that starts
 *                         every task: all have started and none has woken
 *                         then (checked), as the main task's deadline is
 *                         earlier than any of theirs; the benchmark's
 *                         array of task pointers is touched before the
 *                         first reading, so it is not counted
 *   page_tables_per_idle_task_bytes  growth of VmPTE / count over the same
 *                         interval: kernel memory RSS does not show,
 *                         mapping the touched stack pages
 *   all_woken_s           seconds from the first task's deadline (its
 *                         start on the loop's clock + 2 s: the earliest
 *                         deadline, as each task starts later than the one
 *                         before) until the last task's body finished
 *                         (a counter in the body reaching the count). The
 *                         deadlines are spread over start_s, so the figure
 *                         is start_s plus the lag of the wake-ups behind
 *                         them; it is not the cost of waking alone
 *   last_wake_lag_s       seconds from the last task's deadline until the
 *                         last task's body finished: that lag. When start_s
 *                         exceeds 2 s, most deadlines have passed by the
 *                         time the last task sleeps, and their wake-ups are
 *                         done before the last deadline, so this shows only
 *                         whether the loop kept up
 *
 * A single run: setting up a million sleeping stacks takes seconds, most
 * of it page faults on the first touch of each stack; run the program
 * again for another sample. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "corio/task.h"

#define DEFAULT_COUNT 1000000L
#define SLEEP_NS ((int64_t)2000000000)
#define MAIN_SLEEP_S 1.0

struct state {
  corio_task **tasks;
  long count;
  long started, woken;
  /* Deadlines on the loop's clock, CLOCK_MONOTONIC. */
  int64_t first_deadline_ns, last_deadline_ns;
  double first_start_s, last_asleep_s, end_s;
};

static void die(const char *what, int rc) {
  fprintf(stderr, "idle_tasks: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

static long long status_bytes(const char *field) {
  long long v = bench_status_bytes(field);

  if (v < 0) {
    fprintf(stderr, "idle_tasks: cannot read %s from /proc/self/status\n",
            field);
    exit(1);
  }
  return v;
}

static int sleeper(void *arg, void **result) {
  struct state *st = arg;
  int64_t start = corio_loop_time_ns(corio_loop_current());
  int rc;

  *result = NULL;
  /* corio_sleep_ns reads the same clock just after: its deadline is this
   * one, give or take a clock read. */
  if (st->started++ == 0) {
    st->first_deadline_ns = start + SLEEP_NS;
    st->first_start_s = (double)start * 1e-9;
  }
  if (st->started == st->count) {
    st->last_deadline_ns = start + SLEEP_NS;
    st->last_asleep_s = bench_now_s();
  }
  rc = corio_sleep_ns(SLEEP_NS);
  if (rc < 0)
    return rc;
  if (++st->woken == st->count)
    st->end_s = bench_now_s();
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  long long rss0, pte0, rss1, pte1;
  double t0, t1;
  int rc;

  (void)result;
  rss0 = status_bytes("VmRSS");
  pte0 = status_bytes("VmPTE");
  t0 = bench_now_s();
  for (long i = 0; i < st->count; i++) {
    rc = corio_spawn(&st->tasks[i], sleeper, st);
    if (rc < 0)
      die("corio_spawn", rc);
  }
  t1 = bench_now_s();

  /* Every task starts in the next iteration, before this sleep's timer can
   * fire; the tasks' deadlines are all later than this one. */
  rc = corio_sleep(MAIN_SLEEP_S);
  if (rc < 0)
    die("corio_sleep", rc);
  rss1 = status_bytes("VmRSS");
  pte1 = status_bytes("VmPTE");
  if (st->started != st->count || st->woken != 0) {
    fprintf(stderr,
            "idle_tasks: at the measurement %ld of %ld tasks had started and "
            "%ld had woken\n",
            st->started, st->count, st->woken);
    exit(1);
  }

  for (long i = 0; i < st->count; i++) {
    void *value;

    rc = corio_await(st->tasks[i], &value);
    if (rc < 0)
      die("corio_await", rc);
    corio_task_unref(st->tasks[i]);
  }

  bench_print("tasks", (double)st->count, 0, "");
  bench_print("spawn_s", t1 - t0, 3, "s");
  bench_print("start_s", st->last_asleep_s - st->first_start_s, 3, "s");
  bench_print("bytes_per_idle_task", (double)(rss1 - rss0) / (double)st->count,
              0, "bytes");
  bench_print("page_tables_per_idle_task_bytes",
              (double)(pte1 - pte0) / (double)st->count, 0, "bytes");
  bench_print("all_woken_s", st->end_s - (double)st->first_deadline_ns * 1e-9,
              3, "s");
  bench_print("last_wake_lag_s",
              st->end_s - (double)st->last_deadline_ns * 1e-9, 3, "s");
  return 0;
}

int main(int argc, char **argv) {
  struct state st;
  int rc;

  memset(&st, 0, sizeof st);
  st.count = DEFAULT_COUNT;
  if (argc > 1) {
    char *end;

    st.count = strtol(argv[1], &end, 10);
    if (*end != '\0' || st.count <= 0) {
      fprintf(stderr, "usage: idle_tasks [count]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr,
            "idle_tasks: could not pin to a CPU; figures are noisier\n");
  /* Touched now, so that its pages are in the RSS before spawning. */
  st.tasks = malloc((size_t)st.count * sizeof *st.tasks);
  if (!st.tasks) {
    fprintf(stderr, "idle_tasks: no memory for %ld pointers\n", st.count);
    return 1;
  }
  memset(st.tasks, 0, (size_t)st.count * sizeof *st.tasks);

  rc = corio_run(main_task, &st, NULL);
  if (rc < 0)
    die("corio_run", rc);
  free(st.tasks);
  return 0;
}
