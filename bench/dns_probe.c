/* dns_probe: seed 003's name probe at scale. A main task starts one probe
 * task per name, all at once (the seed's as_completed over every
 * coroutine), each one corio_getaddrinfo(name, NULL) with no hints as the
 * seed's loop.getaddrinfo(domain, None); the main task awaits them all.
 *
 *   dns_probe_<resolver>_lookups_per_s
 *                     names divided by the wall time from the first spawn
 *                     to the last await, the median of 5 runs
 *   dns_probe_<resolver>_found
 *                     names that resolved in the last run (all of them,
 *                     when the server knows them)
 *   dns_probe_<resolver>_threads
 *                     threads of the process after the runs, before the
 *                     loop is closed (the system resolver's pool included)
 *
 * Usage: dns_probe system|ares [servers] [names] [prefix] [cap] [max]
 *   servers  c-ares's server list ("127.0.0.1:5353"); the system resolver
 *            asks those of /etc/resolv.conf (bench/dns_probe.sh runs it in
 *            a namespace where that is the same dnsmasq)
 *   names    1000 by default: <prefix>0.test ... <prefix>999.test
 *   cap      at most this many lookups in flight (a semaphore around each
 *            lookup; the figure is then ..._capped_lookups_per_s): all at
 *            once, 1,000 names are 2,000 datagrams (A and AAAA) sent in
 *            one burst, more than a default socket buffer holds, and
 *            each one dropped costs a 5 s per-try timeout (c-ares's
 *            channel has its own cap: corio_resolver_options.max_in_flight)
 *   max      c-ares only: the channel's max_in_flight (0: the default;
 *            the figure is then ..._max<max>_lookups_per_s)
 *
 * Every run asks the server again: neither resolver caches, and dnsmasq
 * answers from its hosts file. Nothing is pinned: the system resolver's
 * pool threads inherit the loop thread's affinity. */
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>

#include <corio.h>

#include "bench.h"

struct run {
  int names;
  const char *prefix;
  int found;
  corio_semaphore *cap; /* lookups in flight at most; NULL: no cap */
};

static corio_semaphore cap;
static struct run *current;

static int probe(void *arg, void **result) {
  struct addrinfo hints, *res = NULL;
  char *name = arg;
  int rc;

  if (current->cap && (rc = corio_semaphore_acquire(current->cap)) < 0)
    return rc;
  memset(&hints, 0, sizeof hints);
  rc = corio_getaddrinfo(name, NULL, &hints, &res);
  if (current->cap)
    corio_semaphore_release(current->cap);
  corio_freeaddrinfo(res);
  *result = (void *)(intptr_t)(rc == 0);
  return 0;
}

static int run_once(struct run *r) {
  corio_task **tasks = calloc((size_t)r->names, sizeof *tasks);
  char(*names)[32] = calloc((size_t)r->names, sizeof *names);
  int rc = 0, started = 0;

  if (!tasks || !names) {
    free(tasks);
    free(names);
    return -ENOMEM;
  }
  r->found = 0;
  current = r;
  for (; started < r->names; started++) {
    snprintf(names[started], sizeof names[started], "%s%d.test", r->prefix,
             started);
    if ((rc = corio_spawn(&tasks[started], probe, names[started])) < 0)
      break;
  }
  for (int i = 0; i < started; i++) {
    void *found = NULL;

    if (corio_task_await(tasks[i], &found) == 0 && found)
      r->found++;
    corio_task_unref(tasks[i]);
  }
  free(tasks);
  free(names);
  return rc;
}

struct config {
  int use_ares;
  int max_in_flight; /* c-ares's; 0: its default */
  const char *servers;
  struct run run;
  double per_s[BENCH_RUNS];
  int threads;
};

static int count_threads(void);

static int bench_main(void *arg, void **result) {
  struct config *c = arg;
  int rc;

  (void)result;
  if (c->use_ares) {
    corio_resolver_options o = {.servers = c->servers,
                                .flags = CORIO_RESOLVER_NO_HOSTS_FILE,
                                .max_in_flight = c->max_in_flight};

    if ((rc = corio_loop_use_ares(NULL, &o)) < 0)
      return rc;
  }
  /* A warm-up run: task pools, and the system resolver's threads. */
  if ((rc = run_once(&c->run)) < 0)
    return rc;
  for (int i = 0; i < BENCH_RUNS; i++) {
    double start = bench_now_s();

    if ((rc = run_once(&c->run)) < 0)
      return rc;
    c->per_s[i] = c->run.names / (bench_now_s() - start);
  }
  c->threads = count_threads();
  return 0;
}

static int count_threads(void) {
  char path[64];
  int n = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (!f)
    return -1;
  while (fgets(path, sizeof path, f))
    if (sscanf(path, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  struct config c = {.run = {.names = 1000, .prefix = "n"}};
  const char *label;
  char name[96];
  int rc, threads = 0;

  if (argc < 2 || (strcmp(argv[1], "ares") && strcmp(argv[1], "system"))) {
    fprintf(stderr,
            "usage: %s system|ares [servers] [names] [prefix] [cap] [max]\n",
            argv[0]);
    return 2;
  }
  c.use_ares = strcmp(argv[1], "ares") == 0;
  label = argv[1];
  c.servers = argc > 2 && argv[2][0] ? argv[2] : NULL;
  if (argc > 3)
    c.run.names = atoi(argv[3]);
  if (argc > 4)
    c.run.prefix = argv[4];
  if (argc > 5 && atoi(argv[5]) > 0) {
    if (corio_semaphore_init(&cap, atoi(argv[5])) < 0)
      return 2;
    c.run.cap = &cap;
  }
  if (argc > 6)
    c.max_in_flight = atoi(argv[6]);
  if (c.run.names <= 0 || c.max_in_flight < 0)
    return 2;
  if (c.use_ares && !corio_resolver_ares_available()) {
    fprintf(stderr, "dns_probe: corio was built without c-ares\n");
    return 77;
  }
  rc = corio_run(bench_main, &c, NULL);
  if (rc < 0) {
    fprintf(stderr, "dns_probe: %s\n", corio_strerror(rc));
    return 1;
  }
  threads = c.threads;
  if (c.max_in_flight)
    snprintf(name, sizeof name, "dns_probe_%s%s_max%d_lookups_per_s", label,
             c.run.cap ? "_capped" : "", c.max_in_flight);
  else
    snprintf(name, sizeof name, "dns_probe_%s%s_lookups_per_s", label,
             c.run.cap ? "_capped" : "");
  bench_print(name, bench_median(c.per_s, BENCH_RUNS), 0, "lookups/s");
  snprintf(name, sizeof name, "dns_probe_%s_found", label);
  bench_print(name, c.run.found, 0, "names");
  snprintf(name, sizeof name, "dns_probe_%s_threads", label);
  bench_print(name, threads, 0, "threads");
  return 0;
}
