/* The pipes as streams: stdout and stderr read with readline to EOF (also
 * after the child has exited), stdin written, drained and closed (the
 * child sees EOF), the streams' directions; communicate with 4 MiB each
 * way (through cat, and all three pipes at once), with a child that
 * closes its stdin early (not an error), and its edges (no input, input
 * without a stdin pipe, output discarded, partly read already); the limit
 * option; several commands gathered at once. */
#include "proc_test.h"

enum { BIG = 4 << 20, CHUNK = 64 << 10 };

/* A 64 KiB file of the pattern (seed 3), for children to cat many times. */
static char chunk_path[64];

static void make_chunk_file(void) {
  unsigned char *buf = malloc(CHUNK);
  int fd;

  assert_non_null(buf);
  fill_pattern(buf, CHUNK, 3);
  snprintf(chunk_path, sizeof chunk_path, "/tmp/corio-proc-io-XXXXXX");
  fd = mkostemp(chunk_path, O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, CHUNK), CHUNK);
  close(fd);
  free(buf);
}

/* Whether data is the chunk `times` times over. */
static int is_chunks(const char *data, size_t len, int times) {
  unsigned char *buf = malloc(CHUNK);
  int ok = len == (size_t)CHUNK * (size_t)times;

  if (!buf)
    return 0;
  fill_pattern(buf, CHUNK, 3);
  for (int i = 0; ok && i < times; i++)
    ok = memcmp(data + (size_t)i * CHUNK, buf, CHUNK) == 0;
  free(buf);
  return ok;
}

/* ---- stdout and stderr as read streams ------------------------------------
 */

static int read_body(void *arg, void **result) {
  corio_proc_options o = stdio3(INHERIT, PIPE, PIPE);
  corio_process *p;
  char line[64];
  int code = -1;

  (void)arg, (void)result;
  CHECK_EQ(spawn_sh("echo one; echo two >&2; echo three", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_PTR(corio_process_stdin(p), NULL);
  CHECK_TRUE(corio_process_stdout(p) != NULL);
  CHECK_TRUE(corio_process_stderr(p) != NULL);
  CHECK_TRUE(corio_process_stdout(p) != corio_process_stderr(p));
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "one\n");
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "three\n");
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, ""); /* EOF */
  CHECK_EQ(corio_stream_at_eof(corio_process_stdout(p)), 1);
  CHECK_EQ(readline_guarded(corio_process_stderr(p), line, sizeof line), 0);
  CHECK_STR(line, "two\n");
  CHECK_EQ(readline_guarded(corio_process_stderr(p), line, sizeof line), 0);
  CHECK_STR(line, "");
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, 0);
  corio_process_unref(p);

  /* What the child wrote stays readable after it was reaped. */
  CHECK_EQ(spawn_sh("echo hi; echo ho >&2; exit 4", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, 4);
  CHECK_EQ(readline_guarded(corio_process_stderr(p), line, sizeof line), 0);
  CHECK_STR(line, "ho\n");
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "hi\n");
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "");
  corio_process_unref(p);
  return 0;
}

static void test_read_streams(void **state) {
  (void)state;
  run_proc(read_body, NULL);
}

/* ---- stdin as a write stream ----------------------------------------------
 */

struct pump {
  corio_stream *s;
  unsigned char *data;
  size_t len;
};

static int pump_write(void *arg, void **result) {
  struct pump *pu = arg;

  (void)result;
  return corio_stream_write_all(pu->s, pu->data, pu->len);
}

static int pump_read(void *arg, void **result) {
  struct pump *pu = arg;
  size_t n;
  int rc;

  (void)result;
  rc = corio_stream_readexactly(pu->s, pu->data, pu->len, &n);
  return rc;
}

static int stdin_body(void *arg, void **result) {
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, INHERIT);
  struct pump w, r;
  corio_process *p;
  corio_stream *in;
  char line[64];
  int code = -1;

  (void)arg, (void)result;
  CHECK_EQ(spawn_exec(cat, &o, &p), 0);
  if (!p)
    return 0;
  in = corio_process_stdin(p);
  CHECK_TRUE(in != NULL);
  CHECK_PTR(corio_process_stderr(p), NULL);
  /* cat waits for input: its stdin is a blocking pipe end. */
  CHECK_EQ(corio_stream_write(in, "hello\n", 6), 0);
  CHECK_EQ(corio_stream_drain(in), 0);
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "hello\n");
  CHECK_EQ(corio_process_returncode(p, &code), 0);

  /* 4 MiB through cat, written with backpressure while another task
   * reads: drain waits for the child, no deadlock. */
  w.s = in;
  w.len = BIG;
  w.data = malloc(BIG);
  r.s = corio_process_stdout(p);
  r.len = BIG;
  r.data = malloc(BIG);
  if (w.data && r.data) {
    corio_awaitable both[2] = {CORIO_AWAIT_FN(pump_write, &w),
                               CORIO_AWAIT_FN(pump_read, &r)};
    corio_outcome out[2];
    corio_timeout g;

    fill_pattern(w.data, BIG, 1);
    CHECK_EQ(corio_timeout_enter(&g, GUARD_S), 0);
    CHECK_EQ(corio_timeout_exit(&g, corio_gather(both, 2, out, 0)), 0);
    corio_outcomes_clear(out, 2);
    CHECK_TRUE(memcmp(w.data, r.data, BIG) == 0);
  }
  free(w.data);
  free(r.data);

  /* Closing stdin: cat reads EOF, ends, closes its stdout. */
  CHECK_EQ(corio_stream_close(in), 0);
  CHECK_EQ(corio_stream_is_closing(in), 1);
  CHECK_EQ(corio_stream_write(in, "late", 4), CORIO_ESTREAMCLOSED);
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "");
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(corio_stream_wait_closed(in), 0);
  corio_process_unref(p);
  return 0;
}

static void test_stdin_stream(void **state) {
  (void)state;
  run_proc(stdin_body, NULL);
}

/* stdin is write-only, stdout and stderr read-only: the wrong direction
 * is an error (bounded: it must not wait forever either). */
static int directions_body(void *arg, void **result) {
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_process *p;
  corio_timeout g;
  char buf[8];
  size_t n = 99;
  int rc;

  (void)arg, (void)result;
  CHECK_EQ(spawn_exec(cat, &o, &p), 0);
  if (!p)
    return 0;
  CHECK_TRUE(corio_stream_write(corio_process_stdout(p), "x", 1) < 0);
  CHECK_TRUE(corio_stream_write(corio_process_stderr(p), "x", 1) < 0);
  CHECK_EQ(corio_timeout_enter(&g, 5), 0);
  rc = corio_timeout_exit(
      &g, corio_stream_read(corio_process_stdin(p), buf, sizeof buf, &n));
  CHECK_TRUE(rc != -ETIMEDOUT);
  CHECK_TRUE(rc < 0 || n == 0);
  /* The child is unaffected: an echo still goes through. */
  CHECK_EQ(corio_stream_write(corio_process_stdin(p), "ok\n", 3), 0);
  CHECK_EQ(readline_guarded(corio_process_stdout(p), buf, sizeof buf), 0);
  CHECK_STR(buf, "ok\n");
  CHECK_EQ(corio_stream_close(corio_process_stdin(p)), 0);
  CHECK_EQ(wait_guarded(p, NULL), 0);
  corio_process_unref(p);
  return 0;
}

static void test_stream_directions(void **state) {
  (void)state;
  run_proc(directions_body, NULL);
}

/* ---- communicate ----------------------------------------------------------
 */

/* 4 MiB into cat and back: the input is written while the output is read,
 * or cat would block on its full stdout and never read the rest. */
static int cat_big_body(void *arg, void **result) {
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, INHERIT);
  corio_proc_output out = {0};
  corio_process *p;
  unsigned char *in = malloc(BIG);
  int code = -1;

  (void)arg, (void)result;
  CHECK_TRUE(in != NULL);
  if (!in)
    return 0;
  fill_pattern(in, BIG, 5);
  CHECK_EQ(spawn_exec(cat, &o, &p), 0);
  if (p) {
    CHECK_EQ(communicate_guarded(p, in, BIG, &out, NULL, &code), 0);
    CHECK_EQ(code, 0);
    CHECK_EQ(out.len, BIG);
    CHECK_TRUE(out.data && out.len == BIG && memcmp(out.data, in, BIG) == 0);
    CHECK_EQ(out.data ? out.data[out.len] : 1, 0);
    CHECK_EQ(corio_process_returncode(p, &code), 1);
    CHECK_EQ(code, 0);
    corio_proc_output_free(&out);
    corio_process_unref(p);
  }
  free(in);
  return 0;
}

static void test_communicate_4mib_through_cat(void **state) {
  (void)state;
  run_proc(cat_big_body, NULL);
}

/* All three pipes at once, 4 MiB each: stdin is copied to stderr by one
 * cat while the shell writes the chunk file 64 times to stdout. Reading
 * one output to its end before the other, or writing all the input
 * first, deadlocks. */
static int three_body(void *arg, void **result) {
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_proc_output out = {0}, err = {0};
  corio_process *p;
  unsigned char *in = malloc(BIG);
  char cmd[320];
  int code = -1;

  (void)arg, (void)result;
  CHECK_TRUE(in != NULL);
  if (!in)
    return 0;
  fill_pattern(in, BIG, 9);
  /* An asynchronous list's stdin is /dev/null unless redirected: the
   * pipe goes to cat through fd 3. */
  snprintf(cmd, sizeof cmd,
           "exec 3<&0; cat <&3 >&2 3<&- & exec 3<&-; i=0; "
           "while [ $i -lt 64 ]; do cat '%s' || exit 9; i=$((i+1)); done; "
           "wait $!",
           chunk_path);
  CHECK_EQ(spawn_sh(cmd, &o, &p), 0);
  if (p) {
    CHECK_EQ(communicate_guarded(p, in, BIG, &out, &err, &code), 0);
    CHECK_EQ(code, 0);
    CHECK_EQ(out.len, BIG);
    CHECK_TRUE(out.data && is_chunks(out.data, out.len, 64));
    CHECK_EQ(err.len, BIG);
    CHECK_TRUE(err.data && err.len == BIG && memcmp(err.data, in, BIG) == 0);
    corio_proc_output_free(&out);
    corio_proc_output_free(&err);
    corio_process_unref(p);
  }
  free(in);
  return 0;
}

static void test_communicate_all_three_pipes(void **state) {
  (void)state;
  run_proc(three_body, NULL);
}

/* A child that closes its stdin (or ends) before taking the input: the
 * broken pipe is not an error, and no SIGPIPE hits this process. */
static int early_close_body(void *arg, void **result) {
  corio_proc_options o = stdio3(PIPE, PIPE, INHERIT);
  corio_proc_output out = {0};
  corio_process *p;
  unsigned char *in = malloc(BIG);
  int code = -1;

  (void)arg, (void)result;
  CHECK_TRUE(in != NULL);
  if (!in)
    return 0;
  fill_pattern(in, BIG, 11);
  memcpy(in, "abcde\n", 6);
  CHECK_EQ(spawn_sh("exec 0<&-; echo bye; exit 5", &o, &p), 0);
  if (p) {
    CHECK_EQ(communicate_guarded(p, in, BIG, &out, NULL, &code), 0);
    CHECK_EQ(code, 5);
    CHECK_STR(out.data ? out.data : "(null)", "bye\n");
    corio_proc_output_free(&out);
    corio_process_unref(p);
  }
  /* Takes one line, then ends. */
  CHECK_EQ(spawn_sh("read -r x; echo \"got ${#x}\"", &o, &p), 0);
  if (p) {
    CHECK_EQ(communicate_guarded(p, in, BIG, &out, NULL, &code), 0);
    CHECK_EQ(code, 0);
    CHECK_STR(out.data ? out.data : "(null)", "got 5\n");
    corio_proc_output_free(&out);
    corio_process_unref(p);
  }
  /* Ends at once, stdout not even piped. */
  o.stdio[1].mode = DEVNULL;
  CHECK_EQ(spawn_sh("exit 0", &o, &p), 0);
  if (p) {
    CHECK_EQ(communicate_guarded(p, in, BIG, NULL, NULL, &code), 0);
    CHECK_EQ(code, 0);
    corio_process_unref(p);
  }
  free(in);
  return 0;
}

static void test_communicate_stdin_closed_early(void **state) {
  (void)state;
  run_proc(early_close_body, NULL);
}

static int edges_body(void *arg, void **result) {
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options o;
  corio_proc_output out = {0}, err = {0};
  corio_process *p;
  char line[64], cmd[256];
  int code = -1;

  (void)arg, (void)result;
  /* No input: stdin is closed at once, cat sees EOF. */
  o = stdio3(PIPE, PIPE, PIPE);
  CHECK_EQ(spawn_exec(cat, &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, &err, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(out.len, 0);
  CHECK_EQ(err.len, 0);
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  corio_process_unref(p);

  /* Input for a child without a stdin pipe: -EINVAL, and the child is
   * still there to be waited for. */
  o = stdio3(DEVNULL, PIPE, INHERIT);
  CHECK_EQ(spawn_sh("echo x; exit 6", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(corio_process_communicate(p, "in", 2, &out, NULL, &code), -EINVAL);
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, NULL, &code), 0);
  CHECK_STR(out.data ? out.data : "(null)", "x\n");
  CHECK_EQ(code, 6);
  corio_proc_output_free(&out);
  corio_process_unref(p);

  /* Output piped but not wanted (out NULL): read and discarded, so a
   * child writing 1 MiB does not block. */
  o = stdio3(INHERIT, PIPE, PIPE);
  snprintf(cmd, sizeof cmd,
           "i=0; while [ $i -lt 16 ]; do cat '%s' >&2 || exit 9; "
           "i=$((i+1)); done; echo fine",
           chunk_path);
  CHECK_EQ(spawn_sh(cmd, &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, NULL, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_STR(out.data ? out.data : "(null)", "fine\n");
  corio_proc_output_free(&out);
  corio_process_unref(p);

  /* Outputs asked for but not piped: empty. No pipe at all: a wait. */
  o = stdio3(INHERIT, DEVNULL, DEVNULL);
  CHECK_EQ(spawn_sh("echo lost; exit 2", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, &err, &code), 0);
  CHECK_EQ(code, 2);
  CHECK_EQ(out.len, 0);
  CHECK_EQ(err.len, 0);
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  corio_process_unref(p);

  /* Part of stdout read already: communicate gets the rest. */
  o = stdio3(INHERIT, PIPE, INHERIT);
  CHECK_EQ(spawn_sh("echo a; echo b; echo c", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(readline_guarded(corio_process_stdout(p), line, sizeof line), 0);
  CHECK_STR(line, "a\n");
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, NULL, &code), 0);
  CHECK_STR(out.data ? out.data : "(null)", "b\nc\n");
  CHECK_EQ(out.len, 4);
  corio_proc_output_free(&out);
  corio_process_unref(p);

  /* A NUL in the output is data like any other byte. */
  o = stdio3(INHERIT, PIPE, INHERIT);
  CHECK_EQ(spawn_sh("printf 'a\\000b'", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, NULL, &code), 0);
  CHECK_EQ(out.len, 3);
  CHECK_TRUE(out.data && memcmp(out.data, "a\0b", 4) == 0);
  corio_proc_output_free(&out);
  corio_process_unref(p);
  return 0;
}

static void test_communicate_edges(void **state) {
  (void)state;
  run_proc(edges_body, NULL);
}

/* ---- limit ----------------------------------------------------------------
 */

static int limit_body(void *arg, void **result) {
  corio_proc_options o = stdio3(INHERIT, PIPE, PIPE);
  corio_process *p;
  char buf[128];
  size_t n = 0;

  (void)arg, (void)result;
  CHECK_EQ(spawn_sh("echo short", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(corio_stream_limit(corio_process_stdout(p)),
           CORIO_STREAM_DEFAULT_LIMIT);
  CHECK_EQ(corio_stream_limit(corio_process_stderr(p)),
           CORIO_STREAM_DEFAULT_LIMIT);
  CHECK_EQ(wait_guarded(p, NULL), 0);
  corio_process_unref(p);

  o.limit = 16;
  CHECK_EQ(spawn_sh("echo 0123456789abcdefghijklmnopqrstuvwxyz; echo ok; "
                    "echo 0123456789abcdefghijklmnopqrstuvwxyz >&2",
                    &o, &p),
           0);
  if (!p)
    return 0;
  CHECK_EQ(corio_stream_limit(corio_process_stdout(p)), 16);
  CHECK_EQ(corio_stream_limit(corio_process_stderr(p)), 16);
  /* Everything is in the pipes once the child has exited. */
  CHECK_EQ(wait_guarded(p, NULL), 0);
  CHECK_EQ(corio_stream_readline(corio_process_stdout(p), buf, sizeof buf, &n),
           CORIO_ELIMITOVERRUN);
  /* The long line is dropped; the next one reads. */
  CHECK_EQ(readline_guarded(corio_process_stdout(p), buf, sizeof buf), 0);
  CHECK_STR(buf, "ok\n");
  CHECK_EQ(corio_stream_readline(corio_process_stderr(p), buf, sizeof buf, &n),
           CORIO_ELIMITOVERRUN);
  CHECK_EQ(readline_guarded(corio_process_stderr(p), buf, sizeof buf), 0);
  CHECK_STR(buf, "");
  corio_process_unref(p);
  return 0;
}

static void test_limit(void **state) {
  (void)state;
  run_proc(limit_body, NULL);
}

/* ---- several commands at once ---------------------------------------------
 */

enum { NCMD = 8 };

struct cmd {
  int i;
  int code;
  char out[64];
};

static int one_command(void *arg, void **result) {
  struct cmd *c = arg;
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_proc_output out = {0}, err = {0};
  corio_process *p;
  char text[32], sh[96];
  int rc;

  (void)result;
  snprintf(text, sizeof text, "line %d\n", c->i);
  /* Each echoes its input, says its number on stderr, and exits with it
   * (the last ones after their siblings have started). */
  snprintf(sh, sizeof sh, "cat; echo %d >&2; exit %d", c->i, c->i);
  if ((rc = spawn_sh(sh, &o, &p)) < 0)
    return rc;
  rc = communicate_guarded(p, text, strlen(text), &out, &err, &c->code);
  if (rc == 0) {
    snprintf(c->out, sizeof c->out, "%s|%s", out.data ? out.data : "",
             err.data ? err.data : "");
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  corio_process_unref(p);
  return rc;
}

static int gather_body(void *arg, void **result) {
  struct cmd cmds[NCMD];
  corio_awaitable children[NCMD];
  corio_outcome outcomes[NCMD];
  corio_timeout g;
  char want[64];

  (void)arg, (void)result;
  for (int i = 0; i < NCMD; i++) {
    memset(&cmds[i], 0, sizeof cmds[i]);
    cmds[i].i = i;
    cmds[i].code = -1;
    children[i] = CORIO_AWAIT_FN(one_command, &cmds[i]);
  }
  CHECK_EQ(corio_timeout_enter(&g, GUARD_S), 0);
  CHECK_EQ(corio_timeout_exit(&g, corio_gather(children, NCMD, outcomes,
                                               CORIO_GATHER_RETURN_EXCEPTIONS)),
           0);
  for (int i = 0; i < NCMD; i++) {
    CHECK_EQ(outcomes[i].error, 0);
    CHECK_EQ(cmds[i].code, i);
    snprintf(want, sizeof want, "line %d\n|%d\n", i, i);
    CHECK_STR(cmds[i].out, want);
  }
  corio_outcomes_clear(outcomes, NCMD);
  return 0;
}

static void test_gather_commands(void **state) {
  (void)state;
  run_proc(gather_body, NULL);
}

static int setup_files(void **state) {
  (void)state;
  make_chunk_file();
  return 0;
}

static int remove_files(void **state) {
  (void)state;
  unlink(chunk_path);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_read_streams, reset_checks),
      cmocka_unit_test_setup(test_stdin_stream, reset_checks),
      cmocka_unit_test_setup(test_stream_directions, reset_checks),
      cmocka_unit_test_setup(test_communicate_4mib_through_cat, reset_checks),
      cmocka_unit_test_setup(test_communicate_all_three_pipes, reset_checks),
      cmocka_unit_test_setup(test_communicate_stdin_closed_early, reset_checks),
      cmocka_unit_test_setup(test_communicate_edges, reset_checks),
      cmocka_unit_test_setup(test_limit, reset_checks),
      cmocka_unit_test_setup(test_gather_commands, reset_checks),
  };
  return cmocka_run_group_tests(tests, setup_files, remove_files);
}
