/* Blocking-call hooks: gevent's monkey.patch_all for C.
 *
 * libcorio_hook (a shared library for LD_PRELOAD or linking, and a static
 * archive) defines read, write, recv, send, connect, accept, poll, select,
 * sleep, nanosleep, getaddrinfo and the rest (docs/hook.md lists them all)
 * over the C library's own. Inside a corio task on its loop's thread, with
 * hooks enabled, a call that would block suspends the task instead and the
 * loop runs the others: unmodified blocking code (libcurl's easy API,
 * hiredis, libpq, OpenSSL on a socket) runs concurrently on one thread.
 * Everywhere else (plain threads, loop callbacks, executor threads, before
 * any loop, a task that opted out) every call is the C library's,
 * unchanged. corio's own syscalls never pass through the hooks.
 *
 * Cancellation and timeout scopes reach a task suspended in a hooked call:
 * the call returns -1 with errno ECANCELED (chosen over EINTR, which
 * blocking code retries forever), and the cancellation stays pending, so
 * the task sees -ECANCELED again at its next corio suspension. Until then
 * every hooked call that would block also fails at once with ECANCELED.
 *
 * Under LD_PRELOAD the hooks are enabled when the library loads (unless
 * CORIO_HOOK=0); a program that links libcorio_hook enables them with
 * corio_hook_enable (or CORIO_HOOK=1 in the environment). */
#ifndef CORIO_HOOK_H
#define CORIO_HOOK_H

#include "corio/export.h"
#include "corio/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Turns the hooks on (off) for the whole process; tasks that opted out
 * stay out. Returns 0, or -ENOSYS when libcorio_hook is not linked in
 * (these two are in libcorio itself, so a program can call them either
 * way). Any thread, any time: a call already suspended finishes as it
 * began. */
CORIO_API int corio_hook_enable(void);
CORIO_API int corio_hook_disable(void);
/* 1 if enabled. */
CORIO_API int corio_hook_enabled(void);

/* Per-task opt-out (on = 0) and back (on = 1): the task's blocking calls
 * block its thread as they would without corio. Tasks start opted in.
 * -EINVAL for NULL. Loop thread only. */
CORIO_API int corio_hook_task_set(corio_task *task, int on);
/* 1 if the task is opted in; 0 if out or NULL. */
CORIO_API int corio_hook_task_get(const corio_task *task);

/* 1 if a blocking call made here and now would suspend the current task
 * instead of blocking the thread: hooks linked and enabled, inside a task
 * on its own coroutine, and the task opted in. */
CORIO_API int corio_hook_active(void);

#ifdef __cplusplus
}
#endif

#endif
