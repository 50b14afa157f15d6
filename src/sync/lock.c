/* Lock, as asyncio's (3.11+): release frees the lock and wakes the first
 * waiter, which takes the lock when it runs. Until then the lock is free
 * but a newcomer still queues behind the waiters (no barging), and a woken
 * waiter that is cancelled before it runs wakes the next one. */
#include <errno.h>
#include <stdio.h>

#include "corio/sync.h"
#include "sync/waitq.h"

enum lock_state {
  FREE,    /* and nobody waits (a release wakes one if there is one) */
  LOCKED,  /* held; tasks may wait */
  HANDING, /* free, a woken waiter has yet to run and take it */
};

/* may_alias: the storage is the user's corio_lock. */
struct __attribute__((may_alias)) lock_impl {
  sync_waitq waiters; /* not woken yet */
  uint32_t state;     /* enum lock_state; 0 (FREE) for CORIO_LOCK_INIT */
};

_Static_assert(sizeof(struct lock_impl) <= sizeof(corio_lock),
               "corio_lock storage too small");

static struct lock_impl *impl(corio_lock *lock) {
  return (struct lock_impl *)(void *)lock;
}

static const struct lock_impl *cimpl(const corio_lock *lock) {
  return (const struct lock_impl *)(const void *)lock;
}

static void describe_lock(const void *object, char *buf, size_t len) {
  const struct lock_impl *l = object;
  static const char *const states[] = {"free", "held", "being handed over"};

  snprintf(buf, len, "%s, %zu waiting", states[l->state],
           corio__waitq_length(&l->waiters));
}

static const corio__wait_kind lock_kind = {.name = "lock",
                                           .describe = describe_lock};

/* asyncio's _wake_up_first, on a lock that nobody holds or is handed. */
static void wake_up_first(struct lock_impl *l) {
  l->state = corio__waitq_wake_first(&l->waiters, 0) ? HANDING : FREE;
}

void corio_lock_init(corio_lock *lock) {
  if (lock)
    *lock = (corio_lock)CORIO_LOCK_INIT;
}

int corio_lock_destroy(corio_lock *lock) {
  if (!lock)
    return -EINVAL;
  return impl(lock)->state == FREE ? 0 : -EBUSY;
}

int corio_lock_try_acquire(corio_lock *lock) {
  if (!lock)
    return -EINVAL;
  if (impl(lock)->state != FREE)
    return -EBUSY;
  impl(lock)->state = LOCKED;
  return 0;
}

int corio_lock_acquire(corio_lock *lock) {
  struct lock_impl *l;
  sync_waiter waiter;
  corio_task *self;
  int rc;

  if (!lock)
    return -EINVAL;
  l = impl(lock);
  /* asyncio's fast path: free, and nobody in line (FREE says both). */
  if (l->state == FREE) {
    l->state = LOCKED;
    return 0;
  }
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  rc = corio__waitq_wait_on(&l->waiters, &waiter, self, &lock_kind, l);
  if (rc == 0) {
    l->state = LOCKED; /* it was HANDING, to this waiter */
    return 0;
  }
  /* Woken, then cancelled or closed before it ran: the lock goes to the
   * next waiter. (One cancelled while it waited was taken out of the
   * line and was given nothing.) */
  if (corio__waiter_woken(&waiter))
    wake_up_first(l);
  return rc;
}

int corio_lock_release(corio_lock *lock) {
  struct lock_impl *l;

  if (!lock)
    return -EINVAL;
  l = impl(lock);
  if (l->state != LOCKED)
    return CORIO_ENOTLOCKED;
  wake_up_first(l);
  return 0;
}

int corio_lock_locked(const corio_lock *lock) {
  return lock && cimpl(lock)->state == LOCKED;
}
