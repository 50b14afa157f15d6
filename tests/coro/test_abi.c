/* Every register and control word the ABI makes callee-saved survives a
 * switch, separately for each coroutine. */
#include <fenv.h>

#include "corio/coro.h"
#include "support.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

long corio_test_preserve(void (*fn)(void *), void *arg, long seed);

static void yield_once(void *arg) {
  (void)arg;
  assert_int_equal(corio_coro_yield(NULL, NULL), 0);
}

static corio_coro *target;

static void resume_target(void *arg) {
  (void)arg;
  assert_true(corio_coro_resume(target, NULL, NULL) >= 0);
}

static void *body_preserving(void *arg) {
  long *mask = arg;

  /* Its own registers hold other values while the thread's are loaded. */
  for (int i = 0; i < 3; i++)
    mask[i] = corio_test_preserve(yield_once, NULL, 0x5000 + i * 64);
  return NULL;
}

static void test_callee_saved_registers_survive_switches(void **state) {
  long coro_mask[3] = {-1, -1, -1};
  (void)state;

  assert_int_equal(corio_coro_create(&target, body_preserving, coro_mask,
                                     CORIO_CORO_STACK_MIN),
                   0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(corio_test_preserve(resume_target, NULL, 0x1000 + i * 64),
                     0);
  assert_int_equal(corio_coro_state_of(target), CORIO_CORO_DEAD);
  for (int i = 0; i < 3; i++)
    assert_int_equal(coro_mask[i], 0);
  assert_int_equal(corio_coro_destroy(target), 0);
}

/* Rounding mode is per coroutine: each one keeps what it set. */
static void *rounds_upward(void *arg) {
  (void)arg;
  assert_int_equal(fesetround(FE_UPWARD), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_coro_yield(NULL, NULL), 0);
    assert_int_equal(fegetround(), FE_UPWARD);
  }
  return NULL;
}

static void test_rounding_mode_is_per_coroutine(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, rounds_upward, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(fegetround(), FE_TONEAREST);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(fegetround(), FE_TONEAREST);
  assert_int_equal(fesetround(FE_DOWNWARD), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(fegetround(), FE_DOWNWARD);
  assert_int_equal(fesetround(FE_TONEAREST), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_int_equal(fegetround(), FE_TONEAREST);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(fegetround(), FE_TONEAREST);
  assert_int_equal(corio_coro_destroy(co), 0);
}

/* A new coroutine starts with its creator's control state. */
static void *reports_rounding(void *arg) {
  *(int *)arg = fegetround();
  return NULL;
}

static void test_new_coroutine_inherits_control_state(void **state) {
  corio_coro *co;
  int seen = -1;
  (void)state;

  assert_int_equal(fesetround(FE_TOWARDZERO), 0);
  assert_int_equal(
      corio_coro_create(&co, reports_rounding, &seen, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(fesetround(FE_TONEAREST), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(seen, FE_TOWARDZERO);
  assert_int_equal(corio_coro_destroy(co), 0);
}

#if defined(__x86_64__)
/* Flush-to-zero lives only in MXCSR (no x87 twin): checked on its own. */
static void *sets_flush_to_zero(void *arg) {
  (void)arg;
  _mm_setcsr(_mm_getcsr() | _MM_FLUSH_ZERO_ON);
  assert_int_equal(corio_coro_yield(NULL, NULL), 0);
  assert_true(_mm_getcsr() & _MM_FLUSH_ZERO_ON);
  return NULL;
}

static void test_mxcsr_only_bits_are_per_coroutine(void **state) {
  corio_coro *co;
  (void)state;

  if (corio_test_under_valgrind())
    skip(); /* Valgrind does not emulate flush-to-zero */
  assert_false(_mm_getcsr() & _MM_FLUSH_ZERO_ON);
  assert_int_equal(
      corio_coro_create(&co, sets_flush_to_zero, NULL, CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  assert_false(_mm_getcsr() & _MM_FLUSH_ZERO_ON);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_false(_mm_getcsr() & _MM_FLUSH_ZERO_ON);
  assert_int_equal(corio_coro_destroy(co), 0);
}

static void *sets_x87_precision(void *arg) {
  unsigned short cw;
  (void)arg;
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  cw = (unsigned short)(cw & ~0x300); /* single precision */
  __asm__ volatile("fldcw %0" : : "m"(cw));
  assert_int_equal(corio_coro_yield(NULL, NULL), 0);
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  assert_int_equal(cw & 0x300, 0);
  return NULL;
}

static void test_x87_control_word_is_per_coroutine(void **state) {
  unsigned short cw, before;
  corio_coro *co;
  (void)state;

  if (corio_test_under_valgrind())
    skip(); /* Valgrind does not emulate x87 precision control */
  __asm__ volatile("fnstcw %0" : "=m"(before));
  assert_int_equal(
      corio_coro_create(&co, sets_x87_precision, NULL, CORIO_CORO_STACK_MIN),
      0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  assert_int_equal(cw, before);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
}
#endif

/* The stack a body runs on is 16-byte aligned as the ABI promises, which
 * SSE/NEON spills of long doubles and vectors rely on. */
static void *check_alignment(void *arg) {
  long double ld = 1.0L;
  volatile long double *p = &ld;
  (void)arg;
  assert_int_equal(((uintptr_t)__builtin_frame_address(0)) % 16, 0);
  assert_int_equal((uintptr_t)p % _Alignof(long double), 0);
  return NULL;
}

static void test_stack_alignment(void **state) {
  corio_coro *co;
  (void)state;

  assert_int_equal(
      corio_coro_create(&co, check_alignment, NULL, CORIO_CORO_STACK_MIN), 0);
  assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
  assert_int_equal(corio_coro_destroy(co), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_callee_saved_registers_survive_switches),
    cmocka_unit_test(test_rounding_mode_is_per_coroutine),
    cmocka_unit_test(test_new_coroutine_inherits_control_state),
#if defined(__x86_64__)
    cmocka_unit_test(test_mxcsr_only_bits_are_per_coroutine),
    cmocka_unit_test(test_x87_control_word_is_per_coroutine),
#endif
    cmocka_unit_test(test_stack_alignment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
