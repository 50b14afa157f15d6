/* spawn_proc: children started and waited for per second, one at a time:
 * /bin/true, with every stdio inherited (nothing piped), so that the
 * figure is the cost of starting, watching and reaping a child.
 *
 *   proc_spawn_per_s     corio: corio_create_subprocess_exec and
 *                        corio_process_wait in a task, one child after the
 *                        other, on one runner (one loop) for every run
 *   floor_spawn_per_s    the floor: posix_spawn and a blocking waitpid,
 *                        with nothing else (no pipes, no pidfd, no loop)
 *   asyncio_spawn_per_s  Python's asyncio (the python3 in PATH):
 *                        create_subprocess_exec and wait in a loop, run as
 *                        a child script that measures itself the same way
 *                        (0, and a note on stderr, without python3)
 *   proc_vs_floor_ratio  proc_spawn_per_s / floor_spawn_per_s
 *
 * and the same four with a _1gib suffix, measured after the parent has
 * malloc'ed 1 GiB and written to every page of it (with transparent huge
 * pages declined for it, madvise(MADV_NOHUGEPAGE), so that it is mapped
 * by 4 KiB pages, as a heap grown piece by piece is): a child started
 * with fork would have to copy the page tables of that gigabyte, one
 * started with posix_spawn (vfork semantics) does not, so the figure
 * should not move. The Python script allocates and fills its own 1 GiB
 * (a bytearray) before it measures, and the parent has freed its block by
 * then, so the two never hold 2 GiB at once.
 *
 * Each figure is the median of 5 runs of about 0.2 s (argv[1] seconds)
 * each, after a warm-up of 20 children; corio's and the floor's runs take
 * turns, so that both see the same state of the machine. Nothing is
 * pinned: a child inherits the parent's affinity, so under
 * `taskset -c 1` parent and child share one CPU (the steadier figure),
 * and unpinned the child may start on another core. The whole program
 * takes about 10 s. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "corio/proc.h"
#include "corio/task.h"

#define DEFAULT_SECONDS 0.2
#define WARMUP_SPAWNS 20
#define BIG_BYTES ((size_t)1 << 30)

extern char **environ;

static char *const true_argv[] = {"/bin/true", NULL};

static void die(const char *what, int rc) {
  fprintf(stderr, "spawn_proc: %s failed: %s (%d)\n", what, corio_strerror(rc),
          rc);
  exit(1);
}

/* ---- corio ------------------------------------------------------------- */

struct proc_run {
  double seconds; /* how long to go on; 0: WARMUP_SPAWNS children */
  double rate;    /* children per second */
};

static void proc_spawn_wait(void) {
  static const char *const argv[] = {"/bin/true", NULL};
  corio_proc_options options;
  corio_process *p;
  int rc, code = -1;

  memset(&options, 0, sizeof options);
  rc = corio_create_subprocess_exec(argv, &options, &p);
  if (rc < 0)
    die("corio_create_subprocess_exec", rc);
  rc = corio_process_wait(p, &code);
  corio_process_unref(p);
  if (rc < 0)
    die("corio_process_wait", rc);
  if (code != 0) {
    fprintf(stderr, "spawn_proc: /bin/true returned %d\n", code);
    exit(1);
  }
}

static int proc_main(void *arg, void **result) {
  struct proc_run *r = arg;
  double t0 = bench_now_s(), t;
  long n = 0;

  (void)result;
  do {
    proc_spawn_wait();
    n++;
    t = bench_now_s() - t0;
  } while (r->seconds > 0 ? t < r->seconds : n < WARMUP_SPAWNS);
  r->rate = (double)n / t;
  return 0;
}

static double proc_rate(corio_runner *runner, double seconds) {
  struct proc_run r = {seconds, 0};
  int rc = corio_runner_run(runner, proc_main, &r, NULL);

  if (rc < 0)
    die("corio_runner_run", rc);
  return r.rate;
}

/* ---- the floor --------------------------------------------------------- */

static void floor_spawn_wait(void) {
  pid_t pid;
  int rc, status;

  rc = posix_spawn(&pid, true_argv[0], NULL, NULL, true_argv, environ);
  if (rc != 0)
    die("posix_spawn", -rc);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      die("waitpid", -errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "spawn_proc: /bin/true ended with status %#x\n", status);
    exit(1);
  }
}

static double floor_rate(double seconds) {
  double t0 = bench_now_s(), t;
  long n = 0;

  do {
    floor_spawn_wait();
    n++;
    t = bench_now_s() - t0;
  } while (seconds > 0 ? t < seconds : n < WARMUP_SPAWNS);
  return (double)n / t;
}

/* ---- Python's asyncio -------------------------------------------------- */

/* argv: seconds per run, runs, warm-up children, bytes to hold. Prints the
 * median rate. */
static char asyncio_script[] =
    "import asyncio, sys, time\n"
    "seconds, runs, warmup = float(sys.argv[1]), int(sys.argv[2]), "
    "int(sys.argv[3])\n"
    "ballast = bytearray(b'\\x01') * int(sys.argv[4])  # every page written\n"
    "async def spawn_wait():\n"
    "    p = await asyncio.create_subprocess_exec('/bin/true')\n"
    "    if await p.wait() != 0:\n"
    "        sys.exit('/bin/true failed')\n"
    "async def main():\n"
    "    for _ in range(warmup):\n"
    "        await spawn_wait()\n"
    "    rates = []\n"
    "    for _ in range(runs):\n"
    "        n, t0 = 0, time.perf_counter()\n"
    "        while True:\n"
    "            await spawn_wait()\n"
    "            n += 1\n"
    "            t = time.perf_counter() - t0\n"
    "            if t >= seconds:\n"
    "                break\n"
    "        rates.append(n / t)\n"
    "    rates.sort()\n"
    "    print(rates[len(rates) // 2])\n"
    "asyncio.run(main())\n";

/* Runs the script with python3: its median rate, or 0 (with the reason on
 * stderr) when python3 is missing or the script fails. */
static double asyncio_rate(double seconds, size_t ballast) {
  char sec[32], runs[16], warm[16], bytes[32], out[128];
  char *argv[] = {"python3", "-c", asyncio_script, sec,
                  runs,      warm, bytes,          NULL};
  posix_spawn_file_actions_t fa;
  size_t len = 0;
  ssize_t n;
  pid_t pid;
  int fds[2], rc, status;
  double rate;
  char *end;

  snprintf(sec, sizeof sec, "%g", seconds);
  snprintf(runs, sizeof runs, "%d", BENCH_RUNS);
  snprintf(warm, sizeof warm, "%d", WARMUP_SPAWNS);
  snprintf(bytes, sizeof bytes, "%zu", ballast);
  if (pipe2(fds, O_CLOEXEC) < 0)
    die("pipe2", -errno);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  rc = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    fprintf(stderr, "# spawn_proc: no python3 (%s): asyncio figure 0\n",
            strerror(rc));
    return 0;
  }
  while (len < sizeof out - 1 &&
         ((n = read(fds[0], out + len, sizeof out - 1 - len)) > 0 ||
          (n < 0 && errno == EINTR)))
    if (n > 0)
      len += (size_t)n;
  out[len] = '\0';
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      die("waitpid", -errno);
  rate = strtod(out, &end);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || end == out ||
      rate <= 0) {
    fprintf(stderr,
            "# spawn_proc: the python3 asyncio script failed (status %#x): "
            "asyncio figure 0\n",
            status);
    return 0;
  }
  return rate;
}

/* ---- the cases --------------------------------------------------------- */

/* Medians of corio's and the floor's runs, taking turns. */
static void measure(corio_runner *runner, double seconds, double *proc,
                    double *floor_) {
  double p[BENCH_RUNS], f[BENCH_RUNS];

  proc_rate(runner, 0);
  floor_rate(0);
  for (int i = 0; i < BENCH_RUNS; i++) {
    p[i] = proc_rate(runner, seconds);
    f[i] = floor_rate(seconds);
  }
  *proc = bench_median(p, BENCH_RUNS);
  *floor_ = bench_median(f, BENCH_RUNS);
}

static void report(const char *suffix, double proc, double floor_,
                   double asyncio) {
  char name[64];

  snprintf(name, sizeof name, "proc_spawn_per_s%s", suffix);
  bench_print(name, proc, 0, "/s");
  snprintf(name, sizeof name, "floor_spawn_per_s%s", suffix);
  bench_print(name, floor_, 0, "/s");
  snprintf(name, sizeof name, "asyncio_spawn_per_s%s", suffix);
  bench_print(name, asyncio, 0, "/s");
  snprintf(name, sizeof name, "proc_vs_floor_ratio%s", suffix);
  bench_print(name, floor_ > 0 ? proc / floor_ : 0, 3, "x");
}

/* 1 GiB, every page written, in 4 KiB pages where the kernel allows. */
static char *big_parent(void) {
  long page = sysconf(_SC_PAGESIZE);
  char *block = malloc(BIG_BYTES);
  uintptr_t start, end;

  if (!block)
    return NULL;
  if (page <= 0)
    page = 4096;
  start = ((uintptr_t)block + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
  end = ((uintptr_t)block + BIG_BYTES) & ~((uintptr_t)page - 1);
  if (end > start)
    (void)madvise((void *)start, end - start, MADV_NOHUGEPAGE);
  for (size_t i = 0; i < BIG_BYTES; i += (size_t)page)
    ((volatile char *)block)[i] = 1;
  return block;
}

int main(int argc, char **argv) {
  double seconds = DEFAULT_SECONDS, proc, floor_, asyncio;
  corio_runner *runner;
  char *block;
  int rc;

  if (argc > 1) {
    char *end;

    seconds = strtod(argv[1], &end);
    if (*end != '\0' || !(seconds > 0 && seconds < 60)) {
      fprintf(stderr, "usage: spawn_proc [seconds_per_run]\n");
      return 2;
    }
  }
  rc = corio_runner_create(&runner);
  if (rc < 0)
    die("corio_runner_create", rc);

  measure(runner, seconds, &proc, &floor_);
  asyncio = asyncio_rate(seconds, 0);
  report("", proc, floor_, asyncio);

  block = big_parent();
  if (!block) {
    fprintf(stderr, "spawn_proc: no memory for the 1 GiB parent\n");
    return 1;
  }
  fprintf(stderr, "# spawn_proc: parent resident: %lld bytes\n",
          bench_status_bytes("VmRSS"));
  measure(runner, seconds, &proc, &floor_);
  /* Read after the runs, so that the compiler keeps the writes. */
  if (block[BIG_BYTES / 2] != 1)
    return 1;
  free(block);
  asyncio = asyncio_rate(seconds, BIG_BYTES);
  report("_1gib", proc, floor_, asyncio);

  rc = corio_runner_close(runner);
  if (rc < 0)
    die("corio_runner_close", rc);
  return 0;
}
