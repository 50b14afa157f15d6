/* Backtraces of coroutines: the frames on a coroutine's own stack, walked
 * from the registers its last switch saved (a suspended coroutine) or from
 * the caller (the running one). See docs/debugging.md. */
#ifndef CORIO_CORO_BACKTRACE_H
#define CORIO_CORO_BACKTRACE_H

#include <stddef.h>
#include <stdint.h>

#include "corio/coro.h"
#include "coro/ctx.h"

/* What a backtrace needs of a coroutine (coro.c owns its layout). */
typedef struct corio__coro_view {
  const corio__ctx *ctx; /* its saved registers; NULL: it is running */
  uintptr_t stack_lo, stack_hi;
} corio__coro_view;

/* 0 for a coroutine of this thread that was switched out (suspended, or
 * waiting on one it resumed) or is running; CORIO_EDEAD (never started,
 * or returned: no frames), CORIO_ETHREAD, -EINVAL (NULL, destroyed). */
int corio__coro_inspect(const corio_coro *co, corio__coro_view *view);

typedef struct corio__frame {
  /* The innermost frame's is where the coroutine resumes; the others'
   * are return addresses. All of them follow a call. */
  uintptr_t pc;
  /* The stack address just above the frame (its caller's stack pointer),
   * so a local variable's address tells which frame holds it; 0 if not
   * known (a running coroutine's frames). */
  uintptr_t cfa;
} corio__frame;

enum corio__unwinder {
  CORIO__UNWIND_AUTO, /* libunwind if loaded, else frame pointers */
  /* DWARF CFI, as debuggers do: every frame, whatever the compiler
   * options. Available when corio was built with libunwind's header and
   * libunwind.so.8 loads at run time. */
  CORIO__UNWIND_LIBUNWIND,
  /* The frame-pointer chain: needs code built with frame pointers
   * (-fno-omit-frame-pointer; aarch64's default); stops where a saved
   * frame pointer leaves the stack or does not go up. */
  CORIO__UNWIND_FRAME_POINTERS
};

/* Fills frames with co's frames, innermost first, up to cap, and returns
 * how many; or the errors of corio__coro_inspect, or -ENOTSUP when `how`
 * is not available here. */
int corio__coro_backtrace(corio_coro *co, enum corio__unwinder how,
                          corio__frame *frames, size_t cap);

/* What CORIO__UNWIND_AUTO uses: libunwind when it is available, unless
 * the environment says CORIO_UNWIND=fp. */
enum corio__unwinder corio__unwinder_default(void);

#endif
