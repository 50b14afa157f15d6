/* What libcorio gives the hook layer (libcorio_hook, src/hook/): the
 * switch that turns the hooks on, the per-task opt-out, and the task's
 * side of a hooked suspension. Exported from libcorio.so for
 * libcorio_hook.so only (names with two underscores are not API): one
 * copy of corio serves the program and the hooks. */
#ifndef CORIO_TASK_HOOK_SUPPORT_H
#define CORIO_TASK_HOOK_SUPPORT_H

#include "corio/export.h"
#include "corio/task.h"

/* Set by libcorio_hook when it loads (its constructor): from then on
 * corio_hook_enable works. */
CORIO_API void corio__hook_register(void);

/* The task a hooked call made here acts for: hooks enabled, inside a task
 * on its own coroutine, the task opted in, and no bypass in force on this
 * thread; else NULL (the call must be the C library's). */
CORIO_API corio_task *corio__hook_task(void);

/* libcorio's own calls of functions that have no raw syscall (glibc's
 * getaddrinfo, getnameinfo) are made between these, and the hooks let
 * them through. Nestable; per thread. */
CORIO_API void corio__hook_bypass_begin(void);
CORIO_API void corio__hook_bypass_end(void);

/* A hooked call that returned ECANCELED to blocking code: the task's
 * cancellation stays pending, so its next corio suspension returns
 * -ECANCELED again (the blocking code above knows nothing of corio). */
CORIO_API void corio__hook_keep_cancel(corio_task *task);

#endif
