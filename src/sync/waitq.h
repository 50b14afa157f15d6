/* The FIFO of tasks waiting on a primitive. Each waiter lives on its
 * task's stack for the duration of the wait; a zeroed queue is empty, so
 * the primitives have static initialisers. */
#ifndef CORIO_SYNC_WAITQ_H
#define CORIO_SYNC_WAITQ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "task/wait.h"

typedef struct sync_waitq sync_waitq;

typedef struct sync_waiter {
  corio__wait w;
  struct sync_waiter *prev, *next;
  sync_waitq *queue; /* where it is linked; NULL once taken out */
  intptr_t data;     /* the primitive's own */
  void (*on_detach)(struct sync_waiter *waiter);
  /* The first waiter holds how many wait in its queue, itself included:
   * the queue stays two pointers, so the primitives' public storage keeps
   * its size (only meaningful in the head). */
  size_t queue_length;
} sync_waiter;

struct sync_waitq {
  sync_waiter *head, *tail;
};

static inline int corio__waitq_empty(const sync_waitq *q) { return !q->head; }

/* Appends the current task (self, from corio__wait_self) and suspends it
 * until woken: returns the wake value, -ECANCELED (taken out of the queue
 * if it had not been woken yet) or CORIO_ECLOSED. kind and object say
 * what it waits on, for dumps (see task/wait.h). */
int corio__waitq_wait_on(sync_waitq *q, sync_waiter *waiter, corio_task *self,
                         const corio__wait_kind *kind, const void *object);
/* The same, without saying what on. */
int corio__waitq_wait(sync_waitq *q, sync_waiter *waiter, corio_task *self);
/* The same, with detach called (after the waiter left the queue) when a
 * cancellation takes it out before it was woken. */
int corio__waitq_wait_detach(sync_waitq *q, sync_waiter *waiter,
                             corio_task *self,
                             void (*detach)(sync_waiter *waiter),
                             const corio__wait_kind *kind, const void *object);

/* How many wait in q (kept up to date by insert and remove: O(1)). */
static inline size_t corio__waitq_length(const sync_waitq *q) {
  return q->head ? q->head->queue_length : 0;
}

/* Takes the first waiter out and wakes it with value; NULL if none. */
sync_waiter *corio__waitq_wake_first(sync_waitq *q, int value);
void corio__waitq_wake_all(sync_waitq *q, int value);

/* Woken by the primitive (with 0), not by a cancellation; the wait may
 * still have returned an error (cancelled or closed before it ran). */
static inline int corio__waiter_woken(const sync_waiter *waiter) {
  return waiter->w.woken && waiter->w.value == 0;
}

/* A waiter that was woken with value 0 and cancelled (or closed) before it
 * ran: it must pass on what the wake-up gave it. */
static inline int corio__waiter_lost_wakeup(const sync_waiter *waiter, int rc) {
  return rc < 0 && corio__waiter_woken(waiter);
}

#endif
