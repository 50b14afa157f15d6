/* The event loop: life cycle, scheduling and the iteration itself, which
 * follows asyncio's _run_once: run what was ready when the iteration
 * started, poll only as long as nothing is ready and no timer is due, then
 * queue I/O callbacks and expired timers for the next iteration. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "coro/symbol.h"
#include "loop/loop_internal.h"

/* Purge cancelled timers once they are half the heap or more (and the
 * heap is not tiny), as asyncio does, so cancelling many timers costs no
 * growth: one O(n) rebuild instead of an O(log n) pop for each. */
enum { PURGE_MIN_TIMERS = 100 };
enum { POLL_EVERY_CALLBACKS = 64 };
#define EVENTS_PER_POLL 256
#define DEFAULT_SLOW_CALLBACK_NS ((int64_t)100 * 1000 * 1000)

static corio__thread_local corio_loop *running_loop;
static corio__thread_local corio_loop *current_loop;

static int64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The same clock at tick resolution: a quarter of the cost of a precise
 * read here, and never ahead of it by more than its resolution. 0 when
 * the system has no such clock. */
static int64_t coarse_resolution_ns(void) {
#ifdef CLOCK_MONOTONIC_COARSE
  struct timespec ts;

  if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0 && ts.tv_sec == 0)
    return ts.tv_nsec;
#endif
  return 0;
}

static int64_t coarse_now_ns(void) {
#ifdef CLOCK_MONOTONIC_COARSE
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#else
  return 0;
#endif
}

/* ---- life cycle ---------------------------------------------------------- */

static corio_loop_backend backend_from_env(void) {
  const char *name = getenv("CORIO_POLLER");

  if (!name)
    return CORIO_LOOP_BACKEND_EPOLL;
  if (strcmp(name, "poll") == 0)
    return CORIO_LOOP_BACKEND_POLL;
  if (strcmp(name, "io_uring") == 0 || strcmp(name, "uring") == 0)
    return CORIO_LOOP_BACKEND_IO_URING;
  return CORIO_LOOP_BACKEND_EPOLL;
}

/* The backend's poller, created; io_uring falls back to epoll unless told
 * not to (a kernel without it, a seccomp filter, a container's policy). */
static int create_poller(corio_loop *loop, corio_loop_backend backend,
                         unsigned flags) {
  int rc;

  if (backend == CORIO_LOOP_BACKEND_DEFAULT)
    backend = backend_from_env();
  loop->poller_ops = backend == CORIO_LOOP_BACKEND_POLL ? &corio__poller_poll
                     : backend == CORIO_LOOP_BACKEND_IO_URING
                         ? &corio__poller_uring
                         : &corio__poller_epoll;
  rc = loop->poller_ops->create(&loop->poller);
  if (rc < 0 && rc != -ENOMEM && loop->poller_ops == &corio__poller_uring &&
      !(flags & CORIO_LOOP_NO_FALLBACK)) {
    loop->poller_ops = &corio__poller_epoll;
    rc = loop->poller_ops->create(&loop->poller);
  }
  return rc;
}

static void free_loop(corio_loop *loop) {
  pthread_mutex_destroy(&loop->remote_lock);
  corio__free(loop->events, (size_t)loop->events_max * sizeof *loop->events);
  corio__free(loop, sizeof *loop);
}

int corio_loop_create(corio_loop **out) {
  return corio_loop_create_with(out, NULL);
}

int corio_loop_create_with(corio_loop **out,
                           const corio_loop_options *options) {
  static const corio_loop_options defaults;
  corio_loop *loop;
  const char *debug = getenv("CORIO_DEBUG");
  int rc;

  if (!options)
    options = &defaults;
  if (!out || (unsigned)options->backend > CORIO_LOOP_BACKEND_IO_URING ||
      (options->flags & ~CORIO_LOOP_NO_FALLBACK))
    return -EINVAL;
  loop = corio__calloc(sizeof *loop);
  if (!loop)
    return -ENOMEM;
  atomic_init(&loop->refs, 1);
  atomic_init(&loop->mem_refs, 1); /* held by the references together */
  loop->wakeup_fd = loop->signal_pipe[0] = loop->signal_pipe[1] = -1;
  loop->slow_callback_ns = DEFAULT_SLOW_CALLBACK_NS;
  loop->callbacks_since_poll = POLL_EVERY_CALLBACKS;
  loop->coarse_res_ns = coarse_resolution_ns();
  loop->debug = debug && debug[0] && strcmp(debug, "0") != 0;
  rc = pthread_mutex_init(&loop->remote_lock, NULL);
  if (rc != 0) {
    corio__free(loop, sizeof *loop);
    return -rc;
  }
  loop->events_max = EVENTS_PER_POLL;
  loop->events = corio__alloc((size_t)loop->events_max * sizeof *loop->events);
  if (!loop->events) {
    loop->events_max = 0;
    free_loop(loop);
    return -ENOMEM;
  }
  rc = create_poller(loop, options->backend, options->flags);
  if (rc < 0) {
    free_loop(loop);
    return rc;
  }
  rc = corio__remote_open(loop);
  if (rc < 0) {
    loop->poller_ops->destroy(loop->poller);
    free_loop(loop);
    return rc;
  }
  corio__loop_registry_add(loop);
  *out = loop;
  return 0;
}

corio_loop *corio_loop_ref(corio_loop *loop) {
  if (loop)
    atomic_fetch_add(&loop->refs, 1);
  return loop;
}

/* Two counts: references to the loop (the last one closes it), and holders
 * of its memory (those references together, plus each user reference to a
 * handle, whose memory is in the loop's pool). A forgotten handle then
 * keeps a few bytes, not the loop's fds and signal handlers. */
void corio__loop_mem_ref(corio_loop *loop) {
  atomic_fetch_add(&loop->mem_refs, 1);
}

void corio__loop_mem_unref(corio_loop *loop) {
  if (atomic_fetch_sub(&loop->mem_refs, 1) != 1)
    return;
  corio__loop_registry_remove(loop);
  for (int i = 0; i < CORIO__LOOP_EXT_COUNT; i++)
    if (loop->ext_ops[i] && loop->ext_ops[i]->free)
      loop->ext_ops[i]->free(loop->ext_data[i]);
  corio__handles_free_all(loop);
  free_loop(loop);
}

void corio_loop_unref(corio_loop *loop) {
  if (!loop || atomic_fetch_sub(&loop->refs, 1) != 1)
    return;
  (void)corio_loop_close(loop);
  corio__loop_mem_unref(loop);
}

static void drop_ready(corio_loop *loop) {
  corio_handle *h = loop->ready.head, *next;

  /* Embedded handles were taken out by their layers' close hooks. */
  for (; h; h = next) {
    next = h->next;
    if (h->kind != HANDLE_EMBEDDED)
      corio__handle_release(h);
  }
  loop->ready.head = loop->ready.tail = NULL;
}

int corio_loop_close(corio_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->running)
    return CORIO_ELOOPRUNNING;
  if (loop->closed || loop->closing)
    return 0; /* closed, or being closed (a hook's code closing it again) */
  /* The layers above drop their tasks while the loop still works. */
  loop->closing = 1;
  for (int i = 0; i < CORIO__LOOP_EXT_COUNT; i++)
    if (loop->ext_ops[i] && loop->ext_ops[i]->close)
      loop->ext_ops[i]->close(loop, loop->ext_data[i]);
  loop->closed = 1;
  corio__remote_close(loop);
  corio__signal_close(loop);
  corio__io_close(loop);
  drop_ready(loop);
  corio__timers_free(&loop->timers);
  loop->poller_ops->destroy(loop->poller);
  loop->poller = NULL;
  if (current_loop == loop)
    current_loop = NULL;
  return 0;
}

const char *corio_loop_backend_name(const corio_loop *loop) {
  return loop ? loop->poller_ops->name : NULL;
}

int corio_loop_is_running(const corio_loop *loop) {
  return loop ? loop->running : 0;
}

int corio_loop_is_closed(const corio_loop *loop) {
  return loop ? loop->closed : 0;
}

corio_loop *corio_loop_running(void) { return running_loop; }

corio_loop *corio_loop_current(void) {
  return running_loop ? running_loop : current_loop;
}

void corio_loop_set_current(corio_loop *loop) { current_loop = loop; }

/* ---- the layers above ------------------------------------------------- */

void *corio__loop_ext_get(const corio_loop *loop,
                          enum corio__loop_ext_slot slot) {
  return loop->ext_data[slot];
}

int corio__loop_ext_set(corio_loop *loop, enum corio__loop_ext_slot slot,
                        void *data, const corio__loop_ext_ops *ops) {
  if (loop->ext_ops[slot])
    return -EBUSY;
  loop->ext_data[slot] = data;
  loop->ext_ops[slot] = ops;
  return 0;
}

int corio__loop_ext_get_or_make(corio_loop *loop,
                                enum corio__loop_ext_slot slot, size_t size,
                                const corio__loop_ext_ops *ops, void **out) {
  void *data = loop->ext_data[slot];
  int rc;

  if (corio_loop_is_closed(loop))
    return CORIO_ELOOPCLOSED;
  if (!data) {
    data = corio__calloc(size);
    if (!data)
      return -ENOMEM;
    if ((rc = corio__loop_ext_set(loop, slot, data, ops)) < 0) {
      corio__free(data, size);
      return rc;
    }
  }
  *out = data;
  return 0;
}

int corio__loop_ext_shutdown(corio_loop *loop) {
  int first = 0;

  for (int i = 0; i < CORIO__LOOP_EXT_COUNT; i++) {
    if (loop->ext_ops[i] && loop->ext_ops[i]->shutdown) {
      int rc = loop->ext_ops[i]->shutdown(loop, loop->ext_data[i]);
      if (rc < 0 && first == 0)
        first = rc;
    }
  }
  return first;
}

/* ---- clock --------------------------------------------------------------- */

double corio_loop_time(const corio_loop *loop) {
  (void)loop;
  return (double)now_ns() / 1e9;
}

int64_t corio_loop_time_ns(const corio_loop *loop) {
  (void)loop;
  return now_ns();
}

/* ---- checks -------------------------------------------------------------- */

/* Debug mode: a loop that is running may only be used from its thread. */
int corio__loop_check_thread(const corio_loop *loop) {
  if (loop->debug && loop->running &&
      !pthread_equal(loop->thread, pthread_self()))
    return CORIO_ETHREAD;
  return 0;
}

static int check_usable(const corio_loop *loop, corio_callback cb) {
  if (!loop || !cb)
    return -EINVAL;
  if (loop->closed)
    return CORIO_ELOOPCLOSED;
  return corio__loop_check_thread(loop);
}

/* ---- scheduling ---------------------------------------------------------- */

int corio_loop_call_soon(corio_loop *loop, corio_callback cb, void *arg,
                         corio_handle **handle) {
  corio_handle *h;
  int rc = check_usable(loop, cb);

  if (corio__unlikely(rc < 0))
    return rc;
  rc = corio__handle_new(loop, HANDLE_SOON, cb, arg, &h);
  if (corio__unlikely(rc < 0))
    return rc;
  corio__queue_push(&loop->ready, h);
  corio__handle_give_to_user(h, handle);
  return 0;
}

static int push_timer(corio_loop *loop, int64_t when_ns, corio_callback cb,
                      void *arg, corio_handle **out) {
  corio_handle *h;
  int rc = corio__handle_new(loop, HANDLE_TIMER, cb, arg, &h);

  if (rc < 0)
    return rc;
  h->when = when_ns;
  h->seq = loop->next_seq++;
  rc = corio__timers_push(&loop->timers, h);
  if (rc < 0) {
    corio__handle_release(h);
    return rc;
  }
  *out = h;
  return 0;
}

int corio_loop_call_at_ns(corio_loop *loop, int64_t when_ns, corio_callback cb,
                          void *arg, corio_handle **handle) {
  corio_handle *h;
  int rc = check_usable(loop, cb);

  if (rc < 0)
    return rc;
  if (when_ns < 0)
    return -EINVAL;
  rc = push_timer(loop, when_ns, cb, arg, &h);
  if (rc < 0)
    return rc;
  corio__handle_give_to_user(h, handle);
  return 0;
}

int corio__loop_call_soon_borrowed(corio_loop *loop, corio_callback cb,
                                   void *arg, corio_handle **handle) {
  int rc;

  if (loop->closed)
    return CORIO_ELOOPCLOSED;
  rc = corio__handle_new(loop, HANDLE_SOON, cb, arg, handle);
  if (rc == 0)
    corio__queue_push(&loop->ready, *handle);
  return rc;
}

int corio__loop_call_at_borrowed(corio_loop *loop, int64_t when_ns,
                                 corio_callback cb, void *arg,
                                 corio_handle **handle) {
  if (loop->closed)
    return CORIO_ELOOPCLOSED;
  return push_timer(loop, when_ns < 0 ? 0 : when_ns, cb, arg, handle);
}

void corio__loop_push_ready(corio_loop *loop, corio_handle *h) {
  corio__queue_push(&loop->ready, h);
}

void corio__loop_unqueue_embedded(corio_loop *loop,
                                  void (*dropped)(corio_handle *h)) {
  corio_handle *h = loop->ready.head, *next;

  loop->ready.head = loop->ready.tail = NULL;
  for (; h; h = next) {
    next = h->next;
    if (h->kind == HANDLE_EMBEDDED)
      dropped(h);
    else
      corio__queue_push(&loop->ready, h);
  }
}

int corio_loop_call_later_ns(corio_loop *loop, int64_t delay_ns,
                             corio_callback cb, void *arg,
                             corio_handle **handle) {
  int64_t now = now_ns();

  if (delay_ns < 0)
    return -EINVAL;
  /* A delay past the end of the clock means never: the last instant. */
  if (delay_ns > INT64_MAX - now)
    delay_ns = INT64_MAX - now;
  return corio_loop_call_at_ns(loop, now + delay_ns, cb, arg, handle);
}

/* Seconds as nanoseconds; -EINVAL for what no deadline can be. */
static int seconds_to_ns(double seconds, int64_t *ns) {
  if (!isfinite(seconds) || seconds < 0 || seconds > 9.0e9)
    return -EINVAL;
  *ns = (int64_t)(seconds * 1e9);
  return 0;
}

int corio_loop_call_later(corio_loop *loop, double delay, corio_callback cb,
                          void *arg, corio_handle **handle) {
  int64_t ns;
  int rc = seconds_to_ns(delay, &ns);

  return rc < 0 ? rc : corio_loop_call_later_ns(loop, ns, cb, arg, handle);
}

int corio_loop_call_at(corio_loop *loop, double when, corio_callback cb,
                       void *arg, corio_handle **handle) {
  int64_t ns;
  int rc = seconds_to_ns(when, &ns);

  if (rc == 0)
    rc = corio_loop_call_at_ns(loop, ns, cb, arg, handle);
  /* The handle tells the deadline exactly as given, not as nanoseconds. */
  if (rc == 0 && handle) {
    (*handle)->when_s = when;
    (*handle)->when_in_seconds = 1;
  }
  return rc;
}

/* ---- errors -------------------------------------------------------------- */

void corio_loop_default_exception_handler(corio_loop *loop,
                                          const corio_loop_error *e,
                                          void *arg) {
  (void)arg;
  fprintf(stderr, "corio: loop %p: %s", (void *)loop,
          e && e->message ? e->message : "error");
  if (!e) {
    fputc('\n', stderr);
    return;
  }
  if (e->task_name)
    fprintf(stderr, " [%s]", e->task_name);
  if (e->callback)
    fprintf(stderr, " [callback %p, arg %p]", (void *)(uintptr_t)e->callback,
            e->callback_arg);
  if (e->error)
    fprintf(stderr, ": %s (%d)", corio_strerror(e->error), e->error);
  if (e->error_message)
    fprintf(stderr, ": %s", e->error_message);
  fputc('\n', stderr);
}

void corio_loop_set_exception_handler(corio_loop *loop,
                                      corio_exception_handler h, void *arg) {
  if (!loop)
    return;
  loop->exception_handler = h;
  loop->exception_arg = h ? arg : NULL;
}

corio_exception_handler corio_loop_get_exception_handler(const corio_loop *loop,
                                                         void **arg) {
  if (arg)
    *arg = loop ? loop->exception_arg : NULL;
  return loop ? loop->exception_handler : NULL;
}

void corio_loop_call_exception_handler(corio_loop *loop,
                                       const corio_loop_error *e) {
  if (!loop || !e)
    return;
  if (loop->exception_handler)
    loop->exception_handler(loop, e, loop->exception_arg);
  else
    corio_loop_default_exception_handler(loop, e, NULL);
}

void corio__loop_report(corio_loop *loop, const char *message, int error,
                        corio_callback cb, void *arg) {
  corio_loop_error e = {
      .message = message, .error = error, .callback = cb, .callback_arg = arg};

  corio_loop_call_exception_handler(loop, &e);
}

/* ---- debug --------------------------------------------------------------- */

void corio_loop_set_debug(corio_loop *loop, int enabled) {
  if (loop)
    loop->debug = enabled != 0;
}

int corio_loop_get_debug(const corio_loop *loop) {
  return loop ? loop->debug : 0;
}

int corio_loop_set_slow_callback_duration(corio_loop *loop, double seconds) {
  int64_t ns;
  int rc;

  if (!loop)
    return -EINVAL;
  rc = seconds_to_ns(seconds, &ns);
  if (rc == 0)
    loop->slow_callback_ns = ns;
  return rc;
}

double corio_loop_get_slow_callback_duration(const corio_loop *loop) {
  return loop ? (double)loop->slow_callback_ns / 1e9 : 0.0;
}

/* ---- the iteration ------------------------------------------------------- */

/* A layer above may claim the callback (a task's step), to name it if it
 * is slow: the slot that did, and its token. */
struct claim {
  int slot;
  void *token;
};

static struct claim claim_callback(corio_loop *loop, corio_callback cb,
                                   void *arg) {
  for (int i = 0; i < CORIO__LOOP_EXT_COUNT; i++) {
    const corio__loop_ext_ops *ops = loop->ext_ops[i];
    void *token;

    if (ops && ops->callback_begin &&
        (token = ops->callback_begin(loop, loop->ext_data[i], cb, arg)))
      return (struct claim){i, token};
  }
  return (struct claim){-1, NULL};
}

/* Names the callback into what (when what is not NULL) and lets the
 * claim go. */
static void release_claim(corio_loop *loop, struct claim c, corio_callback cb,
                          char *what, size_t len) {
  if (c.token)
    loop->ext_ops[c.slot]->callback_end(loop, loop->ext_data[c.slot], c.token,
                                        what, len);
  else if (what) {
    char name[192];

    snprintf(what, len, "callback %s",
             corio__symbol_format((uintptr_t)cb, 0, name, sizeof name));
  }
}

static corio__noinline void run_handle_timed(corio_loop *loop,
                                             corio_callback cb, void *arg) {
  int64_t started = now_ns(), took;
  struct claim c = claim_callback(loop, cb, arg);
  int rc = cb(arg);

  if (rc < 0)
    corio__loop_report(loop, "Exception in callback", rc, cb, arg);
  took = now_ns() - started;
  if (took >= loop->slow_callback_ns) {
    char what[512], message[640];

    release_claim(loop, c, cb, what, sizeof what);
    snprintf(message, sizeof message, "executing %s took %.3f s", what,
             (double)took / 1e9);
    corio__loop_report(loop, message, 0, cb, arg);
  } else {
    release_claim(loop, c, cb, NULL, 0);
  }
}

/* The callback may free an embedded handle's owner: h is not read after
 * the call. */
static inline void run_handle(corio_loop *loop, corio_handle *h) {
  corio_callback cb = h->cb;
  void *arg = h->arg;
  int rc;

  if (corio__unlikely(loop->debug)) {
    run_handle_timed(loop, cb, arg);
    return;
  }
  rc = cb(arg);
  if (corio__unlikely(rc < 0))
    corio__loop_report(loop, "Exception in callback", rc, cb, arg);
}

/* How long the poller may block: not at all when something is ready or
 * the loop is stopping, until the next timer, or until woken. A wait for a
 * timer is rounded up to whole milliseconds, with every poller (epoll can
 * do no better): timers fire up to about 1 ms late, never early, and
 * timers close together are run by one wake-up instead of one each. */
static int64_t poll_timeout(const corio_loop *loop) {
  const int64_t ms = 1000000;
  const corio_handle *top;
  int64_t wait, now;

  if (loop->ready.head || loop->stopping)
    return 0;
  top = corio__timers_top(&loop->timers);
  if (!top)
    return -1;
  now = now_ns();
  if (corio__timers_top_when(&loop->timers) <= now)
    return 0;
  wait = corio__timers_top_when(&loop->timers) - now;
  return wait > INT64_MAX - ms ? wait : (wait + ms - 1) / ms * ms;
}

static void prune_timers(corio_loop *loop) {
  timer_heap *heap = &loop->timers;
  corio_handle *top;

  if (heap->size > PURGE_MIN_TIMERS && heap->cancelled * 2 >= heap->size) {
    corio__timers_purge_cancelled(heap);
    return;
  }
  while ((top = corio__timers_top(heap)) && top->cancelled)
    corio__handle_release(corio__timers_pop(heap));
}

static void queue_expired_timers(corio_loop *loop, int64_t now) {
  corio_handle *top;

  while ((top = corio__timers_top(&loop->timers)) &&
         corio__timers_top_when(&loop->timers) <= now) {
    corio_handle *h = corio__timers_pop(&loop->timers);
    if (h->cancelled)
      corio__handle_release(h);
    else
      corio__queue_push(&loop->ready, h);
  }
}

/* While callbacks are ready the poll cannot block, and all it can bring
 * is I/O that became ready meanwhile. Asking the kernel for that once per
 * POLL_EVERY_CALLBACKS callbacks rather than once per iteration keeps a
 * busy loop of short iterations out of the kernel and bounds how long
 * ready I/O waits to that many callbacks (tokio's event_interval works
 * the same way). Whenever nothing is ready, the loop polls as asyncio
 * does. */
/* The precise clock is read only when a timer may be due: never if there
 * is none; and in a busy iteration (the poll was skipped, callbacks are
 * ready) only if the next deadline is within the coarse clock's
 * resolution of its reading, so a busy loop with a far timer (a wait_for)
 * saves a precise read per iteration. After a poll the precise clock is
 * always read: the coarse one may lag after the CPU slept, and the loop
 * must not spin waiting for it. */
static void queue_due_timers(corio_loop *loop, int polled) {
  const corio_handle *top = corio__timers_top(&loop->timers);

  if (!top)
    return;
  if (!polled && loop->coarse_res_ns > 0 &&
      corio__timers_top_when(&loop->timers) >
          coarse_now_ns() + loop->coarse_res_ns)
    return;
  queue_expired_timers(loop, now_ns());
}

static int poll_once(corio_loop *loop, int *polled) {
  int n;

  *polled = 0;
  if (loop->ready.head && !loop->stopping &&
      loop->callbacks_since_poll < POLL_EVERY_CALLBACKS)
    return 0;
  *polled = 1;
  loop->callbacks_since_poll = 0;
  n = loop->poller_ops->wait(loop->poller, poll_timeout(loop), loop->events,
                             loop->events_max);
  if (n < 0)
    return n;
  for (int i = 0; i < n; i++)
    corio__io_dispatch(loop, &loop->events[i]);
  return 0;
}

static void run_ready(corio_loop *loop) {
  /* Only what is ready now: callbacks these schedule wait for the next
   * iteration. */
  corio_handle *h = loop->ready.head;

  loop->ready.head = loop->ready.tail = NULL;
  while (h) {
    corio_handle *next = h->next;
    loop->callbacks_since_poll++;
    if (h->kind == HANDLE_EMBEDDED) {
      run_handle(loop, h); /* its owner may be gone after this */
    } else {
      if (!h->cancelled)
        run_handle(loop, h);
      corio__handle_release(h);
    }
    h = next;
  }
}

static int run_once(corio_loop *loop) {
  int rc, polled;

  prune_timers(loop);
  rc = poll_once(loop, &polled);
  queue_due_timers(loop, polled);
  run_ready(loop);
  return rc;
}

int corio_loop_run_forever(corio_loop *loop) {
  int rc;

  if (!loop)
    return -EINVAL;
  if (loop->closed || loop->closing)
    return CORIO_ELOOPCLOSED;
  if (loop->running || running_loop)
    return CORIO_ELOOPRUNNING;
  corio_loop_ref(loop);
  loop->running = 1;
  loop->thread = pthread_self();
  running_loop = loop;
  /* A poller that fails would fail again: the loop stops with its error
   * (callbacks' errors, by contrast, never stop it). */
  do
    rc = run_once(loop);
  while (rc == 0 && !loop->stopping);
  if (loop->poller_ops->run_ended)
    loop->poller_ops->run_ended(loop->poller);
  for (int i = 0; i < CORIO__LOOP_EXT_COUNT; i++)
    if (loop->ext_ops[i] && loop->ext_ops[i]->stopped)
      loop->ext_ops[i]->stopped(loop, loop->ext_data[i]);
  loop->stopping = 0;
  loop->running = 0;
  running_loop = NULL;
  corio_loop_unref(loop);
  return rc;
}

int corio_loop_stop(corio_loop *loop) {
  if (!loop)
    return -EINVAL;
  loop->stopping = 1;
  return 0;
}

int corio_loop_stop_cb(void *loop) { return corio_loop_stop(loop); }
