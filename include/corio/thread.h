/* Threads: a pool that runs blocking functions off the loop
 * (run_in_executor, to_thread), calls across threads and loops
 * (run_coroutine_threadsafe and its thread-safe future), and groups of
 * loops, one per thread (loop per core). See docs/thread.md. */
#ifndef CORIO_THREAD_H
#define CORIO_THREAD_H

#include "corio/context.h"
#include "corio/error.h"
#include "corio/export.h"
#include "corio/future.h"
#include "corio/loop.h"
#include "corio/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A blocking function run on a pool thread. Like a task body: return 0
 * with *result set, or a negative code (corio_fail(code, fmt, ...) adds a
 * message). It must not touch any loop except through the *_threadsafe
 * functions. */
typedef int (*corio_thread_fn)(void *arg, void **result);

/* ---- executors ------------------------------------------------------------
 * A pool of threads that run corio_thread_fn jobs in submission order.
 * Threads start on demand, up to max_workers. Every executor function may
 * be called from any thread. */

typedef struct corio_executor corio_executor;

/* Python's default size, min(32, usable CPUs + 4). */
CORIO_API unsigned corio_executor_default_workers(void);

/* max_workers 0 means corio_executor_default_workers(). Errors: -EINVAL
 * (NULL out, or max_workers above 1024), -ENOMEM. */
CORIO_API int corio_executor_create(corio_executor **out, unsigned max_workers);
CORIO_API unsigned corio_executor_max_workers(const corio_executor *ex);
/* Threads started so far (they stay until shutdown). */
CORIO_API unsigned corio_executor_threads(corio_executor *ex);

enum {
  /* Return at once instead of waiting for the threads to finish. */
  CORIO_EXECUTOR_NOWAIT = 1 << 0,
  /* Jobs not started yet are not run: their futures are cancelled. */
  CORIO_EXECUTOR_CANCEL_PENDING = 1 << 1
};

/* Refuses new jobs (CORIO_EEXECUTORSHUTDOWN from then on); jobs already
 * submitted still run unless CANCEL_PENDING. Without NOWAIT it waits until
 * every thread has finished. Calling it again is harmless. Errors: -EINVAL,
 * -EDEADLK (waiting from one of the executor's own threads). */
CORIO_API int corio_executor_shutdown(corio_executor *ex, unsigned flags);

/* Shuts down, waits for the threads to finish and releases the creator's
 * reference; loops that use it as their default executor keep theirs.
 * From one of its own threads it cannot wait: the threads are detached
 * and the memory goes when the last one leaves. Errors: -EINVAL (NULL, or
 * freed already while a loop still holds it). */
CORIO_API int corio_executor_free(corio_executor *ex);

/* The loop's default executor: created on first use with the default
 * size, shut down (waiting) by corio_run and corio_runner_close, shut down
 * without waiting by corio_loop_close, freed with the loop. Loop thread
 * only. Errors: -EINVAL, CORIO_ELOOPCLOSED, -ENOMEM. */
CORIO_API int corio_loop_default_executor(corio_loop *loop,
                                          corio_executor **out);
/* Makes ex the loop's default executor (the loop takes a reference).
 * CORIO_EINVALSTATE if the loop has one already. */
CORIO_API int corio_loop_set_default_executor(corio_loop *loop,
                                              corio_executor *ex);

typedef struct corio_job_options {
  /* Run the function inside this context (a reference is taken). NULL
   * runs it in the pool thread's own context, as Python does: a value set
   * there stays with that thread for its later jobs. corio_to_thread
   * passes a copy of the caller's. */
  corio_context *context;
  /* Called with a result that nobody will read (the future was cancelled
   * while the job ran, nobody holds it or waits on it any more, or the
   * loop closed), on whichever thread drops it. */
  void (*discard)(void *result);
  /* Called with arg once the job is gone for good: after fn ran, or when
   * it never will (withdrawn by a cancel, skipped by an executor shutdown,
   * dropped with a closing loop). So arg can be freed whatever happens,
   * on whichever thread lets the job go. Not called when the submitting
   * call itself fails: arg is still the caller's then. */
  void (*release)(void *arg);
} corio_job_options;

/* Submits fn(arg) to ex (NULL: the loop's default executor) and returns a
 * future on loop (NULL: the current loop) that is completed on the loop's
 * thread with the job's outcome (an error with fn's corio_fail message).
 * Cancelling the future takes a job not started yet out of the queue
 * before corio_future_cancel returns, so it never runs; a job already
 * running finishes and its result is discarded. Loop thread only. Errors:
 * -EINVAL, CORIO_ENOLOOP, CORIO_ELOOPCLOSED, CORIO_EEXECUTORSHUTDOWN, -ENOMEM,
 * -EAGAIN (no thread could be started and none is running). */
CORIO_API int corio_run_in_executor(corio_loop *loop, corio_executor *ex,
                                    corio_thread_fn fn, void *arg,
                                    corio_future **out);
CORIO_API int corio_run_in_executor_ex(corio_loop *loop, corio_executor *ex,
                                       corio_thread_fn fn, void *arg,
                                       const corio_job_options *options,
                                       corio_future **out);

/* From a task: runs fn(arg) on the loop's default executor, inside a copy
 * of the task's context, and waits for it (asyncio.to_thread). fn's error
 * passes its corio_fail message on to the task, as any awaited error does:
 * a body that returns it ends with that message. If the task is cancelled
 * meanwhile the job is cancelled too (a queued one never runs; a running
 * one has its result discarded) and this returns -ECANCELED. Errors as
 * corio_run_in_executor, plus CORIO_ENOTASK. */
CORIO_API int corio_to_thread(corio_thread_fn fn, void *arg, void **result);
CORIO_API int corio_to_thread_ex(corio_thread_fn fn, void *arg,
                                 void (*discard)(void *result), void **result);

/* ---- thread-safe futures --------------------------------------------------
 * The outcome of a task started from another thread
 * (concurrent.futures.Future). Every corio_threadsafe_future function may
 * be called from any thread. */

typedef struct corio_threadsafe_future corio_threadsafe_future;

/* Called once when the future is done, on the thread that completed it
 * (or in add_done_callback if it was done already). */
typedef void (*corio_threadsafe_callback)(corio_threadsafe_future *fut,
                                          void *arg);

/* From any thread: starts fn(arg) as a task on loop and returns a future
 * for its outcome (one reference, the caller's). If the loop closes before
 * the task finishes the future ends with CORIO_ELOOPCLOSED, or cancelled if
 * the task had started. Errors: -EINVAL, CORIO_ELOOPCLOSED, -ENOMEM. */
CORIO_API int corio_run_coroutine_threadsafe(corio_loop *loop, corio_task_fn fn,
                                             void *arg,
                                             corio_threadsafe_future **out);

CORIO_API corio_threadsafe_future *
corio_threadsafe_future_ref(corio_threadsafe_future *fut);
CORIO_API void corio_threadsafe_future_unref(corio_threadsafe_future *fut);

/* Blocks the calling thread until the future is done or timeout seconds
 * have passed (CORIO_NO_TIMEOUT: no limit; zero or less: expired, no
 * wait), then returns as
 * corio_future_result: 0 with *result set, the task's error, -ECANCELED,
 * or -ETIMEDOUT on expiry (the task goes on). -EDEADLK when called on the
 * thread running the future's loop, which could never finish it. */
CORIO_API int corio_threadsafe_future_result(corio_threadsafe_future *fut,
                                             double timeout, void **result);
/* The error's or the cancellation's message once done, else NULL. Owned by
 * the future. */
CORIO_API const char *
corio_threadsafe_future_message(corio_threadsafe_future *fut);

/* Cancels the future at once and asks the task's loop to cancel the task.
 * Returns 1 if it was cancelled, 0 if it was done already. */
CORIO_API int corio_threadsafe_future_cancel(corio_threadsafe_future *fut);
CORIO_API int corio_threadsafe_future_done(corio_threadsafe_future *fut);
CORIO_API int corio_threadsafe_future_cancelled(corio_threadsafe_future *fut);

/* Errors: -EINVAL, -ENOMEM. */
CORIO_API int corio_threadsafe_future_add_done_callback(
    corio_threadsafe_future *fut, corio_threadsafe_callback cb, void *arg);

/* From a task on any loop (also the future's own): waits without blocking
 * the loop, then returns as corio_threadsafe_future_result. Cancelling
 * the waiting task returns -ECANCELED and leaves the future as it is.
 * Errors: CORIO_ENOTASK, -EINVAL, -ENOMEM. */
CORIO_API int corio_threadsafe_future_await(corio_threadsafe_future *fut,
                                            void **result);

/* ---- loop per core --------------------------------------------------------
 * n threads, each running corio_run(main, arg) on a loop of its own (each
 * main typically opens its own CORIO_NET_REUSE_PORT listener), stopped
 * together by cancelling every main task. */

typedef struct corio_loop_group corio_loop_group;

/* Most loops a group may have. */
#define CORIO_LOOP_GROUP_MAX 1024u

/* Starts n threads (0: one per usable CPU, at most CORIO_LOOP_GROUP_MAX),
 * each running corio_run(main, arg) on a loop of its own; the threads block
 * every signal. Returns once every loop and main task exists; the mains
 * are then let go together, *out being set before any of them is called
 * (a main may read it, to stop its group). If a thread or a loop cannot be
 * created no main has run: the threads already started are stopped and
 * joined, everything is freed and the error comes back. Errors: -EINVAL
 * (NULL main or out, n above CORIO_LOOP_GROUP_MAX), -ENOMEM, -EAGAIN (a
 * thread), the loop's creation errors. */
CORIO_API int corio_loop_group_start(unsigned n, corio_task_fn main, void *arg,
                                     corio_loop_group **out);
/* The number of loops (0 for NULL). */
CORIO_API unsigned corio_loop_group_size(const corio_loop_group *group);
/* On a thread of a group's loop (in its main and in every task or callback
 * of that loop): the loop's index, 0..n-1; elsewhere -1. */
CORIO_API int corio_loop_group_index(void);
/* From any thread, also from a task of the group itself or of another
 * loop (a signal handler's): asks every main task to stop by cancelling
 * it (corio_task_cancel with the message "corio_loop_group_stop", posted
 * to its loop; a main not called yet is never called). Never allocates;
 * a main that returned already is left alone. Calling it again is
 * harmless: a main that handled the first cancellation and went on is
 * cancelled again. Not after join has returned (the group is freed).
 * Errors: -EINVAL (NULL). */
CORIO_API int corio_loop_group_stop(corio_loop_group *group);
/* Waits until every thread has finished (its corio_run returned), then
 * frees the group. Returns 0 if every main returned 0 or was cancelled by
 * a stop, else the first other outcome by index (an error of main, or of
 * its corio_run's shutdown). Errors: -EINVAL (NULL), -EDEADLK (called
 * from one of the group's own loop threads; nothing done). Never from a
 * pool thread of one of its loops either: that loop's corio_run waits for
 * its default executor, which would wait for join. */
CORIO_API int corio_loop_group_join(corio_loop_group *group);

#ifdef __cplusplus
}
#endif
#endif
