/* Synchronisation between tasks of one loop: lock, event, condition,
 * semaphore, bounded semaphore and barrier, as asyncio's. They are plain
 * storage to embed in your own structs (no allocation), initialised with
 * the _init functions or the static initialisers. See docs/sync.md.
 *
 * Every wait suspends the calling task and can be cancelled; waiters are
 * woken in FIFO order and take what they were woken for (the lock, a
 * permit) when they run, as in asyncio; until then a newcomer queues
 * behind them. A waiter cancelled at the moment it was woken passes the
 * wake-up on to the next one (DESIGN.md §4 rule 9). A wait that would
 * suspend returns CORIO_ENOTASK outside a task, and CORIO_ECLOSED, having
 * taken nothing, in a task closed with its loop. _destroy returns -EBUSY
 * while tasks are inside a wait, woken or not (they read the primitive
 * again when they run). */
#ifndef CORIO_SYNC_H
#define CORIO_SYNC_H

#include <stdint.h>

#include "corio/error.h"
#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- lock ---------------------------------------------------------------- */

typedef struct corio_lock {
  uint64_t opaque_[3];
} corio_lock;

#define CORIO_LOCK_INIT                                                        \
  {                                                                            \
    { 0, 0, 0 }                                                                \
  }

CORIO_API void corio_lock_init(corio_lock *lock);
/* A lock must be unlocked, with nobody waiting (woken or not), when
 * destroyed: else -EBUSY (and it stays usable). */
CORIO_API int corio_lock_destroy(corio_lock *lock);
/* Takes the lock, waiting (FIFO) while it is held or others wait. Returns
 * 0 once held, -ECANCELED or CORIO_ECLOSED (not held), CORIO_ENOTASK,
 * -EINVAL. */
CORIO_API int corio_lock_acquire(corio_lock *lock);
/* Takes the lock if it is free and nobody waits (a woken waiter that has
 * not run yet still waits): 0, or -EBUSY. */
CORIO_API int corio_lock_try_acquire(corio_lock *lock);
/* Frees the lock and wakes the first waiter, which takes it when it runs
 * (asyncio 3.11+): until then corio_lock_locked is false, but nobody else
 * can take it. CORIO_ENOTLOCKED if it is not held. Any task may release
 * (asyncio locks have no owner). */
CORIO_API int corio_lock_release(corio_lock *lock);
CORIO_API int corio_lock_locked(const corio_lock *lock);

/* ---- event --------------------------------------------------------------- */

typedef struct corio_event {
  uint64_t opaque_[3];
} corio_event;

#define CORIO_EVENT_INIT                                                       \
  {                                                                            \
    { 0, 0, 0 }                                                                \
  }

CORIO_API void corio_event_init(corio_event *event);
/* -EBUSY while tasks are in wait, woken by set or not, until they have
 * run. */
CORIO_API int corio_event_destroy(corio_event *event);
/* Sets the flag and wakes every waiter: they all return 0, even if the
 * flag is cleared again before they run. */
CORIO_API void corio_event_set(corio_event *event);
CORIO_API void corio_event_clear(corio_event *event);
CORIO_API int corio_event_is_set(const corio_event *event);
/* Returns 0 at once if set, else waits until it is: 0, -ECANCELED,
 * CORIO_ENOTASK, -EINVAL. */
CORIO_API int corio_event_wait(corio_event *event);

/* ---- condition ----------------------------------------------------------- */

typedef struct corio_condition {
  uint64_t opaque_[7];
} corio_condition;

/* A condition with a lock of its own. */
#define CORIO_CONDITION_INIT                                                   \
  {                                                                            \
    { 0, 0, 0, 0, 0, 0, 0 }                                                    \
  }

/* lock: the lock to use (shared with other code), or NULL for its own. */
CORIO_API void corio_condition_init(corio_condition *cond, corio_lock *lock);
CORIO_API int corio_condition_destroy(corio_condition *cond);
/* The condition's lock, for acquire and release. */
CORIO_API corio_lock *corio_condition_lock(corio_condition *cond);
/* With the lock held: releases it, waits for a notification, and takes
 * the lock again before returning, also when cancelled (then
 * -ECANCELED). CORIO_ENOTLOCKED if the lock is not held. The exception is
 * CORIO_ECLOSED (the task is closed with its loop, and so cannot wait for
 * the lock): it returns WITHOUT the lock, whether it was waiting for the
 * notification or for the lock; do not release it then. */
CORIO_API int corio_condition_wait(corio_condition *cond);
/* Waits until pred(arg) returns non-zero, checking it first and after each
 * wake-up, with the lock held (CORIO_ECLOSED: not held, as wait). */
CORIO_API int corio_condition_wait_for(corio_condition *cond,
                                       int (*pred)(void *arg), void *arg);
/* With the lock held: wakes up to n waiters (FIFO). CORIO_ENOTLOCKED. */
CORIO_API int corio_condition_notify(corio_condition *cond, int n);
CORIO_API int corio_condition_notify_all(corio_condition *cond);

/* ---- semaphore ----------------------------------------------------------- */

typedef struct corio_semaphore {
  uint64_t opaque_[5];
} corio_semaphore;

/* clang-format off */
#define CORIO_SEMAPHORE_INIT(value) {{(uint64_t)(value), 0, 0, 0, 0}}
/* A bounded semaphore: releasing above the initial value is an error. */
#define CORIO_BOUNDED_SEMAPHORE_INIT(value)                                    \
  {{(uint64_t)(value), (uint64_t)(value) + 1, 0, 0, 0}}
/* clang-format on */

/* Errors: -EINVAL (NULL, value < 0). */
CORIO_API int corio_semaphore_init(corio_semaphore *sem, int value);
CORIO_API int corio_bounded_semaphore_init(corio_semaphore *sem, int value);
CORIO_API int corio_semaphore_destroy(corio_semaphore *sem);
/* Takes a permit, waiting (FIFO: a newcomer never overtakes a waiter,
 * woken or not) while corio_semaphore_locked. 0, -ECANCELED,
 * CORIO_ECLOSED, CORIO_ENOTASK, -EINVAL. */
CORIO_API int corio_semaphore_acquire(corio_semaphore *sem);
/* 0, or -EBUSY when it would have to wait. */
CORIO_API int corio_semaphore_try_acquire(corio_semaphore *sem);
/* Gives a permit back: to the first waiter not woken yet if any (set
 * aside for it: the value does not go up), else to the value. A bounded
 * semaphore refuses to go above its initial value:
 * CORIO_ETOOMANYRELEASES. */
CORIO_API int corio_semaphore_release(corio_semaphore *sem);
/* Permits not set aside for a woken waiter (asyncio's _value). */
CORIO_API int corio_semaphore_value(const corio_semaphore *sem);
/* acquire would wait (asyncio 3.12+ locked()): the value is 0, or a
 * waiter, woken or not, has yet to run. */
CORIO_API int corio_semaphore_locked(const corio_semaphore *sem);

/* ---- barrier ------------------------------------------------------------- */

typedef struct corio_barrier {
  uint64_t opaque_[7];
} corio_barrier;

#define CORIO_BARRIER_INIT(parties)                                            \
  {                                                                            \
    { (uint64_t)(parties), 0, 0, 0, 0, 0, 0 }                                  \
  }

/* Errors: -EINVAL (NULL, parties < 1). */
CORIO_API int corio_barrier_init(corio_barrier *barrier, int parties);
/* -EBUSY while tasks are inside wait, woken or not. */
CORIO_API int corio_barrier_destroy(corio_barrier *barrier);
/* Waits until `parties` tasks wait, then all go on; each gets its arrival
 * index 0 .. parties-1 in *index (may be NULL). The barrier is then reused
 * for the next round (tasks arriving while the last round drains wait for
 * it). Errors: CORIO_EBROKENBARRIER (broken, reset or aborted while
 * waiting), -ECANCELED or CORIO_ECLOSED (closed with its loop: the
 * barrier breaks, the others fail too), CORIO_ENOTASK, -EINVAL. */
CORIO_API int corio_barrier_wait(corio_barrier *barrier, int *index);
/* Back to the initial state: waiters fail with CORIO_EBROKENBARRIER, a
 * broken barrier works again. */
CORIO_API void corio_barrier_reset(corio_barrier *barrier);
/* Breaks the barrier: waiters and later waits fail with
 * CORIO_EBROKENBARRIER until reset. */
CORIO_API void corio_barrier_abort(corio_barrier *barrier);
CORIO_API int corio_barrier_parties(const corio_barrier *barrier);
/* Tasks waiting in the current round. */
CORIO_API int corio_barrier_n_waiting(const corio_barrier *barrier);
CORIO_API int corio_barrier_broken(const corio_barrier *barrier);

#ifdef __cplusplus
}
#endif
#endif
