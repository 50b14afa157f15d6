/* Coroutine stacks: carved out of large lazily-committed slab mappings,
 * pooled per thread by power-of-two size class. See docs/coro.md
 * ("Stacks") for the layout and the overflow policy. */
#ifndef CORIO_CORO_STACK_H
#define CORIO_CORO_STACK_H

#include <stddef.h>
#include <stdint.h>

struct corio__slab;

/* One stack handed out by the pool. Usable memory is [lo, hi); the page
 * below lo is the guard page (PROT_NONE, or untouched in canary-only slabs).
 * Above hi come the pool's free-list link (used only while the stack is
 * free) and, in the top 16 bytes of the region, the canary of the stack
 * above. */
typedef struct corio__stack {
  char *lo;
  char *hi;
  uint64_t *canary; /* below this stack's guard page; must stay intact */
  struct corio__slab *slab;
} corio__stack;

#define CORIO__STACK_CANARY UINT64_C(0xC0210CA7A5C0FFEE)

/* Bytes reserved at the top of every region: the pool's link, then the
 * canary of the region above. */
#define CORIO__STACK_LINK_SLOT 16
#define CORIO__STACK_CANARY_SLOT 16
#define CORIO__STACK_TOP_RESERVE                                               \
  (CORIO__STACK_LINK_SLOT + CORIO__STACK_CANARY_SLOT)

/* Takes a stack from the calling thread's pool: a region of `size` bytes
 * rounded up to a power of two, guard page included. Returns 0, -EINVAL
 * (size out of range) or -ENOMEM. */
int corio__stack_get(size_t size, corio__stack *out);

/* Returns a stack to the pool of the thread that got it. */
void corio__stack_put(const corio__stack *stack);

/* The region size (a power of two) that serves a request for `size`, or 0
 * when the size is out of range. */
size_t corio__stack_class_size(size_t size);

void corio__stack_trim(void);
size_t corio__stack_set_guard_budget(size_t guarded);

#endif
