/* The handle: one scheduled callback. Layers above the loop embed handles
 * in their own objects (HANDLE_EMBEDDED) so that waking a task or running a
 * future's callbacks needs no allocation and cannot fail. */
#ifndef CORIO_LOOP_HANDLE_H
#define CORIO_LOOP_HANDLE_H

#include <stdint.h>

#include "corio/loop.h"

enum handle_kind {
  HANDLE_SOON,
  HANDLE_TIMER,
  HANDLE_FD,
  HANDLE_SIGNAL,  /* one arrival of a signal: arg is the handler's handle */
  HANDLE_EMBEDDED /* lives in its owner's memory; the loop never frees it */
};

/* What the ready queue reads of a handle. Every handle starts with these
 * fields, so an embedded handle is just them (corio__ready_node), viewed
 * as a corio_handle by the loop, which reads nothing else of it. */
#define CORIO__READY_FIELDS                                                    \
  corio_callback cb;                                                           \
  void *arg;                                                                   \
  struct corio_handle *next; /* ready queue, or the pool's free list */        \
  uint8_t kind;              /* enum handle_kind */                            \
  uint8_t cancelled;                                                           \
  uint8_t in_heap; /* timers: still in the heap */

struct corio_handle {
  CORIO__READY_FIELDS
  uint8_t when_in_seconds; /* timers: `when_s` holds the deadline */
  corio_loop *loop;
  /* Timers: the deadline as the user gave it, for corio_handle_when and
   * _when_ns (the heap keeps its own nanoseconds for ordering): nanoseconds,
   * or from corio_loop_call_at the seconds exactly. One of the two keeps
   * the handle at 64 bytes. */
  union {
    int64_t when;
    double when_s;
  };
  uint64_t seq;       /* timers: scheduling order, breaks ties */
  uint32_t refs;      /* the loop's (while scheduled) + the user's */
  uint32_t user_refs; /* the user's alone, to refuse an extra unref */
};

typedef struct corio__ready_node {
  CORIO__READY_FIELDS
} corio__ready_node;

/* An embedded handle that will run cb(arg) each time it is queued. */
static inline void corio__ready_node_init(corio__ready_node *node,
                                          corio_callback cb, void *arg) {
  *node = (corio__ready_node){.cb = cb, .arg = arg, .kind = HANDLE_EMBEDDED};
}

static inline corio_handle *corio__ready_node_handle(corio__ready_node *node) {
  return (corio_handle *)(void *)node;
}

/* Appends an embedded handle to the ready queue (it runs in the next
 * iteration, or in this one if the loop has not started it yet). The
 * owner keeps its memory alive until the callback runs and never queues
 * it twice. The loop must not be closed. */
void corio__loop_push_ready(corio_loop *loop, corio_handle *h);

/* Takes every embedded handle out of the ready queue, calling dropped(h)
 * for each: the owner's chance to release what the queued handle held,
 * before the loop closes. */
void corio__loop_unqueue_embedded(corio_loop *loop,
                                  void (*dropped)(corio_handle *h));

/* call_soon with a borrowed handle, as below. Errors: -ENOMEM,
 * CORIO_ELOOPCLOSED. */
int corio__loop_call_soon_borrowed(corio_loop *loop, corio_callback cb,
                                   void *arg, corio_handle **handle);

/* A timer like corio_loop_call_at_ns, but the handle returned is borrowed:
 * it may be cancelled with corio_handle_cancel until its callback has
 * started, and not touched after. Errors: -ENOMEM, CORIO_ELOOPCLOSED. */
int corio__loop_call_at_borrowed(corio_loop *loop, int64_t when_ns,
                                 corio_callback cb, void *arg,
                                 corio_handle **handle);

#endif
