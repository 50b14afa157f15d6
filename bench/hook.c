/* What a hooked blocking call costs: a 64-byte write() and read() pair
 * over an AF_UNIX socketpair, measured five ways (libcorio_hook is linked
 * in, so this program's read and write are the hooks'):
 *
 *   hook_raw_pair_ns          the C library's own read and write (found
 *                             with dlsym(RTLD_NEXT)), outside any task:
 *                             the floor, two syscalls
 *   hook_outside_task_pair_ns plain read() and write() outside any task:
 *                             the hooks see no task and pass through
 *   hook_fast_path_pair_ns    the same calls inside a task with the hooks
 *                             enabled; the data is there, so read()
 *                             returns at once (the hooks' fast path, no
 *                             suspension)
 *   hook_pingpong_pair_ns     two tasks ping-pong 64 bytes with plain
 *                             write() and read(); each read() finds
 *                             nothing and suspends its task until the
 *                             loop sees the fd readable (per pair: half a
 *                             round trip; hook_pingpong_rt_ns is the
 *                             round trip)
 *   stream_pingpong_pair_ns   the same ping-pong through corio's stream
 *                             API (corio_stream_write and _readexactly on
 *                             streams over a socketpair), the way corio is
 *                             meant to be used without hooks
 *   stream_same_task_pair_ns  a stream write then read in one task: the
 *                             loop must fill the stream's buffer first,
 *                             so each read suspends once
 *
 * Each figure is the median of 5 runs (a first run warms up), on one
 * pinned CPU.
 *
 *   hook [pairs per run (200000)] */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "bench.h"
#include "corio.h"
#include "corio/hook.h"

enum { MSG = 64 };

static long pairs = 200000;
static ssize_t (*libc_read)(int, void *, size_t);
static ssize_t (*libc_write)(int, const void *, size_t);

static void die(const char *what, int err) {
  fprintf(stderr, "hook: %s failed: %s (%d)\n", what, corio_strerror(err), err);
  exit(1);
}

static ssize_t raw_read(int fd, void *buf, size_t n) {
  return libc_read ? libc_read(fd, buf, n) : syscall(SYS_read, fd, buf, n);
}

static ssize_t raw_write(int fd, const void *buf, size_t n) {
  return libc_write ? libc_write(fd, buf, n) : syscall(SYS_write, fd, buf, n);
}

/* The C library's functions, behind the hooks; NULL (then raw syscalls)
 * where dlsym cannot find them, as in a static binary. */
static void find_libc(void) {
  *(void **)&libc_read = dlsym(RTLD_NEXT, "read");
  *(void **)&libc_write = dlsym(RTLD_NEXT, "write");
}

static int make_pair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair", -errno);
  return 0;
}

/* ---- one task, data ready: raw, pass-through and fast path -------------- */

struct pair_run {
  int sv[2];
  int raw; /* the C library's calls, not the hooks' */
  double seconds;
};

/* write() into sv[0], read() it back from sv[1], `pairs` times. */
static int write_read(struct pair_run *run) {
  char msg[MSG], buf[MSG];
  double t0 = bench_now_s();

  memset(msg, 'x', sizeof msg);
  for (long i = 0; i < pairs; i++) {
    ssize_t w = run->raw ? raw_write(run->sv[0], msg, MSG)
                         : write(run->sv[0], msg, MSG);
    ssize_t r =
        run->raw ? raw_read(run->sv[1], buf, MSG) : read(run->sv[1], buf, MSG);

    if (w != MSG || r != MSG)
      return w < 0 || r < 0 ? -errno : -EIO;
  }
  run->seconds = bench_now_s() - t0;
  return 0;
}

static int write_read_task(void *arg, void **result) {
  (void)result;
  if (corio_hook_active() != 1)
    return -ENOSYS; /* the hooks would not be measured */
  return write_read(arg);
}

/* ---- two tasks ping-pong: plain calls (hooked) or streams ---------------- */

struct pingpong {
  int sv[2];
  corio_stream *streams[2]; /* NULL: plain write() and read() */
  double seconds;
};

struct side {
  struct pingpong *pp;
  int index; /* 0 serves first, 1 echoes */
};

static int send_msg(struct side *s, const char *msg) {
  if (s->pp->streams[0])
    return corio_stream_write(s->pp->streams[s->index], msg, MSG);
  return write(s->pp->sv[s->index], msg, MSG) == MSG ? 0 : -errno;
}

static int receive_msg(struct side *s, char *buf) {
  ssize_t n;
  size_t got = 0;

  if (s->pp->streams[0])
    return corio_stream_readexactly(s->pp->streams[s->index], buf, MSG, NULL);
  while (got < MSG) {
    n = read(s->pp->sv[s->index], buf + got, MSG - got);
    if (n <= 0)
      return n < 0 ? -errno : -EPIPE;
    got += (size_t)n;
  }
  return 0;
}

static int pingpong_side(void *arg, void **result) {
  struct side *s = arg;
  char msg[MSG], buf[MSG];
  int rc = 0;

  (void)result;
  memset(msg, 'x', sizeof msg);
  if (!s->pp->streams[0] && corio_hook_active() != 1)
    return -ENOSYS;
  for (long i = 0; i < pairs / 2 && rc == 0; i++) {
    if (s->index == 0) {
      rc = send_msg(s, msg);
      if (rc == 0)
        rc = receive_msg(s, buf);
    } else {
      rc = receive_msg(s, buf);
      if (rc == 0)
        rc = send_msg(s, buf);
    }
  }
  return rc;
}

static int pingpong_main(void *arg, void **result) {
  struct pingpong *pp = arg;
  struct side sides[2] = {{pp, 0}, {pp, 1}};
  corio_task *tasks[2];
  double t0;
  int rc, i;

  (void)result;
  t0 = bench_now_s();
  for (i = 0; i < 2; i++)
    if ((rc = corio_spawn(&tasks[i], pingpong_side, &sides[i])) < 0)
      die("corio_spawn", rc);
  for (i = 0; i < 2; i++) {
    int r = corio_task_await(tasks[i], NULL);

    if (r < 0 && rc == 0)
      rc = r;
    corio_task_unref(tasks[i]);
  }
  pp->seconds = bench_now_s() - t0;
  return rc;
}

/* The streams take the fds: a fresh socketpair for each run. */
static int stream_pingpong_main(void *arg, void **result) {
  struct pingpong *pp = arg;
  int sv[2], rc, i;

  make_pair(sv);
  for (i = 0; i < 2; i++)
    if ((rc = corio_stream_open_fd(NULL, sv[i], NULL, &pp->streams[i])) < 0)
      die("corio_stream_open_fd", rc);
  rc = pingpong_main(pp, result);
  for (i = 0; i < 2; i++) {
    corio_stream_unref(pp->streams[i]);
    pp->streams[i] = NULL;
  }
  return rc;
}

static int stream_same_task(void *arg, void **result) {
  struct pingpong *pp = arg;
  char msg[MSG], buf[MSG];
  corio_stream *s[2];
  int sv[2], rc = 0, i;
  double t0;

  (void)result;
  make_pair(sv);
  for (i = 0; i < 2; i++)
    if ((rc = corio_stream_open_fd(NULL, sv[i], NULL, &s[i])) < 0)
      die("corio_stream_open_fd", rc);
  memset(msg, 'x', sizeof msg);
  t0 = bench_now_s();
  for (long n = 0; n < pairs && rc == 0; n++) {
    rc = corio_stream_write(s[0], msg, MSG);
    if (rc == 0)
      rc = corio_stream_readexactly(s[1], buf, MSG, NULL);
  }
  pp->seconds = bench_now_s() - t0;
  corio_stream_unref(s[0]);
  corio_stream_unref(s[1]);
  return rc;
}

/* ---- runs and medians --------------------------------------------------- */

enum figure {
  RAW,
  OUTSIDE,
  FAST_PATH,
  HOOK_PINGPONG,
  STREAM_PINGPONG,
  STREAM_SAME_TASK
};

/* One run of a figure: its seconds for `pairs` pairs. */
static double run_once(enum figure figure, int sv[2]) {
  struct pair_run pr = {{sv[0], sv[1]}, 0, 0};
  struct pingpong pp = {{sv[0], sv[1]}, {NULL, NULL}, 0};
  int rc = 0;

  switch (figure) {
  case RAW:
    pr.raw = 1;
    rc = write_read(&pr);
    return rc < 0 ? (die("raw write/read", rc), 0) : pr.seconds;
  case OUTSIDE:
    rc = write_read(&pr);
    return rc < 0 ? (die("write/read outside a task", rc), 0) : pr.seconds;
  case FAST_PATH:
    rc = corio_run(write_read_task, &pr, NULL);
    return rc < 0 ? (die("hooked write/read in a task", rc), 0) : pr.seconds;
  case HOOK_PINGPONG:
    rc = corio_run(pingpong_main, &pp, NULL);
    return rc < 0 ? (die("hooked ping-pong", rc), 0) : pp.seconds;
  case STREAM_PINGPONG:
    rc = corio_run(stream_pingpong_main, &pp, NULL);
    return rc < 0 ? (die("stream ping-pong", rc), 0) : pp.seconds;
  case STREAM_SAME_TASK:
    rc = corio_run(stream_same_task, &pp, NULL);
    return rc < 0 ? (die("stream write/read", rc), 0) : pp.seconds;
  }
  return 0;
}

/* Median ns per pair over BENCH_RUNS runs, after a warm-up run. */
static double ns_per_pair(enum figure figure, int sv[2]) {
  double runs[BENCH_RUNS];

  (void)run_once(figure, sv);
  for (int i = 0; i < BENCH_RUNS; i++)
    runs[i] = run_once(figure, sv) * 1e9 / (double)pairs;
  return bench_median(runs, BENCH_RUNS);
}

int main(int argc, char **argv) {
  double raw, outside, fast, hook_pp, stream_pp, stream_same;
  int sv[2], rc;

  if (argc > 1)
    pairs = atol(argv[1]);
  if (pairs < 2 || argc > 2) {
    fprintf(stderr, "usage: hook [pairs per run]\n");
    return 2;
  }
  pairs -= pairs % 2; /* the ping-pong runs whole round trips */
  find_libc();
  bench_pin_last_cpu();
  make_pair(sv);
  if ((rc = corio_hook_enable()) < 0)
    die("corio_hook_enable", rc);

  raw = ns_per_pair(RAW, sv);
  outside = ns_per_pair(OUTSIDE, sv);
  fast = ns_per_pair(FAST_PATH, sv);
  hook_pp = ns_per_pair(HOOK_PINGPONG, sv);
  stream_pp = ns_per_pair(STREAM_PINGPONG, sv);
  stream_same = ns_per_pair(STREAM_SAME_TASK, sv);

  bench_print("hook_raw_pair_ns", raw, 1, "ns");
  bench_print("hook_outside_task_pair_ns", outside, 1, "ns");
  bench_print("hook_fast_path_pair_ns", fast, 1, "ns");
  bench_print("hook_fast_path_overhead_ns", fast - raw, 1, "ns");
  bench_print("hook_pingpong_pair_ns", hook_pp, 1, "ns");
  bench_print("hook_pingpong_rt_ns", hook_pp * 2, 1, "ns");
  bench_print("stream_pingpong_pair_ns", stream_pp, 1, "ns");
  bench_print("stream_same_task_pair_ns", stream_same, 1, "ns");
  bench_print("hook_pingpong_vs_stream", hook_pp / stream_pp, 2, "x");
  (void)corio_hook_disable();
  close(sv[0]);
  close(sv[1]);
  corio_coro_pool_trim();
  return 0;
}
