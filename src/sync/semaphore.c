/* Semaphore and bounded semaphore, as asyncio's (3.12+): a release wakes
 * the first waiter with a permit set aside for it (value is not raised),
 * and while any waiter is in line, woken or not, a newcomer queues behind
 * it even if value > 0 (FIFO). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "corio/sync.h"
#include "sync/waitq.h"

struct __attribute__((may_alias)) semaphore_impl {
  uint64_t value; /* permits not set aside for a woken waiter */
  uint64_t bound; /* bounded: the initial value + 1; 0: unbounded */
  sync_waitq waiters;
  uint32_t inside; /* tasks suspended in acquire, woken or not */
  uint32_t woken;  /* woken with a permit, not run yet */
};

_Static_assert(sizeof(struct semaphore_impl) <= sizeof(corio_semaphore),
               "corio_semaphore storage too small");

static struct semaphore_impl *impl(corio_semaphore *sem) {
  return (struct semaphore_impl *)(void *)sem;
}

static const struct semaphore_impl *cimpl(const corio_semaphore *sem) {
  return (const struct semaphore_impl *)(const void *)sem;
}

static void describe_semaphore(const void *object, char *buf, size_t len) {
  const struct semaphore_impl *s = object;

  snprintf(buf, len, "value %llu, %zu waiting", (unsigned long long)s->value,
           corio__waitq_length(&s->waiters));
}

static const corio__wait_kind semaphore_kind = {.name = "semaphore",
                                                .describe = describe_semaphore};

/* asyncio's locked(): no permit, or someone in line before a newcomer. */
static int must_wait(const struct semaphore_impl *s) {
  return s->value == 0 || s->woken || !corio__waitq_empty(&s->waiters);
}

/* asyncio's _wake_up_next: the first waiter not woken yet gets a permit. */
static int wake_up_next(struct semaphore_impl *s) {
  if (!corio__waitq_wake_first(&s->waiters, 0))
    return 0;
  s->value--;
  s->woken++;
  return 1;
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
  if (must_wait(impl(sem)))
    return -EBUSY;
  impl(sem)->value--;
  return 0;
}

int corio_semaphore_acquire(corio_semaphore *sem) {
  struct semaphore_impl *s;
  sync_waiter waiter;
  corio_task *self;
  int rc;

  if (!sem)
    return -EINVAL;
  s = impl(sem);
  if (!must_wait(s)) {
    s->value--;
    return 0;
  }
  self = corio__wait_self();
  if (!self)
    return CORIO_ENOTASK;
  s->inside++;
  rc = corio__waitq_wait_on(&s->waiters, &waiter, self, &semaphore_kind, s);
  s->inside--;
  if (corio__waiter_woken(&waiter)) {
    s->woken--;
    if (rc < 0)
      s->value++; /* woken, then cancelled: the permit goes back */
  }
  /* Newcomers may have queued behind this waiter while permits were
   * free: wake as many as there are permits. */
  while (s->value > 0 && wake_up_next(s))
    ;
  return rc;
}

int corio_semaphore_release(corio_semaphore *sem) {
  struct semaphore_impl *s;

  if (!sem)
    return -EINVAL;
  s = impl(sem);
  /* A permit set aside for a woken waiter counts as taken. */
  if (s->bound && s->value + 1 >= s->bound)
    return CORIO_ETOOMANYRELEASES;
  s->value++;
  wake_up_next(s);
  return 0;
}

int corio_semaphore_value(const corio_semaphore *sem) {
  uint64_t v = sem ? cimpl(sem)->value : 0;

  return v > INT_MAX ? INT_MAX : (int)v;
}

int corio_semaphore_locked(const corio_semaphore *sem) {
  return sem && must_wait(cimpl(sem));
}
