/* Internal allocation: every byte corio allocates goes through here. */
#ifndef CORIO_CORE_ALLOC_H
#define CORIO_CORE_ALLOC_H

#include <stddef.h>

#include "corio/export.h"

void *corio__alloc(size_t size);
void *corio__calloc(size_t size);
CORIO_API void corio__free(void *ptr, size_t size);

/* Grows *arr (cap elements of elem bytes) to hold at least `need`,
 * doubling from at least `min_cap`; the new elements are zeroed. The
 * allocator has no realloc: this allocates, copies, frees. On failure
 * (-ENOMEM) the old array is untouched. */
int corio__grow_array(void **arr, size_t *cap, size_t elem, size_t need,
                      size_t min_cap);

/* Allocations handed out and not yet freed, for leak checks. */
long corio__alloc_outstanding(void);

#endif
