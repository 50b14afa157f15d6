/* The hook layer's switch and per-task opt-out, kept in libcorio so that
 * programs can call corio_hook_* whether or not libcorio_hook is in
 * (docs/hook.md). */
#include <errno.h>
#include <stdatomic.h>

#include "corio/hook.h"
#include "task/hook_support.h"
#include "task/task_internal.h"

static atomic_int hook_present;
static atomic_int hook_on;
static _Thread_local unsigned hook_bypass;

void corio__hook_register(void) {
  atomic_store_explicit(&hook_present, 1, memory_order_release);
}

int corio_hook_enable(void) {
  if (!atomic_load_explicit(&hook_present, memory_order_acquire))
    return -ENOSYS;
  atomic_store_explicit(&hook_on, 1, memory_order_relaxed);
  return 0;
}

int corio_hook_disable(void) {
  if (!atomic_load_explicit(&hook_present, memory_order_acquire))
    return -ENOSYS;
  atomic_store_explicit(&hook_on, 0, memory_order_relaxed);
  return 0;
}

int corio_hook_enabled(void) {
  return atomic_load_explicit(&hook_on, memory_order_relaxed);
}

int corio_hook_task_set(corio_task *task, int on) {
  if (!task)
    return -EINVAL;
  task->hook_off = !on;
  return 0;
}

int corio_hook_task_get(const corio_task *task) {
  return task && !task->hook_off;
}

corio_task *corio__hook_task(void) {
  corio_task *t;

  if (!atomic_load_explicit(&hook_on, memory_order_relaxed) || hook_bypass)
    return NULL;
  t = corio__task_self();
  return t && !t->hook_off ? t : NULL;
}

int corio_hook_active(void) { return corio__hook_task() != NULL; }

void corio__hook_bypass_begin(void) { hook_bypass++; }

void corio__hook_bypass_end(void) { hook_bypass--; }

void corio__hook_keep_cancel(corio_task *task) { task->must_cancel = 1; }
