/* Signals, delivered on the loop's thread as ordinary callbacks. The
 * handler only writes the signal number to the owning loop's pipe (both
 * async-signal-safe); the loop reads the pipe like any fd and queues the
 * callback. One loop per signal at a time, as the process has one
 * disposition per signal. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/sys_fd.h"
#include "loop/loop_internal.h"

enum { SIGNAL_SLOTS = 65 };

/* Per signal: the write end of the pipe of the loop that handles it, or
 * -1. Read by the handler, so atomic. */
static atomic_int signal_target[SIGNAL_SLOTS];
/* Handlers between reading signal_target and finishing their write: a
 * loop that stops handling a signal waits for them before closing the
 * pipe, so a late write cannot land in a reused fd. */
static atomic_int handlers_in_flight[SIGNAL_SLOTS];
static atomic_int targets_ready;
static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;

static void init_targets(void) {
  if (atomic_load(&targets_ready))
    return;
  pthread_mutex_lock(&targets_lock);
  if (!atomic_load(&targets_ready)) {
    for (int i = 0; i < SIGNAL_SLOTS; i++)
      atomic_init(&signal_target[i], -1);
    atomic_store(&targets_ready, 1);
  }
  pthread_mutex_unlock(&targets_lock);
}

static void on_signal(int signum) {
  int saved = errno;
  int fd;

  atomic_fetch_add(&handlers_in_flight[signum], 1);
  fd = atomic_load(&signal_target[signum]);
  if (fd >= 0) {
    unsigned char byte = (unsigned char)signum;
    /* A full pipe drops the byte: the loop is behind and will run the
     * handler for the signals still queued. */
    (void)corio__sys_write(fd, &byte, 1);
  }
  atomic_fetch_sub(&handlers_in_flight[signum], 1);
  errno = saved;
}

/* A handler that read the old target finishes within a few instructions. */
static void wait_for_handlers(int signum) {
  while (atomic_load(&handlers_in_flight[signum]) > 0)
    sched_yield();
}

static int valid_signal(int signum) {
  return signum > 0 && signum < SIGNAL_SLOTS && signum != SIGKILL &&
         signum != SIGSTOP;
}

static int open_pipe(corio_loop *loop) {
  int rc;

  if (loop->signal_pipe[0] >= 0)
    return 0;
  if (!loop->signal_saved) {
    loop->signal_saved = corio__calloc(SIGNAL_SLOTS * sizeof(struct sigaction));
    if (!loop->signal_saved)
      return -ENOMEM;
  }
  if ((rc = corio__sys_pipe(loop->signal_pipe)) < 0)
    return rc;
  rc = loop->poller_ops->set(loop->poller, loop->signal_pipe[0], 0,
                             CORIO__POLL_IN);
  if (rc < 0) {
    corio__sys_close(loop->signal_pipe[0]);
    corio__sys_close(loop->signal_pipe[1]);
    loop->signal_pipe[0] = loop->signal_pipe[1] = -1;
  }
  return rc;
}

int corio_loop_add_signal_handler(corio_loop *loop, int signum,
                                  corio_callback cb, void *arg) {
  struct sigaction *saved;
  struct sigaction act;
  corio_handle *h;
  int rc, expected = -1;

  if (!loop || !cb || !valid_signal(signum))
    return -EINVAL;
  if (loop->closed)
    return CORIO_ELOOPCLOSED;
  if ((rc = corio__loop_check_thread(loop)) < 0)
    return rc;
  init_targets();
  if ((rc = open_pipe(loop)) < 0)
    return rc;
  if ((rc = corio__handle_new(loop, HANDLE_SOON, cb, arg, &h)) < 0)
    return rc;
  saved = loop->signal_saved;
  if (loop->signal_handlers[signum]) {
    /* Replacing our own handler: the disposition is ours already. Arrivals
     * queued for the old one are dropped with it. */
    corio_handle_cancel(loop->signal_handlers[signum]);
    corio__handle_release(loop->signal_handlers[signum]);
    loop->signal_handlers[signum] = h;
    return 0;
  }
  if (!atomic_compare_exchange_strong(&signal_target[signum], &expected,
                                      loop->signal_pipe[1])) {
    corio__handle_release(h);
    return -EBUSY;
  }
  memset(&act, 0, sizeof act);
  act.sa_handler = on_signal;
  act.sa_flags = SA_RESTART;
  sigemptyset(&act.sa_mask);
  rc = corio__sys_sigaction(signum, &act, &saved[signum]);
  if (rc < 0) {
    atomic_store(&signal_target[signum], -1);
    corio__handle_release(h);
    return rc;
  }
  loop->signal_handlers[signum] = h;
  return 0;
}

static void restore(corio_loop *loop, int signum) {
  struct sigaction *saved = loop->signal_saved;

  (void)corio__sys_sigaction(signum, &saved[signum], NULL);
  atomic_store(&signal_target[signum], -1);
  wait_for_handlers(signum);
  /* Arrivals already queued must not call a handler the user removed. */
  corio_handle_cancel(loop->signal_handlers[signum]);
  corio__handle_release(loop->signal_handlers[signum]);
  loop->signal_handlers[signum] = NULL;
}

int corio_loop_remove_signal_handler(corio_loop *loop, int signum) {
  int rc;

  if (!loop || !valid_signal(signum))
    return -EINVAL;
  if ((rc = corio__loop_check_thread(loop)) < 0)
    return rc;
  if (!loop->signal_handlers[signum])
    return 0;
  restore(loop, signum);
  return 1;
}

static int run_signal_handler(void *arg) {
  corio_handle *handler = arg;

  return handler->cancelled ? 0 : handler->cb(handler->arg);
}

void corio__signal_dispatch(corio_loop *loop) {
  unsigned char bytes[64];
  ssize_t n;

  while ((n = corio__sys_read(loop->signal_pipe[0], bytes, sizeof bytes)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      corio_handle *handler =
          bytes[i] < SIGNAL_SLOTS ? loop->signal_handlers[bytes[i]] : NULL;
      corio_handle *call;
      int rc;

      if (!handler)
        continue;
      /* Each arrival is one call, like asyncio's call_soon of the handler;
       * it holds the handler and runs only if that is still installed. */
      rc = corio__handle_new(loop, HANDLE_SIGNAL, run_signal_handler, handler,
                             &call);
      if (rc < 0) {
        corio__loop_report(loop, "dropped a signal", rc, handler->cb,
                           handler->arg);
        continue;
      }
      handler->refs++;
      corio__queue_push(&loop->ready, call);
    }
  }
}

void corio__signal_close(corio_loop *loop) {
  for (int signum = 1; signum < SIGNAL_SLOTS; signum++)
    if (loop->signal_handlers[signum])
      restore(loop, signum);
  if (loop->signal_pipe[0] >= 0) {
    (void)loop->poller_ops->set(loop->poller, loop->signal_pipe[0],
                                CORIO__POLL_IN, 0);
    corio__sys_close(loop->signal_pipe[0]);
    corio__sys_close(loop->signal_pipe[1]);
    loop->signal_pipe[0] = loop->signal_pipe[1] = -1;
  }
  corio__free(loop->signal_saved, SIGNAL_SLOTS * sizeof(struct sigaction));
  loop->signal_saved = NULL;
}
