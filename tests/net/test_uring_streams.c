/* Socket streams and servers on io_uring loops, attacked where the
 * completion path differs from readiness: readers cancelled while the
 * multishot recv delivers, pause and resume under a fast writer, close
 * and abort with a send op in flight, loops closed with ops in flight
 * (by corio_loop_close, corio_run, a runner, another thread), the last
 * reference dropped inside the read path, servers closed or stopped
 * while the multishot accept delivers, the provided buffers exhausted
 * (-ENOBUFS), start_tls, the ring's fault seams (enter, register,
 * allocations), write_eof and drain with queued sends, ops queued for an
 * fd whose number is reused before they reach the kernel, and more ops
 * than the submission queue holds.
 *
 * Every loop is made for io_uring explicitly (CORIO_LOOP_NO_FALLBACK);
 * where the kernel refuses, the program says why and exits 77 (skipped).
 * Each case checks that no fd and no allocation is left behind; ASan and
 * Valgrind runs check the memory (under Valgrind the cases with peer
 * threads are skipped: see peer_threads_hang). Peers are plain sockets,
 * some driven by threads; waits are on conditions, with guards only a
 * bug reaches. CORIO_TEST_SEED varies the random points,
 * CORIO_TEST_FILTER picks cases, CORIO_TEST_VERBOSE prints figures. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop/uring_internal.h"
#include "net/server_internal.h"
#include "net/stream_internal.h"
#include "net_robust.h"
#ifdef CORIO_TEST_TLS
#include "tls_test.h"
#endif

static const corio_loop_options uring_only = {CORIO_LOOP_BACKEND_IO_URING,
                                              CORIO_LOOP_NO_FALLBACK};

/* ---- harness ------------------------------------------------------------ */

/* Runs body as the main task of a runner on a fresh io_uring loop, then
 * closes the runner (and the loop): body's outcome. */
static int run_on(const corio_loop_options *options, corio_task_fn body,
                  void *arg) {
  corio_runner *runner = NULL;
  int rc;

  assert_int_equal(corio_runner_create_with(&runner, options), 0);
  rc = corio_runner_run(runner, body, arg, NULL);
  assert_int_equal(corio_runner_close(runner), 0);
  return rc;
}

static int run_uring(corio_task_fn body, void *arg) {
  return run_on(&uring_only, body, arg);
}

/* The control for semantics that must not differ from readiness. */
static const corio_loop_options epoll_only = {CORIO_LOOP_BACKEND_EPOLL,
                                              CORIO_LOOP_NO_FALLBACK};

/* The fds and allocations at a case's start, compared at its end. */
typedef struct baseline {
  corio_test_usage usage;
  int fds;
} baseline;

static baseline baseline_now(void) {
  baseline b;

  corio_test_release_pools();
  b.usage = corio_test_usage_now();
  b.fds = open_fds();
  return b;
}

static void assert_back_to(baseline b) {
  assert_int_equal(open_fds(), b.fds);
  corio_test_assert_no_leak(b.usage);
}

static int running_on_uring(void) {
  const char *name = corio_loop_backend_name(corio_loop_running());

  return name && strcmp(name, "io_uring") == 0;
}

/* A deterministic generator; CORIO_TEST_SEED varies the runs. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static void rng_seed(uint64_t salt) {
  const char *env = getenv("CORIO_TEST_SEED");

  rng_state = 0x2545F4914F6CDD1Dull ^ (salt * 0x9E3779B97F4A7C15ull);
  if (env)
    rng_state ^= strtoull(env, NULL, 0) * 0xBF58476D1CE4E5B9ull;
  if (!rng_state)
    rng_state = 1;
}

static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* 1..max */
static size_t rng_upto(size_t max) { return 1 + (size_t)(rng_next() % max); }

/* Yields until cond holds. The guard (a minute) only turns a hang into a
 * failure: a correct run gets there long before, however loaded the
 * machine (YIELD_UNTIL's iteration bound is too short under load). */
static double seconds_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define WAIT_UNTIL(cond)                                                       \
  for (double wu_end_ = seconds_now() + 60;                                    \
       !(cond) && corio_sleep(0) == 0 && seconds_now() < wu_end_;) {           \
  }

/* Valgrind (3.19) keeps its lock through a blocking io_uring_enter, so a
 * peer thread never runs while the loop waits for it (KDE bug 463859):
 * the cases with peer threads are skipped there, the others run. */
static int peer_threads_hang(void) {
  if (!corio_test_under_valgrind())
    return 0;
  print_message("peer threads cannot run under Valgrind while the loop "
                "waits in io_uring_enter: skipped\n");
  return 1;
}

/* ---- peers --------------------------------------------------------------- */

/* A peer thread the loop must keep serving until it ends: waited for by
 * yielding, then joined (joining at once would stop the loop it needs). */
struct peer_thread {
  pthread_t thread;
  atomic_int done;
  void *(*fn)(void *);
  void *arg;
};

static void *peer_thread_main(void *arg) {
  struct peer_thread *pt = arg;

  pt->fn(pt->arg);
  atomic_store(&pt->done, 1);
  return NULL;
}

static int peer_thread_start(struct peer_thread *pt, void *(*fn)(void *),
                             void *arg) {
  pt->fn = fn;
  pt->arg = arg;
  atomic_store(&pt->done, 0);
  return pthread_create(&pt->thread, NULL, peer_thread_main, pt) == 0 ? 0 : -1;
}

/* 0 once the thread ended and was joined; -ETIMEDOUT (a bug: left
 * running, the process ends soon anyway). */
static int peer_thread_wait(struct peer_thread *pt) {
  WAIT_UNTIL(atomic_load(&pt->done));
  if (!atomic_load(&pt->done))
    return -ETIMEDOUT;
  pthread_join(pt->thread, NULL);
  return 0;
}

enum kind { UNIX_PAIR, TCP_PAIR };

/* A connected pair: sv[0] for corio, sv[1] the peer (blocking). TCP: over
 * loopback; rcvbuf > 0 sets the corio side's receive buffer first. */
static int make_pair(enum kind kind, int sv[2], int rcvbuf) {
  struct sockaddr_storage ss;
  socklen_t len;
  int lfd, port = 0, c;

  if (kind == UNIX_PAIR)
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 ? 0
                                                                       : -errno;
  if ((lfd = raw_listener(AF_INET, &port)) < 0)
    return lfd;
  if (rcvbuf > 0) /* inherited by the accepted socket */
    (void)setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  len = loopback(AF_INET, port, &ss);
  c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&ss, len) != 0) {
    int rc = -errno;
    if (c >= 0)
      close(c);
    close(lfd);
    return rc;
  }
  sv[0] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  close(lfd);
  if (sv[0] < 0) {
    close(c);
    return -errno;
  }
  sv[1] = c;
  return 0;
}

/* Writes `total` bytes of stream `id`'s pattern to fd in chunks of random
 * size, then shuts its write side (EOF) unless keep_open. */
struct writer {
  int fd;
  uint64_t id;
  size_t total;
  size_t max_chunk;
  uint64_t seed;
  int keep_open;
  int ignore_errors; /* the reader may go away: EPIPE ends it */
  size_t sent;
  int error;
  pthread_t thread;
};

static void *writer_main(void *arg) {
  struct writer *w = arg;
  unsigned char *buf = malloc(w->max_chunk);
  uint64_t x = w->seed | 1;

  if (!buf) {
    w->error = -ENOMEM;
    return NULL;
  }
  while (w->sent < w->total) {
    size_t n;
    ssize_t k;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    n = 1 + (size_t)(x % w->max_chunk);
    if (n > w->total - w->sent)
      n = w->total - w->sent;
    pattern_fill(buf, n, w->id, w->sent);
    k = send(w->fd, buf, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      w->error = -errno;
      break;
    }
    w->sent += (size_t)k;
  }
  if (!w->keep_open)
    (void)shutdown(w->fd, SHUT_WR);
  free(buf);
  return NULL;
}

static void writer_start(struct writer *w) {
  assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

static void writer_join(struct writer *w) {
  pthread_join(w->thread, NULL);
  if (!w->ignore_errors)
    assert_int_equal(w->error, 0);
}

/* A peer reading until EOF on a thread (net_robust.h's pattern reader). */
static void reader_start(struct pattern_reader *r, pthread_t *t) {
  assert_int_equal(pthread_create(t, NULL, pattern_reader_main, r), 0);
}

/* Bytes readable on fd right now, without waiting (-1: an error). */
static ssize_t drain_now(int fd, char *buf, size_t cap) {
  ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  return n;
}

/* Waits (bounded) until the peer fd reads EOF or an error, discarding
 * what comes before: 1 if it did. */
static int peer_sees_end(int fd) {
  char buf[65536];

  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, 10000) != 1)
      return 0;
    n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return 1;
  }
}

/* The same from a task, without blocking the loop (the kernel may let
 * the file go only once the loop has reaped the cancelled ops). */
static int peer_ended_now(int fd) {
  char buf[65536];

  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n <= 0)
      return 1;
  }
}

static int peer_ends(int fd) {
  WAIT_UNTIL(peer_ended_now(fd));
  return peer_ended_now(fd);
}

/* ---- 1. readers cancelled while the multishot recv delivers ------------- */

/* A peer writes a numbered stream of bytes in random chunks; readers of
 * random forms are cancelled at random points (suspended, or woken with
 * data and not yet run). Every byte must be read once, in order. */
struct numbered {
  corio_stream *s;
  size_t offset; /* bytes read so far, over all readers */
  size_t bad_at; /* first wrong byte, or SIZE_MAX */
  int eof;
  int error;
  size_t limit;
};

static void account(struct numbered *st, const unsigned char *buf, size_t n) {
  size_t at = pattern_check(buf, n, 1, st->offset);

  if (at < n && st->bad_at == SIZE_MAX)
    st->bad_at = st->offset + at;
  st->offset += n;
}

static int numbered_reader(void *arg, void **result) {
  struct numbered *st = arg;
  unsigned char buf[3 * 16384];
  int rc = 0;

  (void)result;
  while (!st->eof) {
    size_t n = 0, want;
    const void *view;

    switch (rng_next() % 4) {
    case 0:
      want = rng_upto(sizeof buf);
      rc = corio_stream_read(st->s, buf, want, &n);
      if (rc == 0 && n == 0)
        st->eof = 1;
      break;
    case 1: /* may be more than twice the limit: overrides the pause */
      want = rng_upto(3 * st->limit < sizeof buf ? 3 * st->limit : sizeof buf);
      rc = corio_stream_readexactly(st->s, buf, want, &n);
      if (rc == CORIO_EINCOMPLETEREAD) {
        st->eof = 1;
        rc = 0;
      }
      break;
    case 2:
      want = rng_upto(st->limit - 1) - 1; /* below the limit */
      rc = corio_stream_peek(st->s, want, &view, &n);
      if (rc == 0) {
        if (n <= want)
          st->eof = 1;
        if (n > 16384)
          n = 16384;
        if (n)
          memcpy(buf, view, n);
        if (corio_stream_consume(st->s, n) < 0)
          rc = -EPROTO;
      }
      break;
    default:
      want = rng_upto(64);
      rc = corio_stream_read(st->s, buf, want, &n);
      if (rc == 0 && n == 0)
        st->eof = 1;
    }
    if (rc < 0)
      break; /* cancelled: nothing consumed */
    account(st, buf, n);
    /* Lets the loop turn now and then: cancels land between reads too. */
    if (rng_next() % 4 == 0 && (rc = corio_sleep(0)) < 0)
      break;
  }
  return rc;
}

static int cancelled_readers_body(void *arg, void **result) {
  enum kind kind = (enum kind)(intptr_t)arg;
  struct numbered st = {0};
  struct writer w = {0};
  corio_connect_options o = {0};
  int sv[2], cancels = 0, rounds = 0;
  enum { TOTAL = 3 << 20 };

  (void)result;
  CHECK_TRUE(running_on_uring());
  st.bad_at = SIZE_MAX;
  st.limit = 4096;
  o.limit = st.limit;
  CHECK_EQ(make_pair(kind, sv, 0), 0);
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], &o, &st.s), 0);
  if (!st.s)
    return -1;
  CHECK_TRUE(st.s->uring);
  w.fd = sv[1];
  w.id = 1;
  w.total = TOTAL;
  w.max_chunk = 40000;
  w.seed = rng_next();
  w.keep_open = 1; /* EOF comes below, once everything was sent */
  /* One reader certainly cancelled while it waits (nothing sent yet). */
  {
    corio_task *t = NULL;

    CHECK_EQ(corio_spawn(&t, numbered_reader, &st), 0);
    CHECK_EQ(yield_n(3), 0);
    if (t) {
      CHECK_EQ(corio_task_done(t), 0);
      CHECK_EQ(corio_task_cancel(t, "review"), 1);
      CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
      corio_task_unref(t);
      cancels++;
    }
    CHECK_EQ(st.offset, 0);
  }
  writer_start(&w);
  while (!st.eof && rounds++ < 200000) {
    corio_task *t = NULL;
    int rc;

    CHECK_EQ(corio_spawn(&t, numbered_reader, &st), 0);
    if (!t)
      break;
    /* Sometimes cancelled before it first runs, sometimes while it
     * waits, sometimes just after a completion woke it. */
    for (size_t i = rng_next() % 12; i > 0 && !corio_task_done(t); i--)
      (void)corio_sleep(0);
    if (!corio_task_done(t)) {
      (void)corio_task_cancel(t, "review");
      cancels++;
    }
    rc = corio_task_await(t, NULL);
    CHECK_TRUE(rc == 0 || rc == -ECANCELED);
    corio_task_unref(t);
    if (w.sent == TOTAL && w.keep_open) {
      /* All sent: the EOF goes after the last byte. */
      w.keep_open = 0;
      shutdown(sv[1], SHUT_WR);
    }
  }
  writer_join(&w);
  CHECK_EQ(st.offset, TOTAL);
  CHECK_EQ(st.bad_at, SIZE_MAX);
  /* How many more were cancelled depends on the machine's pace; on a
   * quiet one, hundreds. */
  CHECK_TRUE(cancels >= 1);
  if (getenv("CORIO_TEST_VERBOSE"))
    fprintf(stderr, "cancelled readers: %d in %d rounds\n", cancels, rounds);
  corio_stream_unref(st.s);
  close(sv[1]);
  return 0;
}

static void test_cancelled_readers(void **state) {
  baseline b = baseline_now();

  (void)state;
  if (peer_threads_hang())
    skip();
  for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++) {
    rng_seed(10 + (uint64_t)kind);
    assert_int_equal(run_uring(cancelled_readers_body, CORIO_PTR(kind)), 0);
    assert_checks_passed();
  }
  assert_back_to(b);
}

/* ---- 2. pause and resume under a fast writer ---------------------------- */

/* A small limit, a writer as fast as the socket goes, a reader that takes
 * little at a time and lets the loop turn: every byte once, in order, and
 * the buffer bounded as docs/loop.md says (twice the limit, plus up to
 * the socket's receive buffer that was on its way, plus the completion
 * that crossed the line). */
struct paused {
  enum kind kind;
  size_t most;   /* the most buffered at once */
  size_t rcvbuf; /* the socket's receive buffer, at its largest */
  int pauses;    /* times the stream was seen paused */
};

static int pause_resume_body(void *arg, void **result) {
  struct paused *p = arg;
  corio_connect_options o = {0};
  corio_stream *s = NULL;
  struct writer w = {0};
  unsigned char buf[700];
  size_t got = 0, bad_at = SIZE_MAX;
  int sv[2];
  enum { TOTAL = 12 << 20, LIMIT = 1024 };

  (void)result;
  CHECK_EQ(make_pair(p->kind, sv, 32768), 0);
  o.limit = LIMIT;
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], &o, &s), 0);
  if (!s)
    return -1;
  CHECK_TRUE(s->uring);
  w.fd = sv[1];
  w.id = 2;
  w.total = TOTAL;
  w.max_chunk = 65536;
  w.seed = 7;
  writer_start(&w);
  for (;;) {
    size_t n = 0, at;
    int rcvbuf = 0;
    socklen_t len = sizeof rcvbuf;

    if (corio_stream_buffered(s) > p->most)
      p->most = corio_stream_buffered(s);
    if (!s->reading)
      p->pauses++;
    if (getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 &&
        (size_t)rcvbuf > p->rcvbuf)
      p->rcvbuf = (size_t)rcvbuf;
    if (corio_stream_read(s, buf, 1 + rng_next() % sizeof buf, &n) < 0 ||
        n == 0)
      break;
    at = pattern_check(buf, n, 2, got);
    if (at < n && bad_at == SIZE_MAX)
      bad_at = got + at;
    got += n;
    if (rng_next() % 4 == 0)
      (void)corio_sleep(0);
  }
  writer_join(&w);
  CHECK_EQ(got, TOTAL);
  CHECK_EQ(bad_at, SIZE_MAX);
  corio_stream_unref(s);
  close(sv[1]);
  return 0;
}

static void test_pause_resume_bounded(void **state) {
  baseline b = baseline_now();
  struct paused p[2] = {{.kind = UNIX_PAIR}, {.kind = TCP_PAIR}};

  (void)state;
  if (peer_threads_hang())
    skip();
  for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++) {
    rng_seed(20 + (uint64_t)kind);
    assert_int_equal(run_uring(pause_resume_body, &p[kind]), 0);
    assert_checks_passed();
    if (getenv("CORIO_TEST_VERBOSE"))
      fprintf(stderr,
              "pause/resume %s: most buffered %zu, rcvbuf %zu, "
              "seen paused %d\n",
              kind == TCP_PAIR ? "tcp" : "unix", p[kind].most, p[kind].rcvbuf,
              p[kind].pauses);
  }
  for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++) {
    assert_true(p[kind].pauses > 0);
    /* Above twice the limit the recv is cancelled; what the wait that
     * crossed the line brought is kept: at most the loop's provided
     * buffers (256 of 16 KiB), whatever the socket's receive buffer
     * (docs/loop.md said "up to the socket's receive buffer": 1.6 MB
     * were seen over TCP with a 64 KiB one). A pause that did not work
     * would buffer most of the transfer. */
    if (p[kind].most > 2 * 1024 + 257 * 16384)
      print_error("%s: %zu buffered, over 2 * limit + 257 * 16 KiB "
                  "(receive buffer %zu)\n",
                  kind == TCP_PAIR ? "tcp" : "unix", p[kind].most,
                  p[kind].rcvbuf);
    assert_true(p[kind].most <= 2 * 1024 + 257 * 16384);
  }
  assert_back_to(b);
}

/* ---- 3. close and abort with a send op in flight ------------------------ */

enum ending {
  END_ABORT_UNREF,      /* abort, unref: the op is cancelled */
  END_CLOSE_PEER_READS, /* close, unref: everything still arrives */
  END_UNREF_PEER_READS, /* the last unref closes: everything arrives */
  END_CLOSE_PEER_GONE,  /* close, unref, the peer closes: EPIPE */
  END_LOOP_CLOSES,      /* close, unref, the loop closes with the op */
  END_ABORT_KEEP,       /* abort; the stream outlives its loop */
  END_COUNT
};

struct inflight {
  enum ending how;
  enum kind kind;
  int batch;
  corio_stream *kept; /* END_ABORT_KEEP: unreferenced after the run */
  int peer;
};

enum { BIG = 4 << 20 };

static int send_inflight_body(void *arg, void **result) {
  struct inflight *c = arg;
  corio_connect_options o = {0};
  corio_stream *s = NULL;
  unsigned char *data = malloc(BIG);
  int sv[2], fds = open_fds();

  (void)result;
  if (!data)
    return -ENOMEM;
  pattern_fill(data, BIG, 3, 0);
  o.flags = c->batch ? CORIO_NET_BATCH_WRITES : 0;
  CHECK_EQ(make_pair(c->kind, sv, 0), 0);
  c->peer = sv[1];
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], &o, &s), 0);
  if (!s) {
    free(data);
    return -1;
  }
  CHECK_TRUE(s->uring);
  CHECK_EQ(corio_stream_write(s, data, BIG), 0);
  /* The socket takes part; the rest goes by a send op, which the next
   * iterations submit and the kernel leaves waiting (the peer reads
   * nothing). */
  CHECK_EQ(yield_n(3), 0);
  CHECK_TRUE(s->send_armed);
  CHECK_TRUE(corio_stream_write_buffer_size(s) > 0);
  switch (c->how) {
  case END_ABORT_UNREF:
    CHECK_EQ(corio_stream_abort(s), 0);
    corio_stream_unref(s);
    CHECK_EQ(yield_n(3), 0);
    CHECK_TRUE(peer_ends(sv[1]));
    break;
  case END_CLOSE_PEER_READS:
  case END_UNREF_PEER_READS: {
    struct pattern_reader r = {.fd = sv[1], .id = 3, .chunk = 65536};
    struct peer_thread t;

    if (c->how == END_CLOSE_PEER_READS)
      CHECK_EQ(corio_stream_close(s), 0);
    corio_stream_unref(s);
    CHECK_EQ(peer_thread_start(&t, pattern_reader_main, &r), 0);
    /* The stream lives on without references until its bytes left. */
    CHECK_EQ(peer_thread_wait(&t), 0);
    CHECK_EQ(r.got, BIG);
    CHECK_EQ(r.bad_at, (size_t)-1);
    CHECK_EQ(r.error, 0);
    break;
  }
  case END_CLOSE_PEER_GONE:
    CHECK_EQ(corio_stream_close(s), 0);
    corio_stream_unref(s);
    CHECK_EQ(yield_n(2), 0);
    close_with_reset(sv[1]);
    c->peer = -1;
    /* The op fails, the stream closes and goes: its fd with it. */
    WAIT_UNTIL(open_fds() == fds);
    CHECK_EQ(open_fds(), fds);
    break;
  case END_LOOP_CLOSES:
    CHECK_EQ(corio_stream_close(s), 0);
    corio_stream_unref(s);
    break;
  case END_ABORT_KEEP:
    CHECK_EQ(corio_stream_abort(s), 0);
    c->kept = s;
    break;
  default:
    break;
  }
  free(data);
  return 0;
}

static void test_send_inflight_endings(void **state) {
  (void)state;
  for (int batch = 0; batch <= 1; batch++)
    for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++)
      for (int how = 0; how < END_COUNT; how++) {
        baseline b = baseline_now();
        struct inflight c = {.how = (enum ending)how,
                             .kind = (enum kind)kind,
                             .batch = batch,
                             .peer = -1};

        if ((how == END_CLOSE_PEER_READS || how == END_UNREF_PEER_READS) &&
            corio_test_under_valgrind())
          continue; /* a peer thread: see peer_threads_hang */

        reset_checks(NULL);
        assert_int_equal(run_uring(send_inflight_body, &c), 0);
        if (failed.line)
          print_error("ending %d kind %d batch %d\n", how, kind, batch);
        assert_checks_passed();
        /* After the loop closed: the stream's memory stays with its last
         * reference, the op is over. */
        if (c.kept) {
          assert_int_equal(corio_stream_fd(c.kept), -1);
          assert_false(c.kept->recv_armed || c.kept->send_armed);
          corio_stream_unref(c.kept);
        }
        if (c.peer >= 0) {
          if (how == END_LOOP_CLOSES || how == END_ABORT_KEEP)
            assert_true(peer_sees_end(c.peer));
          close(c.peer);
        }
        assert_back_to(b);
      }
}

/* corio_loop_close on a loop (no runner) whose streams and server still
 * have ops in flight: a recv on each stream, a send op on one, the
 * multishot accept; nothing leaks, every fd closes. */
struct open_at_close {
  corio_server *srv;
  corio_stream *client, *sender;
  int peer;
  int handled;
};

static int idle_handler(corio_stream *s, void *arg) {
  struct open_at_close *c = arg;
  char buf[64];
  size_t n;

  c->handled++;
  while (corio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0)
    ;
  return 0;
}

static int open_at_close_body(void *arg, void **result) {
  struct open_at_close *c = arg;
  unsigned char *data = malloc(BIG);
  int sv[2];

  (void)result;
  if (!data)
    return -ENOMEM;
  pattern_fill(data, BIG, 4, 0);
  CHECK_EQ(corio_start_server(idle_handler, c, "127.0.0.1", 0, NULL, &c->srv),
           0);
  CHECK_EQ(
      corio_open_connection("127.0.0.1", corio_server_port(c->srv), &c->client),
      0);
  WAIT_UNTIL(c->handled == 1);
  CHECK_EQ(make_pair(UNIX_PAIR, sv, 0), 0);
  c->peer = sv[1];
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], NULL, &c->sender), 0);
  if (c->sender) {
    CHECK_EQ(corio_stream_write(c->sender, data, BIG), 0);
    CHECK_EQ(yield_n(3), 0);
    CHECK_TRUE(c->sender->send_armed);
  }
  free(data);
  return corio_loop_stop(corio_loop_running());
}

static void test_loop_close_with_ops(void **state) {
  baseline b = baseline_now();
  struct open_at_close c = {0};
  corio_loop *loop = NULL;
  corio_task *t = NULL;

  (void)state;
  assert_int_equal(corio_loop_create_with(&loop, &uring_only), 0);
  assert_int_equal(corio_spawn_ex(&t, open_at_close_body, &c,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  assert_checks_passed();
  assert_true(corio_task_done(t));
  corio_task_unref(t);
  /* Closed with everything open; the references outlive the loop. */
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(corio_stream_fd(c.client), -1);
  assert_int_equal(corio_stream_fd(c.sender), -1);
  assert_true(peer_sees_end(c.peer));
  corio_stream_unref(c.client);
  corio_stream_unref(c.sender);
  corio_server_unref(c.srv);
  corio_loop_unref(loop);
  close(c.peer);
  assert_back_to(b);
}

/* The same through corio_run, the loop chosen by CORIO_POLLER. */
static int corio_run_body(void *arg, void **result) {
  struct open_at_close *c = arg;

  (void)result;
  CHECK_TRUE(running_on_uring());
  CHECK_EQ(corio_start_server(idle_handler, c, "127.0.0.1", 0, NULL, &c->srv),
           0);
  CHECK_EQ(
      corio_open_connection("127.0.0.1", corio_server_port(c->srv), &c->client),
      0);
  WAIT_UNTIL(c->handled == 1);
  CHECK_EQ(corio_stream_write(c->client, "x", 1), 0);
  /* Returns with the server serving, the handler reading, the client
   * open (its reference kept past the run). */
  return 0;
}

static void test_corio_run_ends_with_ops(void **state) {
  baseline b = baseline_now();
  struct open_at_close c = {0};
  char *old = getenv("CORIO_POLLER");

  (void)state;
  old = old ? strdup(old) : NULL;
  setenv("CORIO_POLLER", "io_uring", 1);
  assert_int_equal(corio_run(corio_run_body, &c, NULL), 0);
  if (old) {
    setenv("CORIO_POLLER", old, 1);
    free(old);
  } else {
    unsetenv("CORIO_POLLER");
  }
  assert_checks_passed();
  corio_stream_unref(c.client);
  corio_server_unref(c.srv);
  assert_back_to(b);
}

/* ---- 4. the last reference dropped inside the read path ----------------- */

/* The reader holds the only reference; a completion wakes it (inside the
 * recv op's callback) and it drops the stream there, while the peer keeps
 * sending: the multishot recv still delivers CQEs for the closed stream,
 * and the last one frees it. Also with EOF in the same batch. */
struct last_ref {
  enum kind kind;
  int eof_too;
};

static int drop_in_callback(void *arg, void **result) {
  corio_stream *s = arg;
  char buf[100];
  size_t n;
  int rc;

  (void)result;
  rc = corio_stream_read(s, buf, sizeof buf, &n);
  /* Woken from recv_done (directly: the callback's last action). */
  if (rng_next() % 2)
    (void)corio_stream_abort(s);
  corio_stream_unref(s);
  return rc;
}

static int last_ref_body(void *arg, void **result) {
  struct last_ref *c = arg;

  (void)result;
  for (int i = 0; i < 40; i++) {
    corio_stream *s = NULL;
    struct writer w = {0};
    corio_task *t = NULL;
    int sv[2];

    CHECK_EQ(make_pair(c->kind, sv, 0), 0);
    CHECK_EQ(corio_stream_open_fd(NULL, sv[0], NULL, &s), 0);
    if (!s)
      return -1;
    CHECK_EQ(corio_spawn(&t, drop_in_callback, s), 0);
    CHECK_EQ(yield_n(2), 0); /* the reader waits */
    w.fd = sv[1];
    w.id = 5;
    w.total = c->eof_too ? 300 : (size_t)1 << 20;
    w.max_chunk = c->eof_too ? 300 : 20000;
    w.seed = (uint64_t)i + 1;
    w.ignore_errors = 1;
    w.keep_open = !c->eof_too;
    writer_start(&w);
    if (t) {
      CHECK_EQ(corio_task_await(t, NULL), 0);
      corio_task_unref(t);
    }
    /* The peer's sends go on into a stream nobody holds. */
    (void)yield_n((int)(rng_next() % 5));
    shutdown(sv[1], SHUT_RDWR);
    writer_join(&w);
    CHECK_TRUE(peer_ends(sv[1]));
    close(sv[1]);
  }
  return 0;
}

static int quick_handler(corio_stream *s, void *arg) {
  char buf[10];
  size_t n;

  (void)arg;
  /* One read, then the handler returns: the server closes and drops the
   * stream from inside the recv op's callback. */
  return corio_stream_read(s, buf, sizeof buf, &n);
}

struct flood {
  int port;
  int clients;
  int failed;
};

static void *flood_clients(void *arg) {
  struct flood *f = arg;
  static char junk[65536];
  struct sockaddr_storage ss;
  socklen_t len = loopback(AF_INET, f->port, &ss);

  for (int i = 0; i < f->clients; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (c < 0 || connect(c, (struct sockaddr *)&ss, len) != 0) {
      f->failed++;
      if (c >= 0)
        close(c);
      continue;
    }
    /* Keeps sending until the server's close shows. */
    for (int k = 0; k < 64; k++)
      if (send(c, junk, sizeof junk, MSG_NOSIGNAL) < 0)
        break;
    close(c);
  }
  return NULL;
}

static int handler_drops_body(void *arg, void **result) {
  struct flood f = {0};
  corio_server *srv = NULL;
  struct peer_thread t;

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(quick_handler, NULL, "127.0.0.1", 0, NULL, &srv),
           0);
  if (!srv)
    return -1;
  f.port = corio_server_port(srv);
  f.clients = 30;
  CHECK_EQ(peer_thread_start(&t, flood_clients, &f), 0);
  /* The thread finishes once every connection saw the server's close. */
  CHECK_EQ(peer_thread_wait(&t), 0);
  CHECK_EQ(f.failed, 0);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_last_ref_in_read_path(void **state) {
  baseline b = baseline_now();

  (void)state;
  if (peer_threads_hang())
    skip();
  for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++)
    for (int eof = 0; eof <= 1; eof++) {
      struct last_ref c = {(enum kind)kind, eof};

      rng_seed(40 + (uint64_t)(kind * 2 + eof));
      assert_int_equal(run_uring(last_ref_body, &c), 0);
      assert_checks_passed();
    }
  assert_int_equal(run_uring(handler_drops_body, NULL), 0);
  assert_checks_passed();
  assert_back_to(b);
}

/* ---- 5. servers closed while the multishot accept delivers -------------- */

struct crowd {
  int port;
  int clients;
  atomic_int connected, refused, served, done;
};

static void *crowd_main(void *arg) {
  struct crowd *c = arg;
  struct sockaddr_storage ss;
  socklen_t len = loopback(AF_INET, c->port, &ss);
  int *fds = calloc((size_t)c->clients, sizeof *fds);

  if (!fds) {
    atomic_store(&c->done, 1);
    return NULL;
  }
  for (int i = 0; i < c->clients; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&ss, len) == 0) {
      atomic_fetch_add(&c->connected, 1);
      (void)send(fds[i], "hi", 2, MSG_NOSIGNAL);
    } else {
      atomic_fetch_add(&c->refused, 1);
    }
  }
  /* Each connection ends: served (an answer), or closed or reset by the
   * server going away. None may hang. */
  for (int i = 0; i < c->clients; i++) {
    if (fds[i] < 0)
      continue;
    struct pollfd p = {.fd = fds[i], .events = POLLIN};
    char buf[8];

    if (poll(&p, 1, 20000) == 1 && recv(fds[i], buf, sizeof buf, 0) > 0)
      atomic_fetch_add(&c->served, 1);
    close(fds[i]);
  }
  free(fds);
  atomic_store(&c->done, 1);
  return NULL;
}

static atomic_int crowd_handled;

static int answer_handler(corio_stream *s, void *arg) {
  char buf[2];
  size_t n;
  int rc;

  (void)arg;
  atomic_fetch_add(&crowd_handled, 1);
  if ((rc = corio_stream_readexactly(s, buf, 2, &n)) < 0)
    return rc == CORIO_EINCOMPLETEREAD ? 0 : rc;
  return corio_stream_write(s, "ok", 2);
}

static int server_close_body(void *arg, void **result) {
  int unref_only = (int)(intptr_t)arg;
  struct crowd c = {0};
  corio_server_options so = {0};
  corio_server *srv = NULL;
  pthread_t t;

  (void)result;
  atomic_store(&crowd_handled, 0);
  so.backlog = 1024;
  CHECK_EQ(corio_start_server(answer_handler, NULL, "127.0.0.1", 0, &so, &srv),
           0);
  if (!srv)
    return -1;
  CHECK_TRUE(srv->ring != NULL); /* accepts are multishot ops */
  c.port = corio_server_port(srv);
  c.clients = 300;
  CHECK_EQ(pthread_create(&t, NULL, crowd_main, &c), 0);
  /* Closed in the middle of the crowd. */
  WAIT_UNTIL(atomic_load(&crowd_handled) >= 40);
  CHECK_TRUE(srv->accepts_armed > 0);
  if (unref_only) {
    corio_server_unref(srv); /* the last reference closes it */
  } else {
    CHECK_EQ(corio_server_close(srv), 0);
    corio_server_unref(srv);
  }
  /* The handlers still running finish; the crowd's connections end. */
  WAIT_UNTIL(atomic_load(&c.done));
  CHECK_EQ(atomic_load(&c.done), 1);
  if (atomic_load(&c.done))
    pthread_join(t, NULL);
  CHECK_TRUE(atomic_load(&c.connected) >= 40);
  CHECK_TRUE(atomic_load(&c.served) >= 40);
  CHECK_TRUE(atomic_load(&c.served) <= atomic_load(&crowd_handled));
  return 0;
}

static void test_server_close_while_accepting(void **state) {
  (void)state;
  if (peer_threads_hang())
    skip();
  for (int unref_only = 0; unref_only <= 1; unref_only++) {
    baseline b = baseline_now();

    assert_int_equal(run_uring(server_close_body, CORIO_PTR(unref_only)), 0);
    assert_checks_passed();
    assert_back_to(b);
  }
}

/* stop_serving: "connections wait in the backlog" (net.h). Connections
 * the multishot accept took before its cancellation are to be served
 * once serving resumes, not closed. */
static atomic_int stopper_calls;
static corio_server *stopper_srv;

static int stopper_handler(corio_stream *s, void *arg) {
  corio_server *srv = stopper_srv;
  char buf[2];
  size_t n;
  int rc;

  (void)arg;
  if (atomic_fetch_add(&stopper_calls, 1) == 0)
    (void)corio_server_stop_serving(srv);
  if ((rc = corio_stream_readexactly(s, buf, 2, &n)) < 0)
    return rc;
  return corio_stream_write(s, "ok", 2);
}

static int stop_serving_body(void *arg, void **result) {
  corio_server *srv = NULL;
  corio_server_options so = {0};
  struct sockaddr_storage ss;
  socklen_t len;
  int fds[8], answered = 0;

  (void)arg, (void)result;
  atomic_store(&stopper_calls, 0);
  so.flags = CORIO_NET_NO_START;
  CHECK_EQ(corio_start_server(stopper_handler, NULL, "127.0.0.1", 0, &so, &srv),
           0);
  if (!srv)
    return -1;
  stopper_srv = srv;
  len = loopback(AF_INET, corio_server_port(srv), &ss);
  /* All queued before serving starts: one completion batch. */
  for (int i = 0; i < 8; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(connect(fds[i], (struct sockaddr *)&ss, len), 0);
    CHECK_EQ(send(fds[i], "hi", 2, 0), 2);
  }
  CHECK_EQ(corio_server_start_serving(srv), 0);
  WAIT_UNTIL(atomic_load(&stopper_calls) >= 1);
  CHECK_EQ(yield_n(20), 0);
  CHECK_EQ(corio_server_start_serving(srv), 0);
  WAIT_UNTIL(atomic_load(&stopper_calls) >= 8);
  CHECK_EQ(atomic_load(&stopper_calls), 8);
  for (int i = 0; i < 8; i++) {
    struct pollfd p = {.fd = fds[i], .events = POLLIN};
    char buf[2];

    WAIT_UNTIL(poll(&p, 1, 0) == 1);
    if (poll(&p, 1, 0) == 1 && recv(fds[i], buf, 2, 0) == 2)
      answered++;
    close(fds[i]);
  }
  CHECK_EQ(answered, 8);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_stop_serving_keeps_accepted(void **state) {
  baseline b = baseline_now();

  (void)state;
  /* The control: epoll leaves them in the backlog. */
  assert_int_equal(run_on(&epoll_only, stop_serving_body, NULL), 0);
  if (failed.line)
    print_error("on epoll (the control):\n");
  assert_checks_passed();
  assert_int_equal(run_uring(stop_serving_body, NULL), 0);
  if (failed.line)
    print_error("on io_uring:\n");
  assert_checks_passed();
  assert_back_to(b);
}

/* ---- 6. provided buffers exhausted -------------------------------------- */

/* More connections than the ring has buffers (256 of 16 KiB), each with
 * several buffers' worth waiting when its recv is armed: completions
 * fail with -ENOBUFS and are armed again. Every byte still arrives, once,
 * in order, then EOF. */
enum { CROWD_STREAMS = 320, CROWD_BYTES = 48 * 1024 };

struct buffered_reader {
  corio_stream *s;
  uint64_t id;
  size_t got;
  size_t bad_at;
  int eof;
};

static int crowd_reader(void *arg, void **result) {
  struct buffered_reader *r = arg;
  unsigned char buf[5000];
  size_t n;
  int rc;

  (void)result;
  while ((rc = corio_stream_read(r->s, buf, sizeof buf, &n)) == 0 && n > 0) {
    size_t at = pattern_check(buf, n, r->id, r->got);

    if (at < n && r->bad_at == SIZE_MAX)
      r->bad_at = r->got + at;
    r->got += n;
  }
  r->eof = rc == 0;
  return rc;
}

static int nobufs_body(void *arg, void **result) {
  enum kind kind = (enum kind)(intptr_t)arg;
  struct buffered_reader *r = calloc(CROWD_STREAMS, sizeof *r);
  corio_task **t = calloc(CROWD_STREAMS, sizeof *t);
  int *peers = calloc(CROWD_STREAMS, sizeof *peers);
  unsigned char *chunk = malloc(CROWD_BYTES);

  (void)result;
  if (!r || !t || !peers || !chunk)
    return -ENOMEM;
  for (int i = 0; i < CROWD_STREAMS; i++) {
    int sv[2];

    peers[i] = -1;
    CHECK_EQ(make_pair(kind, sv, 0), 0);
    peers[i] = sv[1];
    r[i].id = 100 + (uint64_t)i;
    r[i].bad_at = SIZE_MAX;
    /* Everything waits in the socket before the recv is armed. */
    pattern_fill(chunk, CROWD_BYTES, r[i].id, 0);
    CHECK_EQ(send(sv[1], chunk, CROWD_BYTES, MSG_NOSIGNAL), CROWD_BYTES);
    shutdown(sv[1], SHUT_WR);
    CHECK_EQ(corio_stream_open_fd(NULL, sv[0], NULL, &r[i].s), 0);
    CHECK_TRUE(r[i].s && r[i].s->uring);
  }
  for (int i = 0; i < CROWD_STREAMS; i++)
    CHECK_EQ(corio_spawn(&t[i], crowd_reader, &r[i]), 0);
  for (int i = 0; i < CROWD_STREAMS; i++) {
    if (!t[i])
      continue;
    CHECK_EQ(corio_task_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
    CHECK_EQ(r[i].got, CROWD_BYTES);
    CHECK_EQ(r[i].bad_at, SIZE_MAX);
    CHECK_EQ(r[i].eof, 1);
  }
  for (int i = 0; i < CROWD_STREAMS; i++) {
    corio_stream_unref(r[i].s);
    close(peers[i]);
  }
  free(r);
  free(t);
  free(peers);
  free(chunk);
  return 0;
}

static void test_provided_buffers_exhausted(void **state) {
  baseline b = baseline_now();

  (void)state;
  for (int kind = UNIX_PAIR; kind <= TCP_PAIR; kind++) {
    assert_int_equal(run_uring(nobufs_body, CORIO_PTR(kind)), 0);
    assert_checks_passed();
  }
  assert_back_to(b);
}

/* ---- 7. start_tls on an io_uring stream --------------------------------- */

#ifdef CORIO_TEST_TLS
static corio_tls_context *upgrade_ctx;

/* "STARTTLS\n" in the clear, then a big echo over TLS. */
static int upgrade_handler(corio_stream *s, void *arg) {
  char line[16];
  size_t n;
  int rc;

  (void)arg;
  CHECK_TRUE(s->uring);
  if ((rc = corio_stream_readline(s, line, sizeof line, &n)) < 0)
    return rc;
  if (n != 9 || memcmp(line, "STARTTLS\n", 9) != 0)
    return -EPROTO;
  if ((rc = corio_stream_write_all(s, "OK\n", 3)) < 0)
    return rc;
  if ((rc = corio_stream_start_tls(s, upgrade_ctx, NULL)) < 0)
    return rc;
  return echo_handler(s, &(struct echo_stats){0});
}

enum { TLS_BYTES = 1 << 20 };

static int start_tls_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx();
  corio_tls_options o = {.server_hostname = "localhost"};
  corio_server *srv = NULL;
  corio_stream *s = NULL;
  unsigned char *out = malloc(TLS_BYTES), *in = malloc(TLS_BYTES);
  char buf[8] = {0};
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  if (!out || !in)
    return -ENOMEM;
  upgrade_ctx = server_ctx(certs.server);
  CHECK_EQ(
      corio_start_server(upgrade_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &s), 0);
  if (!s || !srv)
    return -1;
  CHECK_TRUE(s->uring);
  CHECK_EQ(corio_stream_write_all(s, "STARTTLS\n", 9), 0);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "OK\n");
  CHECK_EQ(corio_stream_start_tls(s, cctx, &o), 0);
  CHECK_TRUE(corio_stream_is_tls(s));
  pattern_fill(out, TLS_BYTES, 9, 0);
  /* Written in pieces, read back as it comes: the echo's records cross
   * the provided buffers' boundaries. */
  for (size_t done = 0; done < TLS_BYTES;) {
    size_t k = TLS_BYTES - done < 100000 ? TLS_BYTES - done : 100000;

    CHECK_EQ(corio_stream_write_all(s, out + done, k), 0);
    CHECK_EQ(corio_stream_readexactly(s, in + done, k, &n), 0);
    if (n != k)
      break;
    done += k;
  }
  CHECK_EQ(memcmp(in, out, TLS_BYTES), 0);
  close_stream(s);
  finish_case(srv, upgrade_ctx, cctx, fds);
  free(out);
  free(in);
  return 0;
}

static void test_start_tls(void **state) {
  baseline b = baseline_now();

  (void)state;
  assert_int_equal(run_uring(start_tls_body, NULL), 0);
  assert_checks_passed();
  assert_back_to(b);
}
#endif

/* ---- 8. fault seams while streaming ------------------------------------- */

/* A transfer both ways over a pair (batched writes: send ops each
 * iteration) with the nth call at `point` failing. The run may fail
 * (an enter failing stops the loop with its error) or the connection
 * may be lost, but what the peer received is a prefix of what was
 * written (no byte misdirected or doubled), and nothing leaks. */
struct faulted {
  enum corio__fault_point point;
  long n;
  int fired;
  size_t peer_got;
  size_t peer_bad_at;
};

enum { FAULT_BYTES = 64 * 1000 };

static int faulted_body(void *arg, void **result) {
  struct faulted *f = arg;
  corio_connect_options o = {.flags = CORIO_NET_BATCH_WRITES};
  struct pattern_reader r = {.id = 11, .chunk = 4096};
  corio_stream *s = NULL;
  unsigned char buf[1000];
  pthread_t t;
  int sv[2], rc = 0;

  (void)result;
  if (make_pair(UNIX_PAIR, sv, 0) < 0)
    return -EIO;
  if ((rc = corio_stream_open_fd(NULL, sv[0], &o, &s)) < 0) {
    close(sv[1]);
    return rc;
  }
  r.fd = sv[1];
  reader_start(&r, &t);
  /* Every write pauses the stream: its drain waits for the send op, so
   * each write takes an enter or more. */
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 1, 0), 0);
  corio__fault_arm(f->point, f->n);
  for (size_t done = 0, k; done < FAULT_BYTES && rc == 0; done += k) {
    k = FAULT_BYTES - done < sizeof buf ? FAULT_BYTES - done : sizeof buf;
    pattern_fill(buf, k, 11, done);
    rc = corio_stream_write(s, buf, k);
    if (rc == 0)
      rc = corio_stream_drain(s);
    if (rc == 0 && (done / k) % 8 == 7)
      rc = corio_sleep(0);
  }
  if (corio__fault_fired(f->point))
    f->fired = 1;
  corio__fault_arm(f->point, 0);
  (void)corio_stream_close(s);
  if (rc == 0)
    rc = corio_stream_wait_closed(s);
  corio_stream_unref(s);
  /* The peer's reader ends at the close. */
  shutdown(sv[1], SHUT_RD);
  pthread_join(t, NULL);
  f->peer_got = r.got;
  f->peer_bad_at = r.bad_at;
  close(sv[1]);
  return rc;
}

static void walk_streaming(enum corio__fault_point point, long max_n) {
  if (peer_threads_hang())
    skip();
  for (long n = 1; n <= max_n; n++) {
    baseline b = baseline_now();
    struct faulted f = {.point = point, .n = n};
    corio_runner *runner = NULL;
    int rc;

    assert_int_equal(corio_runner_create_with(&runner, &uring_only), 0);
    rc = corio_runner_run(runner, faulted_body, &f, NULL);
    if (getenv("CORIO_TEST_VERBOSE"))
      fprintf(stderr, "after run: rc %d fired %d calls %ld body fired %d\n", rc,
              corio__fault_fired(point), corio__fault_calls(point), f.fired);
    /* Read before disarming, which forgets it (the body may not have
     * got to its own check: the loop stopped under it). */
    if (corio__fault_fired(point))
      f.fired = 1;
    corio__fault_arm(point, 0);
    (void)corio_runner_close(runner);
    if (getenv("CORIO_TEST_VERBOSE"))
      fprintf(stderr, "fault %d call %ld: fired %d rc %d peer got %zu\n",
              (int)point, n, f.fired, rc, f.peer_got);
    assert_true(f.peer_bad_at == (size_t)-1);
    assert_true(f.peer_got <= FAULT_BYTES);
    if (!f.fired && rc == 0) {
      assert_int_equal(f.peer_got, FAULT_BYTES);
      assert_back_to(b);
      return;
    }
    assert_back_to(b);
  }
}

static void test_fault_enter_while_streaming(void **state) {
  (void)state;
  walk_streaming(CORIO__FAULT_URING_ENTER, 400);
}

static void test_fault_alloc_while_streaming(void **state) {
  (void)state;
  walk_streaming(CORIO__FAULT_ALLOC, 400);
}

/* The provided buffers' registration fails (the first stream sets them
 * up): streams fall back to readiness on that loop, and still work. */
static int register_fault_body(void *arg, void **result) {
  corio_stream *s = NULL, *s2 = NULL;
  int sv[2], sv2[2];
  char buf[4];
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(make_pair(UNIX_PAIR, sv, 0), 0);
  CHECK_EQ(make_pair(UNIX_PAIR, sv2, 0), 0);
  corio__fault_arm(CORIO__FAULT_URING_REGISTER, 1);
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], NULL, &s), 0);
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_URING_REGISTER), 1);
  corio__fault_arm(CORIO__FAULT_URING_REGISTER, 0);
  CHECK_EQ(corio_stream_open_fd(NULL, sv2[0], NULL, &s2), 0);
  if (!s || !s2)
    return -1;
  CHECK_EQ(s->uring, 0);
  CHECK_EQ(s2->uring, 0); /* not tried again */
  CHECK_EQ(write(sv[1], "ping", 4), 4);
  CHECK_EQ(corio_stream_readexactly(s, buf, 4, &n), 0);
  CHECK_EQ(corio_stream_write_all(s2, "pong", 4), 0);
  CHECK_EQ(read(sv2[1], buf, 4), 4);
  CHECK_EQ(memcmp(buf, "pong", 4), 0);
  corio_stream_unref(s);
  corio_stream_unref(s2);
  close(sv[1]);
  close(sv2[1]);
  return 0;
}

static void test_fault_register_buffers(void **state) {
  baseline b = baseline_now();

  (void)state;
  assert_int_equal(run_uring(register_fault_body, NULL), 0);
  assert_checks_passed();
  assert_back_to(b);
}

/* ---- 9. write_eof and drain with queued sends --------------------------- */

/* write_eof while a send op is in flight (or, batched, only queued): the
 * peer gets every byte, then EOF; never EOF first. */
static int write_eof_body(void *arg, void **result) {
  int batch = (int)(intptr_t)arg;
  corio_connect_options o = {.flags = batch ? CORIO_NET_BATCH_WRITES : 0};
  struct pattern_reader r = {.id = 12, .chunk = 65536};
  unsigned char *data = malloc(BIG);
  corio_stream *s = NULL;
  struct peer_thread t;
  int sv[2];

  (void)result;
  if (!data)
    return -ENOMEM;
  pattern_fill(data, BIG, 12, 0);
  CHECK_EQ(make_pair(UNIX_PAIR, sv, 0), 0);
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], &o, &s), 0);
  if (!s)
    return -1;
  /* Small writes first: batched, they are queued, not sent. */
  CHECK_EQ(corio_stream_write(s, data, 100), 0);
  CHECK_EQ(corio_stream_write(s, data + 100, 900), 0);
  if (batch)
    CHECK_EQ(corio_stream_write_buffer_size(s), 1000);
  CHECK_EQ(corio_stream_write(s, data + 1000, BIG - 1000), 0);
  CHECK_EQ(corio_stream_write_eof(s), 0);
  CHECK_EQ(corio_stream_write(s, "x", 1), CORIO_EWRITEEOF);
  CHECK_TRUE(corio_stream_write_buffer_size(s) > 0);
  r.fd = sv[1];
  CHECK_EQ(peer_thread_start(&t, pattern_reader_main, &r), 0);
  /* drain returns at the low-water mark; the reader ends at our EOF,
   * which goes after the last byte. */
  CHECK_EQ(corio_stream_drain(s), 0);
  CHECK_EQ(peer_thread_wait(&t), 0);
  CHECK_EQ(r.got, BIG);
  CHECK_EQ(r.bad_at, (size_t)-1);
  CHECK_EQ(corio_stream_write_buffer_size(s), 0);
  WAIT_UNTIL(s->eof_sent);
  CHECK_TRUE(s->eof_sent);
  corio_stream_unref(s);
  close(sv[1]);
  free(data);
  return 0;
}

/* Drain with batched writes: a write below the high-water mark returns at
 * once (asyncio's drain), one above it waits until the send op took the
 * buffer to the low-water mark; write_buffer_size counts queued bytes. */
static int batch_drain_body(void *arg, void **result) {
  corio_connect_options o = {.flags = CORIO_NET_BATCH_WRITES};
  corio_stream *s = NULL;
  char buf[64];
  int sv[2];

  (void)arg, (void)result;
  CHECK_EQ(make_pair(UNIX_PAIR, sv, 0), 0);
  CHECK_EQ(corio_stream_open_fd(NULL, sv[0], &o, &s), 0);
  if (!s)
    return -1;
  CHECK_EQ(corio_stream_write(s, "hello", 5), 0);
  CHECK_EQ(corio_stream_write_buffer_size(s), 5);
  CHECK_EQ(drain_now(sv[1], buf, sizeof buf), 0); /* not sent yet */
  CHECK_EQ(corio_stream_drain(s), 0);             /* not paused */
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 8, 2), 0);
  CHECK_EQ(corio_stream_write(s, " world", 6), 0); /* 11 > 8: paused */
  CHECK_EQ(corio_stream_drain(s), 0);
  CHECK_TRUE(corio_stream_write_buffer_size(s) <= 2);
  WAIT_UNTIL(corio_stream_write_buffer_size(s) == 0);
  CHECK_EQ(drain_now(sv[1], buf, sizeof buf), 11);
  CHECK_EQ(memcmp(buf, "hello world", 11), 0);
  /* A batched write then close: the bytes leave before the close. */
  CHECK_EQ(corio_stream_write(s, "bye", 3), 0);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 3);
  CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 0);
  corio_stream_unref(s);
  close(sv[1]);
  return 0;
}

static void test_write_eof_and_drain(void **state) {
  baseline b = baseline_now();

  (void)state;
  for (int batch = 0; batch <= 1 && !corio_test_under_valgrind(); batch++) {
    assert_int_equal(run_uring(write_eof_body, CORIO_PTR(batch)), 0);
    assert_checks_passed();
  }
  assert_int_equal(run_uring(batch_drain_body, NULL), 0);
  assert_checks_passed();
  assert_back_to(b);
}

/* ---- 10. ops queued for an fd whose number is reused -------------------- */

/* A stream's recv (and a batched send) are queued as SQEs; the stream is
 * aborted before they reach the kernel, its fd closed, and a new
 * connection gets the same number. The old SQEs must not run on the new
 * connection: its peer must not receive the old stream's bytes, and the
 * new stream must get its own. Two ways to get there: the loop has not
 * waited yet (its ring is still disabled), or the submission that should
 * have carried the cancellations failed. */
struct reuse {
  corio_stream *b;
  int peer_b;
  int rc;
  char got[8];
};

static int read_b_body(void *arg, void **result) {
  struct reuse *c = arg;
  corio_timeout guard;
  size_t n = 0;

  (void)result;
  c->rc = corio_timeout_enter(&guard, 5);
  if (c->rc == 0)
    c->rc = corio_timeout_exit(&guard,
                               corio_stream_readexactly(c->b, c->got, 7, &n));
  return 0;
}

static void check_reuse(struct reuse *c, int peer_a) {
  char leak[32];
  ssize_t n = drain_now(c->peer_b, leak, sizeof leak);

  /* B's peer got nothing of A's; B read its own bytes. */
  if (n != 0)
    print_error("B's peer received %zd bytes: \"%.*s\"\n", n,
                n > 0 ? (int)n : 0, leak);
  assert_int_equal(n, 0);
  assert_int_equal(c->rc, 0);
  assert_memory_equal(c->got, "hello-b", 7);
  /* A's peer sees A closed. */
  assert_true(peer_sees_end(peer_a));
}

static void test_fd_reused_before_first_wait(void **state) {
  baseline b = baseline_now();
  corio_connect_options batch = {.flags = CORIO_NET_BATCH_WRITES};
  corio_runner *runner = NULL;
  corio_stream *a = NULL;
  struct reuse c = {0};
  int pa[2], pb[2];

  (void)state;
  assert_int_equal(corio_runner_create_with(&runner, &uring_only), 0);
  assert_int_equal(make_pair(UNIX_PAIR, pa, 0), 0);
  assert_int_equal(
      corio_stream_open_fd(corio_runner_loop(runner), pa[0], &batch, &a), 0);
  assert_true(a->uring);
  assert_int_equal(corio_stream_write(a, "SECRET-A", 8), 0);
  assert_int_equal(corio_stream_abort(a), 0);
  corio_stream_unref(a);
  assert_int_equal(make_pair(UNIX_PAIR, pb, 0), 0);
  assert_int_equal(pb[0], pa[0]); /* the number is reused */
  c.peer_b = pb[1];
  assert_int_equal(write(pb[1], "hello-b", 7), 7);
  assert_int_equal(
      corio_stream_open_fd(corio_runner_loop(runner), pb[0], NULL, &c.b), 0);
  assert_int_equal(corio_runner_run(runner, read_b_body, &c, NULL), 0);
  corio_stream_unref(c.b);
  assert_int_equal(corio_runner_close(runner), 0);
  check_reuse(&c, pa[1]);
  close(pa[1]);
  close(pb[1]);
  assert_back_to(b);
}

/* A loop that never ran, closed with a stream whose recv never reached
 * the kernel: the stream (and the loop's memory it holds) must go. */
static void test_loop_never_run(void **state) {
  baseline b = baseline_now();
  corio_loop *loop = NULL;
  corio_stream *s = NULL;
  int sv[2];

  (void)state;
  assert_int_equal(corio_loop_create_with(&loop, &uring_only), 0);
  assert_int_equal(make_pair(UNIX_PAIR, sv, 0), 0);
  assert_int_equal(corio_stream_open_fd(loop, sv[0], NULL, &s), 0);
  assert_true(s->uring);
  corio_stream_unref(s);
  corio_loop_unref(loop);
  close(sv[1]);
  assert_back_to(b);
}

static int reuse_after_failed_flush_body(void *arg, void **result) {
  struct reuse *c = arg;
  corio_connect_options batch = {.flags = CORIO_NET_BATCH_WRITES};
  corio_stream *a = NULL;
  int pa[2], pb[2];

  (void)result;
  CHECK_EQ(make_pair(UNIX_PAIR, pa, 0), 0);
  CHECK_EQ(corio_stream_open_fd(NULL, pa[0], &batch, &a), 0);
  if (!a)
    return -1;
  CHECK_EQ(yield_n(2), 0); /* its recv is in the kernel */
  CHECK_EQ(corio_stream_write(a, "SECRET-A", 8), 0); /* queued */
  /* The enter that submits the cancellations fails. */
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 1);
  CHECK_EQ(corio_stream_abort(a), 0);
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_URING_ENTER), 1);
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 0);
  corio_stream_unref(a);
  CHECK_EQ(make_pair(UNIX_PAIR, pb, 0), 0);
  CHECK_EQ(pb[0], pa[0]);
  c->peer_b = pb[1];
  CHECK_EQ(write(pb[1], "hello-b", 7), 7);
  CHECK_EQ(corio_stream_open_fd(NULL, pb[0], NULL, &c->b), 0);
  read_b_body(c, NULL);
  corio_stream_unref(c->b);
  CHECK_TRUE(peer_ends(pa[1]));
  close(pa[1]);
  return 0;
}

static void test_fd_reused_after_failed_flush(void **state) {
  baseline b = baseline_now();
  struct reuse c = {0};
  char leak[32];
  ssize_t n;

  (void)state;
  assert_int_equal(run_uring(reuse_after_failed_flush_body, &c), 0);
  assert_checks_passed();
  n = drain_now(c.peer_b, leak, sizeof leak);
  if (n != 0)
    print_error("B's peer received %zd bytes: \"%.*s\"\n", n,
                n > 0 ? (int)n : 0, leak);
  assert_int_equal(n, 0);
  assert_int_equal(c.rc, 0);
  assert_memory_equal(c.got, "hello-b", 7);
  close(c.peer_b);
  assert_back_to(b);
}

/* ---- 11. more ops than the submission queue holds ----------------------- */

/* 600 streams opened at once (the queue has 512 entries): before the
 * loop's first wait, and from a task in one iteration. Each stream's recv
 * is queued; every stream must open and read its peer's bytes. */
enum { MANY = 600 };

struct many {
  corio_stream *s[MANY];
  int peer[MANY];
  int opened;
};

static int many_read_body(void *arg, void **result) {
  struct many *m = arg;

  (void)result;
  for (int i = 0; i < m->opened; i++) {
    char buf[4];
    size_t n = 0;

    CHECK_EQ(write(m->peer[i], "ping", 4), 4);
    CHECK_EQ(corio_stream_readexactly(m->s[i], buf, 4, &n), 0);
  }
  return 0;
}

static int many_open_body(void *arg, void **result) {
  struct many *m = arg;

  (void)result;
  for (int i = 0; i < MANY; i++) {
    int sv[2];

    CHECK_EQ(make_pair(UNIX_PAIR, sv, 0), 0);
    m->peer[i] = sv[1];
    CHECK_EQ(corio_stream_open_fd(NULL, sv[0], NULL, &m->s[i]), 0);
    if (!m->s[i]) {
      close(sv[1]);
      break;
    }
    m->opened++;
  }
  return many_read_body(m, NULL);
}

static void many_finish(struct many *m) {
  for (int i = 0; i < m->opened; i++) {
    corio_stream_unref(m->s[i]);
    close(m->peer[i]);
  }
}

static void test_more_ops_than_the_queue(void **state) {
  baseline b = baseline_now();
  struct many *m = calloc(1, sizeof *m);
  corio_runner *runner = NULL;
  int rc = 0;

  (void)state;
  assert_non_null(m);
  assert_int_equal(run_uring(many_open_body, m), 0);
  assert_checks_passed();
  assert_int_equal(m->opened, MANY);
  many_finish(m);
  /* Before the first wait (the ring is not enabled yet). */
  memset(m, 0, sizeof *m);
  assert_int_equal(corio_runner_create_with(&runner, &uring_only), 0);
  for (int i = 0; i < MANY; i++) {
    int sv[2];

    assert_int_equal(make_pair(UNIX_PAIR, sv, 0), 0);
    rc = corio_stream_open_fd(corio_runner_loop(runner), sv[0], NULL, &m->s[i]);
    if (rc < 0) {
      close(sv[1]);
      break;
    }
    m->peer[i] = sv[1];
    m->opened++;
  }
  if (rc < 0)
    print_error("stream %d of %d before the first wait: %s\n", m->opened + 1,
                MANY, corio_strerror(rc));
  assert_int_equal(corio_runner_run(runner, many_read_body, m, NULL), 0);
  many_finish(m);
  assert_int_equal(corio_runner_close(runner), 0);
  free(m);
  assert_int_equal(rc, 0);
  assert_checks_passed();
  assert_back_to(b);
}

/* ---- main ---------------------------------------------------------------- */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_cancelled_readers, reset_checks),
      cmocka_unit_test_setup(test_pause_resume_bounded, reset_checks),
      cmocka_unit_test_setup(test_send_inflight_endings, reset_checks),
      cmocka_unit_test_setup(test_loop_close_with_ops, reset_checks),
      cmocka_unit_test_setup(test_corio_run_ends_with_ops, reset_checks),
      cmocka_unit_test_setup(test_last_ref_in_read_path, reset_checks),
      cmocka_unit_test_setup(test_server_close_while_accepting, reset_checks),
      cmocka_unit_test_setup(test_stop_serving_keeps_accepted, reset_checks),
      cmocka_unit_test_setup(test_provided_buffers_exhausted, reset_checks),
#ifdef CORIO_TEST_TLS
      cmocka_unit_test_setup(test_start_tls, reset_checks),
#endif
      cmocka_unit_test_setup(test_fault_enter_while_streaming, reset_checks),
      cmocka_unit_test_setup(test_fault_alloc_while_streaming, reset_checks),
      cmocka_unit_test_setup(test_fault_register_buffers, reset_checks),
      cmocka_unit_test_setup(test_write_eof_and_drain, reset_checks),
      cmocka_unit_test_setup(test_fd_reused_before_first_wait, reset_checks),
      cmocka_unit_test_setup(test_loop_never_run, reset_checks),
      cmocka_unit_test_setup(test_fd_reused_after_failed_flush, reset_checks),
      cmocka_unit_test_setup(test_more_ops_than_the_queue, reset_checks),
  };
  int rc = corio_test_uring_refused();

  if (rc < 0) {
    printf("io_uring loops refused: %s (%d); skipped\n", corio_strerror(rc),
           rc);
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  /* One case by name (a glob), for a closer look. */
  if (getenv("CORIO_TEST_FILTER"))
    cmocka_set_test_filter(getenv("CORIO_TEST_FILTER"));
#ifdef CORIO_TEST_TLS
  if (certs_setup(NULL) != 0)
    return 1;
#endif
  rc = cmocka_run_group_tests(tests, NULL, NULL);
#ifdef CORIO_TEST_TLS
  certs_teardown(NULL);
#endif
  return rc;
}
