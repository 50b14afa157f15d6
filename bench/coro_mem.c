/* Memory of many live coroutines: creates 1,000,000 (or argv[1]) coroutines
 * with the default stack size, each of which yields once and stays
 * suspended, all alive at once; then destroys them all.
 *
 *   coroutines                      how many were alive at once
 *   rss_per_coroutine_bytes         (peak RSS - RSS before) / count, less
 *                                   the benchmark's own array of pointers
 *   page_tables_per_coroutine_bytes growth of VmPTE / count: kernel memory
 *                                   RSS does not show, mapping the touched
 *                                   stack pages
 *   create_1m_s                     seconds to create and first-resume all
 *   vm_maps                         lines of /proc/self/maps at the peak;
 *                                   must stay under a stock
 *                                   vm.max_map_count of 65530
 *   destroy_1m_s                    seconds to destroy all; each destroy
 *                                   closes a suspended coroutine (its yield
 *                                   returns CORIO_ECLOSED and it returns) */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/coro.h"

#define DEFAULT_COUNT 1000000L

static void *yield_once(void *arg) {
  int rc = corio_coro_yield(NULL, NULL);

  (void)arg;
  /* Resumed only by destroy, which closes it. */
  return rc == CORIO_ECLOSED ? NULL : corio_coro_fail(rc ? rc : -1);
}

int main(int argc, char **argv) {
  long count = DEFAULT_COUNT;
  corio_coro **cos;

  if (argc > 1) {
    char *end;

    count = strtol(argv[1], &end, 10);
    if (*end != '\0' || count <= 0) {
      fprintf(stderr, "usage: coro_mem [count]\n");
      return 2;
    }
  }
  bench_pin_last_cpu();

  /* The benchmark's bookkeeping, outside corio: one pointer per coroutine.
   * Its pages are faulted in as the loop below fills it, so they count in
   * the RSS growth and are subtracted from it. */
  cos = malloc((size_t)count * sizeof *cos);
  if (!cos) {
    fprintf(stderr, "coro_mem: no memory for %ld pointers\n", count);
    return 1;
  }
  long long rss0 = bench_status_bytes("VmRSS");
  long long pte0 = bench_status_bytes("VmPTE");

  double t0 = bench_now_s();
  for (long i = 0; i < count; i++) {
    int rc =
        corio_coro_create(&cos[i], yield_once, NULL, CORIO_CORO_STACK_DEFAULT);

    if (rc == 0)
      rc = corio_coro_resume(cos[i], NULL, NULL);
    if (rc != 0) {
      fprintf(stderr,
              "coro_mem: coroutine %ld: create or first resume failed (%d); "
              "%ld maps\n",
              i, rc, bench_map_count());
      return 1;
    }
  }
  double t1 = bench_now_s();

  long maps = bench_map_count();
  long long hwm = bench_status_bytes("VmHWM");
  long long rss1 = bench_status_bytes("VmRSS");
  long long pte1 = bench_status_bytes("VmPTE");
  long long peak = hwm > rss1 ? hwm : rss1;
  long long growth = peak - rss0 - (long long)((size_t)count * sizeof *cos);

  bench_print("coroutines", (double)count, 0, "");
  bench_print("rss_per_coroutine_bytes", (double)growth / (double)count, 0,
              "bytes");
  if (pte0 >= 0 && pte1 >= 0)
    bench_print("page_tables_per_coroutine_bytes",
                (double)(pte1 - pte0) / (double)count, 0, "bytes");
  bench_print("create_1m_s", t1 - t0, 3, "s");
  bench_print("vm_maps", (double)maps, 0, "");

  t0 = bench_now_s();
  for (long i = 0; i < count; i++) {
    int rc = corio_coro_destroy(cos[i]);

    if (rc != 0) {
      fprintf(stderr, "coro_mem: coroutine %ld: destroy failed (%d)\n", i, rc);
      return 1;
    }
  }
  t1 = bench_now_s();
  bench_print("destroy_1m_s", t1 - t0, 3, "s");
  fprintf(stderr, "coro_mem: %ld maps after destroying all\n",
          bench_map_count());
  free(cos);
  return 0;
}
