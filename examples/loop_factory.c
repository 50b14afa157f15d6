/* A loop from a factory: the C twin of seed 001's uvloop examples
 * (asyncio.run and asyncio.Runner, section 1), with the second scaled
 * down to EXAMPLE_UNIT.
 *
 *   async def task():
 *       print("Task started")
 *       await asyncio.sleep(1)
 *       print("Task finished")
 *
 *   asyncio.run(task(), loop_factory=uvloop.new_event_loop)
 *
 *   runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
 *   try:
 *       runner.run(task())
 *   finally:
 *       runner.close()
 *
 * uvloop is "a faster loop you plug in"; corio's is a backend of the same
 * loop, chosen when the loop is made: corio_runner_create_with() with
 * corio_loop_options{.backend = CORIO_LOOP_BACKEND_IO_URING} is the
 * Runner with a loop factory (CORIO_POLLER=io_uring in the environment
 * does the same for every loop of a program). The task's code does not
 * change. Where the kernel refuses io_uring the loop falls back to epoll;
 * which backend ran goes to stderr, so the output on stdout is the same
 * on every machine. */
#include "example.h"

#define EXAMPLE "loop_factory"

static int task(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts("Task started");
  if ((rc = corio_sleep(EXAMPLE_UNIT)) < 0)
    return rc;
  puts("Task finished");
  return 0;
}

static int run_on(const corio_loop_options *options) {
  corio_runner *runner;
  int rc = corio_runner_create_with(&runner, options);

  if (rc < 0)
    return example_fail(EXAMPLE, "corio_runner_create_with", rc);
  fprintf(stderr, "%s: the loop runs on %s\n", EXAMPLE,
          corio_loop_backend_name(corio_runner_loop(runner)));
  rc = corio_runner_run(runner, task, NULL, NULL);
  if (rc < 0) {
    (void)corio_runner_close(runner);
    return example_fail(EXAMPLE, "corio_runner_run", rc);
  }
  rc = corio_runner_close(runner);
  return rc < 0 ? example_fail(EXAMPLE, "corio_runner_close", rc) : 0;
}

int example_loop_factory(void) {
  const corio_loop_options uring = {.backend = CORIO_LOOP_BACKEND_IO_URING};

  puts(">>> asyncio.run(task(), loop_factory=uvloop.new_event_loop)");
  if (run_on(&uring) != 0)
    return 1;
  puts(">>> runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)");
  puts(">>> runner.run(task()); runner.close()");
  return run_on(&uring);
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_loop_factory)
#endif
