/* Looking at a loop's tasks from outside: a snapshot of the pending tasks
 * (held while it lasts) and, for each, what corio_task_info says. Shared
 * by the visitor (inspect.c), the reports (dump.c) and debug mode
 * (debug.c). */
#ifndef CORIO_TASK_INSPECT_H
#define CORIO_TASK_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "corio/debug.h"
#include "task/task_internal.h"

typedef struct corio__inspector corio__inspector;

/* A snapshot of loop's pending tasks (NULL: the current loop). flags:
 * CORIO_VISIT_BACKTRACES. caller_pc: where the user called the public
 * entry point; the running task's stack and `where` start there. Errors:
 * -EINVAL, CORIO_ENOLOOP, CORIO_ETHREAD, -ENOMEM. */
int corio__inspect_open(corio_loop *loop, unsigned flags, const void *caller_pc,
                        corio__inspector **out);
void corio__inspect_close(corio__inspector *in);

size_t corio__inspect_count(const corio__inspector *in);
corio_loop *corio__inspect_loop(const corio__inspector *in);
corio_task *corio__inspect_task(const corio__inspector *in, size_t i);
void corio__inspect_set_flags(corio__inspector *in, unsigned flags);

/* What there is to say about task i: 0, or -ENOMEM when the list of tasks
 * it awaits could not be made (info is still filled, without it). The
 * pointers in info stay valid until the next call. */
int corio__inspect_info(corio__inspector *in, size_t i, corio_task_info *info);

/* Only the tasks that task i awaits (what info's awaiting says), valid
 * until the next call: 0, or -ENOMEM with the part that could be made. */
int corio__inspect_awaited(corio__inspector *in, size_t i,
                           corio_task *const **awaiting, size_t *n);

/* Names a code address, through the inspector's cache of names:
 * "name+0x1a (file)". */
char *corio__inspect_symbol(corio__inspector *in, uintptr_t pc,
                            int return_address, char *buf, size_t len);

/* For one task, without a snapshot: its innermost frame outside corio into
 * buf ("" if not known). */
void corio__task_where(corio_task *t, char *buf, size_t len);

#endif
