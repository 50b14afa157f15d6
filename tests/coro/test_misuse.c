/* Bad input and misuse get named error codes, never a crash. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "corio/coro.h"
#include "support.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_ON_PURPOSE_BEGIN() __lsan_disable()
#define LEAK_ON_PURPOSE_END() __lsan_enable()
#else
#define LEAK_ON_PURPOSE_BEGIN() ((void)0)
#define LEAK_ON_PURPOSE_END() ((void)0)
#endif

static void *returns_arg(void *arg) { return arg; }

static void test_create_rejects_bad_arguments(void **state) {
  corio_coro *co = CORIO_PTR(1);
  (void)state;

  assert_int_equal(
      corio_coro_create(NULL, returns_arg, NULL, CORIO_CORO_STACK_DEFAULT),
      -EINVAL);
  assert_int_equal(corio_coro_create(&co, NULL, NULL, CORIO_CORO_STACK_DEFAULT),
                   -EINVAL);
  assert_int_equal(corio_coro_create(&co, returns_arg, NULL, 0), -EINVAL);
  assert_int_equal(
      corio_coro_create(&co, returns_arg, NULL, CORIO_CORO_STACK_MIN - 1),
      -EINVAL);
  assert_int_equal(
      corio_coro_create(&co, returns_arg, NULL, CORIO_CORO_STACK_MAX + 1),
      -EINVAL);
  assert_int_equal(corio_coro_create(&co, returns_arg, NULL, SIZE_MAX),
                   -EINVAL);
  /* Nothing was written on failure. */
  assert_ptr_equal(co, CORIO_PTR(1));
}

static void test_stack_sizes_at_the_limits(void **state) {
  corio_coro *co;
  void *out;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, returns_arg, CORIO_PTR(1), CORIO_CORO_STACK_MIN),
      0);
  assert_true(corio_coro_stack_size(co) >= CORIO_CORO_STACK_MIN / 2);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
  /* 1 GiB of address space, committed lazily. */
  assert_int_equal(
      corio_coro_create(&co, returns_arg, CORIO_PTR(2), CORIO_CORO_STACK_MAX),
      0);
  assert_true(corio_coro_stack_size(co) >= CORIO_CORO_STACK_MAX - 8192);
  assert_int_equal(corio_coro_resume(co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(out), 2);
  assert_int_equal(corio_coro_destroy(co), 0);
  corio_coro_pool_trim();
}

static void test_calls_outside_a_coroutine(void **state) {
  void *v = CORIO_PTR(3);
  (void)state;

  assert_int_equal(corio_coro_yield(NULL, &v), CORIO_ENOTCORO);
  assert_ptr_equal(v, CORIO_PTR(3));
  assert_null(corio_coro_current());
  assert_int_equal(corio_coro_resume(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(corio_coro_throw(NULL, -EIO, NULL), -EINVAL);
  assert_int_equal(corio_coro_state_of(NULL), CORIO_CORO_DEAD);
  assert_int_equal(corio_coro_error(NULL), -EINVAL);
  assert_null(corio_coro_result(NULL));
  assert_null(corio_coro_parent(NULL));
  assert_int_equal(corio_coro_stack_size(NULL), 0);
}

static void test_resume_dead(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, returns_arg, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_EDEAD);
  assert_int_equal(corio_coro_throw(co, -EIO, NULL), CORIO_EDEAD);
  assert_int_equal(corio_coro_switch(co, NULL, NULL), CORIO_EDEAD);
  assert_int_equal(corio_coro_destroy(co), 0);
}

struct foreign {
  corio_coro *co;
  int resume_rc, throw_rc, switch_rc, destroy_rc, set_parent_rc;
};

static void *use_foreign(void *arg) {
  struct foreign *f = arg;

  f->resume_rc = corio_coro_resume(f->co, NULL, NULL);
  f->throw_rc = corio_coro_throw(f->co, -EIO, NULL);
  f->switch_rc = corio_coro_switch(f->co, NULL, NULL);
  f->destroy_rc = corio_coro_destroy(f->co);
  f->set_parent_rc = corio_coro_set_parent(f->co, NULL);
  return NULL;
}

static void test_other_thread_is_refused(void **state) {
  struct foreign f = {0};
  pthread_t thread;
  void *out;
  (void)state;

  assert_int_equal(
      corio_coro_create(&f.co, returns_arg, CORIO_PTR(4), CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(pthread_create(&thread, NULL, use_foreign, &f), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(f.resume_rc, CORIO_ETHREAD);
  assert_int_equal(f.throw_rc, CORIO_ETHREAD);
  assert_int_equal(f.switch_rc, CORIO_ETHREAD);
  assert_int_equal(f.destroy_rc, CORIO_ETHREAD);
  assert_int_equal(f.set_parent_rc, CORIO_ETHREAD);
  /* Untouched and still usable on its own thread. */
  assert_int_equal(corio_coro_resume(f.co, NULL, &out), CORIO_CORO_RETURNED);
  assert_int_equal(CORIO_INT(out), 4);
  assert_int_equal(corio_coro_destroy(f.co), 0);
}

static void *create_and_exit(void *arg) {
  corio_coro **slot = arg;

  int rc;

  /* Leaked on purpose: the thread exits with it suspended, and its slab
   * can never be reclaimed. */
  LEAK_ON_PURPOSE_BEGIN();
  rc = corio_coro_create(slot, returns_arg, NULL, CORIO_CORO_STACK_MIN);
  LEAK_ON_PURPOSE_END();
  assert_int_equal(rc, 0);
  return NULL;
}

static void *use_leaked(void *arg) {
  return CORIO_PTR(corio_coro_resume(arg, NULL, NULL));
}

static void test_coroutine_of_an_exited_thread_is_refused(void **state) {
  corio_coro *leaked = NULL;
  pthread_t t;
  void *rc;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, create_and_exit, &leaked), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  /* A new thread often gets the old one's thread-local storage: it must
   * still not pass as the owner. */
  assert_int_equal(pthread_create(&t, NULL, use_leaked, leaked), 0);
  assert_int_equal(pthread_join(t, &rc), 0);
  assert_int_equal(CORIO_INT(rc), CORIO_ETHREAD);
  assert_int_equal(corio_coro_resume(leaked, NULL, NULL), CORIO_ETHREAD);
}

static void *count_on_thread(void *arg) {
  intptr_t sum = 0;
  corio_coro *co;
  void *v;
  (void)arg;

  /* Each thread has its own current coroutine and its own stack pool. */
  for (int round = 0; round < 1000; round++) {
    assert_int_equal(corio_coro_create(&co, returns_arg, CORIO_PTR(round),
                                       CORIO_CORO_STACK_MIN),
                     0);
    assert_int_equal(corio_coro_resume(co, NULL, &v), CORIO_CORO_RETURNED);
    sum += CORIO_INT(v);
    assert_int_equal(corio_coro_destroy(co), 0);
  }
  corio_coro_pool_trim();
  return CORIO_PTR(sum);
}

static void test_threads_run_coroutines_independently(void **state) {
  pthread_t threads[4];
  void *sum;
  (void)state;

  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, count_on_thread, NULL),
                     0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(threads[i], &sum), 0);
    assert_int_equal(CORIO_INT(sum), 999 * 1000 / 2);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_rejects_bad_arguments),
      cmocka_unit_test(test_stack_sizes_at_the_limits),
      cmocka_unit_test(test_calls_outside_a_coroutine),
      cmocka_unit_test(test_resume_dead),
      cmocka_unit_test(test_other_thread_is_refused),
      cmocka_unit_test(test_threads_run_coroutines_independently),
      cmocka_unit_test(test_coroutine_of_an_exited_thread_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
