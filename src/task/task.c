/* Tasks: creation, steps on their own coroutine, completion, cancellation
 * requests (asyncio 3.11's counts), names, and closing with the loop. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "loop/ext.h"
#include "task/task_internal.h"

corio__thread_local corio_task *corio__current_task;
corio__thread_local corio__fail_sink *corio__fail_sink_current;
static atomic_uint_fast64_t last_id_block;
static corio__thread_local uint64_t next_id, id_block_end;

/* Task-N numbers: unique in the process, in creation order on each thread
 * (threads take them in blocks, so spawning needs no atomic operation). */
static uint64_t next_task_id(void) {
  if (corio__unlikely(next_id == id_block_end)) {
    uint64_t block = (uint64_t)atomic_fetch_add(&last_id_block, 1);
    next_id = block * 1024 + 1;
    id_block_end = next_id + 1024;
  }
  return next_id++;
}

corio_task *corio_current_task(void) { return corio__current_task; }

/* ---- the pending list ---------------------------------------------------- */

static void link_pending(task_loop_state *ls, corio_task *t) {
  t->pending_prev = ls->pending_tail;
  t->pending_next = NULL;
  if (ls->pending_tail)
    ls->pending_tail->pending_next = t;
  else
    ls->pending = t;
  ls->pending_tail = t;
  ls->pending_count++;
}

static void unlink_pending(task_loop_state *ls, corio_task *t) {
  if (t->pending_prev)
    t->pending_prev->pending_next = t->pending_next;
  else
    ls->pending = t->pending_next;
  if (t->pending_next)
    t->pending_next->pending_prev = t->pending_prev;
  else
    ls->pending_tail = t->pending_prev;
  t->pending_prev = t->pending_next = NULL;
  ls->pending_count--;
}

/* ---- completion ---------------------------------------------------------- */

/* The task is done: it leaves the pending list, its callbacks are queued,
 * and the reference it held on itself while pending goes. */
static void finish(corio_task *t, enum future_state state, void *result,
                   int error, char *message) {
  unlink_pending(t->fut.ls, t);
  corio__future_complete(&t->fut, state, result, error, message);
  corio__future_release(&t->fut);
}

static void finish_cancelled(corio_task *t) {
  finish(t, FUTURE_CANCELLED, NULL, -ECANCELED,
         corio__strdup(t->cancel_message));
}

/* The body returned: its code decides the outcome (see corio_task_fn). */
static void finish_body(corio_task *t) {
  int rc = t->body_rc;
  char *fail_message = t->fut.message; /* from corio_fail, while pending */

  t->fut.message = NULL;
  if (rc == 0 && !t->must_cancel) {
    corio__strfree(fail_message);
    finish(t, FUTURE_FINISHED, t->fut.result, 0, NULL);
  } else if (rc == 0 || rc == -ECANCELED) {
    /* asyncio: a task cancelled right before its body returns is
     * cancelled all the same. */
    corio__strfree(fail_message);
    finish_cancelled(t);
  } else if (rc > 0) {
    corio__strfree(fail_message);
    finish(t, FUTURE_FINISHED, NULL, -EINVAL,
           corio__format("task function returned %d: return 0 or a negative "
                         "code",
                         rc));
  } else {
    if (t->fail_code != rc) {
      corio__strfree(fail_message);
      fail_message = NULL;
    }
    finish(t, FUTURE_FINISHED, NULL, rc, fail_message);
  }
}

/* ---- steps --------------------------------------------------------------- */

static int task_step_cb(void *arg);

/* A pending task holds itself, so its queued step needs no reference of
 * its own (a done task's queued callbacks do: see future.c). */
void corio__task_schedule(corio_task *t) {
  if (t->fut.queued || t->fut.ls->closing)
    return;
  t->fut.node.cb = task_step_cb;
  t->fut.queued = 1;
  corio__loop_push_ready(t->fut.ls->loop,
                         corio__ready_node_handle(&t->fut.node));
}

/* Runs the task's coroutine until it suspends or returns, as the current
 * task and in its context. */
static int resume_body(corio_task *t) {
  corio_task *prev_task = corio__current_task;
  corio_context *prev_ctx;
  void *out = NULL;
  int rc;

  corio__current_task = t;
  prev_ctx = corio__context_enter(t->ctx);
  rc = corio_coro_resume(t->coro, t, &out);
  corio__context_leave(t->ctx, prev_ctx);
  corio__current_task = prev_task;
  /* A worker yields corio__worker_done when the body has returned. */
  if (rc == 0 && out == corio__worker_done)
    return CORIO_CORO_RETURNED;
  return rc;
}

static inline __attribute__((always_inline)) void step(corio_task *t) {
  corio__wait *w = t->wait;
  int value = w ? w->value : 0;
  int rc;

  if (t->must_cancel) {
    t->must_cancel = 0;
    value = -ECANCELED;
  }
  if (!t->coro) {
    /* Cancelled before it started: the body never runs, no stack needed. */
    if (value == -ECANCELED) {
      finish_cancelled(t);
      return;
    }
    rc = corio__worker_take(t);
    if (rc < 0) {
      t->coro = NULL;
      finish(t, FUTURE_FINISHED, NULL, rc,
             corio__format("cannot allocate the task's stack"));
      return;
    }
  }
  t->wake_value = value;
  rc = resume_body(t);
  if (rc == 0)
    return; /* suspended */
  if (rc != CORIO_CORO_RETURNED) {
    /* The coroutine could not be resumed here (another thread): it stays
     * where it is and the task fails. */
    t->coro = NULL;
    finish(t, FUTURE_FINISHED, NULL, rc,
           corio__format("cannot resume the task's coroutine"));
    return;
  }
  corio__worker_give_back(t);
  finish_body(t);
}

void corio__task_step(corio_task *t) { step(t); }

int corio__task_is_step(corio_callback cb) { return cb == task_step_cb; }

/* The queued step; t may be freed by it. */
static int task_step_cb(void *arg) {
  corio_task *t = arg;

  t->fut.queued = 0;
  step(t);
  return 0;
}

/* ---- creation ------------------------------------------------------------ */

static int check_stack_size(size_t *size) {
  if (*size == 0)
    *size = CORIO_TASK_STACK_DEFAULT;
  if (*size < CORIO_CORO_STACK_MIN || *size > CORIO_CORO_STACK_MAX)
    return -EINVAL;
  return 0;
}

/* Inlined into each entry point, so that the public ones pay no extra call
 * for knowing where they were called from. */
static inline __attribute__((always_inline)) int
spawn_at(corio_task **out, corio_task_fn fn, void *arg,
         const corio_spawn_options *opts, const void *site) {
  static const corio_spawn_options defaults;
  task_loop_state *ls;
  corio_task *t;
  size_t stack_size;
  char *name = NULL;
  int rc;

  if (!opts)
    opts = &defaults;
  stack_size = opts->stack_size;
  if (!fn || check_stack_size(&stack_size) < 0)
    return -EINVAL;
  rc = corio__task_loop_state_for(opts->loop, &ls);
  if (rc < 0)
    return rc;
  if (opts->name && !(name = corio__strdup(opts->name)))
    return -ENOMEM;
  t = corio__pool_get(&ls->tasks);
  if (!t) {
    corio__strfree(name);
    return -ENOMEM;
  }
  memset(t, 0, sizeof *t);
  corio__future_init(&t->fut, ls, &corio__task_ops, task_step_cb);
  t->fn = fn;
  t->arg = arg;
  t->name = name;
  t->created_at = site;
  t->stack_size = (uint32_t)(stack_size > UINT32_MAX ? UINT32_MAX : stack_size);
  /* As in asyncio, only unnamed tasks take a number. */
  if (!name)
    t->id = next_task_id();
  if (opts->context) {
    t->ctx = corio_context_ref(opts->context);
  } else {
    corio__context_init_own(&t->own_ctx, corio__current_ctx);
    t->ctx = &t->own_ctx;
  }
  /* The task holds itself while pending; the caller's reference is
   * another. */
  link_pending(ls, t);
  if (out) {
    corio__future_retain(&t->fut);
    *out = t;
  } else {
    t->detached = 1; /* nobody can read it: never reported unread */
  }
  /* asyncio starts a task eagerly only on a running loop. */
  if (opts->eager && corio_loop_is_running(ls->loop))
    step(t);
  else
    corio__task_schedule(t);
  return 0;
}

int corio__spawn_at(corio_task **out, corio_task_fn fn, void *arg,
                    const corio_spawn_options *opts, const void *site) {
  return spawn_at(out, fn, arg, opts, site);
}

/* The creation site is the caller's. */
int corio_spawn_ex(corio_task **out, corio_task_fn fn, void *arg,
                   const corio_spawn_options *opts) {
  return spawn_at(out, fn, arg, opts, __builtin_return_address(0));
}

int corio_spawn(corio_task **out, corio_task_fn fn, void *arg) {
  return spawn_at(out, fn, arg, NULL, __builtin_return_address(0));
}

static void task_free(corio_future *fut) {
  corio_task *t = (corio_task *)fut;

  /* A result nobody read, from a task somebody could have awaited. */
  if (corio__unlikely(!fut->outcome_seen) && !t->detached &&
      fut->state == FUTURE_FINISHED && fut->error == 0)
    corio__task_report_never_awaited(t);

  corio__strfree(t->name);
  corio__strfree(t->cancel_message);
  if (t->ctx == &t->own_ctx)
    corio__context_release_own(&t->own_ctx);
  else
    corio_context_unref(t->ctx);
  corio__pool_put(&t->fut.ls->tasks, t);
}

corio_task *corio_task_ref(corio_task *t) {
  if (t)
    corio__future_retain(&t->fut);
  return t;
}

void corio_task_unref(corio_task *t) {
  if (t)
    corio__future_release(&t->fut);
}

/* ---- cancellation -------------------------------------------------------- */

/* A task suspended awaiting a future passes the request on to it and goes
 * on waiting: it gets the future's outcome, which is a cancellation unless
 * the future (a task) declined it (asyncio's _fut_waiter.cancel()). */
int corio__task_pass_cancel(corio_task *t, corio_future *awaited) {
  int rc;

  t->passing_cancel = 1;
  /* t's own copy: the caller's msg may be a string the awaited task
   * frees. */
  rc = corio_future_cancel(awaited, t->cancel_message);
  t->passing_cancel = 0;
  return rc == 1;
}

/* Takes the suspended task out of what it waits in, woken with
 * -ECANCELED; or, running or about to run, delivers at its next step. */
static void wake_cancelled(corio_task *t) {
  corio__wait *w = t->wait;

  if (w && !w->woken && !t->closing) {
    if (w->detach)
      w->detach(w);
    w->woken = 1;
    w->value = -ECANCELED;
    corio__task_schedule(t);
    return;
  }
  t->must_cancel = 1;
}

static int task_cancel_op(corio_future *fut, const char *msg) {
  return corio_task_cancel((corio_task *)fut, msg);
}

static const char *task_describe(corio_future *fut) {
  return corio_task_name((corio_task *)fut);
}

static void task_detail(corio_future *fut, char *buf, size_t len) {
  snprintf(buf, len, "%s", corio_task_name((corio_task *)fut));
}

const corio__future_ops corio__task_ops = {.type_name = "Task",
                                           .free = task_free,
                                           .cancel = task_cancel_op,
                                           .describe = task_describe,
                                           .wait_name = "task",
                                           .detail = task_detail};

int corio_task_cancel(corio_task *t, const char *msg) {
  corio__wait *w;
  char *copy;

  if (!t)
    return -EINVAL;
  if (t->fut.state != FUTURE_PENDING)
    return 0;
  if (t->passing_cancel) {
    /* Tasks awaiting each other in a cycle: the request came round to
     * the task that passed it on. It is the same request (counted once);
     * this task takes it itself, so the cycle unwinds. */
    wake_cancelled(t);
    return 1;
  }
  copy = corio__strdup(msg); /* first: msg may be the message replaced */
  corio__strfree(t->cancel_message);
  t->cancel_message = copy; /* without it if out of memory */
  t->num_cancels++;
  w = t->wait;
  if (w && !w->woken && !t->closing && w->awaiting &&
      corio__task_pass_cancel(t, w->awaiting))
    return 1;
  wake_cancelled(t); /* the awaited future may have woken it meanwhile */
  return 1;
}

int corio_task_cancelling(const corio_task *t) {
  return t ? t->num_cancels : 0;
}

int corio_task_uncancel(corio_task *t) {
  if (!t)
    return 0;
  if (t->num_cancels > 0 && --t->num_cancels == 0)
    t->must_cancel = 0;
  return t->num_cancels;
}

const char *corio_task_cancel_message(const corio_task *t) {
  return t ? t->cancel_message : NULL;
}

/* ---- accessors ----------------------------------------------------------- */

corio_future *corio_task_future(corio_task *t) { return t ? &t->fut : NULL; }

corio_task *corio_future_task(corio_future *fut) {
  return fut && fut->ops == &corio__task_ops ? (corio_task *)fut : NULL;
}

int corio_task_done(const corio_task *t) {
  return t && corio_future_done(&t->fut);
}

int corio_task_cancelled(const corio_task *t) {
  return t && corio_future_cancelled(&t->fut);
}

int corio_task_result(corio_task *t, void **result) {
  return t ? corio_future_result(&t->fut, result) : -EINVAL;
}

int corio_task_error(corio_task *t) {
  return t ? corio_future_error(&t->fut) : -EINVAL;
}

const char *corio_task_message(const corio_task *t) {
  return t ? corio_future_message(&t->fut) : NULL;
}

const char *corio_task_name(corio_task *t) {
  if (!t)
    return NULL;
  if (!t->name)
    t->name = corio__format("Task-%llu", (unsigned long long)t->id);
  return t->name ? t->name : "Task-?";
}

int corio_task_set_name(corio_task *t, const char *name) {
  char *copy;

  if (!t || !name)
    return -EINVAL;
  copy = corio__strdup(name);
  if (!copy)
    return -ENOMEM;
  corio__strfree(t->name);
  t->name = copy;
  return 0;
}

corio_loop *corio_task_loop(const corio_task *t) {
  return t ? t->fut.ls->loop : NULL;
}

corio_context *corio_task_context(corio_task *t) { return t ? t->ctx : NULL; }

size_t corio_all_tasks(corio_loop *loop, corio_task **buf, size_t cap) {
  task_loop_state *ls;
  size_t n = 0;

  if (!loop)
    loop = corio_loop_current();
  if (!loop || !(ls = corio__loop_ext_get(loop, CORIO__LOOP_EXT_TASK)))
    return 0;
  for (corio_task *t = ls->pending; t; t = t->pending_next) {
    if (n < cap && buf)
      buf[n] = corio_task_ref(t);
    n++;
  }
  return n;
}

int corio_fail(int err, const char *fmt, ...) {
  corio_task *t = corio__current_task;
  va_list ap;
  char *message;

  if (err >= 0)
    err = -EINVAL;
  if (!fmt || (!t && !corio__fail_sink_current))
    return err;
  va_start(ap, fmt);
  message = corio__vformat(fmt, ap);
  va_end(ap);
  if (!t) {
    corio__fail_sink *sink = corio__fail_sink_current;
    corio__strfree(sink->message);
    sink->message = message;
    sink->code = err;
    return err;
  }
  corio__task_set_fail(t, err, message);
  return err;
}

const char *corio_fail_message(int err) {
  corio_task *t = corio__current_task;

  if (!t || t->fut.state != FUTURE_PENDING || err >= 0 || t->fail_code != err)
    return NULL;
  return t->fut.message;
}

void corio__task_set_fail(corio_task *t, int code, char *message) {
  corio__strfree(t->fut.message);
  t->fut.message = message;
  t->fail_code = code;
}

/* ---- closing with the loop ----------------------------------------------- */

static void report_destroyed_pending(corio_task *t) {
  corio__report_future(&t->fut, "Task was destroyed but it is pending!", 0,
                       NULL);
}

/* The loop is closing with t pending: reported, then its coroutine is
 * closed (its suspension point returns CORIO_ECLOSED so it can clean up)
 * and it ends cancelled. */
static void close_task(corio_task *t) {
  corio__wait *w = t->wait;

  report_destroyed_pending(t);
  corio__future_retain(&t->fut);
  if (w && !w->woken && w->detach)
    w->detach(w);
  t->closing = 1;
  if (t->coro) {
    corio_task *prev_task = corio__current_task;
    corio_context *prev_ctx = corio__context_enter(t->ctx);
    int rc;

    corio__current_task = t;
    rc = corio_coro_destroy(t->coro);
    corio__current_task = prev_task;
    corio__context_leave(t->ctx, prev_ctx);
    if (rc < 0)
      corio__report_future(
          &t->fut, "a pending task's coroutine could not be closed", rc, NULL);
    t->coro = NULL;
  }
  finish(t, FUTURE_CANCELLED, NULL, -ECANCELED,
         corio__strdup("the event loop was closed"));
  corio__future_release(&t->fut);
}

void corio__task_close_all(task_loop_state *ls) {
  while (ls->pending)
    close_task(ls->pending);
}
