/* Thin wrappers over the syscalls corio makes, so tests can fail the Nth
 * call of any of them. They return 0 / a value, or a negative errno;
 * errno is never the error channel. */
#ifndef CORIO_CORE_SYS_H
#define CORIO_CORE_SYS_H

#include <stddef.h>

/* Anonymous private mapping; *out gets the address. */
int corio__sys_mmap_anon(size_t len, int prot, int flags, void **out);
int corio__sys_munmap(void *addr, size_t len);
int corio__sys_mprotect(void *addr, size_t len, int prot);
int corio__sys_madvise(void *addr, size_t len, int advice);

/* Bytes mapped through corio__sys_mmap_anon and not yet unmapped. */
long corio__sys_mapped_bytes(void);

size_t corio__page_size(void);

#endif
