/* The cancellation sweep over subprocesses (issue 18): a task runs a
 * child through a sequence of corio calls; the sequence runs once
 * uncancelled, then cancelled at each of its suspensions in turn, and for
 * each of those once more at each suspension of its cleanup (killing or
 * closing, reading the rest, waiting). See tests/support/sweep.h for how
 * a suspension is pinned down exactly. After every run: the interrupted
 * call returned -ECANCELED, what came back from the child is a prefix of
 * what was sent to it (all of it when the cleanup read to EOF: no byte
 * lost or duplicated), no child is left (running or zombie), no fd and no
 * corio allocation; ASan and Valgrind runs check the rest of the memory.
 *
 * A child runs on its own, so how many times a read waits varies from
 * run to run: the sweep goes on until a run ends before its k-th
 * suspension, however many there were. */
#include "proc_test.h"
#include "sweep.h"

static size_t input_len;
static unsigned char *input;

enum { CHUNK = 8192, EXTRA = 64 };

/* After every point: no child outlives it. */
static void no_child_left(void) {
  CHECK_EQ(reap_leftovers(), 0);
  CHECK_TRUE(no_children());
}

/* Awaits the target under a guard (only a bug reaches it). */
static void await_target(corio_task *t) {
  corio_timeout g;
  int rc = corio_timeout_enter(&g, GUARD_S);

  if (rc == 0)
    rc = corio_timeout_exit(&g, corio_task_await(t, NULL));
  CHECK_TRUE(rc != -ETIMEDOUT);
}

/* Runs a scenario's target task (fn) under the probe, then checks its
 * outcome and that its child is gone: a cleanup cancelled in its wait
 * left the killed child to corio, which reaps it as soon as it exits.
 * *pid and *first_rc are the target's, read once it is done. */
static void run_child_scenario(corio_task_fn fn, void *c, sweep_point *pt,
                               const pid_t *pid, const int *first_rc) {
  corio_task *t = NULL;

  sweep_install();
  CHECK_EQ(corio_spawn(&t, fn, c), 0);
  if (!t) {
    sweep_uninstall();
    return;
  }
  sweep_watch(t, pt->cancel_at[0], pt->cancel_at[1]);
  await_target(t);
  sweep_collect(pt);
  if (*pid > 0)
    CHECK_TRUE(await_gone(*pid));
  sweep_uninstall();
  sweep_check_outcome(pt, t, *first_rc);
  corio_task_unref(t);
}

#define STEP(call)                                                             \
  do {                                                                         \
    if (rc == 0)                                                               \
      rc = (call);                                                             \
  } while (0)

/* ---- communicate ----------------------------------------------------------
 */

struct comm_case {
  sweep_point *pt;
  pid_t pid;
  int first_rc, cleanup_rc, code, same_out, same_err;
};

/* The target: sh running cat (stdout) then a line on stderr, fed the
 * input by communicate. Cancelled: the child is killed and waited for
 * (asyncio's `proc.kill(); await proc.wait()`). */
static int comm_task(void *arg, void **result) {
  struct comm_case *c = arg;
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_proc_output out = {0}, err = {0};
  corio_process *p = NULL;
  int rc = 0;

  (void)result;
  rc = spawn_sh("cat; echo done >&2", &o, &p);
  if (p)
    c->pid = corio_process_pid(p);
  STEP(corio_process_communicate(p, input, input_len, &out, &err, &c->code));
  if (rc == 0) {
    c->same_out =
        out.len == input_len && memcmp(out.data, input, input_len) == 0;
    c->same_err = err.len == 5 && memcmp(err.data, "done\n", 5) == 0;
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  c->first_rc = rc;
  if (rc < 0 && p) {
    (void)corio_process_kill(p);
    c->cleanup_rc = corio_process_wait(p, &c->code);
  }
  corio_process_unref(p);
  return rc;
}

static int comm_main(void *arg, void **result) {
  struct comm_case *c = arg;

  (void)result;
  run_child_scenario(comm_task, c, c->pt, &c->pid, &c->first_rc);
  return 0;
}

static int comm_point(void *ctx, sweep_point *pt) {
  struct comm_case *c = ctx;

  memset(c, 0, sizeof *c);
  c->pt = pt;
  c->first_rc = c->cleanup_rc = 1;
  sweep_run_point(comm_main, c, NULL, no_child_left);
  if (c->first_rc == 0) {
    CHECK_EQ(c->same_out, 1);
    CHECK_EQ(c->same_err, 1);
    CHECK_EQ(c->code, 0);
  } else if (c->cleanup_rc == 0) {
    /* Killed, unless it had finished already. */
    CHECK_TRUE(c->code == -SIGKILL || c->code == 0);
  }
  sweep_report("communicate", pt);
  return failed.line != 0;
}

static void test_communicate(void **state) {
  struct comm_case c;
  sweep_stats st;

  (void)state;
  assert_int_equal(sweep_all("communicate", comm_point, &c, 200, 8, &st), 0);
  /* Its wait need not suspend: the child may be gone by then. */
  assert_true(st.first >= 1);
  assert_checks_passed();
}

/* ---- the pipes as streams -------------------------------------------------
 */

struct pipe_case {
  sweep_point *pt;
  pid_t pid;
  unsigned char *got;
  size_t got_len, wrote;
  int first_rc, cleanup_rc, code;
};

/* Reads stdout to EOF into the case's buffer (room for more than was
 * sent: a duplicated byte shows). */
static int pipe_read_rest(corio_stream *s, struct pipe_case *c) {
  size_t cap = input_len + EXTRA;

  for (;;) {
    size_t n = 0;
    int rc;

    if (c->got_len == cap)
      return -ENOBUFS;
    rc = corio_stream_read(s, c->got + c->got_len, cap - c->got_len, &n);
    if (rc < 0 || n == 0)
      return rc;
    c->got_len += n;
  }
}

/* The target: cat fed a chunk at a time, each read back with
 * readexactly; then EOF both ways and the exit. Cancelled: stdin is
 * closed (what is queued still goes), what cat echoes is read to EOF,
 * and the exit waited for. */
static int pipe_task(void *arg, void **result) {
  struct pipe_case *c = arg;
  corio_proc_options o = stdio3(PIPE, PIPE, INHERIT);
  static const char *const argv[] = {"cat", NULL};
  corio_process *p = NULL;
  corio_stream *in = NULL, *out = NULL;
  int rc;

  (void)result;
  rc = spawn_exec(argv, &o, &p);
  if (p) {
    c->pid = corio_process_pid(p);
    in = corio_process_stdin(p);
    out = corio_process_stdout(p);
  }
  for (size_t at = 0; at < input_len && rc == 0; at += CHUNK) {
    size_t n = 0;

    rc = corio_stream_write(in, input + at, CHUNK);
    if (rc == 0)
      c->wrote += CHUNK;
    STEP(corio_stream_drain(in));
    STEP(corio_stream_readexactly(out, c->got + c->got_len, CHUNK, &n));
    if (rc == 0)
      c->got_len += n;
  }
  STEP(corio_stream_close(in));
  STEP(corio_stream_wait_closed(in));
  STEP(pipe_read_rest(out, c));
  STEP(corio_process_wait(p, &c->code));
  c->first_rc = rc;
  if (rc < 0 && p) {
    int crc;

    (void)corio_stream_close(in);
    crc = pipe_read_rest(out, c);
    if (crc == 0)
      crc = corio_process_wait(p, &c->code);
    c->cleanup_rc = crc;
    if (crc < 0)
      (void)corio_process_kill(p); /* it may still be running */
  }
  corio_process_unref(p);
  return rc;
}

static int pipe_main(void *arg, void **result) {
  struct pipe_case *c = arg;

  (void)result;
  run_child_scenario(pipe_task, c, c->pt, &c->pid, &c->first_rc);
  return 0;
}

static int pipe_point(void *ctx, sweep_point *pt) {
  struct pipe_case *c = ctx;
  unsigned char *got = c->got;

  memset(c, 0, sizeof *c);
  c->got = got;
  c->pt = pt;
  c->first_rc = c->cleanup_rc = 1;
  sweep_run_point(pipe_main, c, NULL, no_child_left);
  /* cat echoes every byte it is given, once, in order. */
  CHECK_TRUE(c->got_len <= c->wrote);
  CHECK_TRUE(memcmp(c->got, input, c->got_len) == 0);
  if (c->first_rc == 0 || c->cleanup_rc == 0) {
    CHECK_EQ(c->got_len, c->wrote);
    CHECK_EQ(c->code, 0);
  }
  if (c->first_rc == 0)
    CHECK_EQ(c->wrote, input_len);
  sweep_report("pipes", pt);
  return failed.line != 0;
}

static void test_pipes(void **state) {
  struct pipe_case c;
  sweep_stats st;

  (void)state;
  memset(&c, 0, sizeof c);
  c.got = malloc(input_len + EXTRA);
  assert_non_null(c.got);
  assert_int_equal(sweep_all("pipes", pipe_point, &c, 200, 8, &st), 0);
  assert_true(st.first >= 4); /* a readexactly per chunk at least */
  free(c.got);
  assert_checks_passed();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_communicate, reset_checks),
      cmocka_unit_test_setup(test_pipes, reset_checks),
  };
  int rc;

  signal(SIGPIPE, SIG_IGN);
  /* Fewer chunks under Valgrind: each point spawns a child. */
  input_len = (corio_test_under_valgrind() ? 6 : 8) * (size_t)CHUNK;
  input = malloc(input_len);
  assert_non_null(input);
  fill_pattern(input, input_len, 3);
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(input);
  return rc;
}
