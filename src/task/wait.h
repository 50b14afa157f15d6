/* How the running task waits for something and is woken: the one
 * primitive under await, sleep, and the sync layer's locks and queues
 * (src/task/wait.c). */
#ifndef CORIO_TASK_WAIT_H
#define CORIO_TASK_WAIT_H

#include "corio/task.h"

/* A wait of the current task, on the task's stack. The waker calls
 * corio__wait_wake; a cancellation that arrives before that calls detach,
 * which must undo the registration. A cancellation that arrives after the
 * wake-up (before the task ran) makes the suspension return -ECANCELED
 * with woken and value kept, so that the waiter can pass on what it was
 * given (DESIGN.md §4 rule 9). */
typedef struct corio__wait {
  void (*detach)(struct corio__wait *w);
  corio_task *task;
  void *data; /* the waiter's own */
  /* The future awaited, if cancelling the task is to cancel it too. */
  struct corio_future *awaiting;
  int woken; /* woken, with `value` */
  int value;
} corio__wait;

/* A detach for waits that withdraw their registrations themselves once
 * the task resumes (a late wake-up of a woken wait does nothing). */
void corio__wait_no_detach(corio__wait *w);

/* The running task if the caller may suspend it (on the task's own
 * coroutine), else NULL. */
corio_task *corio__wait_self(void);

/* After cancelling f: waits until it has really finished. Returns 0,
 * -ECANCELED if the caller was cancelled meanwhile (it keeps waiting: the
 * request is reported, not lost), or CORIO_ECLOSED (the loop is closing:
 * it stops waiting). A wait that cannot be registered (-ENOMEM) polls one
 * loop iteration at a time instead. */
int corio__wait_drain(corio_future *f);

/* Suspends the current task in w (already registered with its waker).
 * Returns w's value when woken, -ECANCELED, or CORIO_ECLOSED (the loop is
 * closing the task). */
int corio__wait_suspend(corio__wait *w);

/* Wakes w's task with value (once; later calls do nothing): its step is
 * queued, or with now run at once (only from a loop callback, never from
 * inside a task). */
void corio__wait_wake(corio__wait *w, int value, int now);

#endif
