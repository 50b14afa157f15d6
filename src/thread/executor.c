/* The executor: a FIFO of jobs under one lock and threads that take them.
 * A thread is started when a job arrives and no thread is free, up to
 * max_workers; threads stay until shutdown. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sys_thread.h"
#include "thread/thread_internal.h"

enum { MAX_WORKERS_LIMIT = 1024 };

struct corio_executor {
  atomic_int refs; /* the creator's, loops', one per job and per thread */
  pthread_mutex_t lock;
  pthread_cond_t work;
  corio__job *head, *tail; /* queued jobs */
  unsigned queued;
  unsigned waiting; /* threads blocked waiting for work */
  unsigned wakes;   /* signalled, not woken yet: at most one from submit */
  unsigned threads, max_workers;
  int shutdown;
  int freed; /* the creator let go */
  pthread_t *tids;
  /* Joiners one at a time; joined counts the threads already joined. */
  pthread_mutex_t join_lock;
  unsigned joined;
};

unsigned corio_executor_default_workers(void) {
  unsigned cpus = 0;
  cpu_set_t set;

  if (sched_getaffinity(0, sizeof set, &set) == 0)
    cpus = (unsigned)CPU_COUNT(&set);
  if (cpus == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = n > 0 ? (unsigned)n : 1;
  }
  return cpus + 4 < 32 ? cpus + 4 : 32;
}

int corio_executor_create(corio_executor **out, unsigned max_workers) {
  corio_executor *ex;

  if (!out || max_workers > MAX_WORKERS_LIMIT)
    return -EINVAL;
  if (max_workers == 0)
    max_workers = corio_executor_default_workers();
  ex = corio__calloc(sizeof *ex);
  if (!ex)
    return -ENOMEM;
  ex->tids = corio__calloc(max_workers * sizeof *ex->tids);
  if (!ex->tids) {
    corio__free(ex, sizeof *ex);
    return -ENOMEM;
  }
  atomic_init(&ex->refs, 1);
  pthread_mutex_init(&ex->lock, NULL);
  pthread_cond_init(&ex->work, NULL);
  pthread_mutex_init(&ex->join_lock, NULL);
  ex->max_workers = max_workers;
  *out = ex;
  return 0;
}

unsigned corio_executor_max_workers(const corio_executor *ex) {
  return ex ? ex->max_workers : 0;
}

unsigned corio__executor_waiting(corio_executor *ex) {
  unsigned n;

  pthread_mutex_lock(&ex->lock);
  n = ex->waiting;
  pthread_mutex_unlock(&ex->lock);
  return n;
}

unsigned corio_executor_threads(corio_executor *ex) {
  unsigned n;

  if (!ex)
    return 0;
  pthread_mutex_lock(&ex->lock);
  n = ex->threads;
  pthread_mutex_unlock(&ex->lock);
  return n;
}

corio_executor *corio__executor_ref(corio_executor *ex) {
  atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
  return ex;
}

void corio__executor_unref(corio_executor *ex) {
  if (atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* Every thread has left worker_main, and was joined or detached. */
  pthread_mutex_destroy(&ex->lock);
  pthread_cond_destroy(&ex->work);
  pthread_mutex_destroy(&ex->join_lock);
  corio__free(ex->tids, ex->max_workers * sizeof *ex->tids);
  corio__free(ex, sizeof *ex);
}

/* ---- the queue (under ex->lock) ------------------------------------------ */

static void queue_push(corio_executor *ex, corio__job *job) {
  job->next = NULL;
  job->prev = ex->tail;
  if (ex->tail)
    ex->tail->next = job;
  else
    ex->head = job;
  ex->tail = job;
  ex->queued++;
}

static void queue_remove(corio_executor *ex, corio__job *job) {
  if (job->prev)
    job->prev->next = job->next;
  else
    ex->head = job->next;
  if (job->next)
    job->next->prev = job->prev;
  else
    ex->tail = job->prev;
  job->prev = job->next = NULL;
  ex->queued--;
}

/* ---- pool threads -------------------------------------------------------- */

static void *worker_main(void *arg) {
  corio_executor *ex = arg;

  pthread_mutex_lock(&ex->lock);
  for (;;) {
    corio__job *job;

    while (!ex->head && !ex->shutdown) {
      ex->waiting++;
      pthread_cond_wait(&ex->work, &ex->lock);
      ex->waiting--;
      if (ex->wakes)
        ex->wakes--;
    }
    job = ex->head;
    if (!job)
      break; /* shut down, and nothing left to run */
    queue_remove(ex, job);
    job->state = JOB_RUNNING;
    /* More work: pass the wake-up on to one more idle thread. */
    if (ex->head && ex->waiting > ex->wakes) {
      ex->wakes++;
      pthread_cond_signal(&ex->work);
    }
    pthread_mutex_unlock(&ex->lock);
    corio__job_execute(job);
    pthread_mutex_lock(&ex->lock);
  }
  pthread_mutex_unlock(&ex->lock);
  corio__executor_unref(ex); /* the last use of ex on this thread */
  return NULL;
}

/* Under ex->lock. */
static int start_thread(corio_executor *ex) {
  char name[16];
  int rc;

  /* threads < MAX_WORKERS_LIMIT: the name fits in 15 characters. */
  snprintf(name, sizeof name, "corio-pool-%u", ex->threads % 10000u);
  corio__executor_ref(ex); /* the thread's */
  rc = corio__sys_thread_create(&ex->tids[ex->threads], worker_main, ex,
                                name);
  if (rc < 0) {
    atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_relaxed);
    return rc;
  }
  ex->threads++;
  return 0;
}

int corio__executor_submit(corio_executor *ex, corio__job *job) {
  int rc = 0;

  pthread_mutex_lock(&ex->lock);
  if (ex->shutdown) {
    pthread_mutex_unlock(&ex->lock);
    return CORIO_EEXECUTORSHUTDOWN;
  }
  job->state = JOB_QUEUED;
  queue_push(ex, job);
  /* Python's rule: a new thread only when no thread is free to take it. */
  if (ex->queued > ex->waiting && ex->threads < ex->max_workers) {
    rc = start_thread(ex);
    if (rc < 0 && ex->threads > 0)
      rc = 0; /* a running thread will get to it */
    if (rc < 0)
      queue_remove(ex, job);
  } else if (ex->waiting > 0 && ex->wakes == 0) {
    /* One wake-up in flight at a time: the woken thread passes it on. */
    ex->wakes++;
    pthread_cond_signal(&ex->work);
  }
  pthread_mutex_unlock(&ex->lock);
  return rc;
}

int corio__executor_withdraw(corio_executor *ex, corio__job *job) {
  int withdrawn = 0;

  pthread_mutex_lock(&ex->lock);
  if (job->state == JOB_QUEUED) {
    queue_remove(ex, job);
    job->state = JOB_WITHDRAWN;
    withdrawn = 1;
  }
  pthread_mutex_unlock(&ex->lock);
  return withdrawn;
}

/* ---- shutdown ------------------------------------------------------------ */

static int is_own_thread(corio_executor *ex) {
  pthread_t self = pthread_self();
  int own = 0;

  pthread_mutex_lock(&ex->lock);
  for (unsigned i = 0; i < ex->threads && !own; i++)
    own = pthread_equal(ex->tids[i], self);
  pthread_mutex_unlock(&ex->lock);
  return own;
}

/* Threads cannot be started once shut down, so ex->threads is final.
 * From one of ex's own threads, which cannot wait for itself, they are
 * detached instead: each holds a reference until it leaves. */
static void join_all(corio_executor *ex, int detach) {
  pthread_mutex_lock(&ex->join_lock);
  for (; ex->joined < ex->threads; ex->joined++) {
    if (detach)
      pthread_detach(ex->tids[ex->joined]);
    else
      pthread_join(ex->tids[ex->joined], NULL);
  }
  pthread_mutex_unlock(&ex->join_lock);
}

int corio_executor_shutdown(corio_executor *ex, unsigned flags) {
  corio__job *skipped = NULL;

  if (!ex || (flags & ~(unsigned)(CORIO_EXECUTOR_NOWAIT |
                                  CORIO_EXECUTOR_CANCEL_PENDING)))
    return -EINVAL;
  if (!(flags & CORIO_EXECUTOR_NOWAIT) && is_own_thread(ex))
    return -EDEADLK;
  pthread_mutex_lock(&ex->lock);
  ex->shutdown = 1;
  if (flags & CORIO_EXECUTOR_CANCEL_PENDING) {
    skipped = ex->head;
    for (corio__job *job = skipped; job; job = job->next)
      job->state = JOB_WITHDRAWN;
    ex->head = ex->tail = NULL;
    ex->queued = 0;
  }
  pthread_cond_broadcast(&ex->work);
  pthread_mutex_unlock(&ex->lock);
  while (skipped) {
    corio__job *next = skipped->next;
    skipped->prev = skipped->next = NULL;
    corio__job_skip(skipped);
    skipped = next;
  }
  if (!(flags & CORIO_EXECUTOR_NOWAIT))
    join_all(ex, 0);
  return 0;
}

int corio_executor_free(corio_executor *ex) {
  int rc;

  if (!ex)
    return -EINVAL;
  if (is_own_thread(ex)) {
    (void)corio_executor_shutdown(ex, CORIO_EXECUTOR_NOWAIT);
    join_all(ex, 1);
  } else {
    (void)corio_executor_shutdown(ex, 0);
  }
  pthread_mutex_lock(&ex->lock);
  rc = ex->freed ? -EINVAL : 0;
  ex->freed = 1;
  pthread_mutex_unlock(&ex->lock);
  if (rc == 0)
    corio__executor_unref(ex);
  return rc;
}
