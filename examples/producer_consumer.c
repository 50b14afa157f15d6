/* Producers and consumers sharing a queue: the C twin of seed 002's
 * producer/consumer program.
 *
 *   async def consumer(queue, identity):
 *       while True:
 *           val = await queue.get()
 *           print('{} get a val: {}'.format(identity, val))
 *           await asyncio.sleep(1)
 *
 *   async def producer(queue, identity):
 *       for i in range(5):
 *           val = random.randint(1, 10)
 *           await queue.put(val)
 *           print('{} put a val: {}'.format(identity, val))
 *           await asyncio.sleep(1)
 *
 *   async def main():
 *       queue = asyncio.Queue()  # golang channel like
 *       consumer_1 = asyncio.create_task(consumer(queue, 'consumer_1'))
 *       consumer_2 = asyncio.create_task(consumer(queue, 'consumer_2'))
 *       producer_1 = asyncio.create_task(producer(queue, 'producer_1'))
 *       producer_2 = asyncio.create_task(producer(queue, 'producer_2'))
 *       await asyncio.sleep(10)
 *       consumer_1.cancel()
 *       consumer_2.cancel()
 *       await asyncio.gather(consumer_1, consumer_2, producer_1, producer_2,
 *                            return_exceptions=True)
 *
 * A corio_queue is plain storage holding pointers it never owns; the
 * values here are small integers stored in the pointers themselves. The
 * consumers never end by themselves: a consumer waiting in
 * corio_queue_get() when it is cancelled gets -ECANCELED there (with
 * nothing taken) and returns it, as CancelledError goes up through the
 * seed's loop. gather(..., return_exceptions=True) is awaiting each task
 * and collecting its outcome; the example prints that list.
 *
 * random.randint(1, 10) comes from a small xorshift generator with a
 * fixed seed, so the values are the same on every run. The seed's seconds
 * are EXAMPLE_UNIT.
 *
 * The output must not depend on the machine's speed (see example.h), so
 * the tasks keep a schedule: every sleep ends on a deadline of the
 * examples' schedule (example_sleep_until_ns), one unit after the instant
 * the sleeper was due to start it: a producer's round k begins at k units
 * since main started, and a consumer sleeps from the instant it got its
 * value (the instant the value was put). asyncio.sleep's lateness would
 * add up over the rounds instead, and a loaded machine could then run a
 * producer's last put after main's cancel, or a consumer's get before a
 * put of the same round. The schedule wakes the sleepers due at one
 * instant together, in the order they went to sleep (the producers first:
 * in the first round the consumers waited for them), and lets the puts
 * and gets of that round run before a later deadline wakes anyone, however
 * late the loop gets there. main's sleep of 10 units is on the schedule
 * too; the one time printed is its deadline, 10 units since main started
 * (a time on the schedule, not a reading of the clock, which a loaded
 * machine can make a unit late; checked not to be early by example_due).
 */
#include <corio/queue.h>

#include "example.h"

#define EXAMPLE "producer_consumer"
#define PUTS_PER_PRODUCER 5
#define N_TASKS 4

struct shared {
  corio_queue queue;
  uint32_t random; /* xorshift32 state, never 0 */
  int64_t start_ns;
  /* The instant, in units since start_ns, at which the schedule last woke
   * its sleepers: what a wake-up sets off happens at that instant. */
  long long now;
};

/* One task: its name and the state it shares with the others. */
struct role {
  const char *identity;
  struct shared *shared;
};

/* Marsaglia's xorshift32: a full-period generator for nonzero states. */
static uint32_t xorshift32(uint32_t *state) {
  uint32_t x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

/* random.randint(lo, hi), for a small range (the bias is negligible). */
static int randint(uint32_t *state, int lo, int hi) {
  return lo + (int)(xorshift32(state) % (uint32_t)(hi - lo + 1));
}

/* Sleeps until `at` units since main started, on the examples' schedule.
 * Returns 0, or the error (-ECANCELED passed on as it is, others
 * reported). */
static int sleep_until(struct shared *s, long long at) {
  int rc = example_sleep_until_ns(s->start_ns + at * EXAMPLE_UNIT_NS);

  if (rc == -ECANCELED)
    return rc;
  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  s->now = at;
  return 0;
}

static int consumer(void *arg, void **result) {
  struct role *role = arg;
  struct shared *s = role->shared;
  void *item;
  int rc;

  (void)result;
  for (;;) {
    rc = corio_queue_get(&s->queue, &item);
    if (rc == -ECANCELED)
      return rc; /* CancelledError goes up: the task ends cancelled */
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_queue_get", rc);
    printf("%s get a val: %d\n", role->identity, (int)(intptr_t)item);
    /* asyncio.sleep(1) from the instant the value was put. */
    rc = sleep_until(s, s->now + 1);
    if (rc < 0)
      return rc; /* -ECANCELED: the task ends cancelled */
  }
}

static int producer(void *arg, void **result) {
  struct role *role = arg;
  struct shared *s = role->shared;
  int i, val, rc;

  (void)result;
  for (i = 0; i < PUTS_PER_PRODUCER; i++) {
    val = randint(&s->random, 1, 10);
    rc = corio_queue_put(&s->queue, (void *)(intptr_t)val);
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_queue_put", rc);
    printf("%s put a val: %d\n", role->identity, val);
    /* asyncio.sleep(1): round i + 1 begins i + 1 units since the start. */
    rc = sleep_until(s, i + 1);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Awaits each task, as gather(..., return_exceptions=True), and prints
 * the list of outcomes. Returns 0 if the consumers ended cancelled and the
 * producers finished, else -EPROTO after a report. */
static int gather_and_print(corio_task **tasks) {
  const char *sep = "[";
  int i, rc, ok = 1;

  for (i = 0; i < N_TASKS; i++) {
    rc = corio_await(tasks[i], NULL);
    if (rc == 0)
      printf("%sNone", sep);
    else if (rc == -ECANCELED)
      printf("%sCancelledError()", sep);
    else
      printf("%s%s", sep, corio_strerror(rc));
    /* tasks[0] and [1] are the consumers. */
    if (rc != (i < 2 ? -ECANCELED : 0)) {
      (void)example_unexpected(EXAMPLE, "await task", rc,
                               i < 2 ? -ECANCELED : 0);
      ok = 0;
    }
    sep = ", ";
  }
  puts("]");
  return ok ? 0 : -EPROTO;
}

static void release_tasks(corio_task **tasks, int n) {
  int i;

  for (i = 0; i < n; i++)
    corio_task_unref(tasks[i]);
}

/* Cancels tasks[0..n-1] and waits until they are done: the error path,
 * since they use main's stack. */
static void cancel_and_wait(corio_task **tasks, int n) {
  int i;

  for (i = 0; i < n; i++)
    (void)corio_task_cancel(tasks[i], NULL);
  for (i = 0; i < n; i++)
    (void)corio_await(tasks[i], NULL);
}

static int pc_main(void *arg, void **result) {
  static const char *const names[N_TASKS] = {"consumer_1", "consumer_2",
                                             "producer_1", "producer_2"};
  struct shared s;
  struct role roles[N_TASKS];
  corio_task *tasks[N_TASKS];
  int i, rc;

  (void)arg;
  (void)result;
  rc = corio_queue_init(&s.queue, CORIO_QUEUE_FIFO, 0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_queue_init", rc);
  s.random = 2024;
  s.start_ns = corio_loop_time_ns(corio_loop_running());
  s.now = 0;
  for (i = 0; i < N_TASKS; i++) {
    roles[i] = (struct role){names[i], &s};
    rc = corio_spawn(&tasks[i], i < 2 ? consumer : producer, &roles[i]);
    if (rc < 0)
      break;
  }
  if (rc < 0) {
    cancel_and_wait(tasks, i);
    release_tasks(tasks, i);
    (void)corio_queue_destroy(&s.queue);
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  }
  rc = sleep_until(&s, 10);
  if (rc < 0) {
    cancel_and_wait(tasks, N_TASKS);
    release_tasks(tasks, N_TASKS);
    (void)corio_queue_destroy(&s.queue);
    return rc == -ECANCELED
               ? example_task_fail(EXAMPLE, "example_sleep_until_ns", rc)
               : rc;
  }
  printf(">>> consumer_1.cancel(); consumer_2.cancel()  # t=%lld\n",
         example_due(EXAMPLE, s.start_ns, s.now));
  for (i = 0; i < 2; i++) {
    rc = corio_task_cancel(tasks[i], NULL);
    if (rc != 1)
      (void)example_unexpected(EXAMPLE, "corio_task_cancel", rc, 1);
  }
  puts(">>> await asyncio.gather(consumer_1, consumer_2, producer_1, "
       "producer_2,\n...                      return_exceptions=True)");
  rc = gather_and_print(tasks);
  release_tasks(tasks, N_TASKS);
  /* Nobody waits on the queue any more and it is empty. */
  if (rc == 0 && (rc = corio_queue_destroy(&s.queue)) < 0)
    return example_task_fail(EXAMPLE, "corio_queue_destroy", rc);
  return rc;
}

int example_producer_consumer(void) {
  int rc;

  printf("(t: time on main's schedule, in units of %d ms since it started)\n"
         ">>> asyncio.run(main())\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  rc = corio_run(pc_main, NULL, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_producer_consumer)
#endif
