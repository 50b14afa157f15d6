/* Waiting for several things at once, and for a limited time: gather,
 * wait, as_completed, wait_for, shield, timeout scopes and task groups, as
 * asyncio's. All of them run inside a task. See docs/combine.md. */
#ifndef CORIO_COMBINE_H
#define CORIO_COMBINE_H

#include <stddef.h>
#include <stdint.h>

#include "corio/error.h"
#include "corio/export.h"
#include "corio/future.h"
#include "corio/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- gather ----------------------------------------------------------------
 */

/* One child of a gather: a future (a task's: corio_task_future), or, with
 * future NULL, a function the gather starts as a task. */
typedef struct corio_awaitable {
  corio_future *future;
  corio_task_fn fn;
  void *arg;
} corio_awaitable;

#define CORIO_AWAIT_FUTURE(f) ((corio_awaitable){(f), NULL, NULL})
#define CORIO_AWAIT_TASK(t)                                                    \
  ((corio_awaitable){corio_task_future(t), NULL, NULL})
#define CORIO_AWAIT_FN(fn, arg) ((corio_awaitable){NULL, (fn), (arg)})

/* Every child's outcome, per child. */
typedef struct corio_outcome {
  int error;     /* 0, the child's error, or -ECANCELED */
  void *result;  /* when error is 0 */
  char *message; /* the error's or cancellation's message, or NULL: a copy
                    the caller owns (corio_outcomes_clear frees it) */
} corio_outcome;

/* Frees the messages of n outcomes filled by corio_gather or
 * corio_gather_outcomes (and sets them to NULL). */
CORIO_API void corio_outcomes_clear(corio_outcome *outcomes, size_t n);

/* Report every child's outcome instead of stopping at the first error. */
#define CORIO_GATHER_RETURN_EXCEPTIONS 1u

/* asyncio.gather as a future: *out finishes when every child has, or,
 * without CORIO_GATHER_RETURN_EXCEPTIONS, with the first child's error and
 * its message (the other children keep running; their later errors count
 * as read). With n == 0 it is done at once, with no outcomes. Cancelling
 * it cancels every child not done yet; it ends cancelled once they all
 * have finished. A child cancelled on its own is an error (-ECANCELED) of
 * that child. Its outcomes are read with corio_gather_outcomes. Errors:
 * -EINVAL (NULL, a child with neither future nor fn), -EDEADLK (the
 * calling task is a child), CORIO_EWRONGLOOP (children of different
 * loops), CORIO_ENOLOOP, -ENOMEM. */
CORIO_API int corio_gather_start(corio_future **out,
                                 const corio_awaitable *children, size_t n,
                                 unsigned flags);
/* The outcome of each child of a gather future, in argument order (n
 * entries; a child not done yet reads CORIO_EINVALSTATE), with copies of
 * the messages (free them with corio_outcomes_clear). */
CORIO_API int corio_gather_outcomes(corio_future *gathered,
                                    corio_outcome *outcomes, size_t n);
/* start + await + outcomes, in a task. Returns 0 when every child finished
 * with a result (or with RETURN_EXCEPTIONS, when every child is done), the
 * first child error otherwise (its message becomes the calling task's, as
 * with any await), or -ECANCELED if the calling task was cancelled (the
 * children are then cancelled and waited for). outcomes (may be NULL)
 * gets what is known at that point (filled in any case, so that
 * corio_outcomes_clear is always safe on it). */
CORIO_API int corio_gather(const corio_awaitable *children, size_t n,
                           corio_outcome *outcomes, unsigned flags);

/* ---- wait and as_completed -------------------------------------------------
 */

typedef enum corio_wait_when {
  CORIO_FIRST_COMPLETED,
  CORIO_FIRST_EXCEPTION, /* a child finished with an error (not cancelled) */
  CORIO_ALL_COMPLETED
} corio_wait_when;

/* asyncio.wait: waits until `when` is met or timeout seconds have passed
 * (CORIO_NO_TIMEOUT: no limit; zero or less: expired, only one loop
 * iteration); cancels nothing, and holds the futures while it waits. The
 * n futures are sorted into done[] and pending[] (each of capacity n, in
 * argument order; either may be NULL), with their counts. Returns 0,
 * -ECANCELED (the caller was cancelled: nothing else happens), -EINVAL
 * (n == 0, NULL, NaN), -EDEADLK (the calling task is among fs),
 * CORIO_ENOTASK, CORIO_EWRONGLOOP, -ENOMEM. */
CORIO_API int corio_wait(corio_future *const *fs, size_t n, double timeout,
                         corio_wait_when when, corio_future **done,
                         size_t *n_done, corio_future **pending,
                         size_t *n_pending);

/* asyncio.as_completed as an iterator:
 *
 *   corio_as_completed *it;
 *   corio_future *f;
 *   corio_as_completed_start(&it, fs, n, 2.0);
 *   while ((rc = corio_as_completed_next(it, &f)) == 0)
 *     ... f is the next to complete (borrowed, done) ...
 *   corio_as_completed_free(it);    (rc: CORIO_AS_COMPLETED_END, or error)
 *
 * The timeout (seconds from start, CORIO_NO_TIMEOUT for none; zero or less
 * has expired) bounds the whole iteration; once it has passed, next
 * returns -ETIMEDOUT for any future not done, and nothing is cancelled.
 * start refuses the calling task among fs (-EDEADLK). */
typedef struct corio_as_completed corio_as_completed;

#define CORIO_AS_COMPLETED_END 1

CORIO_API int corio_as_completed_start(corio_as_completed **out,
                                       corio_future *const *fs, size_t n,
                                       double timeout);
/* 0 with *next, CORIO_AS_COMPLETED_END when every future has been
 * returned, -ETIMEDOUT, -ECANCELED, CORIO_ENOTASK. */
CORIO_API int corio_as_completed_next(corio_as_completed *it,
                                      corio_future **next);
CORIO_API void corio_as_completed_free(corio_as_completed *it);

/* ---- wait_for and shield ---------------------------------------------------
 */

/* asyncio.wait_for: awaits f for at most timeout seconds (CORIO_NO_TIMEOUT:
 * no limit; zero or less: expired, f's outcome only if done already, else
 * f is cancelled, before it starts if it is a task that has not). On
 * timeout f is cancelled and waited for until it has really finished;
 * then -ETIMEDOUT, unless f ignored the cancellation and finished with a
 * result, which is returned. If the calling task is cancelled, f is
 * cancelled and waited for too, and f's outcome is returned: -ECANCELED,
 * or the result of an f that declined (asyncio 3.12, and as awaiting f
 * directly). Otherwise f's outcome.
 * Errors: -EINVAL (NULL, NaN), -EDEADLK (f is the calling task),
 * CORIO_ENOTASK, CORIO_EWRONGLOOP, -ENOMEM. */
CORIO_API int corio_wait_for(corio_future *f, double timeout, void **result);

/* asyncio.shield: *outer mirrors inner's outcome; cancelling outer (or a
 * task awaiting it) leaves inner running, and inner's result stays
 * readable on inner. If inner is cancelled, outer is too. If inner is done
 * already, *outer is inner itself (a new reference). Release *outer with
 * corio_future_unref. */
CORIO_API int corio_shield(corio_future *inner, corio_future **outer);

/* ---- timeout scopes --------------------------------------------------------
 */

/* asyncio.timeout / timeout_at around any block of awaits:
 *
 *   corio_timeout scope;
 *   corio_timeout_enter(&scope, 0.5);
 *   rc = ...awaits...;
 *   rc = corio_timeout_exit(&scope, rc);  -ECANCELED it caused -> -ETIMEDOUT
 *
 * When the deadline passes the task is cancelled (a request, as
 * corio_task_cancel); exit turns the -ECANCELED this scope caused into
 * -ETIMEDOUT and passes any other code through unchanged. A deadline that
 * has passed already (a delay of zero or less) interrupts the task's very
 * next suspension. Scopes nest: each reports only its own expiry. Plain
 * storage, on the task's stack; every entered scope needs its exit, in
 * reverse order of entering.
 *
 * The states are asyncio's: created (init), entered, expiring (the
 * deadline fired), expired (exited after expiring), exited. A scope can be
 * created before it is entered (asyncio's `timeout(None)`, later
 * rescheduled), and is entered once: start on a scope entered already is
 * refused. Storage passed to start, exit, reschedule, when or expired
 * must have been initialised by init or enter. */
typedef struct corio_timeout {
  uint64_t opaque_[6];
} corio_timeout;

/* Creates a scope, not entered: delay in seconds from now on the current
 * loop's clock (CORIO_NO_TIMEOUT: none), or `when` on the loop's clock.
 * Errors: -EINVAL (NULL, NaN), CORIO_ENOLOOP (init, no current loop). */
CORIO_API int corio_timeout_init(corio_timeout *scope, double delay);
CORIO_API int corio_timeout_init_at(corio_timeout *scope, double when);
/* Enters a created scope in the current task. Errors: CORIO_ENOTASK,
 * CORIO_ETIMEOUTENTERED (entered already), CORIO_ETIMEOUTEXPIRED,
 * CORIO_ETIMEOUTEXITED (used up), -EINVAL (not a scope), -ENOMEM. */
CORIO_API int corio_timeout_start(corio_timeout *scope);
/* init + start: a new scope in scope's storage, entered (as
 * `async with asyncio.timeout(delay)`). Errors as those. */
CORIO_API int corio_timeout_enter(corio_timeout *scope, double delay);
CORIO_API int corio_timeout_enter_at(corio_timeout *scope, double when);
/* Leaves the scope; returns rc, or -ETIMEDOUT for the cancellation the
 * scope's expiry caused. A scope that is not entered returns rc. */
CORIO_API int corio_timeout_exit(corio_timeout *scope, int rc);
/* A new deadline on the loop's clock (CORIO_NO_TIMEOUT: none; one in the
 * past fires before the task's next step). A call that fails changes
 * nothing. Errors: CORIO_ETIMEOUTNOTENTERED (only created),
 * CORIO_ETIMEOUTEXPIRED, CORIO_ETIMEOUTEXITED, -EINVAL (NULL, NaN, not a
 * scope), -ENOMEM. */
CORIO_API int corio_timeout_reschedule(corio_timeout *scope, double when);
/* The deadline on the loop's clock exactly as given or computed, or
 * CORIO_NO_TIMEOUT. */
CORIO_API double corio_timeout_when(const corio_timeout *scope);
/* The deadline passed and the scope cancelled its task. */
CORIO_API int corio_timeout_expired(const corio_timeout *scope);

/* ---- task groups -----------------------------------------------------------
 */

/* asyncio.TaskGroup:
 *
 *   corio_taskgroup *g;
 *   corio_taskgroup_open(&g);               in the owning task
 *   corio_taskgroup_spawn(g, NULL, fn, arg);
 *   rc = ...the group body, awaiting...;
 *   rc = corio_taskgroup_close(g, rc);     waits for every child
 *   ...corio_taskgroup_error(g, i, ...) for each real error...
 *   corio_taskgroup_free(g);
 *
 * The first child that fails cancels the other children and the owning
 * task (at its current await in the body); close then waits for every
 * child and returns CORIO_ETASKGROUP with the real errors listed (not the
 * cancellations the group caused), -ECANCELED if the owner was cancelled
 * from outside (the children are cancelled too), else 0. */
typedef struct corio_taskgroup corio_taskgroup;

/* Errors: CORIO_ENOTASK (the owner is the current task), -ENOMEM. */
CORIO_API int corio_taskgroup_open(corio_taskgroup **out);
/* Starts a child; out (may be NULL) gets a reference. Allowed until the
 * group has failed, and while it closes if children remain. Errors:
 * CORIO_ETASKGROUPSHUTDOWN (the group is aborting: a child or the body
 * failed, or it was cancelled), CORIO_ETASKGROUPFINISHED (closed, or
 * closing with no child left), the spawn's. */
CORIO_API int corio_taskgroup_spawn(corio_taskgroup *g, corio_task **out,
                                    corio_task_fn fn, void *arg);
CORIO_API int corio_taskgroup_spawn_ex(corio_taskgroup *g, corio_task **out,
                                       corio_task_fn fn, void *arg,
                                       const corio_spawn_options *opts);
/* Closes the group, as leaving `async with`: body_rc is how the body
 * ended (0, an error: it aborts the group too and is listed with the
 * others, or -ECANCELED). Waits for every child. Returns 0,
 * CORIO_ETASKGROUP, -ECANCELED, or CORIO_EINVALSTATE (closed already,
 * not the owner). */
CORIO_API int corio_taskgroup_close(corio_taskgroup *g, int body_rc);
/* The real errors after close, in the order they happened (the body's own
 * error last, as asyncio): count, then each with the task that failed
 * (NULL for the body's own error; borrowed, valid until free). */
CORIO_API size_t corio_taskgroup_error_count(const corio_taskgroup *g);
CORIO_API int corio_taskgroup_error(const corio_taskgroup *g, size_t i,
                                    corio_task **task);
/* Frees a closed group (-EBUSY if not closed). */
CORIO_API int corio_taskgroup_free(corio_taskgroup *g);

#ifdef __cplusplus
}
#endif
#endif
