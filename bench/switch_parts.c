/* Where the time of a switch goes, to explain bench/switch's figures.
 *
 *   api_switch_ns      one one-way switch through corio_coro_resume and
 *                      corio_coro_yield (what bench/switch calls switch_ns)
 *   raw_switch_ns      one one-way corio__ctx_switch between two contexts,
 *                      no API around it: the assembly alone
 *   api_overhead_ns    the difference: checks and bookkeeping in C
 *   stmxcsr_ns         one stmxcsr (x86_64): reading MXCSR, which the
 *                      switch must do to preserve each context's control
 *                      bits; fnstcw_ns, ldmxcsr_ns, fldcw_ns likewise
 *
 * Each is the median of 5 runs. Pinned to the last CPU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/coro.h"
#include "coro/ctx.h"

#define PAIRS 10000000L
#define OPS 20000000L

static corio__ctx main_ctx, peer_ctx;

static void peer_loop(int msg) {
  for (;;)
    msg = corio__ctx_switch(&peer_ctx, &main_ctx, msg);
}

static double raw_run(long pairs) {
  double t0 = bench_now_s();

  for (long i = 0; i < pairs; i++)
    corio__ctx_switch(&main_ctx, &peer_ctx, 0);
  return (bench_now_s() - t0) * 1e9 / (2.0 * (double)pairs);
}

static void *yield_loop(void *arg) {
  for (;;)
    if (corio_coro_yield(arg, NULL) != 0)
      return NULL;
}

static double api_run(corio_coro *co, long pairs) {
  double t0 = bench_now_s();

  for (long i = 0; i < pairs; i++)
    (void)corio_coro_resume(co, NULL, NULL);
  return (bench_now_s() - t0) * 1e9 / (2.0 * (double)pairs);
}

#if defined(__x86_64__)
/* Each loop body is one instruction on a stack slot, as in the switch. */
#define TIME_OP(name, asm_text)                                                \
  static double name(long ops) {                                               \
    uint32_t slot = 0x1f80;                                                    \
    double t0 = bench_now_s();                                                 \
                                                                               \
    for (long i = 0; i < ops; i++)                                             \
      __asm__ volatile(asm_text : : "m"(slot) : "memory");                     \
    return (bench_now_s() - t0) * 1e9 / (double)ops;                           \
  }
TIME_OP(stmxcsr_run, "stmxcsr %0")
TIME_OP(ldmxcsr_run, "ldmxcsr %0")
/* 0x037f is the default x87 control word; fldcw reloads it unchanged. */
static double fnstcw_run(long ops) {
  uint16_t slot = 0x037f;
  double t0 = bench_now_s();

  for (long i = 0; i < ops; i++)
    __asm__ volatile("fnstcw %0" : "=m"(slot) : : "memory");
  return (bench_now_s() - t0) * 1e9 / (double)ops;
}
static double fldcw_run(long ops) {
  uint16_t slot;
  double t0;

  __asm__ volatile("fnstcw %0" : "=m"(slot));
  t0 = bench_now_s();
  for (long i = 0; i < ops; i++)
    __asm__ volatile("fldcw %0" : : "m"(slot) : "memory");
  return (bench_now_s() - t0) * 1e9 / (double)ops;
}
#endif

static char peer_stack[64 * 1024] __attribute__((aligned(64)));

int main(void) {
  double api[BENCH_RUNS], raw[BENCH_RUNS];
  corio_coro *co;
  int rc;

  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "switch_parts: could not pin to a CPU\n");
  rc = corio__ctx_make(&peer_ctx, peer_stack, peer_stack + sizeof peer_stack,
                       peer_loop);
  if (rc == 0)
    rc = corio_coro_create(&co, yield_loop, NULL, CORIO_CORO_STACK_DEFAULT);
  if (rc != 0) {
    fprintf(stderr, "switch_parts: setup failed: %s\n", corio_strerror(rc));
    return 1;
  }
  raw_run(PAIRS / 5);
  api_run(co, PAIRS / 5);
  for (int r = 0; r < BENCH_RUNS; r++) {
    api[r] = api_run(co, PAIRS);
    raw[r] = raw_run(PAIRS);
  }
  double a = bench_median(api, BENCH_RUNS), w = bench_median(raw, BENCH_RUNS);
  bench_print("api_switch_ns", a, 2, "ns");
  bench_print("raw_switch_ns", w, 2, "ns");
  bench_print("api_overhead_ns", a - w, 2, "ns");
#if defined(__x86_64__)
  double (*const ops[])(long) = {stmxcsr_run, fnstcw_run, ldmxcsr_run,
                                 fldcw_run};
  const char *const names[] = {"stmxcsr_ns", "fnstcw_ns", "ldmxcsr_ns",
                               "fldcw_ns"};
  for (int k = 0; k < 4; k++) {
    double v[BENCH_RUNS];

    for (int r = 0; r < BENCH_RUNS; r++)
      v[r] = ops[k](OPS);
    bench_print(names[k], bench_median(v, BENCH_RUNS), 2, "ns");
  }
#endif
  rc = corio_coro_destroy(co);
  return rc == 0 ? 0 : 1;
}
