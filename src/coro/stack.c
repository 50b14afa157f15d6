#include "coro/stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/sys.h"
#include "corio/coro.h"

#if CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif
#if CORIO_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Region size classes 2^14 (16 KiB) .. 2^30 (1 GiB). A region is the
 * whole reservation: guard page, stack and top reserve. */
#define MIN_SHIFT 14
#define MAX_SHIFT 30
#define CLASS_COUNT (MAX_SHIFT - MIN_SHIFT + 1)

/* A slab aims at 64 MiB of address space and never holds more than 256
 * regions: a million default stacks take about 3,900 slabs, and unguarded
 * slabs are single mappings (adjacent ones even merge), so the mapping
 * count is dominated by the guard budget (two per guarded stack). */
#define SLAB_TARGET_BYTES ((size_t)64 << 20)
#define SLAB_MAX_REGIONS 256

/* A free region keeps its free-list link in its link slot, just above the
 * usable stack, so it never overlaps what the coroutine left there. */
struct free_region {
  struct free_region *next;
};

typedef struct corio__slab {
  char *map; /* the whole mapping: header page, then regions */
  size_t map_len;
  size_t region_size; /* power of two, includes the guard page */
  unsigned regions;   /* regions in this slab */
  unsigned bumped;    /* regions [0, bumped) have been handed out once */
  unsigned used;      /* regions handed out now */
  int guarded;        /* regions have PROT_NONE guard pages */
  int warm_empty;     /* empty, with its pages kept (its class's only one) */
  struct free_region *free;
  struct corio__slab *prev, *next; /* in its class's list of slabs with room */
  struct stack_class *cls;
  unsigned *valgrind_ids;
} corio__slab;

struct stack_class {
  /* Slabs that can hand out a region, partly used ones first: an empty
   * slab whose pages were given back is moved to the tail. */
  corio__slab *with_room, *with_room_tail;
  corio__slab *warm_empty; /* the one empty slab kept ready, if any */
};

struct stack_pool {
  struct stack_class classes[CLASS_COUNT];
};

static corio__thread_local struct stack_pool pool;
static corio__thread_local int pool_registered;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;
static atomic_size_t guard_budget = 8192;
static atomic_size_t guarded_in_use;

size_t corio__stack_set_guard_budget(size_t guarded) {
  return atomic_exchange(&guard_budget, guarded);
}

static int class_index(size_t size) {
  /* A region holds at least a guard page and three pages of stack, which
   * matters where pages are 64 KiB. */
  size_t floor = 4 * corio__page_size();
  int shift;

  if (size < CORIO_CORO_STACK_MIN || size > CORIO_CORO_STACK_MAX)
    return -1;
  if (size < floor)
    size = floor;
  /* The smallest power of two >= size. */
  shift = (int)(sizeof(unsigned long long) * 8) - __builtin_clzll(size - 1);
  if (shift < MIN_SHIFT)
    shift = MIN_SHIFT;
  return shift <= MAX_SHIFT ? shift - MIN_SHIFT : -1;
}

size_t corio__stack_class_size(size_t size) {
  int idx = class_index(size);

  return idx < 0 ? 0 : (size_t)1 << (idx + MIN_SHIFT);
}

static char *region_base(const corio__slab *slab, unsigned i) {
  return slab->map + corio__page_size() + (size_t)i * slab->region_size;
}

static void link_with_room(struct stack_class *cls, corio__slab *slab) {
  slab->prev = NULL;
  slab->next = cls->with_room;
  if (cls->with_room)
    cls->with_room->prev = slab;
  else
    cls->with_room_tail = slab;
  cls->with_room = slab;
}

static void link_with_room_at_tail(struct stack_class *cls, corio__slab *slab) {
  slab->next = NULL;
  slab->prev = cls->with_room_tail;
  if (cls->with_room_tail)
    cls->with_room_tail->next = slab;
  else
    cls->with_room = slab;
  cls->with_room_tail = slab;
}

static void unlink_with_room(struct stack_class *cls, corio__slab *slab) {
  if (slab->prev)
    slab->prev->next = slab->next;
  else
    cls->with_room = slab->next;
  if (slab->next)
    slab->next->prev = slab->prev;
  else
    cls->with_room_tail = slab->prev;
  slab->prev = slab->next = NULL;
}

static int reserve_guards(unsigned regions) {
  size_t now = atomic_load(&guarded_in_use);

  do {
    if (now + regions > atomic_load(&guard_budget))
      return 0;
  } while (!atomic_compare_exchange_weak(&guarded_in_use, &now, now + regions));
  return 1;
}

/* Turns the first page of every region into a guard page. Each one splits
 * the mapping, which is why their number is budgeted. */
static int protect_guards(corio__slab *slab) {
  for (unsigned i = 0; i < slab->regions; i++) {
    int rc = corio__sys_mprotect(region_base(slab, i), corio__page_size(),
                                 PROT_NONE);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Without the registration Valgrind takes a switch between two stacks of
 * one slab for a huge frame and reports the other stack as unaddressable:
 * a slab it cannot register is an allocation failure. */
static int register_with_valgrind(corio__slab *slab) {
#if CORIO_HAVE_VALGRIND
  if (!RUNNING_ON_VALGRIND)
    return 0;
  slab->valgrind_ids = corio__calloc(slab->regions * sizeof(unsigned));
  if (!slab->valgrind_ids)
    return -ENOMEM;
  for (unsigned i = 0; i < slab->regions; i++) {
    char *base = region_base(slab, i);
    slab->valgrind_ids[i] =
        VALGRIND_STACK_REGISTER(base, base + slab->region_size);
  }
#else
  (void)slab;
#endif
  return 0;
}

static void unregister_with_valgrind(corio__slab *slab) {
#if CORIO_HAVE_VALGRIND
  if (!slab->valgrind_ids)
    return;
  for (unsigned i = 0; i < slab->regions; i++)
    VALGRIND_STACK_DEREGISTER(slab->valgrind_ids[i]);
  corio__free(slab->valgrind_ids, slab->regions * sizeof(unsigned));
#else
  (void)slab;
#endif
}

static void release_slab(corio__slab *slab) {
  unregister_with_valgrind(slab);
  if (slab->guarded)
    atomic_fetch_sub(&guarded_in_use, slab->regions);
  /* A failed munmap leaves address space behind but nothing to undo. */
  (void)corio__sys_munmap(slab->map, slab->map_len);
  corio__free(slab, sizeof *slab);
}

static int map_slab(struct stack_class *cls, size_t region_size,
                    corio__slab **out) {
  corio__slab *slab;
  size_t regions = SLAB_TARGET_BYTES / region_size;
  void *map;
  int rc;

  if (regions < 1)
    regions = 1;
  if (regions > SLAB_MAX_REGIONS)
    regions = SLAB_MAX_REGIONS;
  slab = corio__calloc(sizeof *slab);
  if (!slab)
    return -ENOMEM;
  slab->region_size = region_size;
  slab->regions = (unsigned)regions;
  slab->map_len = corio__page_size() + regions * region_size;
  slab->cls = cls;
  rc = corio__sys_mmap_anon(slab->map_len, PROT_READ | PROT_WRITE,
                            MAP_NORESERVE | MAP_STACK, &map);
  if (rc < 0) {
    corio__free(slab, sizeof *slab);
    return rc == -EINVAL ? -EINVAL : -ENOMEM;
  }
  slab->map = map;
  /* Huge pages would commit 2 MiB for a stack that touched one page. The
   * advice is an optimisation, so its failure is not an error. */
  (void)corio__sys_madvise(map, slab->map_len, MADV_NOHUGEPAGE);
  slab->guarded = reserve_guards(slab->regions);
  if (slab->guarded && (rc = protect_guards(slab)) < 0) {
    release_slab(slab);
    return -ENOMEM;
  }
  if (register_with_valgrind(slab) < 0) {
    release_slab(slab);
    return -ENOMEM;
  }
  *out = slab;
  return 0;
}

static void fill_stack(corio__slab *slab, char *base, corio__stack *out) {
  size_t page = corio__page_size();

  out->lo = base + page;
  out->hi = base + slab->region_size - CORIO__STACK_TOP_RESERVE;
  out->canary = (uint64_t *)base - 2;
  out->slab = slab;
  *out->canary = CORIO__STACK_CANARY;
}

/* A thread that exits gives its empty slabs back; slabs still holding
 * live coroutines (leaked by the program) stay mapped. */
static void release_pool_at_exit(void *unused) {
  (void)unused;
  corio__stack_trim();
}

static void create_pool_key(void) {
  (void)pthread_key_create(&pool_key, release_pool_at_exit);
}

static void register_pool_cleanup(void) {
  pool_registered = 1;
  if (pthread_once(&pool_key_once, create_pool_key) == 0)
    (void)pthread_setspecific(pool_key, &pool);
}

int corio__stack_get(size_t size, corio__stack *out) {
  int idx = class_index(size);
  struct stack_class *cls;
  corio__slab *slab;
  char *base;

  if (idx < 0)
    return -EINVAL;
  cls = &pool.classes[idx];
  slab = cls->with_room;
  if (!slab) {
    int rc = map_slab(cls, (size_t)1 << (idx + MIN_SHIFT), &slab);
    if (rc < 0)
      return rc;
    if (!pool_registered)
      register_pool_cleanup();
    link_with_room(cls, slab);
  }
  if (slab->free) {
    struct free_region *region = slab->free;
    slab->free = region->next;
    base = (char *)region + CORIO__STACK_TOP_RESERVE - slab->region_size;
  } else {
    base = region_base(slab, slab->bumped++);
  }
  if (slab->warm_empty) {
    slab->warm_empty = 0;
    cls->warm_empty = NULL;
  }
  if (++slab->used == slab->regions)
    unlink_with_room(cls, slab);
  fill_stack(slab, base, out);
  return 0;
}

/* Gives the pages of an empty slab back to the OS but keeps it mapped:
 * pointers to coroutines that lived there stay readable (as zeros, which
 * the coroutine code reads as "destroyed"), and the slab is reused as is.
 * Only trim and thread exit unmap. */
static void give_back_pages(struct stack_class *cls, corio__slab *slab) {
  unlink_with_room(cls, slab);
  link_with_room_at_tail(cls, slab);
  if (corio__sys_madvise(slab->map, slab->map_len, MADV_DONTNEED) < 0)
    return; /* the pages stay, and so do the free-list links in them */
  slab->free = NULL;
  slab->bumped = 0;
}

void corio__stack_put(const corio__stack *stack) {
  corio__slab *slab = stack->slab;
  struct stack_class *cls = slab->cls;
  struct free_region *region = (struct free_region *)stack->hi;

#if CORIO_ASAN
  /* Frames of the finished coroutine leave poisoned redzones behind. */
  ASAN_UNPOISON_MEMORY_REGION(stack->lo, (size_t)(stack->hi - stack->lo));
#endif
  region->next = slab->free;
  slab->free = region;
  if (slab->used-- == slab->regions)
    link_with_room(cls, slab);
  if (slab->used > 0)
    return;
  /* One empty slab per class stays warm for the next create; any other
   * slab that empties gives its memory back. */
  if (!cls->warm_empty) {
    cls->warm_empty = slab;
    slab->warm_empty = 1;
  } else {
    give_back_pages(cls, slab);
  }
}

void corio__stack_trim(void) {
  for (int i = 0; i < CLASS_COUNT; i++) {
    struct stack_class *cls = &pool.classes[i];
    corio__slab *slab = cls->with_room, *next;

    for (; slab; slab = next) {
      next = slab->next;
      if (slab->used == 0) {
        if (slab->warm_empty)
          cls->warm_empty = NULL;
        unlink_with_room(cls, slab);
        release_slab(slab);
      }
    }
  }
}
