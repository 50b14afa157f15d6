/* Calls posted to a loop from other threads, for the layers above: the
 * caller embeds the call in its own object, so posting never allocates
 * and a result computed on another thread can always be handed back. */
#ifndef CORIO_LOOP_REMOTE_H
#define CORIO_LOOP_REMOTE_H

#include "corio/loop.h"

typedef struct corio__remote_call {
  corio_callback cb;
  void *arg;
  struct corio__remote_call *next;
  /* Embedded calls only: run instead of cb when the loop closes with the
   * call still posted, on the closing thread. */
  void (*dropped)(void *arg);
  int embedded; /* owned by the poster, not by the loop's pool */
} corio__remote_call;

static inline void corio__remote_call_init(corio__remote_call *call,
                                           corio_callback cb,
                                           void (*dropped)(void *arg),
                                           void *arg) {
  *call = (corio__remote_call){cb, arg, NULL, dropped, 1};
}

/* From any thread: posts an embedded call. On the loop's thread cb(arg)
 * runs when the loop next reads its wake-up (directly, not through the
 * ready queue), or dropped(arg) runs if the loop closes first. The call's
 * memory stays valid until one of them has run, and it is posted at most
 * once at a time. 0, or CORIO_ELOOPCLOSED (nothing will run). */
int corio__loop_post_threadsafe(corio_loop *loop, corio__remote_call *call);

#endif
