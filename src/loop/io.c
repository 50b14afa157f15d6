/* File-descriptor watchers, asyncio style: a reader's (writer's) callback
 * runs in every iteration while its fd is readable (writable), until it is
 * removed. Watchers live in a table indexed by fd; each holds a handle that
 * the poll phase queues when the fd is ready. */
#include <errno.h>

#include "core/alloc.h"
#include "core/sys_fd.h"
#include "loop/loop_internal.h"
#include "loop/uring.h"

static int ensure_slot(corio_loop *loop, int fd) {
  if ((size_t)fd < loop->fds_len)
    return 0;
  return corio__grow_array((void **)&loop->fds, &loop->fds_len,
                           sizeof *loop->fds, (size_t)fd + 1, 64);
}

static corio_handle **slot_of(fd_watch *w, unsigned event) {
  return event == CORIO__POLL_IN ? &w->reader : &w->writer;
}

static int add_watcher(corio_loop *loop, int fd, unsigned event,
                       corio_callback cb, void *arg) {
  corio_handle *h, **slot;
  fd_watch *w;
  unsigned events;
  int rc;

  if (!loop || !cb || fd < 0)
    return -EINVAL;
  if (loop->closed)
    return CORIO_ELOOPCLOSED;
  if ((rc = corio__loop_check_thread(loop)) < 0)
    return rc;
  if (fd == loop->wakeup_fd || fd == loop->signal_pipe[0] ||
      fd == loop->signal_pipe[1])
    return -EINVAL; /* the loop's own */
  if ((rc = ensure_slot(loop, fd)) < 0)
    return rc;
  w = &loop->fds[fd];
  /* A new fd for poll(2): refuse regular files and directories as epoll
   * does (poll would call them ready forever), so both pollers behave
   * alike. epoll reports that itself, and a replaced watcher needs no
   * check: no syscall on those paths. */
  if (w->events == 0 && loop->poller_ops != &corio__poller_epoll &&
      (rc = corio__sys_fd_pollable(fd)) < 0)
    return rc;
  slot = slot_of(w, event);
  if ((rc = corio__handle_new(loop, HANDLE_FD, cb, arg, &h)) < 0)
    return rc;
  events = w->events | event;
  /* Replacing a watcher registers the fd again: the old registration may
   * be for a file closed since behind the loop's back (a number the hook
   * layer watched), which the kernel has dropped. */
  if (events != w->events || *slot) {
    rc = loop->poller_ops->set(loop->poller, fd,
                               events != w->events ? w->events : 0, events);
    if (rc < 0) {
      corio__handle_release(h);
      return rc;
    }
    w->events = events;
  }
  /* Replacing: the old callback must not run even if already queued. */
  if (*slot) {
    corio_handle_cancel(*slot);
    corio__handle_release(*slot);
  }
  *slot = h;
  return 0;
}

static int remove_watcher(corio_loop *loop, int fd, unsigned event) {
  corio_handle **slot;
  fd_watch *w;
  int rc;

  if (!loop || fd < 0)
    return -EINVAL;
  if ((rc = corio__loop_check_thread(loop)) < 0)
    return rc;
  if (loop->closed || (size_t)fd >= loop->fds_len)
    return 0;
  w = &loop->fds[fd];
  slot = slot_of(w, event);
  if (!*slot)
    return 0;
  /* It may be queued for this iteration already: cancel, then drop the
   * table's reference. */
  corio_handle_cancel(*slot);
  corio__handle_release(*slot);
  *slot = NULL;
  /* A closed fd is already gone from the poller; nothing to undo then. */
  (void)loop->poller_ops->set(loop->poller, fd, w->events, w->events & ~event);
  w->events &= ~event;
  return 1;
}

int corio_loop_add_reader(corio_loop *loop, int fd, corio_callback cb,
                          void *arg) {
  return add_watcher(loop, fd, CORIO__POLL_IN, cb, arg);
}

int corio_loop_add_writer(corio_loop *loop, int fd, corio_callback cb,
                          void *arg) {
  return add_watcher(loop, fd, CORIO__POLL_OUT, cb, arg);
}

int corio_loop_remove_reader(corio_loop *loop, int fd) {
  return remove_watcher(loop, fd, CORIO__POLL_IN);
}

int corio_loop_remove_writer(corio_loop *loop, int fd) {
  return remove_watcher(loop, fd, CORIO__POLL_OUT);
}

static void queue_watcher(corio_loop *loop, corio_handle *h) {
  if (!h)
    return;
  h->refs++; /* the ready queue's reference */
  corio__queue_push(&loop->ready, h);
}

void corio__io_dispatch(corio_loop *loop, const corio__poll_event *ev) {
  fd_watch *w;

  if (ev->events & CORIO__POLL_DONE) {
    corio__uring_op *op = ev->op;
    op->done(op, ev->res, ev->flags);
    return;
  }
  if (ev->fd == loop->wakeup_fd) {
    corio__remote_drain(loop);
    return;
  }
  if (ev->fd == loop->signal_pipe[0]) {
    corio__signal_dispatch(loop);
    return;
  }
  if ((size_t)ev->fd >= loop->fds_len)
    return;
  w = &loop->fds[ev->fd];
  if (ev->events & CORIO__POLL_IN)
    queue_watcher(loop, w->reader);
  if (ev->events & CORIO__POLL_OUT)
    queue_watcher(loop, w->writer);
}

void corio__io_close(corio_loop *loop) {
  for (size_t fd = 0; fd < loop->fds_len; fd++) {
    fd_watch *w = &loop->fds[fd];
    if (w->reader)
      corio__handle_release(w->reader);
    if (w->writer)
      corio__handle_release(w->writer);
  }
  corio__free(loop->fds, (size_t)loop->fds_len * sizeof *loop->fds);
  loop->fds = NULL;
  loop->fds_len = 0;
}
