/* fork inside a task: the child is a copy of one thread, in the middle of
 * a task whose loop it cannot run (the loop's fds are shared with the
 * parent). The child drops the hooks: its calls are the C library's, and
 * it should exec or _exit, as after forking any threaded program. */
#include <unistd.h>

#include "corio/hook.h"
#include "hook/hook_internal.h"

pid_t fork(void) {
  pid_t pid = REAL(fork)();

  if (pid == 0 && corio_hook_enabled())
    (void)corio_hook_disable();
  return pid;
}
