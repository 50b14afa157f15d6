#include "sync/waitq.h"

#include "core/compiler.h"

static void push(sync_waitq *q, sync_waiter *w) {
  w->queue = q;
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail) {
    q->tail->next = w;
    q->head->queue_length++;
  } else {
    q->head = w;
    w->queue_length = 1;
  }
  q->tail = w;
}

static void unlink_waiter(sync_waitq *q, sync_waiter *w) {
  if (w->prev) {
    w->prev->next = w->next;
    q->head->queue_length--;
  } else {
    q->head = w->next;
    if (w->next)
      w->next->queue_length = w->queue_length - 1;
  }
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->prev = w->next = NULL;
  w->queue = NULL;
}

/* A cancellation before the wake-up: leave the queue. */
static void detach(corio__wait *wait) {
  sync_waiter *w = corio__container_of(wait, sync_waiter, w);

  if (w->queue)
    unlink_waiter(w->queue, w);
  if (w->on_detach)
    w->on_detach(w);
}

int corio__waitq_wait_detach(sync_waitq *q, sync_waiter *waiter,
                             corio_task *self,
                             void (*on_detach)(sync_waiter *waiter),
                             const corio__wait_kind *kind, const void *object) {
  waiter->w = (corio__wait){
      .detach = detach, .task = self, .kind = kind, .object = object};
  waiter->on_detach = on_detach;
  push(q, waiter);
  return corio__wait_suspend(&waiter->w);
}

int corio__waitq_wait_on(sync_waitq *q, sync_waiter *waiter, corio_task *self,
                         const corio__wait_kind *kind, const void *object) {
  return corio__waitq_wait_detach(q, waiter, self, NULL, kind, object);
}

int corio__waitq_wait(sync_waitq *q, sync_waiter *waiter, corio_task *self) {
  return corio__waitq_wait_detach(q, waiter, self, NULL, NULL, NULL);
}

sync_waiter *corio__waitq_wake_first(sync_waitq *q, int value) {
  sync_waiter *w = q->head;

  if (w) {
    unlink_waiter(q, w);
    corio__wait_wake(&w->w, value, 0);
  }
  return w;
}

void corio__waitq_wake_all(sync_waitq *q, int value) {
  while (corio__waitq_wake_first(q, value))
    ;
}
