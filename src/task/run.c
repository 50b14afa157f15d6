/* asyncio.run and asyncio.Runner: a loop that runs a main task, then
 * cancels what is left, waits for it, shuts down and closes. */
#include <errno.h>
#include <stdio.h>

#include "core/alloc.h"
#include "corio/combine.h"
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
  return corio_runner_create_with(out, NULL);
}

int corio_runner_create_with(corio_runner **out,
                             const corio_loop_options *options) {
  corio_runner *runner;
  int rc;

  if (!out)
    return -EINVAL;
  runner = corio__calloc(sizeof *runner);
  if (!runner)
    return -ENOMEM;
  rc = corio_loop_create_with(&runner->loop, options);
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

/* The message of the outcome rc of fut into the caller's buffer: empty
 * when there is none. */
static void copy_message(const corio_future *fut, int rc, char *message,
                         size_t message_size) {
  const char *text = rc < 0 && rc == fut->error ? fut->message : NULL;

  if (message && message_size > 0)
    snprintf(message, message_size, "%s", text ? text : "");
}

/* site: where the user called the public entry point, the main task's
 * creation site (not corio's own call). */
static int runner_run_at(corio_runner *runner, corio_task_fn fn, void *arg,
                         void **result, char *message, size_t message_size,
                         const void *site) {
  corio_task *task;
  int rc;

  if (message && message_size > 0)
    message[0] = '\0';
  if (!runner || !fn)
    return -EINVAL;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING;
  rc = corio__spawn_at(&task, fn, arg,
                       &(corio_spawn_options){.loop = runner->loop}, site);
  if (rc < 0)
    return rc;
  rc = corio_run_until_complete(runner->loop, &task->fut, result);
  copy_message(&task->fut, rc, message, message_size);
  corio_task_unref(task);
  return rc;
}

int corio_runner_run_ex(corio_runner *runner, corio_task_fn fn, void *arg,
                        void **result, char *message, size_t message_size) {
  return runner_run_at(runner, fn, arg, result, message, message_size,
                       __builtin_return_address(0));
}

int corio_runner_run(corio_runner *runner, corio_task_fn fn, void *arg,
                     void **result) {
  return runner_run_at(runner, fn, arg, result, NULL, 0,
                       __builtin_return_address(0));
}

/* A task that ended with a real error while corio_run shut down is
 * reported, as asyncio does. */
static void report_shutdown_error(corio_task *t) {
  if (!corio_task_done(t) || corio_task_cancelled(t) ||
      corio_task_error(t) == 0)
    return;
  corio__report_future(&t->fut,
                       "unhandled exception during corio_run() shutdown",
                       t->fut.error, t->fut.message);
}

/* Cancels every pending task and gathers them (return_exceptions), running
 * the loop until they are done. */
static int cancel_all_tasks(corio_loop *loop) {
  size_t n = corio_all_tasks(loop, NULL, 0), bytes;
  corio_awaitable *items;
  corio_future *all;
  corio_task **tasks;
  int rc;

  if (n == 0)
    return 0;
  bytes = n * (sizeof *tasks + sizeof *items);
  tasks = corio__alloc(bytes);
  if (!tasks)
    return -ENOMEM;
  items = (corio_awaitable *)(void *)(tasks + n);
  n = corio_all_tasks(loop, tasks, n);
  for (size_t i = 0; i < n; i++) {
    (void)corio_task_cancel(tasks[i], NULL);
    items[i] = CORIO_AWAIT_TASK(tasks[i]);
  }
  rc = corio_gather_start(&all, items, n, CORIO_GATHER_RETURN_EXCEPTIONS);
  if (rc == 0) {
    rc = corio_run_until_complete(loop, all, NULL);
    corio_future_unref(all);
  }
  for (size_t i = 0; i < n; i++) {
    report_shutdown_error(tasks[i]);
    corio_task_unref(tasks[i]);
  }
  corio__free(tasks, bytes);
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

static int run_at(corio_task_fn main, void *arg, void **result, char *message,
                  size_t message_size, const void *site) {
  corio_runner *runner;
  int rc, close_rc;

  if (message && message_size > 0)
    message[0] = '\0';
  if (!main)
    return -EINVAL;
  if (corio_loop_running())
    return CORIO_ELOOPRUNNING;
  rc = corio_runner_create(&runner);
  if (rc < 0)
    return rc;
  rc = runner_run_at(runner, main, arg, result, message, message_size, site);
  close_rc = corio_runner_close(runner);
  return rc == 0 ? close_rc : rc;
}

int corio_run_ex(corio_task_fn main, void *arg, void **result, char *message,
                 size_t message_size) {
  return run_at(main, arg, result, message, message_size,
                __builtin_return_address(0));
}

int corio_run(corio_task_fn main, void *arg, void **result) {
  return run_at(main, arg, result, NULL, 0, __builtin_return_address(0));
}
