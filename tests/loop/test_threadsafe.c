/* Calls from other threads: order, wake-ups, a loop in a background
 * thread, and posting while the loop closes. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop_test.h"

enum { POSTS = 20000 };

struct counter {
  corio_loop *loop;
  long expected_next;
  long seen;
  int out_of_order;
};

static int take(void *arg) {
  struct counter *c = arg;

  c->seen++;
  return 0;
}

/* The loop's side of the ordering test. */
static struct counter *order_counter;

static int check_order(void *arg) {
  struct counter *c = order_counter;
  long value = *(long *)arg;

  if (value != c->expected_next)
    c->out_of_order = 1;
  c->expected_next++;
  if (++c->seen == POSTS)
    return corio_loop_stop(c->loop);
  return 0;
}

struct poster {
  corio_loop *loop;
  long *values;
};

static void *post_many(void *arg) {
  struct poster *p = arg;

  for (long i = 0; i < POSTS; i++)
    assert_int_equal(
        corio_loop_call_soon_threadsafe(p->loop, check_order, &p->values[i]),
        0);
  return NULL;
}

static void test_posts_arrive_in_order_and_wake_the_loop(void **state) {
  struct counter c = {new_loop(), 0, 0, 0};
  long *values = calloc(POSTS, sizeof *values);
  struct poster p = {c.loop, values};
  pthread_t t;
  (void)state;

  assert_non_null(values);
  order_counter = &c;
  for (long i = 0; i < POSTS; i++)
    values[i] = i;
  /* The loop is idle, blocked in the poller, until the posts wake it. */
  assert_int_equal(pthread_create(&t, NULL, post_many, &p), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(c.seen, POSTS);
  assert_false(c.out_of_order);
  corio_loop_unref(c.loop);
  free(values);
}

static void *run_loop_in_thread(void *arg) {
  return (void *)(intptr_t)corio_loop_run_forever(arg);
}

static void test_loop_in_a_background_thread(void **state) {
  struct counter c = {new_loop(), 0, 0, 0};
  pthread_t t;
  void *rc;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, run_loop_in_thread, c.loop), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(corio_loop_call_soon_threadsafe(c.loop, take, &c), 0);
  assert_int_equal(corio_loop_call_soon_threadsafe(c.loop, stop_loop, c.loop),
                   0);
  assert_int_equal(pthread_join(t, &rc), 0);
  assert_int_equal((intptr_t)rc, 0);
  assert_int_equal(c.seen, 100);
  corio_loop_unref(c.loop);
}

struct hammer {
  corio_loop *loop;
  atomic_int stop;
  atomic_long ok, refused;
};

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static void *hammer_posts(void *arg) {
  struct hammer *h = arg;

  while (!atomic_load(&h->stop)) {
    int rc = corio_loop_call_soon_threadsafe(h->loop, noop, NULL);
    if (rc == 0)
      atomic_fetch_add(&h->ok, 1);
    else if (rc == CORIO_ELOOPCLOSED)
      atomic_fetch_add(&h->refused, 1);
    else
      fail();
  }
  return NULL;
}

static void test_posting_while_the_loop_closes(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct hammer h = {new_loop(), 0, 0, 0};
  pthread_t t;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, hammer_posts, &h), 0);
  while (atomic_load(&h.ok) < 1000)
    usleep(100);
  /* Pending posts are dropped; later ones are refused; nothing crashes. */
  assert_int_equal(corio_loop_close(h.loop), 0);
  while (atomic_load(&h.refused) < 1000)
    usleep(100);
  atomic_store(&h.stop, 1);
  assert_int_equal(pthread_join(t, NULL), 0);
  corio_loop_unref(h.loop);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posts_arrive_in_order_and_wake_the_loop),
      cmocka_unit_test(test_loop_in_a_background_thread),
      cmocka_unit_test(test_posting_while_the_loop_closes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
