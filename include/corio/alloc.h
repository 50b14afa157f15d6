/* The one allocator behind every allocation corio makes. */
#ifndef CORIO_ALLOC_H
#define CORIO_ALLOC_H

#include <stddef.h>

#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A replacement allocator. `alloc` returns NULL on failure; `free` is told
 * the size that was asked for, so pool allocators need no header. */
typedef struct corio_allocator {
  void *(*alloc)(void *ctx, size_t size);
  void (*free)(void *ctx, void *ptr, size_t size);
  void *ctx;
} corio_allocator;

/* Replaces the allocator for the whole process (NULL restores malloc/free).
 * Memory must go back to the allocator that gave it, so the switch is
 * refused with -EBUSY while corio holds any memory; -EINVAL if alloc or free
 * is missing. */
CORIO_API int corio_set_allocator(const corio_allocator *allocator);

#ifdef __cplusplus
}
#endif
#endif
