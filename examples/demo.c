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
    {"The event loop: callbacks and timers",
     "call_soon callbacks run in FIFO order, one iteration at a time; timers\n"
     "join them when due, in deadline order; a cancelled handle never runs;\n"
     "a failing callback goes to the exception handler; stop ends the loop\n"
     "once the current iteration is done.",
     example_loop_timers},
    {"The select loop: echoing lines from a pipe",
     "The loop waits in the poller until the pipe is readable, then runs\n"
     "the reader callback; a timer callback writes the lines. At end of\n"
     "file the reader removes itself, closes the pipe and stops the loop.",
     example_select_loop},
};

int main(void) {
  size_t i;

  puts("corio demo: coroutines with their own stacks, and an event loop");
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
