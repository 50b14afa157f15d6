#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/compiler.h"
#include "corio/coro.h"
#include "coro/backtrace.h"
#include "coro/ctx.h"
#include "coro/running.h"
#include "coro/stack.h"

#if CORIO_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if CORIO_TSAN
#include <sanitizer/tsan_interface.h>
/* In TSan's runtime, not declared by every version of its header. */
void __tsan_func_exit(void);
#endif

struct coro_thread;

/* A coroutine lives at the top of its own stack region, so creating one
 * allocates nothing but the stack. The thread's own stack is represented
 * by `main` in struct coro_thread and has no stack of its own. */
struct corio_coro {
  corio__ctx ctx;            /* registers while not running */
  const uint64_t *canary;    /* must hold CORIO__STACK_CANARY at switch-out */
  uint64_t owner_id;         /* id of the thread that created it, the only
                                one that may use it; 0 once destroyed */
  struct coro_thread *owner; /* that thread's state */
  corio_coro *parent;        /* where a finished body returns; never NULL
                                except for the thread's main */
  corio_coro *first_child;   /* coroutines whose parent this is */
  corio_coro *next_sibling, *prev_sibling;
  corio_coro_fn fn;
  void *arg;
  void *result; /* valid when DEAD */
  int error;    /* body's error when DEAD, set by fail() */
  corio_coro_state state;
  int closing; /* destroy is closing it: a nested destroy must not free it */
  /* While suspended: where the next value handed to it goes, and which
   * coroutine it resumed (NULL inside yield/switch), so that whoever
   * switches in can compute its return code. */
  void **recv_out;
  corio_coro *waiting_on;
  corio__stack stack;
#if CORIO_TSAN
  void *tsan_fiber; /* ThreadSanitizer's state for this stack */
  /* No frame of this coroutine is left on the fiber's shadow stack (not
   * started, or returned): only then may another coroutine reuse it. */
  int tsan_fiber_clean;
#endif
#if CORIO_ASAN
  void *asan_fake_stack;   /* ASan's fake frames while suspended */
  const void *asan_bottom; /* stack bounds ASan is told on switch-in */
  size_t asan_size;
#endif
};

struct coro_thread {
  corio_coro *current; /* NULL until the thread first uses corio */
  /* Never reused, unlike the address of this thread-local state, which a
   * later thread may get: coroutines leaked by an exited thread must not
   * pass as the new thread's. */
  uint64_t id;
#if CORIO_ASAN
  corio_coro *switching_from;
#endif
#if CORIO_TSAN
  /* ThreadSanitizer registers every fiber it creates as a thread and
   * keeps part of its state after destruction: clean fibers of finished
   * coroutines are reused, so a churn of short tasks does not exhaust its
   * tables. */
  void *spare_tsan_fibers[64];
  unsigned spare_tsan_fibers_len;
#endif
  corio_coro main;
};

static corio__thread_local struct coro_thread thread_state;
corio__thread_local corio_coro *corio__coro_running;
static const uint64_t main_canary = CORIO__STACK_CANARY;
static atomic_uint_fast64_t last_thread_id;

static struct coro_thread *this_thread(void) {
  struct coro_thread *t = &thread_state;

  if (corio__unlikely(!t->current)) {
    t->id = (uint64_t)atomic_fetch_add(&last_thread_id, 1) + 1;
    t->main.owner_id = t->id;
    t->main.owner = t;
    t->main.state = CORIO_CORO_RUNNING;
    t->main.canary = &main_canary;
#if CORIO_TSAN
    t->main.tsan_fiber = __tsan_get_current_fiber();
#endif
    t->current = &t->main;
  }
  return t;
}

/* ---- the parent tree ---------------------------------------------------- */

static void unlink_child(corio_coro *co) {
  corio_coro *p = co->parent;

  if (co->prev_sibling)
    co->prev_sibling->next_sibling = co->next_sibling;
  else if (p)
    p->first_child = co->next_sibling;
  if (co->next_sibling)
    co->next_sibling->prev_sibling = co->prev_sibling;
  co->prev_sibling = co->next_sibling = NULL;
}

static void link_child(corio_coro *co, corio_coro *parent) {
  co->parent = parent;
  co->prev_sibling = NULL;
  co->next_sibling = parent->first_child;
  if (parent->first_child)
    parent->first_child->prev_sibling = co;
  parent->first_child = co;
}

/* A parent waiting in resume(co) would wait forever once co belongs to
 * another parent: it becomes suspended, and whatever next switches into it
 * ends its pending resume. */
static void release_waiting_parent(corio_coro *co) {
  corio_coro *p = co->parent;

  if (p && p->state == CORIO_CORO_NORMAL && p->waiting_on == co) {
    p->state = CORIO_CORO_SUSPENDED;
    p->waiting_on = NULL;
  }
}

static void reparent(corio_coro *co, corio_coro *parent) {
  release_waiting_parent(co);
  unlink_child(co);
  link_child(co, parent);
}

static int is_ancestor_or_self(const corio_coro *maybe, const corio_coro *co) {
  for (; co; co = co->parent)
    if (co == maybe)
      return 1;
  return 0;
}

/* A body that finishes returns into the nearest live ancestor (greenlet). */
static corio_coro *live_parent(const corio_coro *co) {
  corio_coro *p = co->parent;

  while (p->state == CORIO_CORO_DEAD)
    p = p->parent;
  return p;
}

/* ---- switching ---------------------------------------------------------- */

static corio__noreturn corio__cold void stack_overflow(corio_coro *co) {
  fprintf(stderr,
          "corio: stack overflow in coroutine %p (stack of %zu bytes): the "
          "canary below its stack was overwritten\n",
          (void *)co, (size_t)(co->stack.hi - co->stack.lo));
  abort();
}

/* A coroutine that overran its stack may have scribbled over the pool's
 * data below it: stop before the pool is used, not at the next switch. */
static void check_own_stack(const struct coro_thread *t) {
  if (corio__unlikely(*t->current->canary != CORIO__STACK_CANARY))
    stack_overflow(t->current);
}

/* Sanitizers are told about every switch: ASan which stack is in use (and
 * to drop a dying coroutine's fake frames), TSan which fiber runs. */
static void before_switch(struct coro_thread *t, corio_coro *self,
                          corio_coro *target, int dying) {
#if CORIO_ASAN
  t->switching_from = self;
  __sanitizer_start_switch_fiber(dying ? NULL : &self->asan_fake_stack,
                                 target->asan_bottom, target->asan_size);
#endif
#if CORIO_TSAN
  __tsan_switch_to_fiber(target->tsan_fiber, 0);
#endif
  (void)t;
  (void)self;
  (void)target;
  (void)dying;
}

static void after_switch(struct coro_thread *t, corio_coro *self) {
#if CORIO_ASAN
  corio_coro *from = t->switching_from;
  const void *bottom;
  size_t size;

  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
  /* The thread's own stack bounds are learnt the first time it is left. */
  if (from == &t->main) {
    from->asan_bottom = bottom;
    from->asan_size = size;
  }
#endif
  (void)t;
  (void)self;
}

#if CORIO_ASAN || CORIO_TSAN
#define CORIO_SANITIZED 1
#else
#define CORIO_SANITIZED 0
#endif

/* Hands value (or err) to a suspended target on behalf of `from`, and
 * returns the code target's pending call will return. The sender does the
 * receiver's bookkeeping so that the receiver resumes straight into its
 * caller (see corio__ctx_switch). */
static inline int deliver(corio_coro *target, const corio_coro *from,
                          void *value, int err, int finished) {
  if (target->recv_out)
    *target->recv_out = value;
  if (finished && target->waiting_on == from)
    return err ? err : CORIO_CORO_RETURNED;
  return err;
}

/* Suspends self in self_state and runs target, which becomes current; code
 * is what target's pending call returns. Returns the code self is resumed
 * with. Always inlined so the switch is a tail call of the public API. */
static inline __attribute__((always_inline)) int
switch_to(struct coro_thread *t, corio_coro *self, corio_coro_state self_state,
          corio_coro *target, void **recv_out, corio_coro *waiting_on,
          int code) {
  if (corio__unlikely(*self->canary != CORIO__STACK_CANARY))
    stack_overflow(self);
  self->recv_out = recv_out;
  self->waiting_on = waiting_on;
  self->state = self_state;
  target->state = CORIO_CORO_RUNNING;
  t->current = target;
  corio__coro_running = target;
#if CORIO_SANITIZED
  before_switch(t, self, target, 0);
  code = corio__ctx_switch(&self->ctx, &target->ctx, code);
  after_switch(t, self);
  return code;
#else
  return corio__ctx_switch(&self->ctx, &target->ctx, code);
#endif
}

static corio__noreturn void coro_main(int code) {
  struct coro_thread *t = this_thread();
  corio_coro *self = t->current;
  corio_coro *target;

  (void)code; /* the first resume's value is not delivered: fn gets arg */
  after_switch(t, self);
#if CORIO_TSAN
  self->tsan_fiber_clean = 0;
#endif
  self->result = self->fn(self->arg);
  if (self->error)
    self->result = NULL;
  if (corio__unlikely(*self->canary != CORIO__STACK_CANARY))
    stack_overflow(self);
  target = live_parent(self);
  code = deliver(target, self, self->result, self->error, 1);
  self->state = CORIO_CORO_DEAD;
  target->state = CORIO_CORO_RUNNING;
  t->current = target;
  corio__coro_running = target;
#if CORIO_TSAN
  /* This frame never returns: popped by hand while its fiber is still
   * the current one, so the fiber is left clean. */
  __tsan_func_exit();
  self->tsan_fiber_clean = 1;
#endif
  before_switch(t, self, target, 1);
  corio__ctx_switch(&self->ctx, &target->ctx, code);
  __builtin_unreachable();
}

/* ---- public API --------------------------------------------------------- */

int corio_coro_create(corio_coro **out, corio_coro_fn fn, void *arg,
                      size_t stack_size) {
  struct coro_thread *t = this_thread();
  corio__stack stack;
  corio_coro *co;
  uintptr_t top;
  int rc;

  if (!out || !fn)
    return -EINVAL;
  check_own_stack(t);
  rc = corio__stack_get(stack_size, &stack);
  if (rc < 0)
    return rc;
  top = ((uintptr_t)stack.hi - sizeof *co) & ~(uintptr_t)63;
  co = (corio_coro *)top;
  *co = (corio_coro){.canary = stack.canary,
                     .owner_id = t->id,
                     .owner = t,
                     .fn = fn,
                     .arg = arg,
                     .state = CORIO_CORO_CREATED,
                     .stack = stack};
#if CORIO_ASAN
  co->asan_bottom = stack.lo;
  co->asan_size = (size_t)((char *)co - stack.lo);
#endif
  rc = corio__ctx_make(&co->ctx, stack.lo, co, coro_main);
  if (rc < 0) {
    corio__stack_put(&stack);
    return rc;
  }
#if CORIO_TSAN
  co->tsan_fiber = t->spare_tsan_fibers_len > 0
                       ? t->spare_tsan_fibers[--t->spare_tsan_fibers_len]
                       : __tsan_create_fiber(0);
  co->tsan_fiber_clean = 1;
#endif
  link_child(co, t->current);
  *out = co;
  return 0;
}

static int check_target(const struct coro_thread *t, const corio_coro *co) {
  /* A destroyed coroutine has no owner (see free_coro). */
  if (!co || !co->owner_id)
    return -EINVAL;
  if (co->owner_id != t->id)
    return CORIO_ETHREAD;
  if (co->state == CORIO_CORO_DEAD)
    return CORIO_EDEAD;
  return CORIO_ERUNNING;
}

static inline __attribute__((always_inline)) int
resume_with(corio_coro *co, void *value, int err, void **out) {
  struct coro_thread *t = this_thread();
  corio_coro *self = t->current;

  if (corio__unlikely(!co || co->owner_id != t->id ||
                      co->state > CORIO_CORO_SUSPENDED))
    return check_target(t, co);
  if (corio__unlikely(co->parent != self)) {
    /* Resuming an ancestor would make the parent chain a loop. */
    if (is_ancestor_or_self(co, self))
      return CORIO_ERUNNING;
    reparent(co, self);
  }
  return switch_to(t, self, CORIO_CORO_NORMAL, co, out, co,
                   deliver(co, self, value, err, 0));
}

int corio_coro_resume(corio_coro *co, void *value, void **out) {
  return resume_with(co, value, 0, out);
}

int corio_coro_throw(corio_coro *co, int err, void **out) {
  if (err >= 0)
    return -EINVAL;
  if (co && co->owner_id == this_thread()->id &&
      co->state == CORIO_CORO_CREATED) {
    /* Like generator.throw() before the first next(): the body never runs. */
    co->state = CORIO_CORO_DEAD;
    co->error = err;
    if (out)
      *out = NULL;
    return err;
  }
  return resume_with(co, NULL, err, out);
}

int corio_coro_yield(void *value, void **received) {
  struct coro_thread *t = this_thread();
  corio_coro *self = t->current;
  corio_coro *target;

  if (corio__unlikely(self == &t->main))
    return CORIO_ENOTCORO;
  target = live_parent(self);
  return switch_to(t, self, CORIO_CORO_SUSPENDED, target, received, NULL,
                   deliver(target, self, value, 0, 0));
}

int corio_coro_switch(corio_coro *target, void *value, void **received) {
  struct coro_thread *t = this_thread();
  corio_coro *self = t->current;

  if (target == self) {
    if (received)
      *received = value;
    return 0;
  }
  if (corio__unlikely(!target || target->owner_id != t->id ||
                      target->state > CORIO_CORO_SUSPENDED))
    return check_target(t, target);
  return switch_to(t, self, CORIO_CORO_SUSPENDED, target, received, NULL,
                   deliver(target, self, value, 0, 0));
}

/* PEP 380: closing the delegating coroutine closes the inner one first;
 * the delegating one then sees CORIO_ECLOSED, or the error the inner one
 * finished with instead. */
static int close_delegate(corio_coro *inner) {
  int rc = corio_coro_throw(inner, CORIO_ECLOSED, NULL);

  if (inner->state != CORIO_CORO_DEAD)
    return CORIO_ECLOSEIGNORED;
  return rc < 0 ? rc : CORIO_ECLOSED;
}

int corio_coro_yield_from(corio_coro *inner, void **result) {
  struct coro_thread *t = this_thread();
  void *value = NULL;
  int rc;

  if (t->current == &t->main)
    return CORIO_ENOTCORO;
  rc = corio_coro_resume(inner, NULL, &value);
  while (rc == 0 && inner->state != CORIO_CORO_DEAD) {
    void *sent = NULL;
    int thrown = corio_coro_yield(value, &sent);

    if (thrown == CORIO_ECLOSED)
      return close_delegate(inner);
    rc = thrown ? corio_coro_throw(inner, thrown, &value)
                : corio_coro_resume(inner, sent, &value);
  }
  if (rc < 0)
    return rc;
  if (result)
    *result = value;
  return 0;
}

void *corio_coro_fail(int err) {
  struct coro_thread *t = this_thread();

  if (t->current != &t->main)
    t->current->error = err < 0 ? err : -EINVAL;
  return NULL;
}

static void free_coro(corio_coro *co) {
  corio_coro *child, *next;
  corio__stack stack = co->stack;

  /* Children are adopted by the grandparent, as in greenlet. */
  for (child = co->first_child; child; child = next) {
    next = child->next_sibling;
    link_child(child, co->parent);
  }
  co->first_child = NULL;
  release_waiting_parent(co);
  unlink_child(co);
  /* The stack stays mapped in the pool (or reads as zeros once the pool
   * gives its pages back), so a stale pointer is still readable: with no
   * owner, every call on it fails with -EINVAL instead of corrupting the
   * pool (a second destroy would free the stack twice). */
  co->owner_id = 0;
  co->owner = NULL;
  co->state = CORIO_CORO_DEAD;
#if CORIO_TSAN
  {
    struct coro_thread *t = this_thread();

    if (co->tsan_fiber_clean && t->spare_tsan_fibers_len < 64)
      t->spare_tsan_fibers[t->spare_tsan_fibers_len++] = co->tsan_fiber;
    else
      __tsan_destroy_fiber(co->tsan_fiber);
  }
#endif
  corio__stack_put(&stack);
}

int corio_coro_destroy(corio_coro *co) {
  struct coro_thread *t = this_thread();

  if (!co || !co->owner_id)
    return -EINVAL;
  if (co->owner_id != t->id)
    return CORIO_ETHREAD;
  /* Closing a suspended ancestor would run it on top of its own
   * descendants, and one being closed already is the business of the
   * destroy closing it: both refused like a running one. (A dead or
   * never-started ancestor is simply freed; its children are adopted.) */
  if (co->state == CORIO_CORO_RUNNING || co->state == CORIO_CORO_NORMAL ||
      co->closing ||
      (co->state == CORIO_CORO_SUSPENDED &&
       is_ancestor_or_self(co, t->current)))
    return CORIO_ERUNNING;
  check_own_stack(t);
  if (co->state == CORIO_CORO_SUSPENDED) {
    /* Whatever the body finishes with is dropped: a non-zero return must
     * always mean "still alive", so no body's error can be mistaken. */
    co->closing = 1;
    (void)resume_with(co, NULL, CORIO_ECLOSED, NULL);
    co->closing = 0;
    if (co->state != CORIO_CORO_DEAD)
      return CORIO_ECLOSEIGNORED;
  }
  free_coro(co);
  return 0;
}

corio_coro *corio_coro_current(void) {
  struct coro_thread *t = this_thread();

  return t->current == &t->main ? NULL : t->current;
}

/* The queries accept destroyed coroutines (no owner) while their memory
 * is readable, and answer as for NULL. */
corio_coro_state corio_coro_state_of(const corio_coro *co) {
  return co && co->owner_id ? co->state : CORIO_CORO_DEAD;
}

void *corio_coro_result(const corio_coro *co) {
  return corio_coro_state_of(co) == CORIO_CORO_DEAD && co && co->owner_id
             ? co->result
             : NULL;
}

int corio_coro_error(const corio_coro *co) {
  if (!co || !co->owner_id)
    return -EINVAL;
  return co->state == CORIO_CORO_DEAD ? co->error : 0;
}

corio_coro *corio_coro_parent(const corio_coro *co) {
  if (!co || !co->owner_id || !co->parent || co->parent == &co->owner->main)
    return NULL;
  return co->parent;
}

int corio_coro_set_parent(corio_coro *co, corio_coro *parent) {
  struct coro_thread *t = this_thread();

  if (!co || co == &t->main || !co->owner_id || (parent && !parent->owner_id))
    return -EINVAL;
  if (co->owner_id != t->id || (parent && parent->owner_id != t->id))
    return CORIO_ETHREAD;
  if (!parent)
    parent = &t->main;
  if (is_ancestor_or_self(co, parent))
    return -EINVAL;
  reparent(co, parent);
  return 0;
}

int corio__coro_inspect(const corio_coro *co, corio__coro_view *view) {
  struct coro_thread *t = this_thread();

  if (!co || !co->owner_id)
    return -EINVAL;
  if (co->owner_id != t->id)
    return CORIO_ETHREAD;
  view->stack_lo = (uintptr_t)co->stack.lo;
  view->stack_hi = (uintptr_t)co;
  view->ctx = NULL;
  switch (co->state) {
  case CORIO_CORO_RUNNING:
    return 0;
  case CORIO_CORO_SUSPENDED:
  case CORIO_CORO_NORMAL:
    /* Switched out: its registers are in its frame. */
    view->ctx = &co->ctx;
    return 0;
  default:
    return CORIO_EDEAD; /* not started, or returned: no frames */
  }
}

size_t corio_coro_stack_size(const corio_coro *co) {
  return co && co->owner_id ? (size_t)((const char *)co - co->stack.lo) : 0;
}

size_t corio_coro_set_guard_budget(size_t guarded_stacks) {
  return corio__stack_set_guard_budget(guarded_stacks);
}

void corio_coro_pool_trim(void) { corio__stack_trim(); }
