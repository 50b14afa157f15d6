/* The demo `make demo` runs: a walk through what corio can do so far,
 * running each example in turn under a heading. The examples themselves
 * live in their own files (see example.h). */
#include "example.h"

struct part {
  const char *title;
  const char *what;
  int (*run)(void);
};

static const struct part parts[] = {
    {"greenlet: switching between coroutines",
     "Two coroutines hand control to each other with corio_coro_switch();\n"
     "when task 1's body returns, control goes back to its parent, main.",
     example_greenlet_pingpong},
    {"Generators: next(), send(), throw() and return values",
     "corio_coro_resume() runs a coroutine until it yields a value or\n"
     "returns; corio_coro_throw() raises an error at its pending yield.",
     example_generator},
    {"yield from: delegating to an inner generator",
     "corio_coro_yield_from() passes values up from an inner coroutine and\n"
     "sends down into it, and returns the inner coroutine's result.",
     example_yield_from},
};

int main(void) {
  size_t i;

  puts("corio demo: coroutines with their own stacks");
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("\n== %zu. %s ==\n%s\n\n", i + 1, parts[i].title, parts[i].what);
    if (parts[i].run() != 0) {
      fprintf(stderr, "demo: part %zu failed\n", i + 1);
      corio_coro_pool_trim();
      return 1;
    }
  }
  puts("\nAll parts ran.");
  /* Hands the cached stacks back to the OS: nothing is left at exit. */
  corio_coro_pool_trim();
  return 0;
}
