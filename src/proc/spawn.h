/* Starting a child: posix_spawn where it can express the request, else
 * vfork with a close-on-exec error pipe (src/proc/spawn.c). Never fork. */
#ifndef CORIO_PROC_SPAWN_H
#define CORIO_PROC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* What the child is to be: every fd here belongs to the caller. */
typedef struct corio__spawn_plan {
  const char *file; /* searched in PATH when it has no '/' */
  char *const *argv;
  char *const *envp;
  /* The parent fd (>= 3, close-on-exec) that becomes the child's fd i;
   * -1: the child inherits the parent's fd i. */
  int stdio[3];
  const char *cwd;
  unsigned flags; /* CORIO_PROC_NEW_SESSION... of corio_proc_options */
  mode_t umask;
  const int *pass_fds;
  size_t npass_fds;
} corio__spawn_plan;

/* Starts the child: 0 with *pid, or a negative errno (exec failures
 * included: -ENOENT, -EACCES...), with no child left behind. */
int corio__spawn(const corio__spawn_plan *plan, pid_t *pid);

#endif
