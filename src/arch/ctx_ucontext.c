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

/* swapcontext saved the registers in the ucontext: the resume address
 * and the stack pointer are those after its return. */
int corio__ctx_saved_regs(const corio__ctx *ctx, corio__ctx_regs *regs) {
#if defined(__x86_64__)
  const greg_t *g = ctx->uc.uc_mcontext.gregs;

  regs->pc = (uintptr_t)g[REG_RIP];
  regs->sp = (uintptr_t)g[REG_RSP];
  regs->fp = (uintptr_t)g[REG_RBP];
  regs->rbx = (uintptr_t)g[REG_RBX];
  regs->r12 = (uintptr_t)g[REG_R12];
  regs->r13 = (uintptr_t)g[REG_R13];
  regs->r14 = (uintptr_t)g[REG_R14];
  regs->r15 = (uintptr_t)g[REG_R15];
  return 0;
#elif defined(__aarch64__)
  const mcontext_t *m = &ctx->uc.uc_mcontext;

  for (int i = 0; i < 10; i++)
    regs->x19_x28[i] = (uintptr_t)m->regs[19 + i];
  regs->fp = (uintptr_t)m->regs[29];
  regs->pc = (uintptr_t)m->pc;
  regs->sp = (uintptr_t)m->sp;
  return 0;
#else
  (void)ctx;
  (void)regs;
  return -ENOTSUP;
#endif
}
