/* run_coroutine_threadsafe and its future. The future's outcome and
 * callbacks are under its lock, for any thread; the task behind it is the
 * loop's business. Everything crossing over is an embedded call posted to
 * the loop (start, cancel, and the wake-up of a task waiting on another
 * loop), so nothing is lost for want of memory, and a loop closing with a
 * call posted hands it back. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "loop/ext.h"
#include "task/task_internal.h"
#include "thread/thread_internal.h"

enum tsf_state { TSF_PENDING, TSF_FINISHED, TSF_CANCELLED };

typedef struct tsf_callback {
  corio_threadsafe_callback cb;
  void *arg;
} tsf_callback;

struct corio_threadsafe_future {
  /* The caller's, the loop side's (until the task's outcome is in, or the
   * loop lets go), and a posted cancel call's. */
  atomic_int refs;
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  /* Under lock. */
  int state; /* enum tsf_state */
  void *result;
  int error;
  char *message;
  tsf_callback *callbacks;
  size_t callbacks_len, callbacks_cap;
  int loop_held;     /* the loop side has not let go: a cancel is posted */
  int cancel_posted; /* at most once */

  corio_loop *loop;
  corio_task_fn fn;
  void *arg;
  const void *site; /* where the user called: the task's creation site */
  corio__remote_call start_call, cancel_call;

  /* The loop's side: loop thread only. */
  corio_task *task; /* a reference, while it runs */
  thread_link link; /* in ls->started */
};

corio_threadsafe_future *
corio_threadsafe_future_ref(corio_threadsafe_future *fut) {
  if (fut)
    atomic_fetch_add_explicit(&fut->refs, 1, memory_order_relaxed);
  return fut;
}

void corio_threadsafe_future_unref(corio_threadsafe_future *fut) {
  if (!fut ||
      atomic_fetch_sub_explicit(&fut->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&fut->lock);
  pthread_cond_destroy(&fut->done_cond);
  corio__strfree(fut->message);
  if (fut->callbacks)
    corio__free(fut->callbacks, fut->callbacks_cap * sizeof *fut->callbacks);
  corio__free(fut, sizeof *fut);
}

/* Settles a pending future and runs its callbacks here, outside the lock.
 * Takes message. 0 if it was done already. */
static int complete(corio_threadsafe_future *fut, int state, void *result,
                    int error, char *message) {
  tsf_callback *callbacks;
  size_t len, cap;

  pthread_mutex_lock(&fut->lock);
  if (fut->state != TSF_PENDING) {
    pthread_mutex_unlock(&fut->lock);
    corio__strfree(message);
    return 0;
  }
  fut->state = state;
  fut->result = result;
  fut->error = error;
  fut->message = message;
  callbacks = fut->callbacks;
  len = fut->callbacks_len;
  cap = fut->callbacks_cap;
  fut->callbacks = NULL;
  fut->callbacks_len = fut->callbacks_cap = 0;
  pthread_cond_broadcast(&fut->done_cond);
  pthread_mutex_unlock(&fut->lock);
  for (size_t i = 0; i < len; i++)
    callbacks[i].cb(fut, callbacks[i].arg);
  if (callbacks)
    corio__free(callbacks, cap * sizeof *callbacks);
  return 1;
}

static void complete_error(corio_threadsafe_future *fut, int error,
                           const char *message) {
  (void)complete(fut, TSF_FINISHED, NULL, error,
                 message ? corio__strdup(message) : NULL);
}

/* ---- the loop's side ----------------------------------------------------- */

/* The loop is done with fut: a cancel from now on posts nothing. */
static void let_go(corio_threadsafe_future *fut) {
  pthread_mutex_lock(&fut->lock);
  fut->loop_held = 0;
  pthread_mutex_unlock(&fut->lock);
  corio_threadsafe_future_unref(fut);
}

/* The task is done: its outcome becomes the future's. */
static void take_outcome(corio_threadsafe_future *fut) {
  corio_task *task = fut->task;
  void *result = NULL;
  int rc = corio_task_result(task, &result);
  const char *msg = corio_task_message(task);
  char *copy = msg ? corio__strdup(msg) : NULL;

  if (rc == 0)
    (void)complete(fut, TSF_FINISHED, result, 0, copy);
  else if (corio_task_cancelled(task))
    (void)complete(fut, TSF_CANCELLED, NULL, -ECANCELED, copy);
  else
    (void)complete(fut, TSF_FINISHED, NULL, rc, copy);
  thread_list_remove(&fut->link);
  fut->task = NULL;
  corio_task_unref(task);
  let_go(fut);
}

static void on_task_done(corio_future *task_fut, void *arg) {
  (void)task_fut;
  take_outcome(arg);
}

static int start(void *arg) {
  corio_threadsafe_future *fut = arg;
  corio_spawn_options opts = {.loop = fut->loop};
  thread_loop_state *ls;
  corio_task *task;
  int rc;

  if (corio_threadsafe_future_done(fut)) { /* cancelled before it started */
    let_go(fut);
    return 0;
  }
  ls = corio__thread_loop_state(fut->loop);
  rc = ls ? corio__spawn_at(&task, fut->fn, fut->arg, &opts, fut->site)
          : -ENOMEM;
  if (rc == 0) {
    rc = corio_future_add_done_callback(corio_task_future(task), on_task_done,
                                        fut);
    if (rc < 0) {
      (void)corio_task_cancel(task, NULL);
      corio_task_unref(task);
    }
  }
  if (rc < 0) {
    complete_error(fut, rc, "the task could not be started");
    let_go(fut);
    return 0;
  }
  fut->task = task;
  thread_list_add(&ls->started, &fut->link);
  return 0;
}

static void start_dropped(void *arg) {
  complete_error(arg, CORIO_ELOOPCLOSED, "the event loop was closed");
  let_go(arg);
}

static int cancel_task(void *arg) {
  corio_threadsafe_future *fut = arg;

  if (fut->task)
    (void)corio_task_cancel(fut->task, NULL);
  corio_threadsafe_future_unref(fut);
  return 0;
}

static void cancel_dropped(void *arg) { corio_threadsafe_future_unref(arg); }

/* ---- any thread ---------------------------------------------------------- */

int corio_run_coroutine_threadsafe(corio_loop *loop, corio_task_fn fn,
                                   void *arg, corio_threadsafe_future **out) {
  corio_threadsafe_future *fut;
  pthread_condattr_t attr;
  int rc;

  if (!loop || !fn || !out)
    return -EINVAL;
  fut = corio__calloc(sizeof *fut);
  if (!fut)
    return -ENOMEM;
  atomic_init(&fut->refs, 2); /* the caller's and the loop side's */
  pthread_mutex_init(&fut->lock, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&fut->done_cond, &attr);
  pthread_condattr_destroy(&attr);
  fut->loop = loop;
  fut->fn = fn;
  fut->arg = arg;
  fut->site = __builtin_return_address(0);
  fut->loop_held = 1;
  corio__remote_call_init(&fut->start_call, start, start_dropped, fut);
  corio__remote_call_init(&fut->cancel_call, cancel_task, cancel_dropped, fut);
  thread_list_init(&fut->link);
  rc = corio__loop_post_threadsafe(loop, &fut->start_call);
  if (rc < 0) {
    atomic_store(&fut->refs, 1);
    corio_threadsafe_future_unref(fut);
    return rc;
  }
  *out = fut;
  return 0;
}

int corio_threadsafe_future_done(corio_threadsafe_future *fut) {
  int done;

  if (!fut)
    return 0;
  pthread_mutex_lock(&fut->lock);
  done = fut->state != TSF_PENDING;
  pthread_mutex_unlock(&fut->lock);
  return done;
}

int corio_threadsafe_future_cancelled(corio_threadsafe_future *fut) {
  int cancelled;

  if (!fut)
    return 0;
  pthread_mutex_lock(&fut->lock);
  cancelled = fut->state == TSF_CANCELLED;
  pthread_mutex_unlock(&fut->lock);
  return cancelled;
}

const char *corio_threadsafe_future_message(corio_threadsafe_future *fut) {
  const char *msg;

  if (!fut)
    return NULL;
  pthread_mutex_lock(&fut->lock);
  msg = fut->state != TSF_PENDING ? fut->message : NULL;
  pthread_mutex_unlock(&fut->lock);
  return msg;
}

/* Under lock, done. */
static int outcome(corio_threadsafe_future *fut, void **result) {
  if (fut->state == TSF_CANCELLED)
    return -ECANCELED;
  if (fut->error == 0 && result)
    *result = fut->result;
  return fut->error;
}

static struct timespec deadline_after(double timeout) {
  struct timespec ts;
  time_t whole;

  if (timeout > 1e9) /* far enough to be "no limit" in practice */
    timeout = 1e9;
  whole = (time_t)timeout;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += whole;
  ts.tv_nsec += (long)((timeout - (double)whole) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

int corio_threadsafe_future_result(corio_threadsafe_future *fut, double timeout,
                                   void **result) {
  struct timespec deadline;
  int rc = 0;

  int forever = isinf(timeout) && timeout > 0;

  if (!fut || isnan(timeout))
    return -EINVAL;
  if (timeout <= 0)
    rc = ETIMEDOUT; /* expired already: no wait */
  else if (!forever)
    deadline = deadline_after(timeout);
  pthread_mutex_lock(&fut->lock);
  if (fut->state == TSF_PENDING && timeout > 0 &&
      corio_loop_running() == fut->loop) {
    pthread_mutex_unlock(&fut->lock);
    return -EDEADLK;
  }
  while (fut->state == TSF_PENDING && rc != ETIMEDOUT) {
    if (forever)
      pthread_cond_wait(&fut->done_cond, &fut->lock);
    else
      rc = pthread_cond_timedwait(&fut->done_cond, &fut->lock, &deadline);
  }
  rc = fut->state == TSF_PENDING ? -ETIMEDOUT : outcome(fut, result);
  pthread_mutex_unlock(&fut->lock);
  return rc;
}

int corio_threadsafe_future_cancel(corio_threadsafe_future *fut) {
  int post;

  if (!fut)
    return -EINVAL;
  if (!complete(fut, TSF_CANCELLED, NULL, -ECANCELED, NULL))
    return 0;
  pthread_mutex_lock(&fut->lock);
  post = fut->loop_held && !fut->cancel_posted;
  if (post) {
    /* Under the lock: while loop_held the loop is alive (it lets go of
     * fut before its memory can go). */
    fut->cancel_posted = 1;
    corio_threadsafe_future_ref(fut);
    if (corio__loop_post_threadsafe(fut->loop, &fut->cancel_call) < 0)
      atomic_fetch_sub_explicit(&fut->refs, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&fut->lock);
  return 1;
}

int corio_threadsafe_future_add_done_callback(corio_threadsafe_future *fut,
                                              corio_threadsafe_callback cb,
                                              void *arg) {
  if (!fut || !cb)
    return -EINVAL;
  pthread_mutex_lock(&fut->lock);
  if (fut->state == TSF_PENDING) {
    if (fut->callbacks_len == fut->callbacks_cap) {
      void *arr = fut->callbacks;
      int rc =
          corio__grow_array(&arr, &fut->callbacks_cap, sizeof *fut->callbacks,
                            fut->callbacks_len + 1, 4);
      if (rc < 0) {
        pthread_mutex_unlock(&fut->lock);
        return rc;
      }
      fut->callbacks = arr;
    }
    fut->callbacks[fut->callbacks_len++] = (tsf_callback){cb, arg};
    pthread_mutex_unlock(&fut->lock);
    return 0;
  }
  pthread_mutex_unlock(&fut->lock);
  cb(fut, arg); /* done already: now, on this thread */
  return 0;
}

/* ---- a task waiting on a future of another thread ------------------------ */

/* The wait's two sides: the future's callback (any thread), which posts
 * the wake-up to the waiter's loop, and the loop's (until woken or the
 * loop closes). */
typedef struct tsf_wait {
  corio__remote_call wake;
  atomic_int refs;
  corio_loop *loop;  /* its memory, held: the callback posts to it */
  corio_future *fut; /* loop side: what the task awaits */
  thread_link link;  /* in ls->waits */
} tsf_wait;

static void wait_unref(tsf_wait *w) {
  if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
    return;
  corio__loop_mem_unref(w->loop);
  corio__free(w, sizeof *w);
}

static void wait_let_go(tsf_wait *w) {
  thread_list_remove(&w->link);
  corio_future_unref(w->fut);
  w->fut = NULL;
  wait_unref(w);
}

static int wake_waiter(void *arg) {
  tsf_wait *w = arg;

  if (w->fut) {
    (void)corio_future_set_result(w->fut, NULL);
    wait_let_go(w);
  }
  wait_unref(w);
  return 0;
}

static void wake_dropped(void *arg) { wait_unref(arg); }

static void post_wake(corio_threadsafe_future *fut, void *arg) {
  tsf_wait *w = arg;

  (void)fut;
  if (corio__loop_post_threadsafe(w->loop, &w->wake) < 0)
    wait_unref(w); /* its loop closed: nobody waits */
}

int corio_threadsafe_future_await(corio_threadsafe_future *fut, void **result) {
  corio_loop *loop;
  thread_loop_state *ls;
  corio_future *signal;
  tsf_wait *w;
  int rc;

  if (!fut)
    return -EINVAL;
  if (!corio_current_task())
    return CORIO_ENOTASK;
  if (corio_threadsafe_future_done(fut))
    return corio_threadsafe_future_result(fut, 0, result);
  loop = corio_task_loop(corio_current_task());
  ls = corio__thread_loop_state(loop);
  if (!ls)
    return -ENOMEM;
  w = corio__calloc(sizeof *w);
  if (!w)
    return -ENOMEM;
  rc = corio_future_create(loop, &w->fut);
  if (rc < 0) {
    corio__free(w, sizeof *w);
    return rc;
  }
  w->loop = loop;
  corio__loop_mem_ref(loop);
  corio__remote_call_init(&w->wake, wake_waiter, wake_dropped, w);
  atomic_init(&w->refs, 2);
  thread_list_add(&ls->waits, &w->link);
  signal = corio_future_ref(w->fut);
  corio_threadsafe_future_ref(fut); /* fut outlives the wait */
  rc = corio_threadsafe_future_add_done_callback(fut, post_wake, w);
  if (rc < 0) {
    wait_unref(w); /* the callback's side, never registered */
    wait_let_go(w);
  } else {
    rc = corio_future_await(signal, NULL);
    if (rc == 0)
      rc = corio_threadsafe_future_result(fut, 0, result);
  }
  corio_future_unref(signal);
  corio_threadsafe_future_unref(fut);
  return rc;
}

void corio__threadsafe_close(thread_loop_state *ls) {
  /* The task layer closed its tasks first: each is done now. */
  while (ls->started.next != &ls->started)
    take_outcome(
        THREAD_CONTAINER(ls->started.next, corio_threadsafe_future, link));
  while (ls->waits.next != &ls->waits)
    wait_let_go(THREAD_CONTAINER(ls->waits.next, tsf_wait, link));
}
