/* gather: a future over children, as asyncio's _GatheringFuture. It holds
 * its children; each child's done callback records the child's outcome in
 * the gather. The callbacks hold nothing: a gather freed early withdraws
 * them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "corio/combine.h"
#include "task/task_internal.h"

struct gather_future;

/* What a child's done callback is given: its gather and its position. */
typedef struct gather_slot {
  struct gather_future *g;
  size_t index;
} gather_slot;

typedef struct gather_future {
  corio_future fut; /* first: the gather is a future */
  size_t n, done;
  unsigned flags;
  int cancel_requested;
  corio_future **children; /* references */
  corio_outcome *outcomes;
  gather_slot *slots;
} gather_future;

static gather_future *as_gather(corio_future *f) {
  return (gather_future *)(void *)f;
}

static size_t gather_bytes(size_t n) {
  return sizeof(gather_future) +
         n * (sizeof(corio_future *) + sizeof(corio_outcome) +
              sizeof(gather_slot));
}

/* A child is done: its outcome is recorded (its error counts as read),
 * and the gather finishes at the first error (without
 * RETURN_EXCEPTIONS) or when every child is done. */
static void child_done(corio_future *child, void *arg) {
  gather_slot *slot = arg;
  gather_future *g = slot->g;
  corio_outcome *o = &g->outcomes[slot->index];
  int error;

  error = corio_future_result(child, &o->result);
  o->error = error;
  g->done++;
  if (g->fut.state != FUTURE_PENDING)
    return;
  /* A cancelled gather waits for every child, then ends cancelled. */
  if (error < 0 && !(g->flags & CORIO_GATHER_RETURN_EXCEPTIONS) &&
      !g->cancel_requested) {
    corio__future_complete(&g->fut, FUTURE_FINISHED, NULL, error,
                           corio__strdup(corio_future_message(child)));
    return;
  }
  if (g->done < g->n)
    return;
  if (g->cancel_requested)
    corio__future_complete(&g->fut, FUTURE_CANCELLED, NULL, -ECANCELED, NULL);
  else
    corio__future_complete(&g->fut, FUTURE_FINISHED, NULL, 0, NULL);
}

/* A child that finishes after its gather was freed: its error counts as
 * read, as asyncio's gather reads it (no "never retrieved" report). */
static void late_child_done(corio_future *child, void *arg) {
  (void)arg;
  if (!corio_future_cancelled(child))
    (void)corio_future_error(child);
}

static void gather_free(corio_future *f) {
  gather_future *g = as_gather(f);

  for (size_t i = 0; i < g->n; i++) {
    if (!g->children[i])
      continue;
    /* In place: needs no memory, and keeps the child's callback order. */
    corio__future_replace_callback(g->children[i], child_done, &g->slots[i],
                                   late_child_done, NULL);
    corio_future_unref(g->children[i]);
  }
  corio__free(g, gather_bytes(g->n));
}

static int gather_cancel(corio_future *f, const char *msg) {
  gather_future *g = as_gather(f);
  char *copy;
  int any = 0;

  if (f->state != FUTURE_PENDING)
    return 0;
  /* A copy: msg may be a child's own message, replaced as it is
   * cancelled (without it if out of memory). */
  copy = corio__strdup(msg);
  for (size_t i = 0; i < g->n; i++)
    if (corio_future_cancel(g->children[i], copy) == 1)
      any = 1;
  corio__strfree(copy);
  if (any)
    g->cancel_requested = 1;
  return any;
}

static void gather_detail(corio_future *f, char *buf, size_t len) {
  const gather_future *g = as_gather(f);

  snprintf(buf, len, "%zu children, %zu done", g->n, g->done);
}

static void gather_each_child(corio_future *f, corio__future_visit visit,
                              void *arg) {
  gather_future *g = as_gather(f);

  for (size_t i = 0; i < g->n; i++)
    if (g->children[i] && !corio_future_done(g->children[i]))
      visit(g->children[i], arg);
}

static const corio__future_ops gather_ops = {.type_name = "Future",
                                             .free = gather_free,
                                             .cancel = gather_cancel,
                                             .wait_name = "gather",
                                             .detail = gather_detail,
                                             .each_child = gather_each_child};

/* The loop all children share (futures of one loop only); the calling
 * task cannot be one of them. */
static int common_loop(const corio_awaitable *children, size_t n,
                       corio_loop **loop) {
  corio_task *self = corio__current_task;

  *loop = NULL;
  for (size_t i = 0; i < n; i++) {
    corio_loop *l;
    if (self && children[i].future == &self->fut)
      return -EDEADLK; /* a task cannot wait for itself */
    if (children[i].future)
      l = corio_future_loop(children[i].future);
    else if (children[i].fn)
      continue;
    else
      return -EINVAL;
    if (*loop && *loop != l)
      return CORIO_EWRONGLOOP;
    *loop = l;
  }
  return 0;
}

/* site: where the user called, for the tasks started for fn children. */
static int gather_start_at(corio_future **out, const corio_awaitable *children,
                           size_t n, unsigned flags, const void *site) {
  task_loop_state *ls;
  gather_future *g;
  corio_loop *loop;
  int rc;

  if (!out || (!children && n > 0))
    return -EINVAL;
  rc = common_loop(children, n, &loop);
  if (rc < 0)
    return rc;
  rc = corio__task_loop_state_for(loop, &ls);
  if (rc < 0)
    return rc;
  g = corio__calloc(gather_bytes(n));
  if (!g)
    return -ENOMEM;
  corio__future_init(&g->fut, ls, &gather_ops, NULL);
  g->n = n;
  g->flags = flags;
  g->children = (corio_future **)(void *)(g + 1);
  g->outcomes = (corio_outcome *)(void *)(g->children + n);
  g->slots = (gather_slot *)(void *)(g->outcomes + n);
  for (size_t i = 0; i < n; i++) {
    g->slots[i] = (gather_slot){g, i};
    g->outcomes[i].error = CORIO_EINVALSTATE;
    if (children[i].future) {
      g->children[i] = corio_future_ref(children[i].future);
    } else {
      corio_task *t;
      rc = corio__spawn_at(&t, children[i].fn, children[i].arg,
                           &(corio_spawn_options){.loop = ls->loop}, site);
      if (rc < 0)
        goto fail;
      g->children[i] = corio_task_future(t);
    }
  }
  /* Registered only now, so a failure above leaves no callback behind
   * (the gather's free withdraws those registered). A child done already
   * is recorded at once. */
  for (size_t i = 0; i < n; i++) {
    if (corio_future_done(g->children[i]))
      continue;
    rc = corio__future_add_callback(g->children[i], child_done, &g->slots[i]);
    if (rc < 0)
      goto fail;
  }
  for (size_t i = 0; i < n; i++)
    if (corio_future_done(g->children[i]))
      child_done(g->children[i], &g->slots[i]);
  if (n == 0) /* asyncio: gather() is done at once, with no results */
    corio__future_complete(&g->fut, FUTURE_FINISHED, NULL, 0, NULL);
  *out = &g->fut;
  return 0;
fail:
  /* Tasks started for fn children are cancelled, not left running. */
  for (size_t i = 0; i < n; i++)
    if (g->children[i] && !children[i].future)
      (void)corio_future_cancel(g->children[i], NULL);
  corio_future_unref(&g->fut);
  return rc;
}

int corio_gather_start(corio_future **out, const corio_awaitable *children,
                       size_t n, unsigned flags) {
  return gather_start_at(out, children, n, flags, __builtin_return_address(0));
}

int corio_gather_outcomes(corio_future *gathered, corio_outcome *outcomes,
                          size_t n) {
  gather_future *g;

  if (!gathered || gathered->ops != &gather_ops || (!outcomes && n))
    return -EINVAL;
  g = as_gather(gathered);
  if (n > g->n)
    n = g->n;
  for (size_t i = 0; i < n; i++) {
    const char *message =
        g->outcomes[i].error < 0 && g->outcomes[i].error != CORIO_EINVALSTATE
            ? corio_future_message(g->children[i])
            : NULL;

    outcomes[i] = g->outcomes[i];
    outcomes[i].message = corio__strdup(message); /* NULL if out of memory */
  }
  return 0;
}

void corio_outcomes_clear(corio_outcome *outcomes, size_t n) {
  if (!outcomes)
    return;
  for (size_t i = 0; i < n; i++) {
    corio__strfree(outcomes[i].message);
    outcomes[i].message = NULL;
  }
}

/* After the caller was cancelled: every child is cancelled, and waited
 * for until the gather has its outcome (further cancellations of the
 * caller change nothing). A child done but not recorded yet has its
 * callbacks queued: one loop iteration records it. */
static int cancel_and_drain(gather_future *g) {
  (void)gather_cancel(&g->fut, NULL);
  for (size_t i = 0; i < g->n; i++) {
    while (g->outcomes[i].error == CORIO_EINVALSTATE) {
      int rc = corio_future_done(g->children[i])
                   ? corio_sleep(0)
                   : corio__wait_drain(g->children[i]);
      if (rc == CORIO_ECLOSED)
        return rc;
    }
  }
  return -ECANCELED;
}

int corio_gather(const corio_awaitable *children, size_t n,
                 corio_outcome *outcomes, unsigned flags) {
  corio_future *f;
  int rc;

  /* Cleared first, so corio_outcomes_clear is safe whatever happens. */
  for (size_t i = 0; outcomes && i < n; i++)
    outcomes[i] = (corio_outcome){.error = CORIO_EINVALSTATE};
  if (!corio__task_self())
    return CORIO_ENOTASK;
  rc = gather_start_at(&f, children, n, flags, __builtin_return_address(0));
  if (rc < 0)
    return rc;
  /* A cancellation of the caller cancels the gather, i.e. every child, and
   * the await returns once they are all done. */
  rc = corio_future_await(f, NULL);
  if (rc == -ECANCELED && !corio_future_done(f)) {
    /* Nothing was left to cancel (the children were done but not yet
     * recorded): the caller was woken at once; wait for the records. */
    rc = cancel_and_drain(as_gather(f));
  }
  if (outcomes)
    (void)corio_gather_outcomes(f, outcomes, n);
  (void)corio_future_error(f); /* read: the caller has it */
  corio_future_unref(f);
  return rc;
}
