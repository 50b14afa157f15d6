/* libcurl transfers per second on one thread, two ways: the blocking easy
 * API in corio tasks with the hooks on (each task calls curl_easy_perform,
 * unmodified), and libcurl's multi interface driven by hand with
 * curl_multi_perform and curl_multi_poll, the anchor: what a program gets
 * by writing the event-driven code itself.
 *
 *   build/release/bench/hook_curl [--transfers N] [--concurrency C]
 *                                 [--mode hooked|multi] [--runs R]
 *
 * N transfers (1,000) of a 1 KiB body, C (100) at a time: C hooked tasks
 * doing N/C transfers each, or C easy handles in the multi handle, each
 * started again as soon as its transfer is done. The server is
 * tests/hook/http_server.c (delay 0) on its own thread and loop, on a
 * free port of 127.0.0.1; the client thread is pinned to the last CPU.
 * Two shapes:
 * - fresh: a new easy handle and a new connection for every transfer
 *   (CURLOPT_FORBID_REUSE), connect and close included;
 * - keepalive: each task (each multi slot) keeps its easy handle, whose
 *   connection stays open between its transfers.
 *
 *   hook_curl_fresh_hooked: 3841 transfers/s
 *   hook_curl_fresh_hooked_cpu: 116.9 us/transfer
 *   hook_curl_fresh_multi: 5411 transfers/s
 *   hook_curl_fresh_multi_cpu: 76.8 us/transfer
 *   hook_curl_fresh_hooked_vs_multi: 0.71 ratio
 *   hook_curl_keepalive_hooked: ...
 *
 * Each figure is the median of R (11) runs after one warm-up run, hooked
 * and multi runs alternating; the CPU figures are the client thread's CPU
 * time (the server's thread not counted) per transfer. --mode runs one way
 * only (for strace -c or perf; no ratio then). A transfer that fails or
 * comes back short stops the program with an error. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <corio/hook.h>
#include <corio/task.h>

#include "bench.h"
#include "http_server.h"

#define BODY ((size_t)1024)

static long transfers = 1000;
static long concurrency = 100;
/* One run is short (1,000 transfers: 0.05 to 0.3 s): more of them than
 * BENCH_RUNS, so the median holds still on a shared machine. */
static long runs = 11;
static int ways = 3; /* 1: hooked, 2: multi, 3: both */

typedef struct figures {
  double per_s; /* transfers per second, wall clock */
  double cpu_s; /* the client thread's CPU seconds */
} figures;

static double thread_cpu_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t count_body(char *data, size_t size, size_t n, void *arg) {
  (void)data;
  *(size_t *)arg += size * n;
  return size * n;
}

/* The same options for both ways. */
static CURL *new_easy(const char *url, int keep_alive, size_t *bytes) {
  CURL *curl = curl_easy_init();

  if (!curl)
    return NULL;
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, bytes);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, keep_alive ? 0L : 1L);
  return curl;
}

/* ---- hooked tasks -------------------------------------------------------- */

typedef struct run {
  const char *url;
  int keep_alive;
  long tasks, per_task; /* the hooked way: tasks doing per_task each */
  size_t bytes;         /* body bytes received, all transfers */
  long failed;          /* transfers that did not end with CURLE_OK */
  CURLcode first;       /* the first failure's code */
} run;

static void note(run *r, CURLcode code) {
  if (code != CURLE_OK && r->failed++ == 0)
    r->first = code;
}

/* One task: its share of the transfers, one blocking call each. */
static int hooked_worker(void *arg, void **result) {
  run *r = arg;
  CURL *curl = NULL;

  (void)result;
  for (long i = 0; i < r->per_task; i++) {
    if (!curl && !(curl = new_easy(r->url, r->keep_alive, &r->bytes)))
      return -ENOMEM;
    note(r, curl_easy_perform(curl));
    if (!r->keep_alive) {
      curl_easy_cleanup(curl);
      curl = NULL;
    }
  }
  curl_easy_cleanup(curl);
  return 0;
}

static int hooked_main(void *arg, void **result) {
  run *r = arg;
  corio_task **tasks = calloc((size_t)r->tasks, sizeof *tasks);
  long spawned = 0;
  int rc = 0, task_rc;

  (void)result;
  if (!tasks)
    return -ENOMEM;
  while (spawned < r->tasks &&
         (rc = corio_spawn(&tasks[spawned], hooked_worker, r)) == 0)
    spawned++;
  for (long i = 0; i < spawned; i++) {
    task_rc = corio_task_await(tasks[i], NULL);
    if (rc == 0)
      rc = task_rc;
    corio_task_unref(tasks[i]);
  }
  free(tasks);
  return rc;
}

static int run_hooked(run *r) { return corio_run(hooked_main, r, NULL); }

/* ---- the multi interface ------------------------------------------------- */

/* A transfer is done: start the next one on its slot, if any is left. */
static int restart(CURLM *multi, run *r, CURL *done, long *started) {
  CURL *next = done;

  curl_multi_remove_handle(multi, done);
  if (*started >= transfers || !r->keep_alive) {
    curl_easy_cleanup(done);
    next = NULL;
  }
  if (*started >= transfers)
    return 0;
  if (!next && !(next = new_easy(r->url, r->keep_alive, &r->bytes)))
    return -ENOMEM;
  (*started)++;
  return curl_multi_add_handle(multi, next) == CURLM_OK ? 0 : -EIO;
}

static int drive_multi(CURLM *multi, run *r) {
  long started = 0, finished = 0;
  int running, left, rc;
  CURLMsg *msg;
  CURL *curl;

  for (long i = 0; i < concurrency && i < transfers; i++) {
    if (!(curl = new_easy(r->url, r->keep_alive, &r->bytes)))
      return -ENOMEM;
    started++;
    if (curl_multi_add_handle(multi, curl) != CURLM_OK)
      return -EIO;
  }
  while (finished < transfers) {
    if (curl_multi_perform(multi, &running) != CURLM_OK)
      return -EIO;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      curl = msg->easy_handle;
      note(r, msg->data.result);
      finished++;
      if ((rc = restart(multi, r, curl, &started)) < 0)
        return rc;
    }
    if (finished < transfers &&
        curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
      return -EIO;
  }
  return 0;
}

static int run_multi(run *r) {
  CURLM *multi = curl_multi_init();
  int rc;

  if (!multi)
    return -ENOMEM;
  rc = drive_multi(multi, r);
  curl_multi_cleanup(multi); /* after an error: handles left are leaked */
  return rc;
}

/* ---- measuring ----------------------------------------------------------- */

static int measure(const char *url, int keep_alive, int hooked, figures *f) {
  run r = {.url = url,
           .keep_alive = keep_alive,
           .tasks = concurrency,
           .per_task = transfers / concurrency};
  double start = bench_now_s(), cpu = thread_cpu_s(), wall;
  int rc = hooked ? run_hooked(&r) : run_multi(&r);

  wall = bench_now_s() - start;
  f->cpu_s = thread_cpu_s() - cpu;
  f->per_s = (double)transfers / wall;
  if (rc < 0) {
    fprintf(stderr, "hook_curl: %s run: %s\n", hooked ? "hooked" : "multi",
            corio_strerror(rc));
    return -1;
  }
  if (r.failed || r.bytes != (size_t)transfers * BODY) {
    fprintf(stderr,
            "hook_curl: %s run: %ld transfers failed (%s), %zu of "
            "%zu bytes\n",
            hooked ? "hooked" : "multi", r.failed, curl_easy_strerror(r.first),
            r.bytes, (size_t)transfers * BODY);
    return -1;
  }
  return 0;
}

/* R runs of one way: the medians of transfers/s and CPU us/transfer. */
typedef struct series {
  double per_s[64], cpu_us[64];
} series;

static void print_way(const char *shape_name, const char *way, series *s) {
  char line[96];

  snprintf(line, sizeof line, "hook_curl_%s_%s", shape_name, way);
  bench_print(line, bench_median(s->per_s, (size_t)runs), 0, "transfers/s");
  snprintf(line, sizeof line, "hook_curl_%s_%s_cpu", shape_name, way);
  bench_print(line, bench_median(s->cpu_us, (size_t)runs), 1, "us/transfer");
}

static int shape(const char *url, const char *name, int keep_alive) {
  series hooked, multi;
  char line[96];
  figures f;

  /* Run -1 warms up (stacks touched, the server's buffers grown) and is
   * not counted. */
  for (long i = -1; i < runs; i++) {
    for (int way = 1; way <= 2; way++) {
      series *s = way == 1 ? &hooked : &multi;

      if (!(ways & way))
        continue;
      if (measure(url, keep_alive, way == 1, &f) < 0)
        return -1;
      if (i < 0)
        continue;
      s->per_s[i] = f.per_s;
      s->cpu_us[i] = f.cpu_s / (double)transfers * 1e6;
    }
  }
  if (ways & 1)
    print_way(name, "hooked", &hooked);
  if (ways & 2)
    print_way(name, "multi", &multi);
  if (ways == 3) {
    snprintf(line, sizeof line, "hook_curl_%s_hooked_vs_multi", name);
    bench_print(line,
                bench_median(hooked.per_s, (size_t)runs) /
                    bench_median(multi.per_s, (size_t)runs),
                2, "ratio");
  }
  return 0;
}

static int parse(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *value = argv[i + 1];
    char *end;
    long n = strtol(value, &end, 10);

    if (strcmp(argv[i], "--mode") == 0) {
      if (strcmp(value, "hooked") != 0 && strcmp(value, "multi") != 0)
        return -1;
      ways = value[0] == 'h' ? 1 : 2;
      continue;
    }
    if (*end || end == value || n < 1 || n > 1000000)
      return -1;
    if (strcmp(argv[i], "--transfers") == 0)
      transfers = n;
    else if (strcmp(argv[i], "--concurrency") == 0)
      concurrency = n;
    else if (strcmp(argv[i], "--runs") == 0 && n <= 64)
      runs = n;
    else
      return -1;
  }
  if (argc % 2 == 0 || concurrency > transfers || transfers % concurrency != 0)
    return -1;
  return 0;
}

/* Figures for hooked tasks that took turns would be the easy API's
 * serial speed: first, two hooked transfers against a server that waits
 * 50 ms must be there at once. Not so if libcurl's calls do not reach the
 * hooks (a build whose hooks are not exported to shared libraries). */
static int check_overlap(void) {
  http_server_options options = {0.05, BODY};
  http_server *server;
  const char *why;
  char url[64];
  run r = {.url = url, .tasks = 2, .per_task = 1};
  long waiting;
  int rc;

  if ((rc = http_server_start(&options, &server, &why)) < 0) {
    fprintf(stderr, "hook_curl: the HTTP server cannot start (%s: %s)\n",
            why ? why : "setup", corio_strerror(rc));
    return -1;
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", http_server_port(server));
  rc = run_hooked(&r);
  waiting = http_server_max_waiting(server);
  (void)http_server_stop(server);
  if (rc < 0 || r.failed || waiting != 2) {
    fprintf(stderr,
            "hook_curl: two hooked transfers did not overlap (%s, %ld "
            "failed, at most %ld at the server at once): libcurl's calls do "
            "not reach the hooks\n",
            rc < 0 ? corio_strerror(rc) : "ran", r.failed, waiting);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  http_server_options options = {0, BODY};
  http_server *server;
  const char *why;
  char url[64];
  int rc;

  if (parse(argc, argv) < 0) {
    fprintf(stderr,
            "usage: %s [--transfers N] [--concurrency C] [--mode "
            "hooked|multi] [--runs R] (C divides N; R <= 64)\n",
            argv[0]);
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "hook_curl: curl_global_init failed\n");
    return 1;
  }
  if ((rc = corio_hook_enable()) < 0) {
    fprintf(stderr, "hook_curl: corio_hook_enable: %s\n", corio_strerror(rc));
    return 1;
  }
  if (check_overlap() < 0)
    return 1;
  if ((rc = http_server_start(&options, &server, &why)) < 0) {
    fprintf(stderr, "hook_curl: the HTTP server cannot start (%s: %s)\n",
            why ? why : "setup", corio_strerror(rc));
    return 1;
  }
  /* After the server's thread started: it keeps every CPU. */
  (void)bench_pin_last_cpu();
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", http_server_port(server));
  rc = shape(url, "fresh", 0) < 0 || shape(url, "keepalive", 1) < 0;
  (void)http_server_stop(server);
  curl_global_cleanup();
  return rc;
}
