/* Context switch cost: corio against glibc ucontext and, when installed,
 * Boost.Context's fcontext, all measured the same way in the same run.
 *
 *   switch_ns          one one-way switch: the median over 5 runs of the
 *                      time for 10,000,000 corio_coro_resume +
 *                      corio_coro_yield pairs, divided by 20,000,000
 *   ucontext_switch_ns the same with a getcontext/makecontext/swapcontext
 *                      ping-pong, but 2,000,000 pairs a run: swapcontext
 *                      makes a sigprocmask system call (~190 ns a switch
 *                      here), so 10,000,000 pairs would take ~4 s a run;
 *                      the syscall makes its cost steady enough that 0.8 s
 *                      runs give the same median
 *   fcontext_switch_ns the same with jump_fcontext (see fctx_switch)
 *   create_destroy_ns  one create + resume-to-end + destroy cycle, median
 *                      over 5 runs of 1,000,000 cycles; the stack pool
 *                      hands every create the stack the last destroy freed
 *
 * The runs of the three switch measurements are interleaved, so a burst of
 * load from elsewhere on the machine hits all of them alike. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "bench.h"
#include "corio/coro.h"

#define SWITCH_PAIRS 10000000L
#define UCONTEXT_PAIRS 2000000L
#define CREATE_CYCLES 1000000L
/* Stacks of the ucontext and fcontext coroutines: they stay shallow. */
#define PEER_STACK_SIZE ((size_t)64 * 1024)

static void die(const char *what, int rc) {
  fprintf(stderr, "switch: %s failed (%d)\n", what, rc);
  exit(1);
}

/* ---- corio ----------------------------------------------------------------
 */

static void *yield_loop(void *arg) {
  (void)arg;
  /* Returns when destroyed: the pending yield then reports CORIO_ECLOSED. */
  while (corio_coro_yield(NULL, NULL) == 0) {
  }
  return NULL;
}

/* Nanoseconds per one-way switch over `pairs` resume + yield pairs. */
static double corio_run(corio_coro *co, long pairs) {
  int rc = 0;
  double t0 = bench_now_s();

  for (long i = 0; i < pairs; i++)
    rc |= corio_coro_resume(co, NULL, NULL);
  double t1 = bench_now_s();
  if (rc != 0)
    die("corio_coro_resume", rc);
  return (t1 - t0) * 1e9 / (2.0 * (double)pairs);
}

/* ---- glibc ucontext ---------------------------------------------------------
 */

static ucontext_t uc_main, uc_peer;

static void uc_body(void) {
  for (;;)
    swapcontext(&uc_peer, &uc_main);
}

static void uc_setup(void) {
  void *stack = malloc(PEER_STACK_SIZE);

  if (!stack || getcontext(&uc_peer) != 0)
    die("ucontext setup", -1);
  uc_peer.uc_stack.ss_sp = stack;
  uc_peer.uc_stack.ss_size = PEER_STACK_SIZE;
  uc_peer.uc_link = NULL; /* uc_body never returns */
  makecontext(&uc_peer, uc_body, 0);
}

static double uc_run(long pairs) {
  double t0 = bench_now_s();

  for (long i = 0; i < pairs; i++)
    swapcontext(&uc_main, &uc_peer);
  double t1 = bench_now_s();
  return (t1 - t0) * 1e9 / (2.0 * (double)pairs);
}

/* ---- Boost.Context fcontext
 * --------------------------------------------------- */

#if CORIO_BENCH_HAVE_FCONTEXT
/* Boost.Context's C-linkage primitives (boost/context/detail/fcontext.hpp). */
typedef void *fcontext_t;
typedef struct {
  fcontext_t fctx;
  void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

/* What is measured: both sides switch through this non-inlined function,
 * as corio's both sides go through corio_coro_resume / corio_coro_yield.
 * The compiler makes it a tail jump to jump_fcontext, as corio's API
 * tail-jumps to its own switch, so neither pays a return that the other
 * context's call pushed (a return-stack mispredict each time). Each
 * one-way switch is thus: call fctx_switch, jmp jump_fcontext (through the
 * PLT when the shared library is linked), jump_fcontext's save of rbx, rbp,
 * r12-r15, MXCSR and the x87 control word, the load of the other side's,
 * and its indirect jmp into the other side's caller. fcontext keeps no
 * coroutine state and checks nothing, so this is its floor. */
static __attribute__((noinline)) transfer_t fctx_switch(fcontext_t to) {
  return jump_fcontext(to, NULL);
}

static void fctx_body(transfer_t t) {
  for (;;)
    t = fctx_switch(t.fctx);
}

static fcontext_t fctx_setup(void) {
  char *stack = malloc(PEER_STACK_SIZE);

  if (!stack)
    die("fcontext setup", -1);
  /* make_fcontext takes the top of the stack: it grows down. */
  return fctx_switch(
             make_fcontext(stack + PEER_STACK_SIZE, PEER_STACK_SIZE, fctx_body))
      .fctx;
}

static double fctx_run(fcontext_t *peer, long pairs) {
  fcontext_t to = *peer;
  double t0 = bench_now_s();

  for (long i = 0; i < pairs; i++)
    to = fctx_switch(to).fctx;
  double t1 = bench_now_s();
  *peer = to;
  return (t1 - t0) * 1e9 / (2.0 * (double)pairs);
}
#endif

/* ---- create + run to end + destroy
 * ------------------------------------------- */

static void *return_at_once(void *arg) { return arg; }

/* Nanoseconds per cycle over `cycles` cycles. */
static double create_destroy_run(long cycles) {
  double t0 = bench_now_s();

  for (long i = 0; i < cycles; i++) {
    corio_coro *co;
    int rc =
        corio_coro_create(&co, return_at_once, NULL, CORIO_CORO_STACK_DEFAULT);

    if (rc != 0)
      die("corio_coro_create", rc);
    rc = corio_coro_resume(co, NULL, NULL);
    if (rc != CORIO_CORO_RETURNED)
      die("corio_coro_resume", rc);
    rc = corio_coro_destroy(co);
    if (rc != 0)
      die("corio_coro_destroy", rc);
  }
  double t1 = bench_now_s();
  return (t1 - t0) * 1e9 / (double)cycles;
}

int main(void) {
  double corio_ns[BENCH_RUNS], uc_ns[BENCH_RUNS], cd_ns[BENCH_RUNS];
  corio_coro *co;
  int rc;

  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "switch: could not pin to a CPU; figures are noisier\n");

  rc = corio_coro_create(&co, yield_loop, NULL, CORIO_CORO_STACK_DEFAULT);
  if (rc != 0)
    die("corio_coro_create", rc);
  uc_setup();
#if CORIO_BENCH_HAVE_FCONTEXT
  double fctx_ns[BENCH_RUNS];
  fcontext_t peer = fctx_setup();
#endif

  /* Warm-up: faults the stacks in, trains the branch predictors and lets
   * the CPU leave its idle clock. */
  corio_run(co, SWITCH_PAIRS / 5);
  uc_run(UCONTEXT_PAIRS / 50);
#if CORIO_BENCH_HAVE_FCONTEXT
  fctx_run(&peer, SWITCH_PAIRS / 5);
#endif

  for (int r = 0; r < BENCH_RUNS; r++) {
    corio_ns[r] = corio_run(co, SWITCH_PAIRS);
#if CORIO_BENCH_HAVE_FCONTEXT
    fctx_ns[r] = fctx_run(&peer, SWITCH_PAIRS);
#endif
    uc_ns[r] = uc_run(UCONTEXT_PAIRS);
  }
  rc = corio_coro_destroy(co);
  if (rc != 0)
    die("corio_coro_destroy", rc);

  create_destroy_run(CREATE_CYCLES / 10);
  for (int r = 0; r < BENCH_RUNS; r++)
    cd_ns[r] = create_destroy_run(CREATE_CYCLES);

  double sw = bench_median(corio_ns, BENCH_RUNS);
  double uc = bench_median(uc_ns, BENCH_RUNS);

  bench_print("switch_ns", sw, 2, "ns");
  bench_print("ucontext_switch_ns", uc, 2, "ns");
#if CORIO_BENCH_HAVE_FCONTEXT
  double fc = bench_median(fctx_ns, BENCH_RUNS);

  bench_print("fcontext_switch_ns", fc, 2, "ns");
  /* The targets: switch_ns at most 0.8x fcontext, 30x faster than
   * ucontext. */
  bench_print("switch_vs_fcontext_ratio", sw / fc, 2, "x");
#endif
  bench_print("ucontext_vs_switch_ratio", uc / sw, 1, "x");
  bench_print("create_destroy_ns", bench_median(cd_ns, BENCH_RUNS), 2, "ns");
  return 0;
}
