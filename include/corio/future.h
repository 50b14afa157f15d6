/* Futures: a result (or an error) that becomes available later, with done
 * callbacks, as asyncio.Future. See docs/task.md. */
#ifndef CORIO_FUTURE_H
#define CORIO_FUTURE_H

#include "corio/error.h"
#include "corio/export.h"
#include "corio/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_future corio_future;

/* A done callback: fut is done (finished or cancelled) when it runs. */
typedef void (*corio_future_callback)(corio_future *fut, void *arg);

/* Creates a pending future on loop (NULL: the current loop) with one
 * reference. Errors: -EINVAL (NULL out), CORIO_ENOLOOP, CORIO_ELOOPCLOSED,
 * -ENOMEM. */
CORIO_API int corio_future_create(corio_loop *loop, corio_future **out);
CORIO_API corio_future *corio_future_ref(corio_future *fut);
/* Dropping the last reference frees the future. An error nobody read (with
 * corio_future_result/_error or by awaiting) is then reported through the
 * loop's exception handler: "exception was never retrieved". */
CORIO_API void corio_future_unref(corio_future *fut);

/* Finishes the future with a result, or with an error (a negative code and
 * an optional printf-style message; fmt may be NULL). The done callbacks are
 * scheduled on the loop, never run here. Errors: -EINVAL (NULL, or an error
 * code that is not negative), CORIO_EINVALSTATE (already done). If the
 * message cannot be allocated the error is still set, without it. */
CORIO_API int corio_future_set_result(corio_future *fut, void *result);
CORIO_API int corio_future_set_error(corio_future *fut, int error,
                                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Cancels a pending future (msg, which may be NULL, is copied and readable
 * with corio_future_message). Returns 1 if it was cancelled, 0 if it was
 * done already, -EINVAL for NULL. */
CORIO_API int corio_future_cancel(corio_future *fut, const char *msg);

CORIO_API int corio_future_done(const corio_future *fut);
CORIO_API int corio_future_cancelled(const corio_future *fut);

/* The outcome: 0 with *result set (result may be NULL), the error it was
 * finished with, -ECANCELED if cancelled, CORIO_EINVALSTATE if pending.
 * Reading marks an error as retrieved. */
CORIO_API int corio_future_result(corio_future *fut, void **result);
/* The error alone: 0 if finished with a result, else as above. */
CORIO_API int corio_future_error(corio_future *fut);
/* The error's message or the cancellation's, NULL if none. Owned by the
 * future. */
CORIO_API const char *corio_future_message(const corio_future *fut);

/* Done callbacks run through the loop's ready queue, in the order they were
 * added, also when added to a future that is done already. Errors: -EINVAL,
 * -ENOMEM, CORIO_ELOOPCLOSED (adding to a done future of a closed loop). */
CORIO_API int corio_future_add_done_callback(corio_future *fut,
                                             corio_future_callback cb,
                                             void *arg);
/* Removes every registration of (cb, arg) that has not been scheduled yet;
 * returns how many. */
CORIO_API int corio_future_remove_done_callback(corio_future *fut,
                                                corio_future_callback cb,
                                                void *arg);

CORIO_API corio_loop *corio_future_loop(const corio_future *fut);

/* From a task: suspends it until fut is done, then returns as
 * corio_future_result. A future that is done already returns at once,
 * without suspending. Cancelling the awaiting task meanwhile cancels fut
 * (asyncio's rule; corio_shield protects a future from it) and the task
 * goes on waiting for fut's outcome, which it then returns (-ECANCELED,
 * or the result of a task that declined the cancellation). An error read
 * this way becomes the awaiting task's, with its message: returning it
 * from the body fails the task with the same message.
 * Errors: CORIO_ENOTASK (not in a task), CORIO_EWRONGLOOP (fut belongs to
 * another loop), -EDEADLK (fut is the task's own), -EINVAL (NULL fut). */
CORIO_API int corio_future_await(corio_future *fut, void **result);

#ifdef __cplusplus
}
#endif
#endif
