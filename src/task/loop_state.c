/* The task layer's state on each loop, created with the loop's first
 * future, and what closing the loop does to tasks still pending. */
#include <errno.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "loop/ext.h"
#include "task/task_internal.h"

/* A queued embedded handle the loop gives back at close: the step of a
 * pending task (closed next, no reference of its own), a batch of
 * callbacks that will never run (the queue's reference goes), or a late
 * done callback (freed). */
static void dropped_handle(corio_handle *h) {
  corio_future *fut = (corio_future *)(void *)h; /* node comes first */

  if (corio__late_callback_drop(h))
    return;
  fut->queued = 0;
  if (fut->state != FUTURE_PENDING)
    corio__future_release(fut);
}

static void close_tasks(corio_loop *loop, void *data) {
  task_loop_state *ls = data;

  /* The loop's memory outlives its close, so ls does too. */
  ls->closing = 1;
  corio__loop_unqueue_embedded(loop, dropped_handle);
  corio__task_close_all(ls);
  corio__workers_close(ls);
}

/* Idle workers' stacks come from this thread's pool: a loop closed on
 * another thread could not give them back. */
static void release_workers(corio_loop *loop, void *data) {
  (void)loop;
  corio__workers_close(data);
}

static void free_state(void *data) {
  task_loop_state *ls = data;

  corio__pool_free_all(&ls->futures);
  corio__pool_free_all(&ls->tasks);
  corio__free(ls, sizeof *ls);
}

static const corio__loop_ext_ops task_ext_ops = {
    .stopped = release_workers,
    .close = close_tasks,
    .free = free_state,
    .callback_begin = corio__task_callback_begin,
    .callback_end = corio__task_callback_end,
};

int corio__task_loop_state_for(corio_loop *loop, task_loop_state **out) {
  task_loop_state *ls;

  if (!loop && corio__current_task) {
    /* From a task: its loop is the current one. */
    ls = corio__current_task->fut.ls;
  } else {
    if (!loop)
      loop = corio_loop_current();
    if (!loop)
      return CORIO_ENOLOOP;
    ls = corio__task_loop_state(loop);
    if (!ls)
      return -ENOMEM;
  }
  if (ls->closing)
    return CORIO_ELOOPCLOSED;
  *out = ls;
  return 0;
}

task_loop_state *corio__task_loop_state(corio_loop *loop) {
  task_loop_state *ls = corio__loop_ext_get(loop, CORIO__LOOP_EXT_TASK);

  if (corio__likely(ls != NULL))
    return ls;
  ls = corio__calloc(sizeof *ls);
  if (!ls)
    return NULL;
  ls->loop = loop;
  /* A loop closed before its first future: state that refuses them. */
  ls->closing = corio_loop_is_closed(loop);
  ls->futures.block_size = CORIO__FUTURE_BLOCK;
  ls->tasks.block_size = sizeof(corio_task);
  if (corio__loop_ext_set(loop, CORIO__LOOP_EXT_TASK, ls, &task_ext_ops) < 0) {
    corio__free(ls, sizeof *ls);
    return NULL;
  }
  return ls;
}
