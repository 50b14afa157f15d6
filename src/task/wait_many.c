/* wait and as_completed: waiting on several futures without owning them.
 * Neither cancels anything; their done callbacks are withdrawn when they
 * stop waiting. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"
#include "corio/combine.h"
#include "task/task_internal.h"

/* A deadline on the loop clock for timeout seconds from now (-1: none;
 * now for zero or less: expired, the timer fires in the next iteration). */
static int deadline_ns(corio_loop *loop, double timeout, int64_t *when) {
  int64_t now, delay;

  if (isnan(timeout))
    return -EINVAL;
  if (isinf(timeout) && timeout > 0) {
    *when = -1;
    return 0;
  }
  now = corio_loop_time_ns(loop);
  delay = timeout <= 0      ? 0
          : timeout > 9.0e9 ? INT64_MAX
                            : (int64_t)(timeout * 1e9);
  *when = delay > INT64_MAX - now ? INT64_MAX : now + delay;
  return 0;
}

static int check_set(corio_future *const *fs, size_t n, corio_task *self) {
  if (!fs || n == 0)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  for (size_t i = 0; i < n; i++) {
    if (!fs[i])
      return -EINVAL;
    if (fs[i]->ls != self->fut.ls)
      return CORIO_EWRONGLOOP;
    if (fs[i] == &self->fut)
      return -EDEADLK; /* it would wait for itself */
  }
  return 0;
}

/* ---- wait ---------------------------------------------------------------- */

struct many_waiter {
  corio__wait w;
  corio_wait_when when;
  size_t left;   /* futures not done */
  int exception; /* one finished with an error */
  int timer_fired;
};

static int satisfied(const struct many_waiter *m, size_t n) {
  switch (m->when) {
  case CORIO_FIRST_COMPLETED:
    return m->left < n;
  case CORIO_FIRST_EXCEPTION:
    return m->exception || m->left == 0;
  default:
    return m->left == 0;
  }
}

struct wait_call {
  struct many_waiter m;
  size_t n;
  corio_future *const *fs;
  corio_handle *timer; /* armed, if there is a timeout */
};

static const char *when_name(corio_wait_when when) {
  switch (when) {
  case CORIO_FIRST_COMPLETED:
    return "first completed";
  case CORIO_FIRST_EXCEPTION:
    return "first exception";
  default:
    return "all completed";
  }
}

static void describe_wait(const void *object, char *buf, size_t len) {
  const struct wait_call *c = object;
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = 0;
  corio__appendf(buf, len, &used, "%zu futures, %zu done, until %s", c->n,
                 c->n - c->m.left, when_name(c->m.when));
  if (c->timer) {
    corio__appendf(buf, len, &used, ", ");
    corio__wait_append_time_left(c->timer, buf, len, &used);
  }
}

static void each_waited(const void *object, corio__future_visit visit,
                        void *arg) {
  const struct wait_call *c = object;

  for (size_t i = 0; i < c->n; i++)
    if (!corio_future_done(c->fs[i]))
      visit(c->fs[i], arg);
}

static const corio__wait_kind wait_kind = {
    .name = "wait", .describe = describe_wait, .each_awaited = each_waited};

static void note_done(struct many_waiter *m, const corio_future *f) {
  m->left--;
  if (f->state == FUTURE_FINISHED && f->error != 0)
    m->exception = 1;
}

static void wait_done(corio_future *f, void *arg) {
  struct wait_call *c = arg;

  note_done(&c->m, f);
  if (satisfied(&c->m, c->n))
    corio__wait_wake(&c->m.w, 0, 1);
}

static int wait_timer(void *arg) {
  struct many_waiter *m = arg;

  m->timer_fired = 1;
  corio__wait_wake(&m->w, 0, 1);
  return 0;
}

int corio_wait(corio_future *const *fs, size_t n, double timeout,
               corio_wait_when when, corio_future **done, size_t *n_done,
               corio_future **pending, size_t *n_pending) {
  corio_task *self = corio__task_self();
  struct wait_call c = {.n = n, .fs = fs};
  size_t registered = 0, nd = 0, np = 0;
  int held = 0;
  int64_t deadline;
  int rc = check_set(fs, n, self);

  if (rc < 0)
    return rc;
  if (when != CORIO_FIRST_COMPLETED && when != CORIO_FIRST_EXCEPTION &&
      when != CORIO_ALL_COMPLETED)
    return -EINVAL;
  rc = deadline_ns(self->fut.ls->loop, timeout, &deadline);
  if (rc < 0)
    return rc;
  c.m.w = (corio__wait){.detach = corio__wait_no_detach,
                        .task = self,
                        .kind = &wait_kind,
                        .object = &c};
  c.m.when = when;
  c.m.left = n;
  for (size_t i = 0; i < n; i++) {
    if (fs[i]->state != FUTURE_PENDING) {
      note_done(&c.m, fs[i]);
      fs[i]->outcome_seen = 1; /* handed back in `done` */
    }
  }
  if (!satisfied(&c.m, n)) {
    /* Held while waiting: another task may drop its references. */
    for (size_t i = 0; i < n; i++)
      corio__future_retain(fs[i]);
    for (; registered < n && rc == 0; registered++)
      if (fs[registered]->state == FUTURE_PENDING)
        rc = corio__future_add_callback(fs[registered], wait_done, &c);
    if (rc == 0 && deadline >= 0)
      rc = corio__loop_call_at_borrowed(self->fut.ls->loop, deadline,
                                        wait_timer, &c.m, &c.timer);
    if (rc == 0)
      rc = corio__wait_suspend(&c.m.w);
    for (size_t i = 0; i < registered; i++)
      (void)corio__future_remove_callback(fs[i], wait_done, &c);
    if (c.timer && !c.m.timer_fired)
      corio_handle_cancel(c.timer);
    held = 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (fs[i]->state != FUTURE_PENDING) {
      if (done)
        done[nd] = fs[i];
      nd++;
    } else {
      if (pending)
        pending[np] = fs[i];
      np++;
    }
  }
  if (n_done)
    *n_done = nd;
  if (n_pending)
    *n_pending = np;
  if (held)
    for (size_t i = 0; i < n; i++)
      corio__future_release(fs[i]);
  return rc;
}

/* ---- as_completed -------------------------------------------------------- */

struct corio_as_completed {
  task_loop_state *ls;
  size_t n;
  corio_future **fs;       /* references */
  corio_future **finished; /* in completion order */
  size_t finished_len, returned;
  corio__wait *waiting; /* the task inside next, if any */
  corio_handle *timer;  /* armed and not fired */
  int timed_out;
};

static void describe_as_completed(const void *object, char *buf, size_t len) {
  const corio_as_completed *it = object;

  snprintf(buf, len, "%zu futures, %zu done, %zu returned", it->n,
           it->finished_len, it->returned);
}

static void each_not_finished(const void *object, corio__future_visit visit,
                              void *arg) {
  const corio_as_completed *it = object;

  for (size_t i = 0; i < it->n; i++)
    if (!corio_future_done(it->fs[i]))
      visit(it->fs[i], arg);
}

static const corio__wait_kind as_completed_kind = {
    .name = "as_completed",
    .describe = describe_as_completed,
    .each_awaited = each_not_finished};

static size_t as_completed_bytes(size_t n) {
  return sizeof(corio_as_completed) + 2 * n * sizeof(corio_future *);
}

static void wake_next(corio_as_completed *it) {
  if (it->waiting)
    corio__wait_wake(it->waiting, 0, 1);
}

static void completed(corio_future *f, void *arg) {
  corio_as_completed *it = arg;

  it->finished[it->finished_len++] = f;
  wake_next(it);
}

static int as_completed_timer(void *arg) {
  corio_as_completed *it = arg;

  it->timer = NULL;
  it->timed_out = 1;
  wake_next(it);
  return 0;
}

int corio_as_completed_start(corio_as_completed **out, corio_future *const *fs,
                             size_t n, double timeout) {
  corio_task *self = corio__task_self();
  corio_as_completed *it;
  int64_t deadline;
  int rc = check_set(fs, n, self);

  if (rc == 0 && !out)
    rc = -EINVAL;
  if (rc == 0)
    rc = deadline_ns(self->fut.ls->loop, timeout, &deadline);
  if (rc < 0)
    return rc;
  it = corio__calloc(as_completed_bytes(n));
  if (!it)
    return -ENOMEM;
  it->ls = self->fut.ls;
  it->n = n;
  it->fs = (corio_future **)(void *)(it + 1);
  it->finished = it->fs + n;
  for (size_t i = 0; i < n; i++)
    it->fs[i] = corio_future_ref(fs[i]);
  /* Done already: first, in argument order. */
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (fs[i]->state != FUTURE_PENDING) {
      it->finished[it->finished_len++] = fs[i];
      fs[i]->outcome_seen = 1; /* handed back by next */
    } else
      rc = corio__future_add_callback(fs[i], completed, it);
  }
  if (rc == 0 && deadline >= 0)
    rc = corio__loop_call_at_borrowed(it->ls->loop, deadline,
                                      as_completed_timer, it, &it->timer);
  if (rc < 0) {
    corio_as_completed_free(it);
    return rc;
  }
  *out = it;
  return 0;
}

int corio_as_completed_next(corio_as_completed *it, corio_future **next) {
  if (!it || !next)
    return -EINVAL;
  for (;;) {
    corio__wait w;
    int rc;

    if (it->returned < it->finished_len) {
      *next = it->finished[it->returned++];
      return 0;
    }
    if (it->returned == it->n)
      return CORIO_AS_COMPLETED_END;
    if (it->timed_out)
      return -ETIMEDOUT;
    w = (corio__wait){.detach = corio__wait_no_detach,
                      .task = corio__task_self(),
                      .kind = &as_completed_kind,
                      .object = it};
    if (!w.task || w.task->fut.ls != it->ls)
      return w.task ? CORIO_EWRONGLOOP : CORIO_ENOTASK;
    it->waiting = &w;
    rc = corio__wait_suspend(&w);
    it->waiting = NULL;
    if (rc < 0)
      return rc;
  }
}

void corio_as_completed_free(corio_as_completed *it) {
  if (!it)
    return;
  if (it->timer)
    corio_handle_cancel(it->timer);
  for (size_t i = 0; i < it->n; i++) {
    if (!it->fs[i])
      continue;
    (void)corio__future_remove_callback(it->fs[i], completed, it);
    corio_future_unref(it->fs[i]);
  }
  corio__free(it, as_completed_bytes(it->n));
}
