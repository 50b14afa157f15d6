/* Futures: outcome, done callbacks (run through the loop, in order, never
 * synchronously), references, and the report of errors nobody read. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "loop/ext.h"
#include "task/task_internal.h"

/* ---- life cycle ---------------------------------------------------------- */

static int run_callbacks_cb(void *arg);

static void plain_free(corio_future *fut) {
  corio__future_free_block(fut, sizeof *fut);
}

const corio__future_ops corio__plain_future_ops = {
    .type_name = "Future", .settable = 1, .free = plain_free};

/* ---- for dumps ----------------------------------------------------------- */

static const char *awaited_name(const void *object) {
  const corio_future *fut = object;

  return fut->ops->wait_name ? fut->ops->wait_name : "future";
}

static void describe_awaited(const void *object, char *buf, size_t len) {
  corio_future *fut = (corio_future *)(uintptr_t)object;

  if (fut->ops->detail)
    fut->ops->detail(fut, buf, len);
  else if (len > 0)
    buf[0] = 0;
}

static void visit_awaited(const void *object, corio__future_visit visit,
                          void *arg) {
  visit((corio_future *)(uintptr_t)object, arg);
}

const corio__wait_kind corio__wait_kind_future = {.name = "future",
                                                  .describe = describe_awaited,
                                                  .each_awaited = visit_awaited,
                                                  .name_of = awaited_name};

/* fut is zeroed. */
void corio__future_init(corio_future *fut, task_loop_state *ls,
                        const corio__future_ops *ops, corio_callback node_cb) {
  corio__ready_node_init(&fut->node, node_cb, fut);
  fut->ls = ls;
  fut->callbacks = &fut->first_callback;
  fut->callbacks_cap = 1;
  fut->refs = 1;
  fut->ops = ops;
  fut->state = FUTURE_PENDING;
  /* Futures keep their loop's memory: one hold for all of them. */
  if (ls->live++ == 0)
    corio__loop_mem_ref(ls->loop);
}

int corio__future_create(corio_loop *loop, const corio__future_ops *ops,
                         size_t size, corio_future **out) {
  task_loop_state *ls;
  corio_future *fut;
  int rc;

  rc = corio__task_loop_state_for(loop, &ls);
  if (rc < 0)
    return rc;
  /* Small kinds, plain futures above all, come from the loop's pool. */
  if (size <= CORIO__FUTURE_BLOCK) {
    fut = corio__pool_get(&ls->futures);
    if (fut)
      memset(fut, 0, size);
  } else {
    fut = corio__calloc(size);
  }
  if (!fut)
    return -ENOMEM;
  corio__future_init(fut, ls, ops, run_callbacks_cb);
  *out = fut;
  return 0;
}

void corio__future_free_block(corio_future *fut, size_t size) {
  if (size <= CORIO__FUTURE_BLOCK)
    corio__pool_put(&fut->ls->futures, fut);
  else
    corio__free(fut, size);
}

int corio_future_create(corio_loop *loop, corio_future **out) {
  if (!out)
    return -EINVAL;
  return corio__future_create(loop, &corio__plain_future_ops, sizeof **out,
                              out);
}

static void free_callbacks(corio_future *fut) {
  if (fut->callbacks != &fut->first_callback)
    corio__free(fut->callbacks, fut->callbacks_cap * sizeof *fut->callbacks);
  fut->callbacks = &fut->first_callback;
  fut->callbacks_cap = 1;
  fut->callbacks_len = 0;
}

void corio__report_future(corio_future *fut, const char *text, int error,
                          const char *error_message) {
  corio_task *task = fut->ops == &corio__task_ops ? (corio_task *)fut : NULL;

  corio_loop_call_exception_handler(
      fut->ls->loop,
      &(corio_loop_error){
          .message = text,
          .error = error,
          .error_message = error_message,
          .future = fut,
          .task = task,
          .task_name = fut->ops->describe ? fut->ops->describe(fut) : NULL});
}

static void report_unretrieved(corio_future *fut) {
  char text[64];

  snprintf(text, sizeof text, "%s exception was never retrieved",
           fut->ops->type_name);
  corio__report_future(fut, text, fut->error, fut->message);
}

void corio__loop_state_unlive(task_loop_state *ls) {
  /* May free the loop, and ls with it: the caller's last step. */
  if (--ls->live == 0)
    corio__loop_mem_unref(ls->loop);
}

static void free_future(corio_future *fut) {
  task_loop_state *ls = fut->ls;

  if (fut->state == FUTURE_FINISHED && fut->error_unretrieved)
    report_unretrieved(fut);
  free_callbacks(fut);
  corio__strfree(fut->message);
  fut->message = NULL;
  fut->ops->free(fut);
  corio__loop_state_unlive(ls);
}

void corio__future_retain(corio_future *fut) { fut->refs++; }

void corio__future_release(corio_future *fut) {
  if (--fut->refs == 0)
    free_future(fut);
}

int corio__future_outcome_release(corio_future *fut, int wait_rc,
                                  void **result) {
  int rc = wait_rc < 0 ? wait_rc : corio_future_result(fut, result);

  corio__future_release(fut);
  return rc;
}

corio_future *corio_future_ref(corio_future *fut) {
  if (fut)
    corio__future_retain(fut);
  return fut;
}

void corio_future_unref(corio_future *fut) {
  if (fut)
    corio__future_release(fut);
}

/* ---- callbacks ----------------------------------------------------------- */

/* The batch of callbacks registered before completion runs as one ready
 * handle: they were queued back to back, so running them together keeps
 * asyncio's order. An entry whose fn is NULL was withdrawn by a cancelled
 * waiter after completion. */
static int run_callbacks_cb(void *arg) {
  corio_future *fut = arg;

  fut->queued = 0;
  for (uint32_t i = 0; i < fut->callbacks_len; i++) {
    future_callback cb = fut->callbacks[i];
    if (cb.fn)
      cb.fn(fut, cb.arg);
  }
  free_callbacks(fut);
  corio__future_release(fut); /* the queue's reference */
  return 0;
}

static void drop_callbacks(corio_future *fut) { free_callbacks(fut); }

void corio__future_complete(corio_future *fut, enum future_state state,
                            void *result, int error, char *message) {
  fut->state = (uint8_t)state;
  fut->result = result;
  fut->error = error;
  corio__strfree(fut->message);
  fut->message = message;
  fut->error_unretrieved = state == FUTURE_FINISHED && error != 0;
  if (fut->callbacks_len == 0)
    return;
  /* A closing or closed loop runs nothing more. */
  if (fut->ls->closing || corio_loop_is_closed(fut->ls->loop)) {
    drop_callbacks(fut);
    return;
  }
  fut->node.cb = run_callbacks_cb;
  fut->queued = 1;
  corio__future_retain(fut);
  corio__loop_push_ready(fut->ls->loop, corio__ready_node_handle(&fut->node));
}

int corio__future_add_callback(corio_future *fut, corio_future_callback fn,
                               void *arg) {
  if (fut->callbacks_len == fut->callbacks_cap) {
    future_callback *grown;
    uint32_t cap = fut->callbacks_cap * 2;

    if (cap < 4)
      cap = 4;
    grown = corio__alloc(cap * sizeof *grown);
    if (!grown)
      return -ENOMEM;
    memcpy(grown, fut->callbacks, fut->callbacks_len * sizeof *grown);
    if (fut->callbacks != &fut->first_callback)
      corio__free(fut->callbacks, fut->callbacks_cap * sizeof *grown);
    fut->callbacks = grown;
    fut->callbacks_cap = cap;
  }
  fut->callbacks[fut->callbacks_len++] = (future_callback){fn, arg};
  fut->outcome_seen = 1; /* the callback is told the outcome */
  return 0;
}

int corio__future_remove_callback(corio_future *fut, corio_future_callback fn,
                                  void *arg) {
  uint32_t kept = 0;
  int removed = 0;

  if (fut->state != FUTURE_PENDING) {
    /* Scheduled already: withdraw in place, the batch skips it. */
    for (uint32_t i = 0; i < fut->callbacks_len; i++) {
      if (fut->callbacks[i].fn == fn && fut->callbacks[i].arg == arg) {
        fut->callbacks[i].fn = NULL;
        removed++;
      }
    }
    return removed;
  }
  for (uint32_t i = 0; i < fut->callbacks_len; i++) {
    if (fut->callbacks[i].fn == fn && fut->callbacks[i].arg == arg)
      removed++;
    else
      fut->callbacks[kept++] = fut->callbacks[i];
  }
  fut->callbacks_len = kept;
  return removed;
}

void corio__future_replace_callback(corio_future *fut, corio_future_callback fn,
                                    void *arg, corio_future_callback new_fn,
                                    void *new_arg) {
  for (uint32_t i = 0; i < fut->callbacks_len; i++)
    if (fut->callbacks[i].fn == fn && fut->callbacks[i].arg == arg)
      fut->callbacks[i] = (future_callback){new_fn, new_arg};
}

/* A callback added to a future that is done already: scheduled alone, as
 * an embedded handle, so a loop that closes first gives it back (see
 * corio__late_callback_drop) instead of leaking it. */
struct late_callback {
  corio__ready_node node; /* first: the loop sees a handle */
  corio_future *fut;
  future_callback cb;
};

static void free_late(struct late_callback *late) {
  corio__future_release(late->fut);
  corio__free(late, sizeof *late);
}

static int run_late_callback(void *arg) {
  struct late_callback *late = arg;

  late->cb.fn(late->fut, late->cb.arg);
  free_late(late);
  return 0;
}

int corio__late_callback_drop(corio_handle *h) {
  if (h->cb != run_late_callback)
    return 0;
  free_late((struct late_callback *)(void *)h);
  return 1;
}

int corio_future_add_done_callback(corio_future *fut, corio_future_callback cb,
                                   void *arg) {
  struct late_callback *late;

  if (!fut || !cb)
    return -EINVAL;
  if (fut->state == FUTURE_PENDING)
    return corio__future_add_callback(fut, cb, arg);
  if (fut->ls->closing || corio_loop_is_closed(fut->ls->loop))
    return CORIO_ELOOPCLOSED;
  late = corio__alloc(sizeof *late);
  if (!late)
    return -ENOMEM;
  fut->outcome_seen = 1;
  *late = (struct late_callback){.fut = fut, .cb = {cb, arg}};
  corio__ready_node_init(&late->node, run_late_callback, late);
  corio__future_retain(fut);
  corio__loop_push_ready(fut->ls->loop, corio__ready_node_handle(&late->node));
  return 0;
}

int corio_future_remove_done_callback(corio_future *fut,
                                      corio_future_callback cb, void *arg) {
  if (!fut || !cb)
    return -EINVAL;
  /* asyncio: once scheduled, callbacks can no longer be removed. */
  if (fut->state != FUTURE_PENDING)
    return 0;
  return corio__future_remove_callback(fut, cb, arg);
}

/* ---- outcome ------------------------------------------------------------- */

int corio_future_set_result(corio_future *fut, void *result) {
  if (!fut || !fut->ops->settable)
    return -EINVAL;
  if (fut->state != FUTURE_PENDING)
    return CORIO_EINVALSTATE;
  corio__future_complete(fut, FUTURE_FINISHED, result, 0, NULL);
  return 0;
}

int corio_future_set_error(corio_future *fut, int error, const char *fmt, ...) {
  va_list ap;
  char *message;

  if (!fut || !fut->ops->settable || error >= 0)
    return -EINVAL;
  if (fut->state != FUTURE_PENDING)
    return CORIO_EINVALSTATE;
  va_start(ap, fmt);
  message = corio__vformat(fmt, ap);
  va_end(ap);
  corio__future_complete(fut, FUTURE_FINISHED, NULL, error, message);
  return 0;
}

int corio__future_cancel_plain(corio_future *fut, const char *msg) {
  if (fut->state != FUTURE_PENDING)
    return 0;
  corio__future_complete(fut, FUTURE_CANCELLED, NULL, -ECANCELED,
                         corio__strdup(msg));
  return 1;
}

int corio_future_cancel(corio_future *fut, const char *msg) {
  if (!fut)
    return -EINVAL;
  if (fut->ops->cancel)
    return fut->ops->cancel(fut, msg);
  return corio__future_cancel_plain(fut, msg);
}

int corio_future_done(const corio_future *fut) {
  return fut && fut->state != FUTURE_PENDING;
}

int corio_future_cancelled(const corio_future *fut) {
  return fut && fut->state == FUTURE_CANCELLED;
}

int corio_future_result(corio_future *fut, void **result) {
  if (!fut)
    return -EINVAL;
  if (fut->state == FUTURE_PENDING)
    return CORIO_EINVALSTATE;
  fut->error_unretrieved = 0;
  fut->outcome_seen = 1;
  if (result)
    *result =
        fut->state == FUTURE_FINISHED && fut->error == 0 ? fut->result : NULL;
  return fut->error;
}

int corio_future_error(corio_future *fut) {
  return corio_future_result(fut, NULL);
}

const char *corio_future_message(const corio_future *fut) {
  return fut && fut->state != FUTURE_PENDING ? fut->message : NULL;
}

corio_loop *corio_future_loop(const corio_future *fut) {
  return fut ? fut->ls->loop : NULL;
}
