/* Stack overflow is detected, never silent: a guard page faults, and in
 * stacks past the guard budget the canary check aborts at switch-out.
 * Each case runs in a forked child, which must die. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sys.h"
#include "corio/coro.h"
#include "support.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* ThreadSanitizer does not support a child that crashes on purpose right
 * after fork; these tests run in the other builds. */
#if defined(__SANITIZE_THREAD__)
#define CRASH_TESTS_SUPPORTED 0
#else
#define CRASH_TESTS_SUPPORTED 1
#endif

/* Writes over the guard page and the canary below this stack, as a frame
 * too big for the stack would, then switches out. */
static void *smash_below_stack(void *arg) {
  corio_coro *self = corio_coro_current();
  char *lo = (char *)self - corio_coro_stack_size(self);
  size_t page = corio__page_size();
  (void)arg;

  for (char *p = lo - 1; p >= lo - page - 16; p--)
    *(volatile char *)p = 0x5a;
  (void)corio_coro_yield(NULL, NULL);
  return NULL;
}

static int recurse(int depth) {
  volatile char frame[1024];

  frame[0] = (char)depth;
  return depth > 1000000 ? frame[0] : recurse(depth + 1) + frame[0];
}

static void *recurse_forever(void *arg) {
  (void)arg;
  return CORIO_PTR(recurse(0));
}

/* Returns the child's wait status after it ran fn in a fresh coroutine. */
static int run_in_child(corio_coro_fn fn, size_t guard_budget) {
  int status;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    corio_coro *co;

    /* cmocka catches crash signals; the parent must see them instead. */
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL};
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
      signal(crash_signals[i], SIG_DFL);
    /* Silence the expected report; the parent checks how we died. */
    if (!getenv("CORIO_TEST_VERBOSE"))
      (void)freopen("/dev/null", "w", stderr);
    corio_coro_pool_trim();
    corio_coro_set_guard_budget(guard_budget);
    if (corio_coro_create(&co, fn, NULL, CORIO_CORO_STACK_MIN) != 0)
      _exit(3);
    (void)corio_coro_resume(co, NULL, NULL);
    _exit(0); /* reaching here means the overflow went unnoticed */
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void expect_death(int status, int sig) {
  if (UNDER_ASAN) {
    /* ASan turns the fault into its own report and a non-zero exit. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return;
  }
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), sig);
}

static void test_guard_page_faults(void **state) {
  (void)state;
  if (corio_test_under_valgrind() || !CRASH_TESTS_SUPPORTED)
    skip();
  expect_death(run_in_child(smash_below_stack, 8192), SIGSEGV);
}

static void test_recursion_hits_guard_page(void **state) {
  (void)state;
  if (corio_test_under_valgrind() || !CRASH_TESTS_SUPPORTED)
    skip();
  expect_death(run_in_child(recurse_forever, 8192), SIGSEGV);
}

static void test_canary_catches_overflow_without_guard(void **state) {
  (void)state;
  if (corio_test_under_valgrind() || !CRASH_TESTS_SUPPORTED)
    skip();
  /* No guard page: the write succeeds; the switch out must abort. */
  int status = run_in_child(smash_below_stack, 0);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Using nearly the whole stack is fine and raises no alarm. */
static void *use_most_of_stack(void *arg) {
  corio_coro *self = corio_coro_current();
  size_t size = corio_coro_stack_size(self) - 2048;
  volatile char *buf = __builtin_alloca(size);
  (void)arg;

  for (size_t i = size; i >= 256; i -= 256)
    buf[i - 1] = 1;
  assert_int_equal(corio_coro_yield(NULL, NULL), 0);
  return NULL;
}

static void test_deep_but_legal_use_is_fine(void **state) {
  corio_coro *co;
  (void)state;

  for (int guarded = 0; guarded < 2; guarded++) {
    size_t old = corio_coro_set_guard_budget(guarded ? 8192 : 0);
    corio_coro_pool_trim();
    assert_int_equal(
        corio_coro_create(&co, use_most_of_stack, NULL, CORIO_CORO_STACK_MIN),
        0);
    assert_int_equal(corio_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(corio_coro_resume(co, NULL, NULL), CORIO_CORO_RETURNED);
    assert_int_equal(corio_coro_destroy(co), 0);
    corio_coro_set_guard_budget(old);
  }
  corio_coro_pool_trim();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_guard_page_faults),
      cmocka_unit_test(test_recursion_hits_guard_page),
      cmocka_unit_test(test_canary_catches_overflow_without_guard),
      cmocka_unit_test(test_deep_but_legal_use_is_fine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
