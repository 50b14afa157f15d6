#include "core/sys.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/fault.h"

static atomic_long mapped_bytes;

int corio__sys_mmap_anon(size_t len, int prot, int flags, void **out) {
  void *p;

  if (corio__fault_hit(CORIO__FAULT_MMAP))
    return -ENOMEM;
  p = mmap(NULL, len, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return -errno;
  atomic_fetch_add(&mapped_bytes, (long)len);
  *out = p;
  return 0;
}

int corio__sys_munmap(void *addr, size_t len) {
  /* An injected munmap failure still unmaps: the caller can only report
   * it, and a test must not leak real memory to prove that. */
  int injected = corio__fault_hit(CORIO__FAULT_MUNMAP);

  if (munmap(addr, len) != 0)
    return -errno;
  atomic_fetch_sub(&mapped_bytes, (long)len);
  return injected ? -EINVAL : 0;
}

int corio__sys_mprotect(void *addr, size_t len, int prot) {
  if (corio__fault_hit(CORIO__FAULT_MPROTECT))
    return -ENOMEM;
  return mprotect(addr, len, prot) == 0 ? 0 : -errno;
}

int corio__sys_madvise(void *addr, size_t len, int advice) {
  if (corio__fault_hit(CORIO__FAULT_MADVISE))
    return -EAGAIN;
  return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

long corio__sys_mapped_bytes(void) { return atomic_load(&mapped_bytes); }

/* Asked on every stack handed out: cached after the first call. Racing
 * first calls store the same value. */
size_t corio__page_size(void) {
  static atomic_size_t cached;
  size_t page = atomic_load_explicit(&cached, memory_order_relaxed);

  if (!page) {
    page = (size_t)sysconf(_SC_PAGESIZE);
    atomic_store_explicit(&cached, page, memory_order_relaxed);
  }
  return page;
}
