/* The C side of the assembly backends (switch_<arch>.S). */
#include <stdint.h>

#include "coro/ctx.h"

void *corio__ctx_init_frame(void *top, void (*entry)(int));

int corio__ctx_make(corio__ctx *ctx, void *lo, void *hi,
                    void (*entry)(int msg)) {
  uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;

  (void)lo;
  ctx->sp = corio__ctx_init_frame((void *)top, entry);
  return 0;
}
