/* wait_for and shield. */
#include <errno.h>
#include <math.h>

#include "corio/combine.h"
#include "task/task_internal.h"

/* After cancelling f: waits until it has really finished (the caller's
 * own cancellations meanwhile change nothing). */
static void drain(corio_future *f) {
  while (!corio_future_done(f))
    if (corio_future_await(f, NULL) == CORIO_ECLOSED)
      return;
}

/* f was cancelled because time ran out: -ETIMEDOUT, unless f ignored the
 * cancellation and finished anyway. */
static int timed_out(corio_future *f, void **result) {
  (void)corio_future_cancel(f, NULL);
  drain(f);
  if (corio_future_cancelled(f))
    return -ETIMEDOUT;
  return corio_future_result(f, result);
}

struct bounded_wait {
  corio__wait w;
  int timer_fired;
};

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
  corio_handle *timer;
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
  if (timeout < 0) {
    rc = corio_future_await(f, result);
    if (rc == -ECANCELED && !corio_future_done(f)) {
      (void)corio_future_cancel(f, NULL);
      drain(f);
    }
    return rc;
  }
  if (corio_future_done(f))
    return corio_future_result(f, result);
  if (timeout == 0)
    return timed_out(f, result);
  loop = self->fut.ls->loop;
  delay = timeout > 9.0e9 ? INT64_MAX / 2 : (int64_t)(timeout * 1e9);
  b.w = (corio__wait){.detach = corio__wait_no_detach, .task = self};
  b.timer_fired = 0;
  rc = corio__future_add_callback(f, inner_done, &b.w);
  if (rc < 0)
    return rc;
  rc = corio__loop_call_at_borrowed(loop, corio_loop_time_ns(loop) + delay,
                                    deadline_passed, &b, &timer);
  if (rc < 0) {
    (void)corio__future_remove_callback(f, inner_done, &b.w);
    return rc;
  }
  corio__future_retain(f);
  rc = corio__wait_suspend(&b.w);
  (void)corio__future_remove_callback(f, inner_done, &b.w);
  if (!b.timer_fired)
    corio_handle_cancel(timer);
  if (rc == -ETIMEDOUT)
    rc = timed_out(f, result);
  else if (rc == 0)
    rc = corio_future_result(f, result);
  else if (rc == -ECANCELED && !corio_future_done(f)) {
    (void)corio_future_cancel(f, NULL); /* the caller was cancelled */
    drain(f);
  }
  corio_future_unref(f);
  return rc;
}

/* ---- shield -------------------------------------------------------------- */

/* inner is done: outer gets the same outcome, unless it was cancelled. */
static void mirror(corio_future *inner, void *arg) {
  corio_future *outer = arg;

  if (!corio_future_done(outer)) {
    if (corio_future_cancelled(inner))
      (void)corio_future_cancel(outer, corio_future_message(inner));
    else if (inner->error)
      (void)corio_future_set_error(
          outer, inner->error, inner->message ? "%s" : NULL, inner->message);
    else
      (void)corio_future_set_result(outer, inner->result);
  }
  /* The error goes on in outer: whoever reads it there has read it. */
  inner->error_unretrieved = 0;
  corio_future_unref(outer); /* the registration's */
}

int corio_shield(corio_future *inner, corio_future **outer) {
  corio_future *o;
  int rc;

  if (!inner || !outer)
    return -EINVAL;
  rc = corio_future_create(inner->ls->loop, &o);
  if (rc < 0)
    return rc;
  if (corio_future_done(inner)) {
    corio_future_ref(o);
    mirror(inner, o);
  } else {
    rc = corio__future_add_callback(inner, mirror, o);
    if (rc < 0) {
      corio_future_unref(o);
      return rc;
    }
    corio_future_ref(o);
  }
  *outer = o;
  return 0;
}
