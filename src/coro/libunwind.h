/* libunwind, loaded on first use (dlopen of libunwind.so.8) rather than
 * linked: programs that never ask for a backtrace do not need it, static
 * links of libcorio.a need no -lunwind, and a system without it falls
 * back to frame pointers. Built only where its header was found
 * (CORIO_HAVE_LIBUNWIND). */
#ifndef CORIO_CORO_LIBUNWIND_H
#define CORIO_CORO_LIBUNWIND_H

#if CORIO_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stddef.h>
#include <stdint.h>

typedef struct corio__libunwind {
  int (*init_local)(unw_cursor_t *cursor, unw_context_t *ctx);
  /* May be NULL (before libunwind 1.3). */
  int (*init_local2)(unw_cursor_t *cursor, unw_context_t *ctx, int flags);
  int (*step)(unw_cursor_t *cursor);
  int (*get_reg)(unw_cursor_t *cursor, unw_regnum_t reg, unw_word_t *value);
  int (*get_proc_name)(unw_cursor_t *cursor, char *buf, size_t len,
                       unw_word_t *offset);
} corio__libunwind;

/* The functions, or NULL when libunwind cannot be loaded or the
 * environment says CORIO_UNWIND=fp. Thread-safe; loaded once. */
const corio__libunwind *corio__libunwind_get(void);

/* The name of the function holding pc, from the ELF symbol tables (static
 * functions too): 0 and the offset of pc in it, or a negative code. */
int corio__libunwind_proc_name(uintptr_t pc, char *buf, size_t len,
                               uintptr_t *offset);
#endif

#endif
