/* See server_proc.h. fork + exec rather than posix_spawn: PostgreSQL
 * refuses to run as root, so the child may have to change user first. */
#include "server_proc.h"

#include "corio/combine.h"
#include "corio/hook.h"
#include "corio/loop.h"
#include "corio/task.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

extern char **environ;

double server_proc_now_seconds(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void server_proc_pause_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The child's environment: the extra entries first (getenv returns the
 * first match), then the test's own. One allocation, freed by the parent
 * after the fork. */
static char **make_env(char *const *extra) {
  size_t n_extra = 0, n_own = 0;
  char **env;

  while (extra && extra[n_extra])
    n_extra++;
  while (environ && environ[n_own])
    n_own++;
  env = calloc(n_extra + n_own + 1, sizeof *env);
  if (!env)
    return NULL;
  for (size_t i = 0; i < n_extra; i++)
    env[i] = extra[i];
  for (size_t i = 0; i < n_own; i++)
    env[n_extra + i] = environ[i];
  return env;
}

/* In the child, between fork and exec: async-signal-safe calls only. A
 * failure is reported as its errno through err_fd (close-on-exec, so a
 * successful exec shows as an empty read in the parent). */
static void child_exec(const char *path, char *const argv[], char **env,
                       const server_proc_options *o, pid_t parent, int err_fd) {
  int null_fd = open("/dev/null", O_RDWR), out_fd = null_fd, err;
  sigset_t none;

  if (o && o->log)
    out_fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (null_fd < 0 || out_fd < 0 || dup2(null_fd, 0) < 0 ||
      dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
    goto fail;
  if (o && o->dir && chdir(o->dir) != 0)
    goto fail;
  if (o && o->as_user &&
      (setgroups(1, &o->gid) != 0 || setgid(o->gid) != 0 ||
       setuid(o->uid) != 0))
    goto fail;
  /* After the change of user, which clears it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    goto fail;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  /* Whatever the test had open (its sockets, a loop's epoll fd) stays
   * out of the server. */
  if (err_fd > 3)
    close_range(3, (unsigned)err_fd - 1, 0);
  close_range((unsigned)err_fd + 1, ~0U, 0);
  execve(path, argv, env);
fail:
  err = errno;
  if (write(err_fd, &err, sizeof err) < 0)
    _exit(126);
  _exit(127);
}

int server_proc_start(server_proc *p, const char *path, char *const argv[],
                      const server_proc_options *o) {
  int pipe_fds[2], child_errno = 0;
  pid_t parent = getpid();
  char **env;
  ssize_t n;

  p->pid = -1;
  p->why[0] = 0;
  snprintf(p->log, sizeof p->log, "%s", o && o->log ? o->log : "");
  if (access(path, X_OK) != 0) {
    snprintf(p->why, sizeof p->why, "%s cannot be run: %s", path,
             strerror(errno));
    return -1;
  }
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    snprintf(p->why, sizeof p->why, "pipe: %s", strerror(errno));
    return -1;
  }
  env = make_env(o ? o->env : NULL);
  if (!env) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    snprintf(p->why, sizeof p->why, "out of memory");
    return -1;
  }
  p->pid = fork();
  if (p->pid == 0)
    child_exec(path, argv, env, o, parent, pipe_fds[1]);
  free(env);
  close(pipe_fds[1]);
  if (p->pid < 0) {
    snprintf(p->why, sizeof p->why, "fork: %s", strerror(errno));
    close(pipe_fds[0]);
    return -1;
  }
  do
    n = read(pipe_fds[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  if (n == (ssize_t)sizeof child_errno) {
    waitpid(p->pid, NULL, 0);
    p->pid = -1;
    snprintf(p->why, sizeof p->why, "%s could not be started: %s", path,
             strerror(child_errno));
    return -1;
  }
  return 0;
}

static void describe_status(server_proc *p, int status) {
  if (WIFEXITED(status))
    snprintf(p->why, sizeof p->why, "exited with status %d",
             WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(p->why, sizeof p->why, "killed by signal %d", WTERMSIG(status));
}

int server_proc_running(server_proc *p) {
  int status;

  if (p->pid <= 0)
    return 0;
  if (waitpid(p->pid, &status, WNOHANG) != p->pid)
    return 1;
  describe_status(p, status);
  p->pid = -1;
  return 0;
}

int server_proc_wait_ready(server_proc *p, int (*ready)(void *ctx), void *ctx,
                           double seconds) {
  double deadline = server_proc_now_seconds() + seconds;

  for (;;) {
    if (!server_proc_running(p)) {
      char line[200];
      char how[sizeof p->why];

      server_proc_last_log_line(p, line, sizeof line);
      snprintf(how, sizeof how, "%s", p->why);
      snprintf(p->why, sizeof p->why,
               "the server %.100s before it was ready%s%.300s", how,
               line[0] ? ": " : "", line);
      return -1;
    }
    if (ready(ctx))
      return 0;
    if (server_proc_now_seconds() > deadline)
      break;
    server_proc_pause_ms(20);
  }
  server_proc_stop(p, SIGKILL);
  snprintf(p->why, sizeof p->why, "the server was not ready after %.0f s",
           seconds);
  return -1;
}

void server_proc_stop(server_proc *p, int sig) {
  double deadline = server_proc_now_seconds() + 20;
  int status;

  if (p->pid <= 0)
    return;
  kill(p->pid, sig);
  while (server_proc_now_seconds() < deadline) {
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      describe_status(p, status);
      p->pid = -1;
      return;
    }
    server_proc_pause_ms(10);
  }
  kill(p->pid, SIGKILL);
  if (waitpid(p->pid, &status, 0) == p->pid)
    describe_status(p, status);
  p->pid = -1;
}

int server_proc_run(server_proc *p, const char *path, char *const argv[],
                    const server_proc_options *o, double seconds) {
  double deadline = server_proc_now_seconds() + seconds;
  int status;

  if (server_proc_start(p, path, argv, o) != 0)
    return -1;
  while (server_proc_now_seconds() < deadline) {
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = -1;
      describe_status(p, status);
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    server_proc_pause_ms(20);
  }
  server_proc_stop(p, SIGKILL);
  snprintf(p->why, sizeof p->why, "%s still ran after %.0f s", path, seconds);
  return -1;
}

void server_proc_last_log_line(const server_proc *p, char *buf, size_t size) {
  char line[512];
  FILE *f;

  if (size)
    buf[0] = 0;
  if (!p->log[0] || !(f = fopen(p->log, "r")))
    return;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0])
      snprintf(buf, size, "%s", line);
  }
  fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int server_proc_remove_tree(const char *dir) {
  if (!dir || !dir[0])
    return 0;
  return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static char first_failure[1024];

void hook_test_failed_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  int used;

  if (first_failure[0])
    return;
  used = snprintf(first_failure, sizeof first_failure, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vsnprintf(first_failure + used, sizeof first_failure - (size_t)used, fmt, ap);
  va_end(ap);
}

const char *hook_test_failure(void) {
  return first_failure[0] ? first_failure : NULL;
}

void hook_test_reset(void) { first_failure[0] = 0; }

int hook_test_active_here(void) {
  return HOOK_CHECK(corio_hook_active() == 1,
                    "corio_hook_active() is 0 in a task with hooks enabled");
}

void hook_test_assert_no_failure(void) {
  const char *failure = hook_test_failure();

  if (failure)
    fail_msg("%s", failure);
}

static struct {
  void (*call)(void *ctx);
  void *ctx;
  int call_done;
  long others_ran;      /* the counting task's turns */
  long ran_during_call; /* of them, while call was inside the library */
  const char *what;     /* the call, for messages; NULL: never probed */
  int reached;          /* hook_probe's return */
  char error[256];      /* why the call itself failed ("": it did not) */
} probe;

void hook_probe_failed(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(probe.error, sizeof probe.error, fmt, ap);
  va_end(ap);
}

static int probe_caller(void *arg, void **result) {
  (void)arg, (void)result;
  probe.call(probe.ctx);
  probe.ran_during_call = probe.others_ran;
  probe.call_done = 1;
  return 0;
}

static int probe_counter(void *arg, void **result) {
  int rc;

  (void)arg, (void)result;
  while (!probe.call_done) {
    probe.others_ran++;
    if ((rc = corio_sleep(0.001)) < 0)
      return rc;
  }
  return 0;
}

/* The caller is spawned first, so it enters the library before the
 * counter has had a turn. */
static int probe_main(void *arg, void **result) {
  corio_awaitable both[] = {CORIO_AWAIT_FN(probe_caller, NULL),
                            CORIO_AWAIT_FN(probe_counter, NULL)};

  (void)arg, (void)result;
  return corio_gather(both, 2, NULL, 0);
}

int hook_probe(const char *what, void (*call)(void *ctx), void *ctx) {
  int rc;

  memset(&probe, 0, sizeof probe);
  probe.what = what;
  probe.call = call;
  probe.ctx = ctx;
  rc = corio_run(probe_main, NULL, NULL);
  probe.reached = rc < 0 ? rc : probe.ran_during_call > 0;
  return probe.reached;
}

int hook_test_enable(const char *what, void (*call)(void *ctx), void *ctx) {
  if (corio_hook_enable() != 0) {
    fprintf(stderr, "corio_hook_enable failed: libcorio_hook not linked\n");
    return -1;
  }
  hook_probe(what, call, ctx);
  return 0;
}

void hook_test_begin_case(void) {
  if (!probe.what)
    fail_msg("hook_probe was not run before the case");
  if (probe.error[0])
    fail_msg("the probe (%s) failed: %s", probe.what, probe.error);
  if (probe.reached != 1)
    fail_msg("%s blocked the thread instead of suspending its task: the "
             "hooks do not reach the library",
             probe.what);
  hook_test_reset();
}

static struct {
  corio_task_fn fn;
  corio_awaitable *children;
  int n;
  double patience;
} gathered;

static int gather_main(void *arg, void **result) {
  corio_timeout scope;
  int rc;

  (void)arg, (void)result;
  if (gathered.patience <= 0)
    return corio_gather(gathered.children, (size_t)gathered.n, NULL, 0);
  if ((rc = corio_timeout_enter(&scope, gathered.patience)) < 0)
    return rc;
  rc = corio_gather(gathered.children, (size_t)gathered.n, NULL, 0);
  return corio_timeout_exit(&scope, rc);
}

int hook_test_run_tasks(corio_task_fn fn, int n, double patience) {
  int rc;

  gathered.children = calloc((size_t)n, sizeof *gathered.children);
  if (!gathered.children)
    return -ENOMEM;
  for (int i = 0; i < n; i++)
    gathered.children[i] = CORIO_AWAIT_FN(fn, PTR_ARG(i));
  gathered.n = n;
  gathered.patience = patience;
  rc = corio_run(gather_main, NULL, NULL);
  free(gathered.children);
  gathered.children = NULL;
  return rc;
}

void hook_test_run_case(corio_task_fn fn, int n, double patience) {
  hook_test_begin_case();
  assert_int_equal(hook_test_run_tasks(fn, n, patience), 0);
  hook_test_assert_no_failure();
}

int hook_test_wait_for_count(long (*count)(void *ctx), void *ctx, long want,
                             long *most, double patience) {
  double give_up = corio_loop_time(NULL) + patience;
  long seen;

  *most = -1;
  for (;;) {
    if ((seen = count(ctx)) < 0)
      return -1;
    if (seen > *most)
      *most = seen;
    if (seen == want)
      return 0;
    if (corio_loop_time(NULL) > give_up)
      return -1;
    /* A hooked sleep: the other tasks run meanwhile. */
    usleep(2000);
  }
}

int hook_test_stuck_call(hook_test_stuck *s, void (*call)(void *ctx),
                         void *ctx) {
  corio_timeout scope;
  int rc;

  if (s->scope_seconds > 0 &&
      (rc = corio_timeout_enter(&scope, s->scope_seconds)) < 0)
    return rc;
  call(ctx);
  /* The cancellation stays pending: the next corio suspension reports it. */
  s->next_suspension = corio_sleep(0);
  if (s->scope_seconds <= 0)
    return s->next_suspension;
  s->scope_exit = corio_timeout_exit(&scope, s->next_suspension);
  /* The scope took its cancellation back: the task goes on. */
  s->after_scope = corio_sleep(0);
  return 0;
}

int hook_test_cancel_blocked(corio_task_fn fn, void *arg,
                             int (*blocked)(corio_task *task, void *ctx),
                             void *ctx) {
  corio_task *task;
  int rc;

  if ((rc = corio_spawn(&task, fn, arg)) < 0)
    return rc;
  /* Cancelled in any case, so that the test ends. */
  corio_task_cancel(task, blocked(task, ctx) ? "enough waiting" : "giving up");
  rc = corio_task_await(task, NULL);
  HOOK_CHECK(rc == -ECANCELED, "the task ended with %d, not -ECANCELED", rc);
  HOOK_CHECK(corio_task_cancelled(task) == 1, "the task is not cancelled");
  corio_task_unref(task);
  return 0;
}

void hook_test_assert_stuck(const hook_test_stuck *s) {
  assert_int_equal(s->next_suspension, -ECANCELED);
  if (s->scope_seconds > 0) {
    assert_int_equal(s->scope_exit, -ETIMEDOUT);
    assert_int_equal(s->after_scope, 0);
  }
}
