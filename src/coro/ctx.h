/* The machine-level context switch, one implementation per backend:
 * src/arch/switch_<arch>.S (default) or src/arch/ctx_ucontext.c. */
#ifndef CORIO_CORO_CTX_H
#define CORIO_CORO_CTX_H

#include <stddef.h>
#include <stdint.h>

#if CORIO_CTX_UCONTEXT
#include <ucontext.h>
typedef struct corio__ctx {
  ucontext_t uc;
  void (*entry)(int msg);
} corio__ctx;
#else
/* Everything else a suspended context needs is on its own stack. */
typedef struct corio__ctx {
  void *sp;
} corio__ctx;
#endif

/* Prepares ctx so that the first switch into it calls entry(msg) on the
 * stack [lo, hi). entry must never return. Returns 0 or a negative errno. */
int corio__ctx_make(corio__ctx *ctx, void *lo, void *hi,
                    void (*entry)(int msg));

/* Saves the running context in *from, resumes *to, and returns the msg
 * passed by whichever context later switches back into *from.
 * Callers tail-call it where they can: the assembly version then resumes
 * straight into their caller, so no return ever pops a return-stack-buffer
 * entry that another context pushed (each such pop is a mispredict). */
int corio__ctx_switch(corio__ctx *from, corio__ctx *to, int msg);

#endif
