/* Helpers shared by the task tests. */
#ifndef CORIO_TASK_TEST_H
#define CORIO_TASK_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corio/coro.h"
#include "corio/task.h"
#include "support.h"

/* Appends a character to a log, to check what ran in which order. */
struct trace {
  char log[256];
};

static inline void trace_add(struct trace *t, char c) {
  size_t n = strlen(t->log);

  if (n + 1 < sizeof t->log) {
    t->log[n] = c;
    t->log[n + 1] = 0;
  }
}

/* What the loop's exception handler was told. */
struct reports {
  int count;
  int last_error;
  char last[256];               /* the message */
  char last_error_message[256]; /* the error's own message */
  char last_task_name[64];
  void *last_task, *last_future;
};

static inline void capture_report(corio_loop *loop, const corio_loop_error *e,
                                  void *arg) {
  struct reports *r = arg;

  (void)loop;
  r->count++;
  r->last_error = e->error;
  snprintf(r->last, sizeof r->last, "%s", e->message ? e->message : "");
  snprintf(r->last_error_message, sizeof r->last_error_message, "%s",
           e->error_message ? e->error_message : "");
  snprintf(r->last_task_name, sizeof r->last_task_name, "%s",
           e->task_name ? e->task_name : "");
  r->last_task = e->task;
  r->last_future = e->future;
}

static inline double wall_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn as corio_run's main task; returns its outcome. */
static inline int run_main(corio_task_fn fn, void *arg) {
  void *result = NULL;

  return corio_run(fn, arg, &result);
}

static inline corio_task *spawn_or_fail(corio_task_fn fn, void *arg) {
  corio_task *t = NULL;

  assert_int_equal(corio_spawn(&t, fn, arg), 0);
  return t;
}

/* A fault walk over a whole corio_run of fn. */
static corio_task_fn walked_main;

static inline int run_walked_main(void *ctx) {
  (void)ctx;
  return corio_run(walked_main, NULL, NULL);
}

static inline long walk_run(enum corio__fault_point point, corio_task_fn fn,
                            void (*check)(int rc)) {
  walked_main = fn;
  return corio_test_fault_walk(point, run_walked_main, NULL, check);
}

#endif
