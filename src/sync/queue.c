/* Queues. Waiting getters and putters are served FIFO through
 * reservations: a put that finds getters waiting reserves an item for the
 * first and wakes it, a get that finds putters waiting reserves a slot for
 * the first. Nobody can take what is reserved, and a waiter cancelled at
 * the moment it was woken hands its reservation to the next waiter, so no
 * item or slot is lost (DESIGN.md §4 rule 9). */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "corio/queue.h"
#include "sync/waitq.h"

enum { MIN_CAPACITY = 16 };

typedef struct prio_entry {
  int64_t priority;
  uint64_t seq; /* put order, for equal priorities */
  void *item;
} prio_entry;

struct __attribute__((may_alias)) queue_impl {
  uint32_t kind;     /* corio_queue_kind */
  uint32_t shutdown; /* shut down: puts fail */
  size_t maxsize;
  size_t size; /* items stored */
  size_t capacity;
  size_t head;   /* FIFO: index of the oldest item in the ring */
  void *storage; /* void *[capacity] (FIFO, LIFO) or prio_entry[] */
  corio_queue_compare cmp;
  uint64_t seq;
  size_t unfinished;     /* put and not yet marked done */
  size_t reserved_items; /* promised to woken getters */
  size_t reserved_slots; /* promised to woken putters */
  uint64_t epoch;        /* an immediate shutdown voids reservations */
  sync_waitq getters, putters, joiners;
};

_Static_assert(sizeof(struct queue_impl) <= sizeof(corio_queue),
               "corio_queue storage too small");

static struct queue_impl *impl(corio_queue *q) {
  return (struct queue_impl *)(void *)q;
}

static const struct queue_impl *cimpl(const corio_queue *q) {
  return (const struct queue_impl *)(const void *)q;
}

static size_t entry_size(const struct queue_impl *q) {
  return q->kind == CORIO_QUEUE_PRIORITY ? sizeof(prio_entry) : sizeof(void *);
}

/* ---- storage ------------------------------------------------------------- */

static int grow(struct queue_impl *q) {
  size_t cap = q->capacity ? q->capacity * 2 : MIN_CAPACITY;
  size_t esize = entry_size(q);
  char *bigger;

  if (q->maxsize && cap > q->maxsize)
    cap = q->maxsize;
  bigger = corio__alloc(cap * esize);
  if (!bigger)
    return -ENOMEM;
  if (q->kind == CORIO_QUEUE_FIFO && q->size > 0) {
    /* Unwrap the ring: the oldest item goes to index 0. */
    size_t first = q->capacity - q->head;
    if (first > q->size)
      first = q->size;
    memcpy(bigger, (char *)q->storage + q->head * esize, first * esize);
    memcpy(bigger + first * esize, q->storage, (q->size - first) * esize);
    q->head = 0;
  } else if (q->size) {
    memcpy(bigger, q->storage, q->size * esize);
  }
  corio__free(q->storage, q->capacity * esize);
  q->storage = bigger;
  q->capacity = cap;
  return 0;
}

static int before(const struct queue_impl *q, const prio_entry *a,
                  const prio_entry *b) {
  int c = q->cmp ? q->cmp(a->item, b->item)
                 : (a->priority > b->priority) - (a->priority < b->priority);

  return c < 0 || (c == 0 && a->seq < b->seq);
}

static void heap_push(struct queue_impl *q, prio_entry e) {
  prio_entry *heap = q->storage;
  size_t i = q->size;

  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(q, &e, &heap[parent]))
      break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = e;
}

static void *heap_pop(struct queue_impl *q) {
  prio_entry *heap = q->storage;
  void *top = heap[0].item;
  prio_entry last = heap[q->size]; /* size already decremented */
  size_t i = 0, n = q->size;

  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n)
      break;
    if (child + 1 < n && before(q, &heap[child + 1], &heap[child]))
      child++;
    if (!before(q, &heap[child], &last))
      break;
    heap[i] = heap[child];
    i = child;
  }
  if (n > 0)
    heap[i] = last;
  return top;
}

/* Stores item; -ENOMEM if the storage cannot grow. */
static int store(struct queue_impl *q, void *item, int64_t priority) {
  void **ring;

  if (q->size == q->capacity) {
    int rc = grow(q);
    if (rc < 0)
      return rc;
  }
  ring = q->storage;
  switch (q->kind) {
  case CORIO_QUEUE_FIFO:
    ring[(q->head + q->size) % q->capacity] = item;
    break;
  case CORIO_QUEUE_LIFO:
    ring[q->size] = item;
    break;
  default:
    heap_push(q, (prio_entry){priority, q->seq++, item});
    break;
  }
  q->size++;
  q->unfinished++;
  return 0;
}

static void *take(struct queue_impl *q) {
  void **ring = q->storage;
  void *item;

  q->size--;
  switch (q->kind) {
  case CORIO_QUEUE_FIFO:
    item = ring[q->head];
    q->head = (q->head + 1) % q->capacity;
    return item;
  case CORIO_QUEUE_LIFO:
    return ring[q->size];
  default:
    return heap_pop(q);
  }
}

/* ---- reservations ----------------------------------------------------------
 */

/* Reservations voided by an immediate shutdown stay counted until their
 * getters have run (see corio_queue_get), so this stops at 0. */
static size_t free_items(const struct queue_impl *q) {
  return q->size > q->reserved_items ? q->size - q->reserved_items : 0;
}

static int has_room(const struct queue_impl *q) {
  return !q->maxsize || q->size + q->reserved_slots < q->maxsize;
}

/* An item is there for the first waiting getter. */
static void serve_getter(struct queue_impl *q) {
  if (free_items(q) > 0 && corio__waitq_wake_first(&q->getters, 0))
    q->reserved_items++;
}

/* A slot is there for the first waiting putter. */
static void serve_putter(struct queue_impl *q) {
  if (!q->shutdown && has_room(q) && corio__waitq_wake_first(&q->putters, 0))
    q->reserved_slots++;
}

/* ---- life cycle ------------------------------------------------------------
 */

static int init(corio_queue *q, corio_queue_kind kind, size_t maxsize,
                corio_queue_compare cmp) {
  if (!q)
    return -EINVAL;
  memset(q, 0, sizeof *q);
  impl(q)->kind = (uint32_t)kind;
  impl(q)->maxsize = maxsize;
  impl(q)->cmp = cmp;
  return 0;
}

int corio_queue_init(corio_queue *q, corio_queue_kind kind, size_t maxsize) {
  if (kind != CORIO_QUEUE_FIFO && kind != CORIO_QUEUE_LIFO &&
      kind != CORIO_QUEUE_PRIORITY)
    return -EINVAL;
  return init(q, kind, maxsize, NULL);
}

int corio_queue_init_compare(corio_queue *q, size_t maxsize,
                             corio_queue_compare cmp) {
  if (!cmp)
    return -EINVAL;
  return init(q, CORIO_QUEUE_PRIORITY, maxsize, cmp);
}

int corio_queue_destroy(corio_queue *q) {
  struct queue_impl *s;

  if (!q)
    return -EINVAL;
  s = impl(q);
  if (!corio__waitq_empty(&s->getters) || !corio__waitq_empty(&s->putters) ||
      !corio__waitq_empty(&s->joiners) || s->reserved_items ||
      s->reserved_slots)
    return -EBUSY;
  corio__free(s->storage, s->capacity * entry_size(s));
  s->storage = NULL;
  s->capacity = s->size = s->head = 0;
  return 0;
}

/* ---- put ----------------------------------------------------------------- */

static int put_nowait(struct queue_impl *q, void *item, int64_t priority) {
  int rc;

  if (q->shutdown)
    return CORIO_EQUEUESHUTDOWN;
  if (!has_room(q))
    return CORIO_EQUEUEFULL;
  rc = store(q, item, priority);
  if (rc == 0)
    serve_getter(q);
  return rc;
}

static int put(struct queue_impl *q, void *item, int64_t priority) {
  sync_waiter waiter;
  corio_task *self;
  int rc = put_nowait(q, item, priority);

  if (rc != CORIO_EQUEUEFULL)
    return rc;
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  rc = corio__waitq_wait(&q->putters, &waiter, self);
  if (!waiter.w.woken || waiter.w.value != 0)
    return rc; /* cancelled while waiting, or shut down */
  /* A slot was reserved: use it, or pass it on. */
  q->reserved_slots--;
  if (rc == 0 && q->shutdown)
    rc = CORIO_EQUEUESHUTDOWN;
  if (rc == 0) {
    rc = store(q, item, priority);
    if (rc == 0) {
      serve_getter(q);
      return 0;
    }
  }
  serve_putter(q);
  return rc;
}

static int check_priority_kind(const corio_queue *q) {
  return q && cimpl(q)->kind == CORIO_QUEUE_PRIORITY && !cimpl(q)->cmp;
}

int corio_queue_put_nowait(corio_queue *q, void *item) {
  return q ? put_nowait(impl(q), item, 0) : -EINVAL;
}

int corio_queue_put(corio_queue *q, void *item) {
  return q ? put(impl(q), item, 0) : -EINVAL;
}

int corio_queue_put_priority_nowait(corio_queue *q, void *item,
                                    int64_t priority) {
  return check_priority_kind(q) ? put_nowait(impl(q), item, priority) : -EINVAL;
}

int corio_queue_put_priority(corio_queue *q, void *item, int64_t priority) {
  return check_priority_kind(q) ? put(impl(q), item, priority) : -EINVAL;
}

/* ---- get ----------------------------------------------------------------- */

static void *take_and_serve(struct queue_impl *q) {
  void *item = take(q);

  serve_putter(q);
  return item;
}

int corio_queue_get_nowait(corio_queue *q, void **item) {
  struct queue_impl *s;

  if (!q || !item)
    return -EINVAL;
  s = impl(q);
  if (free_items(s) == 0)
    return s->shutdown ? CORIO_EQUEUESHUTDOWN : CORIO_EQUEUEEMPTY;
  *item = take_and_serve(s);
  return 0;
}

int corio_queue_get(corio_queue *q, void **item) {
  struct queue_impl *s;
  sync_waiter waiter;
  corio_task *self;
  int rc = corio_queue_get_nowait(q, item);

  if (rc != CORIO_EQUEUEEMPTY)
    return rc;
  s = impl(q);
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  waiter.data = (intptr_t)s->epoch;
  rc = corio__waitq_wait(&s->getters, &waiter, self);
  if (!waiter.w.woken || waiter.w.value != 0)
    return rc; /* cancelled while waiting, or shut down */
  s->reserved_items--;
  if ((uint64_t)waiter.data != s->epoch)
    return rc < 0 ? rc : CORIO_EQUEUESHUTDOWN; /* the item was dropped */
  /* An item was reserved: take it, or pass it on. */
  if (rc == 0) {
    *item = take_and_serve(s);
    return 0;
  }
  serve_getter(s);
  return rc;
}

/* ---- state --------------------------------------------------------------- */

size_t corio_queue_size(const corio_queue *q) { return q ? cimpl(q)->size : 0; }

size_t corio_queue_maxsize(const corio_queue *q) {
  return q ? cimpl(q)->maxsize : 0;
}

/* What get_nowait and put_nowait would find: an item or a slot promised
 * to a woken waiter is not free. */
int corio_queue_empty(const corio_queue *q) {
  return !q || free_items(cimpl(q)) == 0;
}

int corio_queue_full(const corio_queue *q) { return q && !has_room(cimpl(q)); }

int corio_queue_is_shutdown(const corio_queue *q) {
  return q && cimpl(q)->shutdown;
}

/* ---- join and shutdown --------------------------------------------------- */

int corio_queue_task_done(corio_queue *q) {
  struct queue_impl *s;

  if (!q)
    return -EINVAL;
  s = impl(q);
  if (s->unfinished == 0)
    return CORIO_ETOOMANYRELEASES;
  if (--s->unfinished == 0)
    corio__waitq_wake_all(&s->joiners, 0);
  return 0;
}

int corio_queue_join(corio_queue *q) {
  sync_waiter waiter;
  corio_task *self;

  if (!q)
    return -EINVAL;
  if (impl(q)->unfinished == 0)
    return 0;
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  return corio__waitq_wait(&impl(q)->joiners, &waiter, self);
}

void corio_queue_shutdown(corio_queue *q, int immediate) {
  struct queue_impl *s;

  if (!q)
    return;
  s = impl(q);
  s->shutdown = 1;
  if (immediate) {
    size_t dropped = s->size;

    s->size = s->head = 0;
    s->epoch++;
    s->unfinished = dropped > s->unfinished ? 0 : s->unfinished - dropped;
    if (s->unfinished == 0)
      corio__waitq_wake_all(&s->joiners, 0);
  }
  /* Waiting getters wait on an empty queue: nothing more will come. */
  corio__waitq_wake_all(&s->getters, CORIO_EQUEUESHUTDOWN);
  corio__waitq_wake_all(&s->putters, CORIO_EQUEUESHUTDOWN);
}
