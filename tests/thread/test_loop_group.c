/* Loop per core: a group of loops, one per thread. Every main runs once,
 * on a thread and loop of its own, and sees its index (so do the tasks it
 * spawns; pool threads and other threads see -1). A stop cancels mains
 * blocked in long waits, whoever calls it (the test's thread, a main of
 * the group, a task of another loop), also when it comes before the mains
 * start or after they returned, and twice. join reports the first real
 * error by index. A thread or loop that cannot be created fails the start
 * with nothing run and nothing leaked.
 *
 * Nothing here waits for time to pass: the long waits are "never"
 * (NEVER_S), and the test waits for flags the mains set, bounded by
 * THREAD_TEST_PATIENCE_S only so that a bug fails instead of hanging. */
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "corio/sync.h"
#include "thread_check.h"

enum { LOOPS = 4 };

/* A wait that never ends by itself. */
#define NEVER_S 3600.0

static const char stop_message[] = "corio_loop_group_stop";

/* ---- every main once, with its index ------------------------------------- */

struct seen {
  atomic_int calls[LOOPS];
  atomic_int child_index[LOOPS]; /* what a task spawned by main saw */
  atomic_int pool_index[LOOPS];  /* what a to_thread function saw */
  atomic_int out_of_range;       /* mains whose index was not 0..LOOPS-1 */
  /* Written by main i on its thread, read after join. */
  pthread_t threads[LOOPS];
  corio_loop *loops[LOOPS];
};

static void seen_init(struct seen *s) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < LOOPS; i++) {
    atomic_init(&s->calls[i], 0);
    atomic_init(&s->child_index[i], -2);
    atomic_init(&s->pool_index[i], -2);
  }
  atomic_init(&s->out_of_range, 0);
}

static int child_reports_index(void *arg, void **result) {
  int rc = corio_sleep(0); /* a later step than main's */

  (void)result;
  if (rc < 0)
    return rc;
  atomic_store((atomic_int *)arg, corio_loop_group_index());
  return 0;
}

static int index_in_pool(void *arg, void **result) {
  (void)arg;
  *result = CORIO_PTR(corio_loop_group_index());
  return 0;
}

static int record_main(void *arg, void **result) {
  struct seen *s = arg;
  int i = corio_loop_group_index();
  corio_task *child;
  void *r = NULL;
  int rc;

  (void)result;
  if (i < 0 || i >= LOOPS) {
    atomic_fetch_add(&s->out_of_range, 1);
    return -ERANGE;
  }
  atomic_fetch_add(&s->calls[i], 1);
  s->threads[i] = pthread_self();
  s->loops[i] = corio_loop_running();
  rc = corio_spawn(&child, child_reports_index, &s->child_index[i]);
  if (rc < 0)
    return rc;
  rc = corio_await(child, NULL);
  corio_task_unref(child);
  if (rc < 0)
    return rc;
  rc = corio_to_thread(index_in_pool, NULL, &r);
  if (rc < 0)
    return rc;
  atomic_store(&s->pool_index[i], (int)(intptr_t)r);
  return 0;
}

static void test_each_loop_runs_main_once(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  corio_loop_group *g = NULL;
  struct seen s;

  (void)state;
  seen_init(&s);
  assert_int_equal(corio_loop_group_start(LOOPS, record_main, &s, &g), 0);
  assert_non_null(g);
  assert_int_equal(corio_loop_group_size(g), LOOPS);
  assert_int_equal(corio_loop_group_index(), -1);
  assert_int_equal(corio_loop_group_join(g), 0);
  assert_int_equal(atomic_load(&s.out_of_range), 0);
  /* The loops and threads all existed at once (start waits for every
   * loop before any main runs), so distinct ones have distinct values. */
  for (int i = 0; i < LOOPS; i++) {
    assert_int_equal(atomic_load(&s.calls[i]), 1);
    assert_int_equal(atomic_load(&s.child_index[i]), i);
    assert_int_equal(atomic_load(&s.pool_index[i]), -1);
    assert_non_null(s.loops[i]);
    for (int j = 0; j < i; j++) {
      assert_false(pthread_equal(s.threads[i], s.threads[j]));
      assert_ptr_not_equal(s.loops[i], s.loops[j]);
    }
  }
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

static atomic_int quick_calls;

static int quick_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  atomic_fetch_add(&quick_calls, 1);
  return 0;
}

static unsigned usable_cpus(void) {
  cpu_set_t set;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (unsigned)CPU_COUNT(&set);
  return (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
}

static void test_zero_means_one_loop_per_cpu(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop_group *g = NULL;
  unsigned cpus = usable_cpus();

  (void)state;
  atomic_store(&quick_calls, 0);
  assert_int_equal(corio_loop_group_start(0, quick_main, NULL, &g), 0);
  assert_int_equal(corio_loop_group_size(g),
                   cpus > CORIO_LOOP_GROUP_MAX ? CORIO_LOOP_GROUP_MAX : cpus);
  assert_int_equal(corio_loop_group_join(g), 0);
  assert_int_equal(
      atomic_load(&quick_calls),
      (int)(cpus > CORIO_LOOP_GROUP_MAX ? CORIO_LOOP_GROUP_MAX : cpus));
  corio_test_assert_no_leak(before);
}

/* ---- mains blocked until stopped ----------------------------------------- */

struct blocked {
  corio_loop_group *group; /* start's *out: set before any main runs */
  int handle_first;        /* a main uncancels the first stop, waits again */
  int stop_from_index0;    /* main 0 stops its own group */
  int join_from_main;      /* main 0 tries to join its own group */
  atomic_int called;       /* mains called */
  atomic_int waiting;      /* mains in their (first) wait */
  atomic_int handled;      /* mains that handled the first stop */
  atomic_int cancelled;    /* mains whose last wait returned -ECANCELED */
  atomic_int other;        /* mains whose last wait returned anything else */
};

static void blocked_init(struct blocked *b) {
  memset(b, 0, sizeof *b);
  atomic_init(&b->called, 0);
  atomic_init(&b->waiting, 0);
  atomic_init(&b->handled, 0);
  atomic_init(&b->cancelled, 0);
  atomic_init(&b->other, 0);
}

/* Left pending by main: corio_run's end cancels it. */
static int forgotten_child(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(NEVER_S);
}

/* Even indexes sleep, odd ones wait for an event nobody sets. */
static int wait_forever(void) {
  corio_event never;
  int rc;

  if (corio_loop_group_index() % 2 == 0)
    return corio_sleep(NEVER_S);
  corio_event_init(&never);
  rc = corio_event_wait(&never);
  CHECK_EQ(corio_event_destroy(&never), 0);
  return rc;
}

static int blocked_main(void *arg, void **result) {
  struct blocked *b = arg;
  const char *msg;
  int rc;

  (void)result;
  atomic_fetch_add(&b->called, 1);
  CHECK_EQ(corio_spawn(NULL, forgotten_child, NULL), 0);
  if (corio_loop_group_index() == 0 && b->join_from_main)
    CHECK_EQ(corio_loop_group_join(b->group), -EDEADLK);
  if (corio_loop_group_index() == 0 && b->stop_from_index0)
    CHECK_EQ(corio_loop_group_stop(b->group), 0);
  atomic_fetch_add(&b->waiting, 1);
  rc = wait_forever();
  if (rc == -ECANCELED && b->handle_first) {
    CHECK_EQ(corio_task_uncancel(corio_current_task()), 0);
    atomic_fetch_add(&b->handled, 1);
    rc = wait_forever();
  }
  if (rc == -ECANCELED) {
    msg = corio_task_cancel_message(corio_current_task());
    CHECK_TRUE(msg && strcmp(msg, stop_message) == 0);
    atomic_fetch_add(&b->cancelled, 1);
  } else {
    atomic_fetch_add(&b->other, 1);
  }
  return rc;
}

static void wait_until(atomic_int *flag, int value) {
  assert_true(thread_wait_flag(flag, value, THREAD_TEST_PATIENCE_S));
}

static void test_stop_cancels_blocked_mains(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  struct blocked b;

  (void)state;
  blocked_init(&b);
  assert_int_equal(corio_loop_group_start(LOOPS, blocked_main, &b, &b.group),
                   0);
  wait_until(&b.waiting, LOOPS);
  assert_int_equal(corio_loop_group_stop(b.group), 0);
  assert_int_equal(corio_loop_group_stop(b.group), 0); /* harmless */
  assert_int_equal(corio_loop_group_join(b.group), 0);
  assert_int_equal(atomic_load(&b.called), LOOPS);
  assert_int_equal(atomic_load(&b.cancelled), LOOPS);
  assert_int_equal(atomic_load(&b.other), 0);
  assert_checks_passed();
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* A stop right after start races with the mains being called: each main
 * is then either never called or called and cancelled, never left
 * running. */
static void test_stop_before_mains_start(void **state) {
  corio_test_usage before = corio_test_usage_now();
  /* Under Valgrind, which runs one thread at a time, the race is not
   * raced much and each round is slow: fewer. */
  int rounds = corio_test_under_valgrind() ? 5 : 20;
  int never_called = 0;

  (void)state;
  for (int round = 0; round < rounds; round++) {
    struct blocked b;

    blocked_init(&b);
    assert_int_equal(corio_loop_group_start(2, blocked_main, &b, &b.group), 0);
    assert_int_equal(corio_loop_group_stop(b.group), 0);
    assert_int_equal(corio_loop_group_join(b.group), 0);
    assert_int_equal(atomic_load(&b.cancelled), atomic_load(&b.called));
    assert_int_equal(atomic_load(&b.other), 0);
    never_called += 2 - atomic_load(&b.called);
  }
  if (getenv("CORIO_TEST_VERBOSE"))
    fprintf(stderr, "mains never called: %d of %d\n", never_called, 2 * rounds);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* A main that handles the first stop (uncancel) and waits again is
 * cancelled by the second. */
static void test_stop_twice(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct blocked b;

  (void)state;
  blocked_init(&b);
  b.handle_first = 1;
  assert_int_equal(corio_loop_group_start(LOOPS, blocked_main, &b, &b.group),
                   0);
  wait_until(&b.waiting, LOOPS);
  assert_int_equal(corio_loop_group_stop(b.group), 0);
  wait_until(&b.handled, LOOPS);
  assert_int_equal(atomic_load(&b.cancelled), 0);
  assert_int_equal(corio_loop_group_stop(b.group), 0);
  assert_int_equal(corio_loop_group_join(b.group), 0);
  assert_int_equal(atomic_load(&b.cancelled), LOOPS);
  assert_int_equal(atomic_load(&b.other), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static void test_stop_from_a_main_of_the_group(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct blocked b;

  (void)state;
  blocked_init(&b);
  b.stop_from_index0 = 1;
  b.join_from_main = 1;
  assert_int_equal(corio_loop_group_start(LOOPS, blocked_main, &b, &b.group),
                   0);
  assert_int_equal(corio_loop_group_join(b.group), 0);
  assert_int_equal(atomic_load(&b.called), atomic_load(&b.cancelled));
  assert_int_equal(atomic_load(&b.other), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* As a signal handler's task would: from a task of a loop outside the
 * group, once every main waits. */
static int stopper(void *arg, void **result) {
  struct blocked *b = arg;

  (void)result;
  CHECK_EQ(corio_loop_group_index(), -1);
  CHECK_TRUE(task_wait_flag(&b->waiting, LOOPS, THREAD_TEST_PATIENCE_S));
  return corio_loop_group_stop(b->group);
}

static void test_stop_from_a_task_of_another_loop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct blocked b;

  (void)state;
  blocked_init(&b);
  assert_int_equal(corio_loop_group_start(LOOPS, blocked_main, &b, &b.group),
                   0);
  assert_int_equal(run_main(stopper, &b), 0);
  assert_int_equal(corio_loop_group_join(b.group), 0);
  assert_int_equal(atomic_load(&b.cancelled), LOOPS);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- stop after the mains returned --------------------------------------- */

static void test_stop_after_mains_returned(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop_group *g = NULL;

  (void)state;
  atomic_store(&quick_calls, 0);
  assert_int_equal(corio_loop_group_start(LOOPS, quick_main, NULL, &g), 0);
  wait_until(&quick_calls, LOOPS);
  assert_int_equal(corio_loop_group_stop(g), 0);
  assert_int_equal(corio_loop_group_stop(g), 0);
  assert_int_equal(corio_loop_group_join(g), 0);
  corio_test_assert_no_leak(before);
}

/* ---- errors -------------------------------------------------------------- */

/* 0: returns 0; 1: -EIO with a message; 2: -EXDEV; 3: -ECANCELED without
 * any stop, which is an error too. */
static int failing_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  switch (corio_loop_group_index()) {
  case 0:
    return 0;
  case 1:
    return corio_fail(-EIO, "loop %d failed", corio_loop_group_index());
  case 2:
    return -EXDEV;
  default:
    return -ECANCELED;
  }
}

static int cancelled_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -ECANCELED;
}

static void test_join_reports_the_first_error(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop_group *g = NULL;

  (void)state;
  assert_int_equal(corio_loop_group_start(LOOPS, failing_main, NULL, &g), 0);
  assert_int_equal(corio_loop_group_join(g), -EIO);
  /* A main cancelled by something else than a stop has failed. */
  assert_int_equal(corio_loop_group_start(1, cancelled_main, NULL, &g), 0);
  assert_int_equal(corio_loop_group_join(g), -ECANCELED);
  corio_test_assert_no_leak(before);
}

/* Main 0 waits until stopped, then fails; main 1 fails at once. */
struct fail_late {
  corio_loop_group *group;
  atomic_int waiting, returned;
};

static int fail_late_main(void *arg, void **result) {
  struct fail_late *f = arg;
  int rc;

  (void)result;
  if (corio_loop_group_index() == 1) {
    atomic_fetch_add(&f->returned, 1);
    return -EPIPE;
  }
  atomic_fetch_add(&f->waiting, 1);
  rc = corio_sleep(NEVER_S);
  CHECK_EQ(rc, -ECANCELED);
  return -ENOTCONN; /* an error of its own while stopping */
}

static void test_errors_with_a_stop(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct fail_late f;

  (void)state;
  memset(&f, 0, sizeof f);
  atomic_init(&f.waiting, 0);
  atomic_init(&f.returned, 0);
  assert_int_equal(corio_loop_group_start(2, fail_late_main, &f, &f.group), 0);
  wait_until(&f.waiting, 1);
  wait_until(&f.returned, 1);
  assert_int_equal(corio_loop_group_stop(f.group), 0);
  /* Main 0's own error comes first by index, stop or not. */
  assert_int_equal(corio_loop_group_join(f.group), -ENOTCONN);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- bad input ----------------------------------------------------------- */

static int index_outside(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(corio_loop_group_index(), -1);
  return 0;
}

static void test_bad_input(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop_group *g = NULL;

  (void)state;
  assert_int_equal(corio_loop_group_start(1, NULL, NULL, &g), -EINVAL);
  assert_int_equal(corio_loop_group_start(1, quick_main, NULL, NULL), -EINVAL);
  assert_int_equal(
      corio_loop_group_start(CORIO_LOOP_GROUP_MAX + 1, quick_main, NULL, &g),
      -EINVAL);
  assert_null(g);
  assert_int_equal(corio_loop_group_size(NULL), 0);
  assert_int_equal(corio_loop_group_stop(NULL), -EINVAL);
  assert_int_equal(corio_loop_group_join(NULL), -EINVAL);
  /* -1 outside a group: here, and in a loop of corio_run's own. */
  assert_int_equal(corio_loop_group_index(), -1);
  assert_int_equal(run_main(index_outside, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- creation failures --------------------------------------------------- */

static void test_second_thread_cannot_start(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  corio_loop_group *g = NULL;
  struct blocked b;
  long calls;
  int rc, fired;

  (void)state;
  blocked_init(&b);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 2);
  rc = corio_loop_group_start(3, blocked_main, &b, &g);
  fired = corio__fault_fired(CORIO__FAULT_THREAD_CREATE);
  calls = corio__fault_calls(CORIO__FAULT_THREAD_CREATE);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 0);
  assert_int_equal(rc, -EAGAIN);
  assert_true(fired);
  assert_int_equal(calls, 2); /* no third thread after the failure */
  assert_null(g);
  assert_int_equal(atomic_load(&b.called), 0); /* no main ran */
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* start, stop, join of two loops whose mains return at once. */
static int group_op(void *ctx) {
  corio_loop_group *g = NULL;
  int rc;

  (void)ctx;
  rc = corio_loop_group_start(2, quick_main, NULL, &g);
  if (rc < 0)
    return rc;
  (void)corio_loop_group_stop(g);
  return corio_loop_group_join(g);
}

static void no_thread(int rc) { assert_int_equal(rc, -EAGAIN); }

/* Before the mains run, start reports it; after (their loops' shutdown),
 * join does. */
static void out_of_memory(int rc) { assert_int_equal(rc, -ENOMEM); }

static int poll_poller(void) {
  const char *p = getenv("CORIO_POLLER");

  return p && strcmp(p, "poll") == 0;
}

static void test_fault_walks(void **state) {
  corio_loop_group *g = NULL;

  (void)state;
  /* Each thread start fails in turn. */
  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_THREAD_CREATE, group_op,
                                         NULL, no_thread),
                   2);
  /* Each loop's creation (its wake-up eventfd, its poller). */
  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_EVENTFD, group_op, NULL,
                                         corio_test_negative),
                   2);
  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_EPOLL_CREATE, group_op,
                                         NULL, corio_test_negative),
                   poll_poller() ? 0 : 2);
  /* Every allocation: the group's, each loop's and main task's. */
  assert_true(corio_test_fault_walk(CORIO__FAULT_ALLOC, group_op, NULL,
                                    out_of_memory) >= 3);
  /* No corruption left behind (no stop: both mains run). */
  atomic_store(&quick_calls, 0);
  assert_int_equal(corio_loop_group_start(2, quick_main, NULL, &g), 0);
  assert_int_equal(corio_loop_group_join(g), 0);
  assert_int_equal(atomic_load(&quick_calls), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_each_loop_runs_main_once, reset_checks),
      cmocka_unit_test_setup(test_zero_means_one_loop_per_cpu, reset_checks),
      cmocka_unit_test_setup(test_stop_cancels_blocked_mains, reset_checks),
      cmocka_unit_test_setup(test_stop_before_mains_start, reset_checks),
      cmocka_unit_test_setup(test_stop_twice, reset_checks),
      cmocka_unit_test_setup(test_stop_from_a_main_of_the_group, reset_checks),
      cmocka_unit_test_setup(test_stop_from_a_task_of_another_loop,
                             reset_checks),
      cmocka_unit_test_setup(test_stop_after_mains_returned, reset_checks),
      cmocka_unit_test_setup(test_join_reports_the_first_error, reset_checks),
      cmocka_unit_test_setup(test_errors_with_a_stop, reset_checks),
      cmocka_unit_test_setup(test_bad_input, reset_checks),
      cmocka_unit_test_setup(test_second_thread_cannot_start, reset_checks),
      cmocka_unit_test_setup(test_fault_walks, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
