/* A 4-ary min-heap of timers ordered by (deadline, sequence), so timers
 * with equal deadlines fire in the order they were scheduled. Four
 * children per node halve the depth of a binary heap, and the four sit in
 * one cache line or two (16-byte entries), which matters for a million
 * timers. */
#include <errno.h>

#include "core/alloc.h"
#include "loop/loop_internal.h"

static int before(const timer_entry *a, const timer_entry *b) {
  return a->when < b->when ||
         (a->when == b->when && a->handle->seq < b->handle->seq);
}

static void sift_up(timer_heap *heap, uint32_t i) {
  timer_entry e = heap->items[i];

  while (i > 0) {
    uint32_t parent = (i - 1) / 4;
    if (!before(&e, &heap->items[parent]))
      break;
    heap->items[i] = heap->items[parent];
    i = parent;
  }
  heap->items[i] = e;
}

static void sift_down(timer_heap *heap, uint32_t i) {
  timer_entry e = heap->items[i];

  for (;;) {
    uint32_t first = 4 * i + 1, best, end;
    if (first >= heap->size)
      break;
    end = first + 4 < heap->size ? first + 4 : heap->size;
    best = first;
    for (uint32_t c = first + 1; c < end; c++)
      if (before(&heap->items[c], &heap->items[best]))
        best = c;
    if (!before(&heap->items[best], &e))
      break;
    heap->items[i] = heap->items[best];
    i = best;
  }
  heap->items[i] = e;
}

int corio__timers_push(timer_heap *heap, corio_handle *h) {
  if (heap->size == heap->capacity) {
    int rc = heap->size == UINT32_MAX
                 ? -ENOMEM
                 : corio__grow_array((void **)&heap->items, &heap->capacity,
                                     sizeof *heap->items,
                                     (size_t)heap->size + 1, 64);
    if (rc < 0)
      return rc;
  }
  heap->items[heap->size] = (timer_entry){h->when, h};
  h->in_heap = 1;
  sift_up(heap, heap->size++);
  return 0;
}

corio_handle *corio__timers_top(const timer_heap *heap) {
  return heap->size ? heap->items[0].handle : NULL;
}

corio_handle *corio__timers_pop(timer_heap *heap) {
  corio_handle *top = heap->items[0].handle;

  top->in_heap = 0;
  if (top->cancelled)
    heap->cancelled--;
  if (--heap->size > 0) {
    heap->items[0] = heap->items[heap->size];
    sift_down(heap, 0);
  }
  return top;
}

/* Drops every cancelled handle and rebuilds the heap in O(n). */
void corio__timers_purge_cancelled(timer_heap *heap) {
  uint32_t kept = 0;

  for (uint32_t i = 0; i < heap->size; i++) {
    corio_handle *h = heap->items[i].handle;
    if (h->cancelled) {
      h->in_heap = 0;
      corio__handle_release(h);
    } else {
      heap->items[kept++] = heap->items[i];
    }
  }
  heap->size = kept;
  heap->cancelled = 0;
  for (uint32_t i = kept / 4 + 1; i-- > 0;)
    if (i < kept)
      sift_down(heap, i);
}

void corio__timers_free(timer_heap *heap) {
  for (uint32_t i = 0; i < heap->size; i++) {
    heap->items[i].handle->in_heap = 0;
    corio__handle_release(heap->items[i].handle);
  }
  corio__free(heap->items, (size_t)heap->capacity * sizeof *heap->items);
  *heap = (timer_heap){0};
}
