/* Tasks: functions running concurrently on the loop, each on its own
 * coroutine stack, with asyncio's cancellation; sleep; run() and the
 * Runner. See docs/task.md. */
#ifndef CORIO_TASK_H
#define CORIO_TASK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/context.h"
#include "corio/error.h"
#include "corio/export.h"
#include "corio/future.h"
#include "corio/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_task corio_task;

/* No timeout, for the functions that take one in seconds (asyncio's None).
 * Any timeout of zero or less has expired already; NaN is -EINVAL. */
#define CORIO_NO_TIMEOUT ((double)INFINITY)

/* A task's body. Finish with a result: `*result = value; return 0;`. Fail:
 * `return -EIO;`, or with a message, `return corio_fail(-EIO, "read %s",
 * path);`. Returning -ECANCELED (usually passed on from an await) makes the
 * task cancelled. A positive return is a mistake: the task fails with
 * -EINVAL. */
typedef int (*corio_task_fn)(void *arg, void **result);

/* A task's stack: address space reserved, committed as it is touched. */
#define CORIO_TASK_STACK_DEFAULT ((size_t)256 * 1024)

typedef struct corio_spawn_options {
  corio_loop *loop;       /* NULL: the current loop */
  const char *name;       /* NULL: "Task-N" */
  size_t stack_size;      /* 0: CORIO_TASK_STACK_DEFAULT */
  corio_context *context; /* run in this context; NULL: a copy of the
                             current one */
  int eager;              /* run the body now, until it first suspends
                             (asyncio's eager_task_factory) */
} corio_spawn_options;

/* Creates a task running fn(arg) and schedules its first step: the body
 * starts in a later loop iteration (unless eager). With out, the caller gets
 * a reference to release with corio_task_unref; with out NULL the task runs
 * on its own (fire and forget). Errors: -EINVAL (NULL fn, bad stack size),
 * CORIO_ENOLOOP, CORIO_ELOOPCLOSED, -ENOMEM. The stack is taken at the first
 * step: a task that never starts needs none. */
CORIO_API int corio_spawn(corio_task **out, corio_task_fn fn, void *arg);
CORIO_API int corio_spawn_ex(corio_task **out, corio_task_fn fn, void *arg,
                             const corio_spawn_options *opts);

CORIO_API corio_task *corio_task_ref(corio_task *task);
/* A task whose last reference goes while it is still pending keeps running
 * (the loop holds it); one freed with its loop while pending is reported:
 * "Task was destroyed but it is pending". */
CORIO_API void corio_task_unref(corio_task *task);

/* A task is a future: this one (no new reference). */
CORIO_API corio_future *corio_task_future(corio_task *task);
/* The task a future is, or NULL if it is a plain future. */
CORIO_API corio_task *corio_future_task(corio_future *fut);

/* corio_future_await on the task (cancelling the awaiting task cancels
 * the awaited one). Also -EDEADLK: a task awaiting itself. */
CORIO_API int corio_task_await(corio_task *task, void **result);

/* Requests cancellation: -ECANCELED comes out of the task's current
 * suspension point, also if it was just woken and has not run yet (or out
 * of its next one, if it is running). A task suspended awaiting a future
 * or task cancels that instead and goes on waiting for its outcome: if an
 * awaited task declines the cancellation and returns a value, the awaiter
 * gets the value (and its cancelling() count stays raised). Then
 * msg (copied, may be NULL) is readable with corio_task_cancel_message. A
 * task that was never started finishes cancelled without running. Returns 1
 * if requested, 0 if the task is done already, -EINVAL for NULL. */
CORIO_API int corio_task_cancel(corio_task *task, const char *msg);
/* Cancellation requests not yet withdrawn with uncancel (Python 3.11). */
CORIO_API int corio_task_cancelling(const corio_task *task);
/* Withdraws one request; returns the remaining count. At 0 a request not
 * delivered yet is dropped too (Python 3.13). */
CORIO_API int corio_task_uncancel(corio_task *task);
/* The message of the latest cancellation request, NULL if none. */
CORIO_API const char *corio_task_cancel_message(const corio_task *task);

/* The future accessors, for a task. */
CORIO_API int corio_task_done(const corio_task *task);
CORIO_API int corio_task_cancelled(const corio_task *task);
CORIO_API int corio_task_result(corio_task *task, void **result);
CORIO_API int corio_task_error(corio_task *task);
CORIO_API const char *corio_task_message(const corio_task *task);

/* The name ("Task-N" unless given); owned by the task. */
CORIO_API const char *corio_task_name(corio_task *task);
/* Errors: -EINVAL (NULL), -ENOMEM. */
CORIO_API int corio_task_set_name(corio_task *task, const char *name);
CORIO_API corio_loop *corio_task_loop(const corio_task *task);
/* The context the task runs in (no new reference). */
CORIO_API corio_context *corio_task_context(corio_task *task);

/* The task running now on this thread, or NULL. */
CORIO_API corio_task *corio_current_task(void);
/* The pending tasks of loop (NULL: the current loop): fills buf with up to
 * cap new references (release each with corio_task_unref) and returns how
 * many tasks are pending. */
CORIO_API size_t corio_all_tasks(corio_loop *loop, corio_task **buf,
                                 size_t cap);

/* In a task's body: `return corio_fail(err, fmt, ...);` finishes the task
 * with error err and a message. Returns err (-EINVAL if err is not
 * negative). In a function run by an executor (corio_thread_fn) the
 * message goes with the job's error; elsewhere it only returns err. */
CORIO_API int corio_fail(int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* In a task: the message attached to err by the last corio_fail made while
 * it runs (by your code or by a corio call that failed with err, such as a
 * connect naming the addresses it tried), so a caller can print it as
 * Python prints a caught exception. NULL outside a task, if no message
 * was attached, or if the last one was for another code. Valid until the
 * next corio_fail or the task's end. */
CORIO_API const char *corio_fail_message(int err);

/* Suspends the current task for `seconds` (the _ns form: nanoseconds).
 * 0 or less yields exactly one loop iteration (asyncio: a negative delay
 * is sleep(0)). Returns 0, -ECANCELED, or CORIO_ENOTASK (not in a task),
 * -EINVAL (NaN), -ENOMEM. */
CORIO_API int corio_sleep(double seconds);
CORIO_API int corio_sleep_ns(int64_t ns);

/* asyncio.run: runs main(arg) as a task on a new loop until it is done,
 * then cancels the tasks still pending and waits for them, shuts down what
 * the layers above registered (the default executor), and closes the loop.
 * Returns main's outcome (its result in *result, which may be NULL).
 * Errors: -EINVAL (NULL main), CORIO_ELOOPRUNNING (called while a loop runs
 * on this thread), the loop's creation errors. */
CORIO_API int corio_run(corio_task_fn main, void *arg, void **result);
/* corio_run, and main's error message (corio_fail, or passed on from what
 * it awaited) copied into message (message_size bytes, cut to fit; empty
 * if there is none). message may be NULL. */
CORIO_API int corio_run_ex(corio_task_fn main, void *arg, void **result,
                           char *message, size_t message_size);

/* asyncio.Runner: several runs on one loop. */
typedef struct corio_runner corio_runner;
CORIO_API int corio_runner_create(corio_runner **out);
/* asyncio.Runner(loop_factory=...): the runner's loop is made with these
 * options (corio_loop_create_with: a backend such as io_uring, uvloop's
 * place in Python). Errors as corio_loop_create_with. */
CORIO_API int corio_runner_create_with(corio_runner **out,
                                       const corio_loop_options *options);
/* Runs fn(arg) as a task until it is done; as corio_run without the final
 * shutdown. Errors as corio_run. */
CORIO_API int corio_runner_run(corio_runner *runner, corio_task_fn fn,
                               void *arg, void **result);
/* The same with fn's error message, as corio_run_ex. */
CORIO_API int corio_runner_run_ex(corio_runner *runner, corio_task_fn fn,
                                  void *arg, void **result, char *message,
                                  size_t message_size);
CORIO_API corio_loop *corio_runner_loop(const corio_runner *runner);
/* Cancels and waits for pending tasks, shuts down, closes the loop and
 * frees the runner. Returns the first shutdown error, or 0; refused
 * (CORIO_ELOOPRUNNING, nothing done) while a loop runs on this thread. */
CORIO_API int corio_runner_close(corio_runner *runner);

/* Runs loop until fut is done and returns its outcome, as
 * corio_future_result. Errors: -EINVAL, CORIO_ELOOPRUNNING,
 * CORIO_ELOOPCLOSED, CORIO_EWRONGLOOP, CORIO_ELOOPSTOPPED (the loop was
 * stopped before fut was done), the poller's error. */
CORIO_API int corio_run_until_complete(corio_loop *loop, corio_future *fut,
                                       void **result);

#if !defined(__cplusplus)
/* Awaits a task or a future. */
#define corio_await(x, result)                                                 \
  _Generic((x), corio_task *                                                   \
           : corio_task_await, corio_future *                                  \
           : corio_future_await)((x), (result))
#endif

#ifdef __cplusplus
}
#endif
#endif
