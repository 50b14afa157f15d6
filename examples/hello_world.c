/* Hello world with a task: the C twin of seed 001's first coroutine
 * (section 2.1), with the second scaled down to EXAMPLE_UNIT.
 *
 *   async def main():
 *       print('hello')
 *       await asyncio.sleep(1)
 *       print('world')
 *
 *   asyncio.run(main())
 *
 * An `async def` becomes a task function, `int fn(void *arg, void
 * **result)`, and corio_run(main, arg, &result) is asyncio.run(main()): it
 * makes a loop, runs main as a task on it until main is done, and closes
 * the loop. corio_sleep() suspends the task, not the thread: meanwhile
 * the loop runs other tasks, or waits in the poller for the timer.
 *
 * Calling main() in Python only makes a coroutine object, which does not
 * run. A C task function is a plain function, so calling it directly does
 * run it, outside any task: it prints "hello", and its sleep then fails
 * with CORIO_ENOTASK, since only a task can be suspended. */
#include "example.h"

#define EXAMPLE "hello_world"

static int hello_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts("hello");
  rc = corio_sleep(EXAMPLE_UNIT);
  if (rc < 0)
    return rc;
  puts("world");
  return 0;
}

int example_hello_world(void) {
  int rc;

  puts(">>> asyncio.run(main())");
  rc = corio_run(hello_main, NULL, NULL);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_run", rc);

  puts(">>> main()  # a plain call, not in a task");
  rc = hello_main(NULL, NULL);
  if (rc != CORIO_ENOTASK)
    return example_unexpected(EXAMPLE, "main()", rc, CORIO_ENOTASK);
  printf("error: %s (%s)\n", corio_strerror(rc), corio_err_name(rc));
  return 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_hello_world)
#endif
