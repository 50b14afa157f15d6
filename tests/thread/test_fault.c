/* Fault injection over the thread layer: every allocation, every thread
 * creation and the loop's eventfd/epoll calls of runs that use to_thread,
 * run_in_executor, executors and run_coroutine_threadsafe fail in turn.
 * Each failure comes back as a clean error (or is tolerated where the API
 * says so: a message that cannot be copied is dropped, a pool thread that
 * cannot be started while another runs leaves the job to that one),
 * nothing leaks, and a clean run afterwards works.
 *
 * The fault counters are global, so calls made on pool threads or on a
 * second loop's thread would be counted in an order that depends on
 * scheduling, and the walk would not be repeatable. The walked runs are
 * therefore built so that the calls counted happen on the loop's thread
 * only: the functions run on pool threads allocate nothing (no corio_fail,
 * no formatting), each step is awaited before the next one starts (so the
 * loop thread does nothing while a job runs), and thread starts are made
 * deterministic (one to_thread call on the default executor; an explicit
 * executor whose jobs are held by a gate until all are submitted, so no
 * pool thread ever goes back to waiting in between). The last walk, across
 * two loops, cannot avoid a second thread allocating; it does not count
 * its points, and only requires that each failure is clean. */
#include <stdio.h>

#include "thread_test.h"

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

/* A value that came back wrong: never an acceptable outcome. */
#define WRONG (-ENOTRECOVERABLE)

#define STEP(call)                                                             \
  do {                                                                         \
    rc = (call);                                                               \
    if (rc < 0)                                                                \
      goto out;                                                                \
  } while (0)

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__,        \
              #cond);                                                          \
      rc = WRONG;                                                              \
      goto out;                                                                \
    }                                                                          \
  } while (0)

/* ---- checks for the walks ---------------------------------------------- */

/* CORIO_TEST_WALK_TRACE=1 shows what each injected failure returned. */
static void trace_rc(int rc) {
  if (getenv("CORIO_TEST_WALK_TRACE"))
    fprintf(stderr, "walk: rc %d (%s)\n", rc, rc ? corio_strerror(rc) : "ok");
}

static void out_of_memory_or_tolerated(int rc) {
  trace_rc(rc);
  if (rc != 0 && rc != -ENOMEM)
    print_error("unexpected rc %d (%s)\n", rc, corio_strerror(rc));
  assert_true(rc == 0 || rc == -ENOMEM);
}

static void no_thread_or_tolerated(int rc) {
  trace_rc(rc);
  if (rc != 0 && rc != -EAGAIN)
    print_error("unexpected rc %d (%s)\n", rc, corio_strerror(rc));
  assert_true(rc == 0 || rc == -EAGAIN);
}

/* In the run's walk the first two thread starts are the first thread of
 * each executor: nothing else could run the job, so -EAGAIN. Later ones
 * (the helper corio_run starts to join the default executor's threads
 * while the loop runs) may be tolerated. */
static int thread_walk_calls;

static void first_threads_then_tolerated(int rc) {
  trace_rc(rc);
  if (++thread_walk_calls <= 2)
    assert_int_equal(rc, -EAGAIN);
  else
    assert_true(rc == 0 || rc == -EAGAIN);
}

static void negative_not_wrong(int rc) {
  trace_rc(rc);
  assert_true(rc <= 0);
  assert_int_not_equal(rc, WRONG);
}

/* ---- bodies (pool functions allocate nothing) ------------------------------ */

static int add_one(void *arg, void **result) {
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

static int fails_plainly(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -EXDEV;
}

static atomic_int gate_open_flag;

/* Held until gate_open_flag (bounded), without allocating. */
static int gated_add_one(void *arg, void **result) {
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  while (!atomic_load(&gate_open_flag)) {
    if (wall_s() > deadline)
      return -ETIMEDOUT;
    sleep_ms(1);
  }
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

static int child(void *arg, void **result) {
  int rc = corio_sleep(0);

  if (rc < 0)
    return rc;
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

/* A completion lost on some failure path must fail the walk, not hang it:
 * the watchdog cancels the task it watches after THREAD_TEST_PATIENCE_S
 * (its allocations are the loop thread's, like the rest). */
static int watchdog_task(void *arg, void **result) {
  int rc;

  (void)result;
  /* Its own timer may be the allocation the walk fails: it tries again. */
  while ((rc = corio_sleep(THREAD_TEST_PATIENCE_S)) == -ENOMEM) {
  }
  if (rc == 0) {
    fprintf(stderr, "watchdog: a wait never ended\n");
    (void)corio_task_cancel(arg, "watchdog");
    return WRONG;
  }
  return 0;
}

static int watch_me(corio_task **dog) {
  return corio_spawn(dog, watchdog_task, corio_current_task());
}

/* WRONG if the watchdog fired, else rc. */
static int unwatch(corio_task *dog, int rc) {
  if (!dog)
    return rc;
  (void)corio_task_cancel(dog, NULL);
  if (corio_await(dog, NULL) == WRONG)
    rc = WRONG;
  corio_task_unref(dog);
  return rc;
}

/* ---- a whole corio_run --------------------------------------------------- */

static int scenario(void *arg, void **result) {
  corio_executor *ex = NULL;
  corio_future *f = NULL;
  corio_threadsafe_future *tsf = NULL;
  corio_task *dog = NULL;
  void *r = NULL;
  int rc;

  (void)arg;
  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet, NULL);
  STEP(watch_me(&dog));
  /* to_thread on the loop's default executor (created now). */
  STEP(corio_to_thread(add_one, CORIO_PTR(1), &r));
  EXPECT(r == CORIO_PTR(2));
  /* run_in_executor on an executor of its own, with one thread (a second
   * to_thread could start a second default thread, or not, depending on
   * whether the first was back to waiting yet). */
  STEP(corio_executor_create(&ex, 1));
  STEP(corio_run_in_executor(NULL, ex, add_one, CORIO_PTR(10), &f));
  STEP(corio_future_await(f, &r));
  EXPECT(r == CORIO_PTR(11));
  corio_future_unref(f);
  f = NULL;
  /* A job's error comes back as the future's. */
  STEP(corio_run_in_executor(NULL, ex, fails_plainly, NULL, &f));
  rc = corio_future_await(f, &r);
  if (rc >= 0)
    rc = WRONG;
  if (rc != -EXDEV)
    goto out;
  corio_future_unref(f);
  f = NULL;
  /* run_coroutine_threadsafe to its own loop, awaited. */
  STEP(corio_run_coroutine_threadsafe(corio_loop_running(), child,
                                      CORIO_PTR(20), &tsf));
  STEP(corio_threadsafe_future_await(tsf, &r));
  EXPECT(r == CORIO_PTR(21));
  EXPECT(corio_threadsafe_future_done(tsf));
  rc = 0;
out:
  corio_future_unref(f);
  corio_threadsafe_future_unref(tsf);
  if (ex)
    (void)corio_executor_free(ex);
  return unwatch(dog, rc);
}

static void test_walk_a_run(void **state) {
  long walked;
  (void)state;

  /* Allocations: runner, loop, task state, the thread layer's state, the
   * default executor and its thread table, jobs, futures, contexts, the
   * thread-safe future, the wait, callback arrays... */
  walked = walk_run(CORIO__FAULT_ALLOC, scenario, out_of_memory_or_tolerated);
  assert_true(walked >= 15);
  /* Two pool threads start, in this order: the default executor's for
   * to_thread, and the executor's own. Neither has another thread to fall
   * back on. */
  thread_walk_calls = 0;
  walked = walk_run(CORIO__FAULT_THREAD_CREATE, scenario,
                    first_threads_then_tolerated);
  assert_true(walked >= 2);
  /* The loop's own fds, where corio_run creates it. */
  walked = walk_run(CORIO__FAULT_EVENTFD, scenario, negative_not_wrong);
  assert_true(walked >= 1);
  walked = walk_run(CORIO__FAULT_EPOLL_CTL, scenario, negative_not_wrong);
  assert_true(walked >= 1);
  walked = walk_run(CORIO__FAULT_EPOLL_CREATE, scenario, negative_not_wrong);
  assert_true(walked >= 1);
  /* No corruption left behind. */
  assert_int_equal(run_main(scenario, NULL), 0);
}

/* ---- an executor and a loop driven by hand ------------------------------- */

enum { JOBS = 3 };

static int executor_op(void *ctx) {
  corio_future *f[JOBS] = {NULL};
  corio_executor *ex = NULL;
  corio_loop *loop = NULL;
  void *r;
  int rc;

  (void)ctx;
  atomic_store(&gate_open_flag, 0);
  rc = corio_loop_create(&loop);
  if (rc < 0)
    return rc;
  corio_loop_set_exception_handler(loop, quiet, NULL);
  STEP(corio_executor_create(&ex, 2));
  EXPECT(corio_executor_max_workers(ex) == 2);
  /* While the gate is shut no pool thread goes back to waiting: the
   * first two jobs start one thread each, the third queues. */
  for (int i = 0; i < JOBS; i++)
    STEP(corio_run_in_executor(loop, ex, gated_add_one, CORIO_PTR(10 * i),
                               &f[i]));
  atomic_store(&gate_open_flag, 1);
  for (int i = 0; i < JOBS; i++) {
    r = NULL;
    STEP(corio_run_until_complete(loop, f[i], &r));
    EXPECT(r == CORIO_PTR(10 * i + 1));
  }
  EXPECT(corio_executor_threads(ex) >= 1 && corio_executor_threads(ex) <= 2);
  rc = 0;
out:
  atomic_store(&gate_open_flag, 1);
  for (int i = 0; i < JOBS; i++)
    corio_future_unref(f[i]);
  if (ex)
    (void)corio_executor_free(ex);
  (void)corio_loop_close(loop);
  corio_loop_unref(loop);
  return rc;
}

static void test_walk_an_executor(void **state) {
  long walked;
  (void)state;

  walked = corio_test_fault_walk(CORIO__FAULT_ALLOC, executor_op, NULL,
                                 out_of_memory_or_tolerated);
  assert_true(walked >= 8);
  /* The first thread failing fails the first submit (-EAGAIN); the second
   * failing is tolerated: the first thread runs every job. */
  walked = corio_test_fault_walk(CORIO__FAULT_THREAD_CREATE, executor_op, NULL,
                                 no_thread_or_tolerated);
  assert_int_equal(walked, 2);
  walked = corio_test_fault_walk(CORIO__FAULT_EVENTFD, executor_op, NULL,
                                 negative_not_wrong);
  assert_true(walked >= 1);
  walked = corio_test_fault_walk(CORIO__FAULT_EPOLL_CTL, executor_op, NULL,
                                 negative_not_wrong);
  assert_true(walked >= 1);
  assert_int_equal(executor_op(NULL), 0);
}

/* Executor creation alone. */
static int create_op(void *ctx) {
  corio_executor *ex = NULL;
  int rc = corio_executor_create(&ex, 3);

  (void)ctx;
  if (rc < 0)
    return rc;
  rc = corio_executor_free(ex);
  return rc;
}

static void test_walk_executor_create(void **state) {
  (void)state;

  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_ALLOC, create_op, NULL,
                                         corio_test_negative),
                   2); /* the executor, its thread table */
  assert_int_equal(create_op(NULL), 0);
}

/* ---- thread creation failing with no thread running ------------------- */

static int no_thread_can_start(void *arg, void **result) {
  corio_executor *ex = NULL;
  corio_future *f = CORIO_PTR(1), *g = NULL;
  void *r = NULL;
  int rc, fail = 0;

  (void)arg;
  (void)result;
  /* The default executor's first thread. */
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
  rc = corio_to_thread(add_one, CORIO_PTR(1), &r);
  fail |= !corio__fault_fired(CORIO__FAULT_THREAD_CREATE);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
  fail |= rc != -EAGAIN;
  fail |= r != NULL;
  /* Nothing was left behind: the next call starts a thread and works. */
  rc = corio_to_thread(add_one, CORIO_PTR(1), &r);
  fail |= rc != 0 || r != CORIO_PTR(2);

  /* An executor of one's own: run_in_executor says -EAGAIN, out as was. */
  rc = corio_executor_create(&ex, 2);
  if (rc < 0)
    return rc;
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
  rc = corio_run_in_executor(NULL, ex, add_one, CORIO_PTR(5), &f);
  fail |= !corio__fault_fired(CORIO__FAULT_THREAD_CREATE);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
  fail |= rc != -EAGAIN;
  fail |= f != CORIO_PTR(1);
  fail |= corio_executor_threads(ex) != 0;
  /* With a thread busy, another that cannot start is no error: the busy
   * one takes the job when it is free. */
  atomic_store(&gate_open_flag, 0);
  rc = corio_run_in_executor(NULL, ex, gated_add_one, CORIO_PTR(6), &f);
  fail |= rc != 0;
  if (rc == 0) {
    corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
    rc = corio_run_in_executor(NULL, ex, add_one, CORIO_PTR(7), &g);
    fail |= !corio__fault_fired(CORIO__FAULT_THREAD_CREATE);
    corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
    fail |= rc != 0;
    fail |= corio_executor_threads(ex) != 1;
    atomic_store(&gate_open_flag, 1);
    fail |= corio_future_await(f, &r) != 0 || r != CORIO_PTR(7);
    if (rc == 0)
      fail |= corio_future_await(g, &r) != 0 || r != CORIO_PTR(8);
    corio_future_unref(f);
    corio_future_unref(g);
  }
  atomic_store(&gate_open_flag, 1);
  (void)corio_executor_free(ex);
  return fail ? WRONG : 0;
}

static void test_thread_creation_failure_is_eagain(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(no_thread_can_start, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* ---- across two loops ----------------------------------------------------
 * Loop B runs in a thread of its own, so its allocations (the started
 * task) interleave with A's: the number of points is not fixed, but every
 * injected failure must still be clean. */

struct two_loops {
  corio_loop *b;
};

static void *run_b(void *arg) {
  corio_loop *b = arg;

  (void)corio_loop_run_forever(b);
  (void)corio_loop_close(b);
  return NULL;
}

static int on_a(void *arg, void **result) {
  struct two_loops *tl = arg;
  corio_threadsafe_future *fut = NULL;
  corio_task *dog = NULL;
  void *r = NULL;
  int rc;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet, NULL);
  STEP(watch_me(&dog));
  STEP(corio_run_coroutine_threadsafe(tl->b, child, CORIO_PTR(40), &fut));
  STEP(corio_threadsafe_future_await(fut, &r));
  EXPECT(r == CORIO_PTR(41));
out:
  corio_threadsafe_future_unref(fut);
  return unwatch(dog, rc);
}

static int two_loops_op(void *ctx) {
  struct two_loops tl = {NULL};
  pthread_t t;
  int rc, stop_rc;

  (void)ctx;
  rc = corio_loop_create(&tl.b);
  if (rc < 0)
    return rc;
  corio_loop_set_exception_handler(tl.b, quiet, NULL);
  if (pthread_create(&t, NULL, run_b, tl.b) != 0) {
    corio_loop_unref(tl.b);
    return WRONG;
  }
  rc = corio_run(on_a, &tl, NULL);
  /* Posting the stop may fail for memory once (the walk fails one call):
   * then it is posted again. */
  while ((stop_rc = corio_loop_call_soon_threadsafe(tl.b, corio_loop_stop_cb,
                                                    tl.b)) == -ENOMEM) {
  }
  if (stop_rc < 0 && rc == 0)
    rc = WRONG;
  pthread_join(t, NULL);
  corio_loop_unref(tl.b);
  return rc;
}

static void test_walk_across_two_loops(void **state) {
  (void)state;

  assert_true(corio_test_fault_walk(CORIO__FAULT_ALLOC, two_loops_op, NULL,
                                    out_of_memory_or_tolerated) >= 10);
  assert_true(corio_test_fault_walk(CORIO__FAULT_EVENTFD, two_loops_op, NULL,
                                    negative_not_wrong) >= 2);
  assert_int_equal(two_loops_op(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_a_run),
      cmocka_unit_test(test_walk_an_executor),
      cmocka_unit_test(test_walk_executor_create),
      cmocka_unit_test(test_thread_creation_failure_is_eagain),
      cmocka_unit_test(test_walk_across_two_loops),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
