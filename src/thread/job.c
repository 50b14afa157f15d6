/* Jobs: run_in_executor and to_thread. The future lives on the loop; the
 * pool thread never touches it. It writes the outcome into the job and
 * posts the job's embedded delivery call, which completes the future on
 * the loop's thread. Posting cannot fail for want of memory, so no outcome
 * is lost; one nobody will read is discarded. The future is a kind of its
 * own, whose cancellation withdraws a queued job at once. */
#include <errno.h>
#include <stdio.h>

#include "core/alloc.h"
#include "coro/symbol.h"
#include "loop/ext.h"
#include "task/task_internal.h"
#include "thread/thread_internal.h"

static void job_unref(corio__job *job) {
  if (atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (job->release)
    job->release(job->arg);
  if (job->ctx)
    corio_context_unref(job->ctx);
  corio__strfree(job->message);
  corio__executor_unref(job->ex);
  corio__loop_mem_unref(job->loop);
  corio__free(job, sizeof *job);
}

static void discard_result(corio__job *job) {
  if (job->discard && job->error == 0 && !job->skipped)
    job->discard(job->result);
}

/* ---- the pool thread's side ---------------------------------------------- */

static int call_job(void *arg) {
  corio__job *job = arg;

  return job->fn(job->arg, &job->result);
}

static void post_outcome(corio__job *job) {
  /* The loop closed meanwhile: nobody reads the outcome. */
  if (corio__loop_post_threadsafe(job->loop, &job->delivery) < 0) {
    discard_result(job);
    job_unref(job);
  }
}

void corio__job_execute(corio__job *job) {
  corio__fail_sink sink = {0, NULL};
  corio__fail_sink *prev_sink = corio__fail_sink_current;
  int rc;

  job->result = NULL;
  corio__fail_sink_current = &sink;
  rc = job->ctx ? corio_context_run(job->ctx, call_job, job) : call_job(job);
  corio__fail_sink_current = prev_sink;
  if (rc >= 0 || sink.code != rc) {
    /* No error, or the message was for another one. */
    corio__strfree(sink.message);
    sink.message = NULL;
  }
  if (rc > 0) {
    sink.message = corio__format("executor function returned %d: return 0 "
                                 "or a negative code",
                                 rc);
    rc = -EINVAL;
  }
  job->error = rc;
  job->message = sink.message;
  if (rc < 0)
    job->result = NULL;
  post_outcome(job);
}

void corio__job_skip(corio__job *job) {
  job->skipped = 1;
  post_outcome(job);
}

/* ---- the loop's side ----------------------------------------------------- */

/* A plain future that knows its job while the loop side holds it. */
typedef struct job_future {
  corio_future fut; /* first: the future layer sees a corio_future */
  corio__job *job;  /* NULL once the loop side let go */
} job_future;

static void job_future_free(corio_future *fut) {
  corio__future_free_block(fut, sizeof(job_future));
}

/* Withdrawn here, not in the done callback: that runs an iteration later,
 * and a pool thread freed meanwhile would start the job (issue 12). Under
 * the executor's lock a job is either still queued, and then never runs,
 * or taken already, and then deliver() discards its result. */
static int job_future_cancel(corio_future *fut, const char *msg) {
  corio__job *job = ((job_future *)fut)->job;

  if (!corio__future_cancel_plain(fut, msg))
    return 0;
  /* The loop side's reference keeps job alive past this unref. */
  if (job && corio__executor_withdraw(job->ex, job))
    job_unref(job); /* the executor side: it will never run */
  return 1;
}

/* For dumps: the function the job runs (its state is the executor's,
 * under its lock: not read here). */
static void job_future_detail(corio_future *fut, char *buf, size_t len) {
  corio__job *job = ((job_future *)fut)->job;

  if (job)
    corio__symbol_format((uintptr_t)job->fn, 0, buf, len);
  else
    snprintf(buf, len, "done");
}

static const corio__future_ops job_future_ops = {.type_name = "Future",
                                                 .settable = 1,
                                                 .free = job_future_free,
                                                 .cancel = job_future_cancel,
                                                 .wait_name = "executor job",
                                                 .detail = job_future_detail};

/* The loop side lets go: the future has its outcome (or never will). */
static void release_loop_side(corio__job *job) {
  corio_future *fut = job->fut;

  thread_list_remove(&job->link);
  job->fut = NULL;
  ((job_future *)fut)->job = NULL;
  /* Cancelled: withdrawn already. Completed by hand
   * (corio_future_set_result): the job leaves the queue now if it is
   * still there. */
  if (corio__executor_withdraw(job->ex, job))
    job_unref(job); /* the executor side: it will never run */
  corio_future_unref(fut);
  job_unref(job);
}

/* Any completion of the future, cancellation included. */
static void on_future_done(corio_future *fut, void *arg) {
  corio__job *job = arg;

  (void)fut;
  if (job->fut)
    release_loop_side(job);
}

/* Only the job holds the future and only its own callback is on it: a
 * result set there could never be read (fire and forget). */
static int unreadable(const corio_future *fut) {
  return fut->refs == 1 && fut->callbacks_len == 1;
}

/* The delivery call, on the loop's thread. */
static int deliver(void *arg) {
  corio__job *job = arg;
  corio_future *fut = job->fut;

  if (!fut || corio_future_done(fut)) {
    discard_result(job); /* cancelled while it ran */
  } else if (job->error == 0 && !job->skipped && unreadable(fut)) {
    discard_result(job);
    (void)corio_future_set_result(fut, NULL); /* lets the job go */
  } else if (job->skipped) {
    (void)corio_future_cancel(fut, "the executor was shut down");
  } else if (job->error < 0) {
    (void)corio_future_set_error(fut, job->error, job->message ? "%s" : NULL,
                                 job->message);
  } else {
    (void)corio_future_set_result(fut, job->result);
  }
  job_unref(job);
  return 0;
}

/* The loop closed with the delivery posted (on the closing thread). */
static void deliver_dropped(void *arg) {
  corio__job *job = arg;

  discard_result(job);
  job_unref(job);
}

void corio__jobs_close(thread_loop_state *ls) {
  while (ls->jobs.next != &ls->jobs) {
    corio__job *job = THREAD_CONTAINER(ls->jobs.next, corio__job, link);
    /* Callbacks no longer run on a closing loop: settle it here. */
    (void)corio_future_cancel(job->fut, "the event loop was closed");
    release_loop_side(job);
  }
}

int corio_run_in_executor_ex(corio_loop *loop, corio_executor *ex,
                             corio_thread_fn fn, void *arg,
                             const corio_job_options *options,
                             corio_future **out) {
  thread_loop_state *ls;
  corio__job *job;
  int rc;

  if (!fn || !out)
    return -EINVAL;
  if (!loop)
    loop = corio_loop_current();
  if (!loop)
    return CORIO_ENOLOOP;
  if (corio_loop_is_closed(loop))
    return CORIO_ELOOPCLOSED;
  ls = corio__thread_loop_state(loop);
  if (!ls)
    return -ENOMEM;
  if (ls->closed)
    return CORIO_ELOOPCLOSED;
  if (!ex) {
    rc = corio_loop_default_executor(loop, &ex);
    if (rc < 0)
      return rc;
  }
  job = corio__calloc(sizeof *job);
  if (!job)
    return -ENOMEM;
  rc = corio__future_create(loop, &job_future_ops, sizeof(job_future),
                            &job->fut);
  if (rc < 0)
    goto fail_job;
  ((job_future *)job->fut)->job = job;
  rc = corio_future_add_done_callback(job->fut, on_future_done, job);
  if (rc < 0)
    goto fail_future;
  job->ex = corio__executor_ref(ex);
  job->fn = fn;
  job->arg = arg;
  if (options) {
    job->ctx = options->context ? corio_context_ref(options->context) : NULL;
    job->discard = options->discard;
    job->release = options->release;
  }
  job->ls = ls;
  job->loop = loop;
  corio__loop_mem_ref(loop);
  corio__remote_call_init(&job->delivery, deliver, deliver_dropped, job);
  atomic_init(&job->refs, 2);
  rc = corio__executor_submit(ex, job);
  if (rc < 0) {
    (void)corio_future_remove_done_callback(job->fut, on_future_done, job);
    corio_future_unref(job->fut);
    job->release = NULL; /* arg stays the caller's */
    atomic_store(&job->refs, 1);
    job_unref(job);
    return rc;
  }
  thread_list_add(&ls->jobs, &job->link);
  *out = corio_future_ref(job->fut);
  return 0;

fail_future:
  corio_future_unref(job->fut);
fail_job:
  corio__free(job, sizeof *job);
  return rc;
}

int corio_run_in_executor(corio_loop *loop, corio_executor *ex,
                          corio_thread_fn fn, void *arg, corio_future **out) {
  return corio_run_in_executor_ex(loop, ex, fn, arg, NULL, out);
}

int corio_to_thread_ex(corio_thread_fn fn, void *arg,
                       void (*discard)(void *result), void **result) {
  corio_job_options options = {.discard = discard};
  corio_future *fut;
  int rc;

  if (!fn)
    return -EINVAL;
  if (!corio_current_task())
    return CORIO_ENOTASK;
  rc = corio_context_copy(&options.context);
  if (rc < 0)
    return rc;
  rc = corio_run_in_executor_ex(NULL, NULL, fn, arg, &options, &fut);
  corio_context_unref(options.context);
  if (rc < 0)
    return rc;
  rc = corio_future_await(fut, result);
  if (!corio_future_done(fut)) {
    /* This task was cancelled (or its loop is closing): so is the job. */
    (void)corio_future_cancel(fut, NULL);
  } else if (rc == -ECANCELED && !corio_future_cancelled(fut)) {
    /* Cancelled after the outcome arrived: a result nobody will read. */
    void *unread;
    if (corio_future_result(fut, &unread) == 0 && discard)
      discard(unread);
  }
  corio_future_unref(fut);
  return rc;
}

int corio_to_thread(corio_thread_fn fn, void *arg, void **result) {
  return corio_to_thread_ex(fn, arg, NULL, result);
}
