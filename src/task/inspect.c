/* A loop's tasks seen from outside: state, what each waits on, which tasks
 * it waits for, where it was spawned, and its stack (corio_visit_tasks and
 * the reports built on it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "coro/backtrace.h"
#include "coro/symbol.h"
#include "loop/ext.h"
#include "task/inspect.h"

/* Names are costly to find (libunwind reads the symbol tables) and tasks
 * share their code: each address is named once per snapshot. */
enum { SYMBOL_SLOTS = 1024 };

/* An entry of a task's awaited list with its place (dedupe_awaiting). */
struct awaited_slot {
  corio_task *task;
  size_t index;
};

typedef struct cached_symbol {
  uintptr_t pc;
  uint8_t used, return_address;
  corio__symbol sym;
} cached_symbol;

struct corio__inspector {
  corio_loop *loop;
  task_loop_state *ls; /* NULL: the loop never had a task */
  unsigned flags;
  uintptr_t caller_pc;
  corio_task **tasks; /* references */
  size_t n, cap;
  cached_symbol *symbols; /* SYMBOL_SLOTS, made on first use */
  size_t symbols_used;
  int symbols_failed;
  /* The loop's groups by owner (index_groups). */
  struct owned_group {
    corio_task *owner;
    corio_taskgroup *group;
    size_t order; /* in the loop's list, kept among one owner's groups */
  } * groups;
  size_t n_groups, groups_cap;
  uint64_t groups_version;
  int groups_indexed;
  /* The last info's storage. */
  corio_task **awaiting;
  size_t n_awaiting, awaiting_cap;
  struct awaited_slot *sorted; /* dedupe_awaiting's scratch */
  size_t sorted_cap;
  int awaiting_failed;
  corio__frame raw[CORIO_DEBUG_MAX_FRAMES];
  corio_frame_info frames[CORIO_DEBUG_MAX_FRAMES];
  corio__symbol uncached[CORIO_DEBUG_MAX_FRAMES];
  char wait_detail[256], where[256], created_at[256], body[160];
};

/* ---- the snapshot -------------------------------------------------------- */

int corio__inspect_open(corio_loop *loop, unsigned flags, const void *caller_pc,
                        corio__inspector **out) {
  corio__inspector *in;
  task_loop_state *ls;

  if (!out)
    return -EINVAL;
  if (!loop)
    loop = corio_loop_current();
  if (!loop)
    return CORIO_ENOLOOP;
  /* Tasks and their stacks belong to the loop's thread. */
  if (corio_loop_is_running(loop) && corio_loop_running() != loop)
    return CORIO_ETHREAD;
  in = corio__calloc(sizeof *in);
  if (!in)
    return -ENOMEM;
  in->loop = loop;
  in->flags = flags;
  in->caller_pc = (uintptr_t)caller_pc;
  ls = corio__loop_ext_get(loop, CORIO__LOOP_EXT_TASK);
  in->ls = ls;
  if (ls && ls->pending_count > 0) {
    in->tasks = corio__alloc(ls->pending_count * sizeof *in->tasks);
    if (!in->tasks) {
      corio__free(in, sizeof *in);
      return -ENOMEM;
    }
    in->cap = ls->pending_count;
    for (corio_task *t = ls->pending; t && in->n < in->cap;
         t = t->pending_next) {
      corio__future_retain(&t->fut);
      in->tasks[in->n++] = t;
    }
  }
  *out = in;
  return 0;
}

void corio__inspect_close(corio__inspector *in) {
  if (!in)
    return;
  for (size_t i = 0; i < in->n; i++)
    corio__future_release(&in->tasks[i]->fut);
  corio__free(in->tasks, in->cap * sizeof *in->tasks);
  corio__free(in->symbols, SYMBOL_SLOTS * sizeof *in->symbols);
  corio__free(in->awaiting, in->awaiting_cap * sizeof *in->awaiting);
  corio__free(in->sorted, in->sorted_cap * sizeof *in->sorted);
  corio__free(in->groups, in->groups_cap * sizeof *in->groups);
  corio__free(in, sizeof *in);
}

size_t corio__inspect_count(const corio__inspector *in) { return in->n; }

corio_loop *corio__inspect_loop(const corio__inspector *in) { return in->loop; }

void corio__inspect_set_flags(corio__inspector *in, unsigned flags) {
  in->flags = flags;
}

corio_task *corio__inspect_task(const corio__inspector *in, size_t i) {
  return in->tasks[i];
}

/* ---- names --------------------------------------------------------------- */

static const corio__symbol *lookup_symbol(corio__inspector *in, uintptr_t pc,
                                          int return_address,
                                          corio__symbol *scratch) {
  if (!in->symbols && !in->symbols_failed) {
    in->symbols = corio__calloc(SYMBOL_SLOTS * sizeof *in->symbols);
    in->symbols_failed = !in->symbols;
  }
  if (in->symbols) {
    size_t h = (size_t)((pc * UINT64_C(0x9E3779B97F4A7C15)) >> 40);

    for (size_t probe = 0; probe < SYMBOL_SLOTS; probe++) {
      cached_symbol *c = &in->symbols[(h + probe) % SYMBOL_SLOTS];

      if (c->used && c->pc == pc && c->return_address == return_address)
        return &c->sym;
      if (c->used)
        continue;
      /* Kept three quarters full at most, so probes stay short. */
      if (in->symbols_used >= SYMBOL_SLOTS / 4 * 3)
        break;
      c->used = 1;
      c->pc = pc;
      c->return_address = (uint8_t)return_address;
      (void)corio__symbolize(pc, return_address, &c->sym);
      in->symbols_used++;
      return &c->sym;
    }
  }
  (void)corio__symbolize(pc, return_address, scratch);
  return scratch;
}

char *corio__inspect_symbol(corio__inspector *in, uintptr_t pc,
                            int return_address, char *buf, size_t len) {
  corio__symbol scratch;

  corio__symbol_describe(lookup_symbol(in, pc, return_address, &scratch), pc,
                         buf, len);
  return buf;
}

/* ---- where a task is ----------------------------------------------------- */

/* "fetch (prog, a tail call)": the body, for a task whose body ended with
 * a call into corio, which compilers make a jump (no frame of its own). */
static void format_tail_call(const corio__symbol *body, char *buf, size_t len) {
  if (body->name[0])
    snprintf(buf, len, "%s (%s%sa tail call)", body->name,
             body->object ? corio__symbol_file(body->object) : "",
             body->object ? ", " : "");
  else
    snprintf(buf, len, "its body (a tail call)");
}

/* corio's own frames: its API and internals, and the two that start every
 * task's stack (the worker running bodies, and a coroutine's entry). */
static int is_corio_function(const char *name) {
  return strncmp(name, "corio_", 6) == 0 || strcmp(name, "worker_main") == 0 ||
         strcmp(name, "coro_main") == 0;
}

/* The innermost frame outside corio: past the frames at and inside the
 * one whose locals hold the wait record (wait_at; 0 for none), then past
 * corio's own functions (corio_future_await called by corio_task_await
 * called by the user...). n when there is none. */
static size_t first_outside_corio(const corio__frame *raw,
                                  const corio__symbol *const *syms, size_t n,
                                  uintptr_t wait_at) {
  size_t i = 0;

  if (wait_at) {
    while (i < n && raw[i].cfa && raw[i].cfa <= wait_at)
      i++;
    if (i < n && raw[i].cfa)
      i++; /* the frame holding the wait */
  }
  while (i < n && is_corio_function(syms[i]->name))
    i++;
  return i;
}

void corio__task_where(corio_task *t, char *buf, size_t len) {
  corio__frame raw[CORIO_DEBUG_MAX_FRAMES];
  corio__symbol syms[CORIO_DEBUG_MAX_FRAMES];
  const corio__symbol *named[CORIO_DEBUG_MAX_FRAMES];
  int n = t->coro ? corio__coro_backtrace(t->coro, CORIO__UNWIND_AUTO, raw,
                                          CORIO_DEBUG_MAX_FRAMES)
                  : 0;
  size_t i;

  if (len > 0)
    buf[0] = 0;
  if (n <= 0)
    return;
  for (int k = 0; k < n; k++) {
    (void)corio__symbolize(raw[k].pc, 1, &syms[k]);
    named[k] = &syms[k];
  }
  i = first_outside_corio(raw, named, (size_t)n, (uintptr_t)t->wait);
  if (i < (size_t)n) {
    corio__symbol_describe(&syms[i], raw[i].pc, buf, len);
  } else {
    (void)corio__symbolize((uintptr_t)t->fn, 0, &syms[0]);
    format_tail_call(&syms[0], buf, len);
  }
}

/* ---- one task ------------------------------------------------------------ */

static corio_task_state state_of(const corio_task *t) {
  if (t->fut.state != FUTURE_PENDING)
    return CORIO_TASK_DONE;
  if (!t->coro)
    return CORIO_TASK_NOT_STARTED;
  /* Suspended tasks always have a wait; without one, its step runs. */
  if (!t->wait)
    return CORIO_TASK_RUNNING;
  if (t->wait->woken || t->fut.queued)
    return CORIO_TASK_READY;
  return CORIO_TASK_WAITING;
}

static const char *const state_names[] = {"running", "ready", "waiting",
                                          "not started", "done"};

static void where_in_body(corio__inspector *in, corio_task *t) {
  corio__symbol scratch;

  format_tail_call(lookup_symbol(in, (uintptr_t)t->fn, 0, &scratch), in->where,
                   sizeof in->where);
}

/* The frames of t's stack; a running task's from where the user called. */
static void fill_frames(corio__inspector *in, corio_task *t,
                        corio_task_info *info) {
  const corio__symbol *syms[CORIO_DEBUG_MAX_FRAMES];
  int got = corio__coro_backtrace(t->coro, CORIO__UNWIND_AUTO, in->raw,
                                  CORIO_DEBUG_MAX_FRAMES);
  size_t n, first = 0, i;

  if (got <= 0)
    return;
  n = (size_t)got;
  if (!t->wait && in->caller_pc) {
    for (i = 0; i < n; i++)
      if (in->raw[i].pc == in->caller_pc)
        break;
    first = i < n ? i : 0;
    n -= first;
    memmove(in->raw, in->raw + first, n * sizeof *in->raw);
  }
  for (i = 0; i < n; i++) {
    uintptr_t pc = in->raw[i].pc;

    syms[i] = lookup_symbol(in, pc, 1, &in->uncached[i]);
    in->frames[i] =
        (corio_frame_info){.pc = (const void *)pc,
                           .function = syms[i]->name[0] ? syms[i]->name : NULL,
                           .offset = syms[i]->offset,
                           .object = syms[i]->object};
  }
  info->frames = in->frames;
  info->n_frames = n;
  i = first_outside_corio(in->raw, syms, n, (uintptr_t)t->wait);
  if (i < n) {
    corio__symbol_describe(syms[i], in->raw[i].pc, in->where, sizeof in->where);
    info->where = in->where;
  } else if (t->wait) {
    /* The body's own frame is gone: it called corio as a tail call. */
    where_in_body(in, t);
    info->where = in->where;
  }
}

/* ---- the tasks it waits for ---------------------------------------------- */

/* The loop's groups by owner, made once per snapshot (again only if a
 * group opened or was freed meanwhile, while a visitor suspended): finding
 * a task's groups is a binary search, not a walk over every group. */
static int by_owner(const void *a, const void *b) {
  const struct owned_group *x = a, *y = b;

  if (x->owner != y->owner)
    return (uintptr_t)x->owner < (uintptr_t)y->owner ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static int index_groups(corio__inspector *in) {
  size_t n = 0;

  if (in->groups_indexed && in->groups_version == in->ls->groups_changed)
    return 0;
  in->n_groups = 0;
  for (corio_taskgroup *g = in->ls->groups; g; g = corio__taskgroup_next(g))
    n++;
  if (n > in->groups_cap &&
      corio__grow_array((void **)&in->groups, &in->groups_cap,
                        sizeof *in->groups, n, 8) < 0)
    return -ENOMEM;
  for (corio_taskgroup *g = in->ls->groups; g; g = corio__taskgroup_next(g)) {
    in->groups[in->n_groups] = (struct owned_group){
        .owner = corio__taskgroup_owner(g), .group = g, .order = in->n_groups};
    in->n_groups++;
  }
  qsort(in->groups, in->n_groups, sizeof *in->groups, by_owner);
  in->groups_indexed = 1;
  in->groups_version = in->ls->groups_changed;
  return 0;
}

struct edge_walk {
  corio__inspector *in;
  int depth;
};

static void add_awaited(struct edge_walk *e, corio_task *t) {
  corio__inspector *in = e->in;

  if (in->n_awaiting == in->awaiting_cap &&
      corio__grow_array((void **)&in->awaiting, &in->awaiting_cap,
                        sizeof *in->awaiting, in->n_awaiting + 1, 8) < 0) {
    in->awaiting_failed = 1;
    return;
  }
  in->awaiting[in->n_awaiting++] = t;
}

static int by_task_then_index(const void *a, const void *b) {
  const struct awaited_slot *x = a, *y = b;

  if (x->task != y->task)
    return (uintptr_t)x->task < (uintptr_t)y->task ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Each task once (a task that two of a gather's arguments name, a group's
 * child that it also awaits), in the order first seen: sorted copies find
 * the repeats in n log n, with nothing kept in the tasks themselves. */
static void dedupe_awaiting(corio__inspector *in) {
  size_t n = in->n_awaiting, kept = 0;

  if (n < 2)
    return;
  if (n > in->sorted_cap &&
      corio__grow_array((void **)&in->sorted, &in->sorted_cap,
                        sizeof *in->sorted, n, 8) < 0) {
    in->awaiting_failed = 1; /* the list stays, repeats and all */
    return;
  }
  for (size_t i = 0; i < n; i++)
    in->sorted[i] = (struct awaited_slot){in->awaiting[i], i};
  qsort(in->sorted, n, sizeof *in->sorted, by_task_then_index);
  /* A repeat is marked by clearing its entry; the first stays. */
  for (size_t i = 1; i < n; i++)
    if (in->sorted[i].task == in->sorted[i - 1].task)
      in->awaiting[in->sorted[i].index] = NULL;
  for (size_t i = 0; i < n; i++)
    if (in->awaiting[i])
      in->awaiting[kept++] = in->awaiting[i];
  in->n_awaiting = kept;
}

/* A task is an edge; a gather or a shield leads to its own futures. */
static void visit_future(corio_future *f, void *arg) {
  struct edge_walk *e = arg;
  corio_task *t = corio_future_task(f);

  if (f->state != FUTURE_PENDING)
    return;
  if (t) {
    add_awaited(e, t);
  } else if (f->ops->each_child && e->depth < 8) {
    e->depth++;
    f->ops->each_child(f, visit_future, e);
    e->depth--;
  }
}

/* The groups owned by t, from the snapshot's index (sorted by owner). */
static void each_owned_group_child(corio__inspector *in, corio_task *t,
                                   struct edge_walk *e) {
  size_t lo = 0, hi = in->n_groups;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if ((uintptr_t)in->groups[mid].owner < (uintptr_t)t)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < in->n_groups && in->groups[lo].owner == t; lo++)
    corio__taskgroup_each_child(in->groups[lo].group, visit_future, e);
}

static void collect_awaited(corio__inspector *in, corio_task *t,
                            corio_task_state state) {
  struct edge_walk e = {.in = in};
  corio__wait *w = t->wait;

  in->n_awaiting = 0;
  in->awaiting_failed = 0;
  if (!in->ls)
    return;
  if (state == CORIO_TASK_WAITING && w->kind && w->kind->each_awaited)
    w->kind->each_awaited(w->object, visit_future, &e);
  /* A group's children belong under their owner whatever it does now
   * (Python 3.14's pstree does the same). */
  if (in->ls->groups) {
    if (index_groups(in) < 0)
      in->awaiting_failed = 1;
    else
      each_owned_group_child(in, t, &e);
  }
  dedupe_awaiting(in);
}

int corio__inspect_awaited(corio__inspector *in, size_t i,
                           corio_task *const **awaiting, size_t *n) {
  corio_task *t = in->tasks[i];

  collect_awaited(in, t, state_of(t));
  *awaiting = in->awaiting;
  *n = in->n_awaiting;
  return in->awaiting_failed ? -ENOMEM : 0;
}

static void describe_wait(corio__inspector *in, corio_task *t,
                          corio_task_info *info) {
  const corio__wait *w = t->wait;

  if (!w->kind) {
    info->wait_kind = "unknown";
    return;
  }
  info->wait_kind =
      w->kind->name_of ? w->kind->name_of(w->object) : w->kind->name;
  if (w->kind->describe)
    w->kind->describe(w->object, in->wait_detail, sizeof in->wait_detail);
}

int corio__inspect_info(corio__inspector *in, size_t i, corio_task_info *info) {
  corio_task *t = in->tasks[i];
  corio_task_state state = state_of(t);
  corio__symbol scratch;
  const corio__symbol *body;

  memset(info, 0, sizeof *info);
  in->wait_detail[0] = in->where[0] = in->created_at[0] = 0;
  info->task = t;
  info->id = t->id;
  info->name = corio_task_name(t);
  info->state = state;
  info->state_name = state_names[state];
  info->wait_detail = in->wait_detail;
  if (state == CORIO_TASK_WAITING)
    describe_wait(in, t, info);
  collect_awaited(in, t, state);
  info->awaiting = in->awaiting;
  info->n_awaiting = in->n_awaiting;
  info->cancelling = t->num_cancels;
  info->cancel_pending = t->must_cancel || (t->wait && t->wait->woken &&
                                            t->wait->value == -ECANCELED);
  info->body = (const void *)(uintptr_t)t->fn;
  body = lookup_symbol(in, (uintptr_t)t->fn, 0, &scratch);
  if (body->name[0]) {
    snprintf(in->body, sizeof in->body, "%s", body->name);
    info->body_name = in->body;
  }
  info->created_at = t->created_at;
  if (t->created_at) {
    corio__inspect_symbol(in, (uintptr_t)t->created_at, 1, in->created_at,
                          sizeof in->created_at);
    info->created_at_name = in->created_at;
  }
  if ((in->flags & CORIO_VISIT_BACKTRACES) && t->coro &&
      state != CORIO_TASK_DONE)
    fill_frames(in, t, info);
  return in->awaiting_failed ? -ENOMEM : 0;
}

/* ---- the public visitor -------------------------------------------------- */

int corio_visit_tasks(corio_loop *loop, unsigned flags,
                      corio_task_visitor visit, void *arg) {
  corio__inspector *in;
  int rc;

  if (!visit)
    return -EINVAL;
  rc = corio__inspect_open(loop, flags, __builtin_return_address(0), &in);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < in->n && rc == 0; i++) {
    corio_task_info info;

    (void)corio__inspect_info(in, i, &info);
    rc = visit(&info, arg);
  }
  corio__inspect_close(in);
  return rc;
}

int corio_task_backtrace(corio_task *task, void **pcs, size_t cap) {
  corio__frame raw[CORIO_DEBUG_MAX_FRAMES];
  int n;

  if (!task || (!pcs && cap > 0))
    return -EINVAL;
  if (!task->coro || task->fut.state != FUTURE_PENDING)
    return CORIO_EDEAD;
  if (cap > CORIO_DEBUG_MAX_FRAMES)
    cap = CORIO_DEBUG_MAX_FRAMES;
  n = corio__coro_backtrace(task->coro, CORIO__UNWIND_AUTO, raw, cap);
  for (int i = 0; i < n; i++)
    pcs[i] = (void *)raw[i].pc;
  return n;
}

char *corio_debug_symbol(const void *pc, char *buf, size_t len) {
  if (!buf)
    return NULL;
  return corio__symbol_format((uintptr_t)pc, 0, buf, len);
}
