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

/* The registers a suspended context resumes with: what an unwinder needs
 * to walk its stack (src/coro/backtrace.c). pc is where it resumes, a
 * return address; sp the stack pointer it resumes with; fp the frame
 * pointer (rbp, x29); the rest the other callee-saved registers. */
typedef struct corio__ctx_regs {
  uintptr_t pc, sp, fp;
#if defined(__x86_64__)
  uintptr_t rbx, r12, r13, r14, r15;
#elif defined(__aarch64__)
  uintptr_t x19_x28[10];
#endif
} corio__ctx_regs;

/* Reads the registers of ctx, which must be suspended (saved by a switch
 * out of it). Returns 0, or -ENOTSUP on an architecture this does not
 * know. */
int corio__ctx_saved_regs(const corio__ctx *ctx, corio__ctx_regs *regs);

#endif
