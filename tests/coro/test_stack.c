/* The stack pool: reuse, size classes, many live coroutines, mappings. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "corio/coro.h"
#include "support.h"

static void *yield_then_return(void *arg) {
  if (corio_coro_yield(arg, NULL) != 0)
    return NULL;
  return arg;
}

static void *touch_stack(void *arg) {
  size_t bytes = (size_t)CORIO_INT(arg);
  volatile char *buf = __builtin_alloca(bytes);

  /* Use the stack from the top down, as deep frames would. */
  for (size_t i = bytes; i >= 512; i -= 512)
    buf[i - 1] = (char)i;
  return NULL;
}

/* ThreadSanitizer maps memory of its own for every fiber: mapping counts
 * say nothing about corio there. */
#if defined(__SANITIZE_THREAD__)
#define MAPS_MEANINGFUL 0
#else
#define MAPS_MEANINGFUL 1
#endif

static int count_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  int lines = 0, c;

  assert_non_null(f);
  while ((c = fgetc(f)) != EOF)
    lines += c == '\n';
  fclose(f);
  return lines;
}

static void test_stacks_are_reused(void **state) {
  corio_coro *a, *b;
  (void)state;

  assert_int_equal(
      corio_coro_create(&a, yield_then_return, NULL, CORIO_CORO_STACK_DEFAULT),
      0);
  assert_int_equal(corio_coro_destroy(a), 0);
  /* The same stack (and so the same control block) comes back. */
  assert_int_equal(
      corio_coro_create(&b, yield_then_return, NULL, CORIO_CORO_STACK_DEFAULT),
      0);
  assert_ptr_equal(a, b);
  assert_int_equal(corio_coro_destroy(b), 0);
}

static void test_size_classes(void **state) {
  static const size_t sizes[] = {
      CORIO_CORO_STACK_MIN,     20000,       64 * 1024,      100 * 1000,
      CORIO_CORO_STACK_DEFAULT, 1024 * 1024, 8 * 1024 * 1024};
  corio_coro *co;
  (void)state;

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t got;

    size_t page = corio__page_size();

    assert_int_equal(corio_coro_create(&co, touch_stack,
                                       CORIO_PTR(sizes[i] - 3 * page),
                                       sizes[i]),
                     0);
    got = corio_coro_stack_size(co);
    /* The request, less the guard page and the control block, up to the
     * next power of two. */
    assert_true(got >= sizes[i] - page - 2048); /* ucontext_t is ~1 KiB */
    assert_true(got < 2 * sizes[i]);
    /* All of it is usable. */
    assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
    assert_int_equal(corio_coro_destroy(co), 0);
  }
  corio_coro_pool_trim();
}

/* ThreadSanitizer counts each coroutine as a thread and allows ~8,000. */
#if defined(__SANITIZE_THREAD__)
enum { MANY = 4000 };
#else
enum { MANY = 20000 };
#endif

static void test_many_live_coroutines(void **state) {
  corio_test_usage before;
  corio_coro **all = calloc(MANY, sizeof *all);
  void *out;
  (void)state;

  assert_non_null(all);
  corio_coro_pool_trim();
  before = corio_test_usage_now();
  for (intptr_t i = 0; i < MANY; i++) {
    assert_int_equal(corio_coro_create(&all[i], yield_then_return, CORIO_PTR(i),
                                       CORIO_CORO_STACK_DEFAULT),
                     0);
    assert_int_equal(corio_coro_resume(all[i], NULL, &out), 0);
    assert_int_equal(CORIO_INT(out), i);
  }
  /* Slabs, not a mapping per stack: past the guard budget a slab of 256
   * stacks is one mapping (guarded stacks cost two each). */
  if (MAPS_MEANINGFUL)
    assert_true(count_maps() < 2 * 8192 + MANY / 256 + 1000);
  /* Every one is intact and resumes to its own value. */
  for (intptr_t i = MANY - 1; i >= 0; i--) {
    assert_int_equal(corio_coro_resume(all[i], NULL, &out),
                     CORIO_CORO_RETURNED);
    assert_int_equal(CORIO_INT(out), i);
    assert_int_equal(corio_coro_destroy(all[i]), 0);
  }
  free(all);
  corio_test_assert_no_leak(before);
}

static void test_guard_budget_is_respected(void **state) {
  size_t old;
  corio_coro *all[300];
  int maps_before;
  (void)state;

  if (!MAPS_MEANINGFUL)
    skip();
  old = corio_coro_set_guard_budget(0);
  corio_coro_pool_trim();
  maps_before = count_maps();
  for (int i = 0; i < 300; i++)
    assert_int_equal(corio_coro_create(&all[i], yield_then_return, NULL,
                                       CORIO_CORO_STACK_DEFAULT),
                     0);
  /* Two unguarded slabs: a handful of mappings, not hundreds. */
  assert_true(count_maps() - maps_before <= 4);
  for (int i = 0; i < 300; i++)
    assert_int_equal(corio_coro_destroy(all[i]), 0);
  corio_coro_pool_trim();
  assert_int_equal(corio_coro_set_guard_budget(old), 0);

  /* With guards, each stack of a slab splits the mapping. */
  maps_before = count_maps();
  assert_int_equal(corio_coro_create(&all[0], yield_then_return, NULL,
                                     CORIO_CORO_STACK_DEFAULT),
                   0);
  assert_true(count_maps() - maps_before >= 256);
  assert_int_equal(corio_coro_destroy(all[0]), 0);
  corio_coro_pool_trim();
}

static void test_trim_releases_empty_slabs(void **state) {
  long before;
  corio_coro *co;
  (void)state;

  corio_coro_pool_trim();
  before = corio__sys_mapped_bytes();
  assert_int_equal(
      corio_coro_create(&co, yield_then_return, NULL, CORIO_CORO_STACK_DEFAULT),
      0);
  assert_true(corio__sys_mapped_bytes() > before);
  assert_int_equal(corio_coro_destroy(co), 0);
  /* One empty slab per class stays cached until trimmed. */
  assert_true(corio__sys_mapped_bytes() > before);
  corio_coro_pool_trim();
  assert_int_equal(corio__sys_mapped_bytes(), before);
}

static void *thread_leaves_pool_behind(void *arg) {
  corio_coro *co;
  (void)arg;

  assert_int_equal(
      corio_coro_create(&co, yield_then_return, NULL, CORIO_CORO_STACK_DEFAULT),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(corio_coro_destroy(co), 0);
  return NULL; /* no trim: thread exit must release the pool */
}

static void test_thread_exit_releases_its_pool(void **state) {
  corio_test_usage before;
  pthread_t t;
  (void)state;

  corio_coro_pool_trim();
  before = corio_test_usage_now();
  assert_int_equal(pthread_create(&t, NULL, thread_leaves_pool_behind, NULL),
                   0);
  assert_int_equal(pthread_join(t, NULL), 0);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stacks_are_reused),
      cmocka_unit_test(test_size_classes),
      cmocka_unit_test(test_many_live_coroutines),
      cmocka_unit_test(test_guard_budget_is_respected),
      cmocka_unit_test(test_trim_releases_empty_slabs),
      cmocka_unit_test(test_thread_exit_releases_its_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
