/* Linked into every loop and net test: when ctest's variant sets
 * CORIO_TEST_REQUIRE_BACKEND=io_uring (with CORIO_POLLER=io_uring), the
 * program first checks that such a loop can be made, inside the test's
 * own process (so under its launcher too: Valgrind, an emulator). Where
 * the kernel refuses, the loops would quietly fall back to epoll and the
 * variant would prove nothing: it exits 77 instead, which ctest counts as
 * skipped, after printing why. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio/loop.h"
#include "support.h"

/* Makes a loop of the backend asked for and closes it: 0 or its error. */
static void *try_backend(void *arg) {
  corio_loop_options *options = arg;
  corio_loop *loop = NULL;
  intptr_t rc = corio_loop_create_with(&loop, options);

  if (rc == 0)
    corio_loop_unref(loop);
  return (void *)rc;
}

__attribute__((constructor)) static void corio_test_require_backend(void) {
  const char *want = getenv("CORIO_TEST_REQUIRE_BACKEND");
  corio_loop_options options = {.flags = CORIO_LOOP_NO_FALLBACK};
  pthread_t thread;
  void *result;
  int rc;

  if (!want || !*want)
    return;
  /* The CMake file registers no such variant there; this is for a run by
   * hand. */
  if (strcmp(want, "io_uring") == 0 && corio_test_under_valgrind()) {
    printf("io_uring under Valgrind: a waiting io_uring_enter stops every "
           "other thread and signal; skipped\n");
    fflush(stdout);
    _exit(77);
  }
  if (strcmp(want, "io_uring") == 0)
    options.backend = CORIO_LOOP_BACKEND_IO_URING;
  else if (strcmp(want, "epoll") == 0)
    options.backend = CORIO_LOOP_BACKEND_EPOLL;
  else if (strcmp(want, "poll") == 0)
    options.backend = CORIO_LOOP_BACKEND_POLL;
  else {
    fprintf(stderr, "CORIO_TEST_REQUIRE_BACKEND: unknown backend %s\n", want);
    _exit(2);
  }
  /* On a thread of its own: closing a ring makes the kernel interrupt
   * the next blocking wait (epoll_wait, io_uring_enter) of each thread
   * attached to it, which the test's first wait must not get. */
  if (pthread_create(&thread, NULL, try_backend, &options) != 0 ||
      pthread_join(thread, &result) != 0) {
    fprintf(stderr, "CORIO_TEST_REQUIRE_BACKEND: no thread\n");
    _exit(2);
  }
  rc = (int)(intptr_t)result;
  if (rc < 0) {
    printf("%s refused: %s (%d); skipped\n", want, corio_strerror(rc), rc);
    fflush(stdout);
    _exit(77);
  }
}
