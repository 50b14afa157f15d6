/* Barrier, with asyncio's states: filling until `parties` tasks wait, then
 * draining while they leave (newcomers wait for the next round), resetting
 * while reset's victims leave, and broken until reset. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "corio/sync.h"
#include "sync/waitq.h"

enum barrier_state { FILLING, DRAINING, RESETTING, BROKEN };

struct __attribute__((may_alias)) barrier_impl {
  uint64_t parties;
  uint32_t count;     /* tasks inside wait, in this round */
  uint32_t state;     /* enum barrier_state */
  sync_waitq waiters; /* filling: waiting for the round to fill */
  sync_waitq blocked; /* waiting for a drain or reset to end */
  uint64_t inside;    /* tasks inside wait, woken or not, in a round or not */
};

_Static_assert(sizeof(struct barrier_impl) <= sizeof(corio_barrier),
               "corio_barrier storage too small");

static struct barrier_impl *impl(corio_barrier *barrier) {
  return (struct barrier_impl *)(void *)barrier;
}

static const struct barrier_impl *cimpl(const corio_barrier *barrier) {
  return (const struct barrier_impl *)(const void *)barrier;
}

int corio_barrier_init(corio_barrier *barrier, int parties) {
  if (!barrier || parties < 1)
    return -EINVAL;
  *barrier = (corio_barrier)CORIO_BARRIER_INIT(parties);
  return 0;
}

/* A woken task reads the barrier again when it runs (a blocked one
 * checks the state, one in a round leaves it): busy until it has. */
int corio_barrier_destroy(corio_barrier *barrier) {
  if (!barrier)
    return -EINVAL;
  return impl(barrier)->inside ? -EBUSY : 0;
}

static void describe_barrier(const void *object, char *buf, size_t len) {
  const struct barrier_impl *b = object;
  static const char *const states[] = {"filling", "draining", "resetting",
                                       "broken"};

  snprintf(buf, len, "%u of %llu parties, %s", b->count,
           (unsigned long long)b->parties, states[b->state]);
}

static const corio__wait_kind barrier_kind = {.name = "barrier",
                                              .describe = describe_barrier};

static void break_barrier(struct barrier_impl *b) {
  b->state = BROKEN;
  corio__waitq_wake_all(&b->waiters, CORIO_EBROKENBARRIER);
  corio__waitq_wake_all(&b->blocked, 0);
}

/* A task leaves wait: the last one out of a drain or reset opens the
 * next round. */
static void leave(struct barrier_impl *b) {
  if (--b->count > 0)
    return;
  if (b->state == DRAINING || b->state == RESETTING)
    b->state = FILLING;
  corio__waitq_wake_all(&b->blocked, 0);
}

/* A waiter taken out of the round before it was woken (cancelled, or
 * closed with its loop) leaves at once, breaking the barrier: the round
 * can no longer complete with the parties the others expect, and no
 * newcomer may trip it meanwhile. data goes to 0: it has left. */
static void detached_from_round(sync_waiter *waiter) {
  struct barrier_impl *b = (struct barrier_impl *)waiter->data;

  waiter->data = 0;
  break_barrier(b);
  leave(b);
}

static int wait_inside(struct barrier_impl *b, int *index) {
  corio_task *self = corio__wait_self();
  sync_waiter waiter;
  uint32_t arrival;
  int rc = 0;

  while (b->state == DRAINING || b->state == RESETTING) {
    if (!self)
      return CORIO_ENOTASK;
    rc = corio__waitq_wait_on(&b->blocked, &waiter, self, &barrier_kind, b);
    if (rc < 0)
      return rc;
  }
  if (b->state == BROKEN)
    return CORIO_EBROKENBARRIER;
  arrival = b->count;
  if (arrival + 1 < b->parties && !self)
    return CORIO_ENOTASK;
  b->count++;
  if (arrival + 1 == b->parties) {
    b->state = DRAINING;
    corio__waitq_wake_all(&b->waiters, 0);
  } else {
    waiter.data = (intptr_t)b;
    rc = corio__waitq_wait_detach(&b->waiters, &waiter, self,
                                  detached_from_round, &barrier_kind, b);
    if (!waiter.data)
      return rc; /* it has left already */
  }
  leave(b);
  if (rc == 0 && index)
    *index = (int)arrival;
  return rc;
}

int corio_barrier_wait(corio_barrier *barrier, int *index) {
  struct barrier_impl *b;
  int rc;

  if (!barrier)
    return -EINVAL;
  b = impl(barrier);
  b->inside++;
  rc = wait_inside(b, index);
  b->inside--;
  return rc;
}

void corio_barrier_reset(corio_barrier *barrier) {
  struct barrier_impl *b;

  if (!barrier)
    return;
  b = impl(barrier);
  if (b->count > 0) {
    b->state = RESETTING;
    corio__waitq_wake_all(&b->waiters, CORIO_EBROKENBARRIER);
  } else {
    b->state = FILLING;
    corio__waitq_wake_all(&b->blocked, 0);
  }
}

void corio_barrier_abort(corio_barrier *barrier) {
  if (barrier)
    break_barrier(impl(barrier));
}

int corio_barrier_parties(const corio_barrier *barrier) {
  uint64_t parties = barrier ? cimpl(barrier)->parties : 0;

  return parties > INT_MAX ? INT_MAX : (int)parties;
}

int corio_barrier_n_waiting(const corio_barrier *barrier) {
  return barrier && cimpl(barrier)->state == FILLING
             ? (int)cimpl(barrier)->count
             : 0;
}

int corio_barrier_broken(const corio_barrier *barrier) {
  return barrier && cimpl(barrier)->state == BROKEN;
}
