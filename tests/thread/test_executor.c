/* The executor: its size, threads started on demand up to max_workers,
 * jobs in submission order, shutdown (waiting, not waiting, cancelling
 * what is queued, twice), free from one of its own threads, the loop's
 * default executor, and corio_run shutting it down at exit. */
#include <sched.h>

#include "../task/task_check.h"
#include "thread/thread_internal.h"
#include "thread_test.h"

/* A job that records how it ran: in which order it started, how many
 * jobs ran at once, and whether it started and finished. */
struct order {
  atomic_int n;
  int seq[16];
};

struct probe {
  int index;
  struct gate *gate; /* waited on first, if set */
  atomic_int *hold;  /* or waited for until it is set */
  int sleep_ms;      /* then slept */
  atomic_int *running, *peak;
  struct order *order;
  atomic_int started, done;
};

static void probe_init(struct probe *p, int index) {
  memset(p, 0, sizeof *p);
  p->index = index;
  atomic_init(&p->started, 0);
  atomic_init(&p->done, 0);
}

static int probe_fn(void *arg, void **result) {
  struct probe *p = arg;

  if (p->order) {
    int i = atomic_fetch_add(&p->order->n, 1);
    if (i < 16)
      p->order->seq[i] = p->index;
  }
  if (p->running) {
    int now = atomic_fetch_add(p->running, 1) + 1;
    int peak = atomic_load(p->peak);
    while (now > peak && !atomic_compare_exchange_weak(p->peak, &peak, now)) {
    }
  }
  atomic_store(&p->started, 1);
  if (p->gate)
    (void)gate_wait(p->gate);
  if (p->hold)
    (void)thread_wait_flag(p->hold, 1, THREAD_TEST_PATIENCE_S);
  if (p->sleep_ms)
    sleep_ms(p->sleep_ms);
  if (p->running)
    atomic_fetch_sub(p->running, 1);
  atomic_store(&p->done, 1);
  *result = CORIO_PTR(100 + p->index);
  return 0;
}

/* Awaits a job's future and checks it ended with probe_fn's result. */
static void check_probe_result(corio_future *f, int index) {
  void *r = NULL;

  CHECK_EQ(corio_future_await(f, &r), 0);
  CHECK_EQ(CORIO_INT(r), 100 + index);
}

/* Discarded results: the callback may run on a pool thread. */
static atomic_int discards;
static atomic_intptr_t discarded;

static void count_discard(void *result) {
  atomic_store(&discarded, (intptr_t)result);
  atomic_fetch_add(&discards, 1);
}

/* ---- size ---------------------------------------------------------------- */

static void test_sizes(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_executor *ex = NULL;
  cpu_set_t set, one;
  unsigned cpus, expected;
  int first = -1;
  (void)state;

  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  cpus = (unsigned)CPU_COUNT(&set);
  expected = cpus + 4 < 32 ? cpus + 4 : 32;
  assert_int_equal(corio_executor_default_workers(), expected);
  /* Usable CPUs, not online ones: pinned to one CPU it is 1 + 4. */
  for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
    if (CPU_ISSET(i, &set))
      first = i;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
  assert_int_equal(corio_executor_default_workers(), 5);
  assert_int_equal(sched_setaffinity(0, sizeof set, &set), 0);

  /* 0 is the default; threads start on demand: none yet. */
  assert_int_equal(corio_executor_create(&ex, 0), 0);
  assert_int_equal(corio_executor_max_workers(ex), expected);
  assert_int_equal(corio_executor_threads(ex), 0);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_executor_max_workers(ex), 1);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(corio_executor_create(&ex, 1024), 0);
  assert_int_equal(corio_executor_max_workers(ex), 1024);
  assert_int_equal(corio_executor_threads(ex), 0);
  assert_int_equal(corio_executor_free(ex), 0);

  assert_int_equal(corio_executor_create(&ex, 1025), -EINVAL);
  assert_int_equal(corio_executor_create(&ex, 100000), -EINVAL);
  assert_int_equal(corio_executor_create(NULL, 4), -EINVAL);
  assert_int_equal(corio_executor_create(NULL, 0), -EINVAL);
  assert_int_equal(corio_executor_max_workers(NULL), 0);
  assert_int_equal(corio_executor_threads(NULL), 0);
  assert_int_equal(corio_executor_free(NULL), -EINVAL);
  assert_int_equal(corio_executor_shutdown(NULL, 0), -EINVAL);
  corio_test_assert_no_leak(before);
}

/* ---- threads on demand --------------------------------------------------- */

/* Five jobs that block on a gate, max_workers 2: two threads start, two
 * jobs run, the other three wait in the queue. */
static int bounded_main(void *arg, void **result) {
  corio_executor *ex;
  struct gate gate = GATE_INIT;
  atomic_int running, peak;
  struct probe p[5];
  corio_future *f[5];

  (void)arg;
  (void)result;
  atomic_init(&running, 0);
  atomic_init(&peak, 0);
  CHECK_EQ(corio_executor_create(&ex, 2), 0);
  CHECK_EQ(corio_executor_threads(ex), 0);
  for (int i = 0; i < 5; i++) {
    probe_init(&p[i], i);
    p[i].gate = &gate;
    p[i].running = &running;
    p[i].peak = &peak;
    CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p[i], &f[i]), 0);
    /* The first job starts a thread at once. */
    CHECK_TRUE(corio_executor_threads(ex) >= 1);
    CHECK_TRUE(corio_executor_threads(ex) <= 2);
  }
  CHECK_TRUE(task_wait_flag(&running, 2, THREAD_TEST_PATIENCE_S));
  /* Time enough for a third job to start, were it allowed to. */
  CHECK_EQ(corio_sleep(0.03), 0);
  CHECK_EQ(atomic_load(&running), 2);
  CHECK_EQ(corio_executor_threads(ex), 2);
  for (int i = 2; i < 5; i++)
    CHECK_EQ(atomic_load(&p[i].started), 0);
  gate_open(&gate);
  for (int i = 0; i < 5; i++) {
    check_probe_result(f[i], i);
    CHECK_EQ(atomic_load(&p[i].done), 1);
    corio_future_unref(f[i]);
  }
  CHECK_EQ(atomic_load(&peak), 2);
  CHECK_EQ(corio_executor_threads(ex), 2);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_threads_bounded(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(bounded_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* A thread that is free takes the next job: one after another, jobs need
 * one thread however large the pool may grow.
 *
 * "Free" means back in its wait for work: a job's outcome reaches the
 * loop a moment before its thread gets there, so the test waits until
 * the executor counts the thread as waiting before the next job. */
static int wait_until_idle(corio_executor *ex, unsigned threads) {
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  while (corio__executor_waiting(ex) < threads)
    if (wall_s() > deadline || corio_sleep(0.001) < 0)
      return -ETIMEDOUT;
  return 0;
}

static int reuse_main(void *arg, void **result) {
  corio_executor *ex = NULL;
  struct probe p;
  corio_future *f;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_executor_create(&ex, 4);
  CHECK_EQ(rc, 0);
  if (rc < 0)
    return 0;
  for (int i = 0; i < 3; i++) {
    probe_init(&p, i);
    rc = corio_run_in_executor(NULL, ex, probe_fn, &p, &f);
    CHECK_EQ(rc, 0);
    if (rc < 0)
      break;
    check_probe_result(f, i);
    corio_future_unref(f);
    CHECK_EQ(wait_until_idle(ex, 1), 0);
  }
  /* The free thread took every job: no second one was started. */
  CHECK_EQ(corio_executor_threads(ex), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_idle_thread_reused(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(reuse_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* One worker: jobs start in the order they were submitted. */
static int fifo_main(void *arg, void **result) {
  enum { N = 8 };
  corio_executor *ex;
  struct gate gate = GATE_INIT;
  struct order order;
  struct probe p[N];
  corio_future *f[N];

  (void)arg;
  (void)result;
  memset(&order, 0, sizeof order);
  atomic_init(&order.n, 0);
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  for (int i = 0; i < N; i++) {
    probe_init(&p[i], i);
    p[i].order = &order;
  }
  /* The first holds the only thread while the others queue up. */
  p[0].gate = &gate;
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p[0], &f[0]), 0);
  CHECK_TRUE(task_wait_flag(&p[0].started, 1, THREAD_TEST_PATIENCE_S));
  for (int i = 1; i < N; i++)
    CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p[i], &f[i]), 0);
  gate_open(&gate);
  for (int i = 0; i < N; i++) {
    check_probe_result(f[i], i);
    corio_future_unref(f[i]);
  }
  CHECK_EQ(atomic_load(&order.n), N);
  for (int i = 0; i < N; i++)
    CHECK_EQ(order.seq[i], i);
  CHECK_EQ(corio_executor_threads(ex), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_fifo_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(fifo_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* No thread can start: -EAGAIN, nothing queued; with a thread running
 * already, the job waits for it instead. */
static int start_failure_main(void *arg, void **result) {
  corio_executor *ex;
  struct gate gate = GATE_INIT;
  struct probe a, b;
  corio_future *fa = NULL, *fb = NULL;

  (void)arg;
  (void)result;
  probe_init(&a, 0);
  probe_init(&b, 1);
  a.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 2), 0);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &a, &fa), -EAGAIN);
  CHECK_TRUE(corio__fault_fired(CORIO__FAULT_THREAD_CREATE));
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
  CHECK_EQ(corio_executor_threads(ex), 0);

  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &a, &fa), 0);
  CHECK_TRUE(task_wait_flag(&a.started, 1, THREAD_TEST_PATIENCE_S));
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &b, &fb), 0);
  CHECK_TRUE(corio__fault_fired(CORIO__FAULT_THREAD_CREATE));
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
  CHECK_EQ(corio_executor_threads(ex), 1);
  gate_open(&gate);
  if (fa) {
    check_probe_result(fa, 0);
    corio_future_unref(fa);
  }
  if (fb) {
    check_probe_result(fb, 1);
    corio_future_unref(fb);
  }
  CHECK_EQ(atomic_load(&b.done), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_thread_start_failure(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(start_failure_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- shutdown ------------------------------------------------------------ */

static int after_shutdown_main(void *arg, void **result) {
  corio_executor *ex;
  struct probe p;
  corio_future *f = NULL;

  (void)arg;
  (void)result;
  probe_init(&p, 0);
  CHECK_EQ(corio_executor_create(&ex, 2), 0);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p, &f),
           CORIO_EEXECUTORSHUTDOWN);
  CHECK_EQ(corio_executor_threads(ex), 0);
  /* As the loop's default executor, to_thread is refused too. */
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), ex), 0);
  CHECK_EQ(corio_to_thread(probe_fn, &p, NULL), CORIO_EEXECUTORSHUTDOWN);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, probe_fn, &p, &f),
           CORIO_EEXECUTORSHUTDOWN);
  CHECK_EQ(atomic_load(&p.started), 0);
  CHECK_EQ(corio_executor_free(ex), 0); /* the loop keeps its reference */
  return 0;
}

static void test_submit_after_shutdown(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(after_shutdown_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* shutdown(0) returns once the running job and the one queued behind it
 * have finished; their outcomes reach the loop, which still runs. */
static int shutdown_waits_main(void *arg, void **result) {
  corio_executor *ex;
  struct probe a, b, c;
  corio_future *fa, *fb, *fc = NULL;

  (void)arg;
  (void)result;
  probe_init(&a, 0);
  probe_init(&b, 1);
  probe_init(&c, 2);
  a.sleep_ms = 60;
  b.sleep_ms = 10;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &a, &fa), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &b, &fb), 0);
  CHECK_TRUE(task_wait_flag(&a.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&a.done), 1);
  CHECK_EQ(atomic_load(&b.done), 1);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &c, &fc),
           CORIO_EEXECUTORSHUTDOWN);
  check_probe_result(fa, 0);
  check_probe_result(fb, 1);
  corio_future_unref(fa);
  corio_future_unref(fb);
  CHECK_EQ(atomic_load(&c.started), 0);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_shutdown_waits(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_waits_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* CANCEL_PENDING | NOWAIT: returns at once with the running job still
 * blocked; the queued jobs never run and their futures end cancelled. */
static int cancel_pending_nowait_main(void *arg, void **result) {
  corio_executor *ex;
  struct gate gate = GATE_INIT;
  struct probe a, b, c;
  corio_future *fa, *fb, *fc;

  (void)arg;
  (void)result;
  probe_init(&a, 0);
  probe_init(&b, 1);
  probe_init(&c, 2);
  a.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &a, &fa), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &b, &fb), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &c, &fc), 0);
  CHECK_TRUE(task_wait_flag(&a.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT |
                                           CORIO_EXECUTOR_CANCEL_PENDING),
           0);
  CHECK_EQ(atomic_load(&a.done), 0);
  CHECK_EQ(corio_future_await(fb, NULL), -ECANCELED);
  CHECK_TRUE(corio_future_cancelled(fb));
  CHECK_EQ(corio_future_await(fc, NULL), -ECANCELED);
  CHECK_TRUE(corio_future_cancelled(fc));
  CHECK_EQ(atomic_load(&a.done), 0);
  gate_open(&gate);
  check_probe_result(fa, 0);
  corio_future_unref(fa);
  corio_future_unref(fb);
  corio_future_unref(fc);
  CHECK_EQ(corio_executor_free(ex), 0);
  CHECK_EQ(atomic_load(&b.started), 0);
  CHECK_EQ(atomic_load(&c.started), 0);
  return 0;
}

static void test_cancel_pending_nowait(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  atomic_store(&discards, 0);
  assert_int_equal(run_main(cancel_pending_nowait_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* CANCEL_PENDING alone: waits for the running job; the queued one never
 * runs, and a job that never ran has no result to discard. The running
 * job is held by a gate that a helper thread opens once the loop's thread
 * is inside the shutdown, past taking the queued job out (were the gate
 * opened before, the one thread would take the queued job next). The
 * helper sees it when the executor refuses a job of its own, submitted
 * for a loop of its own: shutdown starts refusing under the same lock as
 * it empties the queue. Until then the helper's jobs queue up behind the
 * held one, on the one busy thread, and cancelling their futures takes
 * them out of the queue at once: none of them runs. */
struct opener {
  corio_executor *ex;
  struct gate *gate;
  struct probe probe; /* the helper's jobs */
  int rc;             /* 0 once a job was refused, else why it gave up */
};

static void *open_after_shutdown(void *arg) {
  struct opener *o = arg;
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;
  corio_loop *loop = NULL;

  o->rc = corio_loop_create(&loop);
  while (o->rc == 0) {
    corio_future *f = NULL;
    int rc = corio_run_in_executor(loop, o->ex, probe_fn, &o->probe, &f);

    if (rc == CORIO_EEXECUTORSHUTDOWN)
      break;
    if (rc < 0) {
      o->rc = rc;
      break;
    }
    (void)corio_future_cancel(f, NULL);
    corio_future_unref(f);
    if (wall_s() > deadline)
      o->rc = -ETIMEDOUT;
    else
      sleep_ms(1);
  }
  if (loop) {
    (void)corio_loop_close(loop);
    corio_loop_unref(loop);
  }
  gate_open(o->gate);
  return NULL;
}

static atomic_int releases;

static void count_release(void *arg) {
  (void)arg;
  atomic_fetch_add(&releases, 1);
}

static int cancel_pending_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard,
                               .release = count_release};
  struct gate gate = GATE_INIT;
  corio_executor *ex;
  struct probe a, b;
  struct opener opener;
  corio_future *fa, *fb;
  pthread_t helper;

  (void)arg;
  (void)result;
  probe_init(&a, 0);
  probe_init(&b, 1);
  a.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  opener.ex = ex;
  opener.gate = &gate;
  probe_init(&opener.probe, 2);
  opener.rc = 1;
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, probe_fn, &a, &options, &fa), 0);
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, probe_fn, &b, &options, &fb), 0);
  CHECK_TRUE(task_wait_flag(&a.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(pthread_create(&helper, NULL, open_after_shutdown, &opener), 0);
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_CANCEL_PENDING), 0);
  CHECK_EQ(atomic_load(&a.done), 1);
  pthread_join(helper, NULL);
  CHECK_EQ(opener.rc, 0);
  CHECK_EQ(atomic_load(&opener.probe.started), 0);
  CHECK_EQ(corio_future_await(fb, NULL), -ECANCELED);
  CHECK_TRUE(corio_future_cancelled(fb));
  check_probe_result(fa, 0);
  corio_future_unref(fa);
  corio_future_unref(fb);
  CHECK_EQ(corio_executor_free(ex), 0);
  CHECK_EQ(atomic_load(&b.started), 0);
  CHECK_EQ(atomic_load(&discards), 0);
  return 0;
}

static void test_cancel_pending_waits(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  atomic_store(&discards, 0);
  atomic_store(&releases, 0);
  assert_int_equal(run_main(cancel_pending_main, NULL), 0);
  assert_checks_passed();
  /* Released once each, once both sides let go: the job that ran and the
   * one skipped. */
  assert_int_equal(atomic_load(&releases), 2);
  corio_test_assert_no_leak(before);
}

/* release is called exactly once whatever becomes of the job: after it
 * ran, when a cancel withdrew it from the queue, and when its loop was
 * closed with it queued; never when submitting failed. */
static void test_release_once(void **state) {
  corio_job_options options = {.release = count_release};
  corio_test_usage before = corio_test_usage_now();
  struct gate gate = GATE_INIT;
  struct probe held, queued, dropped;
  corio_executor *ex;
  corio_loop *loop;
  corio_future *fh, *fq, *fd;

  (void)state;
  atomic_store(&releases, 0);
  probe_init(&held, 0);
  probe_init(&queued, 1);
  probe_init(&dropped, 2);
  held.gate = &gate;
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, probe_fn, &held, &options, &fh), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, probe_fn, &queued, &options, &fq), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, probe_fn, &dropped, &options, &fd), 0);
  assert_true(thread_wait_flag(&held.started, 1, THREAD_TEST_PATIENCE_S));
  /* Withdrawn from the queue (the loop side lets go when the loop
   * closes: its callbacks never ran). */
  assert_int_equal(corio_future_cancel(fq, NULL), 1);
  corio_future_unref(fq);
  assert_int_equal(atomic_load(&releases), 0);
  /* The loop closes with one job running and one queued. */
  assert_int_equal(corio_loop_close(loop), 0);
  gate_open(&gate);
  corio_future_unref(fh);
  corio_future_unref(fd);
  corio_loop_unref(loop);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(atomic_load(&queued.started), 0);
  assert_int_equal(atomic_load(&releases), 3);
  /* A refused submission leaves arg to the caller. */
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_executor_shutdown(ex, 0), 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, probe_fn, &held, &options, &fh),
      CORIO_EEXECUTORSHUTDOWN);
  assert_int_equal(atomic_load(&releases), 3);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_unref(loop);
  assert_int_equal(corio_executor_free(ex), 0);
  corio_test_assert_no_leak(before);
}

/* Unknown flags are refused and change nothing; shutting down again, with
 * any flags, is harmless. */
static int flags_main(void *arg, void **result) {
  corio_executor *ex;
  struct probe p;
  corio_future *f;

  (void)arg;
  (void)result;
  probe_init(&p, 0);
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_executor_shutdown(ex, 1u << 2), -EINVAL);
  CHECK_EQ(corio_executor_shutdown(ex, ~0u), -EINVAL);
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_CANCEL_PENDING | 8u),
           -EINVAL);
  /* Still open. */
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p, &f), 0);
  check_probe_result(f, 0);
  corio_future_unref(f);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT), 0);
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT |
                                           CORIO_EXECUTOR_CANCEL_PENDING),
           0);
  CHECK_EQ(corio_executor_free(ex), 0);
  /* NOWAIT first, then a waiting one, then free. */
  probe_init(&p, 1);
  p.sleep_ms = 30;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, probe_fn, &p, &f), 0);
  CHECK_TRUE(task_wait_flag(&p.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT), 0);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&p.done), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  check_probe_result(f, 1);
  corio_future_unref(f);
  return 0;
}

static void test_flags_and_twice(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(flags_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- free from one of its own threads ------------------------------------ */

struct own {
  corio_executor *ex;
  struct gate *gate;
  int shutdown_rc, free_rc;
  atomic_int started, done;
};

static int free_own_fn(void *arg, void **result) {
  struct own *o = arg;

  /* Waiting for itself would never end. */
  o->shutdown_rc = corio_executor_shutdown(o->ex, 0);
  o->free_rc = corio_executor_free(o->ex);
  atomic_store(&o->done, 1);
  *result = CORIO_PTR(5);
  return 0;
}

static int own_blocked_fn(void *arg, void **result) {
  struct own *o = arg;

  atomic_store(&o->started, 1);
  (void)gate_wait(o->gate);
  atomic_store(&o->done, 1);
  *result = CORIO_PTR(6);
  return 0;
}

static int free_own_main(void *arg, void **result) {
  struct gate gate = GATE_INIT;
  struct own o, other;
  corio_executor *ex;
  corio_future *f, *fo;
  void *r = NULL;

  (void)arg;
  (void)result;
  memset(&o, 0, sizeof o);
  memset(&other, 0, sizeof other);
  atomic_init(&o.done, 0);
  atomic_init(&other.started, 0);
  atomic_init(&other.done, 0);
  CHECK_EQ(corio_executor_create(&ex, 2), 0);
  o.ex = ex;
  other.gate = &gate;
  /* Another thread of the pool is busy while the first frees it. */
  CHECK_EQ(corio_run_in_executor(NULL, ex, own_blocked_fn, &other, &fo), 0);
  CHECK_TRUE(task_wait_flag(&other.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_run_in_executor(NULL, ex, free_own_fn, &o, &f), 0);
  /* Bounded: a deadlock fails here instead of hanging. */
  CHECK_EQ(corio_wait_for(f, THREAD_TEST_PATIENCE_S, &r), 0);
  CHECK_EQ(CORIO_INT(r), 5);
  CHECK_EQ(o.shutdown_rc, -EDEADLK);
  CHECK_EQ(o.free_rc, 0);
  CHECK_EQ(atomic_load(&other.done), 0);
  gate_open(&gate);
  /* The job running when it was freed still delivers. */
  CHECK_EQ(corio_wait_for(fo, THREAD_TEST_PATIENCE_S, &r), 0);
  CHECK_EQ(CORIO_INT(r), 6);
  corio_future_unref(f);
  corio_future_unref(fo);
  return 0;
}

static void test_free_from_own_thread(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(free_own_main, NULL), 0);
  assert_checks_passed();
  /* The detached threads take the executor's memory with them. */
  assert_no_leak_soon(before);
}

/* ---- the loop's default executor ----------------------------------------- */

/* Created on first use with the default size, the same one afterwards. */
static int lazy_default_main(void *arg, void **result) {
  corio_executor *a = NULL, *b = NULL;
  corio_loop *loop = corio_loop_current();
  void *r = NULL;
  struct probe p;

  (void)arg;
  (void)result;
  probe_init(&p, 3);
  CHECK_EQ(corio_loop_default_executor(loop, &a), 0);
  CHECK_TRUE(a != NULL);
  CHECK_EQ(corio_loop_default_executor(loop, &b), 0);
  CHECK_PTR(b, a);
  CHECK_EQ(corio_executor_max_workers(a), corio_executor_default_workers());
  CHECK_EQ(corio_executor_threads(a), 0);
  CHECK_EQ(corio_to_thread(probe_fn, &p, &r), 0);
  CHECK_EQ(CORIO_INT(r), 103);
  CHECK_EQ(corio_executor_threads(a), 1);
  /* Too late to choose another. */
  CHECK_EQ(corio_executor_create(&b, 1), 0);
  CHECK_EQ(corio_loop_set_default_executor(loop, b), CORIO_EINVALSTATE);
  CHECK_EQ(corio_executor_free(b), 0);
  CHECK_EQ(corio_loop_default_executor(NULL, &b), -EINVAL);
  CHECK_EQ(corio_loop_default_executor(loop, NULL), -EINVAL);
  CHECK_EQ(corio_loop_set_default_executor(NULL, a), -EINVAL);
  CHECK_EQ(corio_loop_set_default_executor(loop, NULL), -EINVAL);
  return 0;
}

static void test_lazy_default_executor(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_executor *ex = NULL;
  corio_loop *loop;
  (void)state;

  assert_int_equal(run_main(lazy_default_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
  /* A closed loop has none, and takes none. */
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_loop_default_executor(loop, &ex), CORIO_ELOOPCLOSED);
  assert_int_equal(corio_loop_set_default_executor(loop, ex),
                   CORIO_ELOOPCLOSED);
  corio_loop_unref(loop);
  assert_int_equal(corio_executor_free(ex), 0);
  corio_test_assert_no_leak(before);
}

/* A user executor set as the loop's default serves corio_to_thread and
 * run_in_executor with ex NULL; corio_run shuts it down at exit, and the
 * user frees it. */
struct user_default {
  corio_executor *ex, *other;
};

static int user_default_main(void *arg, void **result) {
  struct user_default *u = arg;
  corio_loop *loop = corio_loop_current();
  corio_executor *got = NULL;
  struct probe p, q;
  corio_future *f;
  void *r = NULL;

  (void)result;
  probe_init(&p, 1);
  probe_init(&q, 2);
  CHECK_EQ(corio_loop_set_default_executor(loop, u->ex), 0);
  CHECK_EQ(corio_loop_set_default_executor(loop, u->other), CORIO_EINVALSTATE);
  CHECK_EQ(corio_loop_set_default_executor(loop, u->ex), CORIO_EINVALSTATE);
  CHECK_EQ(corio_loop_default_executor(loop, &got), 0);
  CHECK_PTR(got, u->ex);
  CHECK_EQ(corio_executor_threads(u->ex), 0);
  CHECK_EQ(corio_to_thread(probe_fn, &p, &r), 0);
  CHECK_EQ(CORIO_INT(r), 101);
  CHECK_EQ(corio_executor_threads(u->ex), 1);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, probe_fn, &q, &f), 0);
  check_probe_result(f, 2);
  corio_future_unref(f);
  CHECK_EQ(corio_executor_threads(u->ex), 1);
  CHECK_EQ(corio_executor_threads(u->other), 0);
  return 0;
}

static void test_user_default_executor(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct user_default u;
  corio_loop *loop;
  corio_future *f = NULL;
  struct probe p;
  (void)state;

  probe_init(&p, 0);
  assert_int_equal(corio_executor_create(&u.ex, 1), 0);
  assert_int_equal(corio_executor_create(&u.other, 1), 0);
  assert_int_equal(run_main(user_default_main, &u), 0);
  assert_checks_passed();
  /* Shut down by corio_run; the other one is not. */
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_run_in_executor(loop, u.ex, probe_fn, &p, &f),
                   CORIO_EEXECUTORSHUTDOWN);
  assert_int_equal(corio_run_in_executor(loop, u.other, probe_fn, &p, &f), 0);
  assert_int_equal(corio_run_until_complete(loop, f, NULL), 0);
  corio_future_unref(f);
  corio_loop_unref(loop);
  assert_int_equal(corio_executor_free(u.ex), 0);
  assert_int_equal(corio_executor_free(u.other), 0);
  corio_test_assert_no_leak(before);
}

/* Freed by its creator while a loop holds it: the loop's reference keeps
 * the memory (shut down: jobs are refused), a second free is -EINVAL, and
 * the loop's end releases it. */
static void test_free_while_loop_holds(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_executor *ex, *got = NULL;
  corio_loop *loop;
  corio_future *f = NULL;
  struct probe p;
  (void)state;

  probe_init(&p, 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_loop_set_default_executor(loop, ex), 0);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(corio_executor_free(ex), -EINVAL);
  assert_int_equal(corio_loop_default_executor(loop, &got), 0);
  assert_ptr_equal(got, ex);
  assert_int_equal(corio_executor_max_workers(got), 1);
  assert_int_equal(corio_run_in_executor(loop, NULL, probe_fn, &p, &f),
                   CORIO_EEXECUTORSHUTDOWN);
  corio_loop_unref(loop);
  assert_int_equal(atomic_load(&p.started), 0);
  corio_test_assert_no_leak(before);
}

/* ---- corio_run's shutdown ------------------------------------------------ */

struct fire_and_forget {
  struct probe by_task, by_future;
  atomic_int main_returned; /* the jobs end 80 ms after this */
};

static int to_thread_task(void *arg, void **result) {
  struct probe *p = arg;

  (void)result;
  return corio_to_thread(probe_fn, p, NULL);
}

/* Two jobs still running when main returns: one whose task corio_run
 * cancels, one whose future nobody holds. */
static int fire_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard};
  struct fire_and_forget *ff = arg;
  corio_future *f;

  (void)result;
  CHECK_EQ(corio_spawn(NULL, to_thread_task, &ff->by_task), 0);
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, probe_fn, &ff->by_future,
                                    &options, &f),
           0);
  corio_future_unref(f);
  CHECK_TRUE(task_wait_flag(&ff->by_task.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_TRUE(task_wait_flag(&ff->by_future.started, 1, THREAD_TEST_PATIENCE_S));
  atomic_store(&ff->main_returned, 1);
  return 0;
}

static void fire_init(struct fire_and_forget *ff) {
  probe_init(&ff->by_task, 0);
  probe_init(&ff->by_future, 1);
  atomic_init(&ff->main_returned, 0);
  ff->by_task.hold = ff->by_future.hold = &ff->main_returned;
  ff->by_task.sleep_ms = ff->by_future.sleep_ms = 80;
}

static void test_run_waits_for_default_executor(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct fire_and_forget ff;
  (void)state;

  fire_init(&ff);
  atomic_store(&discards, 0);
  atomic_store(&discarded, 0);
  assert_int_equal(run_main(fire_main, &ff), 0);
  assert_checks_passed();
  assert_int_equal(atomic_load(&ff.by_task.done), 1);
  assert_int_equal(atomic_load(&ff.by_future.done), 1);
  /* Nobody reads the second job's result: the loop closed. */
  assert_int_equal(atomic_load(&discards), 1);
  assert_int_equal(atomic_load(&discarded), 101);
  /* Everything released by the time corio_run returns. */
  corio_test_assert_no_leak(before);
}

/* The same through a Runner: corio_runner_close waits too. */
static void test_runner_close_waits(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct fire_and_forget ff;
  corio_runner *runner;
  (void)state;

  fire_init(&ff);
  atomic_store(&discards, 0);
  assert_int_equal(corio_runner_create(&runner), 0);
  assert_int_equal(corio_runner_run(runner, fire_main, &ff, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_runner_close(runner), 0);
  assert_int_equal(atomic_load(&ff.by_task.done), 1);
  assert_int_equal(atomic_load(&ff.by_future.done), 1);
  assert_int_equal(atomic_load(&discards), 1);
  corio_test_assert_no_leak(before);
}

/* asyncio.run shuts the default executor down with the loop still
 * running (loop.shutdown_default_executor joins in a thread), so that a
 * job finishing late can still call into the loop: here one that starts a
 * task there with run_coroutine_threadsafe and waits for it. */
struct calls_back {
  corio_loop *loop;
  atomic_int started, main_returned;
  int start_rc, rc;
  void *r;
};

static int seven_later(void *arg, void **result) {
  (void)arg;
  if (corio_sleep(0.01) < 0)
    return -ECANCELED;
  *result = CORIO_PTR(7);
  return 0;
}

static int calls_back_fn(void *arg, void **result) {
  struct calls_back *cb = arg;
  corio_threadsafe_future *tf;

  atomic_store(&cb->started, 1);
  (void)thread_wait_flag(&cb->main_returned, 1, THREAD_TEST_PATIENCE_S);
  /* corio_run is past main now (the flag is set in main's last step), and
   * most likely in its shutdown; the loop runs in either case. */
  sleep_ms(20);
  cb->start_rc =
      corio_run_coroutine_threadsafe(cb->loop, seven_later, NULL, &tf);
  if (cb->start_rc == 0) {
    /* Bounded, so that a loop that stopped fails the test, not hangs it. */
    cb->rc = corio_threadsafe_future_result(tf, THREAD_TEST_PATIENCE_S, &cb->r);
    corio_threadsafe_future_unref(tf);
  }
  *result = NULL;
  return 0;
}

static int calls_back_main(void *arg, void **result) {
  struct calls_back *cb = arg;
  corio_future *f;

  (void)result;
  cb->loop = corio_loop_current();
  CHECK_EQ(corio_run_in_executor(NULL, NULL, calls_back_fn, cb, &f), 0);
  corio_future_unref(f);
  CHECK_TRUE(task_wait_flag(&cb->started, 1, THREAD_TEST_PATIENCE_S));
  atomic_store(&cb->main_returned, 1);
  return 0;
}

static void test_run_shutdown_keeps_loop_running(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct calls_back cb;
  (void)state;

  memset(&cb, 0, sizeof cb);
  atomic_init(&cb.started, 0);
  atomic_init(&cb.main_returned, 0);
  cb.rc = 1;
  assert_int_equal(run_main(calls_back_main, &cb), 0);
  assert_checks_passed();
  assert_int_equal(cb.start_rc, 0);
  assert_int_equal(cb.rc, 0);
  assert_int_equal(CORIO_INT(cb.r), 7);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_sizes, reset_checks),
      cmocka_unit_test_setup(test_threads_bounded, reset_checks),
      cmocka_unit_test_setup(test_idle_thread_reused, reset_checks),
      cmocka_unit_test_setup(test_fifo_order, reset_checks),
      cmocka_unit_test_setup(test_thread_start_failure, reset_checks),
      cmocka_unit_test_setup(test_submit_after_shutdown, reset_checks),
      cmocka_unit_test_setup(test_shutdown_waits, reset_checks),
      cmocka_unit_test_setup(test_cancel_pending_nowait, reset_checks),
      cmocka_unit_test_setup(test_cancel_pending_waits, reset_checks),
      cmocka_unit_test_setup(test_release_once, reset_checks),
      cmocka_unit_test_setup(test_flags_and_twice, reset_checks),
      cmocka_unit_test_setup(test_free_from_own_thread, reset_checks),
      cmocka_unit_test_setup(test_lazy_default_executor, reset_checks),
      cmocka_unit_test_setup(test_user_default_executor, reset_checks),
      cmocka_unit_test_setup(test_free_while_loop_holds, reset_checks),
      cmocka_unit_test_setup(test_run_waits_for_default_executor, reset_checks),
      cmocka_unit_test_setup(test_runner_close_waits, reset_checks),
      cmocka_unit_test_setup(test_run_shutdown_keeps_loop_running,
                             reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
