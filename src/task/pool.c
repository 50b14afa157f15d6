/* The loop's pools of futures and tasks: fixed-size blocks carved from
 * slabs, so that spawning and finishing a task never reaches malloc once
 * the loop has warmed up. A pool keeps its peak until the loop's memory is
 * freed (the last future or task of a closed loop gone). Free blocks are
 * poisoned for AddressSanitizer and Valgrind, so a use after free is still
 * caught. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "task/task_internal.h"

#if CORIO_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

enum { BLOCKS_PER_SLAB = 128 };

struct pool_slab {
  struct pool_slab *next;
  /* blocks follow, each pool->block_size bytes */
};

struct free_block {
  struct free_block *next;
};

/* Valgrind's client requests cost a few instructions each even outside
 * Valgrind: asked once. */
#if CORIO_HAVE_VALGRIND
static atomic_int under_valgrind = -1;

static int tracked(void) {
  int known = atomic_load_explicit(&under_valgrind, memory_order_relaxed);

  if (corio__unlikely(known < 0)) {
    known = RUNNING_ON_VALGRIND ? 1 : 0;
    atomic_store_explicit(&under_valgrind, known, memory_order_relaxed);
  }
  return known;
}
#endif

static void mark_free(void *block, size_t size) {
#if CORIO_ASAN
  ASAN_POISON_MEMORY_REGION((char *)block + sizeof(struct free_block),
                            size - sizeof(struct free_block));
#endif
#if CORIO_HAVE_VALGRIND
  if (tracked())
    VALGRIND_MAKE_MEM_NOACCESS((char *)block + sizeof(struct free_block),
                               size - sizeof(struct free_block));
#endif
  (void)block;
  (void)size;
}

static void mark_used(void *block, size_t size) {
#if CORIO_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
#if CORIO_HAVE_VALGRIND
  if (tracked())
    VALGRIND_MAKE_MEM_UNDEFINED(block, size);
#endif
  (void)block;
  (void)size;
}

static size_t slab_bytes(const corio__pool *pool) {
  return sizeof(struct pool_slab) + BLOCKS_PER_SLAB * pool->block_size;
}

static int grow(corio__pool *pool) {
  struct pool_slab *slab = corio__alloc(slab_bytes(pool));
  char *blocks;

  if (!slab)
    return -ENOMEM;
  slab->next = pool->slabs;
  pool->slabs = slab;
  blocks = (char *)(slab + 1);
  for (int i = BLOCKS_PER_SLAB - 1; i >= 0; i--) {
    struct free_block *b = (void *)(blocks + (size_t)i * pool->block_size);
    b->next = pool->free;
    pool->free = b;
    mark_free(b, pool->block_size);
  }
  return 0;
}

void *corio__pool_get(corio__pool *pool) {
  struct free_block *b = pool->free;

  if (corio__unlikely(!b)) {
    if (grow(pool) < 0)
      return NULL;
    b = pool->free;
  }
  pool->free = b->next;
  mark_used(b, pool->block_size);
  return b;
}

void corio__pool_put(corio__pool *pool, void *block) {
  struct free_block *b = block;

  b->next = pool->free;
  pool->free = b;
  mark_free(b, pool->block_size);
}

void corio__pool_free_all(corio__pool *pool) {
  struct pool_slab *slab = pool->slabs, *next;

  for (; slab; slab = next) {
    next = slab->next;
    mark_used(slab + 1, BLOCKS_PER_SLAB * pool->block_size);
    corio__free(slab, slab_bytes(pool));
  }
  pool->slabs = NULL;
  pool->free = NULL;
}
