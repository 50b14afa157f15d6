/* A binary min-heap of timer handles ordered by (deadline, sequence), so
 * timers with equal deadlines fire in the order they were scheduled. Each
 * handle knows its index; a handle out of the heap has UINT32_MAX. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "loop/loop_internal.h"

static int before(const corio_handle *a, const corio_handle *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(timer_heap *heap, uint32_t i, corio_handle *h) {
  heap->items[i] = h;
  h->heap_index = i;
}

static void sift_up(timer_heap *heap, uint32_t i) {
  corio_handle *h = heap->items[i];

  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!before(h, heap->items[parent]))
      break;
    place(heap, i, heap->items[parent]);
    i = parent;
  }
  place(heap, i, h);
}

static void sift_down(timer_heap *heap, uint32_t i) {
  corio_handle *h = heap->items[i];

  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= heap->size)
      break;
    if (child + 1 < heap->size &&
        before(heap->items[child + 1], heap->items[child]))
      child++;
    if (!before(heap->items[child], h))
      break;
    place(heap, i, heap->items[child]);
    i = child;
  }
  place(heap, i, h);
}

static int grow(timer_heap *heap) {
  uint32_t capacity = heap->capacity ? heap->capacity * 2 : 64;
  corio_handle **items;

  if (capacity <= heap->capacity)
    return -ENOMEM;
  items = corio__alloc((size_t)capacity * sizeof *items);
  if (!items)
    return -ENOMEM;
  if (heap->size)
    memcpy(items, heap->items, (size_t)heap->size * sizeof *items);
  corio__free(heap->items, (size_t)heap->capacity * sizeof *items);
  heap->items = items;
  heap->capacity = capacity;
  return 0;
}

int corio__timers_push(timer_heap *heap, corio_handle *h) {
  if (heap->size == heap->capacity) {
    int rc = grow(heap);
    if (rc < 0)
      return rc;
  }
  place(heap, heap->size++, h);
  sift_up(heap, heap->size - 1);
  return 0;
}

corio_handle *corio__timers_top(const timer_heap *heap) {
  return heap->size ? heap->items[0] : NULL;
}

corio_handle *corio__timers_pop(timer_heap *heap) {
  corio_handle *top = heap->items[0];

  top->heap_index = UINT32_MAX;
  if (top->cancelled)
    heap->cancelled--;
  if (--heap->size > 0) {
    place(heap, 0, heap->items[heap->size]);
    sift_down(heap, 0);
  }
  return top;
}

/* Drops every cancelled handle and rebuilds the heap in O(n). */
void corio__timers_purge_cancelled(timer_heap *heap) {
  uint32_t kept = 0;

  for (uint32_t i = 0; i < heap->size; i++) {
    corio_handle *h = heap->items[i];
    if (h->cancelled) {
      h->heap_index = UINT32_MAX;
      corio__handle_release(h);
    } else {
      place(heap, kept++, h);
    }
  }
  heap->size = kept;
  heap->cancelled = 0;
  for (uint32_t i = kept / 2; i-- > 0;)
    sift_down(heap, i);
}

void corio__timers_free(timer_heap *heap) {
  for (uint32_t i = 0; i < heap->size; i++) {
    heap->items[i]->heap_index = UINT32_MAX;
    corio__handle_release(heap->items[i]);
  }
  corio__free(heap->items, (size_t)heap->capacity * sizeof *heap->items);
  *heap = (timer_heap){0};
}
