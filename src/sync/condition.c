/* Condition: waiters give up the lock while they wait and hold it again
 * before wait returns, whatever happened meanwhile, except when the loop
 * closes the task: a closing task cannot wait for the lock, so it returns
 * CORIO_ECLOSED without it, on every path. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "corio/sync.h"
#include "sync/waitq.h"

struct __attribute__((may_alias)) condition_impl {
  corio_lock own_lock;
  corio_lock *lock; /* NULL: own_lock */
  sync_waitq waiters;
  uint64_t inside; /* tasks in wait, until they hold the lock again */
};

_Static_assert(sizeof(struct condition_impl) <= sizeof(corio_condition),
               "corio_condition storage too small");

static struct condition_impl *impl(corio_condition *cond) {
  return (struct condition_impl *)(void *)cond;
}

static void describe_condition(const void *object, char *buf, size_t len) {
  const struct condition_impl *c = object;

  snprintf(buf, len, "%zu waiting for a notification",
           corio__waitq_length(&c->waiters));
}

static const corio__wait_kind condition_kind = {.name = "condition",
                                                .describe = describe_condition};

void corio_condition_init(corio_condition *cond, corio_lock *lock) {
  if (!cond)
    return;
  *cond = (corio_condition)CORIO_CONDITION_INIT;
  impl(cond)->lock = lock;
}

int corio_condition_destroy(corio_condition *cond) {
  if (!cond)
    return -EINVAL;
  if (impl(cond)->inside)
    return -EBUSY;
  return impl(cond)->lock ? 0 : corio_lock_destroy(&impl(cond)->own_lock);
}

corio_lock *corio_condition_lock(corio_condition *cond) {
  if (!cond)
    return NULL;
  return impl(cond)->lock ? impl(cond)->lock : &impl(cond)->own_lock;
}

/* Takes the lock back, going on through cancellations (each one is
 * remembered in *cancelled): wait must return holding it. Only a task
 * being closed with its loop gives up (CORIO_ECLOSED, not held). */
static int reacquire(corio_lock *lock, int *cancelled) {
  for (;;) {
    int rc = corio_lock_acquire(lock);
    if (rc != -ECANCELED)
      return rc;
    *cancelled = 1;
  }
}

int corio_condition_wait(corio_condition *cond) {
  corio_lock *lock = corio_condition_lock(cond);
  sync_waiter waiter;
  corio_task *self;
  int rc, relock, cancelled = 0;

  if (!cond)
    return -EINVAL;
  if (!corio_lock_locked(lock))
    return CORIO_ENOTLOCKED;
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  (void)corio_lock_release(lock);
  impl(cond)->inside++;
  rc = corio__waitq_wait_on(&impl(cond)->waiters, &waiter, self,
                            &condition_kind, impl(cond));
  /* Notified, then cancelled: the notification goes to the next waiter. */
  if (corio__waiter_lost_wakeup(&waiter, rc))
    (void)corio__waitq_wake_first(&impl(cond)->waiters, 0);
  /* Closing: a closing task cannot wait for the lock, so it never takes
   * it back, even when it happens to be free: one rule whoever holds it. */
  relock = rc == CORIO_ECLOSED ? rc : reacquire(lock, &cancelled);
  impl(cond)->inside--;
  if (relock < 0)
    return relock;
  return cancelled ? -ECANCELED : rc;
}

int corio_condition_wait_for(corio_condition *cond, int (*pred)(void *arg),
                             void *arg) {
  if (!cond || !pred)
    return -EINVAL;
  while (!pred(arg)) {
    int rc = corio_condition_wait(cond);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int corio_condition_notify(corio_condition *cond, int n) {
  if (!cond || n < 0)
    return -EINVAL;
  if (!corio_lock_locked(corio_condition_lock(cond)))
    return CORIO_ENOTLOCKED;
  while (n-- > 0 && corio__waitq_wake_first(&impl(cond)->waiters, 0))
    ;
  return 0;
}

int corio_condition_notify_all(corio_condition *cond) {
  return corio_condition_notify(cond, INT_MAX);
}
