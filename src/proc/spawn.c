#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "core/str.h"
#include "core/sys_fd.h"
#include "core/sys_proc.h"
#include "corio/proc.h"

#if CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#include "core/raw.h"
#endif

/* Signals a child gets back at their defaults, as Python's
 * restore_signals does: a parent that ignores SIGPIPE must not hand that
 * on to programs that rely on dying of it. */
static void signals_to_default(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGPIPE);
  sigaddset(set, SIGXFSZ);
}

static int max_pass_fd(const corio__spawn_plan *plan) {
  int max = 2;

  for (size_t i = 0; i < plan->npass_fds; i++)
    if (plan->pass_fds[i] > max)
      max = plan->pass_fds[i];
  return max;
}

static int is_passed(const corio__spawn_plan *plan, int fd) {
  for (size_t i = 0; i < plan->npass_fds; i++)
    if (plan->pass_fds[i] == fd)
      return 1;
  return 0;
}

/* The PATH of the child's environment, as Popen searches it. */
static const char *child_path(char *const *envp) {
  for (; envp && *envp; envp++)
    if (strncmp(*envp, "PATH=", 5) == 0)
      return *envp + 5;
  return "/bin:/usr/bin"; /* confstr(_CS_PATH) */
}

/* dir + "/" + file into buf (PATH_MAX), with an empty dir standing for
 * "." and a relative one taken from cwd (where the child will be when it
 * execs). 0, or -ENAMETOOLONG. */
static int join_candidate(char *buf, const char *cwd, const char *dir,
                          size_t dir_len, const char *file) {
  int relative = !dir_len || dir[0] != '/';
  int n = snprintf(buf, PATH_MAX, "%s%s%.*s/%s", relative && cwd ? cwd : "",
                   relative && cwd ? "/" : "", dir_len ? (int)dir_len : 1,
                   dir_len ? dir : ".", file);

  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The PATH search, done in the parent where allocating is allowed and
 * with the child's PATH, as execvp does it: each entry in turn (an empty
 * one is the current directory), the first executable regular file wins;
 * if none, -EACCES when some entry had the name but could not be run,
 * else -ENOENT. *out is the path to exec, allocated (NULL: file itself).
 * Candidates are built on the stack: one allocation per spawn at most. */
static int find_program(const char *file, char *const *envp, const char *cwd,
                        char **out) {
  const char *path = child_path(envp);
  char candidate[PATH_MAX];
  int rc = -ENOENT;

  *out = NULL;
  if (strchr(file, '/'))
    return 0;
  for (;;) {
    const char *end = strchr(path, ':');
    size_t dir_len = end ? (size_t)(end - path) : strlen(path);
    struct stat st;

    if (join_candidate(candidate, cwd, path, dir_len, file) < 0) {
      /* too long to exec: as execvp, on to the next entry */
    } else if (stat(candidate, &st) == 0) {
      if (S_ISREG(st.st_mode) &&
          faccessat(AT_FDCWD, candidate, X_OK, AT_EACCESS) == 0) {
        *out = corio__strdup(candidate);
        return *out ? 0 : -ENOMEM;
      }
      rc = -EACCES;
    } else if (errno == EACCES) {
      rc = -EACCES;
    }
    if (!end)
      return rc;
    path = end + 1;
  }
}

/* ---- posix_spawn ---------------------------------------------------------
 * glibc runs it as clone(CLONE_VM | CLONE_VFORK) and reports exec errors
 * as its result, which is all corio needs, but it has no umask action and
 * closefrom/chdir are glibc extensions (2.34, 2.29). */

#if defined(CORIO_HAVE_SPAWN_CLOSEFROM) && defined(CORIO_HAVE_SPAWN_CHDIR)
#define CORIO_SPAWN_CAN_CLOSE_FDS 1

static int add_actions(const corio__spawn_plan *plan,
                       posix_spawn_file_actions_t *fa) {
  int rc = 0;

  for (int i = 0; i < 3 && rc == 0; i++)
    if (plan->stdio[i] >= 0)
      rc = posix_spawn_file_actions_adddup2(fa, plan->stdio[i], i);
  if (!(plan->flags & CORIO_PROC_KEEP_FDS)) {
    int max = max_pass_fd(plan);

    /* Closing an fd that is not open is no error for glibc's spawn, so
     * the gaps between passed fds can be closed blindly. */
    for (int fd = 3; fd < max && rc == 0; fd++)
      if (!is_passed(plan, fd))
        rc = posix_spawn_file_actions_addclose(fa, fd);
    if (rc == 0)
      rc = posix_spawn_file_actions_addclosefrom_np(fa, max + 1);
  }
  /* dup2 onto itself clears close-on-exec (POSIX 2024, glibc 2.29). */
  for (size_t i = 0; i < plan->npass_fds && rc == 0; i++)
    rc = posix_spawn_file_actions_adddup2(fa, plan->pass_fds[i],
                                          plan->pass_fds[i]);
  if (plan->cwd && rc == 0)
    rc = posix_spawn_file_actions_addchdir_np(fa, plan->cwd);
  return -rc;
}

static int spawn_posix(const corio__spawn_plan *plan, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t mask, defaults;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  int rc;

  if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
    return -rc;
  if ((rc = posix_spawnattr_init(&attr)) != 0) {
    (void)posix_spawn_file_actions_destroy(&fa);
    return -rc;
  }
  sigemptyset(&mask);
  signals_to_default(&defaults);
  /* A new session is a new process group already. */
  if (plan->flags & CORIO_PROC_NEW_SESSION)
    flags |= POSIX_SPAWN_SETSID;
  else if (plan->flags & CORIO_PROC_NEW_PROCESS_GROUP)
    flags |= POSIX_SPAWN_SETPGROUP; /* group 0: its own */
  if ((rc = -posix_spawnattr_setflags(&attr, flags)) == 0 &&
      (rc = -posix_spawnattr_setsigmask(&attr, &mask)) == 0 &&
      (rc = -posix_spawnattr_setsigdefault(&attr, &defaults)) == 0 &&
      (rc = add_actions(plan, &fa)) == 0) {
    rc = -posix_spawn(pid, plan->file, &fa, &attr, plan->argv, plan->envp);
  }
  (void)posix_spawnattr_destroy(&attr);
  (void)posix_spawn_file_actions_destroy(&fa);
  return rc;
}
#else
#define CORIO_SPAWN_CAN_CLOSE_FDS 0
#endif

/* ---- vfork -----------------------------------------------------------------
 * For what posix_spawn cannot say (a umask; closing fds without glibc's
 * extensions). The child shares the parent's memory until it execs, so it
 * only makes async-signal-safe calls on data prepared beforehand, and
 * reports a failure through a close-on-exec pipe: EOF means exec worked. */

/* Closes fds from..to but `keep`; where close_range is missing, one by
 * one below open_max (read by the parent: sysconf is not
 * async-signal-safe). */
static void close_range_from(int from, int to, int keep, long open_max) {
  if (keep >= from && keep <= to) {
    close_range_from(from, keep - 1, -1, open_max);
    from = keep + 1;
  }
  if (from > to)
    return;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)from, (unsigned)to, 0) == 0)
    return;
#endif
  for (long fd = from; fd <= to && fd < open_max; fd++)
    (void)corio__raw_close((int)fd);
}

/* Closes every fd above 2 but the passed ones and `keep`. */
static void close_unpassed(const corio__spawn_plan *plan, int keep,
                           long open_max) {
  int max = max_pass_fd(plan);

  for (int fd = 3; fd < max; fd++)
    if (fd != keep && !is_passed(plan, fd))
      (void)corio__raw_close(fd);
  close_range_from(max + 1, INT_MAX, keep, open_max);
}

/* The child's side: never returns. */
__attribute__((noreturn)) static void child_exec(const corio__spawn_plan *plan,
                                                 const char *path,
                                                 int report_fd, long open_max) {
  sigset_t none;
  struct sigaction dfl;
  int err;

  /* Until exec, a handler of the parent's must not run here (the memory
   * is the parent's): every caught signal goes back to its default while
   * all are still blocked. */
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction old;

    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &old) != 0)
      continue;
    if (old.sa_handler != SIG_DFL &&
        (old.sa_handler != SIG_IGN || sig == SIGPIPE || sig == SIGXFSZ))
      (void)sigaction(sig, &dfl, NULL);
  }
  if (plan->flags & CORIO_PROC_NEW_SESSION) {
    if (setsid() < 0)
      goto fail;
  } else if ((plan->flags & CORIO_PROC_NEW_PROCESS_GROUP) && setpgid(0, 0) < 0)
    goto fail;
  if (plan->flags & CORIO_PROC_SET_UMASK)
    (void)umask(plan->umask);
  for (int i = 0; i < 3; i++)
    if (plan->stdio[i] >= 0 && corio__raw_dup2(plan->stdio[i], i) < 0)
      goto fail;
  if (!(plan->flags & CORIO_PROC_KEEP_FDS))
    close_unpassed(plan, report_fd, open_max);
  for (size_t i = 0; i < plan->npass_fds; i++)
    if (corio__raw_fcntl(plan->pass_fds[i], F_SETFD, 0) < 0)
      goto fail;
  if (plan->cwd && chdir(plan->cwd) < 0)
    goto fail;
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
  execve(path, plan->argv, plan->envp);
fail:
  err = errno;
  (void)!corio__raw_write(report_fd, &err, sizeof err);
  _exit(127);
}

/* Kept apart so that no local of the caller lives across vfork (which
 * returns twice on one stack). The child's pid, or a negative errno. */
__attribute__((noinline)) static pid_t vfork_exec(const corio__spawn_plan *plan,
                                                  const char *path,
                                                  int report_fd,
                                                  long open_max) {
  pid_t child = vfork();

  if (child == 0)
    child_exec(plan, path, report_fd, open_max);
  return child < 0 ? -errno : child;
}

static int spawn_vfork(const corio__spawn_plan *plan, pid_t *pid) {
  long open_max;
  sigset_t all, old;
  int report[2], rc, err = 0;
  ssize_t n;
  pid_t child;

  /* Blocking: where vfork is emulated by a fork (Valgrind) the parent
   * gets here before the child has exec'd. */
  if ((rc = corio__sys_child_pipe(report, -1)) < 0)
    return rc;
  /* With the parent's stdio closed the pipe may take fd 0..2, which the
   * child's dup2s would overwrite. */
  if (report[1] < 3) {
    int fd = corio__raw_fcntl(report[1], F_DUPFD_CLOEXEC, 3);

    if (fd < 0) {
      rc = -errno;
      corio__sys_close(report[0]);
      corio__sys_close(report[1]);
      return rc;
    }
    corio__sys_close(report[1]);
    report[1] = fd;
  }
  open_max = sysconf(_SC_OPEN_MAX);
  sigfillset(&all);
  (void)pthread_sigmask(SIG_SETMASK, &all, &old);
  child =
      vfork_exec(plan, plan->file, report[1], open_max > 0 ? open_max : 1024);
  rc = child < 0 ? (int)child : 0;
  (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
  corio__sys_close(report[1]);
  if (rc == 0) {
    /* The child has exec'd (EOF) or failed (its errno) by now. */
    do
      n = corio__raw_read(report[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof err) {
      int status;

      while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
      rc = -err;
    } else {
      *pid = child;
    }
  }
  corio__sys_close(report[0]);
  return rc;
}

static int spawn_resolved(const corio__spawn_plan *plan, pid_t *pid) {
#if CORIO_HAVE_VALGRIND
  /* Valgrind runs glibc's clone(CLONE_VM | CLONE_VFORK) as a fork, so
   * posix_spawn cannot see the exec error any more; the error pipe can. */
  if (RUNNING_ON_VALGRIND)
    return spawn_vfork(plan, pid);
#endif
#if CORIO_SPAWN_CAN_CLOSE_FDS
  if (!(plan->flags & CORIO_PROC_SET_UMASK))
    return spawn_posix(plan, pid);
#endif
  return spawn_vfork(plan, pid);
}

int corio__spawn(const corio__spawn_plan *plan, pid_t *pid) {
  corio__spawn_plan resolved = *plan;
  char *found;
  int rc;

  if (corio__fault_hit(CORIO__FAULT_SPAWN))
    return -EAGAIN;
  if ((rc = find_program(plan->file, plan->envp, plan->cwd, &found)) < 0)
    return rc;
  if (found)
    resolved.file = found;
  rc = spawn_resolved(&resolved, pid);
  corio__strfree(found);
  return rc;
}
