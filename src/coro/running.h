/* The coroutine running on this thread, as a variable: the layers above
 * compare it on every suspension, where corio_coro_current() would be a
 * call. It is the thread's own stack's control block (never a coroutine
 * of theirs) or NULL when no coroutine is running. */
#ifndef CORIO_CORO_RUNNING_H
#define CORIO_CORO_RUNNING_H

#include "core/compiler.h"
#include "corio/coro.h"

extern corio__thread_local corio_coro *corio__coro_running;

#endif
