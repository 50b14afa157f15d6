/* The process object: starting a child with its pipes as streams,
 * watching it through a pidfd on the spawning loop, wait and signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/str.h"
#include "core/sys_fd.h"
#include "core/sys_proc.h"
#include "loop/ext.h"
#include "proc/proc_internal.h"
#include "proc/spawn.h"
#include "core/raw.h"

extern char **environ;

/* ---- the loop's children ------------------------------------------------- */

typedef struct proc_loop {
  corio_process *children; /* still running */
} proc_loop;

static void report_running(corio_process *p) {
  corio_loop_error e = {0};
  char *message = corio__format(
      "child process %ld (%s) still running when the loop closed: killed",
      (long)p->pid, p->name ? p->name : "?");

  e.message = message ? message
                      : "child process still running when the loop "
                        "closed: killed";
  e.error = CORIO_ELOOPCLOSED;
  corio_loop_call_exception_handler(p->loop, &e);
  corio__strfree(message);
}

/* No child outlives its loop unwatched: each is reported, killed and
 * reaped here, so that none stays a zombie and no pidfd leaks. */
static void close_children(corio_loop *loop, void *data) {
  proc_loop *pl = data;

  (void)loop;
  while (pl->children) {
    corio_process *p = pl->children;
    int code = -SIGKILL;

    if (p->pidfd >= 0) {
      /* It may have exited with its callback not run yet. */
      int rc = corio__sys_pidfd_reap(p->pidfd, p->pid, 0, &code);

      if (rc == 0) {
        report_running(p);
        (void)corio__sys_pidfd_send_signal(p->pidfd, SIGKILL);
        rc = corio__sys_pidfd_reap(p->pidfd, p->pid, 1, &code);
      }
      if (rc < 0)
        code = -SIGKILL;
    } else if (p->thread_watch) {
      report_running(p);
      code = corio__proc_thread_watch_abandon(p);
    }
    corio__proc_exited(p, code);
  }
}

static void free_state(void *data) { corio__free(data, sizeof(proc_loop)); }

static const corio__loop_ext_ops proc_ext_ops = {
    .close = close_children,
    .free = free_state,
};

static int proc_loop_get(corio_loop *loop, proc_loop **out) {
  void *data = NULL;
  int rc = corio__loop_ext_get_or_make(loop, CORIO__LOOP_EXT_PROC,
                                       sizeof(proc_loop), &proc_ext_ops, &data);

  if (rc == 0)
    *out = data;
  return rc;
}

static void list_add(proc_loop *pl, corio_process *p) {
  p->prev = NULL;
  p->next = pl->children;
  if (pl->children)
    pl->children->prev = p;
  pl->children = p;
}

static void list_remove(proc_loop *pl, corio_process *p) {
  if (p->prev)
    p->prev->next = p->next;
  else if (pl->children == p)
    pl->children = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

/* ---- lifetime --------------------------------------------------------------
 */

static void free_process(corio_process *p) {
  if (p->name)
    corio__strfree(p->name);
  corio__loop_mem_unref(p->loop);
  corio__free(p, sizeof *p);
}

static void close_pipes(corio_process *p) {
  for (int i = 0; i < 3; i++)
    if (p->pipes[i]) {
      corio_stream_unref(p->pipes[i]);
      p->pipes[i] = NULL;
    }
}

corio_process *corio_process_ref(corio_process *p) {
  if (p)
    p->refs++;
  return p;
}

void corio_process_unref(corio_process *p) {
  /* An unref too many must not free it twice. */
  if (!p || p->refs <= 0 || --p->refs > 0)
    return;
  close_pipes(p);
  if (!p->watched)
    free_process(p);
}

void corio__proc_exited(corio_process *p, int code) {
  proc_loop *pl = corio__loop_ext_get(p->loop, CORIO__LOOP_EXT_PROC);

  if (p->pidfd >= 0) {
    (void)corio_loop_remove_reader(p->loop, p->pidfd);
    corio__sys_close(p->pidfd);
    p->pidfd = -1;
  }
  p->exited = 1;
  p->returncode = code;
  corio__waitq_wake_all(&p->waiters, 0);
  if (p->watched) {
    p->watched = 0;
    list_remove(pl, p);
    if (p->refs == 0)
      free_process(p);
  }
}

static int on_pidfd_readable(void *arg) {
  corio_process *p = arg;
  int code = 255, rc = corio__sys_pidfd_reap(p->pidfd, p->pid, 0, &code);

  if (rc == 0)
    return 0;
  /* -ECHILD: somebody else reaped it (a waitpid(-1) elsewhere in the
   * process); asyncio reports 255 for such a child. */
  corio__proc_exited(p, rc < 0 ? 255 : code);
  return 0;
}

/* ---- starting --------------------------------------------------------------
 */

/* What create_subprocess needs to undo if it fails halfway. */
typedef struct spawn_state {
  int child_fds[3]; /* what becomes the child's 0..2: ours to close */
  int devnull;
  char **envp;
  size_t envp_size;
} spawn_state;

static int check_options(const corio_proc_options *o) {
  for (int i = 0; i < 3; i++) {
    const corio_proc_stdio *s = &o->stdio[i];

    if (s->mode < CORIO_PROC_INHERIT || s->mode > CORIO_PROC_STDOUT)
      return -EINVAL;
    if (s->mode == CORIO_PROC_STDOUT && i != 2)
      return -EINVAL;
    if (s->mode == CORIO_PROC_FD && s->fd < 0)
      return -EINVAL;
  }
  if (o->npass_fds && !o->pass_fds)
    return -EINVAL;
  for (size_t i = 0; i < o->npass_fds; i++)
    if (o->pass_fds[i] < 3)
      return -EINVAL;
  /* A closed one could be taken by a pipe made for this very spawn. */
  for (size_t i = 0; i < o->npass_fds; i++)
    if (corio__raw_fcntl(o->pass_fds[i], F_GETFD, 0) < 0)
      return -EBADF;
  return 0;
}

static size_t name_len(const char *entry) {
  const char *eq = strchr(entry, '=');

  return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int overridden(const char *entry, const char *const *env) {
  size_t len = name_len(entry);

  for (size_t i = 0; env[i]; i++)
    if (name_len(env[i]) == len && memcmp(env[i], entry, len) == 0)
      return 1;
  return 0;
}

/* The child's environment: the user's list, or (ENV_EXTEND) the parent's
 * with the user's entries replacing, adding and (no '=') removing. The
 * strings are not copied: they live until the spawn is done. */
static int build_env(const corio_proc_options *o, spawn_state *st) {
  size_t n = 0, nenv = 0, k = 0;

  if (!o->env)
    return 0;
  for (; o->env[nenv]; nenv++)
    ;
  if (o->flags & CORIO_PROC_ENV_EXTEND)
    for (char **e = environ; e && *e; e++)
      n++;
  st->envp_size = (n + nenv + 1) * sizeof(char *);
  st->envp = corio__alloc(st->envp_size);
  if (!st->envp)
    return -ENOMEM;
  if (o->flags & CORIO_PROC_ENV_EXTEND)
    for (char **e = environ; e && *e; e++)
      if (!overridden(*e, o->env))
        st->envp[k++] = *e;
  for (size_t i = 0; i < nenv; i++)
    if (strchr(o->env[i], '='))
      st->envp[k++] = (char *)(uintptr_t)o->env[i];
  st->envp[k] = NULL;
  return 0;
}

/* The child's side of stdio i, and for a pipe the parent's stream. */
static int setup_stdio(corio_process *p, const corio_proc_options *o, int i,
                       spawn_state *st) {
  const corio_proc_stdio *s = &o->stdio[i];
  int fds[2], rc;

  switch (s->mode) {
  case CORIO_PROC_PIPE: {
    corio_connect_options so = {.limit = o->limit};
    int parent_end = i == 0 ? 1 : 0;

    if ((rc = corio__sys_child_pipe(fds, parent_end)) < 0)
      return rc;
    st->child_fds[i] = fds[!parent_end];
    /* With the parent's stdio closed the pipe may land on 0..2, where the
     * child's dup2 into its own number would keep close-on-exec. */
    if (st->child_fds[i] < 3) {
      int high = corio__sys_dup_high(st->child_fds[i]);

      corio__sys_close(st->child_fds[i]);
      st->child_fds[i] = high;
      if (high < 0) {
        corio__sys_close(fds[parent_end]);
        return high;
      }
    }
    /* The stream owns the parent's end from here, also on failure. */
    return corio_stream_open_fd(p->loop, fds[parent_end], &so, &p->pipes[i]);
  }
  case CORIO_PROC_DEVNULL:
    if (st->devnull < 0) {
      st->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (st->devnull < 0)
        return -errno;
    }
    rc = corio__sys_dup_high(st->devnull);
    break;
  case CORIO_PROC_FD:
    /* A copy above 2, so that the dup2s into 0..2 cannot overwrite a
     * source before it is used. */
    rc = corio__sys_dup_high(s->fd);
    break;
  case CORIO_PROC_STDOUT:
    rc = corio__sys_dup_high(st->child_fds[1] >= 0 ? st->child_fds[1] : 1);
    break;
  default:
    return 0;
  }
  if (rc < 0)
    return rc;
  st->child_fds[i] = rc;
  return 0;
}

static void release_spawn_state(spawn_state *st) {
  for (int i = 0; i < 3; i++)
    if (st->child_fds[i] >= 0)
      corio__sys_close(st->child_fds[i]);
  if (st->devnull >= 0)
    corio__sys_close(st->devnull);
  if (st->envp)
    corio__free(st->envp, st->envp_size);
}

/* A child that started but cannot be watched must not be left behind. */
static void kill_and_reap(pid_t pid) {
  int code;

  (void)kill(pid, SIGKILL);
  (void)corio__sys_pid_reap(pid, 1, &code);
}

static int start_watching(corio_process *p) {
  proc_loop *pl = NULL;
  int rc;

  if ((rc = proc_loop_get(p->loop, &pl)) < 0)
    return rc;
  p->pidfd = corio__sys_pidfd_open(p->pid);
  if (p->pidfd == -ENOSYS) {
    p->pidfd = -1;
    rc = corio__proc_thread_watch_start(p);
  } else if (p->pidfd < 0) {
    rc = p->pidfd;
    p->pidfd = -1;
  } else if ((rc = corio_loop_add_reader(p->loop, p->pidfd, on_pidfd_readable,
                                         p)) < 0) {
    corio__sys_close(p->pidfd);
    p->pidfd = -1;
  }
  if (rc < 0)
    return rc;
  p->watched = 1;
  list_add(pl, p);
  return 0;
}

static int fail_spawn(int rc, const char *file, const char *cwd) {
  if (rc == -ENOENT || rc == -EACCES || rc == -ENOEXEC || rc == -ENOTDIR ||
      rc == -ELOOP || rc == -ENAMETOOLONG || rc == -E2BIG || rc == -ETXTBSY)
    return corio_fail(rc, "cannot run %s%s%s: %s", file, cwd ? " in " : "",
                      cwd ? cwd : "", corio_strerror(rc));
  return rc;
}

static int create_process(const char *file, char *const *argv, const char *name,
                          const corio_proc_options *o, corio_process **out) {
  static const corio_proc_options defaults;
  corio_loop *loop = corio_loop_current();
  spawn_state st = {{-1, -1, -1}, -1, NULL, 0};
  corio__spawn_plan plan;
  corio_process *p;
  int rc;

  if (!o)
    o = &defaults;
  if ((rc = check_options(o)) < 0)
    return rc;
  if (!loop)
    return CORIO_ENOLOOP;
  if (corio_loop_is_closed(loop))
    return CORIO_ELOOPCLOSED;
  p = corio__calloc(sizeof *p);
  if (!p)
    return -ENOMEM;
  p->loop = loop;
  p->refs = 1;
  p->pidfd = -1;
  corio__loop_mem_ref(loop);
  p->name = corio__strdup(name);
  if (!p->name) {
    rc = -ENOMEM;
    goto fail;
  }
  for (int i = 0; i < 3; i++)
    if ((rc = setup_stdio(p, o, i, &st)) < 0)
      goto fail;
  if ((rc = build_env(o, &st)) < 0)
    goto fail;
  plan = (corio__spawn_plan){
      .file = file,
      .argv = argv,
      .envp = st.envp ? st.envp : environ,
      .stdio = {st.child_fds[0], st.child_fds[1], st.child_fds[2]},
      .cwd = o->cwd,
      .flags = o->flags,
      .umask = o->umask,
      .pass_fds = o->pass_fds,
      .npass_fds = o->npass_fds,
  };
  if ((rc = corio__spawn(&plan, &p->pid)) < 0) {
    rc = fail_spawn(rc, file, o->cwd);
    goto fail;
  }
  if ((rc = start_watching(p)) < 0) {
    kill_and_reap(p->pid);
    goto fail;
  }
  release_spawn_state(&st);
  *out = p;
  return 0;
fail:
  release_spawn_state(&st);
  for (int i = 0; i < 3; i++)
    if (p->pipes[i])
      (void)corio_stream_abort(p->pipes[i]);
  close_pipes(p);
  free_process(p);
  return rc;
}

int corio_create_subprocess_exec(const char *const *argv,
                                 const corio_proc_options *options,
                                 corio_process **out) {
  const char *file;

  if (!argv || !argv[0] || !argv[0][0] || !out)
    return -EINVAL;
  file = options && options->executable ? options->executable : argv[0];
  return create_process(file, (char *const *)(uintptr_t)argv, file, options,
                        out);
}

int corio_create_subprocess_shell(const char *cmd,
                                  const corio_proc_options *options,
                                  corio_process **out) {
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};

  if (!cmd || !out)
    return -EINVAL;
  return create_process(options && options->executable ? options->executable
                                                       : argv[0],
                        (char *const *)(uintptr_t)argv, cmd, options, out);
}

/* ---- the running child ------------------------------------------------------
 */

pid_t corio_process_pid(const corio_process *p) { return p ? p->pid : -1; }

int corio_process_returncode(const corio_process *p, int *code) {
  if (!p || !p->exited)
    return 0;
  if (code)
    *code = p->returncode;
  return 1;
}

corio_stream *corio_process_stdin(const corio_process *p) {
  return p ? p->pipes[0] : NULL;
}
corio_stream *corio_process_stdout(const corio_process *p) {
  return p ? p->pipes[1] : NULL;
}
corio_stream *corio_process_stderr(const corio_process *p) {
  return p ? p->pipes[2] : NULL;
}

static void describe_process(const void *object, char *buf, size_t len) {
  const corio_process *p = object;

  snprintf(buf, len, "pid %ld (%s)", (long)p->pid, p->name ? p->name : "?");
}

static const corio__wait_kind process_wait_kind = {
    .name = "process wait",
    .describe = describe_process,
};

int corio_process_wait(corio_process *p, int *code) {
  corio_task *self = corio__wait_self();
  int rc = 0;

  if (!p)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  if (corio_task_loop(self) != p->loop)
    return CORIO_EWRONGLOOP;
  p->refs++;
  while (!p->exited && rc == 0) {
    sync_waiter waiter;

    rc =
        corio__waitq_wait_on(&p->waiters, &waiter, self, &process_wait_kind, p);
  }
  if (rc == 0 && code)
    *code = p->returncode;
  corio_process_unref(p);
  return rc;
}

int corio_process_send_signal(corio_process *p, int sig) {
  if (!p || sig < 0 || sig >= NSIG)
    return -EINVAL;
  if (p->exited)
    return -ESRCH;
  if (p->pidfd >= 0)
    return corio__sys_pidfd_send_signal(p->pidfd, sig);
  return corio__proc_thread_watch_signal(p, sig);
}

int corio_process_terminate(corio_process *p) {
  return corio_process_send_signal(p, SIGTERM);
}

int corio_process_kill(corio_process *p) {
  return corio_process_send_signal(p, SIGKILL);
}
