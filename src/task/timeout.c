/* Timeout scopes, as asyncio.Timeout: the deadline cancels the task, and
 * the scope's exit turns the cancellation it caused, and only that one,
 * into -ETIMEDOUT (uncancel counts tell them apart when scopes nest). */
#include <errno.h>
#include <math.h>

#include "corio/combine.h"
#include "task/task_internal.h"

enum scope_state { SCOPE_OUT, SCOPE_ENTERED, SCOPE_EXPIRING, SCOPE_EXPIRED };

struct __attribute__((may_alias)) timeout_impl {
  corio_task *task;
  corio_handle *timer; /* armed and not fired */
  int64_t when;        /* loop clock, ns; -1: none */
  int cancelling;      /* the task's cancelling() when entered */
  int state;           /* enum scope_state */
};

_Static_assert(sizeof(struct timeout_impl) <= sizeof(corio_timeout),
               "corio_timeout storage too small");

static struct timeout_impl *impl(corio_timeout *s) {
  return (struct timeout_impl *)(void *)s;
}

static const struct timeout_impl *cimpl(const corio_timeout *s) {
  return (const struct timeout_impl *)(const void *)s;
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

static int arm(struct timeout_impl *t, int64_t when) {
  disarm(t);
  t->when = when;
  if (when < 0)
    return 0;
  return corio__loop_call_at_borrowed(t->task->fut.ls->loop, when, expire, t,
                                      &t->timer);
}

static int seconds_ns(double s, int64_t *ns) {
  if (isnan(s))
    return -EINVAL;
  if (s < 0) {
    *ns = -1;
    return 0;
  }
  *ns = s > 9.0e9 ? INT64_MAX : (int64_t)(s * 1e9);
  return 0;
}

static int enter_at_ns(corio_timeout *scope, int64_t when) {
  corio_task *self = corio__task_self();
  struct timeout_impl *t;
  int rc;

  if (!scope)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  t = impl(scope);
  *t = (struct timeout_impl){.task = self,
                             .when = -1,
                             .cancelling = corio_task_cancelling(self),
                             .state = SCOPE_ENTERED};
  rc = arm(t, when);
  if (rc < 0)
    t->state = SCOPE_OUT;
  return rc;
}

int corio_timeout_enter(corio_timeout *scope, double delay) {
  corio_task *self = corio__task_self();
  int64_t ns, now;
  int rc = seconds_ns(delay, &ns);

  if (rc < 0)
    return rc;
  if (!self)
    return scope ? CORIO_ENOTASK : -EINVAL;
  if (ns >= 0) {
    now = corio_loop_time_ns(self->fut.ls->loop);
    ns = ns > INT64_MAX - now ? INT64_MAX : now + ns;
  }
  return enter_at_ns(scope, ns);
}

int corio_timeout_enter_at(corio_timeout *scope, double when) {
  int64_t ns;
  int rc = seconds_ns(when, &ns);

  return rc < 0 ? rc : enter_at_ns(scope, ns);
}

int corio_timeout_exit(corio_timeout *scope, int rc) {
  struct timeout_impl *t;

  if (!scope || impl(scope)->state == SCOPE_OUT)
    return rc;
  t = impl(scope);
  disarm(t);
  if (t->state == SCOPE_EXPIRING) {
    t->state = SCOPE_EXPIRED;
    if (corio_task_uncancel(t->task) <= t->cancelling && rc == -ECANCELED)
      rc = -ETIMEDOUT;
    return rc;
  }
  t->state = SCOPE_OUT;
  return rc;
}

int corio_timeout_reschedule(corio_timeout *scope, double when) {
  int64_t ns;
  int rc;

  if (!scope)
    return -EINVAL;
  if (impl(scope)->state != SCOPE_ENTERED)
    return CORIO_EINVALSTATE;
  rc = seconds_ns(when, &ns);
  return rc < 0 ? rc : arm(impl(scope), ns);
}

double corio_timeout_when(const corio_timeout *scope) {
  if (!scope || cimpl(scope)->when < 0)
    return CORIO_NO_TIMEOUT;
  return (double)cimpl(scope)->when / 1e9;
}

int corio_timeout_expired(const corio_timeout *scope) {
  return scope && (cimpl(scope)->state == SCOPE_EXPIRING ||
                   cimpl(scope)->state == SCOPE_EXPIRED);
}
