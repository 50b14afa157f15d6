/* The C side of the assembly backends (switch_<arch>.S). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "coro/ctx.h"

void *corio__ctx_init_frame(void *top, void (*entry)(int));

int corio__ctx_make(corio__ctx *ctx, void *lo, void *hi,
                    void (*entry)(int msg)) {
  uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;

  (void)lo;
  ctx->sp = corio__ctx_init_frame((void *)top, entry);
  return 0;
}

/* The frame layouts are drawn in switch_<arch>.S. */
int corio__ctx_saved_regs(const corio__ctx *ctx, corio__ctx_regs *regs) {
  const uintptr_t *frame = ctx->sp;

#if defined(__x86_64__)
  regs->r15 = frame[1];
  regs->r14 = frame[2];
  regs->r13 = frame[3];
  regs->r12 = frame[4];
  regs->rbx = frame[5];
  regs->fp = frame[6];
  regs->pc = frame[7];
  regs->sp = (uintptr_t)(frame + 8);
  return 0;
#elif defined(__aarch64__)
  memcpy(regs->x19_x28, frame, sizeof regs->x19_x28);
  regs->fp = frame[10];
  regs->pc = frame[11];
  regs->sp = (uintptr_t)(frame + 22);
  return 0;
#else
  (void)frame;
  (void)regs;
  return -ENOTSUP;
#endif
}
