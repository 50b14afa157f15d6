/* The readiness backends through their ops tables: every test runs once
 * per backend (epoll, poll, io_uring; io_uring's are skipped where the
 * kernel refuses it), and where they differ by design (regular files, fds
 * closed while watched) each one's behaviour is checked. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "loop/poller.h"
#include "support.h"

enum { IN = CORIO__POLL_IN, OUT = CORIO__POLL_OUT, MAXEV = 1024 };

/* cmocka hands the state over as void *: a mutable wrapper per backend. */
typedef struct backend {
  const corio__poller_ops *ops;
} backend;

static backend epoll_backend = {&corio__poller_epoll};
static backend poll_backend = {&corio__poller_poll};
static backend uring_backend = {&corio__poller_uring};

/* io_uring's cases are skipped, saying why, where the kernel refuses a
 * ring (checked once). */
static int uring_refused(void) {
  static int checked, refused;
  struct corio__poller *p;

  if (!checked) {
    checked = 1;
    refused = corio__poller_uring.create(&p);
    if (refused < 0)
      print_message("io_uring refused: %s\n", strerror(-refused));
    else
      corio__poller_uring.destroy(p);
  }
  return refused < 0;
}

static const corio__poller_ops *ops_of(void **state) {
  const corio__poller_ops *ops = ((backend *)*state)->ops;

  if (ops == &corio__poller_uring && uring_refused())
    skip();
  return ops;
}

static int is_epoll(const corio__poller_ops *ops) {
  return ops == &corio__poller_epoll;
}

static int is_uring(const corio__poller_ops *ops) {
  return ops == &corio__poller_uring;
}

static int64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void make_pipe(int fds[2]) { assert_int_equal(pipe(fds), 0); }

static void put_byte(int fd) { assert_int_equal(write(fd, "x", 1), 1); }

static void take_byte(int fd) {
  char c;

  assert_int_equal(read(fd, &c, 1), 1);
}

/* Waits once and expects exactly the given (fd, events) pairs, in any
 * order. */
static void expect_ready(const corio__poller_ops *ops, struct corio__poller *p,
                         int64_t timeout_ns, int n, const int *fds,
                         const unsigned *evs) {
  corio__poll_event got[MAXEV];
  int rc = ops->wait(p, timeout_ns, got, MAXEV);

  assert_int_equal(rc, n);
  for (int i = 0; i < n; i++) {
    int found = 0;

    for (int j = 0; j < rc; j++) {
      if (got[j].fd == fds[i]) {
        assert_int_equal(got[j].events, evs[i]);
        found++;
      }
    }
    assert_int_equal(found, 1);
  }
}

static void expect_none(const corio__poller_ops *ops, struct corio__poller *p) {
  expect_ready(ops, p, 0, 0, NULL, NULL);
}

static void expect_one(const corio__poller_ops *ops, struct corio__poller *p,
                       int fd, unsigned events) {
  expect_ready(ops, p, 0, 1, &fd, &events);
}

static void test_add_mod_del(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  corio_test_usage before = corio_test_usage_now();
  struct corio__poller *p;
  int fds[2];

  make_pipe(fds);
  assert_int_equal(ops->create(&p), 0);
  /* An empty pipe: registered, nothing ready. */
  assert_int_equal(ops->set(p, fds[0], 0, IN), 0);
  expect_none(ops, p);
  /* Readable after a write, and stays so (level-triggered) until read. */
  put_byte(fds[1]);
  expect_one(ops, p, fds[0], IN);
  expect_one(ops, p, fds[0], IN);
  take_byte(fds[0]);
  expect_none(ops, p);
  /* Removed: a byte no longer reports it. */
  put_byte(fds[1]);
  assert_int_equal(ops->set(p, fds[0], IN, 0), 0);
  expect_none(ops, p);
  /* The write end: writable; changed to IN it never becomes readable;
   * changed back it is writable again. */
  assert_int_equal(ops->set(p, fds[1], 0, OUT), 0);
  expect_one(ops, p, fds[1], OUT);
  assert_int_equal(ops->set(p, fds[1], OUT, IN), 0);
  expect_none(ops, p);
  assert_int_equal(ops->set(p, fds[1], IN, OUT), 0);
  expect_one(ops, p, fds[1], OUT);
  /* Unchanged interest and removal of what is not there are no-ops. */
  assert_int_equal(ops->set(p, fds[1], OUT, OUT), 0);
  assert_int_equal(ops->set(p, fds[0], 0, 0), 0);
  assert_int_equal(ops->set(p, fds[1], OUT, 0), 0);
  expect_none(ops, p);
  ops->destroy(p);
  close(fds[0]);
  close(fds[1]);
  corio_test_assert_no_leak(before);
}

static void test_in_and_out_together(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int sv[2];

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, sv[0], 0, IN | OUT), 0);
  expect_one(ops, p, sv[0], OUT);
  put_byte(sv[1]);
  /* One event per fd carries both. */
  expect_one(ops, p, sv[0], IN | OUT);
  assert_int_equal(ops->set(p, sv[0], IN | OUT, IN), 0);
  expect_one(ops, p, sv[0], IN);
  ops->destroy(p);
  close(sv[0]);
  close(sv[1]);
}

static void test_hangup_reports_what_was_asked(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int a[2], b[2];

  make_pipe(a);
  make_pipe(b);
  assert_int_equal(ops->create(&p), 0);
  /* Write end closed: the reader is told IN, and read() returns 0. */
  assert_int_equal(ops->set(p, a[0], 0, IN), 0);
  close(a[1]);
  expect_one(ops, p, a[0], IN);
  assert_int_equal(ops->set(p, a[0], IN, 0), 0);
  /* Read end closed: the writer is told OUT, and write() fails EPIPE.
   * IN was not asked for, so the error is not reported as IN. */
  assert_int_equal(ops->set(p, b[1], 0, OUT), 0);
  close(b[0]);
  expect_one(ops, p, b[1], OUT);
  ops->destroy(p);
  close(a[0]);
  close(b[1]);
}

static void test_only_asked_events_are_reported(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int sv[2];

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(ops->create(&p), 0);
  /* Writable, but only IN is asked for. */
  assert_int_equal(ops->set(p, sv[0], 0, IN), 0);
  expect_none(ops, p);
  /* The peer gone: HUP maps onto IN only. */
  close(sv[1]);
  expect_one(ops, p, sv[0], IN);
  ops->destroy(p);
  close(sv[0]);
}

/* The timed waits run on a thread of their own, which makes its poller
 * itself: closing an io_uring ring makes the kernel interrupt the next
 * blocking wait of the threads attached to it (its exit work runs task
 * work in each, which ends an epoll_wait with EINTR), and the rings of
 * the cases before must not cut these waits short. */
struct timed_waits {
  const corio__poller_ops *ops;
  int bad_rc;    /* a wait that did not return 0 */
  int64_t early; /* the timeout of a wait that came back early */
};

static void check_timeout(struct timed_waits *t, struct corio__poller *p,
                          int64_t ns) {
  corio__poll_event ev[4];
  int64_t t0 = now_ns(), took;

  /* Timed out (nothing was ready), and not early. How late is up to the
   * machine's load: no upper bound (a wait that never ends hangs the test,
   * which ctest's timeout reports). */
  if (t->ops->wait(p, ns, ev, 4) != 0)
    t->bad_rc = 1;
  took = now_ns() - t0;
  if (took < ns)
    t->early = ns;
}

static void *timed_waits(void *arg) {
  struct timed_waits *t = arg;
  struct corio__poller *p;
  int fds[2];

  if (pipe(fds) != 0 || t->ops->create(&p) != 0) {
    t->bad_rc = 1;
    return NULL;
  }
  /* Nothing watched at all. */
  check_timeout(t, p, 20000000);
  /* An idle fd watched; not whole milliseconds (epoll rounds up). */
  if (t->ops->set(p, fds[0], 0, IN) != 0)
    t->bad_rc = 1;
  check_timeout(t, p, 20000000);
  check_timeout(t, p, 1500000);
  check_timeout(t, p, 1);
  check_timeout(t, p, 3999999);
  t->ops->destroy(p);
  close(fds[0]);
  close(fds[1]);
  return NULL;
}

static void test_timeout_is_never_early(void **state) {
  struct timed_waits t = {ops_of(state), 0, 0};
  pthread_t thread;

  assert_int_equal(pthread_create(&thread, NULL, timed_waits, &t), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(t.bad_rc, 0);
  assert_int_equal(t.early, 0);
}

static void test_zero_and_infinite_timeouts(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  corio__poll_event ev[4];
  struct corio__poller *p;
  int fds[2];

  make_pipe(fds);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, fds[0], 0, IN), 0);
  /* Zero: returns with nothing ready (a zero treated as "no limit" would
   * hang here, which ctest's timeout reports; how fast it returns is up to
   * the machine's load, so it is not timed). */
  for (int i = 0; i < 10; i++)
    assert_int_equal(ops->wait(p, 0, ev, 4), 0);
  /* No limit, but something is ready: returns at once. */
  put_byte(fds[1]);
  assert_int_equal(ops->wait(p, -1, ev, 4), 1);
  assert_int_equal(ev[0].fd, fds[0]);
  /* Huge timeouts are capped, not wrapped into the past. */
  assert_int_equal(ops->wait(p, INT64_MAX, ev, 4), 1);
  /* max must leave room for one event. */
  assert_int_equal(ops->wait(p, 0, ev, 0), -EINVAL);
  ops->destroy(p);
  close(fds[0]);
  close(fds[1]);
}

static void on_alarm(int sig) { (void)sig; }

static void test_signal_interrupts_with_zero(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  /* Every 20 ms, not once: a single signal could come before the wait
   * starts if this thread is preempted meanwhile, and the wait would then
   * block forever. */
  struct itimerval it = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
  struct sigaction sa, old;
  corio__poll_event ev[4];
  struct corio__poller *p;
  int fds[2];

  /* Valgrind (3.19) delivers no signal while io_uring_enter waits. */
  if (is_uring(ops) && corio_test_under_valgrind())
    skip();
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
  make_pipe(fds);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, fds[0], 0, IN), 0);
  assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
  /* Would block forever; the signal ends it as "nothing ready". */
  assert_int_equal(ops->wait(p, -1, ev, 4), 0);
  /* Disarmed before the default disposition (which would kill) is back. */
  assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
  ops->destroy(p);
  close(fds[0]);
  close(fds[1]);
  assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

static void test_closed_fd_is_refused(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int fds[2];

  /* The poller first: its own fd must not take the closed number. */
  assert_int_equal(ops->create(&p), 0);
  make_pipe(fds);
  close(fds[0]);
  close(fds[1]);
  if (is_uring(ops)) {
    /* io_uring only queues the poll request: the kernel's -EBADF comes
     * with its completion, which ends the watch unreported. (The loop
     * checks a new fd itself before it gets here.) */
    assert_int_equal(ops->set(p, fds[0], 0, IN), 0);
    expect_none(ops, p);
  } else {
    assert_int_equal(ops->set(p, fds[0], 0, IN), -EBADF);
  }
  assert_int_equal(ops->set(p, -1, 0, IN), -EBADF);
  /* Removing a closed fd succeeds: it is not watched either way. */
  assert_int_equal(ops->set(p, fds[0], IN, 0), 0);
  expect_none(ops, p);
  ops->destroy(p);
}

/* Closed without being removed first: epoll forgets it (no event), poll
 * reports POLLNVAL as readiness so the owner notices, io_uring's poll
 * request holds the file open (no event: nothing happens to it). Removal
 * then succeeds in all three. */
static void test_fd_closed_while_watched(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int fds[2];

  make_pipe(fds);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, fds[0], 0, IN), 0);
  close(fds[0]);
  if (is_epoll(ops) || is_uring(ops))
    expect_none(ops, p);
  else
    expect_one(ops, p, fds[0], IN);
  assert_int_equal(ops->set(p, fds[0], IN, 0), 0);
  expect_none(ops, p);
  ops->destroy(p);
  close(fds[1]);
}

/* A caller that lost track: adding what is there changes it, changing
 * what is not there adds it. */
static void test_stale_old_interest_is_tolerated(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int fds[2];

  make_pipe(fds);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, fds[1], IN, OUT), 0);
  expect_one(ops, p, fds[1], OUT);
  assert_int_equal(ops->set(p, fds[1], 0, IN), 0);
  expect_none(ops, p);
  ops->destroy(p);
  close(fds[0]);
  close(fds[1]);
}

static void test_regular_file(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  FILE *f = tmpfile();
  int fd;

  assert_non_null(f);
  fd = fileno(f);
  assert_int_equal(ops->create(&p), 0);
  if (is_epoll(ops)) {
    /* epoll cannot watch files: the caller does the I/O directly. */
    assert_int_equal(ops->set(p, fd, 0, IN), -EPERM);
    expect_none(ops, p);
  } else {
    /* poll says a file is always ready, as POSIX has it; so does
     * io_uring's poll request. */
    assert_int_equal(ops->set(p, fd, 0, IN | OUT), 0);
    expect_one(ops, p, fd, IN | OUT);
    assert_int_equal(ops->set(p, fd, IN | OUT, 0), 0);
  }
  ops->destroy(p);
  fclose(f);
}

/* The peer of a socket sees it closed: within a bounded wait (the
 * kernel may release a file asynchronously), else the test fails. */
static void expect_peer_sees_close(int peer) {
  struct pollfd pfd = {.fd = peer, .events = POLLIN};

  assert_int_equal(poll(&pfd, 1, 5000), 1);
  assert_true(pfd.revents & (POLLHUP | POLLIN));
  assert_int_equal(read(peer, &pfd, 1), 0);
}

/* A watch holds nothing once removed: the caller's close reaches the
 * peer, whatever the backend (io_uring's poll request holds the file
 * until its removal is submitted). */
static void test_removed_fd_closes_for_real(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int sv[2];

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, sv[0], 0, IN), 0);
  expect_none(ops, p);
  assert_int_equal(ops->set(p, sv[0], IN, 0), 0);
  close(sv[0]);
  expect_peer_sees_close(sv[1]);
  ops->destroy(p);
  close(sv[1]);
}

/* Nor once the poller is gone, even for fds still watched (a loop
 * closed with watchers left): after a wait (which, with io_uring,
 * enables the ring and registers its fd with this thread) and without
 * one. */
static void test_destroy_releases_watched_fds(void **state) {
  const corio__poller_ops *ops = ops_of(state);

  for (int waited = 0; waited < 2; waited++) {
    struct corio__poller *p;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(ops->create(&p), 0);
    assert_int_equal(ops->set(p, sv[0], 0, IN), 0);
    if (waited)
      expect_none(ops, p);
    ops->destroy(p);
    close(sv[0]);
    expect_peer_sees_close(sv[1]);
    close(sv[1]);
  }
}

enum { MANY = 300 };

typedef struct many {
  int fds[MANY][2];
} many;

static void open_many(many *m) {
  for (int i = 0; i < MANY; i++)
    make_pipe(m->fds[i]);
}

static void close_many(many *m) {
  for (int i = 0; i < MANY; i++) {
    close(m->fds[i][0]);
    close(m->fds[i][1]);
  }
}

/* Every third pipe gets a byte; exactly those are reported. Then every
 * other one is removed (moving slots around in poll's array) and only the
 * rest are reported. */
static void test_many_fds(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  corio_test_usage before = corio_test_usage_now();
  static corio__poll_event ev[MAXEV];
  static char seen[1 << 16];
  struct corio__poller *p;
  static many m;
  int n;

  open_many(&m);
  assert_int_equal(ops->create(&p), 0);
  for (int i = 0; i < MANY; i++)
    assert_int_equal(ops->set(p, m.fds[i][0], 0, IN), 0);
  expect_none(ops, p);
  for (int i = 0; i < MANY; i += 3)
    put_byte(m.fds[i][1]);
  n = ops->wait(p, 0, ev, MAXEV);
  assert_int_equal(n, MANY / 3);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < n; i++) {
    assert_int_equal(ev[i].events, IN);
    seen[ev[i].fd] = 1;
  }
  for (int i = 0; i < MANY; i++)
    assert_int_equal(seen[m.fds[i][0]], i % 3 == 0);
  /* Remove the even ones, from the front, so that poll's array is
   * reshuffled by the swap-removals; then make every pipe ready. */
  for (int i = 0; i < MANY; i += 2)
    assert_int_equal(ops->set(p, m.fds[i][0], IN, 0), 0);
  for (int i = 0; i < MANY; i++)
    if (i % 3)
      put_byte(m.fds[i][1]);
  n = ops->wait(p, 0, ev, MAXEV);
  assert_int_equal(n, MANY / 2);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < n; i++)
    seen[ev[i].fd]++;
  for (int i = 0; i < MANY; i++)
    assert_int_equal(seen[m.fds[i][0]], i % 2);
  ops->destroy(p);
  close_many(&m);
  corio_test_assert_no_leak(before);
}

/* More ready fds than `max`, and all stay ready (nothing is read): a
 * run of small waits still goes round every one of them before it
 * repeats any. */
static void test_small_batches_are_fair(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  static char seen[1 << 16];
  corio__poll_event ev[7];
  struct corio__poller *p;
  static many m;
  int distinct = 0;

  open_many(&m);
  assert_int_equal(ops->create(&p), 0);
  for (int i = 0; i < MANY; i++) {
    assert_int_equal(ops->set(p, m.fds[i][0], 0, IN), 0);
    put_byte(m.fds[i][1]);
  }
  memset(seen, 0, sizeof seen);
  for (int round = 0; round < MANY / 7; round++) {
    assert_int_equal(ops->wait(p, 0, ev, 7), 7);
    for (int i = 0; i < 7; i++) {
      assert_int_equal(seen[ev[i].fd], 0);
      seen[ev[i].fd] = 1;
      distinct++;
    }
  }
  /* The last round: the remaining 6, then the first one again. */
  assert_int_equal(ops->wait(p, 0, ev, 7), 7);
  for (int i = 0; i < 7; i++)
    distinct += !seen[ev[i].fd]++;
  assert_int_equal(distinct, MANY);
  ops->destroy(p);
  close_many(&m);
}

/* Many fds watched before the first wait (as a loop gets its watchers
 * before it first runs), more than io_uring's submission queue holds
 * (512), then all made ready: every one is reported, in batches of at
 * most 256, within a few waits. */
enum { MORE = 700 };

static void test_many_fds_before_the_first_wait(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  static corio__poll_event ev[256];
  static int fds[MORE][2];
  static char seen[1 << 16];
  struct corio__poller *p;
  int distinct = 0;

  assert_int_equal(ops->create(&p), 0);
  for (int i = 0; i < MORE; i++) {
    make_pipe(fds[i]);
    assert_int_equal(ops->set(p, fds[i][0], 0, IN), 0);
  }
  for (int i = 0; i < MORE; i++)
    put_byte(fds[i][1]);
  memset(seen, 0, sizeof seen);
  /* Level-triggered, nothing read: each wait may repeat fds already
   * seen, but every backend goes round them all before long. */
  for (int round = 0; round < 16 && distinct < MORE; round++) {
    int n = ops->wait(p, -1, ev, 256);

    assert_true(n >= 1 && n <= 256);
    for (int i = 0; i < n; i++) {
      assert_int_equal(ev[i].events, IN);
      distinct += !seen[ev[i].fd]++;
    }
  }
  assert_int_equal(distinct, MORE);
  ops->destroy(p);
  for (int i = 0; i < MORE; i++) {
    close(fds[i][0]);
    close(fds[i][1]);
  }
}

/* A high fd number makes poll's map grow past it in one step. */
static void test_high_fd_number(void **state) {
  const corio__poller_ops *ops = ops_of(state);
  struct corio__poller *p;
  int fds[2], high = 900;

  make_pipe(fds);
  assert_int_equal(dup2(fds[0], high), high);
  assert_int_equal(ops->create(&p), 0);
  assert_int_equal(ops->set(p, high, 0, IN), 0);
  put_byte(fds[1]);
  expect_one(ops, p, high, IN);
  assert_int_equal(ops->set(p, high, IN, 0), 0);
  ops->destroy(p);
  close(high);
  close(fds[0]);
  close(fds[1]);
}

/* ---- fault injection ---- */

typedef struct fault_ctx {
  const corio__poller_ops *ops;
  int fds[2];
} fault_ctx;

/* create + destroy. */
static int life_create(void *arg) {
  fault_ctx *c = arg;
  struct corio__poller *p;
  int rc = c->ops->create(&p);

  if (rc < 0)
    return rc;
  c->ops->destroy(p);
  return 0;
}

/* A full life: create, add, change, wait, remove. A failure part-way
 * tears down and reports it. */
static int life_full(void *arg) {
  fault_ctx *c = arg;
  corio__poll_event ev[4];
  struct corio__poller *p;
  int rc = c->ops->create(&p);

  if (rc < 0)
    return rc;
  rc = c->ops->set(p, c->fds[0], 0, IN);
  if (rc == 0)
    rc = c->ops->set(p, c->fds[1], 0, OUT);
  if (rc == 0)
    rc = c->ops->set(p, c->fds[1], OUT, IN);
  if (rc == 0) {
    rc = c->ops->wait(p, 0, ev, 4);
    /* The byte put in beforehand. */
    if (rc >= 0) {
      assert_int_equal(rc, 1);
      rc = c->ops->set(p, c->fds[0], IN, 0);
    }
  }
  if (rc == 0)
    rc = c->ops->set(p, c->fds[1], IN, 0);
  c->ops->destroy(p);
  return rc;
}

static many fault_many;

/* Growth of poll's arrays: 300 fds, added and removed. */
static int life_many(void *arg) {
  fault_ctx *c = arg;
  corio__poll_event ev[4];
  struct corio__poller *p;
  int rc = c->ops->create(&p), added = 0;

  if (rc < 0)
    return rc;
  for (; added < MANY; added++) {
    rc = c->ops->set(p, fault_many.fds[added][0], 0, IN);
    if (rc < 0)
      break;
  }
  /* What was added is watched and works, whatever failed after it. */
  if (added > 0) {
    put_byte(fault_many.fds[0][1]);
    assert_int_equal(c->ops->wait(p, 0, ev, 4), 1);
    assert_int_equal(ev[0].fd, fault_many.fds[0][0]);
    take_byte(fault_many.fds[0][0]);
  }
  for (int i = 0; i < added; i++)
    assert_int_equal(c->ops->set(p, fault_many.fds[i][0], IN, 0), 0);
  c->ops->destroy(p);
  return rc;
}

static int expected_rc;

static void exactly_expected(int rc) { assert_int_equal(rc, expected_rc); }

static long walk(enum corio__fault_point point, corio_test_op op, fault_ctx *c,
                 int rc) {
  int fds_before = corio_test_open_fds();
  long walked;

  expected_rc = rc;
  walked = corio_test_fault_walk(point, op, c, exactly_expected);
  assert_int_equal(corio_test_open_fds(), fds_before);
  return walked;
}

static void test_faults_epoll(void **state) {
  fault_ctx c = {&corio__poller_epoll, {-1, -1}};
  corio__poll_event ev[4];
  struct corio__poller *p;
  (void)state;

  make_pipe(c.fds);
  put_byte(c.fds[1]);
  assert_int_equal(walk(CORIO__FAULT_ALLOC, life_create, &c, -ENOMEM), 1);
  assert_int_equal(walk(CORIO__FAULT_EPOLL_CREATE, life_create, &c, -EMFILE),
                   1);
  /* add, add, change, remove, remove. */
  assert_int_equal(walk(CORIO__FAULT_EPOLL_CTL, life_full, &c, -ENOMEM), 5);
  /* An interrupted wait is "nothing ready". */
  assert_int_equal(c.ops->create(&p), 0);
  assert_int_equal(c.ops->set(p, c.fds[0], 0, IN), 0);
  corio__fault_arm(CORIO__FAULT_EPOLL_WAIT, 1);
  assert_int_equal(c.ops->wait(p, -1, ev, 4), 0);
  assert_true(corio__fault_fired(CORIO__FAULT_EPOLL_WAIT));
  corio__fault_arm(CORIO__FAULT_EPOLL_WAIT, 0);
  assert_int_equal(c.ops->wait(p, -1, ev, 4), 1);
  c.ops->destroy(p);
  close(c.fds[0]);
  close(c.fds[1]);
}

static void test_faults_poll(void **state) {
  fault_ctx c = {&corio__poller_poll, {-1, -1}};
  corio__poll_event ev[4];
  struct corio__poller *p;
  long walked;
  (void)state;

  make_pipe(c.fds);
  put_byte(c.fds[1]);
  assert_int_equal(walk(CORIO__FAULT_ALLOC, life_create, &c, -ENOMEM), 1);
  /* The poller, the fd map, the pollfd array. */
  assert_int_equal(walk(CORIO__FAULT_ALLOC, life_full, &c, -ENOMEM), 3);
  /* Only additions look at the fd. */
  assert_int_equal(walk(CORIO__FAULT_FCNTL, life_full, &c, -EBADF), 2);
  /* A failed poll is an error, not a timeout. */
  assert_int_equal(walk(CORIO__FAULT_POLL, life_full, &c, -ENOMEM), 1);
  open_many(&fault_many);
  walked = walk(CORIO__FAULT_ALLOC, life_many, &c, -ENOMEM);
  /* The poller plus a few doublings of each array. */
  assert_true(walked >= 5 && walked <= 20);
  close_many(&fault_many);
  /* And it still works afterwards. */
  assert_int_equal(c.ops->create(&p), 0);
  assert_int_equal(c.ops->set(p, c.fds[0], 0, IN), 0);
  assert_int_equal(c.ops->wait(p, 0, ev, 4), 1);
  c.ops->destroy(p);
  close(c.fds[0]);
  close(c.fds[1]);
}

static int tolerated_rc;

/* The expected error, or 0 where the failing call is optional. */
static void expected_or_tolerated(int rc) {
  if (rc != 0)
    assert_int_equal(rc, tolerated_rc);
}

/* io_uring: setup refused (-ENOSYS) and the probe (-ENOMEM) fail create;
 * enabling the ring (its first wait) fails the wait; registering its fd
 * is optional; a failed submission fails the wait, or the removal whose
 * submission it was. Each leaves nothing behind, fds included. */
static void test_faults_uring(void **state) {
  fault_ctx c = {&corio__poller_uring, {-1, -1}};
  static backend self = {&corio__poller_uring};
  void *backend_state = &self;
  corio__poll_event ev[4];
  struct corio__poller *p;
  long walked;
  int fds_before;
  (void)state;

  (void)ops_of(&backend_state); /* skips where io_uring is refused */
  make_pipe(c.fds);
  put_byte(c.fds[1]);
  /* The poller, the probe's buffer. */
  assert_int_equal(walk(CORIO__FAULT_ALLOC, life_create, &c, -ENOMEM), 2);
  assert_int_equal(walk(CORIO__FAULT_URING_SETUP, life_create, &c, -ENOSYS), 1);
  assert_int_equal(walk(CORIO__FAULT_URING_REGISTER, life_create, &c, -ENOMEM),
                   1);
  /* The probe, enabling the ring, then optional ones (registering its
   * fd; unregistering it at the end). */
  tolerated_rc = -ENOMEM;
  fds_before = corio_test_open_fds();
  walked = corio_test_fault_walk(CORIO__FAULT_URING_REGISTER, life_full, &c,
                                 expected_or_tolerated);
  assert_true(walked >= 3);
  assert_int_equal(corio_test_open_fds(), fds_before);
  /* The wait's enter, then the removal of the fd whose request is still
   * in flight (the readable one's completed: nothing to submit). */
  assert_true(walk(CORIO__FAULT_URING_ENTER, life_full, &c, -EAGAIN) >= 2);
  /* The poller, the probe, then the tables' growth. */
  assert_true(walk(CORIO__FAULT_ALLOC, life_full, &c, -ENOMEM) >= 3);
  open_many(&fault_many);
  walked = walk(CORIO__FAULT_ALLOC, life_many, &c, -ENOMEM);
  assert_true(walked >= 4 && walked <= 20);
  close_many(&fault_many);
  /* A failed wait leaves the ring usable: the next one reports. */
  assert_int_equal(c.ops->create(&p), 0);
  assert_int_equal(c.ops->set(p, c.fds[0], 0, IN), 0);
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 1);
  assert_int_equal(c.ops->wait(p, 0, ev, 4), -EAGAIN);
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 0);
  assert_int_equal(c.ops->wait(p, -1, ev, 4), 1);
  assert_int_equal(ev[0].fd, c.fds[0]);
  assert_int_equal(c.ops->set(p, c.fds[0], IN, 0), 0);
  c.ops->destroy(p);
  close(c.fds[0]);
  close(c.fds[1]);
}

/* A case that fails half way leaves its fds open: closed here, so that
 * the next cases (whose fd numbers decide how far poll's tables grow)
 * do not fail in its wake. */
static int first_free_fd;

static int close_leftovers(void **state) {
  (void)state;
  for (int fd = first_free_fd; fd < 4096; fd++)
    (void)close(fd);
  return 0;
}

#define EVERY(f)                                                               \
  {"epoll_" #f, f, NULL, close_leftovers, &epoll_backend},                     \
      {"poll_" #f, f, NULL, close_leftovers, &poll_backend}, {                 \
    "uring_" #f, f, NULL, close_leftovers, &uring_backend                      \
  }

int main(void) {
  const struct CMUnitTest tests[] = {
      EVERY(test_add_mod_del),
      EVERY(test_in_and_out_together),
      EVERY(test_hangup_reports_what_was_asked),
      EVERY(test_only_asked_events_are_reported),
      EVERY(test_timeout_is_never_early),
      EVERY(test_zero_and_infinite_timeouts),
      EVERY(test_signal_interrupts_with_zero),
      EVERY(test_closed_fd_is_refused),
      EVERY(test_fd_closed_while_watched),
      EVERY(test_stale_old_interest_is_tolerated),
      EVERY(test_regular_file),
      EVERY(test_many_fds),
      EVERY(test_small_batches_are_fair),
      EVERY(test_many_fds_before_the_first_wait),
      EVERY(test_high_fd_number),
      EVERY(test_removed_fd_closes_for_real),
      EVERY(test_destroy_releases_watched_fds),
      cmocka_unit_test(test_faults_epoll),
      cmocka_unit_test(test_faults_poll),
      cmocka_unit_test(test_faults_uring),
  };
  struct rlimit rl;

  /* 700 pipes at once need 1400 fds (and one at 900). */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 &&
      rl.rlim_max > rl.rlim_cur) {
    rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  first_free_fd = dup(0);
  close(first_free_fd);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
