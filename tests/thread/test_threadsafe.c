/* corio_run_coroutine_threadsafe and its thread-safe future, used from a
 * thread that runs no loop against a loop running in a background thread:
 * outcomes (value, error with message, cancellation with its message),
 * blocking result() with and without a timeout, cancellation (at once on
 * the future, and really on the task; racing the completion), done
 * callbacks (once, on the completing thread), the deadlock guard, bad
 * input, and what a loop that closes does to futures whose tasks it holds,
 * never started, or had just finished, also with other threads submitting
 * and cancelling meanwhile. Nothing leaks in any of them.
 *
 * No test can hang on a lost completion: blocking waits have a limit, and
 * the unlimited ones are guarded by a watchdog that cancels the future. */
#include <math.h>
#include <stdio.h>

#include "thread_check.h"

/* ---- task bodies ----------------------------------------------------------
 */

/* Returns arg after yielding to the loop once. */
static int returns_arg(void *arg, void **result) {
  int rc = corio_sleep(0);

  if (rc < 0)
    return rc;
  *result = arg;
  return 0;
}

static int fails_with_message(void *arg, void **result) {
  (void)arg;
  (void)result;
  if (corio_sleep(0) < 0)
    return -ECANCELED;
  return corio_fail(-EIO, "disk %d failed", 7);
}

/* Sleeps `seconds` on its loop and reports what it saw. */
struct sleeper {
  double seconds;
  intptr_t value;
  int swallow; /* finish with value even if the sleep failed */
  corio_loop *ran_on;
  atomic_int started, finished, seen_rc;
};

static void sleeper_init(struct sleeper *s, double seconds, intptr_t value) {
  s->seconds = seconds;
  s->value = value;
  s->swallow = 0;
  s->ran_on = NULL;
  atomic_init(&s->started, 0);
  atomic_init(&s->finished, 0);
  atomic_init(&s->seen_rc, 1); /* 1: nothing seen yet */
}

static int sleeper_task(void *arg, void **result) {
  struct sleeper *s = arg;
  int rc;

  s->ran_on = corio_loop_running();
  atomic_store(&s->started, 1);
  rc = corio_sleep(s->seconds);
  atomic_store(&s->seen_rc, rc);
  atomic_store(&s->finished, 1);
  if (rc < 0 && !s->swallow)
    return rc;
  *result = (void *)s->value;
  return 0;
}

/* Holds its task until opened (bounded: -ETIMEDOUT after
 * THREAD_TEST_PATIENCE_S), then returns 21. */
struct held {
  atomic_int open, started;
  corio_loop *ran_on;
};

static int held_task(void *arg, void **result) {
  struct held *h = arg;
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  h->ran_on = corio_loop_running();
  atomic_store(&h->started, 1);
  while (!atomic_load(&h->open)) {
    int rc = wall_s() > deadline ? -ETIMEDOUT : corio_sleep(0.001);
    if (rc < 0)
      return rc;
  }
  *result = CORIO_PTR(21);
  return 0;
}

/* Records that it ran at all. */
static int marks_ran(void *arg, void **result) {
  atomic_store((atomic_int *)arg, 1);
  *result = arg;
  return 0;
}

/* ---- done callbacks --------------------------------------------------------
 */

static atomic_int callback_seq;

struct cb_record {
  atomic_int calls;
  int seq; /* callback_seq when (first) called */
  int was_done;
  corio_threadsafe_future *fut;
  pthread_t thread;
};

static void record_callback(corio_threadsafe_future *fut, void *arg) {
  struct cb_record *rec = arg;

  /* Written before the counter: a reader who sees calls >= 1 sees these. */
  rec->seq = atomic_fetch_add(&callback_seq, 1);
  rec->was_done = corio_threadsafe_future_done(fut);
  rec->fut = fut;
  rec->thread = pthread_self();
  atomic_fetch_add(&rec->calls, 1);
}

/* ---- tests -----------------------------------------------------------------
 */

static void test_result_is_delivered(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct bg b;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, returns_arg, CORIO_PTR(42), &fut),
      0);
  assert_non_null(fut);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(42));
  r = NULL;
  assert_int_equal(corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(42));
  assert_true(corio_threadsafe_future_done(fut));
  assert_false(corio_threadsafe_future_cancelled(fut));
  assert_null(corio_threadsafe_future_message(fut));
  /* Reading again gives the same; result may be NULL. */
  r = NULL;
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(42));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, NULL), 0);
  /* A second reference keeps it; two unrefs free it. */
  assert_ptr_equal(corio_threadsafe_future_ref(fut), fut);
  corio_threadsafe_future_unref(fut);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  assert_int_equal(atomic_load(&b.reports), 0);
  corio_test_assert_no_leak(before);
}

static void test_task_error_and_its_message(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct bg b;
  void *r = CORIO_PTR(99);
  const char *msg;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, fails_with_message, NULL, &fut),
      0);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), -EIO);
  assert_ptr_equal(r, CORIO_PTR(99)); /* untouched on error */
  assert_true(corio_threadsafe_future_done(fut));
  assert_false(corio_threadsafe_future_cancelled(fut));
  msg = corio_threadsafe_future_message(fut);
  assert_non_null(msg);
  assert_string_equal(msg, "disk 7 failed");
  /* Still there on a second read. */
  assert_int_equal(corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r), -EIO);
  assert_string_equal(corio_threadsafe_future_message(fut), "disk 7 failed");
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

/* The task is held until the test opens it: it cannot finish within a
 * timeout, however slow the machine. */
static void test_result_timeouts(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct held h = {0};
  struct bg b;
  double t0, took;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(corio_run_coroutine_threadsafe(b.loop, held_task, &h, &fut),
                   0);
  /* Timeout 0 on a pending future: at once. Zero or less has expired: no
   * wait at all (-1 is not "no limit"). */
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ETIMEDOUT);
  assert_int_equal(corio_threadsafe_future_result(fut, -1, &r), -ETIMEDOUT);
  assert_int_equal(corio_threadsafe_future_result(fut, -INFINITY, &r),
                   -ETIMEDOUT);
  assert_null(corio_threadsafe_future_message(fut)); /* pending: none */
  /* A 50 ms timeout expires, not before 50 ms, leaving the task alone. */
  assert_true(thread_wait_flag(&h.started, 1, THREAD_TEST_PATIENCE_S));
  t0 = wall_s();
  assert_int_equal(corio_threadsafe_future_result(fut, 0.05, &r), -ETIMEDOUT);
  took = wall_s() - t0;
  assert_true(took >= 0.04); /* never early; late is the machine's load */
  assert_null(r);
  assert_false(corio_threadsafe_future_done(fut));
  assert_false(corio_threadsafe_future_cancelled(fut));
  /* The task goes on: once opened, a later wait gets its value. */
  atomic_store(&h.open, 1);
  assert_int_equal(
      corio_threadsafe_future_result(fut, THREAD_TEST_PATIENCE_S, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(21));
  assert_ptr_equal(h.ran_on, b.loop);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

/* A lost completion must fail a test, not hang it: this thread cancels
 * the future if the test has not finished with it in time, which wakes a
 * result(-1) with -ECANCELED. */
struct fut_watchdog {
  pthread_t thread;
  corio_threadsafe_future *fut;
  atomic_int stop;
};

static void *fut_watchdog_main(void *arg) {
  struct fut_watchdog *w = arg;

  if (!thread_wait_flag(&w->stop, 1, THREAD_TEST_PATIENCE_S))
    (void)corio_threadsafe_future_cancel(w->fut);
  return NULL;
}

/* Without cmocka's assertions, for tasks: pthread_create's code. */
static int fut_watchdog_try_start(struct fut_watchdog *w,
                                  corio_threadsafe_future *fut) {
  int rc;

  w->fut = corio_threadsafe_future_ref(fut);
  atomic_init(&w->stop, 0);
  rc = pthread_create(&w->thread, NULL, fut_watchdog_main, w);
  if (rc != 0)
    corio_threadsafe_future_unref(w->fut);
  return rc;
}

/* pthread_join's code. */
static int fut_watchdog_end(struct fut_watchdog *w) {
  int rc;

  atomic_store(&w->stop, 1);
  rc = pthread_join(w->thread, NULL);
  corio_threadsafe_future_unref(w->fut);
  return rc;
}

static void fut_watchdog_start(struct fut_watchdog *w,
                               corio_threadsafe_future *fut) {
  assert_int_equal(fut_watchdog_try_start(w, fut), 0);
}

static void fut_watchdog_stop(struct fut_watchdog *w) {
  assert_int_equal(fut_watchdog_end(w), 0);
}

static void test_result_without_limit_blocks_until_done(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct fut_watchdog dog;
  struct sleeper s;
  struct bg b;
  double t0;
  void *r = NULL;
  int rc;
  (void)state;

  sleeper_init(&s, 0.1, 8);
  bg_start(&b);
  t0 = wall_s();
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s, &fut), 0);
  fut_watchdog_start(&dog, fut);
  rc = corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r);
  fut_watchdog_stop(&dog);
  assert_int_equal(rc, 0);
  assert_true(wall_s() - t0 >= 0.09);
  /* It returned because the task finished, not before. */
  assert_int_equal(atomic_load(&s.finished), 1);
  assert_ptr_equal(r, CORIO_PTR(8));
  /* A huge timeout is "no limit" too. */
  assert_int_equal(corio_threadsafe_future_result(fut, 1e300, &r), 0);
  assert_int_equal(corio_threadsafe_future_result(fut, INFINITY, &r), 0);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

/* Several threads blocked in result() are all woken by one completion.
 * They wait without a limit, so only the completion can wake them with
 * the value (the watchdog's cancel would wake them with -ECANCELED); the
 * task is held until they have all gone to wait. */
struct waiter {
  corio_threadsafe_future *fut;
  atomic_int *waiting; /* counted just before result() */
  int rc;
  void *r;
};

static void *wait_result(void *arg) {
  struct waiter *w = arg;

  atomic_fetch_add(w->waiting, 1);
  w->rc = corio_threadsafe_future_result(w->fut, CORIO_NO_TIMEOUT, &w->r);
  return NULL;
}

static void test_every_blocked_reader_wakes(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct fut_watchdog dog;
  struct waiter w[4];
  atomic_int waiting = 0;
  struct held h = {0};
  pthread_t t[4];
  struct bg b;
  (void)state;

  bg_start(&b);
  assert_int_equal(corio_run_coroutine_threadsafe(b.loop, held_task, &h, &fut),
                   0);
  fut_watchdog_start(&dog, fut);
  for (int i = 0; i < 4; i++) {
    w[i] = (struct waiter){fut, &waiting, 1, NULL};
    assert_int_equal(pthread_create(&t[i], NULL, wait_result, &w[i]), 0);
  }
  assert_true(thread_wait_flag(&waiting, 4, THREAD_TEST_PATIENCE_S));
  sleep_ms(10); /* most likely blocked by now; a reader not yet blocked
                   reads the value all the same */
  atomic_store(&h.open, 1);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[i].rc, 0);
    assert_ptr_equal(w[i].r, CORIO_PTR(21));
  }
  fut_watchdog_stop(&dog);
  assert_false(corio_threadsafe_future_cancelled(fut));
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

static void test_cancel_cancels_the_task_on_its_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct cb_record rec = {0};
  struct sleeper s;
  struct bg b;
  void *r = CORIO_PTR(3);
  (void)state;

  sleeper_init(&s, 3600, 1);
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s, &fut), 0);
  assert_true(thread_wait_flag(&s.started, 1, THREAD_TEST_PATIENCE_S));
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &rec), 0);
  assert_int_equal(corio_threadsafe_future_cancel(fut), 1);
  /* The future is cancelled at once, before the loop has done anything. */
  assert_true(corio_threadsafe_future_done(fut));
  assert_true(corio_threadsafe_future_cancelled(fut));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ECANCELED);
  assert_int_equal(corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r), -ECANCELED);
  assert_ptr_equal(r, CORIO_PTR(3));
  /* Its callbacks ran on the cancelling thread, inside cancel. */
  assert_int_equal(atomic_load(&rec.calls), 1);
  assert_true(pthread_equal(rec.thread, pthread_self()));
  assert_true(rec.was_done);
  /* And the task itself, on the loop, was woken by the cancellation: its
   * sleep of an hour failed with -ECANCELED (one that ran out would have
   * returned 0). */
  assert_true(thread_wait_flag(&s.finished, 1, THREAD_TEST_PATIENCE_S));
  assert_int_equal(atomic_load(&s.seen_rc), -ECANCELED);
  /* Done already: a second cancel does nothing. */
  assert_int_equal(corio_threadsafe_future_cancel(fut), 0);
  assert_true(corio_threadsafe_future_cancelled(fut));
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  assert_int_equal(atomic_load(&rec.calls), 1);
  corio_test_assert_no_leak(before);
}

/* A task that handles the cancellation and returns a value does not
 * un-cancel the future: its outcome was settled by cancel. */
static void test_cancelled_future_stays_cancelled(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct sleeper s;
  struct bg b;
  void *r = NULL;
  (void)state;

  sleeper_init(&s, 3600, 4);
  s.swallow = 1;
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s, &fut), 0);
  assert_true(thread_wait_flag(&s.started, 1, THREAD_TEST_PATIENCE_S));
  assert_int_equal(corio_threadsafe_future_cancel(fut), 1);
  assert_true(thread_wait_flag(&s.finished, 1, THREAD_TEST_PATIENCE_S));
  assert_int_equal(atomic_load(&s.seen_rc), -ECANCELED);
  /* Let the loop take the task's outcome, then look again. */
  bg_stop(&b);
  assert_true(corio_threadsafe_future_cancelled(fut));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ECANCELED);
  assert_null(r);
  corio_threadsafe_future_unref(fut);
  corio_test_assert_no_leak(before);
}

static void test_cancel_after_done(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct bg b;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, returns_arg, CORIO_PTR(6), &fut),
      0);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
  assert_int_equal(corio_threadsafe_future_cancel(fut), 0);
  assert_true(corio_threadsafe_future_done(fut));
  assert_false(corio_threadsafe_future_cancelled(fut));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(6));
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

/* Cancel racing the task's own completion: whichever wins, the future is
 * consistent, its callback runs exactly once, and nothing leaks. */
static void test_cancel_racing_completion(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int cancelled = 0, finished = 0;
  struct bg b;
  (void)state;

  bg_start(&b);
  for (int i = 0; i < 200; i++) {
    corio_threadsafe_future *fut = NULL;
    struct cb_record rec = {0};
    void *r = NULL;
    int rc;

    assert_int_equal(corio_run_coroutine_threadsafe(b.loop, returns_arg,
                                                    CORIO_PTR(i + 1), &fut),
                     0);
    assert_int_equal(
        corio_threadsafe_future_add_done_callback(fut, record_callback, &rec),
        0);
    if (i % 3)
      sleep_ms(0); /* vary who wins */
    rc = corio_threadsafe_future_cancel(fut);
    assert_true(rc == 0 || rc == 1);
    assert_true(corio_threadsafe_future_done(fut));
    if (rc == 1) {
      cancelled++;
      assert_true(corio_threadsafe_future_cancelled(fut));
      assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ECANCELED);
    } else {
      finished++;
      assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
      assert_ptr_equal(r, CORIO_PTR(i + 1));
      assert_false(corio_threadsafe_future_cancelled(fut));
    }
    assert_true(thread_wait_flag(&rec.calls, 1, THREAD_TEST_PATIENCE_S));
    corio_threadsafe_future_unref(fut);
    assert_int_equal(atomic_load(&rec.calls), 1);
  }
  bg_stop(&b);
  assert_int_equal(cancelled + finished, 200);
  corio_test_assert_no_leak(before);
}

static void test_done_callbacks(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct cb_record first = {0}, second = {0}, late = {0};
  struct held h = {0};
  struct bg b;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(corio_run_coroutine_threadsafe(b.loop, held_task, &h, &fut),
                   0);
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &first),
      0);
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &second),
      0);
  assert_true(thread_wait_flag(&h.started, 1, THREAD_TEST_PATIENCE_S));
  sleep_ms(10);
  assert_int_equal(atomic_load(&first.calls), 0); /* pending: not yet */
  atomic_store(&h.open, 1);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(21));
  /* result() may return before the completing thread ran the callbacks. */
  assert_true(thread_wait_flag(&second.calls, 1, THREAD_TEST_PATIENCE_S));
  assert_true(thread_wait_flag(&first.calls, 1, THREAD_TEST_PATIENCE_S));
  sleep_ms(10);
  assert_int_equal(atomic_load(&first.calls), 1);
  assert_int_equal(atomic_load(&second.calls), 1);
  /* On the loop's thread, which completed the future, in order, done. */
  assert_true(pthread_equal(first.thread, b.thread));
  assert_true(pthread_equal(second.thread, b.thread));
  assert_true(first.seq < second.seq);
  assert_true(first.was_done);
  assert_ptr_equal(first.fut, fut);
  /* Added to a done future: called now, on this thread. */
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &late),
      0);
  assert_int_equal(atomic_load(&late.calls), 1);
  assert_true(pthread_equal(late.thread, pthread_self()));
  assert_true(late.was_done);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  assert_int_equal(atomic_load(&first.calls), 1);
  assert_int_equal(atomic_load(&second.calls), 1);
  corio_test_assert_no_leak(before);
}

/* A lost wake-up must fail a test, not hang it: the watchdog cancels the
 * task it watches after THREAD_TEST_PATIENCE_S. */
static int watchdog_task(void *arg, void **result) {
  (void)result;
  if (corio_sleep(THREAD_TEST_PATIENCE_S) == 0)
    (void)corio_task_cancel(arg, "watchdog: waited too long");
  return 0;
}

/* From a task on the future's own loop, blocking could never end: result()
 * refuses at once. A thread watchdog cancels the future after
 * THREAD_TEST_PATIENCE_S, so a result() that waited instead would return
 * -ECANCELED then (whatever its timeout), not -EDEADLK: no clock needed. */
static int blocks_on_its_own_loop(void *arg, void **result) {
  corio_threadsafe_future *fut = NULL;
  struct fut_watchdog fut_dog;
  corio_task *dog = NULL;
  void *r = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_spawn(&dog, watchdog_task, corio_current_task());
  CHECK_EQ(rc, 0);
  if (rc < 0)
    return rc;
  rc = corio_run_coroutine_threadsafe(corio_loop_running(), returns_arg,
                                      CORIO_PTR(5), &fut);
  CHECK_EQ(rc, 0);
  if (rc < 0)
    return rc;
  rc = fut_watchdog_try_start(&fut_dog, fut);
  CHECK_EQ(rc, 0);
  if (rc == 0) {
    /* Refused, not waited out: a wait of an hour or without a limit
     * would end only with the watchdog's cancel. */
    CHECK_EQ(corio_threadsafe_future_result(fut, 3600, &r), -EDEADLK);
    CHECK_EQ(corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r),
             -EDEADLK);
    CHECK_EQ(corio_threadsafe_future_result(fut, 0.5, &r), -EDEADLK);
    CHECK_EQ(fut_watchdog_end(&fut_dog), 0);
  }
  /* Polling (timeout 0) is fine: it does not block. */
  CHECK_EQ(corio_threadsafe_future_result(fut, 0, &r), -ETIMEDOUT);
  CHECK_EQ(corio_threadsafe_future_cancelled(fut), 0);
  /* Awaiting it is the way. */
  CHECK_EQ(corio_threadsafe_future_await(fut, &r), 0);
  CHECK_EQ((intptr_t)r, 5);
  /* Done: result() no longer needs the loop. */
  r = NULL;
  CHECK_EQ(corio_threadsafe_future_result(fut, 0.5, &r), 0);
  CHECK_EQ((intptr_t)r, 5);
  corio_threadsafe_future_unref(fut);
  (void)corio_task_cancel(dog, NULL);
  (void)corio_await(dog, NULL);
  corio_task_unref(dog);
  return 0;
}

static void test_result_on_its_own_loop_is_a_deadlock(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(blocks_on_its_own_loop, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ... also on a background loop, asked from one of its tasks. */
static int deadlock_on_bg(void *arg, void **result) {
  struct sleeper *s = arg;
  corio_threadsafe_future *fut = NULL;
  int rc;

  rc = corio_run_coroutine_threadsafe(corio_loop_running(), sleeper_task, s,
                                      &fut);
  if (rc < 0)
    return rc;
  rc = corio_threadsafe_future_result(fut, 0.5, NULL);
  (void)corio_threadsafe_future_cancel(fut);
  corio_threadsafe_future_unref(fut);
  *result = CORIO_PTR(rc);
  return 0;
}

static void test_result_from_the_loop_thread_is_refused(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct sleeper s;
  struct bg b;
  void *r = NULL;
  (void)state;

  sleeper_init(&s, 10, 0);
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, deadlock_on_bg, &s, &fut), 0);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, &r), 0);
  assert_int_equal((int)(intptr_t)r, -EDEADLK);
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

static void ignore(corio_threadsafe_future *fut, void *arg) {
  (void)fut;
  (void)arg;
}

static int await_null(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(corio_threadsafe_future_await(NULL, NULL), -EINVAL);
  return 0;
}

static void test_bad_input(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = CORIO_PTR(1), *good = NULL;
  struct bg b;
  void *r = NULL;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(NULL, returns_arg, NULL, &fut), -EINVAL);
  assert_int_equal(corio_run_coroutine_threadsafe(b.loop, NULL, NULL, &fut),
                   -EINVAL);
  assert_ptr_equal(fut, CORIO_PTR(1)); /* untouched */
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, returns_arg, NULL, NULL), -EINVAL);
  assert_int_equal(corio_threadsafe_future_result(NULL, 0, &r), -EINVAL);
  assert_int_equal(corio_threadsafe_future_result(NULL, CORIO_NO_TIMEOUT, &r), -EINVAL);
  assert_int_equal(corio_threadsafe_future_cancel(NULL), -EINVAL);
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(NULL, ignore, NULL), -EINVAL);
  assert_int_equal(corio_threadsafe_future_await(NULL, &r), -EINVAL);
  assert_false(corio_threadsafe_future_done(NULL));
  assert_false(corio_threadsafe_future_cancelled(NULL));
  assert_null(corio_threadsafe_future_message(NULL));
  assert_null(corio_threadsafe_future_ref(NULL));
  corio_threadsafe_future_unref(NULL);

  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, returns_arg, CORIO_PTR(2), &good),
      0);
  assert_int_equal(corio_threadsafe_future_add_done_callback(good, NULL, NULL),
                   -EINVAL);
  assert_int_equal(corio_threadsafe_future_result(good, NAN, &r), -EINVAL);
  assert_int_equal(corio_threadsafe_future_result(good, 5, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(2));
  corio_threadsafe_future_unref(good);
  bg_stop(&b);
  assert_int_equal(run_main(await_null, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static void test_posting_to_a_closed_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = CORIO_PTR(1);
  atomic_int ran = 0;
  corio_loop *loop;
  struct bg b;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_run_coroutine_threadsafe(loop, marks_ran, &ran, &fut),
                   CORIO_ELOOPCLOSED);
  assert_ptr_equal(fut, CORIO_PTR(1));
  corio_loop_unref(loop);
  /* A loop that ran and was closed on its thread refuses too. */
  bg_start(&b);
  assert_int_equal(
      corio_loop_call_soon_threadsafe(b.loop, corio_loop_stop_cb, b.loop), 0);
  assert_int_equal(pthread_join(b.thread, NULL), 0);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, marks_ran, &ran, &fut),
      CORIO_ELOOPCLOSED);
  assert_ptr_equal(fut, CORIO_PTR(1));
  corio_loop_unref(b.loop);
  assert_int_equal(atomic_load(&ran), 0);
  corio_test_assert_no_leak(before);
}

/* The loop is stopped (from this thread) and closed on its own thread
 * while the submitted task is still running: the task is closed with the
 * loop and the future ends cancelled, with the reason. */
static void test_loop_closing_cancels_a_started_task(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL, *dropped = NULL;
  struct cb_record rec = {0};
  struct sleeper s, s2;
  struct bg b;
  void *r = CORIO_PTR(3);
  (void)state;

  sleeper_init(&s, 3600, 1);
  sleeper_init(&s2, 3600, 1);
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s, &fut), 0);
  /* Another whose caller lets go at once: the loop's side cleans up. */
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s2, &dropped), 0);
  corio_threadsafe_future_unref(dropped);
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &rec), 0);
  assert_true(thread_wait_flag(&s.started, 1, THREAD_TEST_PATIENCE_S));
  assert_true(thread_wait_flag(&s2.started, 1, THREAD_TEST_PATIENCE_S));
  assert_false(corio_threadsafe_future_done(fut));
  bg_stop(&b); /* stop, then close on the loop's thread */
  /* The close settled it: done already, no waiting needed. */
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ECANCELED);
  assert_ptr_equal(r, CORIO_PTR(3));
  assert_true(corio_threadsafe_future_done(fut));
  assert_true(corio_threadsafe_future_cancelled(fut));
  assert_non_null(corio_threadsafe_future_message(fut));
  /* The task was closed with the loop: its sleep failed. */
  assert_int_equal(atomic_load(&s.finished), 1);
  assert_true(atomic_load(&s.seen_rc) < 0);
  assert_int_equal(atomic_load(&s2.finished), 1);
  /* Its callback ran once, on the loop's thread, which closed it. */
  assert_int_equal(atomic_load(&rec.calls), 1);
  assert_true(pthread_equal(rec.thread, b.thread));
  corio_threadsafe_future_unref(fut);
  corio_test_assert_no_leak(before);
}

/* Posted to a loop that is not running, which closes before it ever runs:
 * the task never starts and the future ends with CORIO_ELOOPCLOSED. */
static void test_loop_closing_before_the_task_starts(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL, *cancelled = NULL, *dropped = NULL;
  struct cb_record rec = {0};
  atomic_int ran = 0;
  corio_loop *loop;
  const char *msg;
  void *r = CORIO_PTR(3);
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_run_coroutine_threadsafe(loop, marks_ran, &ran, &fut),
                   0);
  /* One cancelled meanwhile (its cancel is posted too), and one whose
   * caller let go. */
  assert_int_equal(
      corio_run_coroutine_threadsafe(loop, marks_ran, &ran, &cancelled), 0);
  assert_int_equal(corio_threadsafe_future_cancel(cancelled), 1);
  assert_int_equal(
      corio_run_coroutine_threadsafe(loop, marks_ran, &ran, &dropped), 0);
  corio_threadsafe_future_unref(dropped);
  assert_int_equal(
      corio_threadsafe_future_add_done_callback(fut, record_callback, &rec), 0);
  /* No loop runs on this thread: a bounded wait is allowed, and expires. */
  assert_int_equal(corio_threadsafe_future_result(fut, 0.01, &r), -ETIMEDOUT);
  assert_false(corio_threadsafe_future_done(fut));
  assert_int_equal(corio_loop_close(loop), 0);
  assert_true(corio_threadsafe_future_done(fut));
  assert_false(corio_threadsafe_future_cancelled(fut));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r),
                   CORIO_ELOOPCLOSED);
  assert_int_equal(corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, &r),
                   CORIO_ELOOPCLOSED);
  assert_ptr_equal(r, CORIO_PTR(3));
  msg = corio_threadsafe_future_message(fut);
  assert_non_null(msg);
  assert_true(strlen(msg) > 0);
  /* The closing thread completed it. */
  assert_int_equal(atomic_load(&rec.calls), 1);
  assert_true(pthread_equal(rec.thread, pthread_self()));
  /* The cancelled one stays cancelled. */
  assert_true(corio_threadsafe_future_cancelled(cancelled));
  assert_int_equal(corio_threadsafe_future_result(cancelled, 0, NULL),
                   -ECANCELED);
  assert_int_equal(atomic_load(&ran), 0);
  corio_threadsafe_future_unref(cancelled);
  corio_threadsafe_future_unref(fut);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

/* Cancelled before the loop got to its start call: the task never runs.
 * (Two things see to that: the start call finds the future done, and the
 * cancel call posted after it cancels a task not yet started. Either one
 * alone passes this test.) */
static void test_cancelled_before_start_never_runs(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL, *other = NULL;
  atomic_int ran = 0, other_ran = 0;
  corio_loop *loop;
  void *r = NULL;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_run_coroutine_threadsafe(loop, marks_ran, &ran, &fut),
                   0);
  assert_int_equal(
      corio_run_coroutine_threadsafe(loop, marks_ran, &other_ran, &other), 0);
  assert_int_equal(corio_threadsafe_future_cancel(fut), 1);
  /* Run the loop (on this thread) long enough for any task to run. */
  for (int i = 0; i < 5; i++) {
    assert_int_equal(
        corio_loop_call_soon_threadsafe(loop, corio_loop_stop_cb, loop), 0);
    assert_int_equal(corio_loop_run_forever(loop), 0);
  }
  assert_int_equal(atomic_load(&ran), 0);
  assert_true(corio_threadsafe_future_cancelled(fut));
  assert_int_equal(corio_threadsafe_future_result(fut, 0, &r), -ECANCELED);
  /* The one beside it did run. */
  assert_int_equal(atomic_load(&other_ran), 1);
  assert_int_equal(corio_threadsafe_future_result(other, 0, &r), 0);
  assert_ptr_equal(r, &other_ran);
  corio_threadsafe_future_unref(fut);
  corio_threadsafe_future_unref(other);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

/* A task cancelled on its own loop (not through the future): the future
 * ends cancelled, with the cancellation's message. */
static int cancels_itself(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  (void)corio_task_cancel(corio_current_task(), "changed my mind");
  rc = corio_sleep(0);
  return rc < 0 ? rc : -EPROTO;
}

static void test_task_cancelled_on_its_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct bg b;
  const char *msg;
  (void)state;

  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, cancels_itself, NULL, &fut), 0);
  assert_int_equal(corio_threadsafe_future_result(fut, 5, NULL), -ECANCELED);
  assert_true(corio_threadsafe_future_cancelled(fut));
  msg = corio_threadsafe_future_message(fut);
  assert_non_null(msg);
  assert_string_equal(msg, "changed my mind");
  corio_threadsafe_future_unref(fut);
  bg_stop(&b);
  corio_test_assert_no_leak(before);
}

/* The task finishes in the loop's last iteration: its done callbacks
 * would run in the next one, which never comes (the loop stops, then
 * closes). The future still gets the task's real outcome. */
static int finishes_as_the_loop_stops(void *arg, void **result) {
  (void)arg;
  (void)corio_loop_stop(corio_loop_running());
  *result = CORIO_PTR(42);
  return 0;
}

static int fails_as_the_loop_stops(void *arg, void **result) {
  (void)arg;
  (void)result;
  (void)corio_loop_stop(corio_loop_running());
  return corio_fail(-ENOSPC, "full");
}

static void test_outcome_taken_when_the_loop_closes_first(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *ok = NULL, *bad = NULL;
  corio_loop *loop;
  void *r = NULL;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_run_coroutine_threadsafe(
                       loop, finishes_as_the_loop_stops, NULL, &ok),
                   0);
  assert_int_equal(
      corio_run_coroutine_threadsafe(loop, fails_as_the_loop_stops, NULL, &bad),
      0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_threadsafe_future_result(ok, 0, &r), 0);
  assert_ptr_equal(r, CORIO_PTR(42));
  assert_false(corio_threadsafe_future_cancelled(ok));
  assert_int_equal(corio_threadsafe_future_result(bad, 0, &r), -ENOSPC);
  assert_non_null(corio_threadsafe_future_message(bad));
  assert_string_equal(corio_threadsafe_future_message(bad), "full");
  corio_threadsafe_future_unref(ok);
  corio_threadsafe_future_unref(bad);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

/* Threads submitting, cancelling and waiting while the loop is stopped and
 * closed under them: every call is accepted or refused cleanly, every
 * accepted future ends (value, cancelled, or CORIO_ELOOPCLOSED), each
 * callback runs once, and nothing leaks. */
enum { SUBMITTERS = 4, KEPT = 64 };

struct submitter {
  corio_loop *loop;
  atomic_int *stop;
  atomic_int *accepted_total; /* of every submitter */
  pthread_t thread;
  corio_threadsafe_future *kept[KEPT];
  struct cb_record recs[KEPT];
  int nkept;
  long accepted, refused, bad;
};

static int short_nap(void *arg, void **result) {
  int rc = corio_sleep((double)((intptr_t)arg % 3) / 1000.0);

  if (rc < 0)
    return rc;
  *result = arg;
  return 0;
}

static void *submit_many(void *arg) {
  struct submitter *sb = arg;

  for (intptr_t i = 0; !atomic_load(sb->stop) || sb->refused < 10; i++) {
    corio_threadsafe_future *fut = NULL;
    int rc =
        corio_run_coroutine_threadsafe(sb->loop, short_nap, (void *)i, &fut);
    void *r = NULL;

    if (rc == CORIO_ELOOPCLOSED) {
      sb->refused++;
      continue;
    }
    if (rc != 0) {
      sb->bad++;
      break;
    }
    sb->accepted++;
    atomic_fetch_add(sb->accepted_total, 1);
    switch (i % 4) {
    case 0: /* cancel at once */
      if (corio_threadsafe_future_cancel(fut) < 0)
        sb->bad++;
      break;
    case 1: /* wait a little */
      rc = corio_threadsafe_future_result(fut, 0.002, &r);
      if (rc == 0 && r != (void *)i)
        sb->bad++;
      break;
    default:
      break;
    }
    if (sb->nkept < KEPT && i % 7 == 0) {
      /* Kept to the end, with a callback. */
      if (corio_threadsafe_future_add_done_callback(fut, record_callback,
                                                    &sb->recs[sb->nkept]) < 0)
        sb->bad++;
      sb->kept[sb->nkept++] = fut;
    } else {
      corio_threadsafe_future_unref(fut);
    }
  }
  return NULL;
}

static void test_submitters_racing_the_close(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct submitter *sb = calloc(SUBMITTERS, sizeof *sb);
  atomic_int stop = 0, accepted_total = 0;
  struct bg b;
  long accepted = 0;
  (void)state;

  assert_non_null(sb);
  bg_start(&b);
  for (int i = 0; i < SUBMITTERS; i++) {
    sb[i].loop = b.loop;
    sb[i].stop = &stop;
    sb[i].accepted_total = &accepted_total;
    assert_int_equal(pthread_create(&sb[i].thread, NULL, submit_many, &sb[i]),
                     0);
  }
  /* Under way, however slowly the threads get going: the close comes
   * once some submissions were accepted, with the submitters still at it
   * (they go on until refused 10 times). */
  assert_true(thread_wait_flag(&accepted_total, 8 * SUBMITTERS,
                               THREAD_TEST_PATIENCE_S));
  atomic_store(&stop, 1);
  /* Stopped from here, closed on its thread, with submissions in flight. */
  assert_int_equal(
      corio_loop_call_soon_threadsafe(b.loop, corio_loop_stop_cb, b.loop), 0);
  assert_int_equal(pthread_join(b.thread, NULL), 0);
  for (int i = 0; i < SUBMITTERS; i++) {
    assert_int_equal(pthread_join(sb[i].thread, NULL), 0);
    assert_int_equal(sb[i].bad, 0);
    assert_true(sb[i].refused >= 10);
    accepted += sb[i].accepted;
    for (int k = 0; k < sb[i].nkept; k++) {
      corio_threadsafe_future *fut = sb[i].kept[k];
      int rc = corio_threadsafe_future_result(fut, 0, NULL);

      /* Settled by the close at the latest. */
      assert_true(corio_threadsafe_future_done(fut));
      assert_true(rc == 0 || rc == -ECANCELED || rc == CORIO_ELOOPCLOSED);
      assert_int_equal(atomic_load(&sb[i].recs[k].calls), 1);
      corio_threadsafe_future_unref(fut);
    }
  }
  assert_true(accepted > 0);
  corio_loop_unref(b.loop);
  free(sb);
  corio_test_assert_no_leak(before);
}

/* The caller may let go of its reference while the task runs. */
static void test_caller_lets_go_early(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_threadsafe_future *fut = NULL;
  struct sleeper s;
  struct bg b;
  (void)state;

  sleeper_init(&s, 0.02, 1);
  bg_start(&b);
  assert_int_equal(
      corio_run_coroutine_threadsafe(b.loop, sleeper_task, &s, &fut), 0);
  corio_threadsafe_future_unref(fut);
  assert_true(thread_wait_flag(&s.finished, 1, THREAD_TEST_PATIENCE_S));
  bg_stop(&b);
  assert_int_equal(atomic_load(&s.seen_rc), 0);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_result_is_delivered, reset_checks),
      cmocka_unit_test_setup(test_task_error_and_its_message, reset_checks),
      cmocka_unit_test_setup(test_result_timeouts, reset_checks),
      cmocka_unit_test_setup(test_result_without_limit_blocks_until_done,
                             reset_checks),
      cmocka_unit_test_setup(test_every_blocked_reader_wakes, reset_checks),
      cmocka_unit_test_setup(test_cancel_cancels_the_task_on_its_loop,
                             reset_checks),
      cmocka_unit_test_setup(test_cancelled_future_stays_cancelled,
                             reset_checks),
      cmocka_unit_test_setup(test_cancel_after_done, reset_checks),
      cmocka_unit_test_setup(test_cancel_racing_completion, reset_checks),
      cmocka_unit_test_setup(test_done_callbacks, reset_checks),
      cmocka_unit_test_setup(test_result_on_its_own_loop_is_a_deadlock,
                             reset_checks),
      cmocka_unit_test_setup(test_result_from_the_loop_thread_is_refused,
                             reset_checks),
      cmocka_unit_test_setup(test_bad_input, reset_checks),
      cmocka_unit_test_setup(test_posting_to_a_closed_loop, reset_checks),
      cmocka_unit_test_setup(test_loop_closing_cancels_a_started_task,
                             reset_checks),
      cmocka_unit_test_setup(test_loop_closing_before_the_task_starts,
                             reset_checks),
      cmocka_unit_test_setup(test_cancelled_before_start_never_runs,
                             reset_checks),
      cmocka_unit_test_setup(test_task_cancelled_on_its_loop, reset_checks),
      cmocka_unit_test_setup(test_outcome_taken_when_the_loop_closes_first,
                             reset_checks),
      cmocka_unit_test_setup(test_submitters_racing_the_close, reset_checks),
      cmocka_unit_test_setup(test_caller_lets_go_early, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
