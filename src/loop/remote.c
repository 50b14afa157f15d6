/* Calls from other threads: posted to a locked list, and the loop is woken
 * through an eventfd, written only when no wake-up is already pending, so a
 * burst of posts costs one write and one read. */
#include <errno.h>
#include <stdint.h>

#include "core/alloc.h"
#include "core/sys_fd.h"
#include "loop/loop_internal.h"

enum { CALLS_PER_SLAB = 128 };

struct remote_slab {
  struct remote_slab *next;
  remote_call calls[CALLS_PER_SLAB];
};

int corio__remote_open(corio_loop *loop) {
  int fd, rc = corio__sys_eventfd(&fd);

  if (rc < 0)
    return rc;
  rc = loop->poller_ops->set(loop->poller, fd, 0, CORIO__POLL_IN);
  if (rc < 0) {
    corio__sys_close(fd);
    return rc;
  }
  loop->wakeup_fd = fd;
  return 0;
}

/* Under remote_lock. */
static remote_call *take_node(corio_loop *loop) {
  remote_call *call = loop->remote_free;

  if (!call) {
    struct remote_slab *slab = corio__alloc(sizeof *slab);
    if (!slab)
      return NULL;
    slab->next = loop->remote_slabs;
    loop->remote_slabs = slab;
    for (int i = CALLS_PER_SLAB - 1; i >= 0; i--) {
      slab->calls[i].next = loop->remote_free;
      loop->remote_free = &slab->calls[i];
    }
    call = loop->remote_free;
  }
  loop->remote_free = call->next;
  return call;
}

/* Under remote_lock. */
static void append(corio_loop *loop, remote_call *call) {
  call->next = NULL;
  if (loop->remote_tail)
    loop->remote_tail->next = call;
  else
    loop->remote_head = call;
  loop->remote_tail = call;
  /* Written under the lock, so close cannot release the fd between the
   * caller's closed check and this write. */
  if (!atomic_exchange(&loop->wake_sent, 1)) {
    uint64_t one = 1;
    (void)corio__sys_write(loop->wakeup_fd, &one, sizeof one);
  }
}

int corio_loop_call_soon_threadsafe(corio_loop *loop, corio_callback cb,
                                    void *arg) {
  remote_call *call;
  int rc = 0;

  if (!loop || !cb)
    return -EINVAL;
  pthread_mutex_lock(&loop->remote_lock);
  if (loop->remote_closed) {
    rc = CORIO_ELOOPCLOSED;
  } else if (!(call = take_node(loop))) {
    rc = -ENOMEM;
  } else {
    *call = (remote_call){.cb = cb, .arg = arg};
    append(loop, call);
  }
  pthread_mutex_unlock(&loop->remote_lock);
  return rc;
}

int corio__loop_post_threadsafe(corio_loop *loop, corio__remote_call *call) {
  int rc = 0;

  pthread_mutex_lock(&loop->remote_lock);
  if (loop->remote_closed)
    rc = CORIO_ELOOPCLOSED;
  else
    append(loop, call);
  pthread_mutex_unlock(&loop->remote_lock);
  return rc;
}

/* Puts calls that could not be queued back in front of those posted
 * since, and re-arms the wake-up so the next iteration tries again: a
 * call accepted with 0 is never dropped. */
static void put_back(corio_loop *loop, remote_call *first) {
  remote_call *last = first;

  while (last->next)
    last = last->next;
  pthread_mutex_lock(&loop->remote_lock);
  last->next = loop->remote_head;
  loop->remote_head = first;
  if (!loop->remote_tail)
    loop->remote_tail = last;
  if (!atomic_exchange(&loop->wake_sent, 1)) {
    uint64_t one = 1;
    (void)corio__sys_write(loop->wakeup_fd, &one, sizeof one);
  }
  pthread_mutex_unlock(&loop->remote_lock);
}

static void recycle(corio_loop *loop, remote_call *first, remote_call *last) {
  pthread_mutex_lock(&loop->remote_lock);
  last->next = loop->remote_free;
  loop->remote_free = first;
  pthread_mutex_unlock(&loop->remote_lock);
}

/* On the loop's thread, when the eventfd is readable: moves the posted
 * calls to the ready queue, in the order they were posted. Embedded calls
 * run here instead: their owners may free them once run. */
void corio__remote_drain(corio_loop *loop) {
  remote_call *calls, *call, *next, *spent = NULL, *spent_last = NULL;
  uint64_t count;

  (void)corio__sys_read(loop->wakeup_fd, &count, sizeof count);
  atomic_store(&loop->wake_sent, 0);
  pthread_mutex_lock(&loop->remote_lock);
  calls = loop->remote_head;
  loop->remote_head = loop->remote_tail = NULL;
  pthread_mutex_unlock(&loop->remote_lock);
  for (call = calls; call; call = next) {
    corio_handle *h;
    int rc;

    next = call->next;
    if (call->embedded) {
      (void)call->cb(call->arg);
      continue;
    }
    rc = corio__handle_new(loop, HANDLE_SOON, call->cb, call->arg, &h);
    if (rc < 0) {
      corio__loop_report(loop, "out of memory for calls from other threads", rc,
                         call->cb, call->arg);
      put_back(loop, call);
      break;
    }
    corio__queue_push(&loop->ready, h);
    call->next = spent;
    spent = call;
    if (!spent_last)
      spent_last = call;
  }
  if (spent)
    recycle(loop, spent, spent_last);
}

void corio__remote_close(corio_loop *loop) {
  struct remote_slab *slab, *next;
  remote_call *posted, *next_call;

  if (loop->wakeup_fd >= 0)
    (void)loop->poller_ops->set(loop->poller, loop->wakeup_fd, CORIO__POLL_IN,
                                0);
  pthread_mutex_lock(&loop->remote_lock);
  loop->remote_closed = 1;
  /* Calls still posted are dropped with the loop, as asyncio does;
   * embedded ones are handed back to their owners below. */
  posted = loop->remote_head;
  loop->remote_head = loop->remote_tail = loop->remote_free = NULL;
  slab = loop->remote_slabs;
  loop->remote_slabs = NULL;
  corio__sys_close(loop->wakeup_fd);
  loop->wakeup_fd = -1;
  pthread_mutex_unlock(&loop->remote_lock);
  for (; posted; posted = next_call) {
    next_call = posted->next;
    if (posted->embedded && posted->dropped)
      posted->dropped(posted->arg);
  }
  for (; slab; slab = next) {
    next = slab->next;
    corio__free(slab, sizeof *slab);
  }
}
