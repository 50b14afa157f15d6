/* The task layer's objects, shared by the files of src/task/. */
#ifndef CORIO_TASK_INTERNAL_H
#define CORIO_TASK_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/compiler.h"
#include "core/str.h"
#include "corio/combine.h"
#include "corio/coro.h"
#include "corio/task.h"
#include "coro/running.h"
#include "loop/handle.h"
#include "task/wait.h"

enum future_state { FUTURE_PENDING, FUTURE_CANCELLED, FUTURE_FINISHED };

/* What differs between the kinds of future (plain, task, gather, shield,
 * and those of the layers above): future.c calls these and knows none of
 * the kinds. */
typedef struct corio__future_ops {
  const char *type_name; /* "Future", "Task": in reports */
  /* corio_future_set_result/_error may complete it. */
  uint8_t settable;
  /* Frees the object once its callbacks and message are gone. */
  void (*free)(corio_future *fut);
  /* corio_future_cancel: 1 if a cancellation was requested or done, 0 if
   * the future was done already. NULL: corio__future_cancel_plain. */
  int (*cancel)(corio_future *fut, const char *msg);
  /* A name for reports ("Task-3"), or NULL. */
  const char *(*describe)(corio_future *fut);
  /* For dumps: what a task awaiting it waits on ("task", "gather"; NULL:
   * "future"), a line about it into buf (may be NULL), and the futures
   * it waits for itself (a gather's children; may be NULL). */
  const char *wait_name;
  void (*detail)(corio_future *fut, char *buf, size_t len);
  void (*each_child)(corio_future *fut, corio__future_visit visit, void *arg);
} corio__future_ops;

typedef struct future_callback {
  corio_future_callback fn;
  void *arg;
} future_callback;

/* Fixed-size blocks from slabs (pool.c). */
typedef struct corio__pool {
  size_t block_size;
  struct free_block *free;
  struct pool_slab *slabs;
} corio__pool;

void *corio__pool_get(corio__pool *pool);
void corio__pool_put(corio__pool *pool, void *block);
void corio__pool_free_all(corio__pool *pool);

/* Idle worker coroutines a loop keeps (worker.c). */
#define CORIO__IDLE_WORKERS 64

/* Per-loop state (the loop's CORIO__LOOP_EXT_TASK slot). */
typedef struct task_loop_state {
  corio_loop *loop;
  /* All pending tasks in creation order, linked by pending_prev/next. */
  corio_task *pending, *pending_tail;
  size_t pending_count;
  size_t live; /* futures and tasks of this loop not yet freed */
  int closing;
  corio__pool futures, tasks;
  corio_coro *idle_workers[CORIO__IDLE_WORKERS];
  unsigned idle_workers_len;
  /* Task groups not yet freed, so a dump finds their children. */
  struct corio_taskgroup *groups;
  uint64_t groups_changed; /* bumped when a group joins or leaves groups */
  /* Debug mode: what the task whose step runs now resumed from. */
  const char *step_resumed_from;
} task_loop_state;

/* The layouts put what a step, a completion and an await touch in the
 * first cache lines: a million pending tasks are memory-bound. */
struct corio_future {
  /* Runs the done callbacks; for a task, also its steps (never both at
   * once: a task completes only inside a step). */
  corio__ready_node node;
  task_loop_state *ls;
  void *result; /* for a task: also where its body puts it */
  uint32_t refs;
  int error;
  uint8_t state;  /* enum future_state */
  uint8_t queued; /* node is in the ready queue */
  uint8_t error_unretrieved;
  /* Its outcome was read, awaited, or handed to a callback (a gather, a
   * group): debug mode reports a task freed without (dump.c). */
  uint8_t outcome_seen;
  uint32_t callbacks_len;
  const corio__future_ops *ops;
  future_callback first_callback; /* storage for the first, the usual case */
  future_callback *callbacks;
  uint32_t callbacks_cap;
  char *message; /* the error's or the cancellation's */
};

struct corio_context {
  struct context_map *map; /* immutable, shared; NULL when empty */
  uint64_t id;             /* tokens remember it */
  atomic_uint refs;        /* unused when embedded in a task or thread */
  uint32_t entered;        /* current in this many tasks/runs right now */
  uint8_t in_task;         /* a task's own context (corio_task.own_ctx) */
  uint8_t thread_base;     /* a thread's context outside tasks */
};

struct corio_task {
  corio_future fut;
  corio_task_fn fn;
  void *arg;
  corio_coro *coro;  /* from the first step until the body returns */
  corio__wait *wait; /* what the task is suspended in, if anything */
  corio_context *ctx;
  corio_task *pending_prev, *pending_next;
  uint32_t stack_size;
  int num_cancels;
  int body_rc;
  int wake_value; /* what the pending suspension returns */
  int fail_code;  /* the code corio_fail's message (in fut.message) is for */
  uint8_t must_cancel;
  uint8_t closing;        /* its coroutine is being closed with the loop */
  uint8_t passing_cancel; /* passing a cancellation to what it awaits */
  uint8_t detached;       /* spawned without a reference for the caller */
  uint8_t hook_off;       /* opted out of the hook layer (corio_hook_task_set) */
  char *name;             /* NULL: "Task-<id>", made on demand */
  char *cancel_message;
  uint64_t id;
  /* Where it was spawned: the return address of the spawn call. */
  const void *created_at;
  corio_context own_ctx;
};

/* loop_state.c */
task_loop_state *corio__task_loop_state(corio_loop *loop);
/* The state of loop (NULL: the current loop) for a new future or task:
 * CORIO_ENOLOOP, CORIO_ELOOPCLOSED (closed or closing), -ENOMEM. */
int corio__task_loop_state_for(corio_loop *loop, task_loop_state **out);

/* future.c */
/* The loop's pooled future blocks hold a future and two pointers: kinds
 * that need no more (shields, executor jobs) come from the pool too. */
#define CORIO__FUTURE_BLOCK (sizeof(corio_future) + 2 * sizeof(void *))
extern const corio__future_ops corio__plain_future_ops;
void corio__future_init(corio_future *fut, task_loop_state *ls,
                        const corio__future_ops *ops, corio_callback node_cb);
/* Creates a pending future with ops on loop (NULL: current), in size
 * bytes (at least a corio_future, zeroed; the kind's ops->free frees it
 * with corio__future_free_block). */
int corio__future_create(corio_loop *loop, const corio__future_ops *ops,
                         size_t size, corio_future **out);
void corio__future_free_block(corio_future *fut, size_t size);
/* Tells the loop's exception handler about fut (and its task, if it is
 * one): asyncio's context. */
void corio__report_future(corio_future *fut, const char *text, int error,
                          const char *error_message);
/* A plain future's cancellation: cancelled now, with msg. */
int corio__future_cancel_plain(corio_future *fut, const char *msg);
/* Completes a pending future: state, outcome, and its callbacks scheduled.
 * message is taken over. */
void corio__future_complete(corio_future *fut, enum future_state state,
                            void *result, int error, char *message);
void corio__future_retain(corio_future *fut);
void corio__future_release(corio_future *fut);
/* After a wait on fut that held a reference: the wait's error, else fut's
 * outcome; the reference goes. */
int corio__future_outcome_release(corio_future *fut, int wait_rc,
                                  void **result);
/* Adds an awaiting task's callback (never fails for the first one). */
int corio__future_add_callback(corio_future *fut, corio_future_callback fn,
                               void *arg);
int corio__future_remove_callback(corio_future *fut, corio_future_callback fn,
                                  void *arg);
/* Every registration of (fn, arg) becomes (new_fn, new_arg), in place
 * (scheduled ones too): needs no memory. */
void corio__future_replace_callback(corio_future *fut, corio_future_callback fn,
                                    void *arg, corio_future_callback new_fn,
                                    void *new_arg);
/* The loop gave back h at close: if it is a late done callback, it is
 * freed (1); else 0. */
int corio__late_callback_drop(corio_handle *h);
void corio__loop_state_unlive(task_loop_state *ls);

/* task.c */
extern const corio__future_ops corio__task_ops;
/* corio_spawn_ex, with the creation site to remember (the return address
 * of the public call the user made). */
int corio__spawn_at(corio_task **out, corio_task_fn fn, void *arg,
                    const corio_spawn_options *opts, const void *site);
/* Passes t's cancellation request on to the future it awaits (1 if that
 * took it); a cycle of awaiting tasks comes back as t taking it itself. */
int corio__task_pass_cancel(corio_task *t, corio_future *awaited);
/* As corio_fail in t's body: message (taken over) goes with code if the
 * body returns code. */
void corio__task_set_fail(corio_task *t, int code, char *message);
/* Runs one step of a suspended or unstarted task with its wake value. */
void corio__task_step(corio_task *task);
/* Queues the task's next step (its node must be free). */
void corio__task_schedule(corio_task *task);
void corio__task_close_all(task_loop_state *ls);

/* taskgroup.c, for dumps: a group's owner, its children not done, and
 * the next group of the loop's list. */
corio_task *corio__taskgroup_owner(const corio_taskgroup *g);
void corio__taskgroup_each_child(corio_taskgroup *g, corio__future_visit visit,
                                 void *arg);
corio_taskgroup *corio__taskgroup_next(const corio_taskgroup *g);

/* Whether cb is a task's step (its arg is the task). */
int corio__task_is_step(corio_callback cb);

/* debug.c */
/* Debug mode: t is freed with a result nobody read; the loop's exception
 * handler is told, with where t was spawned. */
void corio__task_report_never_awaited(corio_task *t);
/* The loop's slow-callback hooks (see loop/ext.h). */
void *corio__task_callback_begin(corio_loop *loop, void *data,
                                 corio_callback cb, void *arg);
void corio__task_callback_end(corio_loop *loop, void *data, void *token,
                              char *buf, size_t len);

/* worker.c */
/* What a worker yields when the body has returned. */
extern void *const corio__worker_done;
/* Gives t a worker coroutine (t->coro) that will run it when resumed with
 * t as the value. */
int corio__worker_take(corio_task *t);
/* t's body has returned: its worker waits for another task or goes. */
void corio__worker_give_back(corio_task *t);
void corio__workers_close(task_loop_state *ls);

/* context.c */
/* A task's own context, a copy of from (NULL: the thread's own). */
void corio__context_init_own(corio_context *ctx, const corio_context *from);
void corio__context_release_own(corio_context *ctx);

/* The thread's current context, NULL standing for the thread's own; and
 * the running task. Reached on every step, hence inline. */
extern corio__thread_local corio_context *corio__current_ctx;
extern corio__thread_local corio_task *corio__current_task;

/* Where corio_fail leaves its message outside a task: set by the thread
 * layer around a job it runs on a pool thread. */
typedef struct corio__fail_sink {
  int code;
  char *message;
} corio__fail_sink;
extern corio__thread_local corio__fail_sink *corio__fail_sink_current;

static inline corio_context *corio__context_enter(corio_context *ctx) {
  corio_context *prev = corio__current_ctx;

  corio__current_ctx = ctx;
  ctx->entered++;
  return prev;
}

static inline void corio__context_leave(corio_context *ctx,
                                        corio_context *prev) {
  ctx->entered--;
  corio__current_ctx = prev;
}

/* The running task, if the caller runs on its own coroutine: a coroutine
 * the body resumed itself cannot suspend the task. */
static inline corio_task *corio__task_self(void) {
  corio_task *t = corio__current_task;

  return t && t->coro == corio__coro_running ? t : NULL;
}

#endif
