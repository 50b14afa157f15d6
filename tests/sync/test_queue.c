/* Queues as asyncio.Queue in Python 3.13: the order of each kind, bounds,
 * waiting getters and putters, task_done/join, shutdown, fairness among
 * waiters (a woken waiter takes its item or slot only when it runs: a
 * get_nowait or put_nowait in between takes it, and the woken one waits
 * again at the end of the line; qsize, empty and full always agree) and
 * DESIGN.md §4 rule 9 (a waiter cancelled at the moment it was woken wakes
 * the next one), misuse, and allocation failures while the storage
 * grows. */
#include "sync_test.h"

#define P CORIO_PTR
#define I CORIO_INT

static corio_task *spawn_op(corio_task_fn fn, struct qop *op) {
  return spawn_or_fail(fn, op);
}

/* Gets n items without waiting and checks they are expected[0..n). */
static void expect_items(corio_queue *q, const intptr_t *expected, size_t n) {
  for (size_t i = 0; i < n; i++) {
    void *item = NULL;

    assert_int_equal(corio_queue_get_nowait(q, &item), 0);
    assert_int_equal(I(item), expected[i]);
  }
}

static void expect_empty(corio_queue *q) {
  void *item = P(-1);

  assert_int_equal(corio_queue_get_nowait(q, &item), CORIO_EQUEUEEMPTY);
  assert_int_equal(corio_queue_size(q), 0);
}

/* ---- order of each kind -------------------------------------------------- */

static void test_fifo_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_queue q;
  (void)state;

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  for (int i = 1; i <= 5; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  assert_int_equal(corio_queue_size(&q), 5);
  expect_items(&q, (intptr_t[]){1, 2, 3, 4, 5}, 5);
  expect_empty(&q);
  /* Interleaved: always the oldest. */
  assert_int_equal(corio_queue_put_nowait(&q, P(6)), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(7)), 0);
  expect_items(&q, (intptr_t[]){6}, 1);
  assert_int_equal(corio_queue_put_nowait(&q, P(8)), 0);
  expect_items(&q, (intptr_t[]){7, 8}, 2);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  corio_test_assert_no_leak(before);
}

static void test_lifo_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_queue q;
  (void)state;

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_LIFO, 0), 0);
  for (int i = 1; i <= 5; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  expect_items(&q, (intptr_t[]){5, 4, 3, 2, 1}, 5);
  expect_empty(&q);
  /* Interleaved: always the newest. */
  assert_int_equal(corio_queue_put_nowait(&q, P(6)), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(7)), 0);
  expect_items(&q, (intptr_t[]){7}, 1);
  assert_int_equal(corio_queue_put_nowait(&q, P(8)), 0);
  expect_items(&q, (intptr_t[]){8, 6}, 2);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  corio_test_assert_no_leak(before);
}

/* A reference priority queue: linear scan for the lowest (priority, put
 * order). */
struct ref_prio {
  int64_t priority[512];
  intptr_t item[512];
  int taken[512];
  int n;
};

static void ref_put(struct ref_prio *r, intptr_t item, int64_t priority) {
  assert_true(r->n < 512);
  r->priority[r->n] = priority;
  r->item[r->n] = item;
  r->taken[r->n] = 0;
  r->n++;
}

static intptr_t ref_get(struct ref_prio *r) {
  int best = -1;

  for (int i = 0; i < r->n; i++)
    if (!r->taken[i] && (best < 0 || r->priority[i] < r->priority[best]))
      best = i;
  assert_true(best >= 0);
  r->taken[best] = 1;
  return r->item[best];
}

static void test_priority_by_integer(void **state) {
  corio_test_usage before = corio_test_usage_now();
  static struct ref_prio ref;
  corio_queue q;
  int next = 1;
  (void)state;

  memset(&ref, 0, sizeof ref);
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 0), 0);
  /* A small case to read: lowest first, equal ones in put order, and the
   * extremes of int64_t compared without overflow. */
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(1), 5), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(2), 1), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(3), INT64_MAX), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(4), 1), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(5), INT64_MIN), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(6), -2), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(7), 5), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(8), 1), 0);
  expect_items(&q, (intptr_t[]){5, 6, 2, 4, 8, 1, 7, 3}, 8);
  expect_empty(&q);

  /* Many equal priorities, gets interleaved with puts (the heap reorders
   * a lot): stable all the same. */
  for (int round = 0; round < 20; round++) {
    for (int k = 0; k < 15; k++, next++) {
      int64_t prio = (next * 37) % 5 - 2;

      assert_int_equal(corio_queue_put_priority_nowait(&q, P(next), prio), 0);
      ref_put(&ref, next, prio);
    }
    for (int k = 0; k < 7; k++) {
      void *item;

      assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
      assert_int_equal(I(item), ref_get(&ref));
    }
  }
  while (corio_queue_size(&q)) {
    void *item;

    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), ref_get(&ref));
  }
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  corio_test_assert_no_leak(before);
}

struct rec {
  int key;
  int id;
};

/* Highest key first: an order no default could give by accident. */
static int key_descending(const void *a, const void *b) {
  const struct rec *x = a, *y = b;

  return (y->key > x->key) - (y->key < x->key);
}

static void test_priority_by_compare(void **state) {
  corio_test_usage before = corio_test_usage_now();
  static const int keys[] = {3, 9, 3, 1, 9, 5, 3, 1, 7, 9, 5, 3};
  enum { N = sizeof keys / sizeof keys[0] };
  struct rec recs[N];
  corio_queue q;
  int prev_key = 1 << 30, prev_id = -1;
  (void)state;

  assert_int_equal(corio_queue_init_compare(&q, 0, key_descending), 0);
  for (int i = 0; i < N; i++) {
    recs[i] = (struct rec){keys[i], i};
    assert_int_equal(corio_queue_put_nowait(&q, &recs[i]), 0);
  }
  assert_int_equal(corio_queue_size(&q), N);
  for (int i = 0; i < N; i++) {
    void *item;
    const struct rec *r;

    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    r = item;
    /* Keys descending; equal keys in put order. */
    assert_true(r->key <= prev_key);
    if (r->key == prev_key)
      assert_true(r->id > prev_id);
    prev_key = r->key;
    prev_id = r->id;
  }
  expect_empty(&q);
  /* The exact sequence, to be explicit. */
  for (int i = 0; i < N; i++)
    assert_int_equal(corio_queue_put_nowait(&q, &recs[i]), 0);
  {
    static const int ids[N] = {1, 4, 9, 8, 5, 10, 0, 2, 6, 11, 3, 7};

    for (int i = 0; i < N; i++) {
      void *item;

      assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
      assert_int_equal(((struct rec *)item)->id, ids[i]);
    }
  }
  assert_int_equal(corio_queue_destroy(&q), 0);
  corio_test_assert_no_leak(before);
}

/* ---- unbounded storage --------------------------------------------------- */

enum { MANY = 10000 };

static void test_unbounded_growth(void **state) {
  corio_test_usage before = corio_test_usage_now();
  static const corio_queue_kind kinds[] = {CORIO_QUEUE_FIFO, CORIO_QUEUE_LIFO,
                                           CORIO_QUEUE_PRIORITY};
  (void)state;

  for (size_t k = 0; k < 3; k++) {
    corio_queue q;

    assert_int_equal(corio_queue_init(&q, kinds[k], 0), 0);
    assert_int_equal(corio_queue_maxsize(&q), 0);
    for (int i = 0; i < MANY; i++) {
      int rc = kinds[k] == CORIO_QUEUE_PRIORITY
                   ? corio_queue_put_priority_nowait(&q, P(i), i % 100)
                   : corio_queue_put_nowait(&q, P(i));

      assert_int_equal(rc, 0);
      assert_false(corio_queue_full(&q));
    }
    assert_int_equal(corio_queue_size(&q), MANY);
    for (int n = 0; n < MANY; n++) {
      void *item;
      intptr_t want;

      if (kinds[k] == CORIO_QUEUE_FIFO)
        want = n;
      else if (kinds[k] == CORIO_QUEUE_LIFO)
        want = MANY - 1 - n;
      else /* priority n / 100, in put order among those */
        want = (n % 100) * 100 + n / 100;
      assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
      assert_int_equal(I(item), want);
    }
    expect_empty(&q);
    assert_int_equal(corio_queue_destroy(&q), 0);
  }
  corio_test_assert_no_leak(before);
}

/* The FIFO ring wraps around before it grows: the growth must keep the
 * order across the wrap. */
static void test_fifo_ring_wraparound(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_queue q;
  intptr_t next_put = 1, next_get = 1;
  void *item;
  (void)state;

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  /* 10 in, 8 out, then 14 in: a ring of 16 is full and wrapped; the 25th
   * makes it grow with the oldest item in its middle. */
  for (; next_put <= 10; next_put++)
    assert_int_equal(corio_queue_put_nowait(&q, P(next_put)), 0);
  for (; next_get <= 8; next_get++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), next_get);
  }
  for (; next_put <= 25; next_put++)
    assert_int_equal(corio_queue_put_nowait(&q, P(next_put)), 0);
  assert_int_equal(corio_queue_size(&q), 17);
  for (; next_get <= 25; next_get++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), next_get);
  }
  expect_empty(&q);

  /* Slightly more puts than gets per round: the ring wraps many times at
   * every capacity on its way up. */
  for (int round = 0; round < 3000; round++) {
    int puts = (round * 7) % 11 + 1, gets = (round * 5) % 9 + 1;

    for (int i = 0; i < puts; i++, next_put++)
      assert_int_equal(corio_queue_put_nowait(&q, P(next_put)), 0);
    for (int i = 0; i < gets && next_get < next_put; i++, next_get++) {
      assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
      assert_int_equal(I(item), next_get);
    }
    assert_int_equal(corio_queue_size(&q), (size_t)(next_put - next_get));
  }
  assert_true(corio_queue_size(&q) > 1000);
  for (; next_get < next_put; next_get++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), next_get);
  }
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  corio_test_assert_no_leak(before);
}

/* A bounded queue larger than the first allocation grows up to its
 * maxsize (not past it), wraps, and keeps its order. */
static void test_bounded_growth(void **state) {
  corio_test_usage before = corio_test_usage_now();
  static const corio_queue_kind kinds[] = {CORIO_QUEUE_FIFO, CORIO_QUEUE_LIFO,
                                           CORIO_QUEUE_PRIORITY};
  (void)state;

  for (size_t k = 0; k < 3; k++) {
    corio_queue q;
    void *item;
    intptr_t next_put = 0, next_get = 0;

    assert_int_equal(corio_queue_init(&q, kinds[k], 40), 0);
    for (; next_put < 40; next_put++)
      assert_int_equal(corio_queue_put_nowait(&q, P(next_put)), 0);
    assert_true(corio_queue_full(&q));
    assert_int_equal(corio_queue_put_nowait(&q, P(99)), CORIO_EQUEUEFULL);
    if (kinds[k] == CORIO_QUEUE_LIFO) {
      for (intptr_t i = 39; i >= 0; i--) {
        assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
        assert_int_equal(I(item), i);
      }
      assert_int_equal(corio_queue_destroy(&q), 0);
      continue;
    }
    /* FIFO, and a priority queue of equal priorities (put order): 25 out,
     * 25 in, around the end of the ring. */
    for (int round = 0; round < 4; round++) {
      for (int i = 0; i < 25; i++, next_get++) {
        assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
        assert_int_equal(I(item), next_get);
      }
      for (int i = 0; i < 25; i++, next_put++)
        assert_int_equal(corio_queue_put_nowait(&q, P(next_put)), 0);
      assert_true(corio_queue_full(&q));
      assert_int_equal(corio_queue_put_nowait(&q, P(99)), CORIO_EQUEUEFULL);
    }
    for (; next_get < next_put; next_get++) {
      assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
      assert_int_equal(I(item), next_get);
    }
    expect_empty(&q);
    assert_int_equal(corio_queue_destroy(&q), 0);
  }
  corio_test_assert_no_leak(before);
}

/* ---- bounds, waiting, nowait codes --------------------------------------- */

static void test_nowait_codes_and_state(void **state) {
  corio_test_usage before = corio_test_usage_now();
  static const corio_queue_kind kinds[] = {CORIO_QUEUE_FIFO, CORIO_QUEUE_LIFO,
                                           CORIO_QUEUE_PRIORITY};
  corio_queue q;
  void *item;
  (void)state;

  for (size_t k = 0; k < 3; k++) {
    assert_int_equal(corio_queue_init(&q, kinds[k], 2), 0);
    assert_int_equal(corio_queue_maxsize(&q), 2);
    assert_int_equal(corio_queue_size(&q), 0);
    assert_true(corio_queue_empty(&q));
    assert_false(corio_queue_full(&q));
    assert_false(corio_queue_is_shutdown(&q));
    item = P(-1);
    assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUEEMPTY);
    assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
    assert_int_equal(corio_queue_size(&q), 1);
    assert_false(corio_queue_empty(&q));
    assert_false(corio_queue_full(&q));
    assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
    assert_int_equal(corio_queue_size(&q), 2);
    assert_true(corio_queue_full(&q));
    assert_int_equal(corio_queue_put_nowait(&q, P(3)), CORIO_EQUEUEFULL);
    if (kinds[k] == CORIO_QUEUE_PRIORITY)
      assert_int_equal(corio_queue_put_priority_nowait(&q, P(3), -5),
                       CORIO_EQUEUEFULL);
    assert_int_equal(corio_queue_size(&q), 2); /* nothing was added */
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), kinds[k] == CORIO_QUEUE_LIFO ? 2 : 1);
    assert_false(corio_queue_full(&q));
    assert_int_equal(corio_queue_put_nowait(&q, P(4)), 0);
    assert_true(corio_queue_full(&q));
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUEEMPTY);
    assert_true(corio_queue_empty(&q));
    assert_int_equal(corio_queue_destroy(&q), 0);
  }

  /* maxsize 0: never full. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  assert_false(corio_queue_full(&q));
  assert_int_equal(corio_queue_size(&q), 100);
  assert_int_equal(corio_queue_destroy(&q), 0); /* items stay the caller's */
  corio_test_assert_no_leak(before);
}

static int put_waits_when_full(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  struct qop op = {.q = &q, .item = P(3)};
  corio_task *t;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 2), 0);
  /* Not full: put returns without suspending (the marker does not run). */
  corio_task_unref(spawn_or_fail(mark_ran, &trace));
  assert_int_equal(corio_queue_put(&q, P(1)), 0);
  assert_int_equal(corio_queue_put(&q, P(2)), 0);
  assert_string_equal(trace.log, "");
  assert_true(corio_queue_full(&q));

  t = spawn_op(qop_put, &op);
  yield_n(3);
  assert_string_equal(trace.log, "!");
  assert_true(op.started);
  assert_false(op.done); /* waiting */
  assert_int_equal(corio_queue_size(&q), 2);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 1);
  qop_await(t);
  assert_int_equal(op.rc, 0);
  assert_int_equal(corio_queue_size(&q), 2);
  assert_true(corio_queue_full(&q));
  expect_items(&q, (intptr_t[]){2, 3}, 2);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_put_waits_when_full(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(put_waits_when_full, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int get_waits_when_empty(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  struct qop op = {.q = &q};
  corio_task *t;
  void *item = NULL;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t = spawn_op(qop_get, &op);
  yield_n(3);
  assert_true(op.started);
  assert_false(op.done); /* waiting */
  assert_int_equal(corio_queue_put_nowait(&q, P(42)), 0);
  assert_false(op.done); /* woken, runs later */
  qop_await(t);
  assert_int_equal(op.rc, 0);
  assert_int_equal(I(op.item), 42);
  expect_empty(&q);

  /* An item there: get returns without suspending. */
  assert_int_equal(corio_queue_put_nowait(&q, P(43)), 0);
  corio_task_unref(spawn_or_fail(mark_ran, &trace));
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 43);
  assert_string_equal(trace.log, "");
  yield_n(1);
  assert_string_equal(trace.log, "!");
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_get_waits_when_empty(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(get_waits_when_empty, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* ---- task_done and join -------------------------------------------------- */

static void test_task_done_too_many(void **state) {
  corio_queue q;
  void *item;
  (void)state;

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  /* A put after that counts again: once. */
  assert_int_equal(corio_queue_put_nowait(&q, P(3)), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
}

static int join_waits(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  struct qop j1 = {.q = &q, .trace = &trace, .tag = 'a'};
  struct qop j2 = {.q = &q, .trace = &trace, .tag = 'b', .delay = 1};
  corio_task *t1, *t2;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  for (int i = 1; i <= 3; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  t1 = spawn_op(qop_join, &j1);
  t2 = spawn_op(qop_join, &j2);
  yield_n(3);
  assert_true(j1.started && j2.started);
  assert_false(j1.done || j2.done);
  /* Got, not done: still waiting. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  yield_n(2);
  assert_false(j1.done || j2.done);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  yield_n(2);
  assert_false(j1.done || j2.done);
  /* An item put while they wait must be done too. */
  assert_int_equal(corio_queue_put_nowait(&q, P(4)), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  yield_n(2);
  assert_false(j1.done || j2.done);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 4);
  assert_int_equal(corio_queue_task_done(&q), 0);
  qop_await(t1);
  qop_await(t2);
  assert_int_equal(j1.rc, 0);
  assert_int_equal(j2.rc, 0);
  assert_string_equal(trace.log, "ab");

  /* A joiner cancelled while it waits leaves (destroy is not refused). */
  j1 = (struct qop){.q = &q};
  assert_int_equal(corio_queue_put_nowait(&q, P(5)), 0);
  t1 = spawn_op(qop_join, &j1);
  yield_n(1);
  assert_true(j1.started);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(j1.rc, -ECANCELED);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_join_waits_for_every_item(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(join_waits, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int join_at_once(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  corio_task_unref(spawn_or_fail(mark_ran, &trace));
  assert_int_equal(corio_queue_join(&q), 0); /* nothing was ever put */
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_join(&q), 0); /* all done */
  assert_string_equal(trace.log, "");        /* never suspended */
  yield_n(1);
  assert_string_equal(trace.log, "!");
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_join_returns_at_once(void **state) {
  corio_queue q;
  (void)state;

  assert_int_equal(run_main(join_at_once, NULL), 0);
  /* Even outside a task: there is nothing to wait for. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(corio_queue_join(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);
}

/* ---- shutdown ------------------------------------------------------------ */

static int shutdown_graceful(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  struct qop p1 = {.q = &q, .trace = &trace, .tag = 'x', .item = P(3)};
  struct qop p2 = {.q = &q, .trace = &trace, .tag = 'y', .item = P(4)};
  struct qop j = {.q = &q, .trace = &trace, .tag = 'j'};
  corio_task *t1, *t2, *tj;
  void *item = NULL;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 2), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  t1 = spawn_op(qop_put, &p1);
  t2 = spawn_op(qop_put, &p2);
  tj = spawn_op(qop_join, &j);
  yield_n(2);
  assert_true(p1.started && p2.started && j.started);
  assert_string_equal(trace.log, "");

  corio_queue_shutdown(&q, 0);
  assert_true(corio_queue_is_shutdown(&q));
  qop_await(t1);
  qop_await(t2);
  /* Waiting putters fail, and put nothing. */
  assert_int_equal(p1.rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(p2.rc, CORIO_EQUEUESHUTDOWN);
  assert_string_equal(trace.log, "xy");
  /* Later puts fail, waiting or not. */
  assert_int_equal(corio_queue_put_nowait(&q, P(5)), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_put(&q, P(5)), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_size(&q), 2);
  /* Getters drain what is left, then fail. */
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 2);
  assert_int_equal(corio_queue_get(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUESHUTDOWN);
  /* The items are not dropped: join still waits for both. */
  yield_n(2);
  assert_false(j.done);
  assert_int_equal(corio_queue_task_done(&q), 0);
  yield_n(1);
  assert_false(j.done);
  assert_int_equal(corio_queue_task_done(&q), 0);
  qop_await(tj);
  assert_int_equal(j.rc, 0);
  /* The failed puts were never counted. */
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_shutdown_graceful(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_graceful, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int shutdown_releases_getters(void *arg, void **result) {
  int immediate = (int)I(arg);
  corio_queue q;
  struct trace trace = {0};
  struct qop g1 = {.q = &q, .trace = &trace, .tag = 'a'};
  struct qop g2 = {.q = &q, .trace = &trace, .tag = 'b'};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  yield_n(2);
  assert_true(g1.started && g2.started);
  assert_false(g1.done || g2.done);
  corio_queue_shutdown(&q, immediate);
  qop_await(t1);
  qop_await(t2);
  assert_int_equal(g1.rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(g2.rc, CORIO_EQUEUESHUTDOWN);
  assert_string_equal(trace.log, "ab");

  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

/* Getters waiting on an empty queue: nothing more can come. */
static void test_shutdown_releases_waiting_getters(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_releases_getters, P(0)), 0);
  assert_int_equal(run_main(shutdown_releases_getters, P(1)), 0);
  corio_test_assert_no_leak(before);
}

static int shutdown_immediate(void *arg, void **result) {
  corio_queue q;
  struct qop j = {.q = &q};
  struct qop p = {.q = &q, .item = P(9)};
  corio_task *tj, *tp;
  void *item = NULL;

  (void)arg;
  (void)result;
  /* Five put: one taken and done, one taken and not done yet. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 4), 0);
  for (int i = 1; i <= 4; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  tp = spawn_op(qop_put, &p);
  yield_n(1);
  assert_true(p.started);
  assert_false(p.done);                                   /* waits: full */
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0); /* slot for p */
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 2);
  tj = spawn_op(qop_join, &j);
  yield_n(3);
  assert_int_equal(p.rc, 0); /* p put its item */
  assert_true(p.done);
  qop_await(tp);
  assert_int_equal(corio_queue_size(&q), 3); /* 3, 4, 9 */
  assert_true(j.started);
  assert_false(j.done);

  corio_queue_shutdown(&q, 1);
  assert_true(corio_queue_is_shutdown(&q));
  /* Items dropped. */
  assert_int_equal(corio_queue_size(&q), 0);
  assert_true(corio_queue_empty(&q));
  assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_get(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_put_nowait(&q, P(5)), CORIO_EQUEUESHUTDOWN);
  /* The dropped ones count as done; item 2 is still out. */
  yield_n(2);
  assert_false(j.done);
  assert_int_equal(corio_queue_task_done(&q), 0);
  qop_await(tj);
  assert_int_equal(j.rc, 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_join(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);

  /* Everything dropped was all that was unfinished: join released at
   * once, with the shutdown. */
  j = (struct qop){.q = &q};
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_LIFO, 0), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  tj = spawn_op(qop_join, &j);
  yield_n(2);
  assert_false(j.done);
  corio_queue_shutdown(&q, 1);
  qop_await(tj);
  assert_int_equal(j.rc, 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_shutdown_immediate(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_immediate, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* The item a getter was woken for is dropped with the rest: when it runs,
 * it finds the queue empty and shut down, and fails. A putter woken for a
 * slot, and one still waiting, fail. */
static int shutdown_immediate_voids_reservations(void *arg, void **result) {
  corio_queue q;
  struct qop g = {.q = &q, .item = P(-1)};
  struct qop p1 = {.q = &q, .item = P(7)};
  struct qop p2 = {.q = &q, .item = P(8)};
  corio_task *tg, *t1, *t2;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  tg = spawn_op(qop_get, &g);
  yield_n(1);
  assert_true(g.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* for g */
  corio_queue_shutdown(&q, 1);
  qop_await(tg);
  assert_int_equal(g.rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(I(g.item), -1);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_join(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  t1 = spawn_op(qop_put, &p1);
  t2 = spawn_op(qop_put, &p2);
  yield_n(1);
  assert_true(p1.started && p2.started);
  assert_false(p1.done || p2.done);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0); /* slot for p1 */
  corio_queue_shutdown(&q, 1);
  qop_await(t1);
  qop_await(t2);
  assert_int_equal(p1.rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(p2.rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_shutdown_immediate_voids_reservations(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_immediate_voids_reservations, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* shutdown(1) after shutdown(0) (as Python allows): what was left is
 * dropped then, and join is released. */
static int shutdown_then_immediate(void *arg, void **result) {
  corio_queue q;
  struct qop j = {.q = &q};
  corio_task *tj;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  for (int i = 1; i <= 3; i++)
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
  tj = spawn_op(qop_join, &j);
  corio_queue_shutdown(&q, 0);
  corio_queue_shutdown(&q, 0); /* again: nothing changes */
  assert_int_equal(corio_queue_size(&q), 3);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_task_done(&q), 0);
  yield_n(2);
  assert_true(j.started);
  assert_false(j.done);
  corio_queue_shutdown(&q, 1);
  assert_int_equal(corio_queue_size(&q), 0);
  qop_await(tj);
  assert_int_equal(j.rc, 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), CORIO_EQUEUESHUTDOWN);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_shutdown_then_immediate(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(shutdown_then_immediate, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* A getter woken with an item, then the queue shut down at once: it has
 * not run yet and will still look at the queue when it does, so the queue
 * cannot be destroyed under it. (What destroy says is checked after the
 * run, so that a failure leaves no loop behind for the other tests.) */
struct destroy_codes {
  int while_pending; /* destroy before the getter ran */
  int getter_rc;
  int after; /* destroy once it has */
};

static int destroy_after_immediate_shutdown(void *arg, void **result) {
  struct destroy_codes *codes = arg;
  corio_queue q;
  struct qop g = {.q = &q, .item = P(-1)};
  corio_task *t;

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t = spawn_op(qop_get, &g);
  yield_n(1);
  assert_true(g.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* for g */
  corio_queue_shutdown(&q, 1);
  assert_false(g.done);
  codes->while_pending = corio_queue_destroy(&q);
  qop_await(t);
  codes->getter_rc = g.rc;
  codes->after = corio_queue_destroy(&q);
  return 0;
}

static void
test_destroy_after_immediate_shutdown_with_woken_getter(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct destroy_codes codes = {1, 1, 1};
  (void)state;

  assert_int_equal(run_main(destroy_after_immediate_shutdown, &codes), 0);
  corio_test_assert_no_leak(before);
  assert_int_equal(codes.getter_rc, CORIO_EQUEUESHUTDOWN);
  assert_int_equal(codes.while_pending, -EBUSY);
  assert_int_equal(codes.after, 0);
}

/* ---- fairness ------------------------------------------------------------ */

/* Three getters start waiting in the order y, z, x (not their spawn
 * order): they are served in that order. */
static int getters_fifo(void *arg, void **result) {
  int one_by_one = (int)I(arg);
  corio_queue q;
  struct trace trace = {0};
  struct qop x = {.q = &q, .trace = &trace, .tag = 'x', .delay = 2};
  struct qop y = {.q = &q, .trace = &trace, .tag = 'y', .delay = 0};
  struct qop z = {.q = &q, .trace = &trace, .tag = 'z', .delay = 1};
  corio_task *tx, *ty, *tz;

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  tx = spawn_op(qop_get, &x);
  ty = spawn_op(qop_get, &y);
  tz = spawn_op(qop_get, &z);
  yield_n(4);
  assert_true(x.started && y.started && z.started);
  assert_string_equal(trace.log, "");
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(corio_queue_put_nowait(&q, P(i)), 0);
    if (one_by_one)
      yield_n(1);
  }
  qop_await(tx);
  qop_await(ty);
  qop_await(tz);
  assert_int_equal(y.rc, 0);
  assert_int_equal(z.rc, 0);
  assert_int_equal(x.rc, 0);
  assert_int_equal(I(y.item), 1);
  assert_int_equal(I(z.item), 2);
  assert_int_equal(I(x.item), 3);
  assert_string_equal(trace.log, "yzx");
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_getters_served_in_wait_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(getters_fifo, P(0)), 0);
  assert_int_equal(run_main(getters_fifo, P(1)), 0);
  corio_test_assert_no_leak(before);
}

static int putters_fifo(void *arg, void **result) {
  corio_queue q;
  struct trace trace = {0};
  struct qop x = {.q = &q, .trace = &trace, .tag = 'x', .delay = 2};
  struct qop y = {.q = &q, .trace = &trace, .tag = 'y', .delay = 0};
  struct qop z = {.q = &q, .trace = &trace, .tag = 'z', .delay = 1};
  corio_task *tx, *ty, *tz;
  void *item;

  (void)arg;
  (void)result;
  x.item = P('x');
  y.item = P('y');
  z.item = P('z');
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P('0')), 0);
  tx = spawn_op(qop_put, &x);
  ty = spawn_op(qop_put, &y);
  tz = spawn_op(qop_put, &z);
  yield_n(4);
  assert_true(x.started && y.started && z.started);
  assert_string_equal(trace.log, "");
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), '0');
  /* Each get frees the one slot: they put one at a time, in the order
   * they started waiting. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_queue_get(&q, &item), 0);
    assert_int_equal(I(item), "yzx"[i]);
  }
  assert_string_equal(trace.log, "yzx");
  qop_await(tx);
  qop_await(ty);
  qop_await(tz);
  assert_int_equal(x.rc + y.rc + z.rc, 0);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_putters_served_in_wait_order(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(putters_fifo, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* asyncio: a put wakes the first getter, which takes an item only when it
 * runs (`while self.empty(): await getter`). A get_nowait in between takes
 * the item, and the woken getter, finding none, waits again. The main
 * task records what it saw; it is checked after the run. */
struct steal_probe {
  int nowait_rc;
  intptr_t stolen;
  int waits_again; /* the woken waiter ran and is waiting again */
  int destroy_rc;  /* meanwhile */
  int waiter_rc;
  intptr_t got;
};

static int steal_from_woken_getter(void *arg, void **result) {
  struct steal_probe *p = arg;
  corio_queue q;
  struct qop g = {.q = &q, .item = P(-1)};
  corio_task *t;
  void *item = P(-1);

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t = spawn_op(qop_get, &g);
  yield_n(1);
  assert_true(g.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* wakes g */
  p->nowait_rc = corio_queue_get_nowait(&q, &item);
  p->stolen = I(item);
  yield_n(2);
  p->waits_again = !g.done;
  if (p->waits_again)
    p->destroy_rc = corio_queue_destroy(&q);
  if (!g.done)
    assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  qop_await(t);
  p->waiter_rc = g.rc;
  p->got = I(g.item);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_get_nowait_takes_item_woken_getter_waits_again(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct steal_probe p = {1, -1, 0, 1, 1, -1};
  (void)state;

  assert_int_equal(run_main(steal_from_woken_getter, &p), 0);
  corio_test_assert_no_leak(before);
  assert_int_equal(p.nowait_rc, 0);
  assert_int_equal(p.stolen, 1);
  assert_true(p.waits_again);
  assert_int_equal(p.destroy_rc, -EBUSY);
  assert_int_equal(p.waiter_rc, 0);
  assert_int_equal(p.got, 2);
}

/* The same for putters: a get wakes the first putter, which takes the
 * slot only when it runs; a put_nowait in between takes it. */
static int steal_from_woken_putter(void *arg, void **result) {
  struct steal_probe *p = arg;
  corio_queue q;
  struct qop w = {.q = &q, .item = P(2)};
  corio_task *t;
  void *item = P(-1);

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  t = spawn_op(qop_put, &w);
  yield_n(1);
  assert_true(w.started);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0); /* wakes w */
  assert_int_equal(I(item), 1);
  p->nowait_rc = corio_queue_put_nowait(&q, P(3));
  yield_n(2);
  p->waits_again = !w.done;
  if (p->waits_again)
    p->destroy_rc = corio_queue_destroy(&q);
  /* w's item goes in once the slot is free again. */
  if (corio_queue_get_nowait(&q, &item) == 0)
    p->stolen = I(item);
  qop_await(t);
  p->waiter_rc = w.rc;
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  p->got = I(item);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_put_nowait_takes_slot_woken_putter_waits_again(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct steal_probe p = {1, -1, 0, 1, 1, -1};
  (void)state;

  assert_int_equal(run_main(steal_from_woken_putter, &p), 0);
  corio_test_assert_no_leak(before);
  assert_int_equal(p.nowait_rc, 0);
  assert_true(p.waits_again);
  assert_int_equal(p.destroy_rc, -EBUSY);
  assert_int_equal(p.stolen, 3);
  assert_int_equal(p.waiter_rc, 0);
  assert_int_equal(p.got, 2);
}

/* A woken getter that finds nothing waits again at the end of the line,
 * as asyncio's loop appends a new getter: the next put goes to the one
 * that was behind it. */
static int requeue_at_end(void *arg, void **result) {
  struct trace *trace = arg;
  corio_queue q;
  struct qop x = {.q = &q, .trace = trace, .tag = 'x', .item = P(-1)};
  struct qop y = {.q = &q, .trace = trace, .tag = 'y', .item = P(-1)};
  corio_task *tx, *ty;
  void *item;

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  tx = spawn_op(qop_get, &x);
  ty = spawn_op(qop_get, &y);
  yield_n(1);
  assert_true(x.started && y.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* wakes x */
  if (corio_queue_get_nowait(&q, &item) == 0)
    yield_n(2); /* x ran, found nothing: now behind y */
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  yield_n(2);
  assert_int_equal(corio_queue_put_nowait(&q, P(3)), 0);
  qop_await(tx);
  qop_await(ty);
  while (corio_queue_get_nowait(&q, &item) == 0)
    ; /* the trace says who got what */
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_woken_getter_finding_nothing_requeues_at_end(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct trace trace = {0};
  (void)state;

  assert_int_equal(run_main(requeue_at_end, &trace), 0);
  corio_test_assert_no_leak(before);
  assert_string_equal(trace.log, "yx");
}

/* ---- DESIGN.md §4 rule 9: woken, then cancelled ------------------------- */

static int woken_getter_cancelled(void *arg, void **result) {
  corio_queue q;
  struct qop g1 = {.q = &q, .item = P(-1)};
  struct qop g2 = {.q = &q, .item = P(-1)};
  struct qop g3 = {.q = &q, .item = P(-1)};
  corio_task *t1, *t2, *t3;
  void *item;

  (void)arg;
  (void)result;
  /* The item goes to the next getter. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  yield_n(1);
  assert_true(g1.started && g2.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* wakes g1 */
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(g1.rc, -ECANCELED);
  assert_int_equal(I(g1.item), -1);
  qop_await(t2);
  assert_int_equal(g2.rc, 0);
  assert_int_equal(I(g2.item), 1);
  expect_empty(&q);

  /* No other getter: the item stays in the queue, free for anyone. */
  g1 = (struct qop){.q = &q, .item = P(-1)};
  t1 = spawn_op(qop_get, &g1);
  yield_n(1);
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(g1.rc, -ECANCELED);
  assert_int_equal(corio_queue_size(&q), 1);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 2);
  expect_empty(&q);

  /* Passed on twice: g1 cancelled after its wake-up, then g2 after the
   * wake-up g1 passed on. */
  g1 = (struct qop){.q = &q, .item = P(-1)};
  g2 = (struct qop){.q = &q, .item = P(-1)};
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  t3 = spawn_op(qop_get, &g3);
  yield_n(1);
  assert_true(g1.started && g2.started && g3.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(3)), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  yield_n(1); /* g1 runs first and wakes g2, which runs next iteration */
  assert_true(g1.done);
  assert_false(g2.done);
  assert_int_equal(corio_task_cancel(t2, NULL), 1);
  qop_await(t1);
  qop_await(t2);
  qop_await(t3);
  assert_int_equal(g1.rc, -ECANCELED);
  assert_int_equal(g2.rc, -ECANCELED);
  assert_int_equal(g3.rc, 0);
  assert_int_equal(I(g3.item), 3);
  expect_empty(&q);
  /* Only the one item was ever counted. */
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_woken_getter_cancelled_passes_item_on(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(woken_getter_cancelled, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* The same on a priority queue: what is passed on is a claim on an item,
 * and the getter takes the best one there when it runs. */
static int woken_priority_getter_cancelled(void *arg, void **result) {
  corio_queue q;
  struct qop g1 = {.q = &q, .item = P(-1)};
  struct qop g2 = {.q = &q, .item = P(-1)};
  corio_task *t1, *t2;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 0), 0);
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  yield_n(1);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(10), 10), 0);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  yield_n(1); /* g1 passes its wake-up on to g2, which has not run */
  assert_true(g1.done);
  assert_false(g2.done);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(5), 5), 0);
  qop_await(t1);
  qop_await(t2);
  assert_int_equal(g1.rc, -ECANCELED);
  assert_int_equal(g2.rc, 0);
  assert_int_equal(I(g2.item), 5);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 10);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_woken_priority_getter_cancelled(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(woken_priority_getter_cancelled, NULL), 0);
  corio_test_assert_no_leak(before);
}

static int woken_putter_cancelled(void *arg, void **result) {
  corio_queue q;
  struct qop p1 = {.q = &q, .item = P(2)};
  struct qop p2 = {.q = &q, .item = P(3)};
  corio_task *t1, *t2;
  void *item;

  (void)arg;
  (void)result;
  /* The slot goes to the next putter. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  t1 = spawn_op(qop_put, &p1);
  t2 = spawn_op(qop_put, &p2);
  yield_n(1);
  assert_true(p1.started && p2.started);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0); /* wakes p1 */
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(p1.rc, -ECANCELED);
  qop_await(t2);
  assert_int_equal(p2.rc, 0);
  assert_int_equal(corio_queue_size(&q), 1);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 3); /* p1's item was never put */
  expect_empty(&q);

  /* No other putter: the slot is free for anyone. */
  p1 = (struct qop){.q = &q, .item = P(5)};
  assert_int_equal(corio_queue_put_nowait(&q, P(4)), 0);
  t1 = spawn_op(qop_put, &p1);
  yield_n(1);
  assert_true(p1.started);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 4);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(p1.rc, -ECANCELED);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(6)), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 6);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_woken_putter_cancelled_passes_slot_on(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(woken_putter_cancelled, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* Cancelled while simply waiting (not woken): leaves the queue, takes and
 * puts nothing, and the next waiter is served as if it had never been. */
static int waiting_cancelled(void *arg, void **result) {
  corio_queue q;
  struct qop g1 = {.q = &q, .item = P(-1)};
  struct qop g2 = {.q = &q, .item = P(-1)};
  struct qop p1 = {.q = &q, .item = P(2)};
  struct qop p2 = {.q = &q, .item = P(3)};
  corio_task *t1, *t2;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  yield_n(1);
  assert_true(g1.started && g2.started);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(g1.rc, -ECANCELED);
  assert_int_equal(I(g1.item), -1);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  qop_await(t2);
  assert_int_equal(g2.rc, 0);
  assert_int_equal(I(g2.item), 1);
  expect_empty(&q);
  assert_int_equal(corio_queue_destroy(&q), 0); /* nobody left waiting */

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  t1 = spawn_op(qop_put, &p1);
  t2 = spawn_op(qop_put, &p2);
  yield_n(1);
  assert_true(p1.started && p2.started);
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  qop_await(t1);
  assert_int_equal(p1.rc, -ECANCELED);
  assert_int_equal(corio_queue_size(&q), 1);
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 3);
  qop_await(t2);
  assert_int_equal(p2.rc, 0);
  expect_empty(&q);
  /* Two items were put (1 and 3), not p1's. */
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_waiting_cancelled_leaves_queue(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(waiting_cancelled, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* corio_run ends with waiters left: it cancels them; a woken getter hands
 * its item back to the queue, and nobody is left linked to the queue. */
static corio_queue leftover_q;
static struct qop leftover_g;

static int put_later(void *arg) {
  assert_int_equal(corio_queue_put_nowait(arg, P(1)), 0);
  return 0;
}

static int leave_getter(void *arg, void **result) {
  int put_first = (int)I(arg);

  (void)result;
  leftover_g = (struct qop){.q = &leftover_q, .item = P(-1)};
  corio_task_unref(spawn_or_fail(qop_get, &leftover_g));
  yield_n(1);
  assert_true(leftover_g.started);
  /* Put from a callback that runs in the iteration where the loop stops:
   * the getter is woken, but run cancels it before it runs. */
  if (put_first)
    assert_int_equal(corio_loop_call_soon(corio_loop_running(), put_later,
                                          &leftover_q, NULL),
                     0);
  return 0;
}

static void test_run_cancels_waiters(void **state) {
  corio_test_usage before = corio_test_usage_now();
  void *item;
  (void)state;

  assert_int_equal(corio_queue_init(&leftover_q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(run_main(leave_getter, P(0)), 0);
  assert_true(leftover_g.done);
  assert_int_equal(leftover_g.rc, -ECANCELED);
  assert_int_equal(corio_queue_destroy(&leftover_q), 0);

  assert_int_equal(corio_queue_init(&leftover_q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(run_main(leave_getter, P(1)), 0);
  assert_true(leftover_g.done);
  assert_int_equal(leftover_g.rc, -ECANCELED);
  assert_int_equal(I(leftover_g.item), -1);
  assert_int_equal(corio_queue_size(&leftover_q), 1);
  assert_int_equal(corio_queue_get_nowait(&leftover_q, &item), 0);
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_destroy(&leftover_q), 0);
  corio_test_assert_no_leak(before);
}

/* ---- misuse -------------------------------------------------------------- */

struct from_callback {
  corio_queue *q;
  int op; /* 0 get, 1 put, 2 join */
  int rc;
  int ran;
};

static int queue_op_in_callback(void *arg) {
  struct from_callback *c = arg;
  void *item = P(-1);

  c->rc = c->op == 0   ? corio_queue_get(c->q, &item)
          : c->op == 1 ? corio_queue_put(c->q, P(7))
                       : corio_queue_join(c->q);
  c->ran = 1;
  return 0;
}

static int callback_not_a_task(void *arg, void **result) {
  corio_queue q;
  struct from_callback get = {.q = NULL, .op = 0};
  struct from_callback put = {.q = NULL, .op = 1};
  struct from_callback join = {.q = NULL, .op = 2};
  corio_loop *loop = corio_loop_running();
  int *checked = arg;
  void *item;

  (void)result;
  get.q = put.q = join.q = &q;
  /* Empty, with one item got and not done: get and join would wait. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(corio_loop_call_soon(loop, queue_op_in_callback, &get, NULL),
                   0);
  assert_int_equal(
      corio_loop_call_soon(loop, queue_op_in_callback, &join, NULL), 0);
  yield_n(1);
  assert_true(get.ran && join.ran);
  assert_int_equal(get.rc, CORIO_ENOTASK);
  assert_int_equal(join.rc, CORIO_ENOTASK);
  /* Full: put would wait. */
  assert_int_equal(corio_queue_put_nowait(&q, P(2)), 0);
  assert_int_equal(corio_loop_call_soon(loop, queue_op_in_callback, &put, NULL),
                   0);
  yield_n(1);
  assert_true(put.ran);
  assert_int_equal(put.rc, CORIO_ENOTASK);
  assert_int_equal(corio_queue_size(&q), 1);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 2);
  assert_int_equal(corio_queue_destroy(&q), 0);
  *checked = 1;
  return 0;
}

static void test_outside_task(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_queue q;
  void *item = P(-1);
  int checked = 0;
  (void)state;

  /* No loop at all. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(corio_queue_get(&q, &item), CORIO_ENOTASK);
  assert_int_equal(I(item), -1);
  assert_int_equal(corio_queue_put(&q, P(1)), 0); /* room: no wait */
  assert_int_equal(corio_queue_put(&q, P(2)), CORIO_ENOTASK);
  assert_int_equal(corio_queue_size(&q), 1); /* 2 was not put */
  assert_int_equal(corio_queue_join(&q), CORIO_ENOTASK);
  assert_int_equal(corio_queue_get(&q, &item), 0); /* there: no wait */
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_join(&q), CORIO_ENOTASK); /* not done */
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_join(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 1), 0);
  assert_int_equal(corio_queue_put_priority(&q, P(1), 1), 0);
  assert_int_equal(corio_queue_put_priority(&q, P(2), 0), CORIO_ENOTASK);
  assert_int_equal(corio_queue_size(&q), 1);
  assert_int_equal(corio_queue_destroy(&q), 0);

  /* In a loop callback: a loop is running, but there is no task to
   * suspend. */
  assert_int_equal(run_main(callback_not_a_task, &checked), 0);
  assert_true(checked);
  corio_test_assert_no_leak(before);
}

static void test_null_and_bad_arguments(void **state) {
  corio_queue q;
  void *item = P(-1);
  (void)state;

  assert_int_equal(corio_queue_init(NULL, CORIO_QUEUE_FIFO, 0), -EINVAL);
  assert_int_equal(corio_queue_init(&q, (corio_queue_kind)42, 0), -EINVAL);
  assert_int_equal(corio_queue_init_compare(NULL, 0, key_descending), -EINVAL);
  assert_int_equal(corio_queue_init_compare(&q, 0, NULL), -EINVAL);
  assert_int_equal(corio_queue_destroy(NULL), -EINVAL);
  assert_int_equal(corio_queue_put(NULL, P(1)), -EINVAL);
  assert_int_equal(corio_queue_put_nowait(NULL, P(1)), -EINVAL);
  assert_int_equal(corio_queue_put_priority(NULL, P(1), 0), -EINVAL);
  assert_int_equal(corio_queue_put_priority_nowait(NULL, P(1), 0), -EINVAL);
  assert_int_equal(corio_queue_get(NULL, &item), -EINVAL);
  assert_int_equal(corio_queue_get_nowait(NULL, &item), -EINVAL);
  assert_int_equal(corio_queue_task_done(NULL), -EINVAL);
  assert_int_equal(corio_queue_join(NULL), -EINVAL);
  corio_queue_shutdown(NULL, 0); /* no crash */
  corio_queue_shutdown(NULL, 1);
  assert_int_equal(corio_queue_size(NULL), 0);
  assert_int_equal(corio_queue_maxsize(NULL), 0);
  assert_false(corio_queue_is_shutdown(NULL));
  assert_int_equal(I(item), -1);

  /* A NULL out pointer: nothing is taken. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_get(&q, NULL), -EINVAL);
  assert_int_equal(corio_queue_get_nowait(&q, NULL), -EINVAL);
  assert_int_equal(corio_queue_size(&q), 1);
  /* A NULL item is an item like any other. */
  assert_int_equal(corio_queue_put_nowait(&q, NULL), 0);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_int_equal(I(item), 1);
  assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
  assert_null(item);
  assert_int_equal(corio_queue_destroy(&q), 0);
}

static void test_put_priority_on_other_kinds(void **state) {
  corio_queue q;
  (void)state;

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_put_priority(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), CORIO_ETOOMANYRELEASES);
  assert_int_equal(corio_queue_destroy(&q), 0);

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_LIFO, 0), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_put_priority(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);

  /* Ordered by a comparison: there is no integer priority to give. */
  assert_int_equal(corio_queue_init_compare(&q, 0, key_descending), 0);
  assert_int_equal(corio_queue_put_priority_nowait(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_put_priority(&q, P(1), 1), -EINVAL);
  assert_int_equal(corio_queue_size(&q), 0);
  assert_int_equal(corio_queue_destroy(&q), 0);
}

static int destroy_busy(void *arg, void **result) {
  corio_queue q;
  struct qop g = {.q = &q}, p = {.q = &q, .item = P(2)}, j = {.q = &q};
  corio_task *t;
  void *item;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 1), 0);

  /* A getter waiting; then woken with an item promised to it. */
  t = spawn_op(qop_get, &g);
  yield_n(1);
  assert_true(g.started);
  assert_int_equal(corio_queue_destroy(&q), -EBUSY);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  assert_int_equal(corio_queue_destroy(&q), -EBUSY);
  qop_await(t);
  assert_int_equal(g.rc, 0);
  assert_int_equal(I(g.item), 1);

  /* A putter waiting: the queue still works after -EBUSY. */
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0);
  t = spawn_op(qop_put, &p);
  yield_n(1);
  assert_true(p.started);
  assert_int_equal(corio_queue_destroy(&q), -EBUSY);
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 1);
  qop_await(t);
  assert_int_equal(p.rc, 0);
  assert_int_equal(corio_queue_get(&q, &item), 0);
  assert_int_equal(I(item), 2);

  /* A joiner waiting. */
  t = spawn_op(qop_join, &j);
  yield_n(1);
  assert_true(j.started);
  assert_false(j.done);
  assert_int_equal(corio_queue_destroy(&q), -EBUSY);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  assert_int_equal(corio_queue_task_done(&q), 0);
  qop_await(t);
  assert_int_equal(j.rc, 0);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_destroy_with_waiters(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(destroy_busy, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* ---- allocation failures ------------------------------------------------- */

static long queue_failures;

/* Puts n items with put_nowait (priority i % 7 on priority queues); a put
 * that fails must fail with -ENOMEM and change nothing, and the retry
 * (the fault is one-shot) must work. Returns the first error. */
static int fill_checked(corio_queue *q, int priority, intptr_t from,
                        intptr_t to) {
  int first = 0;

  for (intptr_t i = from; i < to; i++) {
    size_t size = corio_queue_size(q);
    int rc = priority ? corio_queue_put_priority_nowait(q, P(i), i % 7)
                      : corio_queue_put_nowait(q, P(i));

    if (rc < 0) {
      assert_int_equal(rc, -ENOMEM);
      assert_int_equal(corio_queue_size(q), size);
      queue_failures++;
      if (!first)
        first = rc;
      rc = priority ? corio_queue_put_priority_nowait(q, P(i), i % 7)
                    : corio_queue_put_nowait(q, P(i));
      assert_int_equal(rc, 0);
    }
  }
  return first;
}

static int keep(int first, int rc) { return first ? first : rc; }

/* FIFO (wrapped before it grows), LIFO and priority, each grown from
 * nothing to 1000 items; no loop needed for the nowait calls. */
static int storage_scenario(void *ctx) {
  corio_queue q;
  void *item;
  int first = 0;

  (void)ctx;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  first = keep(first, fill_checked(&q, 0, 0, 10));
  for (intptr_t i = 0; i < 8; i++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), i);
  }
  first = keep(first, fill_checked(&q, 0, 10, 1000));
  for (intptr_t i = 8; i < 1000; i++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), i);
  }
  assert_int_equal(corio_queue_destroy(&q), 0);

  /* Bounded: 16, then 32, then maxsize 40. */
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 40), 0);
  first = keep(first, fill_checked(&q, 0, 0, 40));
  assert_int_equal(corio_queue_put_nowait(&q, P(40)), CORIO_EQUEUEFULL);
  for (intptr_t i = 0; i < 40; i++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), i);
  }
  assert_int_equal(corio_queue_destroy(&q), 0);

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_LIFO, 0), 0);
  first = keep(first, fill_checked(&q, 0, 0, 1000));
  for (intptr_t i = 999; i >= 0; i--) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), i);
  }
  assert_int_equal(corio_queue_destroy(&q), 0);

  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 0), 0);
  first = keep(first, fill_checked(&q, 1, 0, 700));
  for (intptr_t n = 0; n < 700; n++) {
    assert_int_equal(corio_queue_get_nowait(&q, &item), 0);
    assert_int_equal(I(item), (n % 100) * 7 + n / 100);
  }
  assert_int_equal(corio_queue_destroy(&q), 0);
  return first;
}

static void is_enomem(int rc) { assert_int_equal(rc, -ENOMEM); }

static void test_fault_walk_storage(void **state) {
  long walked;
  (void)state;

  queue_failures = 0;
  walked = corio_test_fault_walk(CORIO__FAULT_ALLOC, storage_scenario, NULL,
                                 is_enomem);
  /* 16 → 1024: 7 growths for each of FIFO, LIFO and priority; 16, 32, 40
   * for the bounded one. */
  assert_int_equal(walked, 24);
  assert_int_equal(queue_failures, walked);
  assert_int_equal(storage_scenario(NULL), 0);
}

/* With a loop: a consumer task waits on the queue while the main task
 * fills it past a few growths; every allocation of the run fails in turn.
 * Whatever fails, the consumer is released (shutdown), nobody is left
 * waiting (destroy works) and nothing leaks. */
struct consumer {
  corio_queue *q;
  intptr_t expect;
  int rc;
};

static int consume(void *arg, void **result) {
  struct consumer *c = arg;
  void *item;
  int rc;

  (void)result;
  while ((rc = corio_queue_get(c->q, &item)) == 0) {
    if (I(item) != c->expect++)
      return c->rc = -EPROTO;
    rc = corio_queue_task_done(c->q);
    if (rc < 0)
      return c->rc = rc;
  }
  return c->rc = rc == CORIO_EQUEUESHUTDOWN ? 0 : rc;
}

static int run_walk_main(void *arg, void **result) {
  corio_queue q;
  struct consumer c = {.q = &q};
  corio_task *t = NULL;
  int first = 0, rc;

  (void)arg;
  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  rc = corio_spawn(&t, consume, &c);
  if (rc < 0)
    goto out;
  /* The consumer starts and waits, or could not start (no stack). */
  rc = corio_sleep(0);
  if (rc < 0 || corio_task_done(t))
    goto out;
  for (intptr_t i = 0; i < 600; i += 100) {
    first = keep(first, fill_checked(&q, 0, i, i + 100));
    if (i == 300) {
      /* The consumer drains what is there, and waits. */
      rc = corio_queue_join(&q);
      if (rc < 0)
        goto out;
      assert_int_equal(corio_queue_size(&q), 0);
    }
  }
  rc = corio_queue_join(&q);
out:
  corio_queue_shutdown(&q, 0);
  if (t) {
    int trc = corio_await(t, NULL);

    corio_task_unref(t);
    if (rc == 0)
      rc = trc;
    if (rc == 0)
      rc = c.rc;
    if (rc == 0 && c.expect != 600)
      rc = -EPROTO;
  }
  assert_int_equal(corio_queue_destroy(&q), 0);
  return keep(first, rc);
}

static int run_walk(void *ctx) {
  (void)ctx;
  return corio_run(run_walk_main, NULL, NULL);
}

static void test_fault_walk_in_run(void **state) {
  long walked;
  (void)state;

  queue_failures = 0;
  walked = corio_test_fault_walk(CORIO__FAULT_ALLOC, run_walk, NULL, is_enomem);
  assert_true(walked >= 6 + 3); /* the queue's growths and the run's own */
  assert_true(queue_failures >= 6);
  assert_int_equal(run_walk(NULL), 0);
}

/* qsize(), empty() and full() always agree, as in asyncio: an item a
 * getter was woken for is still in the queue (and anyone may take it)
 * until that getter runs, and a slot a putter was woken for is free. */
struct agree_probe {
  corio_queue q;
  size_t size_getter_woken;
  int empty_getter_woken, full_getter_woken;
  size_t size_putter_woken;
  int empty_putter_woken, full_putter_woken;
};

static int getter_once(void *arg, void **result) {
  void *item;

  (void)result;
  return corio_queue_get(arg, &item);
}

static int putter_once(void *arg, void **result) {
  (void)result;
  return corio_queue_put(arg, CORIO_PTR(9));
}

static int probe_agreement(void *arg, void **result) {
  struct agree_probe *p = arg;
  corio_task *t;
  void *item;

  (void)result;
  t = spawn_or_fail(getter_once, &p->q);
  yield_n(1);
  assert_int_equal(corio_queue_put_nowait(&p->q, CORIO_PTR(1)), 0);
  p->size_getter_woken = corio_queue_size(&p->q);
  p->empty_getter_woken = corio_queue_empty(&p->q);
  p->full_getter_woken = corio_queue_full(&p->q);
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  assert_int_equal(corio_queue_put_nowait(&p->q, CORIO_PTR(2)), 0);
  t = spawn_or_fail(putter_once, &p->q);
  yield_n(1);
  assert_int_equal(corio_queue_get_nowait(&p->q, &item), 0);
  p->size_putter_woken = corio_queue_size(&p->q);
  p->empty_putter_woken = corio_queue_empty(&p->q);
  p->full_putter_woken = corio_queue_full(&p->q);
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  assert_int_equal(corio_queue_get_nowait(&p->q, &item), 0);
  assert_int_equal(I(item), 9);
  return 0;
}

static void test_qsize_empty_full_agree_while_waiter_woken(void **state) {
  struct agree_probe p = {.empty_getter_woken = -1,
                          .full_getter_woken = -1,
                          .empty_putter_woken = -1,
                          .full_putter_woken = -1};
  (void)state;

  assert_int_equal(corio_queue_init(&p.q, CORIO_QUEUE_FIFO, 1), 0);
  assert_int_equal(run_main(probe_agreement, &p), 0);
  assert_int_equal(p.size_getter_woken, 1);
  assert_false(p.empty_getter_woken);
  assert_true(p.full_getter_woken);
  assert_int_equal(p.size_putter_woken, 0);
  assert_true(p.empty_putter_woken);
  assert_false(p.full_putter_woken);
  assert_int_equal(corio_queue_destroy(&p.q), 0);
}

/* asyncio 3.13: shutdown wakes every getter to look again. A getter woken
 * by a put and cancelled before it ran passes its wake-up on, but the one
 * behind it was woken by the shutdown already: when it runs, it takes the
 * item left rather than fail (the queue is not empty). */
struct shutdown_probe {
  int first_rc, second_rc;
  intptr_t second_item;
  size_t size_after;
};

static int item_left_after_shutdown(void *arg, void **result) {
  struct shutdown_probe *p = arg;
  corio_queue q;
  struct qop g1 = {.q = &q, .item = P(-1)};
  struct qop g2 = {.q = &q, .item = P(-1)};
  corio_task *t1, *t2;

  (void)result;
  assert_int_equal(corio_queue_init(&q, CORIO_QUEUE_FIFO, 0), 0);
  t1 = spawn_op(qop_get, &g1);
  t2 = spawn_op(qop_get, &g2);
  yield_n(1);
  assert_true(g1.started && g2.started);
  assert_int_equal(corio_queue_put_nowait(&q, P(1)), 0); /* wakes g1 */
  assert_int_equal(corio_task_cancel(t1, NULL), 1);
  corio_queue_shutdown(&q, 0); /* wakes g2 */
  qop_await(t1);
  qop_await(t2);
  p->first_rc = g1.rc;
  p->second_rc = g2.rc;
  p->second_item = I(g2.item);
  p->size_after = corio_queue_size(&q);
  assert_int_equal(corio_queue_destroy(&q), 0);
  return 0;
}

static void test_getter_woken_by_shutdown_takes_item_left(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct shutdown_probe p = {1, 1, -1, 99};
  (void)state;

  assert_int_equal(run_main(item_left_after_shutdown, &p), 0);
  corio_test_assert_no_leak(before);
  assert_int_equal(p.first_rc, -ECANCELED);
  assert_int_equal(p.second_rc, 0);
  assert_int_equal(p.second_item, 1);
  assert_int_equal(p.size_after, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_qsize_empty_full_agree_while_waiter_woken),
      cmocka_unit_test(test_fifo_order),
      cmocka_unit_test(test_lifo_order),
      cmocka_unit_test(test_priority_by_integer),
      cmocka_unit_test(test_priority_by_compare),
      cmocka_unit_test(test_unbounded_growth),
      cmocka_unit_test(test_fifo_ring_wraparound),
      cmocka_unit_test(test_bounded_growth),
      cmocka_unit_test(test_nowait_codes_and_state),
      cmocka_unit_test(test_put_waits_when_full),
      cmocka_unit_test(test_get_waits_when_empty),
      cmocka_unit_test(test_task_done_too_many),
      cmocka_unit_test(test_join_waits_for_every_item),
      cmocka_unit_test(test_join_returns_at_once),
      cmocka_unit_test(test_shutdown_graceful),
      cmocka_unit_test(test_shutdown_releases_waiting_getters),
      cmocka_unit_test(test_shutdown_immediate),
      cmocka_unit_test(test_shutdown_immediate_voids_reservations),
      cmocka_unit_test(test_shutdown_then_immediate),
      cmocka_unit_test(test_getter_woken_by_shutdown_takes_item_left),
      cmocka_unit_test(test_getters_served_in_wait_order),
      cmocka_unit_test(test_putters_served_in_wait_order),
      cmocka_unit_test(test_get_nowait_takes_item_woken_getter_waits_again),
      cmocka_unit_test(test_put_nowait_takes_slot_woken_putter_waits_again),
      cmocka_unit_test(test_woken_getter_finding_nothing_requeues_at_end),
      cmocka_unit_test(test_woken_getter_cancelled_passes_item_on),
      cmocka_unit_test(test_woken_priority_getter_cancelled),
      cmocka_unit_test(test_woken_putter_cancelled_passes_slot_on),
      cmocka_unit_test(test_waiting_cancelled_leaves_queue),
      cmocka_unit_test(test_run_cancels_waiters),
      cmocka_unit_test(test_outside_task),
      cmocka_unit_test(test_null_and_bad_arguments),
      cmocka_unit_test(test_put_priority_on_other_kinds),
      cmocka_unit_test(test_destroy_with_waiters),
      cmocka_unit_test(test_fault_walk_storage),
      cmocka_unit_test(test_fault_walk_in_run),
      cmocka_unit_test(test_destroy_after_immediate_shutdown_with_woken_getter),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
