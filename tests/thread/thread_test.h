/* Helpers shared by the thread tests: a gate that holds pool threads until
 * the test opens it, bounded waits for flags set on other threads, and a
 * leak check that lets detached threads finish first. cmocka assertions
 * must not run on pool threads (they would longjmp across threads): jobs
 * record what they saw in atomics and the test checks it afterwards. */
#ifndef CORIO_THREAD_TEST_H
#define CORIO_THREAD_TEST_H

#include <pthread.h>
#include <stdatomic.h>

#include "../task/task_test.h"
#include "corio/combine.h"
#include "corio/thread.h"

/* Longest a gate or a wait holds before giving up, so that a bug fails a
 * test instead of hanging it. Never a time anything is expected to take:
 * Valgrind on a loaded machine made 5 s too short (the watchdog of
 * thread.loops fired with nothing wrong), so it is far above any run and
 * below ctest's 120 s timeout. */
#define THREAD_TEST_PATIENCE_S 60.0

static inline void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Closed until gate_open; gate_wait returns 0 once open, -ETIMEDOUT after
 * THREAD_TEST_PATIENCE_S. */
struct gate {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int open;
};

#define GATE_INIT                                                              \
  { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static inline void gate_open(struct gate *g) {
  pthread_mutex_lock(&g->lock);
  g->open = 1;
  pthread_cond_broadcast(&g->cond);
  pthread_mutex_unlock(&g->lock);
}

static inline int gate_wait(struct gate *g) {
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;
  int rc = 0;

  pthread_mutex_lock(&g->lock);
  while (!g->open) {
    if (wall_s() > deadline) {
      rc = -ETIMEDOUT;
      break;
    }
    pthread_mutex_unlock(&g->lock);
    sleep_ms(1);
    pthread_mutex_lock(&g->lock);
  }
  pthread_mutex_unlock(&g->lock);
  return rc;
}

/* From a task: sleeps on the loop until *flag >= value; 1 if it got there
 * within max_s seconds, else 0. */
static inline int task_wait_flag(atomic_int *flag, int value, double max_s) {
  double deadline = wall_s() + max_s;

  while (atomic_load(flag) < value) {
    if (wall_s() > deadline || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

/* From a plain thread (no loop): the same, blocking. */
static inline int thread_wait_flag(atomic_int *flag, int value, double max_s) {
  double deadline = wall_s() + max_s;

  while (atomic_load(flag) < value) {
    if (wall_s() > deadline)
      return 0;
    sleep_ms(1);
  }
  return 1;
}

/* corio_test_assert_no_leak once memory a detached pool thread or a late
 * job still holds has had time to go. */
static inline void assert_no_leak_soon(corio_test_usage before) {
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  for (;;) {
    corio_test_usage now = corio_test_usage_now();

    if ((now.allocations == before.allocations &&
         now.mapped_bytes == before.mapped_bytes) ||
        wall_s() > deadline)
      break;
    sleep_ms(1);
  }
  corio_test_assert_no_leak(before);
}

#endif
