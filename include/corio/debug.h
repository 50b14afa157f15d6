/* Seeing inside a running program: every task of a loop with its state,
 * what it waits on, who awaits whom and its own stack; the same on a
 * signal or over a Unix socket (tools/corio-ps). See docs/debugging.md. */
#ifndef CORIO_DEBUG_H
#define CORIO_DEBUG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "corio/export.h"
#include "corio/loop.h"
#include "corio/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct corio_server; /* corio/net.h */

/* The most frames a task's backtrace shows. */
#define CORIO_DEBUG_MAX_FRAMES 32

typedef enum corio_task_state {
  CORIO_TASK_RUNNING,     /* its step is on the thread's stack now */
  CORIO_TASK_READY,       /* woken (or cancelled): its next step is queued */
  CORIO_TASK_WAITING,     /* suspended until what it waits on wakes it */
  CORIO_TASK_NOT_STARTED, /* its first step is queued */
  CORIO_TASK_DONE,        /* finished while a visitor held it */
} corio_task_state;

/* One frame of a task's stack. */
typedef struct corio_frame_info {
  const void *pc;       /* innermost: where it resumes; else return address */
  const char *function; /* NULL if not known */
  size_t offset;        /* of pc in function */
  const char *object;   /* the program's or library's file, or NULL */
} corio_frame_info;

/* What corio_visit_tasks tells about a task. Pointers are valid during the
 * visitor's call only. */
typedef struct corio_task_info {
  corio_task *task;
  uint64_t id;      /* N of "Task-N"; 0 for a task spawned with a name */
  const char *name; /* corio_task_name() */
  corio_task_state state;
  const char *state_name; /* "running", "ready", "waiting", "not started",
                             "done" */
  /* While waiting: what on ("sleep", "task", "gather", "lock", "queue get",
   * "stream read"...) and a line about it ("0.250 s left", "worker-1",
   * "fd 7, peer 127.0.0.1:8080"); NULL and "" otherwise. */
  const char *wait_kind;
  const char *wait_detail;
  /* The tasks it waits for: awaited directly or through a gather, wait,
   * wait_for or shield, and its task groups' children. */
  corio_task *const *awaiting;
  size_t n_awaiting;
  int cancelling;     /* corio_task_cancelling() */
  int cancel_pending; /* a cancellation not delivered yet */
  const void *body;   /* the task function */
  const char *body_name;
  /* Where it was spawned (the return address of corio_spawn,
   * corio_taskgroup_spawn, corio_gather...): "main_task+0x2a (prog)". */
  const void *created_at;
  const char *created_at_name;
  /* Its stack, innermost first (with CORIO_VISIT_BACKTRACES), and the
   * innermost frame outside corio ("worker+0x31 (prog)", or NULL). */
  const corio_frame_info *frames;
  size_t n_frames;
  const char *where;
} corio_task_info;

/* Also unwind each task's stack (frames and where): a few microseconds a
 * frame, more the first time a function is named. */
#define CORIO_VISIT_BACKTRACES 1u

/* Returns non-zero to stop the walk (corio_visit_tasks returns it). */
typedef int (*corio_task_visitor)(const corio_task_info *info, void *arg);

/* Calls visit for each pending task of loop (NULL: the current loop), in
 * creation order. The tasks are held meanwhile: visit may cancel them, and
 * may suspend. It runs on the caller's stack: with CORIO_VISIT_BACKTRACES
 * it needs about 16 KiB of it (libunwind's step takes several KiB), plus
 * what visit uses; from a task with a smaller stack, leave the flag out.
 * Returns 0, visit's non-zero return, or -EINVAL, CORIO_ENOLOOP,
 * CORIO_ETHREAD (the loop runs on another thread), -ENOMEM. */
CORIO_API int corio_visit_tasks(corio_loop *loop, unsigned flags,
                                corio_task_visitor visit, void *arg);

/* Parts of a report. */
#define CORIO_REPORT_TABLE 1u      /* a line per task */
#define CORIO_REPORT_TREE 2u       /* who awaits whom, like asyncio pstree */
#define CORIO_REPORT_BACKTRACES 4u /* each task's stack */
/* Where each task is (its innermost function outside corio) in the table
 * and the tree: unwinds every stack. */
#define CORIO_REPORT_LOCATIONS 8u
#define CORIO_REPORT_ALL 15u

/* Takes the text of a report; returns 0, or a negative code to stop. */
typedef int (*corio_debug_writer)(const char *text, size_t len, void *arg);

/* Writes a report of loop's tasks (NULL: the current loop) through write.
 * Called from a coroutine whose stack is under 64 KiB (a task spawned
 * with a small stack_size), the report runs on a scratch coroutine with
 * the default stack: write must not suspend then. From a task with the
 * default stack, or outside any task, write may suspend (it is called
 * between lines; the tasks are held).
 * Returns 0, the writer's error, or corio_visit_tasks's errors (and those
 * of corio_coro_create for the scratch stack). */
CORIO_API int corio_debug_report(corio_loop *loop, unsigned parts,
                                 corio_debug_writer write, void *arg);
/* The table and every backtrace, to out (CORIO_REPORT_TABLE,
 * _LOCATIONS and _BACKTRACES). */
CORIO_API int corio_dump_tasks(corio_loop *loop, FILE *out);
/* The await tree with locations, to out. */
CORIO_API int corio_dump_task_tree(corio_loop *loop, FILE *out);

/* A task's stack as return addresses, innermost first: fills up to cap
 * and returns how many; -EINVAL, CORIO_EDEAD (not started, or done),
 * CORIO_ETHREAD, -ENOTSUP (no unwinder here). */
CORIO_API int corio_task_backtrace(corio_task *task, void **pcs, size_t cap);
/* "function+0x1a (file)" for a code address into buf; returns buf. */
CORIO_API char *corio_debug_symbol(const void *pc, char *buf, size_t len);

/* When signal signum arrives, loop (NULL: the current loop) prints
 * corio_debug_report's full report to stderr, from a callback on its own
 * thread (never inside the signal handler). Remove with
 * corio_loop_remove_signal_handler. Errors: CORIO_ENOLOOP, and those of
 * corio_loop_add_signal_handler. */
CORIO_API int corio_debug_dump_on_signal(corio_loop *loop, int signum);

/* Serves reports on a Unix socket, the abstract name "@corio-<pid>" when
 * name is NULL: `corio-ps <pid>` asks for one. Only a peer of the same
 * user (or root) is answered: it gets the tasks' names, stacks and code
 * addresses, even where Yama (ptrace_scope) keeps that user's debuggers
 * out of the process. Must run in a task; the server is the current
 * loop's, closed with it. Errors: those of corio_start_unix_server
 * (-EADDRINUSE: another loop of the process serves that name, or another
 * process, of any user, took it first: abstract names have no owner). */
CORIO_API int corio_debug_serve(const char *name, struct corio_server **out);

#ifdef __cplusplus
}
#endif
#endif
