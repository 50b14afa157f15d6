/* How a hooked call waits: the task's waiters hang on the fd's entry, the
 * entry's fd is watched on the task's loop, and the watcher wakes every
 * waiter (they retry the call; one may find EAGAIN again and wait again).
 * A read watcher outlives its wait until it fires with nobody waiting, so
 * a task that reads, answers and reads again costs no epoll_ctl per wait.
 * Deadlines are loop timers; cancellation comes through corio's own wait
 * (src/task/wait.h). */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "core/alloc.h"
#include "hook/hook_internal.h"
#include "loop/ext.h"

static int64_t monotonic_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(corio_task *task) {
  return task ? corio_loop_time_ns(corio_task_loop(task)) : monotonic_ns();
}

int64_t corio__hook_deadline(corio_task *task, int64_t timeout_ns) {
  int64_t now;

  if (timeout_ns <= 0)
    return HOOK_NO_DEADLINE;
  now = now_ns(task);
  return timeout_ns > INT64_MAX - now ? HOOK_NO_DEADLINE : now + timeout_ns;
}

int64_t corio__hook_deadline_for(corio_task *task, hook_fd *e, unsigned event) {
  return corio__hook_deadline(
      task, atomic_load_explicit(event == HOOK_IN ? &e->recv_timeout_ns
                                                  : &e->send_timeout_ns,
                                 memory_order_relaxed));
}

/* Outside a task: the thread blocks in poll(2) as the call would have. */
static int wait_blocking(int fd, unsigned event, int64_t deadline_ns) {
  struct pollfd p = {.fd = fd, .events = event == HOOK_IN ? POLLIN : POLLOUT};
  int64_t left;
  int ms, n;

  for (;;) {
    if (deadline_ns == HOOK_NO_DEADLINE) {
      ms = -1;
    } else {
      left = deadline_ns - monotonic_ns();
      if (left <= 0)
        return -EAGAIN;
      ms = left / 1000000 >= INT32_MAX ? INT32_MAX
                                       : (int)((left + 999999) / 1000000);
    }
    n = REAL(poll)(&p, 1, ms);
    if (n > 0)
      return 0;
    if (n < 0)
      return -errno; /* EINTR: a signal interrupts a blocking call */
  }
}

int corio__hook_wait(corio_task *task, int fd, hook_fd *e, unsigned event,
                     int64_t deadline_ns) {
  if (!task)
    return wait_blocking(fd, event, deadline_ns);
  return corio__hook_wait_fd(task, fd, e, event, deadline_ns);
}

int corio__hook_fail(corio_task *task, int rc) {
  if (task && (rc == -ECANCELED || rc == CORIO_ECLOSED)) {
    /* Blocking code knows nothing of corio: the request stays pending
     * for the task's next corio suspension. */
    if (rc == -ECANCELED)
      corio__hook_keep_cancel(task);
    rc = -ECANCELED;
  }
  /* corio's own codes (an executor shut down...) are no errno values. */
  errno = rc < 0 && -rc < 4000 ? -rc : EIO;
  return -1;
}

/* ---- which loop watches an entry --------------------------------------------
 */

/* A loop's entries, so that its close can let them go. */
typedef struct hook_loop {
  hook_fd *owned;
} hook_loop;

static void forget_loop_entries(corio_loop *loop, void *data);

static void free_hook_loop(void *data) { corio__free(data, sizeof(hook_loop)); }

static const corio__loop_ext_ops hook_ext_ops = {.close = forget_loop_entries,
                                                 .free = free_hook_loop};

/* Under the lock: e is watched by loop from now on. */
static int own(corio_loop *loop, hook_fd *e) {
  hook_loop *hl;
  int rc;

  if (e->loop)
    return e->loop == loop ? 0 : -EBUSY;
  rc = corio__loop_ext_get_or_make(loop, CORIO__LOOP_EXT_HOOK, sizeof *hl,
                                   &hook_ext_ops, (void **)&hl);
  if (rc < 0)
    return rc;
  e->loop = loop;
  e->owned_prev = NULL;
  e->owned_next = hl->owned;
  if (hl->owned)
    hl->owned->owned_prev = e;
  hl->owned = e;
  return 0;
}

/* Under the lock: no watcher and no waiter left, e leaves its loop. */
static void disown_if_idle(hook_fd *e) {
  hook_loop *hl;

  if (!e->loop || e->waiters || e->armed)
    return;
  hl = corio__loop_ext_get(e->loop, CORIO__LOOP_EXT_HOOK);
  if (e->owned_prev)
    e->owned_prev->owned_next = e->owned_next;
  else if (hl && hl->owned == e)
    hl->owned = e->owned_next;
  if (e->owned_next)
    e->owned_next->owned_prev = e->owned_prev;
  e->owned_prev = e->owned_next = NULL;
  e->loop = NULL;
}

static int on_readable(void *arg);
static int on_writable(void *arg);

/* Removes the watchers in `events` (loop thread). */
static void disarm(corio_loop *loop, int fd, hook_fd *e, unsigned events) {
  if (events & e->armed & HOOK_IN)
    (void)corio_loop_remove_reader(loop, fd);
  if (events & e->armed & HOOK_OUT)
    (void)corio_loop_remove_writer(loop, fd);
  e->armed &= ~events;
}

/* Watches `events` on fd for e's waiters (loop thread). A watcher armed
 * for an earlier file at this number goes first. */
static int arm(corio_loop *loop, int fd, hook_fd *e, unsigned events) {
  unsigned gen = atomic_load(&e->gen);
  int rc;

  if (e->armed && e->armed_gen != gen)
    disarm(loop, fd, e, e->armed);
  e->armed_gen = gen;
  if ((events & HOOK_IN) && !(e->armed & HOOK_IN)) {
    if ((rc = corio_loop_add_reader(loop, fd, on_readable, e)) < 0)
      return rc;
    e->armed |= HOOK_IN;
  }
  if ((events & HOOK_OUT) && !(e->armed & HOOK_OUT)) {
    if ((rc = corio_loop_add_writer(loop, fd, on_writable, e)) < 0)
      return rc;
    e->armed |= HOOK_OUT;
  }
  return 0;
}

/* The events the current generation's waiters want. */
static unsigned wanted(hook_fd *e) {
  unsigned want = 0, gen = atomic_load(&e->gen);

  for (hook_waiter *w = e->waiters; w; w = w->next)
    if (w->gen == gen)
      want |= w->events;
  return want;
}

/* A watcher fired: wake the waiters for it. With none (a read watcher
 * kept after its wait, or one for a file since closed) it goes: level
 * triggered, it would fire every iteration. */
static void on_ready(hook_fd *e, unsigned event) {
  unsigned gen = atomic_load(&e->gen);
  hook_waiter *w, *next;
  int woke = 0;

  for (w = e->waiters; w; w = next) {
    next = w->next;
    if (!(w->events & event) || w->gen != gen)
      continue;
    w->revents |= event;
    corio__wait_wake(w->wait, 0, 0);
    woke = 1;
  }
  if (!woke && e->loop) {
    corio_loop *loop = e->loop;
    /* The fd's number: the entry's place in the table. */
    int fd = corio__hook_fd_number(e);

    disarm(loop, fd, e, event);
    pthread_mutex_lock(&corio__hook_lock);
    disown_if_idle(e);
    pthread_mutex_unlock(&corio__hook_lock);
  }
}

static int on_readable(void *arg) {
  on_ready(arg, HOOK_IN);
  return 0;
}

static int on_writable(void *arg) {
  on_ready(arg, HOOK_OUT);
  return 0;
}

/* corio_loop_close: the loop's watchers go, and with them its hold on
 * every entry. */
static void forget_loop_entries(corio_loop *loop, void *data) {
  hook_loop *hl = data;

  pthread_mutex_lock(&corio__hook_lock);
  while (hl->owned) {
    hook_fd *e = hl->owned;

    hl->owned = e->owned_next;
    pthread_mutex_unlock(&corio__hook_lock);
    disarm(loop, corio__hook_fd_number(e), e, e->armed);
    pthread_mutex_lock(&corio__hook_lock);
    e->owned_prev = e->owned_next = NULL;
    e->loop = NULL; /* waiters left are being closed with their tasks */
  }
  pthread_mutex_unlock(&corio__hook_lock);
}

static void unlink_waiter(hook_waiter *w) {
  hook_fd *e = w->entry;

  if (w->prev)
    w->prev->next = w->next;
  else if (e->waiters == w)
    e->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

/* A waiter leaves. A write watcher nobody needs goes at once (a writable
 * fd would fire every iteration); a read watcher stays for the next wait
 * and goes when it fires with nobody waiting. */
static void leave(corio_loop *loop, hook_waiter *w) {
  hook_fd *e = w->entry;

  pthread_mutex_lock(&corio__hook_lock);
  unlink_waiter(w);
  pthread_mutex_unlock(&corio__hook_lock);
  if (e->loop == loop) {
    unsigned want = wanted(e);

    if (e->armed_gen != atomic_load(&e->gen))
      disarm(loop, w->fd, e, e->armed); /* another file's number now */
    else if (!(want & HOOK_OUT))
      disarm(loop, w->fd, e, HOOK_OUT);
  }
  pthread_mutex_lock(&corio__hook_lock);
  disown_if_idle(e);
  pthread_mutex_unlock(&corio__hook_lock);
}

/* Adds w to its entry on loop. -EBUSY: another loop's tasks wait on the
 * fd (it watches it), so this one must poll. */
static int attach(corio_loop *loop, hook_waiter *w) {
  hook_fd *e = w->entry;
  int rc;

  pthread_mutex_lock(&corio__hook_lock);
  if ((rc = own(loop, e)) < 0) {
    pthread_mutex_unlock(&corio__hook_lock);
    return rc;
  }
  w->gen = atomic_load(&e->gen);
  w->prev = NULL;
  w->next = e->waiters;
  if (e->waiters)
    e->waiters->prev = w;
  e->waiters = w;
  pthread_mutex_unlock(&corio__hook_lock);
  if ((rc = arm(loop, w->fd, e, w->events)) < 0)
    leave(loop, w);
  return rc;
}

static int on_deadline(void *arg) {
  corio__wait_wake(arg, -EAGAIN, 0);
  return 0;
}

static const corio__wait_kind hook_wait_kind = {.name = "hooked call"};

/* Another loop owns the fd's watchers: look every millisecond. Rare (one
 * fd blocked on from two threads' tasks at once); correct, not fast. */
static int poll_elsewhere(corio_task *task, hook_waiter *w, size_t n,
                          int64_t deadline_ns) {
  for (;;) {
    for (size_t i = 0; i < n; i++) {
      struct pollfd p = {.fd = w[i].fd};

      if (!w[i].entry)
        continue;
      p.events = (short)(((w[i].events & HOOK_IN) ? POLLIN : 0) |
                         ((w[i].events & HOOK_OUT) ? POLLOUT : 0));
      if (REAL(poll)(&p, 1, 0) > 0) {
        w[i].revents = w[i].events;
        return 0;
      }
    }
    if (corio_loop_time_ns(corio_task_loop(task)) >= deadline_ns)
      return -EAGAIN;
    int rc = corio_sleep_ns(1000000);
    if (rc < 0)
      return rc;
  }
}

int corio__hook_wait_many(corio_task *task, hook_waiter *waiters, size_t n,
                          int64_t deadline_ns) {
  corio_loop *loop = corio_task_loop(task);
  corio__wait wait = {
      .task = task, .detach = corio__wait_no_detach, .kind = &hook_wait_kind};
  corio_handle *timer = NULL;
  size_t attached = 0;
  int rc = 0;

  if (deadline_ns != HOOK_NO_DEADLINE &&
      corio_loop_time_ns(loop) >= deadline_ns)
    return -EAGAIN;
  for (; attached < n; attached++) {
    hook_waiter *w = &waiters[attached];

    w->wait = &wait;
    w->revents = 0;
    if (!w->entry)
      continue;
    if ((rc = attach(loop, w)) < 0)
      break;
  }
  if (rc == 0 && deadline_ns != HOOK_NO_DEADLINE)
    rc = corio_loop_call_at_ns(loop, deadline_ns, on_deadline, &wait, &timer);
  if (rc == 0)
    rc = corio__wait_suspend(&wait);
  if (timer) {
    corio_handle_cancel(timer);
    corio_handle_unref(timer);
  }
  for (size_t i = 0; i < attached; i++) {
    hook_waiter *w = &waiters[i];

    if (!w->entry)
      continue;
    if (atomic_load(&w->entry->gen) != w->gen && rc >= 0)
      rc = -EBADF; /* closed while waited on */
    leave(loop, w);
  }
  if (rc == -EBUSY) {
    for (size_t i = 0; i < n; i++)
      waiters[i].revents = 0;
    rc = poll_elsewhere(task, waiters, n, deadline_ns);
  }
  return rc;
}

int corio__hook_wait_fd(corio_task *task, int fd, hook_fd *e, unsigned events,
                        int64_t deadline_ns) {
  hook_waiter w = {.entry = e, .fd = fd, .events = events};

  return corio__hook_wait_many(task, &w, 1, deadline_ns);
}

/* ---- close ------------------------------------------------------------------
 */

/* The waiters' loop was another thread's: it wakes them there. */
static int wake_closed_elsewhere(void *arg) {
  hook_fd *e = arg;
  hook_waiter *w;

  pthread_mutex_lock(&corio__hook_lock);
  for (w = e->waiters; w; w = w->next)
    if (w->gen != atomic_load(&e->gen))
      corio__wait_wake(w->wait, -EBADF, 0);
  pthread_mutex_unlock(&corio__hook_lock);
  return 0;
}

void corio__hook_fd_closing(int fd) {
  hook_fd *e = corio__hook_fd_peek(fd);
  corio_loop *here = corio_loop_current();
  hook_waiter *w;

  if (!e)
    return;
  pthread_mutex_lock(&corio__hook_lock);
  atomic_fetch_add(&e->gen, 1);
  atomic_store(&e->kind, HOOK_FD_UNKNOWN);
  if (e->loop && e->loop == here) {
    /* Watchers go before the fd does (the poller's contract), and the
     * waiters fail with EBADF, never a wake-up on a reused number. */
    pthread_mutex_unlock(&corio__hook_lock);
    disarm(here, fd, e, e->armed);
    pthread_mutex_lock(&corio__hook_lock);
    for (w = e->waiters; w; w = w->next)
      corio__wait_wake(w->wait, -EBADF, 0);
    disown_if_idle(e);
  } else if (e->loop) {
    (void)corio_loop_call_soon_threadsafe(e->loop, wake_closed_elsewhere, e);
  }
  pthread_mutex_unlock(&corio__hook_lock);
}
