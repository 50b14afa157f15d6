/* A pool of workers fed by a queue: the C twin of seed 003's
 * asyncio.Queue example (the one from Python's documentation).
 *
 *   async def worker(name, queue):
 *       while True:
 *           sleep_for = await queue.get()
 *           await asyncio.sleep(sleep_for)
 *           queue.task_done()
 *           print(f'{name} has slept for {sleep_for:.2f} seconds')
 *
 *   async def main():
 *       queue = asyncio.Queue()
 *       total_sleep_time = 0
 *       for _ in range(20):
 *           sleep_for = random.uniform(0.05, 1.0)
 *           total_sleep_time += sleep_for
 *           queue.put_nowait(sleep_for)
 *       tasks = []
 *       for i in range(3):
 *           task = asyncio.create_task(worker(f'worker-{i}', queue))
 *           tasks.append(task)
 *       started_at = time.monotonic()
 *       await queue.join()
 *       total_slept_for = time.monotonic() - started_at
 *       for task in tasks:
 *           task.cancel()
 *       await asyncio.gather(*tasks, return_exceptions=True)
 *       print('====')
 *       print(f'3 workers slept in parallel for {total_slept_for:.2f} seconds')
 *       print(f'total expected sleep time: {total_sleep_time:.2f} seconds')
 *
 * Each item counts as unfinished from its put until a worker calls
 * corio_queue_task_done() for it; corio_queue_join() waits until none is
 * left. The workers loop forever: main cancels them, and each one's
 * corio_queue_get() returns -ECANCELED, which it returns in turn.
 *
 * Determinism. The sleeps come from a xorshift generator with a fixed
 * seed, as whole half-units from 1 to 3 units (50 to 150 ms), and the
 * total printed is computed from them, not measured. Which worker takes
 * which item depends on the order in which the workers finish, so two
 * choices keep that order the same on every machine:
 * - the seed was chosen so that no two workers ever finish at the same
 *   instant: each order is decided by at least half a unit (25 ms);
 * - each worker keeps its own schedule with deadlines: a sleep of
 *   sleep_for ends sleep_for after the worker's previous sleep was due
 *   (example_sleep_until_ns), rather than after the moment the worker got
 *   to run again. On an idle machine that is the same thing; on a busy
 *   one, asyncio.sleep's lateness would add up over a worker's seven or
 *   so sleeps and could reorder them. The examples' schedule wakes one
 *   deadline at a time instead: the worker due then marks its item done,
 *   prints and takes its next item before a later deadline can wake
 *   anyone, however late the loop gets there (see example.h).
 * The time printed for the join is not measured either: it is when the
 * join was due on the schedule, the deadline of the last sleep to end
 * (the workers' schedules start when main starts them), which a loaded
 * machine cannot change; it is only checked against the clock, which
 * must not be early (example_due).
 */
#include <corio/queue.h>

#include "example.h"

#define EXAMPLE "worker_pool"
#define N_ITEMS 20
#define N_WORKERS 3
/* The generator's seed: see "Determinism" above. */
#define RANDOM_SEED 2049u

struct worker {
  char name[16];
  corio_queue *queue;
  int64_t due_ns; /* when its last sleep was due; first: when all started */
};

/* Marsaglia's xorshift32: a full-period generator for nonzero states. */
static uint32_t xorshift32(uint32_t *state) {
  uint32_t x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

/* random.uniform(1, 3) units, in half-units: 2 .. 6. */
static int random_half_units(uint32_t *state) {
  return 2 + (int)(xorshift32(state) % 5);
}

static int worker(void *arg, void **result) {
  struct worker *w = arg;
  void *item;
  int half_units, rc;

  (void)result;
  for (;;) {
    rc = corio_queue_get(w->queue, &item);
    if (rc == -ECANCELED)
      return rc; /* cancelled by main, as the seed's workers */
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_queue_get", rc);
    half_units = (int)(intptr_t)item;
    /* await asyncio.sleep(sleep_for), on the worker's schedule. */
    w->due_ns += half_units * EXAMPLE_UNIT_NS / 2;
    rc = example_sleep_until_ns(w->due_ns);
    if (rc == -ECANCELED)
      return rc;
    if (rc < 0)
      return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
    rc = corio_queue_task_done(w->queue);
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_queue_task_done", rc);
    printf("%s has slept for %.2f units\n", w->name, half_units / 2.0);
  }
}

/* Cancels the workers and awaits them, as gather(*tasks,
 * return_exceptions=True); they must end cancelled. Releases them. */
static int cancel_workers(corio_task **tasks, int n) {
  int i, rc, failed = 0;

  for (i = 0; i < n; i++)
    (void)corio_task_cancel(tasks[i], NULL);
  for (i = 0; i < n; i++) {
    rc = corio_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
    if (rc != -ECANCELED && !failed)
      failed = example_unexpected(EXAMPLE, "await worker", rc, -ECANCELED);
  }
  return failed ? -EPROTO : 0;
}

/* Puts N_ITEMS random sleeps into q and returns their total in
 * half-units, or a negative code. */
static int fill(corio_queue *q) {
  uint32_t state = RANDOM_SEED;
  int i, half_units, total = 0, rc;

  for (i = 0; i < N_ITEMS; i++) {
    half_units = random_half_units(&state);
    total += half_units;
    rc = corio_queue_put_nowait(q, (void *)(intptr_t)half_units);
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_queue_put_nowait", rc);
  }
  return total;
}

/* Runs the workers until the queue is fully processed; *elapsed_ns is
 * how long that took on the schedule: from the workers' start until the
 * last of their sleeps was due, when the last item was marked done and
 * join returned. */
static int run_workers(corio_queue *q, int64_t *elapsed_ns) {
  struct worker workers[N_WORKERS];
  corio_task *tasks[N_WORKERS];
  corio_loop *loop = corio_loop_running();
  int64_t started_at = corio_loop_time_ns(loop), last_ns;
  int i, rc = 0, join_rc;

  for (i = 0; i < N_WORKERS; i++) {
    snprintf(workers[i].name, sizeof workers[i].name, "worker-%d", i);
    workers[i].queue = q;
    workers[i].due_ns = started_at;
    rc = corio_spawn(&tasks[i], worker, &workers[i]);
    if (rc < 0)
      break;
  }
  if (rc < 0) {
    (void)cancel_workers(tasks, i);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  join_rc = corio_queue_join(q);
  /* The workers use this stack: they are done before it goes. */
  rc = cancel_workers(tasks, N_WORKERS);
  if (join_rc < 0)
    return example_task_fail(EXAMPLE, "corio_queue_join", join_rc);
  if (rc < 0)
    return rc;
  /* Each worker's due_ns is when its last sleep ended: the latest is when
   * join returned. Checked: the clock has got there (0 units after it). */
  last_ns = started_at;
  for (i = 0; i < N_WORKERS; i++)
    if (workers[i].due_ns > last_ns)
      last_ns = workers[i].due_ns;
  (void)example_due(EXAMPLE, last_ns, 0);
  *elapsed_ns = last_ns - started_at;
  return 0;
}

static int pool_main(void *arg, void **result) {
  corio_queue queue;
  int64_t elapsed_ns = 0;
  int total_half_units, rc, destroy_rc;

  (void)arg;
  (void)result;
  rc = corio_queue_init(&queue, CORIO_QUEUE_FIFO, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_queue_init", rc);
  total_half_units = fill(&queue);
  rc = total_half_units < 0 ? total_half_units
                            : run_workers(&queue, &elapsed_ns);
  /* Done or not, nobody waits on the queue now: destroy frees the items'
   * storage. */
  destroy_rc = corio_queue_destroy(&queue);
  if (destroy_rc < 0 && rc == 0)
    rc = example_task_fail(EXAMPLE, "corio_queue_destroy", destroy_rc);
  if (rc < 0)
    return rc;
  puts("====");
  printf("%d workers slept in parallel for %.2f units\n", N_WORKERS,
         (double)(elapsed_ns / (EXAMPLE_UNIT_NS / 2)) / 2.0);
  printf("total expected sleep time: %.2f units\n", total_half_units / 2.0);
  printf("parallel time is less than total sleep time: %s\n",
         elapsed_ns < (int64_t)total_half_units * EXAMPLE_UNIT_NS / 2 ? "yes"
                                                                      : "no");
  return 0;
}

int example_worker_pool(void) {
  int rc;

  puts(">>> asyncio.run(main())");
  rc = corio_run(pool_main, NULL, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_worker_pool)
#endif
