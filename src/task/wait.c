/* How a task suspends and is woken: the one primitive under await, sleep
 * and (later) locks and queues, with cancellation delivered at the
 * suspension point. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "core/str.h"
#include "task/task_internal.h"

int corio__wait_suspend(corio__wait *w) {
  corio_task *t = w->task;
  corio_context *ctx;
  int rc, saved_errno;

  if (t->closing) {
    if (!w->woken && w->detach)
      w->detach(w);
    return CORIO_ECLOSED;
  }
  if (t->must_cancel && !w->woken && w->awaiting) {
    /* A request made while the task ran goes to what it now awaits
     * (asyncio's __step), and the task waits for that outcome; unless it
     * could not be passed on, or came back round a cycle. */
    t->must_cancel = 0;
    if (!corio__task_pass_cancel(t, w->awaiting))
      t->must_cancel = 1;
  }
  if (t->must_cancel && !w->woken) {
    /* A pending request is delivered here, after one loop iteration as in
     * asyncio, and the wait is never entered. */
    if (w->detach)
      w->detach(w);
    w->woken = 1;
    w->value = -ECANCELED;
    corio__task_schedule(t);
  }
  t->wait = w;
  ctx = corio__current_ctx;
  /* errno is per thread, and so per task: the tasks that run meanwhile
   * must not change the one this task sees (blocking code under the hook
   * layer reads it after every call). */
  saved_errno = errno;
  rc = corio_coro_yield(NULL, NULL);
  errno = saved_errno;
  /* The step entered the task's context; the body may have been inside
   * corio_context_run of another. */
  corio__current_ctx = ctx;
  t->wait = NULL;
  return rc < 0 ? rc : t->wake_value;
}

corio_task *corio__wait_self(void) { return corio__task_self(); }

void corio__wait_no_detach(corio__wait *w) { (void)w; }

void corio__wait_wake(corio__wait *w, int value, int now) {
  if (w->woken)
    return;
  w->woken = 1;
  w->value = value;
  /* Stepping at once saves a trip through the ready queue, but only a
   * loop callback may do it: a task cannot resume another from inside. */
  if (now && !corio__current_task)
    corio__task_step(w->task);
  else
    corio__task_schedule(w->task);
}

/* ---- await --------------------------------------------------------------- */

static void await_done(corio_future *fut, void *arg) {
  (void)fut;
  corio__wait_wake(arg, 0, 1);
}

static void await_detach(corio__wait *w) {
  (void)corio__future_remove_callback(w->data, await_done, w);
}

/* An error read from fut by awaiting it becomes the awaiting task's, with
 * its message, as an exception propagates: `return corio_await(...)`
 * fails the task with the same message. */
static corio__noinline void pass_error_message(corio_future *fut, int rc,
                                               corio_task *self) {
  if (rc != -ECANCELED && fut->state == FUTURE_FINISHED && fut->error == rc &&
      fut->message)
    corio__task_set_fail(self, rc, corio__strdup(fut->message));
}

static inline void pass_message(corio_future *fut, int rc, corio_task *self) {
  if (corio__unlikely(rc < 0))
    pass_error_message(fut, rc, self);
}

static int outcome_release(corio_future *fut, int wait_rc, void **result,
                           corio_task *self) {
  int rc = wait_rc < 0 ? wait_rc : corio_future_result(fut, result);

  if (wait_rc >= 0)
    pass_message(fut, rc, self);
  corio__future_release(fut);
  return rc;
}

/* Awaits fut; with pass_cancel, cancelling the task cancels fut too. */
static int await_future(corio_future *fut, void **result, int pass_cancel) {
  corio_task *self = corio__current_task;
  int rc;

  if (!fut)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  if (fut->ls != self->fut.ls)
    return CORIO_EWRONGLOOP;
  if (fut == &self->fut)
    return -EDEADLK;
  if (fut->state == FUTURE_PENDING) {
    /* Suspending needs the task's own coroutine (see corio__task_self). */
    if (!corio__task_self())
      return CORIO_ENOTASK;
    corio__wait w = {.detach = await_detach,
                     .task = self,
                     .data = fut,
                     .awaiting = pass_cancel ? fut : NULL,
                     .kind = &corio__wait_kind_future,
                     .object = fut};

    rc = corio__future_add_callback(fut, await_done, &w);
    if (rc < 0)
      return rc;
    corio__future_retain(fut); /* the wait holds it */
    rc = outcome_release(fut, corio__wait_suspend(&w), result, self);
  } else {
    rc = corio_future_result(fut, result);
    pass_message(fut, rc, self);
  }
  return rc;
}

int corio_future_await(corio_future *fut, void **result) {
  return await_future(fut, result, 1);
}

/* Waits for f to finish; the caller's cancellation is not passed on (f is
 * being cancelled already). */
int corio__wait_drain(corio_future *f) {
  int cancelled = 0;

  while (!corio_future_done(f)) {
    int rc = await_future(f, NULL, 0);

    if (corio_future_done(f)) {
      /* f's outcome, unless f was not cancelled: then the -ECANCELED is
       * the caller's, delivered as f finished. */
      if (rc == -ECANCELED && !corio_future_cancelled(f))
        cancelled = 1;
      break;
    }
    if (rc == -ECANCELED) {
      cancelled = 1;
      continue;
    }
    if (rc != CORIO_ECLOSED)
      rc = corio_sleep(0); /* could not register: poll instead */
    if (rc == CORIO_ECLOSED)
      return rc;
    if (rc == -ECANCELED)
      cancelled = 1;
  }
  return cancelled ? -ECANCELED : 0;
}

int corio_task_await(corio_task *task, void **result) {
  return corio_future_await(task ? &task->fut : NULL, result);
}

/* ---- sleep --------------------------------------------------------------- */

/* As in asyncio, the sleeper resumes in the iteration after its timer
 * (behind the other callbacks that expired with it). */
static int sleep_done(void *arg) {
  corio__wait_wake(arg, 0, 0);
  return 0;
}

static void sleep_detach(corio__wait *w) { corio_handle_cancel(w->data); }

/* The object is the timer. */
void corio__wait_append_time_left(const corio_handle *timer, char *buf,
                                  size_t len, size_t *used) {
  int64_t left = corio_handle_when_ns(timer) - corio_loop_time_ns(NULL);

  corio__appendf(buf, len, used, "%.3f s left",
                 left > 0 ? (double)left / 1e9 : 0.0);
}

static void describe_sleep(const void *object, char *buf, size_t len) {
  size_t used = 0;

  if (len > 0)
    buf[0] = 0;
  corio__wait_append_time_left(object, buf, len, &used);
}

static const corio__wait_kind sleep_kind = {.name = "sleep",
                                            .describe = describe_sleep};

/* sleep(0): one iteration, the next step queued behind what is ready.
 * Woken from the start, so a dump never asks what it waits on: it says
 * no kind (the hot path of hand-offs saves the store). */
static int yield_one_iteration(corio_task *self) {
  corio__wait w = {.task = self, .woken = 1};

  corio__task_schedule(self);
  return corio__wait_suspend(&w);
}

int corio_sleep_ns(int64_t ns) {
  corio_task *self = corio__task_self();
  corio__wait w = {.task = self, .kind = &sleep_kind};
  corio_loop *loop;
  int64_t now;
  int rc;

  if (!self)
    return CORIO_ENOTASK;
  if (ns <= 0) /* asyncio: a negative delay is sleep(0) */
    return yield_one_iteration(self);
  loop = self->fut.ls->loop;
  now = corio_loop_time_ns(loop);
  rc = corio__loop_call_at_borrowed(loop,
                                    ns > INT64_MAX - now ? INT64_MAX : now + ns,
                                    sleep_done, &w, (corio_handle **)&w.data);
  if (rc < 0)
    return rc;
  w.detach = sleep_detach;
  w.object = w.data;
  return corio__wait_suspend(&w);
}

int corio_sleep(double seconds) {
  if (seconds <= 0) {
    corio_task *self = corio__task_self();
    return self ? yield_one_iteration(self) : CORIO_ENOTASK;
  }
  if (isnan(seconds))
    return corio__task_self() ? -EINVAL : CORIO_ENOTASK;
  if (seconds > 9.0e9)
    seconds = 9.0e9;
  return corio_sleep_ns((int64_t)(seconds * 1e9));
}
