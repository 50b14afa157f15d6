/* Queues: the throughput of one producer task and one consumer task passing
 * 10,000,000 (or argv[1]) items through a FIFO corio_queue of maxsize 1024
 * with corio_queue_put and corio_queue_get. The items are the integers
 * 0, 1, 2, ... cast to pointers; the consumer checks that it gets them in
 * that order and the program fails (exit 1) otherwise.
 *
 *   queue_items_per_s  the median over 5 runs of the item count divided by
 *                      the seconds from just before the producer's first
 *                      put to just after the consumer's last get
 *   queue_ns_per_item  that median time divided by the count
 *
 * The producer fills the queue until it is full and waits; the consumer's
 * first get wakes it (it takes the free slot when it runs, as asyncio's
 * putters do) and the consumer goes on
 * taking what is queued until it is empty and waits, and so on: the tasks
 * switch about once per 1,024 items, so the figure is mostly the cost of a
 * put and a get that do not wait, plus that switch spread over a batch.
 * Each run is a corio_runner_run on one loop (a fresh queue each time),
 * after a first, shorter run that warms up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "corio/queue.h"
#include "corio/task.h"

#define DEFAULT_ITEMS 10000000L
#define MAXSIZE 1024

struct state {
  corio_queue queue;
  long items;
  double t0, t1; /* first put, last get */
};

static void die(const char *what, int rc) {
  fprintf(stderr, "queue: %s failed: %s (%d)\n", what, corio_strerror(rc), rc);
  exit(1);
}

static int producer(void *arg, void **result) {
  struct state *st = arg;

  *result = NULL;
  st->t0 = bench_now_s();
  for (long i = 0; i < st->items; i++) {
    int rc = corio_queue_put(&st->queue, (void *)(intptr_t)i);

    if (rc < 0)
      die("corio_queue_put", rc);
  }
  return 0;
}

static int consumer(void *arg, void **result) {
  struct state *st = arg;

  *result = NULL;
  for (long i = 0; i < st->items; i++) {
    void *item;
    int rc = corio_queue_get(&st->queue, &item);

    if (rc < 0)
      die("corio_queue_get", rc);
    if ((intptr_t)item != (intptr_t)i) {
      fprintf(stderr, "queue: get number %ld returned item %ld: out of order\n",
              i, (long)(intptr_t)item);
      exit(1);
    }
  }
  st->t1 = bench_now_s();
  return 0;
}

static int main_task(void *arg, void **result) {
  struct state *st = arg;
  corio_task *prod, *cons;
  void *value;
  int rc;

  (void)result;
  rc = corio_queue_init(&st->queue, CORIO_QUEUE_FIFO, MAXSIZE);
  if (rc < 0)
    die("corio_queue_init", rc);
  rc = corio_spawn(&prod, producer, st);
  if (rc < 0)
    die("corio_spawn (producer)", rc);
  rc = corio_spawn(&cons, consumer, st);
  if (rc < 0)
    die("corio_spawn (consumer)", rc);
  rc = corio_await(prod, &value);
  if (rc < 0)
    die("corio_await (producer)", rc);
  rc = corio_await(cons, &value);
  if (rc < 0)
    die("corio_await (consumer)", rc);
  corio_task_unref(prod);
  corio_task_unref(cons);
  if (corio_queue_size(&st->queue) != 0) {
    fprintf(stderr, "queue: %zu items left over\n",
            corio_queue_size(&st->queue));
    exit(1);
  }
  rc = corio_queue_destroy(&st->queue);
  if (rc < 0)
    die("corio_queue_destroy", rc);
  return 0;
}

/* Seconds from the first put to the last get of one run of `items`. */
static double run(corio_runner *runner, long items) {
  struct state st = {.items = items};
  int rc = corio_runner_run(runner, main_task, &st, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  return st.t1 - st.t0;
}

int main(int argc, char **argv) {
  long items = DEFAULT_ITEMS;
  double s[BENCH_RUNS], median;
  corio_runner *runner;
  int rc;

  if (argc > 1) {
    char *end;

    items = strtol(argv[1], &end, 10);
    if (*end != '\0' || items <= 0) {
      fprintf(stderr, "usage: queue [items]\n");
      return 2;
    }
  }
  if (bench_pin_last_cpu() < 0)
    fprintf(stderr, "queue: could not pin to a CPU; figures are noisier\n");
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);
  run(runner, items / 10 > 0 ? items / 10 : 1);
  for (int r = 0; r < BENCH_RUNS; r++)
    s[r] = run(runner, items);
  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  median = bench_median(s, BENCH_RUNS);
  bench_print("queue_items_per_s", (double)items / median, 0, "items/s");
  bench_print("queue_ns_per_item", median * 1e9 / (double)items, 2, "ns");
  return 0;
}
