/* Coroutine backtraces: from the registers a switch saved, with libunwind
 * (DWARF CFI) or along the frame-pointer chain; a running coroutine's
 * from here, with the C library's backtrace(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "coro/backtrace.h"
#include "coro/libunwind.h"

#if CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#if defined(__has_include)
#if __has_include(<execinfo.h>)
#include <execinfo.h>
#define CORIO_HAVE_EXECINFO 1
#endif
#endif

enum corio__unwinder corio__unwinder_default(void) {
#if CORIO_HAVE_LIBUNWIND
  if (corio__libunwind_get())
    return CORIO__UNWIND_LIBUNWIND;
#endif
  return CORIO__UNWIND_FRAME_POINTERS;
}

/* ---- libunwind ----------------------------------------------------------- */

#if CORIO_HAVE_LIBUNWIND
/* A context as unw_getcontext would have made it at the resume point. */
static void fill_context(unw_context_t *uc, const corio__ctx_regs *r) {
  memset(uc, 0, sizeof *uc);
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RIP] = (greg_t)r->pc;
  uc->uc_mcontext.gregs[REG_RSP] = (greg_t)r->sp;
  uc->uc_mcontext.gregs[REG_RBP] = (greg_t)r->fp;
  uc->uc_mcontext.gregs[REG_RBX] = (greg_t)r->rbx;
  uc->uc_mcontext.gregs[REG_R12] = (greg_t)r->r12;
  uc->uc_mcontext.gregs[REG_R13] = (greg_t)r->r13;
  uc->uc_mcontext.gregs[REG_R14] = (greg_t)r->r14;
  uc->uc_mcontext.gregs[REG_R15] = (greg_t)r->r15;
#elif defined(__aarch64__)
  for (int i = 0; i < 10; i++)
    uc->uc_mcontext.regs[19 + i] = r->x19_x28[i];
  uc->uc_mcontext.regs[29] = r->fp;
  uc->uc_mcontext.regs[30] = r->pc;
  uc->uc_mcontext.sp = r->sp;
  uc->uc_mcontext.pc = r->pc;
#endif
}

static int walk_libunwind(const corio__ctx_regs *regs, uintptr_t stack_hi,
                          corio__frame *frames, size_t cap) {
  const corio__libunwind *u = corio__libunwind_get();
  unw_context_t uc;
  unw_cursor_t cursor;
  size_t n = 0;

  if (!u)
    return -ENOTSUP;
  fill_context(&uc, regs);
  if (u->init_local(&cursor, &uc) < 0)
    return 0;
#if CORIO_HAVE_VALGRIND
  /* libunwind checks that each page it reads is mapped by passing the
   * page's start to write(2); on a suspended stack that start may lie
   * below the saved stack pointer, which memcheck holds unaddressable. The
   * reads themselves stay above it: the reports are false. */
  VALGRIND_DISABLE_ERROR_REPORTING;
#endif
  while (n < cap) {
    unw_word_t ip = 0, sp = 0;
    int more;

    if (u->get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
      break;
    (void)u->get_reg(&cursor, UNW_REG_SP, &sp);
    if (n > 0)
      frames[n - 1].cfa = (uintptr_t)sp;
    frames[n++] = (corio__frame){.pc = (uintptr_t)ip};
    more = u->step(&cursor);
    if (more == 0)
      frames[n - 1].cfa = stack_hi; /* the outermost frame */
    if (more <= 0)
      break;
  }
#if CORIO_HAVE_VALGRIND
  VALGRIND_ENABLE_ERROR_REPORTING;
#endif
  return (int)n;
}
#endif

/* ---- frame pointers ------------------------------------------------------ */

/* Each frame record is (caller's frame pointer, return address), at the
 * frame pointer. The walk trusts only records inside the stack, each above
 * the last. On x86_64 the record sits at the top of its frame; on aarch64
 * at the bottom, so there a frame ends at its caller's record. The reads
 * are of another stack's saved registers, never of a sanitizer's redzone:
 * AddressSanitizer is told not to look. */
__attribute__((no_sanitize("address"))) static int
walk_frame_pointers(const corio__ctx_regs *regs, uintptr_t lo, uintptr_t hi,
                    corio__frame *frames, size_t cap) {
  const size_t word = sizeof(uintptr_t);
  uintptr_t fp = regs->fp;
  size_t n = 0;

  if (cap == 0)
    return 0;
  frames[n++] = (corio__frame){.pc = regs->pc};
  while (n < cap && fp >= lo && fp + 2 * word <= hi && fp % word == 0) {
    const uintptr_t *record = (const uintptr_t *)fp;
    uintptr_t caller_fp = record[0], ret = record[1];

#if defined(__aarch64__)
    if (caller_fp > fp)
      frames[n - 1].cfa = caller_fp;
#else
    frames[n - 1].cfa = fp + 2 * word;
#endif
    if (ret == 0)
      break;
    frames[n++] = (corio__frame){.pc = ret};
    if (caller_fp <= fp)
      break;
    fp = caller_fp;
  }
  return (int)n;
}

/* ---- the running coroutine ----------------------------------------------- */

/* From the caller, with the C library's unwinder (CFI, like libunwind);
 * this function's own frame is left out. */
static corio__noinline int walk_running(corio__frame *frames, size_t cap) {
#if CORIO_HAVE_EXECINFO
  void *pcs[65];
  int got, n = 0;

  if (cap > 64)
    cap = 64;
  got = backtrace(pcs, (int)cap + 1);
  for (int i = 1; i < got; i++)
    frames[n++] = (corio__frame){.pc = (uintptr_t)pcs[i]};
  return n;
#else
  (void)frames;
  (void)cap;
  return -ENOTSUP;
#endif
}

int corio__coro_backtrace(corio_coro *co, enum corio__unwinder how,
                          corio__frame *frames, size_t cap) {
  corio__coro_view view;
  corio__ctx_regs regs;
  int rc = corio__coro_inspect(co, &view);

  if (rc < 0)
    return rc;
  if (!frames && cap > 0)
    return -EINVAL;
  if (!view.ctx)
    return walk_running(frames, cap);
  rc = corio__ctx_saved_regs(view.ctx, &regs);
  if (rc < 0)
    return rc;
  if (how == CORIO__UNWIND_AUTO)
    how = corio__unwinder_default();
#if CORIO_HAVE_LIBUNWIND
  if (how == CORIO__UNWIND_LIBUNWIND)
    return walk_libunwind(&regs, view.stack_hi, frames, cap);
#endif
  if (how == CORIO__UNWIND_FRAME_POINTERS)
    return walk_frame_pointers(&regs, view.stack_lo, view.stack_hi, frames,
                               cap);
  return -ENOTSUP;
}
