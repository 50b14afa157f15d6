/* What the libFuzzer harnesses share: the entry point libFuzzer (or
 * replay_main.c) calls, and one corio runner kept across inputs, so that
 * an input costs no loop creation. Its loop runs on epoll whatever
 * CORIO_POLLER says: the stream model assumes one read per readiness
 * event. */
#ifndef CORIO_FUZZ_FUZZ_H
#define CORIO_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <corio/loop.h>
#include <corio/task.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline corio_runner *fuzz_runner(void) {
  static corio_runner *runner;
  corio_loop_options opts = {CORIO_LOOP_BACKEND_EPOLL, 0};

  if (!runner && corio_runner_create_with(&runner, &opts) < 0) {
    fprintf(stderr, "fuzz: cannot create a corio runner\n");
    abort();
  }
  return runner;
}

#endif
