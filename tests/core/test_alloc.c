/* The replaceable allocator and the fault-injection counters. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/str.h"
#include "corio/alloc.h"
#include "corio/coro.h"
#include "corio/task.h"
#include "support.h"

struct counting {
  long allocs, frees;
  size_t live_bytes;
};

static void *counting_alloc(void *ctx, size_t size) {
  struct counting *c = ctx;

  c->allocs++;
  c->live_bytes += size;
  return malloc(size);
}

static void counting_free(void *ctx, void *ptr, size_t size) {
  struct counting *c = ctx;

  c->frees++;
  c->live_bytes -= size; /* sized free: the size asked for comes back */
  free(ptr);
}

static void *returns_arg(void *arg) { return arg; }

/* A size-class allocator needs the size back exactly: this one keeps each
 * block's size in front of it and counts frees that give another. */
struct sized {
  long wrong_size_frees;
};

static void *sized_alloc(void *ctx, size_t size) {
  size_t *p = malloc(sizeof(size_t) + size);

  (void)ctx;
  if (!p)
    return NULL;
  *p = size;
  return p + 1;
}

static void sized_free(void *ctx, void *ptr, size_t size) {
  struct sized *s = ctx;
  size_t *p = (size_t *)ptr - 1;

  if (*p != size)
    s->wrong_size_frees++;
  free(p);
}

static int fail_with_nul(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-EIO, "before%cafter", 0);
}

/* Messages formatted with an embedded NUL are freed with the size they
 * were allocated with. */
static void test_message_with_nul_freed_with_its_size(void **state) {
  struct sized s = {0};
  corio_allocator a = {sized_alloc, sized_free, &s};
  char message[32];
  corio_loop *loop;
  corio_future *f;
  char *text;
  (void)state;

  corio_coro_pool_trim();
  assert_int_equal(corio_set_allocator(&a), 0);
  text = corio__format("x%cyz", 0);
  assert_string_equal(text, "x");
  corio__strfree(text);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_future_create(loop, &f), 0);
  assert_int_equal(corio_future_set_error(f, -EIO, "a%cb", 0), 0);
  assert_string_equal(corio_future_message(f), "a");
  assert_int_equal(corio_future_error(f), -EIO);
  corio_future_unref(f);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_unref(loop);
  assert_int_equal(
      corio_run_ex(fail_with_nul, NULL, NULL, message, sizeof message), -EIO);
  assert_string_equal(message, "before");
  corio_coro_pool_trim();
  assert_int_equal(s.wrong_size_frees, 0);
  assert_int_equal(corio_set_allocator(NULL), 0);
}

static void test_custom_allocator_sees_every_allocation(void **state) {
  struct counting c = {0, 0, 0};
  corio_allocator a = {counting_alloc, counting_free, &c};
  corio_coro *co;
  (void)state;

  corio_coro_pool_trim();
  assert_int_equal(corio__alloc_outstanding(), 0);
  assert_int_equal(corio_set_allocator(&a), 0);
  assert_int_equal(
      corio_coro_create(&co, returns_arg, NULL, CORIO_CORO_STACK_DEFAULT), 0);
  assert_true(c.allocs > 0);
  /* Memory must go back where it came from: no switching now. */
  assert_int_equal(corio_set_allocator(NULL), -EBUSY);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
  corio_coro_pool_trim();
  assert_int_equal(c.allocs, c.frees);
  assert_int_equal(c.live_bytes, 0);
  assert_int_equal(corio_set_allocator(NULL), 0);
}

static void test_incomplete_allocator_is_refused(void **state) {
  corio_allocator a = {counting_alloc, NULL, NULL};
  corio_allocator b = {NULL, counting_free, NULL};
  (void)state;

  assert_int_equal(corio_set_allocator(&a), -EINVAL);
  assert_int_equal(corio_set_allocator(&b), -EINVAL);
}

static void test_fault_arm_counts_and_fires_once(void **state) {
  void *p[4];
  (void)state;

  corio__fault_arm(CORIO__FAULT_ALLOC, 3);
  p[0] = corio__alloc(8);
  p[1] = corio__alloc(8);
  assert_false(corio__fault_fired(CORIO__FAULT_ALLOC));
  p[2] = corio__alloc(8);
  p[3] = corio__alloc(8);
  assert_non_null(p[0]);
  assert_non_null(p[1]);
  assert_null(p[2]);
  assert_non_null(p[3]);
  assert_true(corio__fault_fired(CORIO__FAULT_ALLOC));
  assert_int_equal(corio__fault_calls(CORIO__FAULT_ALLOC), 4);
  corio__fault_disarm_all();
  corio__free(p[0], 8);
  corio__free(p[1], 8);
  corio__free(p[3], 8);
  assert_int_equal(corio__alloc_outstanding(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_custom_allocator_sees_every_allocation),
      cmocka_unit_test(test_incomplete_allocator_is_refused),
      cmocka_unit_test(test_message_with_nul_freed_with_its_size),
      cmocka_unit_test(test_fault_arm_counts_and_fires_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
