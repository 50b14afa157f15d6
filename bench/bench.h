/* Helpers shared by the benchmark programs: monotonic time, CPU pinning,
 * medians, /proc/self readers and the `name: value unit` output lines.
 * Everything is static: each program is one translation unit. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs a figure is the median of. */
#define BENCH_RUNS 5

static inline double bench_now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Pins the calling thread to the last CPU it may run on, so a measurement
 * is not spread over cores (and their caches) by the scheduler. Returns the
 * CPU, or -1 (the measurement then just runs unpinned). */
static inline int bench_pin_last_cpu(void) {
  cpu_set_t set;
  int last = -1;

  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return -1;
  for (int i = 0; i < CPU_SETSIZE; i++)
    if (CPU_ISSET(i, &set))
      last = i;
  if (last < 0)
    return -1;
  CPU_ZERO(&set);
  CPU_SET(last, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 ? last : -1;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* Median of v[0..n); sorts v. */
static inline double bench_median(double *v, size_t n) {
  qsort(v, n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One figure, `name: value unit` (a count has no unit). The format is
 * fixed: other tools parse these lines. */
static inline void bench_print(const char *name, double value, int decimals,
                               const char *unit) {
  printf("%s: %.*f%s%s\n", name, decimals, value, *unit ? " " : "", unit);
  fflush(stdout);
}

/* A field of /proc/self/status in bytes (the kernel reports kB), or -1. */
static inline long long bench_status_bytes(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t len = strlen(field);
  long long kb = -1;

  if (!f)
    return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = strtoll(line + len + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* Lines of /proc/self/maps: the number of memory mappings, or -1. */
/* A fixed-seed pseudo-random sequence (xorshift64), the same in every
 * program that compares one workload across libraries. */
static inline uint64_t bench_xorshift64(uint64_t *state) {
  uint64_t x = *state;

  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

static inline long bench_map_count(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  long lines = 0;
  int c;

  if (!f)
    return -1;
  while ((c = getc(f)) != EOF)
    if (c == '\n')
      lines++;
  fclose(f);
  return lines;
}

#endif
