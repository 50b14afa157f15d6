/* Synchronisation primitives: the C twins of seed 001's section 4 (lock,
 * event, condition, semaphore and bounded semaphore, barrier), each
 * followed by what else the primitive does. The seed's strings are in
 * English here.
 *
 *   async def worker(lock, name):                        # 4.1 Lock
 *       async with lock:
 *           print(f'{name} acquired the lock')
 *           await asyncio.sleep(1)
 *           print(f'{name} released the lock')
 *   # main: await asyncio.gather(worker(lock, 'Worker 1'),
 *   #                            worker(lock, 'Worker 2'))
 *
 *   async def waiter(event):                             # 4.2 Event
 *       print('waiting for the event to be set...')
 *       await event.wait()
 *       print('the event is set!')
 *   async def main():
 *       event = asyncio.Event()
 *       asyncio.create_task(waiter(event))
 *       await asyncio.sleep(2)
 *       print('setting the event')
 *       event.set()
 *
 *   async def consumer(condition):                       # 4.3 Condition
 *       async with condition:
 *           print('waiting for the condition...')
 *           await condition.wait()
 *           print('condition met, consuming the data')
 *   async def producer(condition):
 *       await asyncio.sleep(1)
 *       async with condition:
 *           print('condition met, notifying the consumer')
 *           condition.notify()
 *   # main: await asyncio.gather(consumer(condition), producer(condition))
 *
 *   async def worker(sem, name):                         # 4.4 Semaphore
 *       async with sem:
 *           print(f'{name} got access')
 *           await asyncio.sleep(1)
 *           print(f'{name} gave up access')
 *   # main: semaphore = asyncio.Semaphore(2), and gather of three workers
 *
 *   async def worker(barrier, name):                     # 4.5 Barrier
 *       print(f'{name} reached the barrier')
 *       await barrier.wait()
 *       print(f'{name} crossed the barrier')
 *   # main: barrier = asyncio.Barrier(3), and gather of three workers
 *
 * The primitives are plain storage (corio_lock lock = CORIO_LOCK_INIT),
 * with nothing to free. `async with x:` is an acquire, the block, and a
 * release that also runs when the block fails. Python's exceptions are
 * return codes: releasing a lock that is not held is CORIO_ENOTLOCKED
 * (RuntimeError), releasing a BoundedSemaphore too often is
 * CORIO_ETOOMANYRELEASES (ValueError), and a broken barrier is
 * CORIO_EBROKENBARRIER (BrokenBarrierError). gather() here spawns the
 * workers as tasks and awaits each in turn.
 *
 * The seed's seconds are EXAMPLE_UNIT. The output must not depend on the
 * machine's speed (see example.h), so each part keeps a schedule: every
 * sleep ends on a deadline of the examples' schedule
 * (example_sleep_until_ns), `units` after the instant at which the
 * sleeper was due to start it (main's start, or the instant it was woken
 * at: a lock handed over at 1 is acquired at 1). The schedule wakes the
 * sleepers due at one instant together, in the order they went to sleep,
 * and lets whatever that sets off (a lock or a permit handed over, a
 * condition's waiters taking the lock in turn) run before a later
 * deadline wakes anyone, however late the loop gets there. So each order
 * in the output is decided by the loop's rules: the two semaphore holders
 * share the deadline 1 and both give up access before the third worker
 * gets it, as in the seed. The times printed (t=...) are the instants on
 * the schedule, in units since main started: when each line was due, not
 * a reading of the clock, which a loaded machine can make a unit late.
 * Each is checked against the clock, which must not be early
 * (example_due). */
#include <corio/sync.h>

#include "example.h"

#define EXAMPLE "sync_primitives"
#define MAX_WORKERS 3

/* A part's schedule: when its main started, and the instant (units since
 * then) at which the schedule last woke its sleepers. Whatever a wake-up
 * sets off runs before the next deadline, so it happens at that instant. */
struct timeline {
  int64_t start_ns;
  long long now;
};

/* One task of a part: gather() runs fn(worker). */
struct worker {
  corio_task_fn fn;
  const char *name;
  void *shared;        /* the primitive, or a struct holding it */
  struct timeline *tl; /* the part's schedule */
};

/* Starts tl at the loop's time now: instant 0. */
static void timeline_start(struct timeline *tl) {
  tl->start_ns = corio_loop_time_ns(corio_loop_running());
  tl->now = 0;
}

/* The current instant on tl, to be printed: checked against the clock. */
static long long t_now(const struct timeline *tl) {
  return example_due(EXAMPLE, tl->start_ns, tl->now);
}

/* await asyncio.sleep(units), on tl's schedule: until `units` after the
 * current instant. Returns 0, or the error (reported). */
static int sleep_units(struct timeline *tl, int units) {
  long long at = tl->now + units;
  int rc = example_sleep_until_ns(tl->start_ns + at * EXAMPLE_UNIT_NS);

  if (rc < 0)
    return example_task_fail(EXAMPLE, "example_sleep_until_ns", rc);
  tl->now = at;
  return 0;
}

/* Prints an error the way the other examples show an exception. */
static void print_error(int rc) {
  const char *name = corio_err_name(rc);

  printf("error: %s (%s)\n", corio_strerror(rc), name ? name : "errno");
}

/* Checks that `call` returned want (an error the part shows), printing
 * it; returns -EPROTO after a report otherwise. */
static int expect_error(const char *call, int rc, int want) {
  if (rc != want)
    return example_task_unexpected(EXAMPLE, call, rc, want);
  print_error(rc);
  return 0;
}

/* ---- tasks: spawn, cancel, await ----------------------------------------- */

/* Cancels tasks[0..n-1] (those that are done ignore it). */
static void cancel_all(corio_task **tasks, int n) {
  int i;

  for (i = 0; i < n; i++)
    (void)corio_task_cancel(tasks[i], NULL);
}

/* Awaits tasks[0..n-1] in turn and releases them. Returns 0, or the first
 * error a task finished with (it reported it). */
static int await_all(corio_task **tasks, int n) {
  int i, rc = 0;

  for (i = 0; i < n; i++) {
    int task_rc = corio_await(tasks[i], NULL);

    corio_task_unref(tasks[i]);
    if (task_rc < 0 && rc == 0)
      rc = task_rc;
  }
  return rc;
}

/* Spawns workers[i].fn(&workers[i]) for i < n into tasks. If a spawn
 * fails, the tasks already spawned are cancelled and awaited (they use
 * the caller's stack) and the error is returned. */
static int spawn_all(corio_task **tasks, struct worker *workers, int n) {
  int i, rc;

  for (i = 0; i < n; i++) {
    rc = corio_spawn(&tasks[i], workers[i].fn, &workers[i]);
    if (rc < 0) {
      cancel_all(tasks, i);
      (void)await_all(tasks, i);
      return example_task_fail(EXAMPLE, "corio_spawn", rc);
    }
  }
  return 0;
}

/* asyncio.gather(*workers) without return_exceptions: all run, and the
 * first error comes back once they are all done. */
static int gather(struct worker *workers, int n) {
  corio_task *tasks[MAX_WORKERS];
  int rc = spawn_all(tasks, workers, n);

  return rc < 0 ? rc : await_all(tasks, n);
}

/* Fills workers[0..n-1] with fn, names[i], the shared primitive and the
 * part's schedule. */
static void make_workers(struct worker *workers, int n, corio_task_fn fn,
                         const char *const *names, void *shared,
                         struct timeline *tl) {
  int i;

  for (i = 0; i < n; i++)
    workers[i] = (struct worker){fn, names[i], shared, tl};
}

static const char *const worker_names[MAX_WORKERS] = {"Worker 1", "Worker 2",
                                                      "Worker 3"};

/* ---- 4.1 lock ------------------------------------------------------------ */

static int lock_worker(void *arg, void **result) {
  struct worker *w = arg;
  corio_lock *lock = w->shared;
  int rc, release_rc;

  (void)result;
  rc = corio_lock_acquire(lock);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_acquire", rc);
  /* Acquired at the current instant: at once, or when the holder, woken
   * then, released it. */
  printf("%s acquired the lock (t=%lld)\n", w->name, t_now(w->tl));
  rc = sleep_units(w->tl, 1);
  if (rc == 0)
    printf("%s released the lock (t=%lld)\n", w->name, t_now(w->tl));
  /* The end of `async with`: released whatever happened in the block. */
  release_rc = corio_lock_release(lock);
  if (rc < 0)
    return rc;
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_release", release_rc);
  return 0;
}

static int lock_main(void *arg, void **result) {
  corio_lock lock = CORIO_LOCK_INIT;
  struct worker workers[2];
  struct timeline tl;
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  make_workers(workers, 2, lock_worker, worker_names, &lock, &tl);
  rc = gather(workers, 2);
  if (rc < 0)
    return rc;
  puts(">>> lock.release()  # nobody holds it");
  rc = expect_error("corio_lock_release", corio_lock_release(&lock),
                    CORIO_ENOTLOCKED);
  if (rc < 0)
    return rc;
  printf(">>> lock.locked()\n%s\n",
         corio_lock_locked(&lock) ? "True" : "False");
  rc = corio_lock_destroy(&lock);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_lock_destroy", rc) : 0;
}

/* ---- 4.2 event ----------------------------------------------------------- */

/* The seed's event. Static: the seed's waiter is a task nobody awaits,
 * which runs its last step after main has returned. */
static corio_event seed_event;

static int seed_waiter(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts("waiting for the event to be set...");
  rc = corio_event_wait(&seed_event);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_event_wait", rc);
  puts("the event is set!");
  return 0;
}

static int event_seed_main(void *arg, void **result) {
  struct timeline tl;
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  corio_event_init(&seed_event);
  rc = corio_spawn(NULL, seed_waiter, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn", rc);
  rc = sleep_units(&tl, 2);
  if (rc < 0)
    return rc;
  printf("setting the event (t=%lld)\n", t_now(&tl));
  corio_event_set(&seed_event);
  return 0;
}

static int event_waiter(void *arg, void **result) {
  struct worker *w = arg;
  int rc;

  (void)result;
  printf("%s waits\n", w->name);
  rc = corio_event_wait(w->shared);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_event_wait", rc);
  printf("%s woke up (t=%lld)\n", w->name, t_now(w->tl));
  return 0;
}

static int event_all_main(void *arg, void **result) {
  static const char *const names[MAX_WORKERS] = {"waiter 1", "waiter 2",
                                                 "waiter 3"};
  corio_event event = CORIO_EVENT_INIT;
  struct worker workers[MAX_WORKERS];
  corio_task *tasks[MAX_WORKERS];
  struct timeline tl;
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  make_workers(workers, MAX_WORKERS, event_waiter, names, &event, &tl);
  rc = spawn_all(tasks, workers, MAX_WORKERS);
  if (rc < 0)
    return rc;
  rc = sleep_units(&tl, 1);
  if (rc == 0) {
    printf(">>> event.set(); event.clear()  # t=%lld\n", t_now(&tl));
    corio_event_set(&event);
    corio_event_clear(&event);
    printf(">>> event.is_set()\n%s\n",
           corio_event_is_set(&event) ? "True" : "False");
  } else {
    cancel_all(tasks, MAX_WORKERS);
  }
  if (await_all(tasks, MAX_WORKERS) < 0 && rc == 0)
    rc = -EPROTO;
  return rc;
}

/* ---- 4.3 condition ------------------------------------------------------- */

static int seed_consumer(void *arg, void **result) {
  corio_condition *cond = ((struct worker *)arg)->shared;
  int rc, release_rc;

  (void)result;
  rc = corio_lock_acquire(corio_condition_lock(cond));
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_acquire", rc);
  puts("waiting for the condition...");
  rc = corio_condition_wait(cond);
  if (rc == 0)
    puts("condition met, consuming the data");
  /* wait holds the lock again when it returns, even when it fails. */
  release_rc = corio_lock_release(corio_condition_lock(cond));
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_condition_wait", rc);
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_release", release_rc);
  return 0;
}

static int seed_producer(void *arg, void **result) {
  struct worker *w = arg;
  corio_condition *cond = w->shared;
  int rc, release_rc;

  (void)result;
  rc = sleep_units(w->tl, 1);
  if (rc < 0)
    return rc;
  rc = corio_lock_acquire(corio_condition_lock(cond));
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_acquire", rc);
  puts("condition met, notifying the consumer");
  rc = corio_condition_notify(cond, 1);
  release_rc = corio_lock_release(corio_condition_lock(cond));
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_condition_notify", rc);
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_release", release_rc);
  return 0;
}

static int condition_seed_main(void *arg, void **result) {
  corio_condition cond = CORIO_CONDITION_INIT;
  struct timeline tl;
  struct worker workers[2] = {{seed_consumer, "consumer", &cond, &tl},
                              {seed_producer, "producer", &cond, &tl}};
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  rc = gather(workers, 2);
  if (rc < 0)
    return rc;
  puts(">>> condition.notify()  # without holding its lock");
  return expect_error("corio_condition_notify",
                      corio_condition_notify(&cond, 1), CORIO_ENOTLOCKED);
}

/* Items on a shelf, guarded by a condition. */
struct shelf {
  corio_condition cond;
  int items;
};

/* A consumer's predicate, run with the lock held: before the first wait
 * and after each wake-up. */
static int has_item(void *arg) {
  struct worker *w = arg;
  struct shelf *shelf = w->shared;

  printf("%s sees %d item(s)\n", w->name, shelf->items);
  return shelf->items > 0;
}

static int shelf_consumer(void *arg, void **result) {
  struct worker *w = arg;
  struct shelf *shelf = w->shared;
  corio_lock *lock = corio_condition_lock(&shelf->cond);
  int rc, release_rc;

  (void)result;
  rc = corio_lock_acquire(lock);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_acquire", rc);
  rc = corio_condition_wait_for(&shelf->cond, has_item, w);
  if (rc == 0) {
    shelf->items--;
    printf("%s takes one, %d left (t=%lld)\n", w->name, shelf->items,
           t_now(w->tl));
  }
  release_rc = corio_lock_release(lock);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_condition_wait_for", rc);
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_release", release_rc);
  return 0;
}

/* Sleeps a unit on tl, then puts `add` items on the shelf and notifies n
 * waiters (all if n < 0), holding the lock. */
static int restock(struct shelf *shelf, struct timeline *tl, int add, int n) {
  corio_lock *lock = corio_condition_lock(&shelf->cond);
  int rc = sleep_units(tl, 1), release_rc;

  if (rc < 0)
    return rc;
  rc = corio_lock_acquire(lock);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_acquire", rc);
  shelf->items += add;
  if (n < 0) {
    printf(">>> %d item(s) added; condition.notify_all()\n", add);
    rc = corio_condition_notify_all(&shelf->cond);
  } else {
    printf(">>> %d item(s) added; condition.notify(%d)\n", add, n);
    rc = corio_condition_notify(&shelf->cond, n);
  }
  release_rc = corio_lock_release(lock);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_condition_notify", rc);
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_lock_release", release_rc);
  return 0;
}

static int condition_shelf_main(void *arg, void **result) {
  static const char *const names[MAX_WORKERS] = {"consumer 1", "consumer 2",
                                                 "consumer 3"};
  struct shelf shelf = {CORIO_CONDITION_INIT, 0};
  struct worker workers[MAX_WORKERS];
  corio_task *tasks[MAX_WORKERS];
  struct timeline tl;
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  make_workers(workers, MAX_WORKERS, shelf_consumer, names, &shelf, &tl);
  rc = spawn_all(tasks, workers, MAX_WORKERS);
  if (rc < 0)
    return rc;
  /* One item for three: all wake, the first takes it, the others see an
   * empty shelf and wait again. Then two items for the two left. */
  rc = restock(&shelf, &tl, 1, -1);
  if (rc == 0)
    rc = restock(&shelf, &tl, 2, 2);
  if (rc < 0)
    cancel_all(tasks, MAX_WORKERS);
  if (await_all(tasks, MAX_WORKERS) < 0 && rc == 0)
    rc = -EPROTO;
  if (rc == 0 && (rc = corio_condition_destroy(&shelf.cond)) < 0)
    return example_task_fail(EXAMPLE, "corio_condition_destroy", rc);
  return rc;
}

/* ---- 4.4 semaphore and bounded semaphore --------------------------------- */

static int semaphore_worker(void *arg, void **result) {
  struct worker *w = arg;
  corio_semaphore *sem = w->shared;
  int rc, release_rc;

  (void)result;
  rc = corio_semaphore_acquire(sem);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_acquire", rc);
  printf("%s got access (t=%lld)\n", w->name, t_now(w->tl));
  /* One unit of work: the two holders share its end, one deadline. */
  rc = sleep_units(w->tl, 1);
  if (rc == 0)
    printf("%s gave up access (t=%lld)\n", w->name, t_now(w->tl));
  release_rc = corio_semaphore_release(sem);
  if (rc < 0)
    return rc;
  if (release_rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_release", release_rc);
  return 0;
}

static int semaphore_main(void *arg, void **result) {
  corio_semaphore sem = CORIO_SEMAPHORE_INIT(2);
  struct worker workers[MAX_WORKERS];
  struct timeline tl;
  int rc;

  (void)arg;
  (void)result;
  timeline_start(&tl);
  make_workers(workers, MAX_WORKERS, semaphore_worker, worker_names, &sem, &tl);
  rc = gather(workers, MAX_WORKERS);
  if (rc < 0)
    return rc;
  /* A plain semaphore takes any number of releases. */
  puts(">>> semaphore.release()  # once more than acquired");
  rc = corio_semaphore_release(&sem);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_release", rc);
  printf(">>> semaphore._value\n%d\n", corio_semaphore_value(&sem));
  return 0;
}

static int bounded_main(void *arg, void **result) {
  corio_semaphore sem;
  int rc;

  (void)arg;
  (void)result;
  puts(">>> semaphore = asyncio.BoundedSemaphore(2)\n"
       ">>> await semaphore.acquire(); semaphore.release()");
  rc = corio_bounded_semaphore_init(&sem, 2);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_bounded_semaphore_init", rc);
  rc = corio_semaphore_acquire(&sem);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_acquire", rc);
  rc = corio_semaphore_release(&sem);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_semaphore_release", rc);
  puts(">>> semaphore.release()  # once more than acquired");
  rc = expect_error("corio_semaphore_release", corio_semaphore_release(&sem),
                    CORIO_ETOOMANYRELEASES);
  if (rc < 0)
    return rc;
  printf(">>> semaphore._value\n%d\n", corio_semaphore_value(&sem));
  rc = corio_semaphore_destroy(&sem);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_semaphore_destroy", rc) : 0;
}

/* ---- 4.5 barrier --------------------------------------------------------- */

#define BARRIER_ROUNDS 2

static int barrier_worker(void *arg, void **result) {
  struct worker *w = arg;
  int round, index, rc;

  (void)result;
  for (round = 1; round <= BARRIER_ROUNDS; round++) {
    printf("%s reached the barrier (round %d)\n", w->name, round);
    rc = corio_barrier_wait(w->shared, &index);
    if (rc < 0)
      return example_task_fail(EXAMPLE, "corio_barrier_wait", rc);
    printf("%s crossed the barrier (round %d, index %d)\n", w->name, round,
           index);
  }
  return 0;
}

static int barrier_main(void *arg, void **result) {
  corio_barrier barrier = CORIO_BARRIER_INIT(MAX_WORKERS);
  struct worker workers[MAX_WORKERS];
  int rc;

  (void)arg;
  (void)result;
  make_workers(workers, MAX_WORKERS, barrier_worker, worker_names, &barrier,
               NULL);
  rc = gather(workers, MAX_WORKERS);
  if (rc == 0 && (rc = corio_barrier_destroy(&barrier)) < 0)
    return example_task_fail(EXAMPLE, "corio_barrier_destroy", rc);
  return rc;
}

/* Waits at the barrier, which is aborted meanwhile. */
static int aborted_worker(void *arg, void **result) {
  struct worker *w = arg;
  int rc;

  (void)result;
  printf("%s reached the barrier\n", w->name);
  rc = corio_barrier_wait(w->shared, NULL);
  if (rc != CORIO_EBROKENBARRIER)
    return example_task_unexpected(EXAMPLE, "corio_barrier_wait", rc,
                                   CORIO_EBROKENBARRIER);
  printf("%s: ", w->name);
  print_error(rc);
  return 0;
}

static int barrier_abort_main(void *arg, void **result) {
  corio_barrier barrier = CORIO_BARRIER_INIT(MAX_WORKERS);
  struct worker workers[2];
  corio_task *tasks[2];
  int rc;

  (void)arg;
  (void)result;
  make_workers(workers, 2, aborted_worker, worker_names, &barrier, NULL);
  rc = spawn_all(tasks, workers, 2);
  if (rc < 0)
    return rc;
  /* The workers' first steps run in the next iteration, before main's. */
  rc = corio_sleep(0);
  if (rc == 0) {
    printf(">>> barrier.n_waiting\n%d\n>>> barrier.abort()\n",
           corio_barrier_n_waiting(&barrier));
    corio_barrier_abort(&barrier);
  } else {
    rc = example_task_fail(EXAMPLE, "corio_sleep", rc);
    cancel_all(tasks, 2);
  }
  if (await_all(tasks, 2) < 0 && rc == 0)
    rc = -EPROTO;
  if (rc < 0)
    return rc;
  printf(">>> await barrier.wait()  # broken: fails at once\n");
  rc = expect_error("corio_barrier_wait", corio_barrier_wait(&barrier, NULL),
                    CORIO_EBROKENBARRIER);
  if (rc < 0)
    return rc;
  corio_barrier_reset(&barrier);
  printf(">>> barrier.reset(); barrier.broken\n%s\n",
         corio_barrier_broken(&barrier) ? "True" : "False");
  rc = corio_barrier_destroy(&barrier);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_barrier_destroy", rc) : 0;
}

/* ---- the parts ----------------------------------------------------------- */

static const struct {
  const char *title;
  corio_task_fn main;
} parts[] = {
    {"# 4.1 asyncio.Lock: one worker at a time", lock_main},
    {"\n# 4.2 asyncio.Event: a waiter woken by set()", event_seed_main},
    {"\n# set() wakes every waiter, even if clear() follows at once",
     event_all_main},
    {"\n# 4.3 asyncio.Condition: notify() wakes the consumer",
     condition_seed_main},
    {"\n# wait_for(predicate): three consumers, items put on a shelf",
     condition_shelf_main},
    {"\n# 4.4 asyncio.Semaphore(2): at most two workers at a time",
     semaphore_main},
    {"\n# asyncio.BoundedSemaphore: releasing more than acquired is an error",
     bounded_main},
    {"\n# 4.5 asyncio.Barrier(3): all cross together, two rounds",
     barrier_main},
    {"\n# An aborted barrier is broken for its waiters and later ones",
     barrier_abort_main},
};

int example_sync_primitives(void) {
  size_t i;
  int rc;

  printf("(t: time on main's schedule, in units of %d ms since it started)\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("%s\n>>> asyncio.run(main())\n", parts[i].title);
    rc = corio_run(parts[i].main, NULL, NULL);
    if (rc < 0)
      return example_fail(EXAMPLE, "corio_run", rc);
  }
  return 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_sync_primitives)
#endif
