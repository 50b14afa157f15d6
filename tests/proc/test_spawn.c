/* Starting children: exec and shell, argv and the PATH search, the
 * executable option, cwd, the environment (replaced, extended, names
 * removed), sessions and process groups, umask, which fds the child
 * holds (pass_fds, KEEP_FDS, every other fd closed, corio's own never),
 * each stdio mode as the child sees it (/proc/<pid>/fd and fdinfo), bad
 * input, programs that cannot be run (the code, and a message naming
 * the path), and a bad cwd. Every failure leaves nothing behind. */
#include <pthread.h>
#include <sys/resource.h>

#include "proc_test.h"

extern char **environ;

static const char *const sleeper_argv[] = {"sleep", "1000", NULL};

/* ---- argv, PATH, shell ----------------------------------------------------
 */

static int argv_body(void *arg, void **result) {
  static const char *const echo_path[] = {"echo", "a b", "", "c", NULL};
  static const char *const echo_abs[] = {"/bin/echo", "-n", "x", NULL};
  static const char *const sh_pid[] = {"sh", "-c", "echo $$", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  corio_proc_output out = {0};
  corio_process *p;
  char buf[256];
  size_t len;
  int code = -1;

  (void)arg, (void)result;
  /* Searched in PATH; each argument as it is, the empty one too. */
  CHECK_EQ(exec_output(echo_path, NULL, buf, sizeof buf, &len, &code), 0);
  CHECK_STR(buf, "a b  c\n");
  CHECK_EQ(code, 0);
  CHECK_EQ(exec_output(echo_abs, NULL, buf, sizeof buf, &len, &code), 0);
  CHECK_STR(buf, "x");
  CHECK_EQ(len, 1);
  /* A long argument (no fixed-size buffer on the way). */
  {
    enum { LONG_ARG = 100 * 1024 };
    char *big = malloc(LONG_ARG + 1);
    const char *long_argv[] = {"sh", "-c", "echo ${#1}", "sh", big, NULL};

    CHECK_TRUE(big != NULL);
    if (big) {
      memset(big, 'x', LONG_ARG);
      big[LONG_ARG] = 0;
      CHECK_EQ(exec_output(long_argv, NULL, buf, sizeof buf, &len, &code), 0);
      CHECK_STR(buf, "102400\n");
      free(big);
    }
  }
  /* The pid is the child's own. */
  CHECK_EQ(spawn_exec(sh_pid, &o, &p), 0);
  if (!p)
    return 0;
  CHECK_TRUE(corio_process_pid(p) > 0);
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, NULL, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(out.data ? atol(out.data) : -1, corio_process_pid(p));
  CHECK_EQ(out.data ? out.data[out.len] : -1, 0); /* NUL-terminated */
  corio_proc_output_free(&out);
  CHECK_PTR(out.data, NULL);
  corio_proc_output_free(&out); /* harmless twice */
  CHECK_PTR(corio_process_ref(p), p);
  corio_process_unref(p);
  corio_process_unref(p);
  return 0;
}

static void test_argv_and_path(void **state) {
  (void)state;
  run_proc(argv_body, NULL);
}

static int shell_body(void *arg, void **result) {
  char buf[256];
  int code = -1;

  (void)arg, (void)result;
  CHECK_EQ(shell_output("echo $((6 * 7)) | cat; exit 3", NULL, buf, sizeof buf,
                        &code),
           0);
  CHECK_STR(buf, "42\n");
  CHECK_EQ(code, 3);
  /* The command is one argument of sh -c, quotes and all. */
  CHECK_EQ(shell_output("printf '%s|' \"a  b\" 'c'\"'\"'d'", NULL, buf,
                        sizeof buf, &code),
           0);
  CHECK_STR(buf, "a  b|c'd|");
  CHECK_EQ(code, 0);
  /* $0 is sh's: no extra argument after the command. */
  CHECK_EQ(shell_output("echo \"$#\"", NULL, buf, sizeof buf, &code), 0);
  CHECK_STR(buf, "0\n");
  return 0;
}

static void test_shell(void **state) {
  (void)state;
  run_proc(shell_body, NULL);
}

/* ---- executable -----------------------------------------------------------
 */

static int executable_body(void *arg, void **result) {
  static const char *const named[] = {"corio-name", "-c", "echo $0", NULL};
  static const char *const bogus0[] = {"/nonexistent/argv0", "hi", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  char buf[256];
  int code = -1;

  (void)arg, (void)result;
  /* argv[0] is only the name the child sees. */
  o.executable = "/bin/sh";
  CHECK_EQ(exec_output(named, &o, buf, sizeof buf, NULL, &code), 0);
  CHECK_STR(buf, "corio-name\n");
  CHECK_EQ(code, 0);
  /* Searched in PATH without a '/'. */
  o.executable = "sh";
  CHECK_EQ(exec_output(named, &o, buf, sizeof buf, NULL, &code), 0);
  CHECK_STR(buf, "corio-name\n");
  /* An argv[0] that names nothing does not matter. */
  o.executable = "echo";
  CHECK_EQ(exec_output(bogus0, &o, buf, sizeof buf, NULL, &code), 0);
  CHECK_STR(buf, "hi\n");
  return 0;
}

static void test_executable(void **state) {
  (void)state;
  run_proc(executable_body, NULL);
}

/* ---- cwd ------------------------------------------------------------------
 */

struct dirs {
  char dir[64];  /* a fresh directory */
  char file[96]; /* a plain file in it */
};

static int cwd_body(void *arg, void **result) {
  static const char *const pwd[] = {"sh", "-c", "pwd -P", NULL};
  struct dirs *d = arg;
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  char buf[PATH_MAX + 8], want[PATH_MAX + 8], here[PATH_MAX], real[PATH_MAX];
  corio_process *p;
  int code = -1, fds = open_fds();

  (void)result;
  CHECK_TRUE(getcwd(here, sizeof here) != NULL);
  CHECK_TRUE(realpath(d->dir, real) != NULL);
  o.cwd = d->dir;
  CHECK_EQ(exec_output(pwd, &o, buf, sizeof buf, NULL, &code), 0);
  snprintf(want, sizeof want, "%s\n", real);
  CHECK_STR(buf, want);
  CHECK_EQ(code, 0);
  /* The parent's own cwd has not moved. */
  CHECK_TRUE(getcwd(buf, sizeof buf) != NULL);
  CHECK_STR(buf, here);
  /* By default the parent's. */
  CHECK_TRUE(realpath(here, real) != NULL);
  snprintf(want, sizeof want, "%s\n", real);
  CHECK_EQ(exec_output(pwd, NULL, buf, sizeof buf, NULL, &code), 0);
  CHECK_STR(buf, want);
  /* A bad cwd: the spawn fails, and leaves nothing. */
  o.cwd = "/nonexistent-corio-dir/sub";
  CHECK_EQ(spawn_exec(pwd, &o, &p), -ENOENT);
  CHECK_EQ(spawn_sh("pwd", &o, &p), -ENOENT);
  o.cwd = d->file;
  CHECK_EQ(spawn_exec(pwd, &o, &p), -ENOTDIR);
  CHECK_EQ(open_fds(), fds);
  CHECK_TRUE(no_children());
  return 0;
}

static void test_cwd(void **state) {
  struct dirs d;
  int fd;

  (void)state;
  snprintf(d.dir, sizeof d.dir, "/tmp/corio-proc-cwd-XXXXXX");
  assert_non_null(mkdtemp(d.dir));
  snprintf(d.file, sizeof d.file, "%s/plain", d.dir);
  fd = open(d.file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  close(fd);
  run_proc(cwd_body, &d);
  unlink(d.file);
  rmdir(d.dir);
}

/* ---- environment ----------------------------------------------------------
 * The child is cat /proc/self/environ: the block execve gave it, exactly
 * (no shell adds or drops anything). */

enum { ENV_MAX = 512 };

/* Valgrind takes its own LD_PRELOAD (and LD_LIBRARY_PATH) out of the
 * environment of a program the client executes: under it those are not
 * compared. */
static int ignored(const char *entry) {
  return corio_test_under_valgrind() &&
         (strncmp(entry, "LD_PRELOAD=", 11) == 0 ||
          strncmp(entry, "LD_LIBRARY_PATH=", 16) == 0);
}

struct env_list {
  corio_proc_output out; /* the child's environ, NUL-separated */
  char *block;
  size_t len;
  const char *entry[ENV_MAX];
  int n;
};

static int child_environ(const corio_proc_options *o, struct env_list *e) {
  static const char *const cat_env[] = {"/bin/cat", "/proc/self/environ", NULL};
  corio_proc_options oo = *o;
  corio_proc_output out = {0};
  corio_process *p;
  int rc, code = -1;

  memset(e, 0, sizeof *e);
  oo.stdio[1].mode = PIPE;
  if ((rc = spawn_exec(cat_env, &oo, &p)) < 0)
    return rc;
  rc = communicate_guarded(p, NULL, 0, &out, NULL, &code);
  corio_process_unref(p);
  if (rc < 0)
    return rc;
  if (code != 0) {
    corio_proc_output_free(&out);
    return -EPROTO;
  }
  e->out = out;
  e->block = out.data;
  e->len = out.len;
  for (size_t i = 0; i < out.len && e->n < ENV_MAX;) {
    if (!ignored(out.data + i))
      e->entry[e->n++] = out.data + i;
    i += strlen(out.data + i) + 1;
  }
  return 0;
}

static void env_list_free(struct env_list *e) {
  corio_proc_output_free(&e->out);
  memset(e, 0, sizeof *e);
}

/* How many entries of e are exactly `entry`. */
static int env_count(const struct env_list *e, const char *entry) {
  int n = 0;

  for (int i = 0; i < e->n; i++)
    if (strcmp(e->entry[i], entry) == 0)
      n++;
  return n;
}

/* How many entries of e define `name`. */
static int env_count_name(const struct env_list *e, const char *name) {
  size_t len = strlen(name);
  int n = 0;

  for (int i = 0; i < e->n; i++)
    if (strncmp(e->entry[i], name, len) == 0 && e->entry[i][len] == '=')
      n++;
  return n;
}

static int environ_count(void) {
  int n = 0;

  for (int i = 0; environ[i]; i++)
    if (!ignored(environ[i]))
      n++;
  return n;
}

static int env_body(void *arg, void **result) {
  static const char *const replace[] = {"CORIO_A=1", "CORIO_B=", "CORIO_C=x=y",
                                        NULL};
  static const char *const none[] = {NULL};
  static const char *const extend[] = {"CORIO_PT_NEW=n",  "CORIO_PT_OVER=over",
                                       "CORIO_PT_GONE",   "CORIO_PT_ABSENT",
                                       "CORIO_PT_EMPTY=", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  struct env_list e;
  int parent_n;

  (void)arg, (void)result;
  setenv("CORIO_PT_KEEP", "k", 1);
  setenv("CORIO_PT_OVER", "orig", 1);
  setenv("CORIO_PT_GONE", "g", 1);
  unsetenv("CORIO_PT_ABSENT");
  unsetenv("CORIO_PT_NEW");
  unsetenv("CORIO_PT_EMPTY");
  parent_n = environ_count();

  /* Inherited: the parent's environment, exactly. */
  CHECK_EQ(child_environ(&o, &e), 0);
  CHECK_EQ(e.n, parent_n);
  for (int i = 0; environ[i]; i++)
    if (!ignored(environ[i]))
      CHECK_EQ(env_count(&e, environ[i]), 1);
  env_list_free(&e);

  /* Replaced: exactly the list given. */
  o.env = replace;
  CHECK_EQ(child_environ(&o, &e), 0);
  CHECK_EQ(e.n, 3);
  for (int i = 0; replace[i]; i++)
    CHECK_EQ(env_count(&e, replace[i]), 1);
  env_list_free(&e);
  o.env = none;
  CHECK_EQ(child_environ(&o, &e), 0);
  CHECK_EQ(e.n, 0);
  CHECK_EQ(e.len, 0);
  env_list_free(&e);

  /* Extended: added, overridden (once: no duplicate), removed. */
  o.env = extend;
  o.flags = CORIO_PROC_ENV_EXTEND;
  CHECK_EQ(child_environ(&o, &e), 0);
  CHECK_EQ(e.n, parent_n + 2 - 1); /* NEW and EMPTY in, GONE out */
  CHECK_EQ(env_count(&e, "CORIO_PT_NEW=n"), 1);
  CHECK_EQ(env_count(&e, "CORIO_PT_EMPTY="), 1);
  CHECK_EQ(env_count(&e, "CORIO_PT_OVER=over"), 1);
  CHECK_EQ(env_count_name(&e, "CORIO_PT_OVER"), 1);
  CHECK_EQ(env_count_name(&e, "CORIO_PT_GONE"), 0);
  CHECK_EQ(env_count_name(&e, "CORIO_PT_ABSENT"), 0);
  CHECK_EQ(env_count(&e, "CORIO_PT_KEEP=k"), 1);
  for (int i = 0; environ[i]; i++)
    if (!ignored(environ[i]) &&
        strncmp(environ[i], "CORIO_PT_OVER=", 14) != 0 &&
        strncmp(environ[i], "CORIO_PT_GONE=", 14) != 0)
      CHECK_EQ(env_count(&e, environ[i]), 1);
  env_list_free(&e);
  /* The parent's own environment is untouched. */
  CHECK_STR(getenv("CORIO_PT_OVER"), "orig");
  CHECK_STR(getenv("CORIO_PT_GONE"), "g");
  CHECK_PTR(getenv("CORIO_PT_NEW"), NULL);
  CHECK_EQ(environ_count(), parent_n);

  /* EXTEND with no list: the parent's. */
  o.env = NULL;
  CHECK_EQ(child_environ(&o, &e), 0);
  CHECK_EQ(e.n, parent_n);
  env_list_free(&e);

  unsetenv("CORIO_PT_KEEP");
  unsetenv("CORIO_PT_OVER");
  unsetenv("CORIO_PT_GONE");
  return 0;
}

static void test_env(void **state) {
  (void)state;
  run_proc(env_body, NULL);
}

/* ---- sessions, process groups ---------------------------------------------
 */

/* The child's process group and session, from its own /proc stat. */
static int child_ids(unsigned flags, pid_t *pid, long *pgrp, long *session) {
  static const char *const cat_stat[] = {"cat", "/proc/self/stat", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  corio_proc_output out = {0};
  corio_process *p;
  int rc, code = -1;

  o.flags = flags;
  if ((rc = spawn_exec(cat_stat, &o, &p)) < 0)
    return rc;
  *pid = corio_process_pid(p);
  rc = communicate_guarded(p, NULL, 0, &out, NULL, &code);
  corio_process_unref(p);
  if (rc == 0 &&
      (code != 0 || !out.data || parse_stat(out.data, pgrp, session) != 0))
    rc = -EPROTO;
  corio_proc_output_free(&out);
  return rc;
}

static int session_body(void *arg, void **result) {
  pid_t pid = 0;
  long pgrp = 0, sid = 0;

  (void)arg, (void)result;
  /* By default the parent's group and session. */
  CHECK_EQ(child_ids(0, &pid, &pgrp, &sid), 0);
  CHECK_EQ(pgrp, getpgrp());
  CHECK_EQ(sid, getsid(0));
  /* A group of its own, in the parent's session. */
  CHECK_EQ(child_ids(CORIO_PROC_NEW_PROCESS_GROUP, &pid, &pgrp, &sid), 0);
  CHECK_EQ(pgrp, pid);
  CHECK_EQ(sid, getsid(0));
  /* A session (and so a group) of its own. */
  CHECK_EQ(child_ids(CORIO_PROC_NEW_SESSION, &pid, &pgrp, &sid), 0);
  CHECK_EQ(pgrp, pid);
  CHECK_EQ(sid, pid);
  /* Both: setsid makes the group too. Python's child would call
   * setpgid(0, 0) after setsid() and fail with EPERM (a session leader
   * cannot change group); either that error, cleanly, or the ids. */
  {
    int rc = child_ids(CORIO_PROC_NEW_SESSION | CORIO_PROC_NEW_PROCESS_GROUP,
                       &pid, &pgrp, &sid);
    if (rc == 0) {
      CHECK_EQ(pgrp, pid);
      CHECK_EQ(sid, pid);
    } else {
      CHECK_EQ(rc, -EPERM);
    }
  }
  /* Nothing changed here. */
  CHECK_EQ(getpgrp(), getpgid(0));
  return 0;
}

static void test_session_and_group(void **state) {
  (void)state;
  run_proc(session_body, NULL);
}

/* ---- umask ----------------------------------------------------------------
 */

static int umask_body(void *arg, void **result) {
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  char buf[64];
  int code = -1;
  mode_t mine;

  (void)arg, (void)result;
  o.flags = CORIO_PROC_SET_UMASK;
  o.umask = 027;
  CHECK_EQ(shell_output("umask", &o, buf, sizeof buf, &code), 0);
  CHECK_STR(buf, "0027\n");
  /* The flag, not the value, decides: 0 is a umask too. */
  o.umask = 0;
  CHECK_EQ(shell_output("umask", &o, buf, sizeof buf, &code), 0);
  CHECK_STR(buf, "0000\n");
  /* Without the flag: the parent's, whatever the field says. */
  o.flags = 0;
  o.umask = 077;
  CHECK_EQ(shell_output("umask", &o, buf, sizeof buf, &code), 0);
  CHECK_STR(buf, "0022\n");
  /* The parent's umask never moved. */
  mine = umask(022);
  CHECK_EQ(mine, 022);
  return 0;
}

static void test_umask(void **state) {
  mode_t saved = umask(022);

  (void)state;
  run_proc(umask_body, NULL);
  umask(saved);
}

/* ---- which fds the child holds --------------------------------------------
 * The child is cat with stdin and stdout piped: it blocks reading stdin
 * while the test looks at /proc/<pid>/fd, then ends at EOF. */

struct fdset {
  int plain;      /* /dev/null, not close-on-exec */
  int pr, pw;     /* a pipe, not close-on-exec */
  int cr, cw;     /* a pipe, close-on-exec */
  int high;       /* a dup of plain at a high number, not close-on-exec */
  int failed_set; /* a setup call failed */
};

static void fdset_open(struct fdset *s) {
  int p[2], c[2];

  memset(s, 0, sizeof *s);
  s->plain = open("/dev/null", O_RDONLY);
  if (pipe(p) != 0 || pipe2(c, O_CLOEXEC) != 0 || s->plain < 0) {
    s->failed_set = 1;
    return;
  }
  s->pr = p[0], s->pw = p[1], s->cr = c[0], s->cw = c[1];
  s->high = fcntl(s->plain, F_DUPFD, 100);
  if (s->high < 0)
    s->failed_set = 1;
}

static void fdset_close(struct fdset *s) {
  int all[] = {s->plain, s->pr, s->pw, s->cr, s->cw, s->high};

  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i] > 0)
      close(all[i]);
}

static int in_list(int fd, const int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] == fd)
      return 1;
  return 0;
}

/* Starts cat with o, checks that it holds exactly {0, 1, 2} and `want`
 * (the same files as the parent's fds of those numbers), then ends it. */
static void check_child_fds(corio_proc_options o, const int *want, int nwant,
                            const char *what) {
  static const char *const cat[] = {"cat", NULL};
  int fds[MAX_FDS], n, code = -1;
  corio_process *p;
  char a[128], b[128];

  o.stdio[0].mode = PIPE;
  o.stdio[1].mode = PIPE;
  CHECK_EQ(spawn_exec(cat, &o, &p), 0);
  if (!p)
    return;
  CHECK_TRUE(await_exec(corio_process_pid(p), "cat"));
  /* Once cat has echoed a line it is in its read loop: its start-up
   * (locale files) is over, so what it holds open now is what it got. */
  CHECK_EQ(corio_stream_write(corio_process_stdin(p), "ping\n", 5), 0);
  CHECK_EQ(readline_guarded(corio_process_stdout(p), a, sizeof a), 0);
  CHECK_STR(a, "ping\n");
  n = fds_of(corio_process_pid(p), fds);
  for (int i = 0; i < n; i++)
    if (fds[i] > 2 && !in_list(fds[i], want, nwant)) {
      fd_target(corio_process_pid(p), fds[i], a, sizeof a);
      check_str(a, "(nothing)", what, __FILE__, __LINE__);
    }
  CHECK_EQ(n, 3 + nwant);
  for (int i = 0; i < nwant; i++) {
    CHECK_TRUE(in_list(want[i], fds, n));
    CHECK_STR(fd_target(corio_process_pid(p), want[i], a, sizeof a),
              fd_target(0, want[i], b, sizeof b));
  }
  CHECK_EQ(corio_stream_close(corio_process_stdin(p)), 0);
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, 0);
  corio_process_unref(p);
}

static int fds_body(void *arg, void **result) {
  struct fdset *s = arg;
  corio_proc_options o = stdio3(INHERIT, INHERIT, INHERIT);
  int pass[3];
  char buf[64], cmd[64];
  size_t n = 0;
  int code = -1;

  (void)result;
  /* Default: every fd above 2 closed, whether close-on-exec or not. */
  check_child_fds(o, NULL, 0, "an fd the child should not hold");
  /* pass_fds: kept with the same numbers, a close-on-exec one too. */
  pass[0] = s->pw;
  pass[1] = s->cw;
  pass[2] = s->high;
  o.pass_fds = pass;
  o.npass_fds = 3;
  check_child_fds(o, pass, 3, "an fd not passed");
  /* The parent's fds are its own still: open, and their flags as they
   * were. */
  CHECK_EQ(fcntl(s->cw, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(s->pw, F_GETFD), 0);
  CHECK_EQ(fcntl(s->high, F_GETFD), 0);
  /* A passed fd works in the child. */
  o.npass_fds = 1;
  snprintf(cmd, sizeof cmd, "echo via-fd >&%d", s->pw);
  CHECK_EQ(shell_output(cmd, &o, buf, sizeof buf, &code), 0);
  CHECK_EQ(code, 0);
  fcntl(s->pr, F_SETFL, O_NONBLOCK); /* a bug must not block the test */
  n = (size_t)read(s->pr, buf, sizeof buf - 1);
  buf[n < sizeof buf ? n : 0] = 0;
  CHECK_STR(buf, "via-fd\n");
  return 0;
}

/* Runs body with the parent's set of fds open. */
static void run_with_fdset(corio_task_fn body) {
  struct fdset s;

  fdset_open(&s);
  assert_false(s.failed_set);
  run_proc(body, &s);
  fdset_close(&s);
}

static void test_pass_fds_and_close_others(void **state) {
  (void)state;
  run_with_fdset(fds_body);
}

/* KEEP_FDS: every fd that is not close-on-exec stays (asyncio's
 * close_fds=False); close-on-exec ones, corio's own among them (the
 * poller, its wake-up fd, other children's pipes), still do not, unless
 * passed. */
static int keep_body(void *arg, void **result) {
  struct fdset *s = arg;
  corio_proc_options o = stdio3(INHERIT, INHERIT, INHERIT);
  int mine[MAX_FDS], want[MAX_FDS], n, nwant = 0;
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options other = stdio3(PIPE, PIPE, PIPE);
  corio_process *busy;

  (void)result;
  /* Another child's pipes are open meanwhile. */
  CHECK_EQ(spawn_exec(cat, &other, &busy), 0);
  if (!busy)
    return 0;
  n = fds_of(0, mine);
  for (int i = 0; i < n; i++)
    if (mine[i] > 2 && fcntl(mine[i], F_GETFD) == 0)
      want[nwant++] = mine[i];
  CHECK_TRUE(in_list(s->plain, want, nwant));
  CHECK_TRUE(in_list(s->high, want, nwant));
  CHECK_TRUE(!in_list(s->cw, want, nwant));
  o.flags = CORIO_PROC_KEEP_FDS;
  check_child_fds(o, want, nwant, "a close-on-exec fd");
  /* With a close-on-exec fd passed as well. */
  want[nwant] = s->cw;
  o.pass_fds = &s->cw;
  o.npass_fds = 1;
  check_child_fds(o, want, nwant + 1, "a close-on-exec fd not passed");
  CHECK_EQ(fcntl(s->cw, F_GETFD), FD_CLOEXEC);
  /* The other child still ends at its EOF: nobody else holds its stdin. */
  CHECK_EQ(corio_stream_close(corio_process_stdin(busy)), 0);
  CHECK_EQ(wait_guarded(busy, NULL), 0);
  corio_process_unref(busy);
  return 0;
}

static void test_keep_fds(void **state) {
  (void)state;
  run_with_fdset(keep_body);
}

/* ---- stdio modes ----------------------------------------------------------
 */

static int stdio_body(void *arg, void **result) {
  static const char *const sleeper[] = {"sleep", "1000", NULL};
  static const char *const cat[] = {"cat", NULL};
  corio_proc_options o;
  corio_proc_output out = {0}, err = {0};
  corio_process *p;
  char a[128], b[128];
  int pw[2], code = 0;
  pid_t pid;

  (void)arg, (void)result;
  /* INHERIT: the parent's own fds 0, 1, 2. */
  o = stdio3(INHERIT, INHERIT, INHERIT);
  CHECK_EQ(spawn_exec(sleeper, &o, &p), 0);
  if (!p)
    return 0;
  pid = corio_process_pid(p);
  CHECK_TRUE(await_exec(pid, "sleep"));
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      CHECK_STR(fd_target(pid, fd, a, sizeof a), fd_target(0, fd, b, sizeof b));
  CHECK_PTR(corio_process_stdin(p), NULL);
  CHECK_PTR(corio_process_stdout(p), NULL);
  CHECK_PTR(corio_process_stderr(p), NULL);
  CHECK_EQ(corio_process_kill(p), 0);
  CHECK_EQ(wait_guarded(p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  corio_process_unref(p);

  /* DEVNULL, FD, and STDOUT following an FD. */
  CHECK_EQ(pipe2(pw, O_CLOEXEC), 0);
  o = stdio3(DEVNULL, CORIO_PROC_FD, CORIO_PROC_STDOUT);
  o.stdio[1].fd = pw[1];
  CHECK_EQ(spawn_exec(sleeper, &o, &p), 0);
  if (!p)
    return 0;
  pid = corio_process_pid(p);
  CHECK_TRUE(await_exec(pid, "sleep"));
  CHECK_STR(fd_target(pid, 0, a, sizeof a), "/dev/null");
  CHECK_STR(fd_target(pid, 1, a, sizeof a), fd_target(0, pw[1], b, sizeof b));
  CHECK_STR(fd_target(pid, 2, a, sizeof a), fd_target(0, pw[1], b, sizeof b));
  CHECK_PTR(corio_process_stdin(p), NULL);
  CHECK_PTR(corio_process_stdout(p), NULL);
  CHECK_PTR(corio_process_stderr(p), NULL);
  /* The parent's fd is not taken over. */
  CHECK_EQ(fcntl(pw[1], F_GETFD), FD_CLOEXEC);
  kill_and_drop(p);

  /* All three DEVNULL, and STDOUT following DEVNULL. */
  o = stdio3(DEVNULL, DEVNULL, DEVNULL);
  CHECK_EQ(spawn_exec(sleeper, &o, &p), 0);
  if (!p)
    return 0;
  pid = corio_process_pid(p);
  CHECK_TRUE(await_exec(pid, "sleep"));
  for (int fd = 0; fd < 3; fd++)
    CHECK_STR(fd_target(pid, fd, a, sizeof a), "/dev/null");
  kill_and_drop(p);
  o = stdio3(INHERIT, DEVNULL, CORIO_PROC_STDOUT);
  CHECK_EQ(spawn_exec(sleeper, &o, &p), 0);
  if (!p)
    return 0;
  pid = corio_process_pid(p);
  CHECK_TRUE(await_exec(pid, "sleep"));
  CHECK_STR(fd_target(pid, 2, a, sizeof a), "/dev/null");
  kill_and_drop(p);

  /* PIPE: the child's ends are blocking (O_NONBLOCK is shared through a
   * pipe's open file, and would make the child's reads fail with
   * EAGAIN); the parent's are non-blocking and close-on-exec. */
  o = stdio3(PIPE, PIPE, PIPE);
  CHECK_EQ(spawn_exec(sleeper, &o, &p), 0);
  if (!p)
    return 0;
  pid = corio_process_pid(p);
  CHECK_TRUE(await_exec(pid, "sleep"));
  for (int fd = 0; fd < 3; fd++) {
    long flags = fd_flags_of(pid, fd);
    CHECK_TRUE(flags >= 0 && !(flags & O_NONBLOCK));
    CHECK_TRUE(strncmp(fd_target(pid, fd, a, sizeof a), "pipe:", 5) == 0);
  }
  {
    corio_stream *s[3] = {corio_process_stdin(p), corio_process_stdout(p),
                          corio_process_stderr(p)};
    for (int i = 0; i < 3; i++) {
      int fd = s[i] ? corio_stream_fd(s[i]) : -1;
      CHECK_TRUE(fd > 2);
      if (fd < 0)
        continue;
      CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
      CHECK_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
      CHECK_STR(fd_target(0, fd, a, sizeof a), fd_target(pid, i, b, sizeof b));
    }
    CHECK_TRUE((fcntl(corio_stream_fd(s[0]), F_GETFL) & O_ACCMODE) == O_WRONLY);
    CHECK_TRUE((fcntl(corio_stream_fd(s[1]), F_GETFL) & O_ACCMODE) == O_RDONLY);
  }
  kill_and_drop(p);

  /* STDOUT following a PIPE: both in one stream, none for stderr. */
  o = stdio3(INHERIT, PIPE, CORIO_PROC_STDOUT);
  CHECK_EQ(spawn_sh("echo out; echo err >&2; echo out2", &o, &p), 0);
  if (!p)
    return 0;
  CHECK_PTR(corio_process_stderr(p), NULL);
  CHECK_EQ(communicate_guarded(p, NULL, 0, &out, &err, &code), 0);
  CHECK_STR(out.data ? out.data : "(null)", "out\nerr\nout2\n");
  CHECK_EQ(err.len, 0);
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  corio_process_unref(p);

  /* FD for stdin: the child reads what the parent's pipe holds. */
  {
    int in[2];
    char buf[64];
    size_t n;

    CHECK_EQ(pipe2(in, O_CLOEXEC), 0);
    CHECK_EQ(write(in[1], "data\n", 5), 5);
    close(in[1]);
    o = stdio3(CORIO_PROC_FD, PIPE, INHERIT);
    o.stdio[0].fd = in[0];
    CHECK_EQ(exec_output(cat, &o, buf, sizeof buf, &n, &code), 0);
    CHECK_STR(buf, "data\n");
    CHECK_EQ(fcntl(in[0], F_GETFD), FD_CLOEXEC); /* still the parent's */
    close(in[0]);
  }

  /* The parent's FD pipe got what the child wrote on 1 and 2 (the child
   * that slept wrote nothing): nothing there but it stays usable. */
  close(pw[1]);
  fcntl(pw[0], F_SETFL, O_NONBLOCK); /* a bug must not block the test */
  {
    char c;
    CHECK_EQ(read(pw[0], &c, 1), 0);
  }
  close(pw[0]);
  return 0;
}

static void test_stdio_modes(void **state) {
  (void)state;
  run_proc(stdio_body, NULL);
}

/* The child's stdout and stderr are the parent's 2 and 1, swapped: the
 * dup2s must not clobber each other (Python's _posixsubprocess takes
 * care of this; a naive dup2(2, 1); dup2(1, 2) sends both to one). */
struct swap {
  int out[2], err[2]; /* what the parent's 1 and 2 are during the spawn */
  int saved1, saved2;
  int spawn_rc, code;
};

static int swap_body(void *arg, void **result) {
  struct swap *sw = arg;
  corio_proc_options o = stdio3(INHERIT, CORIO_PROC_FD, CORIO_PROC_FD);
  corio_process *p;

  (void)result;
  o.stdio[1].fd = 2;
  o.stdio[2].fd = 1;
  fflush(stdout);
  fflush(stderr);
  dup2(sw->out[1], 1);
  dup2(sw->err[1], 2);
  sw->spawn_rc = spawn_sh("echo to-out; echo to-err >&2", &o, &p);
  dup2(sw->saved1, 1);
  dup2(sw->saved2, 2);
  CHECK_EQ(sw->spawn_rc, 0);
  if (!p)
    return 0;
  CHECK_EQ(wait_guarded(p, &sw->code), 0);
  CHECK_EQ(sw->code, 0);
  corio_process_unref(p);
  return 0;
}

static void test_stdio_fds_swapped(void **state) {
  struct swap sw;
  char a[64] = {0}, b[64] = {0};
  ssize_t n;

  (void)state;
  memset(&sw, 0, sizeof sw);
  assert_int_equal(pipe2(sw.out, O_CLOEXEC), 0);
  assert_int_equal(pipe2(sw.err, O_CLOEXEC), 0);
  sw.saved1 = fcntl(1, F_DUPFD_CLOEXEC, 3);
  sw.saved2 = fcntl(2, F_DUPFD_CLOEXEC, 3);
  assert_true(sw.saved1 >= 0 && sw.saved2 >= 0);
  run_proc(swap_body, &sw);
  close(sw.saved1);
  close(sw.saved2);
  close(sw.out[1]);
  close(sw.err[1]);
  n = read(sw.out[0], a, sizeof a - 1);
  a[n > 0 ? n : 0] = 0;
  n = read(sw.err[0], b, sizeof b - 1);
  b[n > 0 ? n : 0] = 0;
  close(sw.out[0]);
  close(sw.err[0]);
  /* The child's stdout is the parent's 2 (err pipe), its stderr the
   * parent's 1 (out pipe). */
  assert_string_equal(a, "to-err\n");
  assert_string_equal(b, "to-out\n");
}

/* ---- signal state ---------------------------------------------------------
 * What the child starts with, whatever the parent's thread blocks or
 * ignores: nothing blocked, and SIGPIPE at its default (Popen's
 * restore_signals, which asyncio uses), so that a child in a pipeline
 * ends on a closed pipe as it would from a shell. */

static int on_usr2(void *arg) {
  (void)arg;
  return 0;
}

/* A hex field of the child's /proc/self/status. */
static unsigned long long status_field(const char *status, const char *name) {
  const char *at = strstr(status, name);

  return at ? strtoull(at + strlen(name), NULL, 16) : ~0ULL;
}

static int signal_state_body(void *arg, void **result) {
  static const char *const cat_status[] = {"cat", "/proc/self/status", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  struct sigaction ign, old_pipe;
  sigset_t block, old_mask;
  corio_process *p;
  char *buf = malloc(8192);
  int code = -1;

  (void)arg, (void)result;
  if (!buf)
    return 0;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old_pipe);
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  CHECK_EQ(corio_loop_add_signal_handler(corio_loop_running(), SIGUSR2, on_usr2,
                                         NULL),
           0);
  CHECK_EQ(exec_output(cat_status, &o, buf, 8192, NULL, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(status_field(buf, "SigBlk:"), 0);
  CHECK_EQ(status_field(buf, "SigIgn:") & (1ULL << (SIGPIPE - 1)), 0);
  CHECK_EQ(status_field(buf, "SigCgt:"), 0);
  /* Blocked here, not there: the signal ends the child. */
  CHECK_EQ(spawn_exec(sleeper_argv, NULL, &p), 0);
  if (p) {
    CHECK_TRUE(await_exec(corio_process_pid(p), "sleep"));
    CHECK_EQ(corio_process_terminate(p), 0);
    CHECK_EQ(wait_guarded(p, &code), 0);
    CHECK_EQ(code, -SIGTERM);
    corio_process_unref(p);
  }
  CHECK_EQ(corio_loop_remove_signal_handler(corio_loop_running(), SIGUSR2), 1);
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(SIGPIPE, &old_pipe, NULL);
  free(buf);
  return 0;
}

static void test_signal_state(void **state) {
  (void)state;
  run_proc(signal_state_body, NULL);
}

/* ---- bad input ------------------------------------------------------------
 */

static int bad_input_body(void *arg, void **result) {
  static const char *const echo[] = {"echo", NULL};
  static const char *const empty[] = {NULL};
  corio_proc_options o;
  corio_process *p = NULL;
  int fds = open_fds(), pass_low[] = {5, 2}, pass_neg[] = {-1};

  (void)arg, (void)result;
  CHECK_EQ(corio_create_subprocess_exec(NULL, NULL, &p), -EINVAL);
  CHECK_EQ(corio_create_subprocess_exec(echo, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_create_subprocess_exec(empty, NULL, &p), -EINVAL);
  CHECK_EQ(corio_create_subprocess_shell(NULL, NULL, &p), -EINVAL);
  CHECK_EQ(corio_create_subprocess_shell("true", NULL, NULL), -EINVAL);
  for (int i = 0; i < 3; i++) {
    o = stdio3(INHERIT, INHERIT, INHERIT);
    o.stdio[i].mode = 99;
    CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
    o.stdio[i].mode = -1;
    CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
    o.stdio[i].mode = CORIO_PROC_FD;
    o.stdio[i].fd = -1;
    CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
    CHECK_EQ(corio_create_subprocess_shell("true", &o, &p), -EINVAL);
  }
  o = stdio3(CORIO_PROC_STDOUT, INHERIT, INHERIT);
  CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
  o = stdio3(INHERIT, CORIO_PROC_STDOUT, INHERIT);
  CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
  o = stdio3(INHERIT, INHERIT, INHERIT);
  o.pass_fds = pass_low;
  o.npass_fds = 2;
  CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
  o.pass_fds = pass_neg;
  o.npass_fds = 1;
  CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EINVAL);
  CHECK_PTR(p, NULL);
  /* An fd that is not open, as a stdio or passed: an error (the child
   * could not have it), and nothing left. */
  o = stdio3(INHERIT, CORIO_PROC_FD, INHERIT);
  o.stdio[1].fd = 999;
  CHECK_TRUE(fcntl(999, F_GETFD) < 0);
  CHECK_TRUE(corio_create_subprocess_exec(echo, &o, &p) < 0);
  o = stdio3(PIPE, PIPE, PIPE);
  pass_low[0] = 999;
  o.pass_fds = pass_low;
  o.npass_fds = 1;
  CHECK_EQ(corio_create_subprocess_exec(echo, &o, &p), -EBADF);
  CHECK_EQ(open_fds(), fds);
  CHECK_TRUE(no_children());
  return 0;
}

static void test_bad_input(void **state) {
  (void)state;
  run_proc(bad_input_body, NULL);
}

/* ---- programs that cannot be run ------------------------------------------
 */

struct unrunnable {
  char dir[64];
  char plain[96]; /* a file without any x bit */
};

static void check_failure(int rc, int want, const char *name) {
  const char *msg;

  CHECK_EQ(rc, want);
  msg = corio_fail_message(want);
  if (!msg) {
    check_str("(no message)", name, "the error's message", __FILE__, __LINE__);
    return;
  }
  if (!strstr(msg, name))
    check_str(msg, name, "the error's message", __FILE__, __LINE__);
}

static int unrunnable_body(void *arg, void **result) {
  struct unrunnable *u = arg;
  static const char *const missing_abs[] = {"/nonexistent/corio-prog", NULL};
  static const char *const missing_path[] = {"corio-no-such-program-7", NULL};
  static const char *const echo[] = {"echo", NULL};
  const char *plain[] = {u->plain, NULL}, *dir[] = {u->dir, NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_process *p = NULL;
  int fds = open_fds();

  (void)result;
  check_failure(spawn_exec(missing_abs, &o, &p), -ENOENT,
                "/nonexistent/corio-prog");
  check_failure(spawn_exec(missing_path, &o, &p), -ENOENT,
                "corio-no-such-program-7");
  check_failure(spawn_exec(plain, &o, &p), -EACCES, u->plain);
  check_failure(spawn_exec(dir, &o, &p), -EACCES, u->dir);
  /* The executable option is what is run, and what the message names. */
  o.executable = "/nonexistent/corio-exe";
  check_failure(spawn_exec(echo, &o, &p), -ENOENT, "/nonexistent/corio-exe");
  o.executable = u->plain;
  check_failure(spawn_exec(echo, &o, &p), -EACCES, u->plain);
  CHECK_PTR(p, NULL);
  CHECK_EQ(open_fds(), fds);
  CHECK_TRUE(no_children());
  return 0;
}

static void test_cannot_run(void **state) {
  struct unrunnable u;
  int fd;

  (void)state;
  snprintf(u.dir, sizeof u.dir, "/tmp/corio-proc-run-XXXXXX");
  assert_non_null(mkdtemp(u.dir));
  snprintf(u.plain, sizeof u.plain, "%s/not-executable", u.dir);
  fd = open(u.plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "#!/bin/sh\necho no\n", 18), 18);
  close(fd);
  run_proc(unrunnable_body, &u);
  unlink(u.plain);
  rmdir(u.dir);
}

/* ---- no loop --------------------------------------------------------------
 */

static void test_no_loop(void **state) {
  static const char *const echo[] = {"echo", NULL};
  corio_process *p = NULL;
  int fds = open_fds();

  (void)state;
  assert_int_equal(corio_create_subprocess_exec(echo, NULL, &p), CORIO_ENOLOOP);
  assert_int_equal(corio_create_subprocess_shell("true", NULL, &p),
                   CORIO_ENOLOOP);
  assert_null(p);
  assert_int_equal(open_fds(), fds);
  assert_true(no_children());
}

/* ---- the same through the umask path -------------------------------------
 * A umask cannot be given to posix_spawn: with SET_UMASK the spawn goes
 * another way (and under Valgrind always does). Every option must work
 * there the same, so the tests run again with a umask set on each spawn
 * (the process's own, so nothing else changes). */

#define UMASK_VARIANT(name)                                                    \
  static void name##_umask_path(void **state) {                                \
    with_umask = 1;                                                            \
    name(state);                                                               \
    with_umask = 0;                                                            \
  }

UMASK_VARIANT(test_argv_and_path)
UMASK_VARIANT(test_executable)
UMASK_VARIANT(test_cwd)
UMASK_VARIANT(test_env)
UMASK_VARIANT(test_session_and_group)
UMASK_VARIANT(test_pass_fds_and_close_others)
UMASK_VARIANT(test_keep_fds)
UMASK_VARIANT(test_stdio_modes)
UMASK_VARIANT(test_stdio_fds_swapped)
UMASK_VARIANT(test_signal_state)
UMASK_VARIANT(test_cannot_run)

/* ---- the PATH search and closed stdio, from the review ---------------------
 * An empty PATH entry is the directory the child runs in (execvp's rule),
 * also as the last entry, and a relative entry is taken from cwd, not from
 * the parent's directory. */

struct path_dirs {
  char dir[64];
  char prog[96];
};

static int path_body(void *arg, void **result) {
  struct path_dirs *d = arg;
  const char *argv[] = {"corio-path-probe", NULL};
  const char *trailing[] = {"PATH=/nonexistent-corio:", NULL};
  const char *relative[] = {"PATH=/nonexistent-corio:.", NULL};
  const char *none[] = {"PATH=/nonexistent-corio", NULL};
  corio_proc_options o = stdio3(INHERIT, PIPE, INHERIT);
  char out[64];
  size_t len;
  int code = -1;

  (void)result;
  o.cwd = d->dir;
  o.env = trailing;
  CHECK_EQ(exec_output(argv, &o, out, sizeof out, &len, &code), 0);
  CHECK_STR(out, "found\n");
  o.env = relative;
  CHECK_EQ(exec_output(argv, &o, out, sizeof out, &len, &code), 0);
  CHECK_STR(out, "found\n");
  o.env = none;
  CHECK_EQ(exec_output(argv, &o, out, sizeof out, &len, &code), -ENOENT);
  return 0;
}

static void test_path_entries(void **state) {
  struct path_dirs d;
  FILE *f;

  (void)state;
  snprintf(d.dir, sizeof d.dir, "/tmp/corio-proc-path-XXXXXX");
  assert_non_null(mkdtemp(d.dir));
  snprintf(d.prog, sizeof d.prog, "%s/corio-path-probe", d.dir);
  f = fopen(d.prog, "w");
  assert_non_null(f);
  fputs("#!/bin/sh\necho found\n", f);
  fclose(f);
  assert_int_equal(chmod(d.prog, 0755), 0);
  run_proc(path_body, &d);
  unlink(d.prog);
  rmdir(d.dir);
}

/* With the parent's stdin closed the pipe made for the child's stdin can
 * get fd 0: the child must still have it (the umask path dup2s fd 0 onto
 * itself, which would leave it close-on-exec). */
static int closed_stdin_body(void *arg, void **result) {
  const char *argv[] = {"cat", NULL};
  corio_proc_options o = stdio3(PIPE, PIPE, INHERIT);
  corio_proc_output out = {0};
  corio_process *p;
  int code = -1;

  (void)arg, (void)result;
  CHECK_EQ(spawn_exec(argv, &o, &p), 0);
  if (!p)
    return 0;
  CHECK_EQ(communicate_guarded(p, "through fd 0\n", 13, &out, NULL, &code), 0);
  CHECK_STR(out.data ? out.data : "", "through fd 0\n");
  CHECK_EQ(code, 0);
  corio_proc_output_free(&out);
  corio_process_unref(p);
  return 0;
}

static void run_with_stdin_closed(void) {
  int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);

  assert_true(saved >= 0);
  close(0);
  run_proc(closed_stdin_body, NULL);
  assert_int_equal(dup2(saved, 0), 0);
  close(saved);
}

static void test_closed_stdin(void **state) {
  (void)state;
  run_with_stdin_closed();
}

static void test_closed_stdin_umask_path(void **state) {
  (void)state;
  with_umask = 1;
  run_with_stdin_closed();
  with_umask = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_argv_and_path, reset_checks),
      cmocka_unit_test_setup(test_shell, reset_checks),
      cmocka_unit_test_setup(test_executable, reset_checks),
      cmocka_unit_test_setup(test_cwd, reset_checks),
      cmocka_unit_test_setup(test_env, reset_checks),
      cmocka_unit_test_setup(test_session_and_group, reset_checks),
      cmocka_unit_test_setup(test_umask, reset_checks),
      cmocka_unit_test_setup(test_pass_fds_and_close_others, reset_checks),
      cmocka_unit_test_setup(test_keep_fds, reset_checks),
      cmocka_unit_test_setup(test_stdio_modes, reset_checks),
      cmocka_unit_test_setup(test_stdio_fds_swapped, reset_checks),
      cmocka_unit_test_setup(test_signal_state, reset_checks),
      cmocka_unit_test_setup(test_bad_input, reset_checks),
      cmocka_unit_test_setup(test_cannot_run, reset_checks),
      cmocka_unit_test_setup(test_no_loop, reset_checks),
      cmocka_unit_test_setup(test_argv_and_path_umask_path, reset_checks),
      cmocka_unit_test_setup(test_executable_umask_path, reset_checks),
      cmocka_unit_test_setup(test_cwd_umask_path, reset_checks),
      cmocka_unit_test_setup(test_env_umask_path, reset_checks),
      cmocka_unit_test_setup(test_session_and_group_umask_path, reset_checks),
      cmocka_unit_test_setup(test_pass_fds_and_close_others_umask_path,
                             reset_checks),
      cmocka_unit_test_setup(test_keep_fds_umask_path, reset_checks),
      cmocka_unit_test_setup(test_stdio_modes_umask_path, reset_checks),
      cmocka_unit_test_setup(test_stdio_fds_swapped_umask_path, reset_checks),
      cmocka_unit_test_setup(test_signal_state_umask_path, reset_checks),
      cmocka_unit_test_setup(test_cannot_run_umask_path, reset_checks),
      cmocka_unit_test_setup(test_path_entries, reset_checks),
      cmocka_unit_test_setup(test_closed_stdin, reset_checks),
      cmocka_unit_test_setup(test_closed_stdin_umask_path, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
