/* Timeout scopes, as asyncio.Timeout: the deadline cancels the task, and
 * the scope's exit turns the cancellation it caused, and only that one,
 * into -ETIMEDOUT (uncancel counts tell them apart when scopes nest). A
 * deadline that has passed already fires through the ready queue, ahead
 * of the task's next step, so the next suspension is interrupted. */
#include <errno.h>
#include <math.h>

#include "corio/combine.h"
#include "task/task_internal.h"

/* asyncio's states; SCOPE_UNUSED is storage never initialised. */
enum scope_state {
  SCOPE_UNUSED,
  SCOPE_CREATED,
  SCOPE_ENTERED,
  SCOPE_EXPIRING,
  SCOPE_EXPIRED,
  SCOPE_EXITED
};

/* Marks storage that holds a scope (from init), so that start, exit and
 * reschedule refuse storage that was never one. */
#define SCOPE_MAGIC 0x74696d65u

struct __attribute__((may_alias)) timeout_impl {
  uint32_t magic;
  int state;           /* enum scope_state */
  corio_task *task;    /* from entering */
  corio_handle *timer; /* armed and not fired (borrowed) */
  double when;         /* as given: loop clock seconds, or INFINITY */
  int cancelling;      /* the task's cancelling() when entered */
};

_Static_assert(sizeof(struct timeout_impl) <= sizeof(corio_timeout),
               "corio_timeout storage too small");

static struct timeout_impl *impl(corio_timeout *s) {
  return (struct timeout_impl *)(void *)s;
}

static const struct timeout_impl *cimpl(const corio_timeout *s) {
  return (const struct timeout_impl *)(const void *)s;
}

/* The state of a scope, SCOPE_UNUSED for storage that holds none. */
static int state_of(const corio_timeout *scope) {
  const struct timeout_impl *t = cimpl(scope);

  return t->magic == SCOPE_MAGIC ? t->state : SCOPE_UNUSED;
}

static int expire(void *arg) {
  struct timeout_impl *t = arg;

  t->timer = NULL;
  t->state = SCOPE_EXPIRING;
  (void)corio_task_cancel(t->task, NULL);
  return 0;
}

static void disarm(struct timeout_impl *t) {
  if (t->timer)
    corio_handle_cancel(t->timer);
  t->timer = NULL;
}

static int64_t seconds_ns(double s) {
  if (s <= 0)
    return 0;
  return s > 9.0e9 ? INT64_MAX : (int64_t)(s * 1e9);
}

/* The new deadline replaces the old one only once it is armed: a failure
 * (-ENOMEM) changes nothing. */
static int arm(struct timeout_impl *t, double when) {
  corio_loop *loop = t->task->fut.ls->loop;
  corio_handle *timer = NULL;
  int rc = 0;

  if (isinf(when) && when > 0) {
    /* no deadline */
  } else if (seconds_ns(when) <= corio_loop_time_ns(loop)) {
    rc = corio__loop_call_soon_borrowed(loop, expire, t, &timer);
  } else {
    rc =
        corio__loop_call_at_borrowed(loop, seconds_ns(when), expire, t, &timer);
  }
  if (rc < 0)
    return rc;
  disarm(t);
  t->timer = timer;
  t->when = when;
  return 0;
}

/* The error for a scope that is not in the state an operation needs. */
static int state_error(int state) {
  switch (state) {
  case SCOPE_CREATED:
    return CORIO_ETIMEOUTNOTENTERED;
  case SCOPE_ENTERED:
    return CORIO_ETIMEOUTENTERED;
  case SCOPE_EXPIRING: /* its deadline has passed */
  case SCOPE_EXPIRED:
    return CORIO_ETIMEOUTEXPIRED;
  case SCOPE_EXITED:
    return CORIO_ETIMEOUTEXITED;
  default:
    return -EINVAL;
  }
}

int corio_timeout_init_at(corio_timeout *scope, double when) {
  if (!scope || isnan(when))
    return -EINVAL;
  *impl(scope) = (struct timeout_impl){
      .magic = SCOPE_MAGIC, .state = SCOPE_CREATED, .when = when};
  return 0;
}

int corio_timeout_init(corio_timeout *scope, double delay) {
  corio_loop *loop = corio_loop_current();

  if (!scope || isnan(delay))
    return -EINVAL;
  if (!loop)
    return CORIO_ENOLOOP;
  return corio_timeout_init_at(scope, corio_loop_time(loop) + delay);
}

int corio_timeout_start(corio_timeout *scope) {
  corio_task *self = corio__task_self();
  struct timeout_impl *t;
  int rc;

  if (!scope)
    return -EINVAL;
  if (state_of(scope) == SCOPE_EXPIRING) /* still entered */
    return CORIO_ETIMEOUTENTERED;
  if (state_of(scope) != SCOPE_CREATED)
    return state_error(state_of(scope));
  if (!self)
    return CORIO_ENOTASK;
  t = impl(scope);
  t->task = self;
  t->cancelling = corio_task_cancelling(self);
  rc = arm(t, t->when);
  if (rc == 0)
    t->state = SCOPE_ENTERED;
  return rc;
}

/* enter creates a new scope in the storage, as asyncio.timeout() makes a
 * new object: entering one scope twice is start's to refuse. In a task
 * the current loop is the task's, which init reads the time of. */
static int enter(corio_timeout *scope, double x,
                 int (*init)(corio_timeout *scope, double x)) {
  int rc;

  if (!scope || isnan(x))
    return -EINVAL;
  if (!corio__task_self())
    return CORIO_ENOTASK;
  rc = init(scope, x);
  return rc < 0 ? rc : corio_timeout_start(scope);
}

int corio_timeout_enter(corio_timeout *scope, double delay) {
  return enter(scope, delay, corio_timeout_init);
}

int corio_timeout_enter_at(corio_timeout *scope, double when) {
  return enter(scope, when, corio_timeout_init_at);
}

int corio_timeout_exit(corio_timeout *scope, int rc) {
  struct timeout_impl *t;
  int state;

  if (!scope)
    return rc;
  state = state_of(scope);
  if (state != SCOPE_ENTERED && state != SCOPE_EXPIRING)
    return rc;
  t = impl(scope);
  disarm(t);
  if (state == SCOPE_EXPIRING) {
    t->state = SCOPE_EXPIRED;
    if (corio_task_uncancel(t->task) <= t->cancelling && rc == -ECANCELED)
      rc = -ETIMEDOUT;
    return rc;
  }
  t->state = SCOPE_EXITED;
  return rc;
}

int corio_timeout_reschedule(corio_timeout *scope, double when) {
  if (!scope || isnan(when))
    return -EINVAL;
  if (state_of(scope) != SCOPE_ENTERED)
    return state_error(state_of(scope));
  return arm(impl(scope), when);
}

double corio_timeout_when(const corio_timeout *scope) {
  if (!scope || state_of(scope) == SCOPE_UNUSED)
    return CORIO_NO_TIMEOUT;
  return cimpl(scope)->when;
}

int corio_timeout_expired(const corio_timeout *scope) {
  int state = scope ? state_of(scope) : SCOPE_UNUSED;

  return state == SCOPE_EXPIRING || state == SCOPE_EXPIRED;
}
