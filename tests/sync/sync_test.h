/* Helpers shared by the sync tests: tasks that do one operation on a
 * primitive and record what happened, so that a test can check who was
 * served, with what, and in which order. */
#ifndef CORIO_SYNC_TEST_H
#define CORIO_SYNC_TEST_H

#include "../task/task_test.h"
#include "corio/loop.h"
#include "corio/queue.h"

/* Lets the loop run n iterations. */
static inline void yield_n(int n) {
  for (int i = 0; i < n; i++)
    assert_int_equal(corio_sleep(0), 0);
}

/* One queue operation done by a task after `delay` loop iterations. */
struct qop {
  corio_queue *q;
  struct trace *trace; /* optional: tag added once the operation returned */
  char tag;
  int delay;
  int use_priority; /* put with corio_queue_put_priority */
  int64_t priority;
  void *item; /* put: what to put; get: what came */
  int rc;
  int started; /* the operation has been called */
  int done;    /* and has returned */
};

static inline int qop_delay(struct qop *op) {
  for (int i = 0; i < op->delay; i++) {
    int rc = corio_sleep(0);
    if (rc < 0)
      return rc;
  }
  op->started = 1;
  return 0;
}

static inline void qop_finish(struct qop *op, int rc) {
  op->rc = rc;
  op->done = 1;
  if (op->trace)
    trace_add(op->trace, op->tag);
}

/* The task's own outcome is always 0: what the operation returned is in
 * op->rc. */
static inline int qop_get(void *arg, void **result) {
  struct qop *op = arg;
  int rc = qop_delay(op);

  (void)result;
  if (rc == 0)
    rc = corio_queue_get(op->q, &op->item);
  qop_finish(op, rc);
  return 0;
}

static inline int qop_put(void *arg, void **result) {
  struct qop *op = arg;
  int rc = qop_delay(op);

  (void)result;
  if (rc == 0)
    rc = op->use_priority
             ? corio_queue_put_priority(op->q, op->item, op->priority)
             : corio_queue_put(op->q, op->item);
  qop_finish(op, rc);
  return 0;
}

static inline int qop_join(void *arg, void **result) {
  struct qop *op = arg;
  int rc = qop_delay(op);

  (void)result;
  if (rc == 0)
    rc = corio_queue_join(op->q);
  qop_finish(op, rc);
  return 0;
}

/* Awaits a qop task (its outcome must be 0) and releases it. A task that
 * is not done within a few iterations fails the test rather than hanging
 * it (everything these tests wait for comes within one or two). */
static inline void qop_await(corio_task *t) {
  for (int i = 0; i < 20 && !corio_task_done(t); i++)
    assert_int_equal(corio_sleep(0), 0);
  assert_true(corio_task_done(t));
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
}

/* A task that only marks that it ran: to see whether a call suspended. */
static inline int mark_ran(void *arg, void **result) {
  (void)result;
  trace_add(arg, '!');
  return 0;
}

#endif
