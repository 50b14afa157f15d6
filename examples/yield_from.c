/* `yield from`: the C twin of seed 004's Python session.
 *
 *   >>> def inner():
 *   ...     inner_result = yield 2
 *   ...     print('inner', inner_result)
 *   ...     return 3
 *   >>> def outer():
 *   ...     yield 1
 *   ...     val = yield from inner()
 *   ...     print('outer', val)
 *   ...     yield 4
 *
 * corio_coro_yield_from(inner, &val) runs inner inside outer: what inner
 * yields goes straight to outer's caller, what the caller sends (or throws)
 * goes straight to inner, and inner's return value comes back in val. As
 * in generator.c, the output copies the Python session. */
#include <stdint.h>

#include "example.h"

#define EXAMPLE "yield_from"

static void *inner(void *arg) {
  void *inner_result = NULL;
  int rc;

  (void)arg;
  rc = corio_coro_yield((void *)(intptr_t)2, &inner_result);
  if (rc < 0)
    return corio_coro_fail(rc);
  printf("inner %s\n", inner_result ? (const char *)inner_result : "None");
  return (void *)(intptr_t)3;
}

static void *outer(void *arg) {
  corio_coro *gen;
  void *val = NULL;
  int rc, destroy_rc;

  (void)arg;
  rc = corio_coro_yield((void *)(intptr_t)1, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  /* `yield from inner()`: Python creates the inner generator in the same
   * expression; in C it is created here and freed once it has finished. */
  rc = corio_coro_create(&gen, inner, NULL, CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    return corio_coro_fail(rc);
  rc = corio_coro_yield_from(gen, &val);
  destroy_rc = corio_coro_destroy(gen);
  if (rc < 0)
    return corio_coro_fail(rc);
  if (destroy_rc < 0)
    return corio_coro_fail(destroy_rc);
  printf("outer %d\n", (int)(intptr_t)val);
  rc = corio_coro_yield((void *)(intptr_t)4, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  return NULL;
}

/* Prints `call` as typed at the prompt, resumes gen with value and prints
 * the number it yields; returns 1 if it did anything but yield. */
static int step(corio_coro *gen, const char *call, void *value) {
  void *out = NULL;
  int rc;

  printf(">>> %s\n", call);
  rc = corio_coro_resume(gen, value, &out);
  if (rc < 0)
    return example_fail(EXAMPLE, call, rc);
  if (rc != 0)
    return example_unexpected(EXAMPLE, call, rc, 0);
  printf("%d\n", (int)(intptr_t)out);
  return 0;
}

int example_yield_from(void) {
  corio_coro *gen;
  int failed, rc;

  puts(">>> gen = outer()");
  rc = corio_coro_create(&gen, outer, NULL, CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_coro_create", rc);
  /* The second next() goes inside inner() by itself, and send() reaches
   * inner() through outer(). */
  failed = step(gen, "next(gen)", NULL) || step(gen, "next(gen)", NULL) ||
           step(gen, "gen.send(\"abc\")", "abc");
  /* gen waits at `yield 4`: destroying it closes it, as gen.close() would,
   * so its yield fails with CORIO_ECLOSED and it returns. */
  rc = corio_coro_destroy(gen);
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_coro_destroy", rc);
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_yield_from)
#endif
