/* A child process's state, shared by the files of src/proc/. */
#ifndef CORIO_PROC_PROC_INTERNAL_H
#define CORIO_PROC_PROC_INTERNAL_H

#include <sys/types.h>

#include "corio/proc.h"
#include "sync/waitq.h"

struct corio__proc_thread_watch;

struct corio_process {
  corio_loop *loop;
  int refs; /* the user's; the watch keeps the memory while `watched` */
  pid_t pid;
  int pidfd;            /* -1 with the fallback watcher, and once reaped */
  int returncode;       /* once `exited` */
  unsigned exited : 1;  /* reaped: returncode is known */
  unsigned watched : 1; /* on the loop's list until reaped */
  corio_stream *pipes[3];
  sync_waitq waiters;
  /* Where the kernel has no pidfd: a thread waiting for this child. */
  struct corio__proc_thread_watch *thread_watch;
  char *name;                        /* the program, for reports */
  struct corio_process *prev, *next; /* the loop's children */
};

/* process.c: the child has been reaped with returncode `code`. */
void corio__proc_exited(corio_process *p, int code);

/* thread_watch.c: the watcher for kernels without pidfd_open (before 5.3):
 * a thread blocked in waitid on this one pid (never -1), posting the exit
 * back to the loop. */
int corio__proc_thread_watch_start(corio_process *p);
/* Sends sig unless the child was reaped already (-ESRCH then). */
int corio__proc_thread_watch_signal(corio_process *p, int sig);
/* The loop is closing: kills the child if it still runs, waits until it
 * is reaped and lets go of the watch. Returns the returncode. */
int corio__proc_thread_watch_abandon(corio_process *p);

#endif
