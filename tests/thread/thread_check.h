/* For the thread tests whose checks run on loop threads: a first-failure
 * record any thread may write (cmocka's assertions must not), and a loop
 * running in a background thread. Not with task_check.h, whose CHECK_*
 * it replaces. */
#ifndef CORIO_THREAD_CHECK_H
#define CORIO_THREAD_CHECK_H

#include <stdio.h>

#include "thread_test.h"

/* ---- checks that may run on any thread ------------------------------------
 * A cmocka assertion must not fire on a loop thread or inside a task (it
 * would longjmp across threads or out of a coroutine): those record the
 * first failed check here, and the test asserts after joining. */

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  const char *file;
  int line;
  char text[320];
} failed;

static inline void check_int(long long got, long long want, const char *what,
                             const char *file, int line) {
  if (got == want)
    return;
  pthread_mutex_lock(&check_lock);
  if (!failed.line) {
    failed.file = file;
    failed.line = line;
    snprintf(failed.text, sizeof failed.text, "%s is %lld, expected %lld", what,
             got, want);
  }
  pthread_mutex_unlock(&check_lock);
}

#define CHECK_EQ(got, want)                                                    \
  check_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__)
#define CHECK_TRUE(cond) check_int(!!(cond), 1, #cond, __FILE__, __LINE__)

static inline int reset_checks(void **state) {
  (void)state;
  pthread_mutex_lock(&check_lock);
  failed.line = 0;
  failed.text[0] = 0;
  pthread_mutex_unlock(&check_lock);
  return 0;
}

static inline void assert_checks_passed(void) {
  pthread_mutex_lock(&check_lock);
  if (failed.line) {
    print_error("%s:%d: %s\n", failed.file, failed.line, failed.text);
    pthread_mutex_unlock(&check_lock);
    fail();
  }
  pthread_mutex_unlock(&check_lock);
}

/* ---- a loop running in a background thread ------------------------------- */

struct bg {
  corio_loop *loop;
  pthread_t thread;
  int run_rc;
  atomic_int reports; /* what the loop's exception handler was told */
};

static inline void count_report(corio_loop *loop, const corio_loop_error *e,
                                void *arg) {
  struct bg *b = arg;

  (void)loop;
  (void)e;
  atomic_fetch_add(&b->reports, 1);
}

/* Runs the loop until stopped, then closes it on its own thread: a loop
 * and what runs on it belong to the thread that runs it. */
static inline void *bg_main(void *arg) {
  struct bg *b = arg;

  b->run_rc = corio_loop_run_forever(b->loop);
  (void)corio_loop_close(b->loop);
  return NULL;
}

static inline void bg_start(struct bg *b) {
  b->run_rc = -1;
  atomic_init(&b->reports, 0);
  assert_int_equal(corio_loop_create(&b->loop), 0);
  /* A task pending at close is reported ("destroyed but pending"). */
  corio_loop_set_exception_handler(b->loop, count_report, b);
  assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
}

/* Stops the loop from this thread, as asyncio's
 * loop.call_soon_threadsafe(loop.stop) does, and waits until the thread
 * has closed it. */
static inline void bg_stop(struct bg *b) {
  assert_int_equal(
      corio_loop_call_soon_threadsafe(b->loop, corio_loop_stop_cb, b->loop), 0);
  assert_int_equal(pthread_join(b->thread, NULL), 0);
  assert_int_equal(b->run_rc, 0);
  assert_true(corio_loop_is_closed(b->loop));
  corio_loop_unref(b->loop);
}

#endif
