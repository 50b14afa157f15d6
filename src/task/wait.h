/* How the running task waits for something and is woken: the one
 * primitive under await, sleep, and the sync layer's locks and queues
 * (src/task/wait.c). */
#ifndef CORIO_TASK_WAIT_H
#define CORIO_TASK_WAIT_H

#include <stddef.h>

#include "corio/export.h"
#include "corio/task.h"

typedef void (*corio__future_visit)(struct corio_future *f, void *arg);

/* What a suspended task waits on, for dumps and the await tree
 * (src/task/inspect.c, docs/debugging.md). The layer that suspends
 * defines its kinds as static const objects, and each wait points to one
 * and to the object it waits on: two stores per wait, nothing else until
 * somebody looks. The task layer knows no kind of the layers above. Dumps
 * call these on the loop's thread, and only while the wait has not been
 * woken: until then the object is alive (the waiter is registered with
 * it); after, it may be gone. */
typedef struct corio__wait_kind {
  const char *name; /* short, for a table: "sleep", "lock", "stream read" */
  /* A line about object ("0.250 s left", "fd 7, peer 10.0.0.2:80") into
   * buf (always terminated); may be NULL. */
  void (*describe)(const void *object, char *buf, size_t len);
  /* Calls visit for each future the wait is for (the await tree's edges);
   * may be NULL. */
  void (*each_awaited)(const void *object, corio__future_visit visit,
                       void *arg);
  /* The name to show instead of `name`, from the object (awaiting a
   * future: "task", "gather"...); may be NULL. */
  const char *(*name_of)(const void *object);
} corio__wait_kind;

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
  /* What it waits on, for dumps; NULL: not said. */
  const corio__wait_kind *kind;
  const void *object;
} corio__wait;

/* Awaiting a future (object: the future), for layers that wait for one
 * with a wait of their own. */
extern const corio__wait_kind corio__wait_kind_future;

/* A detach for waits that withdraw their registrations themselves once
 * the task resumes (a late wake-up of a woken wait does nothing). */
CORIO_API void corio__wait_no_detach(corio__wait *w);

/* The running task if the caller may suspend it (on the task's own
 * coroutine), else NULL. */
CORIO_API corio_task *corio__wait_self(void);

/* After cancelling f: waits until it has really finished. Returns 0,
 * -ECANCELED if the caller was cancelled meanwhile (it keeps waiting: the
 * request is reported, not lost), or CORIO_ECLOSED (the loop is closing:
 * it stops waiting). A wait that cannot be registered (-ENOMEM) polls one
 * loop iteration at a time instead. */
int corio__wait_drain(corio_future *f);

/* Suspends the current task in w (already registered with its waker).
 * Returns w's value when woken, -ECANCELED, or CORIO_ECLOSED (the loop is
 * closing the task). */
CORIO_API int corio__wait_suspend(corio__wait *w);

/* Wakes w's task with value (once; later calls do nothing): its step is
 * queued, or with now run at once (only from a loop callback, never from
 * inside a task). */
CORIO_API void corio__wait_wake(corio__wait *w, int value, int now);

/* "0.250 s left" until timer fires, appended at buf + *used (see
 * corio__appendf): the detail of every wait with a timeout. */
void corio__wait_append_time_left(const corio_handle *timer, char *buf,
                                  size_t len, size_t *used);

#endif
