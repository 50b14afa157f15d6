/* Helpers shared by the proc tests.
 *
 * Children are always bounded: every pid a test spawns is tracked, each
 * wait goes through a guard (a minute: only a bug reaches it) that kills
 * the child when it fires, and after every run a child still there (a
 * failed check left it) is killed and reaped, and fails the test.
 *
 * What a child's state is, is read without disturbing corio: waitid with
 * WNOWAIT tells running, exited but not reaped (a zombie), or reaped
 * (gone: no longer our child), and reaps nothing. What a running child
 * holds open is read from /proc/<pid>/fd and fdinfo, once it has exec'd
 * (its comm is the program's). No fixed sleeps: every wait is on a
 * condition, bounded. */
#ifndef CORIO_PROC_TEST_H
#define CORIO_PROC_TEST_H

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../net/net_test.h"
#include "corio/combine.h"
#include "corio/proc.h"

/* Seconds a wait may take before the test calls it a hang. */
#define GUARD_S 60.0

/* ---- time, without relying on it ------------------------------------------
 */

static inline double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void pause_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- children's state -----------------------------------------------------
 */

enum child_state { CHILD_RUNNING, CHILD_ZOMBIE, CHILD_GONE };

/* Without reaping: running, exited and not reaped, or reaped (no longer
 * a child of ours). */
static inline int child_state(pid_t pid) {
  siginfo_t si;

  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
    return CHILD_GONE;
  return si.si_pid == pid ? CHILD_ZOMBIE : CHILD_RUNNING;
}

/* This process has no child at all, running or zombie. */
static inline int no_children(void) {
  siginfo_t si;

  memset(&si, 0, sizeof si);
  return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 &&
         errno == ECHILD;
}

enum { MAX_TRACKED = 512 };
static pid_t tracked[MAX_TRACKED];
static int ntracked;

static inline void track_pid(pid_t pid) {
  if (pid > 0 && ntracked < MAX_TRACKED)
    tracked[ntracked++] = pid;
}

/* After a run: kills and reaps every tracked child still there (only a
 * failed check leaves one). Returns how many there were. A child not
 * reaped yet is still ours, so its pid cannot have been reused. */
static inline int reap_leftovers(void) {
  int n = 0;

  for (int i = 0; i < ntracked; i++)
    if (child_state(tracked[i]) != CHILD_GONE) {
      kill(tracked[i], SIGKILL);
      while (waitpid(tracked[i], NULL, 0) < 0 && errno == EINTR) {
      }
      n++;
    }
  ntracked = 0;
  return n;
}

/* Outside a loop: waits until pid is reaped (by corio), polling; 0 if it
 * never is within the guard. */
static inline int gone_within_guard(pid_t pid) {
  double end = now_s() + GUARD_S;

  while (child_state(pid) != CHILD_GONE) {
    if (now_s() > end)
      return 0;
    pause_ms(1);
  }
  return 1;
}

/* In a task: lets the loop run until corio has reaped pid; 0 if it never
 * does within the guard. */
static inline int await_gone(pid_t pid) {
  double end = now_s() + GUARD_S;

  while (child_state(pid) != CHILD_GONE) {
    if (now_s() > end || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

/* In a task: lets the loop run until this process has `n` fds open. */
static inline int await_fds(int n) {
  double end = now_s() + GUARD_S;

  while (open_fds() != n) {
    if (now_s() > end || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

/* The state letter of pid in /proc/<pid>/stat ('S', 'T', 'Z'...); 0 if
 * unreadable. */
static inline char proc_state(pid_t pid) {
  char path[64], buf[512];
  const char *close_paren;
  FILE *f;
  size_t n;

  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (!(f = fopen(path, "re")))
    return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

/* In a task: waits until pid is in `state`. */
static inline int await_state(pid_t pid, char state) {
  double end = now_s() + GUARD_S;

  while (proc_state(pid) != state) {
    if (now_s() > end || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

/* ---- what a child holds ---------------------------------------------------
 */

/* Whether pid has exec'd `comm` (its name in /proc: what follows the last
 * '/' of the program, 15 characters at most). */
static inline int has_comm(pid_t pid, const char *comm) {
  char path[64], buf[64];
  FILE *f;
  int ok = 0;

  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  if (!(f = fopen(path, "re")))
    return 0;
  if (fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\n")] = 0;
    ok = strcmp(buf, comm) == 0;
  }
  fclose(f);
  return ok;
}

/* In a task: waits until pid runs `comm` (posix_spawn returns after the
 * exec; a spawn emulated by fork, as under Valgrind, may return before). */
static inline int await_exec(pid_t pid, const char *comm) {
  double end = now_s() + GUARD_S;

  while (!has_comm(pid, comm)) {
    if (now_s() > end || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

enum { MAX_FDS = 64 };

/* The fds pid (0: this process) has open, ascending, at most MAX_FDS;
 * returns the count (-1: unreadable). */
static inline int fds_of(pid_t pid, int *fds) {
  char path[64];
  DIR *d;
  struct dirent *e;
  int n = 0;

  if (pid)
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  else
    snprintf(path, sizeof path, "/proc/self/fd");
  if (!(d = opendir(path)))
    return -1;
  while ((e = readdir(d))) {
    int fd;

    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    fd = atoi(e->d_name);
    if (!pid && fd == dirfd(d))
      continue;
    if (n < MAX_FDS)
      fds[n++] = fd;
  }
  closedir(d);
  for (int i = 1; i < n; i++) /* insertion sort */
    for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
  return n;
}

/* What fd of pid (0: this process) is: "pipe:[123]", "/dev/null"... */
static inline const char *fd_target(pid_t pid, int fd, char *buf, size_t size) {
  char path[64];
  ssize_t n;

  if (pid)
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
  else
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  n = readlink(path, buf, size - 1);
  buf[n > 0 ? n : 0] = 0;
  return buf;
}

/* The open flags of fd in pid (fdinfo's "flags:", octal); -1 unreadable. */
static inline long fd_flags_of(pid_t pid, int fd) {
  char path[64], line[128];
  FILE *f;
  long flags = -1;

  snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
  if (!(f = fopen(path, "re")))
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "flags:", 6) == 0)
      flags = strtol(line + 6, NULL, 8);
  fclose(f);
  return flags;
}

/* Fields 5 and 6 of /proc/<pid>/stat as a child printed them: its
 * process group and session. */
static inline int parse_stat(const char *stat, long *pgrp, long *session) {
  const char *p = strrchr(stat, ')');
  char state;
  long ppid;

  if (!p)
    return -1;
  return sscanf(p + 1, " %c %ld %ld %ld", &state, &ppid, pgrp, session) == 4
             ? 0
             : -1;
}

/* ---- options --------------------------------------------------------------
 */

static inline corio_proc_options stdio3(int in, int out, int err) {
  corio_proc_options o;

  memset(&o, 0, sizeof o);
  o.stdio[0].mode = in;
  o.stdio[1].mode = out;
  o.stdio[2].mode = err;
  return o;
}

#define PIPE CORIO_PROC_PIPE
#define INHERIT CORIO_PROC_INHERIT
#define DEVNULL CORIO_PROC_DEVNULL

/* ---- spawning, waiting ----------------------------------------------------
 */

/* Set by a test: every spawn also sets a umask (the process's own, so
 * nothing else changes), which takes the spawn through the path that can
 * apply one: every other option must work there the same. */
static int with_umask;

static inline const corio_proc_options *umask_too(const corio_proc_options *o,
                                                  corio_proc_options *copy) {
  mode_t mine;

  if (!with_umask || (o && (o->flags & CORIO_PROC_SET_UMASK)))
    return o;
  if (o)
    *copy = *o;
  else
    memset(copy, 0, sizeof *copy);
  mine = umask(022);
  umask(mine);
  copy->flags |= CORIO_PROC_SET_UMASK;
  copy->umask = mine;
  return copy;
}

static inline int spawn_exec(const char *const *argv,
                             const corio_proc_options *o, corio_process **p) {
  corio_proc_options copy;
  int rc;

  *p = NULL;
  rc = corio_create_subprocess_exec(argv, umask_too(o, &copy), p);
  if (rc == 0)
    track_pid(corio_process_pid(*p));
  return rc;
}

static inline int spawn_sh(const char *cmd, const corio_proc_options *o,
                           corio_process **p) {
  corio_proc_options copy;
  int rc;

  *p = NULL;
  rc = corio_create_subprocess_shell(cmd, umask_too(o, &copy), p);
  if (rc == 0)
    track_pid(corio_process_pid(*p));
  return rc;
}

/* corio_process_wait under the guard; a child still running when it
 * fires is killed (and waited for), and -ETIMEDOUT returned. */
static inline int wait_guarded(corio_process *p, int *code) {
  corio_timeout g;
  int rc;

  if ((rc = corio_timeout_enter(&g, GUARD_S)) < 0)
    return rc;
  rc = corio_timeout_exit(&g, corio_process_wait(p, code));
  if (rc == -ETIMEDOUT) {
    (void)corio_process_kill(p);
    (void)corio_process_wait(p, NULL);
  }
  return rc;
}

static inline int communicate_guarded(corio_process *p, const void *in,
                                      size_t len, corio_proc_output *out,
                                      corio_proc_output *err, int *code) {
  corio_timeout g;
  int rc;

  if ((rc = corio_timeout_enter(&g, GUARD_S)) < 0)
    return rc;
  rc = corio_timeout_exit(
      &g, corio_process_communicate(p, in, len, out, err, code));
  if (rc == -ETIMEDOUT) {
    (void)corio_process_kill(p);
    (void)corio_process_wait(p, NULL);
  }
  return rc;
}

/* Kills p (if running), waits for it and drops it. */
static inline void kill_and_drop(corio_process *p) {
  if (!p)
    return;
  (void)corio_process_kill(p);
  (void)wait_guarded(p, NULL);
  corio_process_unref(p);
}

/* Reads s to EOF into buf (NUL-terminated, at most cap - 1 bytes kept;
 * more is an error), under the guard. */
static inline int read_to_eof(corio_stream *s, char *buf, size_t cap,
                              size_t *len) {
  corio_timeout g;
  size_t got = 0, n;
  int rc;

  *len = 0;
  if ((rc = corio_timeout_enter(&g, GUARD_S)) < 0)
    return rc;
  for (;;) {
    if (got + 1 >= cap) {
      rc = -ENOBUFS;
      break;
    }
    rc = corio_stream_read(s, buf + got, cap - 1 - got, &n);
    if (rc < 0 || n == 0)
      break;
    got += n;
  }
  buf[got] = 0;
  *len = got;
  return corio_timeout_exit(&g, rc);
}

/* A line read under the guard, NUL-terminated ("" at EOF). */
static inline int readline_guarded(corio_stream *s, char *buf, size_t cap) {
  corio_timeout g;
  size_t n = 0;
  int rc;

  buf[0] = 0;
  if ((rc = corio_timeout_enter(&g, GUARD_S)) < 0)
    return rc;
  rc = corio_timeout_exit(&g, corio_stream_readline(s, buf, cap - 1, &n));
  buf[rc == 0 ? n : 0] = 0;
  return rc;
}

/* Options with stdout piped (base, else everything else inherited). */
static inline corio_proc_options stdout_piped(const corio_proc_options *base) {
  corio_proc_options o = base ? *base : stdio3(INHERIT, PIPE, INHERIT);

  o.stdio[1].mode = PIPE;
  return o;
}

/* Everything p writes to stdout into out (NUL-terminated; its length in
 * *len, may be NULL; -ENOBUFS if it does not fit), its returncode in
 * *code; p is dropped. */
static inline int collect_output(corio_process *p, char *out, size_t cap,
                                 size_t *len, int *code) {
  corio_proc_output po = {0};
  int rc = communicate_guarded(p, NULL, 0, &po, NULL, code);

  if (rc == 0 && po.len < cap) {
    memcpy(out, po.data, po.len);
    out[po.len] = 0;
    if (len)
      *len = po.len;
  } else if (rc == 0) {
    rc = -ENOBUFS;
  }
  corio_proc_output_free(&po);
  corio_process_unref(p);
  return rc;
}

/* Runs the shell command `cmd` with stdout piped and everything else as
 * in base (NULL: inherited); its output in out, its returncode in *code. */
static inline int shell_output(const char *cmd, const corio_proc_options *base,
                               char *out, size_t cap, int *code) {
  corio_proc_options o = stdout_piped(base);
  corio_process *p;
  int rc;

  out[0] = 0;
  if ((rc = spawn_sh(cmd, &o, &p)) < 0)
    return rc;
  return collect_output(p, out, cap, NULL, code);
}

/* The same for an argv. */
static inline int exec_output(const char *const *argv,
                              const corio_proc_options *base, char *out,
                              size_t cap, size_t *len, int *code) {
  corio_proc_options o = stdout_piped(base);
  corio_process *p;
  int rc;

  out[0] = 0;
  if (len)
    *len = 0;
  if ((rc = spawn_exec(argv, &o, &p)) < 0)
    return rc;
  return collect_output(p, out, cap, len, code);
}

/* ---- byte patterns --------------------------------------------------------
 */

static inline void fill_pattern(unsigned char *buf, size_t len, unsigned seed) {
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)(i * 7 + i / 4093 + seed);
}

/* ---- whole runs -----------------------------------------------------------
 */

/* Runs fn as corio_run's main task and checks that it succeeded, that
 * every check in it passed, and that it left nothing behind: no fd, no
 * child (running or zombie), no allocation. */
static inline void run_proc(corio_task_fn fn, void *arg) {
  corio_test_usage before;
  int fds = open_fds(), rc, leftovers;

  corio_test_release_pools();
  before = corio_test_usage_now();
  rc = corio_run(fn, arg, NULL);
  leftovers = reap_leftovers();
  assert_checks_passed();
  assert_int_equal(rc, 0);
  assert_int_equal(leftovers, 0);
  assert_true(no_children());
  assert_int_equal(open_fds(), fds);
  corio_test_assert_no_leak(before);
}

#endif
