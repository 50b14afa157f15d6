/* The thread layer's state on each loop: its default executor, and what a
 * closing loop must settle (jobs, started thread-safe futures, waits). */
#include <errno.h>

#include "core/alloc.h"
#include "core/sys_thread.h"
#include "loop/ext.h"
#include "thread/thread_internal.h"

/* asyncio's shutdown_default_executor: a helper thread waits for the
 * pool's threads while the loop runs, so a job still running can call
 * back into the loop (run_coroutine_threadsafe) and be answered. The
 * joiner is on the heap: its posted call may outlive this shutdown if the
 * loop stops early, and then runs (or is dropped) later. */
typedef struct pool_joiner {
  corio_executor *ex;
  corio_loop *loop;
  corio_future *joined; /* a reference, released with the joiner */
  corio__remote_call done;
} pool_joiner;

static void joiner_free(void *arg) {
  pool_joiner *j = arg;

  corio_future_unref(j->joined);
  corio__free(j, sizeof *j);
}

static int pool_joined(void *arg) {
  pool_joiner *j = arg;

  (void)corio_future_set_result(j->joined, NULL);
  joiner_free(j);
  return 0;
}

static void *join_pool(void *arg) {
  pool_joiner *j = arg;

  (void)corio_executor_shutdown(j->ex, 0);
  if (corio__loop_post_threadsafe(j->loop, &j->done) < 0)
    joiner_free(j); /* unreachable: the loop closes after this hook */
  return NULL;
}

/* corio_run and corio_runner_close: running jobs finish first. */
static int shutdown_state(corio_loop *loop, void *data) {
  thread_loop_state *ls = data;
  corio_executor *ex = ls->default_executor;
  corio_future *joined;
  pool_joiner *j;
  pthread_t joiner;
  int rc;

  if (!ex)
    return 0;
  (void)corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT);
  j = corio__calloc(sizeof *j);
  if (!j || corio_future_create(loop, &j->joined) < 0) {
    if (j)
      corio__free(j, sizeof *j);
    return corio_executor_shutdown(ex, 0); /* wait here instead */
  }
  j->ex = ex;
  j->loop = loop;
  joined = corio_future_ref(j->joined);
  corio__remote_call_init(&j->done, pool_joined, joiner_free, j);
  rc = corio__sys_thread_create(&joiner, join_pool, j, "corio-shutdown");
  if (rc < 0) {
    joiner_free(j);
    corio_future_unref(joined);
    return corio_executor_shutdown(ex, 0);
  }
  /* A stop from a callback meanwhile ends a run early: run again. */
  do
    rc = corio_run_until_complete(loop, joined, NULL);
  while (rc == CORIO_ELOOPSTOPPED);
  pthread_join(joiner, NULL); /* the pool's threads are gone */
  corio_future_unref(joined);
  return rc < 0 ? rc : 0;
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
