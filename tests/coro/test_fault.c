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

/* Advice (madvise) may fail without consequence: the create succeeds. */
static void enomem_or_tolerated(int rc) {
  assert_true(rc == 0 || rc == -ENOMEM);
}

/* Mapping the slab or protecting a guard page may not silently fail. */
static void exactly_enomem(int rc) { assert_int_equal(rc, -ENOMEM); }

static void walk_all_points(size_t size) {
  long walked;

  /* Under Valgrind, registering stacks allocates too, and may fail. */
  walked = corio_test_fault_walk(
      CORIO__FAULT_ALLOC, coroutine_life, &size,
      corio_test_under_valgrind() ? enomem_or_tolerated : exactly_enomem);
  assert_true(walked >= 1); /* the slab descriptor */
  walked = corio_test_fault_walk(CORIO__FAULT_MMAP, coroutine_life, &size,
                                 exactly_enomem);
  assert_int_equal(walked, 1);
  walked = corio_test_fault_walk(CORIO__FAULT_MADVISE, coroutine_life, &size,
                                 enomem_or_tolerated);
  assert_int_equal(walked, 1);
  walked = corio_test_fault_walk(CORIO__FAULT_MPROTECT, coroutine_life, &size,
                                 exactly_enomem);
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
                                         &size, exactly_enomem),
                   0);
  corio_coro_set_guard_budget(old);
}

enum { ACROSS = 300 }; /* a slab of default stacks holds 256 */

/* Creates more coroutines than a slab holds, then destroys them, which
 * empties the first slab while the second has room (its pages go back).
 * A failure part-way destroys what was made and reports it. */
static int many_lives(void *ctx) {
  corio_coro *all[ACROSS];
  int made, rc = 0;
  (void)ctx;

  for (made = 0; made < ACROSS; made++) {
    rc = corio_coro_create(&all[made], yield_then_return, NULL,
                           CORIO_CORO_STACK_DEFAULT);
    if (rc < 0)
      break;
  }
  for (int i = 0; i < made; i++)
    assert_int_equal(corio_coro_destroy(all[i]), 0);
  return rc;
}

static void test_walk_across_slabs(void **state) {
  size_t old = corio_coro_set_guard_budget(0);
  (void)state;

  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_MMAP, many_lives, NULL,
                                         exactly_enomem),
                   2);
  assert_true(corio_test_fault_walk(CORIO__FAULT_ALLOC, many_lives, NULL,
                                    corio_test_under_valgrind()
                                        ? enomem_or_tolerated
                                        : exactly_enomem) >= 2);
  /* Two huge-page advices and one give-back: none may do harm. */
  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_MADVISE, many_lives, NULL,
                                         enomem_or_tolerated),
                   3);
  assert_int_equal(many_lives(NULL), 0);
  corio_coro_set_guard_budget(old);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_default_stack),
      cmocka_unit_test(test_walk_small_and_large_stacks),
      cmocka_unit_test(test_unguarded_slabs_make_no_mprotect),
      cmocka_unit_test(test_walk_across_slabs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
