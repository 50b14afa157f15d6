/* Semaphore and bounded semaphore: a release hands its permit to the first
 * waiter, so a newcomer never overtakes one. */
#include <errno.h>
#include <limits.h>

#include "corio/sync.h"
#include "sync/waitq.h"

struct __attribute__((may_alias)) semaphore_impl {
  uint64_t value; /* permits free now */
  uint64_t bound; /* bounded: the initial value + 1; 0: unbounded */
  sync_waitq waiters;
  uint64_t inside; /* tasks suspended in acquire, woken or not */
};

_Static_assert(sizeof(struct semaphore_impl) <= sizeof(corio_semaphore),
               "corio_semaphore storage too small");

static struct semaphore_impl *impl(corio_semaphore *sem) {
  return (struct semaphore_impl *)(void *)sem;
}

static const struct semaphore_impl *cimpl(const corio_semaphore *sem) {
  return (const struct semaphore_impl *)(const void *)sem;
}

int corio_semaphore_init(corio_semaphore *sem, int value) {
  if (!sem || value < 0)
    return -EINVAL;
  *sem = (corio_semaphore)CORIO_SEMAPHORE_INIT(value);
  return 0;
}

int corio_bounded_semaphore_init(corio_semaphore *sem, int value) {
  if (!sem || value < 0)
    return -EINVAL;
  *sem = (corio_semaphore)CORIO_BOUNDED_SEMAPHORE_INIT(value);
  return 0;
}

int corio_semaphore_destroy(corio_semaphore *sem) {
  if (!sem)
    return -EINVAL;
  return impl(sem)->inside ? -EBUSY : 0;
}

int corio_semaphore_try_acquire(corio_semaphore *sem) {
  if (!sem)
    return -EINVAL;
  /* Permits are only free when nobody waits (releases hand them over). */
  if (impl(sem)->value == 0)
    return -EBUSY;
  impl(sem)->value--;
  return 0;
}

int corio_semaphore_acquire(corio_semaphore *sem) {
  sync_waiter waiter;
  corio_task *self;
  int rc;

  if (!sem)
    return -EINVAL;
  if (impl(sem)->value > 0) {
    impl(sem)->value--;
    return 0;
  }
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  impl(sem)->inside++;
  rc = corio__waitq_wait(&impl(sem)->waiters, &waiter, self);
  impl(sem)->inside--;
  if (corio__waiter_lost_wakeup(&waiter, rc))
    (void)corio_semaphore_release(sem); /* the permit goes on */
  return rc;
}

int corio_semaphore_release(corio_semaphore *sem) {
  struct semaphore_impl *s;

  if (!sem)
    return -EINVAL;
  s = impl(sem);
  /* Handing the permit to a waiter counts as a release too. */
  if (s->bound && s->value + 1 >= s->bound)
    return CORIO_ETOOMANYRELEASES;
  if (!corio__waitq_wake_first(&s->waiters, 0))
    s->value++;
  return 0;
}

int corio_semaphore_value(const corio_semaphore *sem) {
  uint64_t v = sem ? cimpl(sem)->value : 0;

  return v > INT_MAX ? INT_MAX : (int)v;
}

int corio_semaphore_locked(const corio_semaphore *sem) {
  return sem && cimpl(sem)->value == 0;
}
