/* Portable backend on ucontext (makecontext/swapcontext): slower, as each
 * switch saves the signal mask with a syscall, but it runs wherever libc
 * provides it. Selected with -DCORIO_CONTEXT=ucontext. */
#include <errno.h>

#include "core/compiler.h"
#include "coro/ctx.h"

/* makecontext passes only ints, so the first switch into a new context
 * hands over its entry and message through the thread. */
static corio__thread_local corio__ctx *starting;
static corio__thread_local int handoff;

static void trampoline(void) { starting->entry(handoff); }

int corio__ctx_make(corio__ctx *ctx, void *lo, void *hi,
                    void (*entry)(int msg)) {
  if (getcontext(&ctx->uc) != 0)
    return -errno;
  ctx->uc.uc_stack.ss_sp = lo;
  ctx->uc.uc_stack.ss_size = (size_t)((char *)hi - (char *)lo);
  ctx->uc.uc_link = NULL;
  ctx->entry = entry;
  makecontext(&ctx->uc, trampoline, 0);
  return 0;
}

int corio__ctx_switch(corio__ctx *from, corio__ctx *to, int msg) {
  starting = to;
  handoff = msg;
  swapcontext(&from->uc, &to->uc);
  return handoff;
}
