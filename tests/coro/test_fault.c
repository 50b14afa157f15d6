/* Fault injection over every allocation and syscall of coroutine creation:
 * each failure comes back as a clean error with nothing leaked, and the
 * pool keeps working afterwards. */
#include <errno.h>

#include "corio/coro.h"
#include "support.h"

static void *yield_then_return(void *arg) {
  if (corio_coro_yield(arg, NULL) != 0)
    return NULL;
  return arg;
}

/* One full life: create, run to a yield, destroy (which closes it). */
static int coroutine_life(void *ctx) {
  size_t size = *(size_t *)ctx;
  corio_coro *co;
  void *out = NULL;
  int rc = corio_coro_create(&co, yield_then_return, CORIO_PTR(7), size);

  if (rc < 0)
    return rc;
  assert_int_equal(corio_coro_resume(co, NULL, &out), 0);
  assert_int_equal(CORIO_INT(out), 7);
  assert_int_equal(corio_coro_destroy(co), 0);
  return 0;
}

static void only_enomem(int rc) {
  /* A tolerated failure (advice) gives 0; anything else is -ENOMEM. */
  assert_true(rc == 0 || rc == -ENOMEM);
}

static void walk_all_points(size_t size) {
  long walked;

  walked = corio_test_fault_walk(CORIO__FAULT_ALLOC, coroutine_life, &size,
                                 only_enomem);
  assert_true(walked >= 1); /* the slab descriptor */
  walked = corio_test_fault_walk(CORIO__FAULT_MMAP, coroutine_life, &size,
                                 only_enomem);
  assert_int_equal(walked, 1);
  walked = corio_test_fault_walk(CORIO__FAULT_MADVISE, coroutine_life, &size,
                                 only_enomem);
  assert_int_equal(walked, 1);
  walked = corio_test_fault_walk(CORIO__FAULT_MPROTECT, coroutine_life, &size,
                                 only_enomem);
  /* One guard page per region of a guarded slab. */
  assert_true(walked >= 1);
  /* And the pool still works. */
  assert_int_equal(coroutine_life(&size), 0);
}

static void test_walk_default_stack(void **state) {
  (void)state;
  walk_all_points(CORIO_CORO_STACK_DEFAULT);
}

static void test_walk_small_and_large_stacks(void **state) {
  (void)state;
  walk_all_points(CORIO_CORO_STACK_MIN);
  walk_all_points(64u << 20);
}

static void test_unguarded_slabs_make_no_mprotect(void **state) {
  size_t size = CORIO_CORO_STACK_DEFAULT;
  size_t old = corio_coro_set_guard_budget(0);
  (void)state;

  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_MPROTECT, coroutine_life,
                                         &size, only_enomem),
                   0);
  corio_coro_set_guard_budget(old);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_default_stack),
      cmocka_unit_test(test_walk_small_and_large_stacks),
      cmocka_unit_test(test_unguarded_slabs_make_no_mprotect),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
