/* Context variables, as Python's contextvars: values that follow the flow
 * of tasks. Each task starts with a copy of its creator's context, so a
 * `set` in one task is never seen by another. See docs/task.md. */
#ifndef CORIO_CONTEXT_H
#define CORIO_CONTEXT_H

#include <stdint.h>

#include "corio/error.h"
#include "corio/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_context corio_context;
typedef struct corio_contextvar corio_contextvar;

/* What corio_contextvar_set hands back so that reset can undo it. Plain
 * storage: declare one where the set happens; it holds no memory. */
typedef struct corio_context_token {
  uint64_t opaque_[4];
} corio_context_token;

/* A variable without a default (get fails with CORIO_ENOVALUE until set)
 * or with one. name is copied. Errors: -EINVAL, -ENOMEM. */
CORIO_API int corio_contextvar_create(corio_contextvar **out, const char *name);
CORIO_API int corio_contextvar_create_with_default(corio_contextvar **out,
                                                   const char *name,
                                                   void *default_value);
/* Frees the variable; values set in contexts are dropped with them. */
CORIO_API void corio_contextvar_free(corio_contextvar *var);
CORIO_API const char *corio_contextvar_name(const corio_contextvar *var);

/* The value in the current context, else the default: 0, or
 * CORIO_ENOVALUE (never set, no default), -EINVAL (NULL var). */
CORIO_API int corio_contextvar_get(const corio_contextvar *var, void **value);
/* The value, or fallback when get would fail. */
CORIO_API void *corio_contextvar_get_or(const corio_contextvar *var,
                                        void *fallback);
/* Sets the value in the current context; token (may be NULL) records what
 * to restore. Errors: -EINVAL, -ENOMEM (nothing changed). */
CORIO_API int corio_contextvar_set(corio_contextvar *var, void *value,
                                   corio_context_token *token);
/* Restores the value from before the set that gave token. Errors: -EINVAL
 * (NULL, a token of another variable or from another context),
 * CORIO_ETOKENUSED, -ENOMEM. */
CORIO_API int corio_contextvar_reset(corio_contextvar *var,
                                     corio_context_token *token);

/* copy_context(): a new context with the current one's values (O(1)). */
CORIO_API int corio_context_copy(corio_context **out);
/* An empty context. */
CORIO_API int corio_context_create(corio_context **out);
CORIO_API corio_context *corio_context_ref(corio_context *ctx);
CORIO_API void corio_context_unref(corio_context *ctx);
/* The current context (no new reference): the running task's, else the
 * thread's own. */
CORIO_API corio_context *corio_context_current(void);
/* ctx[var]: 0, CORIO_ENOVALUE (not set in ctx), -EINVAL. */
CORIO_API int corio_context_get(const corio_context *ctx,
                                const corio_contextvar *var, void **value);
/* Context.run: calls fn(arg) with ctx as the current context and returns
 * what fn returns; sets inside fn change ctx. Errors: -EINVAL,
 * CORIO_ECONTEXTENTERED (ctx is current already, here or in a task). */
CORIO_API int corio_context_run(corio_context *ctx, int (*fn)(void *arg),
                                void *arg);

#ifdef __cplusplus
}
#endif
#endif
