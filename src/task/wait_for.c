/* wait_for and shield. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/str.h"
#include "corio/combine.h"
#include "task/task_internal.h"

/* f was cancelled because time ran out: -ETIMEDOUT, unless f ignored the
 * cancellation and finished anyway, or the caller was cancelled (or the
 * loop closed) while waiting for f to finish. */
static int timed_out(corio_future *f, void **result) {
  int rc;

  (void)corio_future_cancel(f, NULL);
  rc = corio__wait_drain(f);
  if (rc < 0)
    return rc;
  if (corio_future_cancelled(f))
    return -ETIMEDOUT;
  return corio_future_result(f, result);
}

/* The caller was cancelled while f ran: f is cancelled too and waited
 * for, and its outcome is the answer, as when awaiting f directly
 * (-ECANCELED, or the result of an f that declined). */
static int caller_cancelled(corio_task *self, corio_future *f, void **result) {
  (void)corio_future_cancel(f, self->cancel_message);
  if (corio__wait_drain(f) == CORIO_ECLOSED)
    return CORIO_ECLOSED;
  return corio_future_result(f, result);
}

struct bounded_wait {
  corio__wait w;
  int timer_fired;
  corio_future *inner;
  corio_handle *timer;
};

static void describe_bounded(const void *object, char *buf, size_t len) {
  const struct bounded_wait *b = object;
  size_t used = 0;

  if (len == 0)
    return;
  buf[0] = 0;
  corio__wait_append_time_left(b->timer, buf, len, &used);
  if (b->inner->ops->detail) {
    corio__appendf(buf, len, &used, " for ");
    if (used + 1 < len)
      b->inner->ops->detail(b->inner, buf + used, len - used);
  }
}

static void visit_inner(const void *object, corio__future_visit visit,
                        void *arg) {
  visit(((const struct bounded_wait *)object)->inner, arg);
}

static const corio__wait_kind wait_for_kind = {.name = "wait_for",
                                               .describe = describe_bounded,
                                               .each_awaited = visit_inner};

static void inner_done(corio_future *f, void *arg) {
  (void)f;
  corio__wait_wake(arg, 0, 1);
}

static int deadline_passed(void *arg) {
  struct bounded_wait *b = arg;

  b->timer_fired = 1;
  corio__wait_wake(&b->w, -ETIMEDOUT, 1);
  return 0;
}

int corio_wait_for(corio_future *f, double timeout, void **result) {
  corio_task *self = corio__task_self();
  struct bounded_wait b;
  corio_loop *loop;
  int64_t delay;
  int rc;

  if (!f || isnan(timeout))
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  if (f->ls != self->fut.ls)
    return CORIO_EWRONGLOOP;
  if (f == &self->fut)
    return -EDEADLK;
  if (isinf(timeout) && timeout > 0) {
    rc = corio_future_await(f, result);
    if (rc == -ECANCELED && !corio_future_done(f)) {
      (void)corio_future_cancel(f, NULL);
      if (corio__wait_drain(f) == CORIO_ECLOSED)
        rc = CORIO_ECLOSED;
    }
    return rc;
  }
  if (corio_future_done(f))
    return corio_future_result(f, result);
  if (timeout <= 0) /* expired already: a task not started never runs */
    return timed_out(f, result);
  loop = self->fut.ls->loop;
  delay = timeout > 9.0e9 ? INT64_MAX / 2 : (int64_t)(timeout * 1e9);
  b.w = (corio__wait){.detach = corio__wait_no_detach,
                      .task = self,
                      .kind = &wait_for_kind,
                      .object = &b};
  b.timer_fired = 0;
  b.inner = f;
  rc = corio__future_add_callback(f, inner_done, &b.w);
  if (rc < 0)
    return rc;
  rc = corio__loop_call_at_borrowed(loop, corio_loop_time_ns(loop) + delay,
                                    deadline_passed, &b, &b.timer);
  if (rc < 0) {
    (void)corio__future_remove_callback(f, inner_done, &b.w);
    return rc;
  }
  corio__future_retain(f);
  rc = corio__wait_suspend(&b.w);
  (void)corio__future_remove_callback(f, inner_done, &b.w);
  if (!b.timer_fired)
    corio_handle_cancel(b.timer);
  if (rc == -ETIMEDOUT)
    rc = timed_out(f, result);
  else if (rc == 0)
    rc = corio_future_result(f, result);
  else if (rc == -ECANCELED && !corio_future_done(f))
    rc = caller_cancelled(self, f, result);
  corio_future_unref(f);
  return rc;
}

/* ---- shield -------------------------------------------------------------- */

/* The outer future holds the inner one; the inner one's callback holds
 * nothing, and the outer one withdraws it when freed, so neither can keep
 * the other (or their loop) alive. */
typedef struct shield_future {
  corio_future fut; /* first: the shield is a future */
  corio_future *inner;
} shield_future;

/* inner is done: outer gets the same outcome, unless it was cancelled.
 * The error goes on in outer: whoever reads it there has read it. */
static void mirror(corio_future *inner, void *arg) {
  corio_future *outer = arg;

  if (corio_future_done(outer))
    return;
  if (corio_future_cancelled(inner)) {
    corio__future_complete(outer, FUTURE_CANCELLED, NULL, -ECANCELED,
                           corio__strdup(inner->message));
    return;
  }
  corio__future_complete(outer, FUTURE_FINISHED, inner->result, inner->error,
                         corio__strdup(inner->message));
  inner->error_unretrieved = 0;
}

static void shield_free(corio_future *outer) {
  shield_future *s = (shield_future *)(void *)outer;

  (void)corio__future_remove_callback(s->inner, mirror, outer);
  corio_future_unref(s->inner);
  corio__future_free_block(outer, sizeof *s);
}

static void shield_detail(corio_future *outer, char *buf, size_t len) {
  corio_future *inner = ((shield_future *)(void *)outer)->inner;

  if (inner->ops->detail)
    inner->ops->detail(inner, buf, len);
  else
    snprintf(buf, len, "a %s",
             inner->ops->wait_name ? inner->ops->wait_name : "future");
}

static void shield_each_child(corio_future *outer, corio__future_visit visit,
                              void *arg) {
  visit(((shield_future *)(void *)outer)->inner, arg);
}

static const corio__future_ops shield_ops = {.type_name = "Future",
                                             .free = shield_free,
                                             .wait_name = "shield",
                                             .detail = shield_detail,
                                             .each_child = shield_each_child};

int corio_shield(corio_future *inner, corio_future **outer) {
  corio_future *fut;
  shield_future *s;
  int rc;

  if (!inner || !outer)
    return -EINVAL;
  if (corio_future_done(inner)) {
    /* asyncio: nothing to shield, the future itself. */
    *outer = corio_future_ref(inner);
    return 0;
  }
  rc = corio__future_create(inner->ls->loop, &shield_ops, sizeof *s, &fut);
  if (rc < 0)
    return rc;
  s = (shield_future *)(void *)fut;
  s->inner = corio_future_ref(inner);
  rc = corio__future_add_callback(inner, mirror, &s->fut);
  if (rc < 0) {
    corio_future_unref(&s->fut);
    return rc;
  }
  *outer = &s->fut;
  return 0;
}
