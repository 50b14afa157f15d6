/* asyncio.run and asyncio.Runner: a loop that runs a main task, then
 * cancels what is left, waits for it, shuts down and closes. */
#include <errno.h>
#include <stdio.h>

#include "core/alloc.h"
#include "loop/ext.h"
#include "task/task_internal.h"

struct corio_runner {
  corio_loop *loop;
};

static void stop_loop(corio_future *fut, void *loop) {
  (void)fut;
  (void)corio_loop_stop(loop);
}

int corio_run_until_complete(corio_loop *loop, corio_future *fut,
                             void **result) {
  int rc;

  if (!loop || !fut)
    return -EINVAL;
  if (fut->ls->loop != loop)
    return CORIO_EWRONGLOOP;
  if (corio_loop_is_closed(loop))
    return CORIO_ELOOPCLOSED;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING;
  if (fut->state == FUTURE_PENDING) {
    rc = corio__future_add_callback(fut, stop_loop, loop);
    if (rc < 0)
      return rc;
    corio__future_retain(fut);
    rc = corio_loop_run_forever(loop);
    (void)corio__future_remove_callback(fut, stop_loop, loop);
    if (rc == 0 && fut->state == FUTURE_PENDING)
      rc = CORIO_ELOOPSTOPPED;
    return corio__future_outcome_release(fut, rc, result);
  }
  return corio_future_result(fut, result);
}

int corio_runner_create(corio_runner **out) {
  corio_runner *runner;
  int rc;

  if (!out)
    return -EINVAL;
  runner = corio__calloc(sizeof *runner);
  if (!runner)
    return -ENOMEM;
  rc = corio_loop_create(&runner->loop);
  if (rc < 0) {
    corio__free(runner, sizeof *runner);
    return rc;
  }
  *out = runner;
  return 0;
}

corio_loop *corio_runner_loop(const corio_runner *runner) {
  return runner ? runner->loop : NULL;
}

int corio_runner_run(corio_runner *runner, corio_task_fn fn, void *arg,
                     void **result) {
  corio_task *task;
  int rc;

  if (!runner || !fn)
    return -EINVAL;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING;
  rc = corio_spawn_ex(&task, fn, arg,
                      &(corio_spawn_options){.loop = runner->loop});
  if (rc < 0)
    return rc;
  rc = corio_run_until_complete(runner->loop, &task->fut, result);
  corio_task_unref(task);
  return rc;
}

/* Waits for a set of tasks: the future is finished when the last is. */
struct countdown {
  corio_future *all_done;
  size_t left;
};

static void count_down(corio_future *fut, void *arg) {
  struct countdown *cd = arg;

  (void)fut;
  if (--cd->left == 0)
    (void)corio_future_set_result(cd->all_done, NULL);
}

/* Cancels every pending task and runs the loop until they are done, then
 * reports those that failed with a real error (asyncio does the same). */
static int cancel_all_tasks(corio_loop *loop) {
  corio_task **tasks;
  struct countdown cd = {NULL, 0};
  size_t n = corio_all_tasks(loop, NULL, 0);
  int rc = 0;

  if (n == 0)
    return 0;
  tasks = corio__alloc(n * sizeof *tasks);
  if (!tasks)
    return -ENOMEM;
  n = corio_all_tasks(loop, tasks, n);
  rc = corio_future_create(loop, &cd.all_done);
  for (size_t i = 0; i < n; i++) {
    (void)corio_task_cancel(tasks[i], NULL);
    if (rc == 0 &&
        corio__future_add_callback(&tasks[i]->fut, count_down, &cd) == 0)
      cd.left++;
  }
  if (rc == 0 && cd.left > 0)
    rc = corio_run_until_complete(loop, cd.all_done, NULL);
  for (size_t i = 0; i < n; i++) {
    corio_task *t = tasks[i];
    /* The loop may have stopped early: cd is about to go. */
    (void)corio__future_remove_callback(&t->fut, count_down, &cd);
    if (corio_task_done(t) && !corio_task_cancelled(t) &&
        corio_task_error(t) < 0) {
      char text[200];
      snprintf(text, sizeof text,
               "unhandled error during corio_run() shutdown: %s%s%s",
               corio_task_name(t), t->fut.message ? ": " : "",
               t->fut.message ? t->fut.message : "");
      corio_loop_call_exception_handler(
          loop, &(corio_loop_error){text, t->fut.error, NULL, t});
    }
    corio_task_unref(t);
  }
  corio__free(tasks, n * sizeof *tasks);
  corio_future_unref(cd.all_done);
  return rc;
}

int corio_runner_close(corio_runner *runner) {
  int rc, shutdown_rc;

  if (!runner)
    return -EINVAL;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING; /* this one's, or another loop's */
  rc = cancel_all_tasks(runner->loop);
  shutdown_rc = corio__loop_ext_shutdown(runner->loop);
  if (rc == 0)
    rc = shutdown_rc;
  (void)corio_loop_close(runner->loop);
  corio_loop_unref(runner->loop);
  corio__free(runner, sizeof *runner);
  return rc;
}

int corio_run(corio_task_fn main, void *arg, void **result) {
  corio_runner *runner;
  int rc, close_rc;

  if (!main)
    return -EINVAL;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING;
  rc = corio_runner_create(&runner);
  if (rc < 0)
    return rc;
  rc = corio_runner_run(runner, main, arg, result);
  close_rc = corio_runner_close(runner);
  return rc == 0 ? close_rc : rc;
}
