/* Watching a child where the kernel has no pidfd_open (before 5.3): a
 * thread per child blocks in waitid on that one pid, never on -1, so other
 * libraries' children are left alone. It first waits without reaping
 * (WNOWAIT), so that while the loop may still signal the child its pid
 * cannot be recycled; the lock orders signal and reap. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/alloc.h"
#include "core/sys_proc.h"
#include "core/sys_thread.h"
#include "loop/ext.h"
#include "loop/remote.h"
#include "proc/proc_internal.h"

typedef struct corio__proc_thread_watch {
  atomic_int refs; /* the thread's (then its posted call's) and the process's */
  pthread_mutex_t lock;
  pthread_cond_t reaped_cond;
  pid_t pid;
  int reaped; /* under lock */
  int code;   /* under lock, once reaped */
  corio_loop *loop;
  corio_process *process; /* loop thread only; NULL once let go of */
  pthread_t thread;       /* joined by whoever lets go of the process */
  corio__remote_call call;
} thread_watch;

static void release(thread_watch *w) {
  if (atomic_fetch_sub(&w->refs, 1) != 1)
    return;
  pthread_cond_destroy(&w->reaped_cond);
  pthread_mutex_destroy(&w->lock);
  corio__loop_mem_unref(w->loop);
  corio__free(w, sizeof *w);
}

/* On the loop's thread: hand the exit to the process. */
static int deliver_exit(void *arg) {
  thread_watch *w = arg;
  corio_process *p = w->process;

  if (p) {
    w->process = NULL;
    p->thread_watch = NULL;
    /* Posting was the thread's last act: this returns at once. */
    (void)pthread_join(w->thread, NULL);
    corio__proc_exited(p, w->code);
    release(w); /* the process's reference */
  }
  release(w);
  return 0;
}

static void dropped(void *arg) { release(arg); }

static void *watch_main(void *arg) {
  thread_watch *w = arg;
  int code = 255;

  (void)corio__sys_pid_wait_exit(w->pid);
  pthread_mutex_lock(&w->lock);
  if (corio__sys_pid_reap(w->pid, 1, &code) < 0)
    code = 255;
  w->code = code;
  w->reaped = 1;
  pthread_cond_broadcast(&w->reaped_cond);
  pthread_mutex_unlock(&w->lock);
  if (corio__loop_post_threadsafe(w->loop, &w->call) < 0)
    release(w);
  return NULL;
}

int corio__proc_thread_watch_start(corio_process *p) {
  thread_watch *w = corio__calloc(sizeof *w);
  int rc;

  if (!w)
    return -ENOMEM;
  atomic_init(&w->refs, 2);
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->reaped_cond, NULL);
  w->pid = p->pid;
  w->loop = p->loop;
  w->process = p;
  corio__remote_call_init(&w->call, deliver_exit, dropped, w);
  corio__loop_mem_ref(p->loop);
  rc = corio__sys_thread_create(&w->thread, watch_main, w, "corio-child");
  if (rc < 0) {
    atomic_store(&w->refs, 1);
    release(w);
    return rc;
  }
  p->thread_watch = w;
  return 0;
}

int corio__proc_thread_watch_signal(corio_process *p, int sig) {
  thread_watch *w = p->thread_watch;
  int rc;

  if (!w)
    return -ESRCH;
  pthread_mutex_lock(&w->lock);
  rc = w->reaped ? -ESRCH : (kill(w->pid, sig) == 0 ? 0 : -errno);
  pthread_mutex_unlock(&w->lock);
  return rc;
}

int corio__proc_thread_watch_abandon(corio_process *p) {
  thread_watch *w = p->thread_watch;
  int code;

  pthread_mutex_lock(&w->lock);
  if (!w->reaped)
    (void)kill(w->pid, SIGKILL);
  while (!w->reaped)
    pthread_cond_wait(&w->reaped_cond, &w->lock);
  code = w->code;
  pthread_mutex_unlock(&w->lock);
  /* No corio thread may outlive the loop's close: once joined, what the
   * thread posted is dropped with the loop's other posted calls. */
  (void)pthread_join(w->thread, NULL);
  w->process = NULL;
  p->thread_watch = NULL;
  release(w);
  return code;
}
