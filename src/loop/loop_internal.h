/* The loop's internal state, shared by the files of src/loop/. */
#ifndef CORIO_LOOP_INTERNAL_H
#define CORIO_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corio/loop.h"
#include "loop/ext.h"
#include "loop/handle.h"
#include "loop/poller.h"
#include "loop/registry.h"
#include "loop/remote.h"

/* A FIFO of handles linked through `next`. */
typedef struct handle_queue {
  corio_handle *head, *tail;
} handle_queue;

/* Timers: a 4-ary min-heap ordered by (when, seq). Deadlines are kept in
 * the 16-byte entries, so sifting touches a handle only on an exact tie (a
 * cache miss each in a large heap) and four children share a cache line;
 * cancellation is lazy, so no handle needs to know its position. */
typedef struct timer_entry {
  int64_t when;
  corio_handle *handle; /* its seq breaks ties, read only on a tie */
} timer_entry;

typedef struct timer_heap {
  timer_entry *items;
  size_t capacity;
  uint32_t size;
  uint32_t cancelled; /* cancelled handles still in the heap */
} timer_heap;

/* Watchers of one fd. */
typedef struct fd_watch {
  corio_handle *reader, *writer;
  unsigned events; /* what the poller is told */
} fd_watch;

/* A callback posted from another thread. */
typedef corio__remote_call remote_call;

struct corio_loop {
  atomic_int refs;     /* references to the loop; the last one closes it */
  atomic_int mem_refs; /* holders of its memory: see corio__loop_mem_ref */
  int closed;
  int closing; /* corio_loop_close is running the layers' close hooks */
  int running;
  int stopping;
  int debug;
  int64_t slow_callback_ns;
  pthread_t thread; /* the thread running it, while running */

  handle_queue ready;
  uint32_t callbacks_since_poll; /* see poll_once */
  int64_t coarse_res_ns;         /* see queue_due_timers */
  timer_heap timers;
  uint64_t next_seq;
  corio_handle *free_handles; /* the handle pool */
  struct handle_slab *handle_slabs;

  const corio__poller_ops *poller_ops;
  struct corio__poller *poller;
  corio__poll_event *events;
  int events_max;
  fd_watch *fds;
  size_t fds_len;

  /* Cross-thread calls: posted under the lock, moved to the ready queue
   * when the loop is woken through wakeup_fd. */
  pthread_mutex_t remote_lock;
  remote_call *remote_head, *remote_tail, *remote_free;
  struct remote_slab *remote_slabs;
  int remote_closed;    /* under remote_lock: posting is refused */
  atomic_int wake_sent; /* an unread wake-up is on wakeup_fd */
  int wakeup_fd;

  /* Signals: the handler writes the signal number to signal_pipe[1]. */
  int signal_pipe[2];
  corio_handle *signal_handlers[65];
  void *signal_saved; /* struct sigaction[65], allocated on first use */

  corio_exception_handler exception_handler;
  void *exception_arg;

  /* State of the layers above (see loop/ext.h). */
  void *ext_data[CORIO__LOOP_EXT_COUNT];
  const corio__loop_ext_ops *ext_ops[CORIO__LOOP_EXT_COUNT];

  /* In the list of live loops that debuggers walk (loop/registry.h). */
  corio__loop_link registry;
};

/* handle.c */
int corio__handle_new(corio_loop *loop, enum handle_kind kind,
                      corio_callback cb, void *arg, corio_handle **out);
void corio__handle_release(corio_handle *h);
void corio__handle_give_to_user(corio_handle *h, corio_handle **user);
void corio__handles_free_all(corio_loop *loop);

/* ready queue */
static inline void corio__queue_push(handle_queue *q, corio_handle *h) {
  h->next = NULL;
  if (q->tail)
    q->tail->next = h;
  else
    q->head = h;
  q->tail = h;
}

/* timer_heap.c */
int corio__timers_push(timer_heap *heap, corio_handle *h);
corio_handle *corio__timers_top(const timer_heap *heap);
/* The top's deadline (the heap must not be empty). */
static inline int64_t corio__timers_top_when(const timer_heap *heap) {
  return heap->items[0].when;
}
corio_handle *corio__timers_pop(timer_heap *heap);
void corio__timers_purge_cancelled(timer_heap *heap);
void corio__timers_free(timer_heap *heap);

/* io.c */
void corio__io_dispatch(corio_loop *loop, const corio__poll_event *ev);
void corio__io_close(corio_loop *loop);

/* remote.c */
int corio__remote_open(corio_loop *loop);
void corio__remote_drain(corio_loop *loop);
void corio__remote_close(corio_loop *loop);

/* signal.c */
void corio__signal_dispatch(corio_loop *loop);
void corio__signal_close(corio_loop *loop);

/* loop.c */
void corio__loop_report(corio_loop *loop, const char *message, int error,
                        corio_callback cb, void *arg);
int corio__loop_check_thread(const corio_loop *loop);

#endif
