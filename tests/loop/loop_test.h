/* Helpers shared by the loop tests. */
#ifndef CORIO_LOOP_TEST_H
#define CORIO_LOOP_TEST_H

#include <string.h>
#include <time.h>

#include "corio/loop.h"
#include "support.h"

/* Appends a character to a log, to check what ran in which order. */
struct trace {
  char log[256];
  corio_loop *loop;
};

static inline void trace_add(struct trace *t, char c) {
  size_t n = strlen(t->log);

  if (n + 1 < sizeof t->log) {
    t->log[n] = c;
    t->log[n + 1] = 0;
  }
}

static inline corio_loop *new_loop(void) {
  corio_loop *loop = NULL;

  assert_int_equal(corio_loop_create(&loop), 0);
  return loop;
}

static inline double wall_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The tests use the library's own stop callback. */
#define stop_loop corio_loop_stop_cb

#endif
