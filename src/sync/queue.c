/* Queues, as asyncio.Queue: a put wakes the first waiting getter and a get
 * the first waiting putter, and the woken task takes its item or slot only
 * when it runs. If it finds none then (a get_nowait or put_nowait took it
 * meanwhile), it waits again, at the end of the line, as asyncio's
 * `while self.empty(): await getter` does. A woken waiter cancelled before
 * it ran wakes the next one if what it was woken for is still there, so no
 * item or slot is left behind while others wait (DESIGN.md §4 rule 9). */
#include <errno.h>
#include <stdio.h>
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
  size_t unfinished; /* put and not yet marked done */
  size_t inside;     /* tasks suspended in get, put or join, woken or not */
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

/* ---- full, and waking ---------------------------------------------------- */

static int is_full(const struct queue_impl *q) {
  return q->maxsize && q->size >= q->maxsize;
}

/* asyncio's _wakeup_next: the first waiter not woken yet. */
static void wake_up_next(sync_waitq *waiters) {
  (void)corio__waitq_wake_first(waiters, 0);
}

/* ---- life cycle ---------------------------------------------------------- */

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
  /* A woken waiter reads the queue again when it runs. */
  if (s->inside)
    return -EBUSY;
  corio__free(s->storage, s->capacity * entry_size(s));
  s->storage = NULL;
  s->capacity = s->size = s->head = 0;
  return 0;
}

/* ---- put ----------------------------------------------------------------- */

/* ---- for dumps ----------------------------------------------------------- */

static void describe_queue(const void *object, char *buf, size_t len) {
  const struct queue_impl *q = object;

  if (q->maxsize)
    snprintf(buf, len, "%zu of %zu items, %zu unfinished%s", q->size,
             q->maxsize, q->unfinished, q->shutdown ? ", shut down" : "");
  else
    snprintf(buf, len, "%zu items, %zu unfinished%s", q->size, q->unfinished,
             q->shutdown ? ", shut down" : "");
}

static const corio__wait_kind get_kind = {.name = "queue get",
                                          .describe = describe_queue};
static const corio__wait_kind put_kind = {.name = "queue put",
                                          .describe = describe_queue};
static const corio__wait_kind join_kind = {.name = "queue join",
                                           .describe = describe_queue};

/* Suspends the current task in waiters until woken, counted as inside. */
static int wait_in(struct queue_impl *q, sync_waitq *waiters,
                   sync_waiter *waiter, corio_task *self) {
  const corio__wait_kind *kind = waiters == &q->getters   ? &get_kind
                                 : waiters == &q->putters ? &put_kind
                                                          : &join_kind;
  int rc;

  q->inside++;
  rc = corio__waitq_wait_on(waiters, waiter, self, kind, q);
  q->inside--;
  return rc;
}

static int put_nowait(struct queue_impl *q, void *item, int64_t priority) {
  int rc;

  if (q->shutdown)
    return CORIO_EQUEUESHUTDOWN;
  if (is_full(q))
    return CORIO_EQUEUEFULL;
  rc = store(q, item, priority);
  if (rc == 0)
    wake_up_next(&q->getters);
  return rc;
}

static int put(struct queue_impl *q, void *item, int64_t priority) {
  int waited = 0, rc;

  while (is_full(q)) {
    sync_waiter waiter;
    corio_task *self;

    if (q->shutdown)
      return CORIO_EQUEUESHUTDOWN;
    self = corio__wait_self();
    if (!self)
      return CORIO_ENOTASK;
    rc = wait_in(q, &q->putters, &waiter, self);
    if (rc < 0) {
      /* Woken for a slot it will not use: the next putter's turn. */
      if (corio__waiter_woken(&waiter) && !is_full(q))
        wake_up_next(&q->putters);
      return rc;
    }
    waited = 1;
  }
  rc = put_nowait(q, item, priority);
  /* The storage could not grow: the slot is still free for the next. */
  if (rc == -ENOMEM && waited)
    wake_up_next(&q->putters);
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

int corio_queue_get_nowait(corio_queue *q, void **item) {
  struct queue_impl *s;

  if (!q || !item)
    return -EINVAL;
  s = impl(q);
  if (s->size == 0)
    return s->shutdown ? CORIO_EQUEUESHUTDOWN : CORIO_EQUEUEEMPTY;
  *item = take(s);
  wake_up_next(&s->putters);
  return 0;
}

int corio_queue_get(corio_queue *q, void **item) {
  struct queue_impl *s;

  if (!q || !item)
    return -EINVAL;
  s = impl(q);
  while (s->size == 0) {
    sync_waiter waiter;
    corio_task *self;
    int rc;

    if (s->shutdown)
      return CORIO_EQUEUESHUTDOWN;
    self = corio__wait_self();
    if (!self)
      return CORIO_ENOTASK;
    rc = wait_in(s, &s->getters, &waiter, self);
    if (rc < 0) {
      /* Woken for an item it will not take: the next getter's turn. */
      if (corio__waiter_woken(&waiter) && s->size > 0)
        wake_up_next(&s->getters);
      return rc;
    }
  }
  return corio_queue_get_nowait(q, item);
}

/* ---- state --------------------------------------------------------------- */

size_t corio_queue_size(const corio_queue *q) { return q ? cimpl(q)->size : 0; }

size_t corio_queue_maxsize(const corio_queue *q) {
  return q ? cimpl(q)->maxsize : 0;
}

int corio_queue_empty(const corio_queue *q) {
  return !q || cimpl(q)->size == 0;
}

int corio_queue_full(const corio_queue *q) { return q && is_full(cimpl(q)); }

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
  return wait_in(impl(q), &impl(q)->joiners, &waiter, self);
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
    s->unfinished = dropped > s->unfinished ? 0 : s->unfinished - dropped;
    if (s->unfinished == 0)
      corio__waitq_wake_all(&s->joiners, 0);
  }
  /* Every waiter looks again: getters take what is left or fail, putters
   * fail. */
  corio__waitq_wake_all(&s->getters, 0);
  corio__waitq_wake_all(&s->putters, 0);
}
