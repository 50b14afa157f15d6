#include "core/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/fault.h"
#include "corio/alloc.h"

static void *default_alloc(void *ctx, size_t size) {
  (void)ctx;
  return malloc(size);
}

static void default_free(void *ctx, void *ptr, size_t size) {
  (void)ctx;
  (void)size;
  free(ptr);
}

static corio_allocator current = {default_alloc, default_free, NULL};
static atomic_long outstanding;

int corio_set_allocator(const corio_allocator *allocator) {
  static const corio_allocator standard = {default_alloc, default_free, NULL};

  if (allocator && (!allocator->alloc || !allocator->free))
    return -EINVAL;
  if (atomic_load(&outstanding) != 0)
    return -EBUSY;
  current = allocator ? *allocator : standard;
  return 0;
}

void *corio__alloc(size_t size) {
  void *ptr;

  if (corio__unlikely(corio__fault_hit(CORIO__FAULT_ALLOC)))
    return NULL;
  ptr = current.alloc(current.ctx, size ? size : 1);
  if (ptr)
    atomic_fetch_add_explicit(&outstanding, 1, memory_order_relaxed);
  return ptr;
}

void *corio__calloc(size_t size) {
  void *ptr = corio__alloc(size);

  if (ptr)
    memset(ptr, 0, size);
  return ptr;
}

void corio__free(void *ptr, size_t size) {
  if (!ptr)
    return;
  atomic_fetch_sub_explicit(&outstanding, 1, memory_order_relaxed);
  current.free(current.ctx, ptr, size ? size : 1);
}

long corio__alloc_outstanding(void) { return atomic_load(&outstanding); }

int corio__grow_array(void **arr, size_t *cap, size_t elem, size_t need,
                      size_t min_cap) {
  size_t n = *cap > min_cap ? *cap : (min_cap ? min_cap : 1);
  char *bigger;

  while (n < need) {
    if (n > (size_t)-1 / 2 / elem)
      return -ENOMEM;
    n *= 2;
  }
  if (n == *cap)
    return 0;
  bigger = corio__alloc(n * elem);
  if (!bigger)
    return -ENOMEM;
  if (*cap)
    memcpy(bigger, *arr, *cap * elem);
  memset(bigger + *cap * elem, 0, (n - *cap) * elem);
  corio__free(*arr, *cap * elem);
  *arr = bigger;
  *cap = n;
  return 0;
}
