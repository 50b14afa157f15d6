/* Task groups, as asyncio.TaskGroup: the first child failure aborts the
 * group (every other child is cancelled) and cancels the owner once, a
 * request that close withdraws again, so the owner's own cancellation is
 * told apart from the one the group caused. */
#include <errno.h>
#include <stdio.h>

#include "core/alloc.h"
#include "corio/combine.h"
#include "task/task_internal.h"

struct corio_taskgroup {
  task_loop_state *ls;
  corio_task *owner;
  corio_task **children; /* references, in spawn order */
  size_t len, cap;
  corio_task **failed; /* children with an error, in the order they failed
                          (borrowed from children) */
  size_t failed_len, failed_cap;
  size_t running;      /* children not done */
  corio__wait *closer; /* close waiting for the children */
  int body_error;      /* how the body ended, if an error of its own */
  uint8_t exiting, aborting, parent_cancel_requested, closed;
  /* In the loop's list of groups (ls->groups), for dumps. */
  corio_taskgroup *prev, *next;
};

void corio__taskgroup_each_child(corio_taskgroup *g, corio__future_visit visit,
                                 void *arg) {
  for (size_t i = 0; i < g->len; i++)
    if (!corio_task_done(g->children[i]))
      visit(&g->children[i]->fut, arg);
}

corio_task *corio__taskgroup_owner(const corio_taskgroup *g) {
  return g->owner;
}

corio_taskgroup *corio__taskgroup_next(const corio_taskgroup *g) {
  return g->next;
}

static void describe_group(const void *object, char *buf, size_t len) {
  const corio_taskgroup *g = object;

  snprintf(buf, len, "%zu of %zu children running%s", g->running, g->len,
           g->aborting ? ", aborting" : "");
}

static void each_running_child(const void *object, corio__future_visit visit,
                               void *arg) {
  corio__taskgroup_each_child((corio_taskgroup *)(uintptr_t)object, visit, arg);
}

static const corio__wait_kind taskgroup_kind = {.name = "taskgroup",
                                                .describe = describe_group,
                                                .each_awaited =
                                                    each_running_child};

int corio_taskgroup_open(corio_taskgroup **out) {
  corio_task *self = corio__task_self();
  corio_taskgroup *g;

  if (!out)
    return -EINVAL;
  if (!self)
    return CORIO_ENOTASK;
  g = corio__calloc(sizeof *g);
  if (!g)
    return -ENOMEM;
  g->ls = self->fut.ls;
  g->owner = corio_task_ref(self);
  g->next = g->ls->groups;
  if (g->next)
    g->next->prev = g;
  g->ls->groups = g;
  g->ls->groups_changed++;
  *out = g;
  return 0;
}

static void abort_group(corio_taskgroup *g) {
  g->aborting = 1;
  for (size_t i = 0; i < g->len; i++)
    if (!corio_task_done(g->children[i]))
      (void)corio_task_cancel(g->children[i], NULL);
}

static void child_done(corio_future *f, void *arg) {
  corio_taskgroup *g = arg;

  g->running--;
  f->outcome_seen = 1; /* the group reads it (an eager child's too) */
  if (f->state == FUTURE_FINISHED && f->error != 0) {
    f->error_unretrieved = 0;                     /* the group reports it */
    g->failed[g->failed_len++] = (corio_task *)f; /* room: reserve_child */
    if (corio_task_done(g->owner)) {
      corio__report_future(f,
                           "a task group child failed after its owner "
                           "finished",
                           f->error, f->message);
    } else if (!g->aborting && !g->parent_cancel_requested) {
      abort_group(g);
      g->parent_cancel_requested = 1;
      (void)corio_task_cancel(g->owner, NULL);
    }
  }
  /* Last: woken at once, the owner may close and free the group. */
  if (g->running == 0 && g->closer)
    corio__wait_wake(g->closer, 0, 1);
}

/* Room for one more child, and for it in the failed list. */
static int reserve_child(corio_taskgroup *g) {
  int rc = 0;

  if (g->len == g->cap)
    rc = corio__grow_array((void **)&g->children, &g->cap, sizeof *g->children,
                           g->len + 1, 16);
  if (rc == 0 && g->len == g->failed_cap)
    rc = corio__grow_array((void **)&g->failed, &g->failed_cap,
                           sizeof *g->failed, g->len + 1, 16);
  return rc;
}

/* site: where the user called, the children's creation site. */
static int spawn_child(corio_taskgroup *g, corio_task **out, corio_task_fn fn,
                       void *arg, const corio_spawn_options *opts,
                       const void *site) {
  corio_spawn_options o = opts ? *opts : (corio_spawn_options){0};
  corio_task *t;
  int rc;

  if (!g || !fn)
    return -EINVAL;
  /* asyncio's order of checks. */
  if (g->closed || (g->exiting && g->running == 0))
    return CORIO_ETASKGROUPFINISHED;
  if (g->aborting)
    return CORIO_ETASKGROUPSHUTDOWN;
  rc = reserve_child(g);
  if (rc < 0)
    return rc;
  o.loop = g->ls->loop;
  rc = corio__spawn_at(&t, fn, arg, &o, site);
  if (rc < 0)
    return rc;
  /* An eager child ran its first step inside the spawn: it may have added
   * children of its own (room again) or made the group fail. */
  rc = reserve_child(g);
  if (rc == 0 && !corio_task_done(t))
    rc = corio__future_add_callback(&t->fut, child_done, g);
  if (rc < 0) {
    (void)corio_task_cancel(t, NULL);
    corio_task_unref(t);
    return rc;
  }
  g->children[g->len++] = t;
  g->running++;
  if (corio_task_done(t))
    child_done(&t->fut, g); /* eager and finished already */
  else if (g->aborting)
    (void)corio_task_cancel(t, NULL);
  if (out)
    *out = corio_task_ref(t);
  return 0;
}

int corio_taskgroup_spawn_ex(corio_taskgroup *g, corio_task **out,
                             corio_task_fn fn, void *arg,
                             const corio_spawn_options *opts) {
  return spawn_child(g, out, fn, arg, opts, __builtin_return_address(0));
}

int corio_taskgroup_spawn(corio_taskgroup *g, corio_task **out,
                          corio_task_fn fn, void *arg) {
  return spawn_child(g, out, fn, arg, NULL, __builtin_return_address(0));
}

/* Children that ended with an error of their own. */
static size_t child_errors(const corio_taskgroup *g) { return g->failed_len; }

int corio_taskgroup_close(corio_taskgroup *g, int body_rc) {
  corio_task *self = corio__task_self();
  int propagate_cancel, closing = 0;
  size_t failed;

  if (!g)
    return -EINVAL;
  if (g->closed || g->exiting || self != g->owner)
    return CORIO_EINVALSTATE;
  g->exiting = 1;
  propagate_cancel = body_rc == -ECANCELED;
  if (body_rc < 0 && !g->aborting)
    abort_group(g); /* the body failed, or its task is cancelled */
  while (g->running > 0) {
    corio__wait w = {.detach = corio__wait_no_detach,
                     .task = self,
                     .kind = &taskgroup_kind,
                     .object = g};
    int rc;

    g->closer = &w;
    rc = corio__wait_suspend(&w);
    g->closer = NULL;
    if (rc == -ECANCELED && !g->aborting) {
      /* The owner is cancelled from outside while children run. */
      propagate_cancel = 1;
      abort_group(g);
    } else if (rc == CORIO_ECLOSED) {
      closing = 1; /* the loop is closing: the children will not finish */
      break;
    }
  }
  g->closed = 1;
  /* Withdrawn only now: a child may have failed while close waited. */
  if (g->parent_cancel_requested && corio_task_uncancel(g->owner) == 0)
    propagate_cancel = 0; /* the only request was the group's */
  failed = child_errors(g);
  if (closing && !failed)
    return CORIO_ECLOSED;
  if (propagate_cancel && !failed)
    return -ECANCELED;
  if (body_rc < 0 && body_rc != -ECANCELED)
    g->body_error = body_rc;
  if (!failed && !g->body_error)
    return 0;
  if (g->owner->num_cancels > 0)
    g->owner->must_cancel = 1; /* an outside request survives the errors */
  return CORIO_ETASKGROUP;
}

size_t corio_taskgroup_error_count(const corio_taskgroup *g) {
  return g && g->closed ? child_errors(g) + (g->body_error ? 1 : 0) : 0;
}

int corio_taskgroup_error(const corio_taskgroup *g, size_t i,
                          corio_task **task) {
  if (!g || !g->closed)
    return -EINVAL;
  if (i < g->failed_len) {
    if (task)
      *task = g->failed[i];
    return g->failed[i]->fut.error;
  }
  if (i == g->failed_len && g->body_error) {
    if (task)
      *task = NULL;
    return g->body_error;
  }
  return -EINVAL;
}

int corio_taskgroup_free(corio_taskgroup *g) {
  if (!g)
    return 0;
  if (!g->closed)
    return -EBUSY;
  for (size_t i = 0; i < g->len; i++)
    corio_task_unref(g->children[i]);
  corio__free(g->children, g->cap * sizeof *g->children);
  corio__free(g->failed, g->failed_cap * sizeof *g->failed);
  if (g->prev)
    g->prev->next = g->next;
  else
    g->ls->groups = g->next;
  if (g->next)
    g->next->prev = g->prev;
  g->ls->groups_changed++;
  corio_task_unref(g->owner);
  corio__free(g, sizeof *g);
  return 0;
}
