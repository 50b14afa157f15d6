/* Queues between tasks of one loop: FIFO, LIFO and priority, bounded or
 * not, with task_done/join and shutdown, as asyncio.Queue (Python 3.13).
 * Plain storage to embed in your own structs; the items are pointers the
 * queue never owns. See docs/sync.md.
 *
 * As in asyncio, a put wakes the first waiting getter, which takes an
 * item only when it runs: a get_nowait in between takes it, and the woken
 * getter waits again at the end of the line (the same for putters and
 * slots). Nothing is set aside, so size, empty and full always agree. A
 * woken waiter cancelled before it ran wakes the next one if the item (or
 * slot) is still there. */
#ifndef CORIO_QUEUE_H
#define CORIO_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "corio/error.h"
#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_queue {
  uint64_t opaque_[18];
} corio_queue;

typedef enum corio_queue_kind {
  CORIO_QUEUE_FIFO,
  CORIO_QUEUE_LIFO,
  CORIO_QUEUE_PRIORITY /* lowest first; equal ones in the order put */
} corio_queue_kind;

/* For a priority queue ordered by the items themselves: <0, 0, >0 as
 * strcmp. */
typedef int (*corio_queue_compare)(const void *a, const void *b);

/* maxsize 0: unbounded. A priority queue made with corio_queue_init is
 * ordered by the integer priority given to corio_queue_put_priority.
 * Errors: -EINVAL. The queue allocates its storage as it grows. */
CORIO_API int corio_queue_init(corio_queue *q, corio_queue_kind kind,
                               size_t maxsize);
/* A priority queue ordered by cmp. */
CORIO_API int corio_queue_init_compare(corio_queue *q, size_t maxsize,
                                       corio_queue_compare cmp);
/* Frees the storage (the items stay the caller's). -EBUSY while tasks
 * are in get, put or join, woken or not. */
CORIO_API int corio_queue_destroy(corio_queue *q);

/* Puts item at the end, waiting while the queue is full (FIFO among
 * putters). 0, -ECANCELED or CORIO_ECLOSED (not put),
 * CORIO_EQUEUESHUTDOWN, -ENOMEM, CORIO_ENOTASK, -EINVAL. */
CORIO_API int corio_queue_put(corio_queue *q, void *item);
/* Without waiting: CORIO_EQUEUEFULL when full. */
CORIO_API int corio_queue_put_nowait(corio_queue *q, void *item);
/* For a priority queue made with corio_queue_init: with a priority (other
 * kinds: -EINVAL). */
CORIO_API int corio_queue_put_priority(corio_queue *q, void *item,
                                       int64_t priority);
CORIO_API int corio_queue_put_priority_nowait(corio_queue *q, void *item,
                                              int64_t priority);

/* Takes the next item (FIFO: the oldest; LIFO: the newest; priority: the
 * lowest), waiting while there is none (FIFO among getters). 0 with
 * *item, -ECANCELED or CORIO_ECLOSED (nothing taken),
 * CORIO_EQUEUESHUTDOWN (shut down and empty), CORIO_ENOTASK, -EINVAL. */
CORIO_API int corio_queue_get(corio_queue *q, void **item);
/* Without waiting: CORIO_EQUEUEEMPTY when there is nothing to take. */
CORIO_API int corio_queue_get_nowait(corio_queue *q, void **item);

CORIO_API size_t corio_queue_size(const corio_queue *q);
CORIO_API size_t corio_queue_maxsize(const corio_queue *q);
/* size == 0 */
CORIO_API int corio_queue_empty(const corio_queue *q);
/* Bounded, and size >= maxsize. */
CORIO_API int corio_queue_full(const corio_queue *q);

/* A consumer is done with an item it got: join returns once every item
 * put has been marked done. CORIO_ETOOMANYRELEASES if called more times
 * than items were put. */
CORIO_API int corio_queue_task_done(corio_queue *q);
/* Waits until every item put has been marked done. */
CORIO_API int corio_queue_join(corio_queue *q);

/* Shuts the queue down: puts fail with CORIO_EQUEUESHUTDOWN (waiting
 * putters too); gets drain what is left, then fail the same way. Waiting
 * getters are woken to look again: they take an item still there, or
 * fail. With immediate, the items left are dropped (and count as done,
 * releasing join), so waiting getters fail. */
CORIO_API void corio_queue_shutdown(corio_queue *q, int immediate);
CORIO_API int corio_queue_is_shutdown(const corio_queue *q);

#ifdef __cplusplus
}
#endif
#endif
