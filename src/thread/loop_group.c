/* Loop per core: n threads, each running corio_run(main, arg) on a loop of
 * its own, stopped together by cancelling every main task.
 *
 * Start brings the threads up one at a time: each creates its loop and
 * main task, registers them and blocks until start has seen every thread
 * ready (or one fail). So a start that fails has run no user code, and
 * the calls a start makes come in a fixed order (fault walks repeat).
 *
 * A stop posts, to each loop whose main task is registered, an embedded
 * call that cancels the task: posting never allocates, so a stop cannot
 * fail, and a call still posted when its loop closes is handed back. A
 * stop that comes before a main is called is seen by the flag the main
 * task checks when start lets it go. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "core/sys_thread.h"
#include "thread/thread_internal.h"

enum slot_state {
  SLOT_STARTING, /* thread created, main task not registered yet */
  SLOT_READY,    /* main task registered: waits for start's word */
  SLOT_FAILED,   /* corio_run returned before the main task ran */
  SLOT_FINISHED  /* corio_run returned after the main task ran */
};

typedef struct group_slot {
  struct corio_loop_group *group;
  unsigned index;
  pthread_t tid;
  corio__remote_call cancel_call; /* posted by stop to loop */

  /* Under group->lock. */
  int state;         /* enum slot_state */
  corio_loop *loop;  /* set with task */
  corio_task *task;  /* the main task while its body runs, else NULL */
  int cancel_posted; /* cancel_call is posted and has not run yet */
  int stopped;       /* a stop reached this main (cancelled or skipped) */
  int rc;            /* corio_run's outcome, once FAILED or FINISHED */
} group_slot;

struct corio_loop_group {
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a slot's state, or go/abort */
  corio_task_fn main;
  void *arg;
  unsigned n;
  /* Threads created (slots[0..threads) have one to join): written by start
   * under lock, final once start returns. */
  unsigned threads;
  /* Under lock. */
  int go;       /* start succeeded: the mains may run */
  int abort;    /* start failed: the mains must not run */
  int stopping; /* stop was called */
  group_slot slots[];
};

/* The group and index of the loop this thread runs; NULL and -1 on every
 * other thread. */
static corio__thread_local corio_loop_group *current_group;
static corio__thread_local int current_index = -1;

static size_t group_size(unsigned n) {
  return sizeof(corio_loop_group) + (size_t)n * sizeof(group_slot);
}

static unsigned usable_cpus(void) {
  cpu_set_t set;
  long n;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (unsigned)CPU_COUNT(&set);
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* ---- a loop's thread ----------------------------------------------------- */

/* The embedded call stop posts: on the loop's thread, between steps of its
 * tasks, so slot->task (cleared on this thread only) is still alive. */
static int cancel_main(void *arg) {
  group_slot *slot = arg;
  corio_loop_group *group = slot->group;
  corio_task *task;

  pthread_mutex_lock(&group->lock);
  slot->cancel_posted = 0; /* the call is free again: a later stop reposts */
  task = slot->task;
  if (task)
    slot->stopped = 1;
  pthread_mutex_unlock(&group->lock);
  if (task)
    (void)corio_task_cancel(task, "corio_loop_group_stop");
  return 0;
}

/* The loop closed with the call posted: its main had returned already. */
static void cancel_dropped(void *arg) {
  group_slot *slot = arg;

  pthread_mutex_lock(&slot->group->lock);
  slot->cancel_posted = 0;
  pthread_mutex_unlock(&slot->group->lock);
}

/* corio_run's main task: registers itself, waits for start's word, then
 * runs the user's main unless the group was stopped or failed to start. */
static int group_main(void *arg, void **result) {
  group_slot *slot = arg;
  corio_loop_group *group = slot->group;
  int run, rc;

  pthread_mutex_lock(&group->lock);
  slot->loop = corio_loop_running();
  slot->task = corio_current_task();
  slot->state = SLOT_READY;
  pthread_cond_broadcast(&group->changed);
  /* Blocks this loop's thread, before anything else runs on its loop. */
  while (!group->go && !group->abort)
    pthread_cond_wait(&group->changed, &group->lock);
  run = !group->abort && !group->stopping;
  if (!run) {
    slot->task = NULL;
    slot->stopped = 1;
  }
  pthread_mutex_unlock(&group->lock);
  if (!run)
    return -ECANCELED; /* as a task cancelled before it started */
  rc = group->main(group->arg, result);
  pthread_mutex_lock(&group->lock);
  slot->task = NULL; /* stop posts nothing more; a posted call finds none */
  pthread_mutex_unlock(&group->lock);
  return rc;
}

static void *group_thread(void *arg) {
  group_slot *slot = arg;
  corio_loop_group *group = slot->group;
  int rc;

  current_group = group;
  current_index = (int)slot->index;
  rc = corio_run(group_main, slot, NULL);
  pthread_mutex_lock(&group->lock);
  slot->rc = rc;
  slot->state = slot->state == SLOT_STARTING ? SLOT_FAILED : SLOT_FINISHED;
  pthread_cond_broadcast(&group->changed);
  pthread_mutex_unlock(&group->lock);
  return NULL;
}

/* ---- any thread ---------------------------------------------------------- */

static void group_free(corio_loop_group *group) {
  pthread_mutex_destroy(&group->lock);
  pthread_cond_destroy(&group->changed);
  corio__free(group, group_size(group->n));
}

/* Starts slot i's thread and waits until its main task is registered:
 * 0, or the thread's or the loop's creation error. */
static int start_slot(corio_loop_group *group, unsigned i) {
  group_slot *slot = &group->slots[i];
  char name[16];
  int rc;

  slot->group = group;
  slot->index = i;
  corio__remote_call_init(&slot->cancel_call, cancel_main, cancel_dropped,
                          slot);
  /* i < CORIO_LOOP_GROUP_MAX: the name fits in 15 characters. */
  snprintf(name, sizeof name, "corio-loop-%u", i % 10000u);
  rc = corio__sys_thread_create(&slot->tid, group_thread, slot, name);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&group->lock);
  group->threads++;
  while (slot->state == SLOT_STARTING)
    pthread_cond_wait(&group->changed, &group->lock);
  rc = slot->state == SLOT_FAILED ? slot->rc : 0;
  pthread_mutex_unlock(&group->lock);
  return rc < 0 ? rc : 0;
}

static void join_threads(corio_loop_group *group) {
  for (unsigned i = 0; i < group->threads; i++)
    (void)pthread_join(group->slots[i].tid, NULL);
}

int corio_loop_group_start(unsigned n, corio_task_fn main, void *arg,
                           corio_loop_group **out) {
  corio_loop_group *group;
  int rc = 0;

  if (!main || !out || n > CORIO_LOOP_GROUP_MAX)
    return -EINVAL;
  if (n == 0)
    n = usable_cpus();
  if (n > CORIO_LOOP_GROUP_MAX)
    n = CORIO_LOOP_GROUP_MAX;
  group = corio__calloc(group_size(n));
  if (!group)
    return -ENOMEM;
  pthread_mutex_init(&group->lock, NULL);
  pthread_cond_init(&group->changed, NULL);
  group->main = main;
  group->arg = arg;
  group->n = n;
  for (unsigned i = 0; i < n && rc == 0; i++)
    rc = start_slot(group, i);
  pthread_mutex_lock(&group->lock);
  if (rc < 0) {
    group->abort = 1; /* the registered mains return without running */
  } else {
    /* Before the word, under the lock: a main may read *out. */
    *out = group;
    group->go = 1;
  }
  pthread_cond_broadcast(&group->changed);
  pthread_mutex_unlock(&group->lock);
  if (rc < 0) {
    join_threads(group);
    group_free(group);
  }
  return rc;
}

unsigned corio_loop_group_size(const corio_loop_group *group) {
  return group ? group->n : 0;
}

int corio_loop_group_index(void) { return current_index; }

int corio_loop_group_stop(corio_loop_group *group) {
  if (!group)
    return -EINVAL;
  pthread_mutex_lock(&group->lock);
  group->stopping = 1;
  for (unsigned i = 0; i < group->threads; i++) {
    group_slot *slot = &group->slots[i];

    /* While slot->task is set its loop runs the main task and cannot
     * close, so the post succeeds; the call then runs or is dropped
     * before the thread ends. */
    if (!slot->task || slot->cancel_posted)
      continue;
    if (corio__loop_post_threadsafe(slot->loop, &slot->cancel_call) == 0)
      slot->cancel_posted = 1;
  }
  pthread_mutex_unlock(&group->lock);
  return 0;
}

int corio_loop_group_join(corio_loop_group *group) {
  int rc = 0;

  if (!group)
    return -EINVAL;
  if (current_group == group)
    return -EDEADLK;
  join_threads(group);
  /* Every thread is gone: the slots are this thread's to read. */
  for (unsigned i = 0; i < group->n && rc == 0; i++) {
    group_slot *slot = &group->slots[i];

    if (slot->rc < 0 && !(slot->rc == -ECANCELED && slot->stopped))
      rc = slot->rc;
  }
  group_free(group);
  return rc;
}
