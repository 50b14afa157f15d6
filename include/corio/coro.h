/* Coroutines with their own stacks: generator-style resume/yield and
 * greenlet-style symmetric switch. See docs/coro.md. */
#ifndef CORIO_CORO_H
#define CORIO_CORO_H

#include <stddef.h>

#include "corio/error.h"
#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_coro corio_coro;

/* The body of a coroutine. Its return value is the coroutine's result; to
 * finish with an error instead, `return corio_coro_fail(err);`. */
typedef void *(*corio_coro_fn)(void *arg);

/* Stack sizes. A size is the whole reservation for one coroutine, guard
 * page included, rounded up to a power of two; the usable stack is that
 * less one page, 32 bytes and the control block (corio_coro_stack_size()
 * tells). Stacks are committed
 * lazily, so the size is address space, not memory: a coroutine that stays
 * shallow costs one page whatever its size. */
#define CORIO_CORO_STACK_DEFAULT ((size_t)256 * 1024)
#define CORIO_CORO_STACK_MIN ((size_t)16 * 1024)
#define CORIO_CORO_STACK_MAX ((size_t)1024 * 1024 * 1024)

/* What corio_coro_resume() reports when the body returned (0 means it
 * yielded a value). */
#define CORIO_CORO_RETURNED 1

typedef enum corio_coro_state {
  CORIO_CORO_CREATED,   /* not started yet */
  CORIO_CORO_SUSPENDED, /* inside yield or switch, can be resumed */
  CORIO_CORO_RUNNING,   /* the current coroutine */
  CORIO_CORO_NORMAL,    /* resumed another coroutine and waits for it */
  CORIO_CORO_DEAD       /* the body has returned */
} corio_coro_state;

/* Creates a suspended coroutine that will run fn(arg) on its own stack
 * reserving stack_size bytes (CORIO_CORO_STACK_DEFAULT is a good choice). Its
 * parent is the coroutine that creates it (or the thread itself). The coroutine
 * belongs to the calling thread.
 * Errors: -EINVAL (NULL out or fn, stack size outside
 * [CORIO_CORO_STACK_MIN, CORIO_CORO_STACK_MAX]), -ENOMEM. */
CORIO_API int corio_coro_create(corio_coro **out, corio_coro_fn fn, void *arg,
                                size_t stack_size);

/* Frees a coroutine. A created or dead one is freed at once. Calls on a
 * destroyed coroutine (a second destroy included) return -EINVAL as long as
 * its stack has not been handed to a new coroutine. A suspended
 * one is closed first, as Python's generator.close(): it is resumed with
 * CORIO_ECLOSED as the return of its pending yield/switch so it can clean up
 * and return (its result or error is then dropped). Returns 0 exactly when
 * the coroutine was freed; any other code means it is still alive:
 * CORIO_ECLOSEIGNORED (the body yielded again instead of finishing),
 * CORIO_ERUNNING (running, normal, a suspended ancestor of the caller, or
 * being closed already), CORIO_ETHREAD, -EINVAL (NULL or destroyed). */
CORIO_API int corio_coro_destroy(corio_coro *co);

/* Runs co until it yields or returns; co's parent becomes the caller.
 * `value` becomes the return of co's pending yield (it is ignored on the
 * first resume: the body gets `arg`). Returns 0 when a value was yielded
 * back (*out = the value), CORIO_CORO_RETURNED when co's body returned
 * (*out = its result), the body's error if it returned corio_coro_fail(err).
 * Errors: -EINVAL (NULL co), CORIO_EDEAD, CORIO_ERUNNING, CORIO_ETHREAD.
 * out may be NULL. */
CORIO_API int corio_coro_resume(corio_coro *co, void *value, void **out);

/* Like resume, but the pending yield/switch in co returns err (a negative
 * code) instead of a value: Python's generator.throw(). A coroutine that was
 * never started finishes at once with err, its body never running. */
CORIO_API int corio_coro_throw(corio_coro *co, int err, void **out);

/* Hands value to the parent and suspends. Returns 0 with *received = the
 * value of the next resume/switch, or the negative code thrown in.
 * Errors: CORIO_ENOTCORO outside a coroutine. received may be NULL. */
CORIO_API int corio_coro_yield(void *value, void **received);

/* Greenlet's switch: suspends the caller and runs target with value,
 * without changing anyone's parent. Returns 0 with *received = the value
 * passed back when something switches, yields or returns into the caller
 * (a body that finishes returns into its parent; as in greenlet, that is
 * not told apart: check corio_coro_state_of(), or the body's error comes
 * back as the return code). The calling thread itself can switch too.
 * Switching to oneself returns value at once.
 * Errors: -EINVAL (NULL), CORIO_EDEAD, CORIO_ERUNNING (target is normal),
 * CORIO_ETHREAD, or the code thrown in. */
CORIO_API int corio_coro_switch(corio_coro *target, void *value,
                                void **received);

/* Python's `yield from`: runs inner to completion from inside the current
 * coroutine, passing every value inner yields up to the caller's parent
 * and every value (or thrown code) sent down to inner. Returns 0 with
 * *result = inner's result, inner's error, or an error resuming inner
 * (CORIO_ENOTCORO outside a coroutine, CORIO_EDEAD...). inner is never
 * freed here: destroy it afterwards, dead or not. */
CORIO_API int corio_coro_yield_from(corio_coro *inner, void **result);

/* In a body: `return corio_coro_fail(err);` finishes with error err (a
 * negative code; 0 or positive becomes -EINVAL). Use it only in that
 * return statement: it marks the running coroutine as failed at once. Outside
 * a coroutine it does nothing and returns NULL. */
CORIO_API void *corio_coro_fail(int err);

/* The running coroutine, or NULL on the thread's own stack. */
CORIO_API corio_coro *corio_coro_current(void);

CORIO_API corio_coro_state corio_coro_state_of(const corio_coro *co);
/* The result of a dead coroutine (NULL before, or if it failed). */
CORIO_API void *corio_coro_result(const corio_coro *co);
/* The error a dead coroutine finished with, 0 if it returned a result. */
CORIO_API int corio_coro_error(const corio_coro *co);
/* The parent, NULL for the thread. It may be dead: a finished body returns
 * into the nearest live ancestor. */
CORIO_API corio_coro *corio_coro_parent(const corio_coro *co);
/* Sets the parent (greenlet's g.parent = p; NULL is the thread). A parent
 * chain may not loop: -EINVAL. */
CORIO_API int corio_coro_set_parent(corio_coro *co, corio_coro *parent);
/* The usable stack size in bytes (below the control block, above the
 * guard page). */
CORIO_API size_t corio_coro_stack_size(const corio_coro *co);

/* Stack pool policy (per process, read when a slab of stacks is mapped).
 * The first `guarded_stacks` stacks get a PROT_NONE guard page each (two
 * memory mappings per stack); stacks past that budget rely on the overflow
 * canary alone. Default 8192. Returns the previous value. */
CORIO_API size_t corio_coro_set_guard_budget(size_t guarded_stacks);

/* Returns the calling thread's completely unused stack slabs to the OS. */
CORIO_API void corio_coro_pool_trim(void);

#ifdef __cplusplus
}
#endif
#endif
