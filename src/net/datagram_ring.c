#include "net/datagram_ring.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

static size_t rec_size(const corio__dgram_rec *r) {
  return corio__dgram_rec_size(r->addrlen, r->len);
}

size_t corio__dgram_ring_room_slow(corio__dgram_ring *q, size_t size,
                                   int *error) {
  if (size > q->cap)
    return (size_t)-1;
  if (!q->data && !(q->data = corio__alloc(q->cap))) {
    *error = -ENOMEM;
    return (size_t)-1;
  }
  if (q->count == 0) {
    q->head = q->tail = 0;
    q->wrapped = 0;
  }
  if (q->wrapped)
    return q->head - q->tail >= size ? q->tail : (size_t)-1;
  if (q->cap - q->tail >= size)
    return q->tail;
  /* Not at the end: at the start, before the first record. */
  if (q->head >= size) {
    q->end = q->tail;
    q->wrapped = 1;
    return 0;
  }
  return (size_t)-1;
}

corio__dgram_rec *corio__dgram_ring_next(const corio__dgram_ring *q,
                                         size_t *off) {
  const corio__dgram_rec *r =
      (const corio__dgram_rec *)(void *)(q->data + *off);

  *off += rec_size(r);
  if (q->wrapped && *off == q->end)
    *off = 0;
  return (corio__dgram_rec *)(void *)(q->data + *off);
}

int corio__dgram_ring_grow(corio__dgram_ring *q, size_t new_cap) {
  corio__dgram_ring bigger = {0};

  bigger.cap = new_cap;
  bigger.data = corio__alloc(new_cap);
  if (!bigger.data)
    return -ENOMEM;
  while (q->count) {
    corio__dgram_rec *r = corio__dgram_ring_front(q);

    /* It fits: new_cap holds everything, unwrapped. */
    (void)corio__dgram_ring_push(&bigger, corio__dgram_rec_addr(r), r->addrlen,
                                 corio__dgram_rec_data(r), r->len);
    corio__dgram_ring_pop(q);
  }
  corio__dgram_ring_clear(q);
  *q = bigger;
  return 0;
}

void corio__dgram_ring_clear(corio__dgram_ring *q) {
  size_t cap = q->cap;

  if (q->data)
    corio__free(q->data, q->cap);
  memset(q, 0, sizeof *q);
  q->cap = cap;
}
