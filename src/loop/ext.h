/* Per-loop state of the layers above the loop. A higher layer that must
 * act when a loop closes registers its hooks here, so the dependency
 * arrow never points up (DESIGN.md §2). */
#ifndef CORIO_LOOP_EXT_H
#define CORIO_LOOP_EXT_H

#include <stddef.h>

#include <stddef.h>

#include "corio/export.h"
#include "corio/loop.h"

enum corio__loop_ext_slot {
  CORIO__LOOP_EXT_TASK,   /* futures and tasks */
  CORIO__LOOP_EXT_THREAD, /* the default executor */
  CORIO__LOOP_EXT_NET,    /* open streams and servers */
  CORIO__LOOP_EXT_PROC,   /* children still running */
  CORIO__LOOP_EXT_DNS,    /* the c-ares resolver (after net: see dns_ares.c) */
  CORIO__LOOP_EXT_HOOK,   /* fds the hook layer watches (src/hook/fd_wait.c) */
  CORIO__LOOP_EXT_COUNT
};

typedef struct corio__loop_ext_ops {
  /* Runner shutdown, before the loop is closed: e.g. stop the default
   * executor. May be NULL. */
  int (*shutdown)(corio_loop *loop, void *data);
  /* corio_loop_run_forever is returning, on the loop's thread: give back
   * what belongs to this thread, as the loop may be closed on another.
   * May be NULL. */
  void (*stopped)(corio_loop *loop, void *data);
  /* corio_loop_close, first thing (the loop still works): drop what this
   * layer has pending on the loop. May be NULL. */
  void (*close)(corio_loop *loop, void *data);
  /* The loop's memory is going: free data. */
  void (*free)(void *data);
  /* Debug mode, around each callback the loop runs: callback_begin may
   * claim it (returns a token; NULL: not this layer's), and callback_end
   * gets the token back, with a buffer to name the callback in when it
   * was slow (buf NULL otherwise), and releases what begin took. Both
   * NULL, or both set. */
  void *(*callback_begin)(corio_loop *loop, void *data, corio_callback cb,
                          void *arg);
  void (*callback_end)(corio_loop *loop, void *data, void *token, char *buf,
                       size_t len);
} corio__loop_ext_ops;

/* Holders of the loop's memory (not of the loop: it may close meanwhile).
 * The last one frees it, calling each slot's free hook. */
void corio__loop_mem_ref(corio_loop *loop);
void corio__loop_mem_unref(corio_loop *loop);

CORIO_API void *corio__loop_ext_get(const corio_loop *loop,
                                    enum corio__loop_ext_slot slot);
/* Registers data and ops for a slot that is empty (-EBUSY otherwise). */
int corio__loop_ext_set(corio_loop *loop, enum corio__loop_ext_slot slot,
                        void *data, const corio__loop_ext_ops *ops);
/* The slot's data, made zeroed (size bytes, freed by ops->free) and
 * registered with ops on first use: 0, CORIO_ELOOPCLOSED, -ENOMEM. */
CORIO_API int corio__loop_ext_get_or_make(corio_loop *loop,
                                          enum corio__loop_ext_slot slot,
                                          size_t size,
                                          const corio__loop_ext_ops *ops,
                                          void **out);
/* Runs every registered shutdown hook; the first error is returned, every
 * hook runs. */
int corio__loop_ext_shutdown(corio_loop *loop);

#endif
