/* The io_uring backend, on loops made for it explicitly (the whole loop
 * suite also runs on it: the .uring variants): choosing a backend, falling
 * back, fault walks over the ring's setup, registrations and
 * submissions, level-triggered watchers, fd numbers reused, more fds than
 * the submission queue holds, timers, wake-ups from other threads,
 * signals, and the thread a ring is bound to. Skipped (exit 77, saying
 * why) where the kernel refuses io_uring. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "loop_test.h"

static const corio_loop_options uring_only = {CORIO_LOOP_BACKEND_IO_URING,
                                              CORIO_LOOP_NO_FALLBACK};
static const corio_loop_options uring_or_epoll = {CORIO_LOOP_BACKEND_IO_URING,
                                                  0};

static corio_loop *uring_loop(void) {
  corio_loop *loop = NULL;

  assert_int_equal(corio_loop_create_with(&loop, &uring_only), 0);
  assert_string_equal(corio_loop_backend_name(loop), "io_uring");
  return loop;
}

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static int count_call(void *arg) {
  ++*(int *)arg;
  return 0;
}

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop, (void)e, (void)arg;
}

/* A failure stops a run that would otherwise wait for ever. */
static int guard_fired(void *arg) {
  struct trace *t = arg;

  trace_add(t, '!');
  return corio_loop_stop(t->loop);
}

/* The peer of a socket sees it closed, within a bound (the kernel may
 * release a file a moment after its last holder lets go). */
static void expect_peer_sees_close(int peer) {
  struct pollfd pfd = {.fd = peer, .events = POLLIN};
  char c;

  assert_int_equal(poll(&pfd, 1, 5000), 1);
  assert_int_equal(read(peer, &c, 1), 0);
}

/* ---- choosing the backend ------------------------------------------------ */

static void test_backend_names(void **state) {
  static const struct {
    corio_loop_backend backend;
    const char *name;
  } cases[] = {
      {CORIO_LOOP_BACKEND_DEFAULT, "epoll"},
      {CORIO_LOOP_BACKEND_EPOLL, "epoll"},
      {CORIO_LOOP_BACKEND_POLL, "poll"},
      {CORIO_LOOP_BACKEND_IO_URING, "io_uring"},
  };
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  corio_loop *loop;
  (void)state;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    corio_loop_options o = {cases[i].backend, CORIO_LOOP_NO_FALLBACK};

    assert_int_equal(corio_loop_create_with(&loop, &o), 0);
    assert_string_equal(corio_loop_backend_name(loop), cases[i].name);
    corio_loop_unref(loop);
  }
  /* No options: the defaults. */
  assert_int_equal(corio_loop_create_with(&loop, NULL), 0);
  assert_string_equal(corio_loop_backend_name(loop), "epoll");
  corio_loop_unref(loop);
  assert_null(corio_loop_backend_name(NULL));
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

static void test_invalid_options(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = NULL;
  corio_loop_options o = {CORIO_LOOP_BACKEND_IO_URING + 1, 0};
  (void)state;

  assert_int_equal(corio_loop_create_with(&loop, &o), -EINVAL);
  o.backend = (corio_loop_backend)-1;
  assert_int_equal(corio_loop_create_with(&loop, &o), -EINVAL);
  o.backend = CORIO_LOOP_BACKEND_IO_URING;
  o.flags = CORIO_LOOP_NO_FALLBACK << 1;
  assert_int_equal(corio_loop_create_with(&loop, &o), -EINVAL);
  o.flags = ~0u;
  assert_int_equal(corio_loop_create_with(&loop, &o), -EINVAL);
  assert_int_equal(corio_loop_create_with(NULL, &uring_only), -EINVAL);
  assert_null(loop);
  corio_test_assert_no_leak(before);
}

/* CORIO_POLLER names the default backend, read at each creation. */
static void test_environment_picks_the_default(void **state) {
  static const struct {
    const char *value, *name;
  } cases[] = {
      {"io_uring", "io_uring"}, {"uring", "io_uring"},        {"poll", "poll"},
      {"epoll", "epoll"},       {"no-such-backend", "epoll"},
  };
  corio_loop *loop;
  (void)state;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(setenv("CORIO_POLLER", cases[i].value, 1), 0);
    assert_int_equal(corio_loop_create(&loop), 0);
    assert_string_equal(corio_loop_backend_name(loop), cases[i].name);
    corio_loop_unref(loop);
  }
  /* An explicit backend wins over the environment. */
  assert_int_equal(setenv("CORIO_POLLER", "poll", 1), 0);
  assert_int_equal(corio_loop_create_with(&loop, &uring_only), 0);
  assert_string_equal(corio_loop_backend_name(loop), "io_uring");
  corio_loop_unref(loop);
  assert_int_equal(unsetenv("CORIO_POLLER"), 0);
}

/* ---- a loop's whole life, for the fault walks ---------------------------- */

/* A reader on a readable pipe (it reads and removes itself), a timer, a
 * call from the thread-safe queue, a writer; stopped once all ran. Where
 * the poller fails the run, the same loop must finish the work when run
 * again: what was queued for the kernel stays queued. */
struct life {
  const corio_loop_options *options;
  corio_loop *loop;
  int p[2];
  int read, timer, remote, written, reruns;
  const char *backend; /* of the last loop made */
};

static void check_done(struct life *l) {
  if (l->read && l->timer && l->remote && l->written)
    corio_loop_stop(l->loop);
}

static int life_read(void *arg) {
  struct life *l = arg;
  char c;

  assert_int_equal(read(l->p[0], &c, 1), 1);
  l->read = 1;
  assert_int_equal(corio_loop_remove_reader(l->loop, l->p[0]), 1);
  check_done(l);
  return 0;
}

static int life_write(void *arg) {
  struct life *l = arg;

  l->written = 1;
  assert_int_equal(corio_loop_remove_writer(l->loop, l->p[1]), 1);
  check_done(l);
  return 0;
}

static int life_timer(void *arg) {
  struct life *l = arg;

  l->timer = 1;
  check_done(l);
  return 0;
}

static int life_remote(void *arg) {
  struct life *l = arg;

  l->remote = 1;
  check_done(l);
  return 0;
}

static int loop_life(void *ctx) {
  struct life *l = ctx;
  corio_handle *timer = NULL;
  int fds = corio_test_open_fds(), rc;

  l->read = l->timer = l->remote = l->written = 0;
  if ((rc = corio_loop_create_with(&l->loop, l->options)) < 0) {
    assert_int_equal(corio_test_open_fds(), fds);
    return rc;
  }
  l->backend = corio_loop_backend_name(l->loop);
  corio_loop_set_exception_handler(l->loop, quiet, NULL);
  assert_int_equal(pipe(l->p), 0);
  assert_int_equal(write(l->p[1], "x", 1), 1);
  assert_int_equal(corio_loop_add_reader(l->loop, l->p[0], life_read, l), 0);
  assert_int_equal(corio_loop_add_writer(l->loop, l->p[1], life_write, l), 0);
  assert_int_equal(corio_loop_call_later(l->loop, 0.001, life_timer, l, &timer),
                   0);
  assert_int_equal(corio_loop_call_soon_threadsafe(l->loop, life_remote, l), 0);
  rc = corio_loop_run_forever(l->loop);
  /* The poller's error (the iteration it ended may still have finished
   * the work): the loop is intact and finishes what is left. */
  if (rc < 0 && !(l->read && l->timer && l->remote && l->written)) {
    assert_int_equal(corio_loop_run_forever(l->loop), 0);
    l->reruns++;
  }
  assert_true(l->read && l->timer && l->remote && l->written);
  corio_handle_unref(timer);
  corio_loop_unref(l->loop);
  close(l->p[0]);
  close(l->p[1]);
  assert_int_equal(corio_test_open_fds(), fds);
  return rc;
}

/* Setup refused (-ENOSYS, as where io_uring is missing): the loop runs on
 * epoll, unless told not to fall back, when the error comes back with
 * nothing made. */
static void test_setup_refused(void **state) {
  struct life l = {.options = &uring_or_epoll};
  corio_test_usage before;
  corio_loop *loop = NULL;
  int fds;
  (void)state;

  assert_int_equal(corio_test_fault_walk(CORIO__FAULT_URING_SETUP, loop_life,
                                         &l, corio_test_negative_or_tolerated),
                   1);
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 1);
  assert_int_equal(loop_life(&l), 0);
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 0);
  assert_string_equal(l.backend, "epoll");

  before = corio_test_usage_now();
  fds = corio_test_open_fds();
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 1);
  assert_int_equal(corio_loop_create_with(&loop, &uring_only), -ENOSYS);
  assert_true(corio__fault_fired(CORIO__FAULT_URING_SETUP));
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 0);
  assert_null(loop);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);

  /* Through the environment too. */
  assert_int_equal(setenv("CORIO_POLLER", "io_uring", 1), 0);
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 1);
  assert_int_equal(corio_loop_create(&loop), 0);
  corio__fault_arm(CORIO__FAULT_URING_SETUP, 0);
  assert_string_equal(corio_loop_backend_name(loop), "epoll");
  corio_loop_unref(loop);
  assert_int_equal(unsetenv("CORIO_POLLER"), 0);
}

/* -ENOMEM is never a reason to fall back: with or without the flag, a
 * failed probe (the first registration) fails the creation; enabling the
 * ring (the second, on the first wait) fails that run, and the loop runs
 * when asked again; registering the ring's fd is optional. */
static void test_register_faults(void **state) {
  struct life l = {.options = &uring_only};
  corio_loop *loop;
  long walked;
  (void)state;

  walked = corio_test_fault_walk(CORIO__FAULT_URING_REGISTER, loop_life, &l,
                                 corio_test_negative_or_tolerated);
  assert_true(walked >= 3);
  assert_int_equal(l.reruns, 1); /* the enabling */
  corio__fault_arm(CORIO__FAULT_URING_REGISTER, 1);
  assert_int_equal(corio_loop_create_with(&loop, &uring_or_epoll), -ENOMEM);
  assert_true(corio__fault_fired(CORIO__FAULT_URING_REGISTER));
  corio__fault_arm(CORIO__FAULT_URING_REGISTER, 0);
  /* A fresh loop works. */
  l.options = &uring_only;
  assert_int_equal(loop_life(&l), 0);
  assert_string_equal(l.backend, "io_uring");
}

/* A submission failing (-EAGAIN): the run it was for returns the error
 * (or, for a removal's submission, the removal goes in with the next
 * one), nothing leaks, the loop runs again when asked and closes
 * cleanly. */
static void test_enter_faults(void **state) {
  struct life l = {.options = &uring_only};
  long walked;
  (void)state;

  walked = corio_test_fault_walk(CORIO__FAULT_URING_ENTER, loop_life, &l,
                                 corio_test_negative_or_tolerated);
  assert_true(walked >= 2);
  assert_true(l.reruns >= 1);
  assert_int_equal(loop_life(&l), 0);
}

/* The failing run's code is the enter's error, whatever it was doing. */
static void test_enter_fault_is_the_runs_error(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_loop *loop = uring_loop();
  int fds = corio_test_open_fds();
  corio_handle *h = NULL;
  (void)state;

  assert_int_equal(corio_loop_call_later(loop, 0.001, stop_loop, loop, NULL),
                   0);
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 1);
  assert_int_equal(corio_loop_run_forever(loop), -EAGAIN);
  assert_true(corio__fault_fired(CORIO__FAULT_URING_ENTER));
  corio__fault_arm(CORIO__FAULT_URING_ENTER, 0);
  assert_false(corio_loop_is_running(loop));
  /* It waits (a timer again: the first one may have run already). */
  assert_int_equal(corio_loop_call_later(loop, 0.001, stop_loop, loop, &h), 0);
  assert_int_equal(corio_loop_run_forever(loop), 0);
  corio_handle_cancel(h);
  corio_handle_unref(h);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_unref(loop);
  assert_true(corio_test_open_fds() < fds); /* the ring, eventfd... */
  corio_test_assert_no_leak(before);
}

/* ---- fd watchers --------------------------------------------------------- */

/* Level-triggered: a reader that leaves its byte unread runs in every
 * iteration; once it reads it, it is not called again. */
struct level {
  corio_loop *loop;
  int fd, calls, drain_at;
};

static int level_reader(void *arg) {
  struct level *lv = arg;
  char c;

  /* Drained: a while for a wrong report to show, then the end. */
  if (++lv->calls == lv->drain_at) {
    assert_int_equal(read(lv->fd, &c, 1), 1);
    return corio_loop_call_later(lv->loop, 0.02, stop_loop, lv->loop, NULL);
  }
  return 0;
}

static int level_writer(void *arg) {
  struct level *lv = arg;

  if (++lv->calls == 50)
    return corio_loop_stop(lv->loop);
  return 0;
}

static void test_watchers_are_level_triggered(void **state) {
  struct level lv = {uring_loop(), -1, 0, 40};
  int p[2], sv[2];
  (void)state;

  assert_int_equal(pipe(p), 0);
  lv.fd = p[0];
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(corio_loop_add_reader(lv.loop, p[0], level_reader, &lv), 0);
  /* Every iteration polls (nothing else is ready): the reader runs in
   * each until it reads, at its 40th call; then never again before the
   * timer it arms then ends the run. */
  assert_int_equal(corio_loop_run_forever(lv.loop), 0);
  assert_int_equal(lv.calls, 40);
  assert_int_equal(corio_loop_remove_reader(lv.loop, p[0]), 1);
  /* A writer on an always-writable socket: called in every iteration. */
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lv.calls = 0;
  assert_int_equal(corio_loop_add_writer(lv.loop, sv[0], level_writer, &lv), 0);
  assert_int_equal(corio_loop_run_forever(lv.loop), 0);
  assert_int_equal(lv.calls, 50);
  assert_int_equal(corio_loop_remove_writer(lv.loop, sv[0]), 1);
  corio_loop_unref(lv.loop);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
}

/* An fd closed, its number taken by a new file and watched again: the
 * new file's readiness is what the watcher reports, and the old file is
 * let go (its pipe's writer sees no reader left). Both when the watcher
 * was removed before the close and when it was not (closed behind the
 * loop's back, then replaced). */
struct reuse {
  corio_loop *loop;
  int fd, old_calls, new_calls;
};

static int old_reader(void *arg) {
  ((struct reuse *)arg)->old_calls++;
  return 0;
}

static int new_reader(void *arg) {
  struct reuse *r = arg;
  char c;

  r->new_calls++;
  assert_int_equal(read(r->fd, &c, 1), 1);
  return corio_loop_stop(r->loop);
}

static void test_fd_number_reused(void **state) {
  (void)state;

  for (int removed = 0; removed < 2; removed++) {
    struct reuse r = {uring_loop(), -1, 0, 0};
    struct trace t = {.loop = r.loop};
    struct pollfd pfd;
    corio_handle *guard;
    int a[2], b[2];

    assert_int_equal(pipe(a), 0);
    assert_int_equal(corio_loop_add_reader(r.loop, a[0], old_reader, &r), 0);
    /* Armed in the kernel by a run that waits. */
    assert_int_equal(
        corio_loop_call_later(r.loop, 0.002, stop_loop, r.loop, NULL), 0);
    assert_int_equal(corio_loop_run_forever(r.loop), 0);
    if (removed)
      assert_int_equal(corio_loop_remove_reader(r.loop, a[0]), 1);
    close(a[0]);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(b[0], a[0]);
    r.fd = b[0];
    assert_int_equal(corio_loop_add_reader(r.loop, b[0], new_reader, &r), 0);
    assert_int_equal(write(b[1], "y", 1), 1);
    assert_int_equal(corio_loop_call_later(r.loop, 10, guard_fired, &t, &guard),
                     0);
    assert_int_equal(corio_loop_run_forever(r.loop), 0);
    assert_string_equal(t.log, "");
    assert_int_equal(r.new_calls, 1);
    assert_int_equal(r.old_calls, 0);
    /* The old pipe has no reader any more. */
    pfd = (struct pollfd){.fd = a[1], .events = POLLOUT};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_true(pfd.revents & POLLERR);
    corio_handle_cancel(guard);
    corio_handle_unref(guard);
    assert_int_equal(corio_loop_remove_reader(r.loop, b[0]), 1);
    corio_loop_unref(r.loop);
    close(a[1]);
    close(b[0]);
    close(b[1]);
  }
}

/* More fds than the submission queue's 512 entries, all readable: every
 * reader runs (its byte read, itself removed), whether it was added before
 * the first run (the ring not enabled yet) or by a callback of a running
 * loop; more than one wait's 256 events, so some wait for the next. */
enum { PIPES = 2000 };

struct herd {
  corio_loop *loop;
  int fds[PIPES][2];
  int ran[PIPES];
  int done;
};

static struct herd herd;

static int herd_read(void *arg) {
  int i = (int)(intptr_t)arg;
  char c;

  assert_int_equal(read(herd.fds[i][0], &c, 1), 1);
  assert_int_equal(corio_loop_remove_reader(herd.loop, herd.fds[i][0]), 1);
  herd.ran[i]++;
  if (++herd.done == PIPES)
    return corio_loop_stop(herd.loop);
  return 0;
}

static int herd_add_all(void *arg) {
  (void)arg;
  for (int i = 0; i < PIPES; i++)
    assert_int_equal(corio_loop_add_reader(herd.loop, herd.fds[i][0], herd_read,
                                           CORIO_PTR(i)),
                     0);
  return 0;
}

static void test_more_fds_than_the_queue(void **state) {
  struct rlimit rl;
  (void)state;

  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 2 * PIPES + 64) {
    print_message("only %ld fds allowed\n", (long)rl.rlim_cur);
    skip();
  }
  for (int from_callback = 0; from_callback < 2; from_callback++) {
    struct trace t;

    memset(&herd, 0, sizeof herd);
    herd.loop = uring_loop();
    t = (struct trace){.loop = herd.loop};
    for (int i = 0; i < PIPES; i++) {
      assert_int_equal(pipe(herd.fds[i]), 0);
      assert_int_equal(write(herd.fds[i][1], "z", 1), 1);
    }
    if (from_callback)
      assert_int_equal(
          corio_loop_call_soon(herd.loop, herd_add_all, NULL, NULL), 0);
    else
      (void)herd_add_all(NULL);
    assert_int_equal(
        corio_loop_call_later(herd.loop, 20, guard_fired, &t, NULL), 0);
    assert_int_equal(corio_loop_run_forever(herd.loop), 0);
    assert_string_equal(t.log, "");
    assert_int_equal(herd.done, PIPES);
    for (int i = 0; i < PIPES; i++)
      assert_int_equal(herd.ran[i], 1);
    corio_loop_unref(herd.loop);
    for (int i = 0; i < PIPES; i++) {
      close(herd.fds[i][0]);
      close(herd.fds[i][1]);
    }
  }
}

/* A loop closed with a watcher still on a socket (and no run since):
 * closing the socket afterwards reaches its peer. The ring's poll request
 * holds the file; the ring must go with the loop, not linger. */
static void test_closed_loop_lets_watched_files_go(void **state) {
  (void)state;

  for (int runs = 0; runs < 3; runs++) {
    corio_loop *loop = uring_loop();
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_loop_add_reader(loop, sv[0], noop, NULL), 0);
    for (int i = 0; i < runs; i++) {
      assert_int_equal(
          corio_loop_call_later(loop, 0.001, stop_loop, loop, NULL), 0);
      assert_int_equal(corio_loop_run_forever(loop), 0);
    }
    corio_loop_unref(loop);
    close(sv[0]);
    expect_peer_sees_close(sv[1]);
    close(sv[1]);
  }
}

/* Many loops, one after the other on one thread, each run: each works
 * and each lets its files go (a thread holds only so many registered
 * rings: 16). */
struct drain {
  int fd, calls;
};

static int drain_byte(void *arg) {
  struct drain *d = arg;
  char c;

  if (d->calls++ == 0)
    assert_int_equal(read(d->fd, &c, 1), 1);
  return 0;
}

static void test_many_loops_on_one_thread(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  (void)state;

  for (int i = 0; i < 40; i++) {
    corio_loop *loop = uring_loop();
    struct drain d = {-1, 0};
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "w", 1), 1);
    d.fd = sv[0];
    assert_int_equal(corio_loop_add_reader(loop, sv[0], drain_byte, &d), 0);
    assert_int_equal(corio_loop_call_later(loop, 0.001, stop_loop, loop, NULL),
                     0);
    assert_int_equal(corio_loop_run_forever(loop), 0);
    assert_true(d.calls >= 1);
    corio_loop_unref(loop);
    close(sv[0]);
    expect_peer_sees_close(sv[1]);
    close(sv[1]);
  }
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* ---- timers, wake-ups, signals ------------------------------------------- */

static int mark_a(void *arg) {
  trace_add(arg, 'a');
  return 0;
}

static int mark_b(void *arg) {
  trace_add(arg, 'b');
  return 0;
}

static int mark_c(void *arg) {
  struct trace *t = arg;

  trace_add(t, 'c');
  return corio_loop_stop(t->loop);
}

static void test_timers(void **state) {
  struct trace t = {.loop = uring_loop()};
  double t0 = wall_s();
  corio_handle *far;
  (void)state;

  /* The loop blocks in the ring until each is due, never before. */
  assert_int_equal(corio_loop_call_later(t.loop, 3600, guard_fired, &t, &far),
                   0);
  assert_int_equal(corio_loop_call_later(t.loop, 0.03, mark_c, &t, NULL), 0);
  assert_int_equal(corio_loop_call_later(t.loop, 0.01, mark_a, &t, NULL), 0);
  assert_int_equal(corio_loop_call_later(t.loop, 0.02, mark_b, &t, NULL), 0);
  assert_int_equal(corio_loop_run_forever(t.loop), 0);
  assert_true(wall_s() - t0 >= 0.03);
  assert_string_equal(t.log, "abc");
  corio_handle_cancel(far);
  corio_handle_unref(far);
  corio_loop_unref(t.loop);
}

struct waker {
  corio_loop *loop;
  int woke;
};

static int note_woken(void *arg) {
  struct waker *w = arg;

  w->woke = 1;
  return corio_loop_stop(w->loop);
}

static void *wake_from_thread(void *arg) {
  struct waker *w = arg;

  usleep(20000); /* usually after the loop blocks; either way works */
  assert_int_equal(corio_loop_call_soon_threadsafe(w->loop, note_woken, w), 0);
  return NULL;
}

/* Valgrind (3.19) runs no other thread, and delivers no signal, while
 * one waits in io_uring_enter: a wake-up from outside never comes. */
static void skip_under_valgrind(void) {
  if (corio_test_under_valgrind()) {
    print_message("skipped under Valgrind: it stops other threads and "
                  "signals while io_uring_enter waits\n");
    skip();
  }
}

/* A loop with nothing to do blocks in io_uring_enter with no timeout; a
 * call from another thread ends the wait. */
static void test_threadsafe_call_wakes_a_blocked_loop(void **state) {
  struct waker w;
  pthread_t thread;
  (void)state;

  skip_under_valgrind();
  w = (struct waker){uring_loop(), 0};

  for (int i = 0; i < 3; i++) {
    w.woke = 0;
    assert_int_equal(pthread_create(&thread, NULL, wake_from_thread, &w), 0);
    assert_int_equal(corio_loop_run_forever(w.loop), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(w.woke, 1);
  }
  corio_loop_unref(w.loop);
}

struct caught {
  corio_loop *loop;
  int count;
  pthread_t main;
};

static int on_signal(void *arg) {
  struct caught *c = arg;

  c->count++;
  return corio_loop_stop(c->loop);
}

static int raise_usr1(void *arg) {
  (void)arg;
  assert_int_equal(raise(SIGUSR1), 0);
  return 0;
}

static void *signal_main(void *arg) {
  struct caught *c = arg;

  usleep(20000);
  assert_int_equal(pthread_kill(c->main, SIGUSR1), 0);
  return NULL;
}

/* A signal raised by a callback, and one sent to the blocked loop's
 * thread from another: each runs the handler as a callback. */
static void test_signals(void **state) {
  struct caught c;
  pthread_t thread;
  (void)state;

  skip_under_valgrind();
  c = (struct caught){uring_loop(), 0, pthread_self()};

  assert_int_equal(
      corio_loop_add_signal_handler(c.loop, SIGUSR1, on_signal, &c), 0);
  assert_int_equal(corio_loop_call_soon(c.loop, raise_usr1, NULL, NULL), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(c.count, 1);
  assert_int_equal(pthread_create(&thread, NULL, signal_main, &c), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(c.count, 2);
  assert_int_equal(corio_loop_remove_signal_handler(c.loop, SIGUSR1), 1);
  corio_loop_unref(c.loop);
}

/* ---- the thread a ring is bound to --------------------------------------- */

struct runner {
  corio_loop *loop;
  int rc;
  int calls;
};

static void *run_on_thread(void *arg) {
  struct runner *r = arg;
  corio_handle *h = NULL;

  /* A timer, so that the run polls (a ready callback alone would not). */
  assert_int_equal(
      corio_loop_call_later(r->loop, 0.001, stop_loop, r->loop, &h), 0);
  r->rc = corio_loop_run_forever(r->loop);
  corio_handle_cancel(h);
  corio_handle_unref(h);
  return NULL;
}

static void run_on_new_thread(struct runner *r) {
  pthread_t thread;

  assert_int_equal(pthread_create(&thread, NULL, run_on_thread, r), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
}

/* Made and given watchers on one thread, run on another: it works; from
 * then on it is that thread's. Running it on this thread, or on a later
 * thread (which may get the first one's pthread_t), is CORIO_ETHREAD;
 * it still closes cleanly here. */
static void test_made_here_run_there(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = corio_test_open_fds();
  struct runner r = {uring_loop(), 1, 0};
  int p[2];
  (void)state;

  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(corio_loop_add_reader(r.loop, p[0], count_call, &r.calls),
                   0);
  run_on_new_thread(&r);
  assert_int_equal(r.rc, 0);
  assert_true(r.calls >= 1);
  r.rc = 1;
  (void)run_on_thread(&r);
  assert_int_equal(r.rc, CORIO_ETHREAD);
  r.rc = 1;
  run_on_new_thread(&r);
  assert_int_equal(r.rc, CORIO_ETHREAD);
  assert_int_equal(corio_loop_remove_reader(r.loop, p[0]), 1);
  assert_int_equal(corio_loop_close(r.loop), 0);
  corio_loop_unref(r.loop);
  close(p[0]);
  close(p[1]);
  assert_int_equal(corio_test_open_fds(), fds);
  corio_test_assert_no_leak(before);
}

/* Run here first: another thread's run is CORIO_ETHREAD, and this one
 * still runs it. */
static void test_run_here_then_there(void **state) {
  struct runner r = {uring_loop(), 1, 0};
  (void)state;

  (void)run_on_thread(&r);
  assert_int_equal(r.rc, 0);
  r.rc = 1;
  run_on_new_thread(&r);
  assert_int_equal(r.rc, CORIO_ETHREAD);
  r.rc = 1;
  (void)run_on_thread(&r);
  assert_int_equal(r.rc, 0);
  corio_loop_unref(r.loop);
}

/* Run on a thread that stays, closed on this one: the ring must still go
 * with the loop (the running thread's registration of it must not keep it
 * and the files its poll requests hold). */
struct parked {
  corio_loop *loop;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int phase; /* 1: run done, 2: may end */
};

static void *run_then_park(void *arg) {
  struct parked *pk = arg;
  struct runner r = {pk->loop, 1, 0};

  (void)run_on_thread(&r);
  pthread_mutex_lock(&pk->lock);
  pk->phase = 1;
  pthread_cond_broadcast(&pk->cond);
  while (pk->phase != 2)
    pthread_cond_wait(&pk->cond, &pk->lock);
  pthread_mutex_unlock(&pk->lock);
  return NULL;
}

static void test_closed_while_its_thread_lives(void **state) {
  struct parked pk = {uring_loop(), PTHREAD_MUTEX_INITIALIZER,
                      PTHREAD_COND_INITIALIZER, 0};
  pthread_t thread;
  int sv[2];
  (void)state;

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(corio_loop_add_reader(pk.loop, sv[0], noop, NULL), 0);
  assert_int_equal(pthread_create(&thread, NULL, run_then_park, &pk), 0);
  pthread_mutex_lock(&pk.lock);
  while (pk.phase != 1)
    pthread_cond_wait(&pk.cond, &pk.lock);
  pthread_mutex_unlock(&pk.lock);
  corio_loop_unref(pk.loop);
  close(sv[0]);
  expect_peer_sees_close(sv[1]);
  pthread_mutex_lock(&pk.lock);
  pk.phase = 2;
  pthread_cond_broadcast(&pk.cond);
  pthread_mutex_unlock(&pk.lock);
  assert_int_equal(pthread_join(thread, NULL), 0);
  close(sv[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backend_names),
      cmocka_unit_test(test_invalid_options),
      cmocka_unit_test(test_environment_picks_the_default),
      cmocka_unit_test(test_setup_refused),
      cmocka_unit_test(test_register_faults),
      cmocka_unit_test(test_enter_faults),
      cmocka_unit_test(test_enter_fault_is_the_runs_error),
      cmocka_unit_test(test_watchers_are_level_triggered),
      cmocka_unit_test(test_fd_number_reused),
      cmocka_unit_test(test_more_fds_than_the_queue),
      cmocka_unit_test(test_closed_loop_lets_watched_files_go),
      cmocka_unit_test(test_many_loops_on_one_thread),
      cmocka_unit_test(test_timers),
      cmocka_unit_test(test_threadsafe_call_wakes_a_blocked_loop),
      cmocka_unit_test(test_signals),
      cmocka_unit_test(test_made_here_run_there),
      cmocka_unit_test(test_run_here_then_there),
      cmocka_unit_test(test_closed_while_its_thread_lives),
  };
  corio_loop *loop = NULL;
  struct rlimit rl;
  int rc;

  /* The cases set CORIO_POLLER themselves where they use it. */
  unsetenv("CORIO_POLLER");
  /* Where the kernel refuses io_uring there is nothing to test. */
  rc = corio_loop_create_with(&loop, &uring_only);
  if (rc < 0) {
    printf("io_uring refused: %s (%d); skipped\n", corio_strerror(rc), rc);
    return 77;
  }
  corio_loop_unref(loop);
  /* 2000 pipes at once. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4200 &&
      rl.rlim_max > rl.rlim_cur) {
    rl.rlim_cur = rl.rlim_max < 4200 ? rl.rlim_max : 4200;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
