/* Handles come from a per-loop pool, so scheduling a callback allocates
 * nothing once the pool has grown to the loop's working set. */
#include <errno.h>

#include "core/alloc.h"
#include "loop/loop_internal.h"

enum { HANDLES_PER_SLAB = 64 };

struct handle_slab {
  struct handle_slab *next;
  corio_handle handles[HANDLES_PER_SLAB];
};

static int grow_pool(corio_loop *loop) {
  struct handle_slab *slab = corio__alloc(sizeof *slab);

  if (!slab)
    return -ENOMEM;
  slab->next = loop->handle_slabs;
  loop->handle_slabs = slab;
  for (int i = HANDLES_PER_SLAB - 1; i >= 0; i--) {
    slab->handles[i].next = loop->free_handles;
    loop->free_handles = &slab->handles[i];
  }
  return 0;
}

int corio__handle_new(corio_loop *loop, enum handle_kind kind,
                      corio_callback cb, void *arg, corio_handle **out) {
  corio_handle *h = loop->free_handles;

  if (!h) {
    int rc = grow_pool(loop);
    if (rc < 0)
      return rc;
    h = loop->free_handles;
  }
  loop->free_handles = h->next;
  *h = (corio_handle){
      .cb = cb, .arg = arg, .loop = loop, .refs = 1, .kind = (uint8_t)kind};
  *out = h;
  return 0;
}

/* Each reference the user holds also holds the loop's memory (not the
 * loop: see corio__loop_mem_ref), since a handle's memory is in the loop's
 * pool. */
void corio__handle_give_to_user(corio_handle *h, corio_handle **user) {
  if (!user)
    return;
  h->refs++;
  h->user_refs++;
  corio__loop_mem_ref(h->loop);
  *user = h;
}

void corio__handle_release(corio_handle *h) {
  corio_loop *loop = h->loop;

  if (--h->refs > 0)
    return;
  /* A queued signal arrival holds its handler. */
  if (h->kind == HANDLE_SIGNAL)
    corio__handle_release(h->arg);
  h->next = loop->free_handles;
  loop->free_handles = h;
}

void corio__handles_free_all(corio_loop *loop) {
  struct handle_slab *slab = loop->handle_slabs, *next;

  for (; slab; slab = next) {
    next = slab->next;
    corio__free(slab, sizeof *slab);
  }
  loop->handle_slabs = NULL;
  loop->free_handles = NULL;
}

void corio_handle_cancel(corio_handle *h) {
  if (!h || h->cancelled)
    return;
  h->cancelled = 1;
  /* A cancelled timer stays in the heap until it reaches the top or the
   * cancelled share makes the loop purge them. */
  if (h->kind == HANDLE_TIMER && h->in_heap)
    h->loop->timers.cancelled++;
}

int corio_handle_cancelled(const corio_handle *h) {
  return h ? h->cancelled : 0;
}

double corio_handle_when(const corio_handle *h) {
  if (!h || h->kind != HANDLE_TIMER)
    return 0.0;
  return h->when_in_seconds ? h->when_s : (double)h->when / 1e9;
}

int64_t corio_handle_when_ns(const corio_handle *h) {
  if (!h || h->kind != HANDLE_TIMER)
    return 0;
  /* As corio_loop_call_at turned the seconds into the deadline. */
  return h->when_in_seconds ? (int64_t)(h->when_s * 1e9) : h->when;
}

corio_handle *corio_handle_ref(corio_handle *h) {
  if (h) {
    h->refs++;
    h->user_refs++;
    corio__loop_mem_ref(h->loop);
  }
  return h;
}

void corio_handle_unref(corio_handle *h) {
  corio_loop *loop;

  /* An unref the user does not own would free what the loop still uses. */
  if (!h || h->user_refs == 0)
    return;
  h->user_refs--;
  loop = h->loop;
  corio__handle_release(h);
  corio__loop_mem_unref(loop);
}
