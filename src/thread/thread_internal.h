/* The thread layer's shared structures: jobs (a function an executor runs
 * for a loop), the executor's side of them, and the layer's state on each
 * loop, which hands back to their owners what a closing loop leaves. */
#ifndef CORIO_THREAD_INTERNAL_H
#define CORIO_THREAD_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>

#include "corio/thread.h"
#include "loop/remote.h"

/* An intrusive list of things a loop must settle when it closes. Loop
 * thread only. */
typedef struct thread_link {
  struct thread_link *prev, *next;
} thread_link;

static inline void thread_list_init(thread_link *head) {
  head->prev = head->next = head;
}

static inline void thread_list_add(thread_link *head, thread_link *link) {
  link->prev = head->prev;
  link->next = head;
  head->prev->next = link;
  head->prev = link;
}

static inline void thread_list_remove(thread_link *link) {
  link->prev->next = link->next;
  link->next->prev = link->prev;
  link->prev = link->next = link;
}

#define THREAD_CONTAINER(ptr, type, member)                                    \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

typedef struct thread_loop_state {
  corio_loop *loop;
  corio_executor *default_executor; /* a reference, or NULL */
  int owns_default;                 /* created here: freed with the loop */
  int closed;
  thread_link jobs;    /* jobs whose futures are on this loop */
  thread_link started; /* thread-safe futures whose tasks run here */
  thread_link waits;   /* tasks here awaiting thread-safe futures */
} thread_loop_state;

/* The layer's state on loop, created on first use (loop thread). NULL when
 * out of memory. */
thread_loop_state *corio__thread_loop_state(corio_loop *loop);

enum job_state {
  JOB_QUEUED,   /* in the executor's queue */
  JOB_RUNNING,  /* taken by a pool thread */
  JOB_WITHDRAWN /* left the queue without running */
};

typedef struct corio__job {
  /* The executor's side, under its lock. */
  struct corio__job *prev, *next;
  int state;          /* enum job_state */
  corio_executor *ex; /* a reference */

  corio_loop *loop; /* its memory, held: the pool thread posts to it */
  corio_thread_fn fn;
  void *arg;
  corio_context *ctx; /* a reference, or NULL */
  void (*discard)(void *result);
  void (*release)(void *arg);

  /* Written by the pool thread, read by the loop after delivery. */
  void *result;
  int error;
  char *message;
  int skipped; /* withdrawn by a shutdown that cancels pending jobs */
  corio__remote_call delivery;

  /* Two references: the executor side's (until the outcome is delivered
   * or dropped) and the loop side's (until the future is done). */
  atomic_int refs;

  /* The loop's side: loop thread only. */
  thread_loop_state *ls;
  /* A reference until the loop side lets go. Its own kind (job.c):
   * cancelling it withdraws the job at once. */
  corio_future *fut;
  thread_link link; /* in ls->jobs */
} corio__job;

/* executor.c */
/* Queues job (its executor-side reference goes with it) and starts a thread
 * if none is free. 0, CORIO_EEXECUTORSHUTDOWN, or the error of starting
 * the only thread. */
int corio__executor_submit(corio_executor *ex, corio__job *job);
/* Takes a job that has not started out of the queue: 1 if it was there
 * (the caller then holds its executor-side reference), else 0. Under the
 * executor's lock, so a pool thread either took the job first or never
 * will. */
/* Pool threads in their wait for work right now: what tests need to know
 * that a thread is free again. */
unsigned corio__executor_waiting(corio_executor *ex);
int corio__executor_withdraw(corio_executor *ex, corio__job *job);
corio_executor *corio__executor_ref(corio_executor *ex);
void corio__executor_unref(corio_executor *ex);

/* job.c */
/* On a pool thread: runs the job and hands its outcome to its loop. */
void corio__job_execute(corio__job *job);
/* A job withdrawn by shutdown: its loop cancels the future. */
void corio__job_skip(corio__job *job);
void corio__jobs_close(thread_loop_state *ls);

/* threadsafe_future.c */
void corio__threadsafe_close(thread_loop_state *ls);

#endif
