/* Internal allocation: every byte corio allocates goes through here. */
#ifndef CORIO_CORE_ALLOC_H
#define CORIO_CORE_ALLOC_H

#include <stddef.h>

void *corio__alloc(size_t size);
void *corio__calloc(size_t size);
void corio__free(void *ptr, size_t size);

/* Allocations handed out and not yet freed, for leak checks. */
long corio__alloc_outstanding(void);

#endif
