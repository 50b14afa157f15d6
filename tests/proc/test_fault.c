/* Fault walks over the proc layer: for each fault point (every
 * allocation, pipe, fcntl, poller registration, fstat, the spawn itself,
 * pidfd_open, the fallback watcher's thread), the Nth call fails for
 * N = 1, 2, ... until a run gets through without reaching an Nth call:
 * first during the spawn only, then over a whole exchange (spawn,
 * communicate, wait). Each failure must come back as the injected error
 * (or be absorbed where the layer recovers: pidfd_open failing means the
 * fallback watcher), never a crash; nothing may be left behind (no fd, no
 * child running or zombie, no allocation); and the same loop runs a fresh
 * child right after. Also: spawns with the process really out of fds,
 * and every waiting and signalling case again with pidfd_open failing,
 * so that the fallback thread watcher does all of the work. */
#include <sys/resource.h>

#include "proc_wait_cases.h"

/* ---- the exchange ---------------------------------------------------------
 */

/* cat with every stdio piped and most options set, fed a line. */
static int exchange(int *spawn_rc, int *fired, enum corio__fault_point point,
                    long n, int whole) {
  static const char *const argv[] = {"cat", NULL};
  static const char *const env[] = {"CORIO_FAULT_WALK=1", "CORIO_GONE", NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_proc_output out = {0}, err = {0};
  corio_process *p = NULL;
  int pass[1], rc, code = -1, devnull;

  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pass[0] = devnull;
  o.cwd = "/";
  o.env = env;
  o.flags = CORIO_PROC_ENV_EXTEND;
  o.pass_fds = pass;
  o.npass_fds = devnull >= 0 ? 1 : 0;
  if (n > 0)
    corio__fault_arm(point, n);
  rc = spawn_exec(argv, &o, &p);
  *spawn_rc = rc;
  if (!whole) {
    *fired = corio__fault_fired(point);
    corio__fault_arm(point, 0);
  }
  if (rc == 0) {
    rc = communicate_guarded(p, "ping\n", 5, &out, &err, &code);
    if (whole) {
      *fired = corio__fault_fired(point);
      corio__fault_arm(point, 0);
    }
    if (rc == 0 && (code != 0 || !out.data || strcmp(out.data, "ping\n") != 0 ||
                    err.len != 0))
      rc = -EPROTO;
    if (rc < 0 && rc != -EPROTO) {
      /* Whatever failed, the child is ours to end. */
      (void)corio_process_kill(p);
      (void)wait_guarded(p, NULL);
    }
    corio_proc_output_free(&out);
    corio_proc_output_free(&err);
    corio_process_unref(p);
  } else if (whole) {
    *fired = corio__fault_fired(point);
    corio__fault_arm(point, 0);
  }
  if (devnull >= 0)
    close(devnull);
  return rc;
}

struct walk {
  enum corio__fault_point point;
  long n;
  int whole;     /* armed over the whole exchange, not only the spawn */
  int rc;        /* the faulted exchange */
  int spawn_rc;  /* its spawn */
  int fired;     /* the fault fired */
  int fresh_rc;  /* an unfaulted exchange on the same loop */
  int leaked_fd; /* fds differ right after the faulted exchange */
  int child;     /* a child was left after it */
};

static int walk_body(void *arg, void **result) {
  struct walk *w = arg;
  int fds = open_fds(), spawn_rc, fired = 0;

  (void)result;
  w->rc = exchange(&w->spawn_rc, &w->fired, w->point, w->n, w->whole);
  /* Nothing left: the child (if any) was reaped in the exchange. */
  w->leaked_fd = open_fds() != fds;
  w->child = !no_children();
  w->fresh_rc = exchange(&spawn_rc, &fired, w->point, 0, 0);
  return 0;
}

static const char *point_name(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
    return "alloc";
  case CORIO__FAULT_PIPE:
    return "pipe";
  case CORIO__FAULT_FCNTL:
    return "fcntl";
  case CORIO__FAULT_EPOLL_CTL:
    return "epoll_ctl";
  case CORIO__FAULT_FSTAT:
    return "fstat";
  case CORIO__FAULT_SPAWN:
    return "spawn";
  case CORIO__FAULT_PIDFD:
    return "pidfd_open";
  case CORIO__FAULT_THREAD_CREATE:
    return "thread_create";
  default:
    return "?";
  }
}

/* The error each point injects, as the spawn must return it. */
static int injected(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
    return -ENOMEM;
  case CORIO__FAULT_PIPE:
    return -EMFILE;
  case CORIO__FAULT_FCNTL:
  case CORIO__FAULT_FSTAT:
    return -EBADF;
  case CORIO__FAULT_EPOLL_CTL:
    return -ENOMEM;
  case CORIO__FAULT_SPAWN:
    return -EAGAIN;
  default:
    return 0;
  }
}

/* Walks `point`; returns the calls walked. */
static long walk(enum corio__fault_point point, int whole) {
  struct walk w;

  for (long n = 1;; n++) {
    corio_test_usage before;
    int fds = open_fds(), rc, leftovers;

    reset_checks(NULL);
    corio_test_release_pools();
    before = corio_test_usage_now();
    memset(&w, 0, sizeof w);
    w.point = point;
    w.n = n;
    w.whole = whole;
    w.fresh_rc = 1;
    rc = corio_run(walk_body, &w, NULL);
    corio__fault_arm(point, 0);
    leftovers = reap_leftovers();
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr,
              "walk %s%s: call %ld fired %d spawn %d rc %d fresh %d "
              "leaked fd %d child %d\n",
              point_name(point), whole ? "/whole" : "", n, w.fired, w.spawn_rc,
              w.rc, w.fresh_rc, w.leaked_fd, w.child);
    assert_int_equal(rc, 0);
    assert_checks_passed();
    if (leftovers || w.child) {
      print_error("%s%s: failing call %ld left a child\n", point_name(point),
                  whole ? "/whole" : "", n);
      fail();
    }
    if (w.leaked_fd || open_fds() != fds) {
      print_error("%s%s: failing call %ld leaked an fd\n", point_name(point),
                  whole ? "/whole" : "", n);
      fail();
    }
    if (w.fresh_rc != 0) {
      print_error("%s%s: after failing call %ld a fresh child failed: %d\n",
                  point_name(point), whole ? "/whole" : "", n, w.fresh_rc);
      fail();
    }
    corio_test_assert_no_leak(before);
    if (!w.fired) {
      assert_int_equal(w.rc, 0);
      return n - 1;
    }
    if (point == CORIO__FAULT_PIDFD) {
      /* The fallback watcher takes over: nothing fails. */
      if (w.rc != 0) {
        print_error("pidfd_open failing: exchange gave %d\n", w.rc);
        fail();
      }
      continue;
    }
    if (!whole && w.spawn_rc != injected(point)) {
      print_error("%s: failing call %ld: the spawn gave %d, expected %d\n",
                  point_name(point), n, w.spawn_rc, injected(point));
      fail();
    }
    /* Over the whole exchange a failure may also be absorbed (a watcher
     * retried, a report dropped), but never turn into wrong output. */
    if (whole && w.rc == -EPROTO) {
      print_error("%s/whole: failing call %ld: the exchange gave %d\n",
                  point_name(point), n, w.rc);
      fail();
    }
  }
}

static void warm_up(void) {
  struct walk w;

  memset(&w, 0, sizeof w);
  w.point = CORIO__FAULT_SOCKET; /* never armed here */
  assert_int_equal(corio_run(walk_body, &w, NULL), 0);
  assert_int_equal(w.rc, 0);
  assert_int_equal(w.fresh_rc, 0);
  assert_int_equal(reap_leftovers(), 0);
}

static void test_walk_spawn(void **state) {
  (void)state;
  warm_up();
  /* The pipes' streams and the process, the argv/env/path copies... */
  assert_true(walk(CORIO__FAULT_ALLOC, 0) >= 4);
  assert_true(walk(CORIO__FAULT_PIPE, 0) >= 3); /* one per stdio */
  (void)walk(CORIO__FAULT_FCNTL, 0);
  (void)walk(CORIO__FAULT_EPOLL_CTL, 0);
  (void)walk(CORIO__FAULT_FSTAT, 0);
  assert_int_equal(walk(CORIO__FAULT_SPAWN, 0), 1);
  assert_int_equal(walk(CORIO__FAULT_PIDFD, 0), 1);
}

/* The same through the path that applies a umask (vfork, and an error
 * pipe of its own). */
static void test_walk_spawn_umask_path(void **state) {
  (void)state;
  with_umask = 1;
  warm_up();
  assert_true(walk(CORIO__FAULT_ALLOC, 0) >= 4);
  assert_true(walk(CORIO__FAULT_PIPE, 0) >= 4); /* and the error pipe */
  (void)walk(CORIO__FAULT_EPOLL_CTL, 0);
  assert_int_equal(walk(CORIO__FAULT_SPAWN, 0), 1);
  assert_int_equal(walk(CORIO__FAULT_PIDFD, 0), 1);
  with_umask = 0;
}

static void test_walk_whole_exchange(void **state) {
  (void)state;
  warm_up();
  assert_true(walk(CORIO__FAULT_ALLOC, 1) >= 4);
  assert_true(walk(CORIO__FAULT_PIPE, 1) >= 3);
  (void)walk(CORIO__FAULT_EPOLL_CTL, 1);
  assert_int_equal(walk(CORIO__FAULT_PIDFD, 1), 1);
}

/* ---- the fallback watcher's thread ----------------------------------------
 */

static int threads_now(void) { return count_entries("/proc/self/task"); }

/* Without pidfd_open a thread watches the child; if that thread cannot
 * be started, the spawn fails and leaves nothing (the child it started
 * is killed and reaped). */
static int thread_body(void *arg, void **result) {
  corio_process *p;
  int fds = open_fds(), rc, code = -1, before;
  double end = now_s() + GUARD_S;

  (void)arg, (void)result;
  /* Watcher threads of earlier tests may still be on their way out. */
  while (threads_now() > 1 && now_s() < end && corio_sleep(0.001) == 0) {
  }
  before = threads_now();
  CHECK_EQ(before, 1);
  corio__fault_arm(CORIO__FAULT_PIDFD, 1);
  corio__fault_arm(CORIO__FAULT_THREAD_CREATE, 1);
  rc = spawn_exec(sleeper, NULL, &p);
  if (corio__fault_fired(CORIO__FAULT_THREAD_CREATE)) {
    CHECK_TRUE(rc < 0);
    CHECK_EQ(corio__fault_fired(CORIO__FAULT_PIDFD), 1);
    CHECK_TRUE(no_children());
    CHECK_EQ(open_fds(), fds);
  } else {
    /* A watcher thread running already (shared) took the child. */
    CHECK_EQ(rc, 0);
    if (rc == 0)
      kill_and_drop(p);
  }
  corio__fault_disarm_all();
  /* The watcher really is a thread: there is one more while a child
   * runs under it. */
  corio__fault_arm(CORIO__FAULT_PIDFD, 1);
  rc = spawn_exec(sleeper, NULL, &p);
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_PIDFD), 1);
  corio__fault_arm(CORIO__FAULT_PIDFD, 0);
  CHECK_EQ(rc, 0);
  if (rc < 0)
    return 0;
  CHECK_TRUE(threads_now() > before);
  CHECK_EQ(corio_process_kill(p), 0);
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  corio_process_unref(p);
  return 0;
}

static void test_fallback_thread(void **state) {
  (void)state;
  run_proc(thread_body, NULL);
}

/* ---- every wait case with the fallback watcher ----------------------------
 */

static void test_fallback_returncode(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(returncode_body);
  use_fallback = 0;
}

static void test_fallback_signals(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(signals_body);
  use_fallback = 0;
}

static void test_fallback_several_waiters(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(waiters_body);
  use_fallback = 0;
}

static void test_fallback_wait_cancelled(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(wait_cancelled_body);
  use_fallback = 0;
}

static void test_fallback_communicate_cancelled(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(communicate_cancelled_body);
  use_fallback = 0;
}

static void test_fallback_reaped_without_wait(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(reaped_body);
  use_fallback = 0;
}

static void test_fallback_unref_running(void **state) {
  (void)state;
  use_fallback = 1;
  run_wait_case(unref_running_body);
  use_fallback = 0;
}

static void test_fallback_loop_closed(void **state) {
  (void)state;
  use_fallback = 1;
  check_loop_closed_with_children();
  use_fallback = 0;
}

/* ---- really out of fds ----------------------------------------------------
 * The fd limit is lowered to what is open and the free numbers below it
 * are filled, then freed one at a time: each spawn either fails with
 * -EMFILE and leaves nothing, or works. */

static int highest_fd(void) {
  int fds[MAX_FDS], n = fds_of(0, fds);

  return n > 0 ? fds[n - 1] : -1;
}

struct shortage {
  int attempts; /* spawns that failed before one worked */
  int worked;
};

static int shortage_body(void *arg, void **result) {
  struct shortage *s = arg;
  struct rlimit saved, low;
  int *holes, nholes = 0, cap;

  (void)result;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  low = saved;
  low.rlim_cur = (rlim_t)highest_fd() + 1;
  cap = (int)low.rlim_cur + 1;
  holes = malloc(sizeof *holes * (size_t)cap);
  CHECK_TRUE(holes != NULL);
  if (!holes)
    return 0;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  while (nholes < cap &&
         (holes[nholes] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    nholes++;
  CHECK_TRUE(nholes < cap);
  for (int free_fds = 0; free_fds <= 32 && !s->worked; free_fds++) {
    int fds, spawn_rc = 0, fired = 0, rc;

    if (free_fds > 0) { /* one more free */
      if (nholes > 0) {
        close(holes[--nholes]);
      } else {
        low.rlim_cur++;
        CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
      }
    }
    fds = open_fds();
    rc = exchange(&spawn_rc, &fired, CORIO__FAULT_SOCKET, 0, 0);
    if (rc == 0) {
      s->worked = 1;
    } else {
      CHECK_TRUE(spawn_rc == -EMFILE || spawn_rc == -ENFILE);
      s->attempts++;
    }
    CHECK_EQ(open_fds(), fds);
    CHECK_TRUE(no_children());
  }
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  while (nholes > 0)
    close(holes[--nholes]);
  free(holes);
  return 0;
}

static void test_out_of_fds(void **state) {
  struct shortage s = {0};

  (void)state;
  if (corio_test_under_valgrind()) {
    /* Valgrind emulates the fd limit and refuses to lower it. */
    print_message("[  SKIPPED ] fd limit under Valgrind\n");
    return;
  }
  run_proc(shortage_body, &s);
  assert_true(s.worked);
  /* Three pipes at least were missing at first. */
  assert_true(s.attempts >= 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_walk_spawn, reset_checks),
      cmocka_unit_test_setup(test_walk_spawn_umask_path, reset_checks),
      cmocka_unit_test_setup(test_walk_whole_exchange, reset_checks),
      cmocka_unit_test_setup(test_fallback_thread, reset_checks),
      cmocka_unit_test_setup(test_fallback_returncode, reset_checks),
      cmocka_unit_test_setup(test_fallback_signals, reset_checks),
      cmocka_unit_test_setup(test_fallback_several_waiters, reset_checks),
      cmocka_unit_test_setup(test_fallback_wait_cancelled, reset_checks),
      cmocka_unit_test_setup(test_fallback_communicate_cancelled, reset_checks),
      cmocka_unit_test_setup(test_fallback_reaped_without_wait, reset_checks),
      cmocka_unit_test_setup(test_fallback_unref_running, reset_checks),
      cmocka_unit_test_setup(test_fallback_loop_closed, reset_checks),
      cmocka_unit_test_setup(test_out_of_fds, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
