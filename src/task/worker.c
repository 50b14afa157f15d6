/* Worker coroutines: a task's body runs on a worker, and a worker whose
 * task has finished waits in a small per-loop cache for the next task
 * instead of going back to the stack pool. A stream of short tasks then
 * reuses one warm coroutine: no stack to take, no control block to set up,
 * no first-entry trampoline. */
#include "task/task_internal.h"

/* What a worker yields when its task's body has returned. */
static char body_done;
void *const corio__worker_done = &body_done;

/* Runs task after task: each resume after a body is done hands over the
 * next task. A worker closed while idle (CORIO_ECLOSED from its yield),
 * or whose task is closed with the loop, returns. */
static void *worker_main(void *arg) {
  corio_task *t = arg;

  for (;;) {
    void *result = NULL;
    void *next = NULL;

    t->body_rc = t->fn(t->arg, &result);
    t->fut.result = result;
    if (t->closing || corio_coro_yield(corio__worker_done, &next) < 0)
      return NULL;
    t = next;
  }
}

int corio__worker_take(corio_task *t) {
  task_loop_state *ls = t->fut.ls;

  if (t->stack_size == CORIO_TASK_STACK_DEFAULT && ls->idle_workers_len > 0) {
    t->coro = ls->idle_workers[--ls->idle_workers_len];
    return 0;
  }
  return corio_coro_create(&t->coro, worker_main, t, t->stack_size);
}

void corio__worker_give_back(corio_task *t) {
  task_loop_state *ls = t->fut.ls;
  corio_coro *co = t->coro;

  t->coro = NULL;
  if (t->stack_size == CORIO_TASK_STACK_DEFAULT && !ls->closing &&
      ls->idle_workers_len < CORIO__IDLE_WORKERS) {
    ls->idle_workers[ls->idle_workers_len++] = co;
    return;
  }
  /* Closing an idle worker resumes it once: it returns at once. */
  (void)corio_coro_destroy(co);
}

void corio__workers_close(task_loop_state *ls) {
  while (ls->idle_workers_len > 0)
    (void)corio_coro_destroy(ls->idle_workers[--ls->idle_workers_len]);
}
