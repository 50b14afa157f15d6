/* Generators: the C twin of seed 004's Python sessions on next(), send(),
 * throw() and returning a value from a generator.
 *
 * A Python generator is a coroutine that yields to whoever resumed it:
 *   next(gen)        corio_coro_resume(gen, NULL, &out)
 *   gen.send(v)      corio_coro_resume(gen, v, &out)
 *   gen.throw(e)     corio_coro_throw(gen, err, &out)
 *   x = yield v      corio_coro_yield(v, &x)
 *   return v         return v; (resume then reports CORIO_CORO_RETURNED,
 *                    which is the C form of StopIteration)
 * An exception becomes a negative error code: a body that does not handle
 * one finishes with it (`return corio_coro_fail(rc);`), and the resume or
 * throw that ran it returns the code.
 *
 * The output copies the Python sessions: the line after ">>>" is the
 * Python call, the lines under it what was printed. In this file the
 * generators yield small integers and return NULL or a string. */
#include <errno.h>
#include <stdint.h>

#include "example.h"

#define EXAMPLE "generator"

/* >>> def test():
 * ...     yield 1
 * ...     yield 2 */
static void *one_two(void *arg) {
  int rc;

  (void)arg;
  rc = corio_coro_yield((void *)(intptr_t)1, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  rc = corio_coro_yield((void *)(intptr_t)2, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  return NULL;
}

/* >>> def test():
 * ...     val = yield 1
 * ...     print(val)
 * ...     yield 2
 * ...     yield 3 */
static void *print_sent(void *arg) {
  void *val = NULL;
  int rc;

  (void)arg;
  rc = corio_coro_yield((void *)(intptr_t)1, &val);
  if (rc < 0)
    return corio_coro_fail(rc);
  /* next() sends nothing, which Python prints as None. */
  puts(val ? (const char *)val : "None");
  rc = corio_coro_yield((void *)(intptr_t)2, NULL);
  if (rc < 0)
    return corio_coro_fail(rc); /* unhandled, as the Exception in Python */
  rc = corio_coro_yield((void *)(intptr_t)3, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  return NULL;
}

/* >>> def test():
 * ...     yield 1
 * ...     return "abc" */
static void *return_abc(void *arg) {
  int rc;

  (void)arg;
  rc = corio_coro_yield((void *)(intptr_t)1, NULL);
  if (rc < 0)
    return corio_coro_fail(rc);
  return "abc";
}

/* Prints `call` as typed at the prompt, resumes gen with value and prints
 * what came back: the yielded number, or StopIteration with the returned
 * string if there is one. Returns 0 if resume returned `want` (0 for a
 * yield, CORIO_CORO_RETURNED for a return), else reports it and returns 1. */
static int step(corio_coro *gen, const char *call, void *value, int want) {
  void *out = NULL;
  int rc;

  printf(">>> %s\n", call);
  rc = corio_coro_resume(gen, value, &out);
  if (rc < 0)
    return example_fail(EXAMPLE, call, rc);
  if (rc == 0)
    printf("%d\n", (int)(intptr_t)out);
  else if (out)
    printf("StopIteration: %s\n", (const char *)out);
  else
    puts("StopIteration");
  if (rc != want)
    return example_unexpected(EXAMPLE, call, rc, want);
  return 0;
}

/* Creates gen, runs part(gen) and frees gen; returns 1 on any failure. */
static int with_generator(corio_coro_fn body, int (*part)(corio_coro *gen)) {
  corio_coro *gen;
  int failed, rc;

  puts(">>> gen = test()");
  rc = corio_coro_create(&gen, body, NULL, CORIO_CORO_STACK_DEFAULT);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_coro_create", rc);
  failed = part(gen);
  rc = corio_coro_destroy(gen);
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_coro_destroy", rc);
  return failed;
}

/* next() until the generator is exhausted. */
static int next_part(corio_coro *gen) {
  if (step(gen, "next(gen)", NULL, 0) || step(gen, "next(gen)", NULL, 0))
    return 1;
  return step(gen, "next(gen)", NULL, CORIO_CORO_RETURNED);
}

/* send() a string in, then throw an error in. Any negative code can be
 * thrown; -ECANCELED is the one asyncio's Task.cancel() amounts to. */
static int send_throw_part(corio_coro *gen) {
  void *out = NULL;
  int rc;

  if (step(gen, "next(gen)", NULL, 0) ||
      step(gen, "gen.send(\"abc\")", "abc", 0))
    return 1;
  puts(">>> gen.throw(-ECANCELED)");
  rc = corio_coro_throw(gen, -ECANCELED, &out);
  if (rc != -ECANCELED)
    return example_unexpected(EXAMPLE, "corio_coro_throw", rc, -ECANCELED);
  /* The generator did not handle it, so it finished with that error. */
  printf("it was not caught, so the generator finished with: %s\n",
         corio_strerror(corio_coro_error(gen)));
  /* A finished generator cannot be resumed any more. */
  puts(">>> next(gen)");
  rc = corio_coro_resume(gen, NULL, &out);
  if (rc != CORIO_EDEAD)
    return example_unexpected(EXAMPLE, "next(gen)", rc, CORIO_EDEAD);
  printf("error: %s\n", corio_strerror(rc));
  return 0;
}

/* The value a generator returns travels with StopIteration; in C, resume
 * hands it back in *out, and corio_coro_result() keeps it. */
static int return_part(corio_coro *gen) {
  const char *value;

  if (step(gen, "next(gen)", NULL, 0) ||
      step(gen, "next(gen)", NULL, CORIO_CORO_RETURNED))
    return 1;
  puts(">>> print(exc.value)");
  value = corio_coro_result(gen);
  if (!value) {
    fprintf(stderr, "%s: corio_coro_result: no result\n", EXAMPLE);
    return 1;
  }
  puts(value);
  return 0;
}

int example_generator(void) {
  puts("# next()");
  if (with_generator(one_two, next_part))
    return 1;
  puts("\n# send() and throw()");
  if (with_generator(print_sent, send_throw_part))
    return 1;
  puts("\n# returning a value");
  return with_generator(return_abc, return_part);
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_generator)
#endif
