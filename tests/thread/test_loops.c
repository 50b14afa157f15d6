/* Several loops in several threads: loops that each use their own
 * default executor at once, a task on one loop awaiting a thread-safe
 * future whose task runs on another (without blocking its own loop; when
 * cancelled; when done already; when its loop closes), and many round
 * trips between two loops. */
#include <stdio.h>

#include "thread_check.h"

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

/* ---- bodies ----------------------------------------------------------------
 */

/* Sleeps on its loop, then, if until is set, waits (bounded) until
 * *until >= until_value; then returns value (or fails with error). */
struct slow {
  double seconds;
  intptr_t value;
  int error;
  atomic_int *until;
  int until_value;
  corio_loop *ran_on;
  atomic_int started, finished;
};

static void slow_init(struct slow *s, double seconds, intptr_t value) {
  memset(s, 0, sizeof *s);
  s->seconds = seconds;
  s->value = value;
  atomic_init(&s->started, 0);
  atomic_init(&s->finished, 0);
}

static int slow_task(void *arg, void **result) {
  struct slow *s = arg;
  double deadline;
  int rc;

  s->ran_on = corio_loop_running();
  atomic_store(&s->started, 1);
  rc = corio_sleep(s->seconds);
  deadline = wall_s() + THREAD_TEST_PATIENCE_S;
  while (rc == 0 && s->until && atomic_load(s->until) < s->until_value)
    rc = wall_s() > deadline ? -ETIMEDOUT : corio_sleep(0.001);
  atomic_store(&s->finished, 1);
  if (rc < 0)
    return rc;
  if (s->error)
    return corio_fail(s->error, "slow task failed with %d", s->error);
  *result = (void *)s->value;
  return 0;
}

/* Waits (bounded) until *open, then returns 21. */
static int held_task(void *arg, void **result) {
  atomic_int *open = arg;
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  while (!atomic_load(open)) {
    int rc = wall_s() > deadline ? -ETIMEDOUT : corio_sleep(0.001);
    if (rc < 0)
      return rc;
  }
  *result = CORIO_PTR(21);
  return 0;
}

/* Counts ticks of its loop until told to stop. */
struct ticker {
  atomic_int ticks, stop;
};

static int ticker_task(void *arg, void **result) {
  struct ticker *t = arg;

  (void)result;
  while (!atomic_load(&t->stop)) {
    int rc = corio_sleep(0.002);
    if (rc < 0)
      return rc;
    atomic_fetch_add(&t->ticks, 1);
  }
  return 0;
}

/* A lost wake-up must fail a test, not hang it: the watchdog cancels the
 * task it watches after THREAD_TEST_PATIENCE_S, so its wait returns
 * -ECANCELED and the checks after it fail. */
static int watchdog_task(void *arg, void **result) {
  (void)result;
  if (corio_sleep(THREAD_TEST_PATIENCE_S) == 0)
    (void)corio_task_cancel(arg, "watchdog: waited too long");
  return 0;
}

static corio_task *watch_me(void) {
  corio_task *w = NULL;

  CHECK_EQ(corio_spawn(&w, watchdog_task, corio_current_task()), 0);
  return w;
}

static void unwatch(corio_task *w) {
  if (!w)
    return;
  (void)corio_task_cancel(w, NULL);
  (void)corio_await(w, NULL);
  corio_task_unref(w);
}

/* ---- several loops in several threads --------------------------------------
 */

enum { LOOP_THREADS = 4, WORKERS = 6, CALLS = 4 };

static atomic_int on_a_loop_thread; /* pool functions that saw a loop */

static int square(void *arg, void **result) {
  intptr_t v = (intptr_t)arg;

  if (corio_loop_running() || corio_current_task())
    atomic_fetch_add(&on_a_loop_thread, 1);
  *result = (void *)(v * v);
  return 0;
}

struct loop_thread {
  int index;
  pthread_t thread;
  int rc;
  void *result;
  corio_loop *loop;
  long worker_sums[WORKERS];
};

struct worker_arg {
  struct loop_thread *lt;
  int worker;
};

/* Each worker task: CALLS to_thread calls and one run_in_executor on the
 * loop's default executor, with sleeps between to interleave. */
static int worker_task(void *arg, void **result) {
  struct worker_arg *w = arg;
  intptr_t base = 100 * w->lt->index + 10 * w->worker;
  long sum = 0;

  (void)result;
  for (int i = 0; i < CALLS; i++) {
    void *r = NULL;
    int rc = corio_to_thread(square, (void *)(base + i), &r);

    if (rc < 0)
      return rc;
    CHECK_EQ((intptr_t)r, (base + i) * (base + i));
    sum += (long)(intptr_t)r;
    rc = corio_sleep(0.001);
    if (rc < 0)
      return rc;
  }
  {
    corio_future *f = NULL;
    void *r = NULL;
    int rc = corio_run_in_executor(NULL, NULL, square, (void *)base, &f);

    if (rc < 0)
      return rc;
    CHECK_TRUE(corio_future_loop(f) == corio_loop_running());
    rc = corio_future_await(f, &r);
    corio_future_unref(f);
    if (rc < 0)
      return rc;
    sum += (long)(intptr_t)r;
  }
  w->lt->worker_sums[w->worker] = sum;
  return 0;
}

static int loop_thread_main(void *arg, void **result) {
  struct loop_thread *lt = arg;
  struct worker_arg args[WORKERS];
  corio_task *tasks[WORKERS];
  long total = 0;
  int rc = 0;

  corio_task *dog = watch_me();

  lt->loop = corio_loop_running();
  for (int i = 0; i < WORKERS; i++) {
    args[i] = (struct worker_arg){lt, i};
    rc = corio_spawn(&tasks[i], worker_task, &args[i]);
    if (rc < 0) {
      for (int j = 0; j < i; j++)
        corio_task_unref(tasks[j]);
      unwatch(dog);
      return rc;
    }
  }
  for (int i = 0; i < WORKERS; i++) {
    int trc = corio_await(tasks[i], NULL);
    if (trc < 0 && rc == 0)
      rc = trc;
    corio_task_unref(tasks[i]);
  }
  unwatch(dog);
  for (int i = 0; i < WORKERS; i++)
    total += lt->worker_sums[i];
  *result = (void *)(intptr_t)total;
  return rc;
}

static void *run_loop_thread(void *arg) {
  struct loop_thread *lt = arg;

  lt->rc = corio_run(loop_thread_main, lt, &lt->result);
  return NULL;
}

static long expected_total(int index) {
  long total = 0;

  for (int w = 0; w < WORKERS; w++) {
    long base = 100 * index + 10 * w;
    for (int i = 0; i < CALLS; i++)
      total += (base + i) * (base + i);
    total += base * base;
  }
  return total;
}

static void test_loops_in_several_threads_at_once(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct loop_thread lts[LOOP_THREADS];
  (void)state;

  atomic_store(&on_a_loop_thread, 0);
  memset(lts, 0, sizeof lts);
  for (int i = 0; i < LOOP_THREADS; i++) {
    lts[i].index = i;
    lts[i].rc = 1;
    assert_int_equal(
        pthread_create(&lts[i].thread, NULL, run_loop_thread, &lts[i]), 0);
  }
  for (int i = 0; i < LOOP_THREADS; i++) {
    assert_int_equal(pthread_join(lts[i].thread, NULL), 0);
    assert_int_equal(lts[i].rc, 0);
    assert_int_equal((long)(intptr_t)lts[i].result, expected_total(i));
    for (int j = 0; j < i; j++)
      assert_ptr_not_equal(lts[i].loop, lts[j].loop);
  }
  assert_int_equal(atomic_load(&on_a_loop_thread), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- awaiting a future of another loop -------------------------------------
 */

static corio_loop *loop_b; /* the background loop of the current test */

/* On loop A: awaits a task of loop B while a ticker keeps ticking on A.
 * B's task ends only once A's ticker has ticked 10 more times (or after
 * THREAD_TEST_PATIENCE_S): a loop A blocked in the await would make no
 * ticks, and the check of the ticks would fail however fast the machine. */
static int await_other_loop(void *arg, void **result) {
  struct slow *s = arg;
  struct ticker tk = {0};
  corio_threadsafe_future *fut = NULL;
  corio_task *ticker = NULL;
  double t0 = 0, took;
  int rc, ticks = 0;
  void *r = NULL;

  corio_task *dog = watch_me();

  (void)result;
  rc = corio_spawn(&ticker, ticker_task, &tk);
  if (rc < 0) {
    unwatch(dog);
    return rc;
  }
  rc = corio_sleep(0.005); /* let the ticker start */
  if (rc == 0) {
    /* The ticker runs only while this task is suspended: none between
     * here and the await. Timed from before B can start its sleep. */
    t0 = wall_s();
    ticks = atomic_load(&tk.ticks);
    s->until = &tk.ticks;
    s->until_value = ticks + 10;
    rc = corio_run_coroutine_threadsafe(loop_b, slow_task, s, &fut);
  }
  CHECK_EQ(rc, 0);
  if (rc == 0) {
    rc = corio_threadsafe_future_await(fut, &r);
    took = wall_s() - t0;
    ticks = atomic_load(&tk.ticks) - ticks;
    CHECK_EQ(rc, 0);
    CHECK_EQ((intptr_t)r, 77);
    /* Never early: B's task sleeps 150 ms, all of it after t0. */
    CHECK_TRUE(took >= 0.1);
    /* A was not blocked while waiting: its ticker ticked meanwhile. */
    CHECK_TRUE(ticks >= 10);
    CHECK_TRUE(corio_threadsafe_future_done(fut));
    corio_threadsafe_future_unref(fut);
  }
  atomic_store(&tk.stop, 1);
  CHECK_EQ(corio_await(ticker, NULL), 0);
  corio_task_unref(ticker);
  unwatch(dog);
  return rc;
}

static void test_await_a_future_of_another_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct slow s;
  struct bg b;
  (void)state;

  slow_init(&s, 0.15, 77);
  bg_start(&b);
  loop_b = b.loop;
  assert_int_equal(run_main(await_other_loop, &s), 0);
  assert_ptr_equal(s.ran_on, b.loop); /* the task ran on B */
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* An error of B's task comes through await, with its message. */
static int await_an_error(void *arg, void **result) {
  struct slow *s = arg;
  corio_threadsafe_future *fut = NULL;
  void *r = CORIO_PTR(5);
  int rc;

  (void)result;
  corio_task *dog;

  rc = corio_run_coroutine_threadsafe(loop_b, slow_task, s, &fut);
  if (rc < 0)
    return rc;
  dog = watch_me();
  CHECK_EQ(corio_threadsafe_future_await(fut, &r), -EPIPE);
  unwatch(dog);
  CHECK_EQ((intptr_t)r, 5);
  CHECK_TRUE(corio_threadsafe_future_message(fut) != NULL);
  if (corio_threadsafe_future_message(fut))
    CHECK_EQ(strcmp(corio_threadsafe_future_message(fut),
                    "slow task failed with -32"),
             0);
  corio_threadsafe_future_unref(fut);
  return 0;
}

static void test_await_an_error_of_another_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct slow s;
  struct bg b;
  (void)state;

  slow_init(&s, 0.01, 0);
  s.error = -EPIPE;
  bg_start(&b);
  loop_b = b.loop;
  assert_int_equal(run_main(await_an_error, &s), 0);
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* The awaiting task is cancelled: -ECANCELED at once, without waiting
 * for the future, and the future and B's task go on. */
struct awaiter {
  corio_threadsafe_future *fut;
  int rc;
  int fut_done; /* whether the future was done when the await returned */
};

static int awaiter_task(void *arg, void **result) {
  struct awaiter *a = arg;
  void *r = NULL;

  (void)result;
  a->rc = corio_threadsafe_future_await(a->fut, &r);
  a->fut_done = corio_threadsafe_future_done(a->fut);
  return a->rc;
}

static int cancel_the_awaiter(void *arg, void **result) {
  atomic_int *open = arg; /* B's task finishes once this is set */
  struct awaiter a = {NULL, 1, -1};
  corio_task *t = NULL;
  void *r = NULL;
  int rc;

  (void)result;
  rc = corio_run_coroutine_threadsafe(loop_b, held_task, open, &a.fut);
  if (rc < 0)
    return rc;
  rc = corio_spawn(&t, awaiter_task, &a);
  if (rc == 0)
    rc = corio_sleep(0.03); /* the awaiter is waiting now */
  CHECK_EQ(rc, 0);
  if (rc == 0) {
    corio_task *dog;

    CHECK_EQ(a.rc, 1); /* still waiting */
    CHECK_EQ(corio_task_cancel(t, "enough"), 1);
    CHECK_EQ(corio_await(t, NULL), -ECANCELED);
    CHECK_EQ(a.rc, -ECANCELED);
    /* At once: B's task is held until after these checks, so the await
     * returned with the future still pending. */
    CHECK_EQ(a.fut_done, 0);
    CHECK_TRUE(corio_task_cancelled(t));
    /* The future is left as it is: not cancelled, still pending. */
    CHECK_EQ(corio_threadsafe_future_done(a.fut), 0);
    CHECK_EQ(corio_threadsafe_future_cancelled(a.fut), 0);
    /* ... and completes later: awaiting again gets the value. */
    atomic_store(open, 1);
    dog = watch_me();
    CHECK_EQ(corio_threadsafe_future_await(a.fut, &r), 0);
    unwatch(dog);
    CHECK_EQ((intptr_t)r, 21);
  }
  atomic_store(open, 1);
  corio_task_unref(t);
  corio_threadsafe_future_unref(a.fut);
  return rc;
}

static void test_cancelling_the_awaiting_task(void **state) {
  corio_test_usage before = corio_test_usage_now();
  atomic_int open = 0;
  struct bg b;
  (void)state;

  bg_start(&b);
  loop_b = b.loop;
  assert_int_equal(run_main(cancel_the_awaiter, &open), 0);
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* Awaiting a future that is done already returns at once: the task does
 * not even yield to its loop. */
static int set_flag(void *arg, void **result) {
  (void)result;
  atomic_store((atomic_int *)arg, 1);
  return 0;
}

static int await_done_futures(void *arg, void **result) {
  struct slow *s = arg;
  corio_threadsafe_future *ok = NULL, *bad = NULL, *cancelled = NULL;
  atomic_int open = 0, other_ran = 0;
  corio_task *other = NULL, *dog;
  void *r = NULL;
  int rc;

  (void)result;
  rc = corio_run_coroutine_threadsafe(loop_b, slow_task, s, &ok);
  CHECK_EQ(rc, 0);
  if (rc < 0)
    return rc;
  /* From a task of A, blocking on B's future is allowed (B is another
   * loop): that is how it gets done without A running. */
  CHECK_EQ(corio_threadsafe_future_result(ok, 5, &r), 0);
  CHECK_EQ((intptr_t)r, 31);
  s->error = -EBADF;
  CHECK_EQ(corio_run_coroutine_threadsafe(loop_b, slow_task, s, &bad), 0);
  CHECK_EQ(corio_threadsafe_future_result(bad, 5, NULL), -EBADF);
  CHECK_EQ(corio_run_coroutine_threadsafe(loop_b, held_task, &open, &cancelled),
           0);
  CHECK_EQ(corio_threadsafe_future_cancel(cancelled), 1);

  dog = watch_me();
  CHECK_EQ(corio_spawn(&other, set_flag, &other_ran), 0);
  r = NULL;
  CHECK_EQ(corio_threadsafe_future_await(ok, &r), 0);
  CHECK_EQ((intptr_t)r, 31);
  r = CORIO_PTR(1);
  CHECK_EQ(corio_threadsafe_future_await(bad, &r), -EBADF);
  CHECK_EQ((intptr_t)r, 1);
  CHECK_EQ(corio_threadsafe_future_await(cancelled, &r), -ECANCELED);
  /* None of them suspended: the task spawned before has not run. */
  CHECK_EQ(atomic_load(&other_ran), 0);
  unwatch(dog);
  CHECK_EQ(corio_await(other, NULL), 0);
  CHECK_EQ(atomic_load(&other_ran), 1);
  corio_task_unref(other);
  corio_threadsafe_future_unref(ok);
  corio_threadsafe_future_unref(bad);
  corio_threadsafe_future_unref(cancelled);
  return 0;
}

static void test_await_a_done_future_returns_at_once(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct slow s;
  struct bg b;
  (void)state;

  slow_init(&s, 0.001, 31);
  bg_start(&b);
  loop_b = b.loop;
  assert_int_equal(run_main(await_done_futures, &s), 0);
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* Outside a task there is nothing to suspend. */
static int await_from_a_callback(void *arg) {
  void *r = NULL;

  CHECK_EQ(corio_threadsafe_future_await(arg, &r), CORIO_ENOTASK);
  return corio_loop_stop(corio_loop_running());
}

static void test_await_outside_a_task(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  corio_loop *loop;
  struct bg b;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, held_task, &(atomic_int){1}, &fut),
      0);
  /* A thread without a loop, then a plain callback of a loop. */
  assert_int_equal(corio_threadsafe_future_await(fut, &r), CORIO_ENOTASK);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_loop_call_soon(loop, await_from_a_callback, fut, NULL),
                   0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  corio_loop_unref(loop);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(21));
  assert_int_equal(corio_threadsafe_future_await(fut, &r), CORIO_ENOTASK);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- loop A closes while its task awaits B's future ------------------------
 */

struct closing_waiter {
  corio_threadsafe_future *fut;
  atomic_int waiting, returned;
  int rc;
};

static int closing_waiter_task(void *arg, void **result) {
  struct closing_waiter *w = arg;
  void *r = NULL;

  (void)result;
  atomic_store(&w->waiting, 1);
  w->rc = corio_threadsafe_future_await(w->fut, &r);
  atomic_store(&w->returned, 1);
  return w->rc;
}

static void mark(corio_threadsafe_future *fut, void *arg) {
  (void)fut;
  atomic_store((atomic_int *)arg, 1);
}

/* late_wake: B's future completes after A stopped but before it closes,
 * so A's wake-up is still posted when it closes (handed back then);
 * otherwise it completes after A closed (its wake-up is refused). */
static void close_while_awaiting(int late_wake) {
  corio_test_usage before = corio_test_usage_now();
  struct closing_waiter w = {0};
  atomic_int open = 0, marked = 0;
  corio_task *t = NULL;
  corio_loop *a;
  struct bg b;
  void *r = NULL;

  w.rc = 1;
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, held_task, &open, &w.fut), 0);
  assert_int_equal(corio_loop_create(&a), 0);
  corio_loop_set_exception_handler(a, quiet, NULL);
  assert_int_equal(corio_spawn_ex(&t, closing_waiter_task, &w,
                                  &(corio_spawn_options){.loop = a}),
                   0);
  assert_int_equal(corio_loop_call_later(a, 0.03, corio_loop_stop_cb, a, NULL),
                   0);
  assert_int_equal(corio_loop_run_forever(a), 0);
  assert_int_equal(atomic_load(&w.waiting), 1);
  assert_int_equal(atomic_load(&w.returned), 0);
  /* Callbacks run in order: once `mark` ran, the waiter's wake-up (added
   * before it) has been posted to A. */
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(w.fut, mark, &marked), 0);
  if (late_wake) {
    atomic_store(&open, 1);
    assert_true(thread_wait_flag(&marked, 1, THREAD_TEST_PATIENCE_S));
  }
  assert_int_equal(corio_loop_close(a), 0);
  /* The waiting task was closed with its loop. */
  assert_int_equal(atomic_load(&w.returned), 1);
  assert_true(w.rc < 0);
  assert_true(corio_task_done(t));
  corio_task_unref(t);
  corio_loop_unref(a);
  if (!late_wake) {
    atomic_store(&open, 1);
    assert_true(thread_wait_flag(&marked, 1, THREAD_TEST_PATIENCE_S));
  }
  /* B's future itself is unharmed. */
  assert_int_equal(corio_threadsafe_future_result(w.fut, 5, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(21));
  corio_threadsafe_future_unref(w.fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

static void test_loop_closes_while_its_task_awaits(void **state) {
  (void)state;
  close_while_awaiting(0);
}

static void test_loop_closes_with_the_wake_up_posted(void **state) {
  (void)state;
  close_while_awaiting(1);
}

/* ---- a pool thread calling back into its loop ------------------------------
 * The common shape of run_coroutine_threadsafe: a blocking function on
 * the loop's executor asks the loop for something and waits for it. */

struct callback_job {
  corio_loop *loop;
  int after_main;            /* call back only once main has returned */
  atomic_int main_returning; /* set in main's last step */
  int rc;
  void *value;
  atomic_int done;
};

static int doubled(void *arg, void **result) {
  int rc = corio_sleep(0.001);

  if (rc < 0)
    return rc;
  *result = (void *)((intptr_t)arg * 2);
  return 0;
}

static int calls_back(void *arg, void **result) {
  struct callback_job *j = arg;
  corio_threadsafe_future *fut = NULL;

  /* Set in main's last step, which ends without yielding: the loop can
   * only take the call back after main has returned. */
  if (j->after_main &&
      !thread_wait_flag(&j->main_returning, 1, THREAD_TEST_PATIENCE_S)) {
    j->rc = -ETIMEDOUT;
    atomic_store(&j->done, 1);
    return j->rc;
  }
  j->rc = corio_run_coroutine_threadsafe(j->loop, doubled, CORIO_PTR(12), &fut);
  if (j->rc == 0) {
    /* No loop runs on a pool thread: blocking is fine. */
    j->rc =
        corio_threadsafe_future_result(fut, THREAD_TEST_PATIENCE_S, &j->value);
    corio_threadsafe_future_unref(fut);
  }
  atomic_store(&j->done, 1);
  *result = j->value;
  return j->rc;
}

static int awaits_a_job_that_calls_back(void *arg, void **result) {
  struct callback_job *j = arg;
  corio_task *dog = watch_me();
  int rc;

  j->loop = corio_loop_running();
  rc = corio_to_thread(calls_back, j, result);
  unwatch(dog);
  return rc;
}

/* Leaves the job running: corio_run shuts the default executor down while
 * the loop still runs (asyncio's shutdown_default_executor), so the job's
 * call back is answered before the loop closes. */
static int leaves_a_job_that_calls_back(void *arg, void **result) {
  struct callback_job *j = arg;
  corio_future *f = NULL;
  int rc;

  (void)result;
  j->loop = corio_loop_running();
  rc = corio_run_in_executor(NULL, NULL, calls_back, j, &f);
  corio_future_unref(f);
  atomic_store(&j->main_returning, 1);
  return rc;
}

static void test_pool_thread_calls_back_into_its_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct callback_job j = {0};
  void *r = NULL;
  (void)state;

  j.rc = 1;
  assert_int_equal(corio_run(awaits_a_job_that_calls_back, &j, &r), 0);
  assert_int_equal(j.rc, 0);
  assert_ptr_equal(j.value, CORIO_PTR(24));
  assert_ptr_equal(r, CORIO_PTR(24));
  assert_checks_passed();

  memset(&j, 0, sizeof j);
  j.rc = 1;
  j.after_main = 1;
  assert_int_equal(corio_run(leaves_a_job_that_calls_back, &j, NULL), 0);
  /* corio_run returned after the job, which got its answer: a call back
   * the loop never took would have ended with -ETIMEDOUT, after
   * THREAD_TEST_PATIENCE_S. */
  assert_int_equal(atomic_load(&j.done), 1);
  assert_int_equal(j.rc, 0);
  assert_ptr_equal(j.value, CORIO_PTR(24));
  corio_test_assert_no_leak(before);
}

/* ---- ping-pong -------------------------------------------------------------
 */

enum { ROUND_TRIPS = 1000 };

static corio_loop *loop_a;

/* On A: the far end of a round trip. */
static int pong(void *arg, void **result) {
  CHECK_TRUE(corio_loop_running() == loop_a);
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

/* On B: sends the ball back to A and waits for it there. */
static int ping(void *arg, void **result) {
  corio_threadsafe_future *fut = NULL;
  void *r = NULL;
  int rc;

  CHECK_TRUE(corio_loop_running() == loop_b);
  rc = corio_run_coroutine_threadsafe(loop_a, pong, arg, &fut);
  if (rc < 0)
    return rc;
  rc = corio_threadsafe_future_await(fut, &r);
  corio_threadsafe_future_unref(fut);
  if (rc < 0)
    return rc;
  *result = (void *)((intptr_t)r + 1);
  return 0;
}

static int play(void *arg, void **result) {
  int *done = arg;

  corio_task *dog = watch_me();
  int rc = 0;

  (void)result;
  loop_a = corio_loop_running();
  for (intptr_t i = 0; i < ROUND_TRIPS && rc == 0; i++) {
    corio_threadsafe_future *fut = NULL;
    void *r = NULL;

    rc = corio_run_coroutine_threadsafe(loop_b, ping, (void *)i, &fut);
    if (rc < 0)
      break;
    rc = corio_threadsafe_future_await(fut, &r);
    corio_threadsafe_future_unref(fut);
    if (rc < 0)
      break;
    CHECK_EQ((intptr_t)r, i + 2);
    ++*done;
  }
  unwatch(dog);
  return rc;
}

static void test_ping_pong_between_two_loops(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct bg b;
  int done = 0;
  (void)state;

  bg_start(&b);
  loop_b = b.loop;
  assert_int_equal(run_main(play, &done), 0);
  assert_int_equal(done, ROUND_TRIPS);
  bg_stop(&b);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_loops_in_several_threads_at_once,
                             reset_checks),
      cmocka_unit_test_setup(test_await_a_future_of_another_loop, reset_checks),
      cmocka_unit_test_setup(test_await_an_error_of_another_loop, reset_checks),
      cmocka_unit_test_setup(test_cancelling_the_awaiting_task, reset_checks),
      cmocka_unit_test_setup(test_await_a_done_future_returns_at_once,
                             reset_checks),
      cmocka_unit_test_setup(test_await_outside_a_task, reset_checks),
      cmocka_unit_test_setup(test_loop_closes_while_its_task_awaits,
                             reset_checks),
      cmocka_unit_test_setup(test_loop_closes_with_the_wake_up_posted,
                             reset_checks),
      cmocka_unit_test_setup(test_pool_thread_calls_back_into_its_loop,
                             reset_checks),
      cmocka_unit_test_setup(test_ping_pong_between_two_loops, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
