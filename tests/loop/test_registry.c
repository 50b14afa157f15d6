/* The list of live loops that debuggers walk (src/loop/registry.h): a loop
 * is in it from a successful create until its memory is freed, once, with
 * the links consistent, whatever threads create and free loops. */
#include <pthread.h>

#include "loop/loop_internal.h"
#include "loop_test.h"

/* How many times loop is in the list (-1 if the links are inconsistent),
 * and the list's length in *len. */
static int occurrences(const corio_loop *loop, unsigned *len) {
  const corio_loop *prev = NULL;
  int n = 0;

  *len = 0;
  pthread_mutex_lock(&corio__loops.lock);
  for (const corio_loop *l = corio__loops.head; l; l = l->registry.next) {
    if (l->registry.prev != prev) {
      n = -1;
      break;
    }
    if (l == loop)
      n++;
    prev = l;
    ++*len;
  }
  if (n >= 0 && *len != corio__loops.count)
    n = -1;
  pthread_mutex_unlock(&corio__loops.lock);
  return n;
}

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static void test_create_and_free(void **state) {
  corio_loop *a, *b, *c;
  unsigned base, len;
  (void)state;

  assert_int_equal(corio__loops.version, CORIO__LOOP_REGISTRY_VERSION);
  assert_int_equal(occurrences(NULL, &base), 0);
  a = new_loop();
  b = new_loop();
  c = new_loop();
  assert_ptr_equal(corio__loops.head, c); /* the newest first */
  assert_int_equal(occurrences(a, &len), 1);
  assert_int_equal(len, base + 3);
  assert_int_equal(occurrences(b, &len), 1);
  assert_int_equal(occurrences(c, &len), 1);

  /* From the middle, the head and the tail. */
  corio_loop_unref(b);
  assert_int_equal(occurrences(a, &len), 1);
  assert_int_equal(len, base + 2);
  corio_loop_unref(c);
  assert_int_equal(occurrences(a, &len), 1);
  assert_int_equal(len, base + 1);
  corio_loop_unref(a);
  assert_int_equal(occurrences(NULL, &len), 0);
  assert_int_equal(len, base);
}

/* Closed but still holding memory (a user's handle reference): listed
 * until the memory goes. */
static void test_listed_until_memory_goes(void **state) {
  corio_loop *loop = new_loop();
  corio_handle *h = NULL;
  unsigned base, len;
  (void)state;

  assert_int_equal(corio_loop_call_soon(loop, noop, NULL, &h), 0);
  assert_int_equal(occurrences(loop, &base), 1);
  corio_loop_unref(loop); /* closed now */
  assert_int_equal(occurrences(loop, &len), 1);
  corio_handle_unref(h);
  assert_int_equal(occurrences(NULL, &len), 0);
  assert_int_equal(len, base - 1);
}

static int create_and_free(void *arg) {
  corio_loop *loop = NULL;
  int rc = corio_loop_create(&loop);

  (void)arg;
  if (rc == 0)
    corio_loop_unref(loop);
  return rc;
}

/* A create that fails leaves nothing in the list. */
static void test_failed_create(void **state) {
  unsigned base, len;
  (void)state;

  assert_int_equal(occurrences(NULL, &base), 0);
  /* Failures before and after the loop's own allocation (the poller's,
   * the wake-up fd's). */
  assert_true(corio_test_fault_walk(CORIO__FAULT_ALLOC, create_and_free, NULL,
                                    corio_test_negative) > 1);
  assert_true(corio_test_fault_walk(CORIO__FAULT_EVENTFD, create_and_free, NULL,
                                    corio_test_negative) > 0);
  assert_int_equal(occurrences(NULL, &len), 0);
  assert_int_equal(len, base);
}

static void *churn(void *arg) {
  for (int i = 0; i < 200; i++) {
    corio_loop *loop = NULL;

    if (corio_loop_create(&loop) != 0)
      return arg; /* non-NULL: failed */
    corio_loop_unref(loop);
  }
  return NULL;
}

static void test_threads(void **state) {
  pthread_t th[4];
  unsigned base, len;
  (void)state;

  assert_int_equal(occurrences(NULL, &base), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, churn, th), 0);
  for (int i = 0; i < 4; i++) {
    void *failed;

    assert_int_equal(pthread_join(th[i], &failed), 0);
    assert_null(failed);
  }
  assert_int_equal(occurrences(NULL, &len), 0);
  assert_int_equal(len, base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_and_free),
      cmocka_unit_test(test_listed_until_memory_goes),
      cmocka_unit_test(test_failed_create),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
