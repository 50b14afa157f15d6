/* Lock: ownership is handed to the first waiter on release, so waiters are
 * served in FIFO order and a newcomer never overtakes them. */
#include <errno.h>

#include "corio/sync.h"
#include "sync/waitq.h"

/* may_alias: the storage is the user's corio_lock. */
struct __attribute__((may_alias)) lock_impl {
  sync_waitq waiters;
  uint32_t locked;
};

_Static_assert(sizeof(struct lock_impl) <= sizeof(corio_lock),
               "corio_lock storage too small");

static struct lock_impl *impl(corio_lock *lock) {
  return (struct lock_impl *)(void *)lock;
}

static const struct lock_impl *cimpl(const corio_lock *lock) {
  return (const struct lock_impl *)(const void *)lock;
}

void corio_lock_init(corio_lock *lock) {
  if (lock)
    *lock = (corio_lock)CORIO_LOCK_INIT;
}

int corio_lock_destroy(corio_lock *lock) {
  if (!lock)
    return -EINVAL;
  if (impl(lock)->locked || !corio__waitq_empty(&impl(lock)->waiters))
    return -EBUSY;
  return 0;
}

int corio_lock_try_acquire(corio_lock *lock) {
  struct lock_impl *l;

  if (!lock)
    return -EINVAL;
  l = impl(lock);
  if (l->locked)
    return -EBUSY;
  l->locked = 1;
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
  /* Free means nobody waits either: a release hands the lock over. */
  if (!l->locked) {
    l->locked = 1;
    return 0;
  }
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  rc = corio__waitq_wait(&l->waiters, &waiter, self);
  if (rc == 0)
    return 0; /* handed over: held */
  if (corio__waiter_lost_wakeup(&waiter, rc))
    (void)corio_lock_release(lock); /* handed over, then cancelled */
  return rc;
}

int corio_lock_release(corio_lock *lock) {
  struct lock_impl *l;

  if (!lock)
    return -EINVAL;
  l = impl(lock);
  if (!l->locked)
    return CORIO_ENOTLOCKED;
  if (!corio__waitq_wake_first(&l->waiters, 0))
    l->locked = 0;
  return 0;
}

int corio_lock_locked(const corio_lock *lock) {
  return lock && cimpl(lock)->locked;
}
