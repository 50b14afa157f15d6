/* The thread layer's state on each loop: its default executor, and what a
 * closing loop must settle (jobs, started thread-safe futures, waits). */
#include <errno.h>

#include "core/alloc.h"
#include "loop/ext.h"
#include "thread/thread_internal.h"

/* corio_run and corio_runner_close: running jobs finish first. */
static int shutdown_state(corio_loop *loop, void *data) {
  thread_loop_state *ls = data;

  (void)loop;
  if (!ls->default_executor)
    return 0;
  return corio_executor_shutdown(ls->default_executor, 0);
}

static void close_state(corio_loop *loop, void *data) {
  thread_loop_state *ls = data;

  (void)loop;
  ls->closed = 1;
  corio__jobs_close(ls);
  corio__threadsafe_close(ls);
  /* asyncio's loop.close(): the default executor stops without waiting. */
  if (ls->default_executor)
    (void)corio_executor_shutdown(ls->default_executor, CORIO_EXECUTOR_NOWAIT);
}

static void free_state(void *data) {
  thread_loop_state *ls = data;

  /* The last holder of the loop's memory may be one of the executor's own
   * threads (a job finishing late): corio_executor_free then detaches. */
  if (ls->owns_default)
    (void)corio_executor_free(ls->default_executor);
  else if (ls->default_executor)
    corio__executor_unref(ls->default_executor);
  corio__free(ls, sizeof *ls);
}

static const corio__loop_ext_ops thread_ext_ops = {
    .shutdown = shutdown_state,
    .close = close_state,
    .free = free_state,
};

thread_loop_state *corio__thread_loop_state(corio_loop *loop) {
  thread_loop_state *ls = corio__loop_ext_get(loop, CORIO__LOOP_EXT_THREAD);

  if (ls)
    return ls;
  ls = corio__calloc(sizeof *ls);
  if (!ls)
    return NULL;
  ls->loop = loop;
  ls->closed = corio_loop_is_closed(loop);
  thread_list_init(&ls->jobs);
  thread_list_init(&ls->started);
  thread_list_init(&ls->waits);
  if (corio__loop_ext_set(loop, CORIO__LOOP_EXT_THREAD, ls, &thread_ext_ops) <
      0) {
    corio__free(ls, sizeof *ls);
    return NULL;
  }
  return ls;
}

int corio_loop_default_executor(corio_loop *loop, corio_executor **out) {
  thread_loop_state *ls;
  int rc;

  if (!loop || !out)
    return -EINVAL;
  ls = corio__thread_loop_state(loop);
  if (!ls)
    return -ENOMEM;
  if (ls->closed)
    return CORIO_ELOOPCLOSED;
  if (!ls->default_executor) {
    rc = corio_executor_create(&ls->default_executor, 0);
    if (rc < 0)
      return rc;
    ls->owns_default = 1;
  }
  *out = ls->default_executor;
  return 0;
}

int corio_loop_set_default_executor(corio_loop *loop, corio_executor *ex) {
  thread_loop_state *ls;

  if (!loop || !ex)
    return -EINVAL;
  ls = corio__thread_loop_state(loop);
  if (!ls)
    return -ENOMEM;
  if (ls->closed)
    return CORIO_ELOOPCLOSED;
  if (ls->default_executor)
    return CORIO_EINVALSTATE;
  /* The caller keeps its own reference, and frees it. */
  ls->default_executor = corio__executor_ref(ex);
  return 0;
}
