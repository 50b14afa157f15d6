/* A FIFO of datagrams in one byte buffer: each record is a small header,
 * the sender's (or destination's) address and the payload, stored end to
 * end and wrapping around, so queueing a datagram never allocates. The
 * receive queue has a fixed capacity (a datagram that does not fit is
 * the caller's to drop); the send queue grows (corio__dgram_ring_grow). */
#ifndef CORIO_NET_DATAGRAM_RING_H
#define CORIO_NET_DATAGRAM_RING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

typedef struct corio__dgram_rec {
  uint32_t len;     /* payload bytes stored */
  uint16_t addrlen; /* 0: no address (a connected socket's) */
  uint16_t unused;
} corio__dgram_rec;

typedef struct corio__dgram_ring {
  char *data; /* NULL until the first record */
  size_t cap;
  size_t head;    /* offset of the first record */
  size_t tail;    /* offset where the next record goes */
  size_t end;     /* while wrapped: where the records before 0 end */
  int wrapped;    /* records run from head to end, then from 0 to tail */
  size_t count;   /* records stored */
  size_t payload; /* their payload bytes */
} corio__dgram_ring;

/* Bytes a record of addrlen and len takes (8-byte aligned). */
static inline size_t corio__dgram_rec_size(size_t addrlen, size_t len) {
  return sizeof(corio__dgram_rec) + ((addrlen + 7) & ~(size_t)7) +
         ((len + 7) & ~(size_t)7);
}

static inline struct sockaddr *corio__dgram_rec_addr(corio__dgram_rec *r) {
  return (struct sockaddr *)(void *)(r + 1);
}

static inline char *corio__dgram_rec_data(corio__dgram_rec *r) {
  return (char *)(r + 1) + ((r->addrlen + 7u) & ~7u);
}

static inline corio__dgram_rec *corio__dgram_ring_front(corio__dgram_ring *q) {
  return q->count ? (corio__dgram_rec *)(void *)(q->data + q->head) : NULL;
}

/* The record after the one at offset *off (for walking without taking):
 * moves *off on and returns the record there. */
corio__dgram_rec *corio__dgram_ring_next(const corio__dgram_ring *q,
                                         size_t *off);
/* Where a record of `size` bytes can go (the buffer made on first use),
 * or (size_t)-1: it does not fit, or -ENOMEM in *error. Out of line: the
 * wrap and the allocation. */
size_t corio__dgram_ring_room_slow(corio__dgram_ring *q, size_t size,
                                   int *error);
/* Moves every record into a buffer of new_cap bytes: 0 or -ENOMEM. */
int corio__dgram_ring_grow(corio__dgram_ring *q, size_t new_cap);
/* Frees the buffer and forgets every record (cap stays). */
void corio__dgram_ring_clear(corio__dgram_ring *q);

/* Appends a record: 0, or -ENOBUFS when it does not fit (nothing done),
 * or -ENOMEM (first use: the buffer of `cap` bytes could not be made).
 * Inline, with pop: once per datagram on the receive path. */
static inline int corio__dgram_ring_push(corio__dgram_ring *q,
                                         const struct sockaddr *addr,
                                         socklen_t addrlen, const void *data,
                                         size_t len) {
  size_t size = corio__dgram_rec_size(addrlen, len), at;
  corio__dgram_rec *r;
  int error = -ENOBUFS;

  /* The common case: unwrapped, room at the end. */
  if (q->data && q->count && !q->wrapped && q->cap - q->tail >= size)
    at = q->tail;
  else if ((at = corio__dgram_ring_room_slow(q, size, &error)) == (size_t)-1)
    return error;
  r = (corio__dgram_rec *)(void *)(q->data + at);
  r->len = (uint32_t)len;
  r->addrlen = (uint16_t)addrlen;
  r->unused = 0;
  if (addrlen)
    memcpy(corio__dgram_rec_addr(r), addr, addrlen);
  if (len)
    memcpy(corio__dgram_rec_data(r), data, len);
  q->tail = at + size;
  q->count++;
  q->payload += len;
  return 0;
}

static inline void corio__dgram_ring_pop(corio__dgram_ring *q) {
  corio__dgram_rec *r = corio__dgram_ring_front(q);

  if (!r)
    return;
  q->head += corio__dgram_rec_size(r->addrlen, r->len);
  q->payload -= r->len;
  if (--q->count == 0) {
    q->head = q->tail = 0;
    q->wrapped = 0;
  } else if (q->wrapped && q->head == q->end) {
    q->head = 0;
    q->wrapped = 0;
  }
}

#endif
