/* A program built against an installed corio, as a user would. */
#include <corio.h>
#include <stdio.h>

static void *twice(void *arg) {
  void *got = NULL;

  if (corio_coro_yield(arg, &got) != 0)
    return NULL;
  return got;
}

int main(void) {
  corio_coro *co;
  void *out = NULL;

  if (corio_coro_create(&co, twice, "first", CORIO_CORO_STACK_DEFAULT) != 0 ||
      corio_coro_resume(co, NULL, &out) != 0)
    return 1;
  printf("%s\n", (char *)out);
  if (corio_coro_resume(co, "second", &out) != CORIO_CORO_RETURNED)
    return 1;
  printf("%s\n", (char *)out);
  return corio_coro_destroy(co);
}
