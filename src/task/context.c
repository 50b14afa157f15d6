/* Context variables. A context's values are an immutable sorted array
 * shared between copies: copy_context and spawning a task cost a
 * reference, a set costs one new array (contexts hold few variables). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/compiler.h"
#include "task/task_internal.h"

struct map_entry {
  uint64_t var_id;
  void *value;
};

struct context_map {
  atomic_uint refs; /* maps may be shared with other threads' contexts */
  uint32_t len;
  struct map_entry entries[];
};

struct corio_contextvar {
  uint64_t id;
  char *name;
  void *default_value;
  int has_default;
};

/* Tokens: opaque_[0] context id, [1] variable id, [2] old value, [3] the
 * flags below. */
#define TOKEN_VALID 0xC0E7u
#define TOKEN_HAD_OLD (1u << 16)
#define TOKEN_USED (1u << 17)

static atomic_uint_fast64_t last_var_id;
static atomic_uint_fast64_t last_context_id;
corio__thread_local corio_context *corio__current_ctx;
static corio__thread_local corio_context thread_ctx;
static pthread_key_t thread_ctx_key;
static pthread_once_t thread_ctx_once = PTHREAD_ONCE_INIT;

/* ---- maps ---------------------------------------------------------------- */

static size_t map_size(uint32_t len) {
  return sizeof(struct context_map) + len * sizeof(struct map_entry);
}

static struct context_map *map_ref(struct context_map *map) {
  if (map)
    atomic_fetch_add_explicit(&map->refs, 1, memory_order_relaxed);
  return map;
}

static void map_unref(struct context_map *map) {
  if (map &&
      atomic_fetch_sub_explicit(&map->refs, 1, memory_order_acq_rel) == 1)
    corio__free(map, map_size(map->len));
}

/* The index of var_id, or where it would go (*found = 0). */
static uint32_t map_find(const struct context_map *map, uint64_t var_id,
                         int *found) {
  uint32_t lo = 0, hi = map ? map->len : 0;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (map->entries[mid].var_id < var_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = map && lo < map->len && map->entries[lo].var_id == var_id;
  return lo;
}

/* A copy of map with var_id set to value (*out), or with it removed when
 * remove is set (an empty result is NULL). -ENOMEM leaves map as is. */
static int map_change(struct context_map *map, uint64_t var_id, void *value,
                      int remove, struct context_map **out) {
  int found;
  uint32_t at = map_find(map, var_id, &found);
  uint32_t len = map ? map->len : 0;
  uint32_t new_len = remove ? len - (found ? 1u : 0u) : len + (found ? 0u : 1u);
  struct context_map *copy;

  if (remove && !found) {
    *out = map_ref(map);
    return 0;
  }
  if (new_len == 0) {
    *out = NULL;
    return 0;
  }
  copy = corio__alloc(map_size(new_len));
  if (!copy)
    return -ENOMEM;
  atomic_init(&copy->refs, 1);
  copy->len = new_len;
  if (at > 0)
    memcpy(copy->entries, map->entries, at * sizeof *copy->entries);
  if (remove) {
    memcpy(copy->entries + at, map->entries + at + 1,
           (len - at - 1) * sizeof *copy->entries);
  } else {
    uint32_t rest = len - at - (found ? 1u : 0u);
    copy->entries[at] = (struct map_entry){var_id, value};
    if (rest > 0)
      memcpy(copy->entries + at + 1, map->entries + len - rest,
             rest * sizeof *copy->entries);
  }
  *out = copy;
  return 0;
}

/* ---- the current context ------------------------------------------------- */

static void release_thread_ctx(void *unused) {
  (void)unused;
  map_unref(thread_ctx.map);
  thread_ctx.map = NULL;
}

static void create_thread_ctx_key(void) {
  (void)pthread_key_create(&thread_ctx_key, release_thread_ctx);
}

static corio_context *thread_base(void) {
  corio_context *ctx = &thread_ctx;

  if (corio__unlikely(!ctx->thread_base)) {
    ctx->thread_base = 1;
    /* The values set outside tasks go with the thread. */
    if (pthread_once(&thread_ctx_once, create_thread_ctx_key) == 0)
      (void)pthread_setspecific(thread_ctx_key, ctx);
  }
  return ctx;
}

corio_context *corio_context_current(void) {
  return corio__current_ctx ? corio__current_ctx : thread_base();
}

void corio__context_init_own(corio_context *ctx, const corio_context *from) {
  if (!from)
    from = thread_base();
  ctx->map = map_ref(from->map);
  ctx->in_task = 1;
}

/* Ids only matter to tokens: a context gets one (unique in the process)
 * when its first token is made, which keeps spawning a task free of it. */
static uint64_t context_id(corio_context *ctx) {
  if (!ctx->id)
    ctx->id = (uint64_t)atomic_fetch_add(&last_context_id, 1) + 1;
  return ctx->id;
}

void corio__context_release_own(corio_context *ctx) { map_unref(ctx->map); }

/* ---- contexts ------------------------------------------------------------ */

static int new_context(struct context_map *map, corio_context **out) {
  corio_context *ctx;

  if (!out)
    return -EINVAL;
  ctx = corio__calloc(sizeof *ctx);
  if (!ctx)
    return -ENOMEM;
  atomic_init(&ctx->refs, 1);
  ctx->map = map_ref(map);
  *out = ctx;
  return 0;
}

int corio_context_copy(corio_context **out) {
  return new_context(corio_context_current()->map, out);
}

int corio_context_create(corio_context **out) { return new_context(NULL, out); }

/* A task's own context lives in the task: its references are the
 * task's. The thread's base context lives as long as the thread. */
static corio_task *owner_of(corio_context *ctx) {
  return corio__container_of(ctx, corio_task, own_ctx);
}

corio_context *corio_context_ref(corio_context *ctx) {
  if (!ctx || ctx->thread_base)
    return ctx;
  if (ctx->in_task)
    corio_task_ref(owner_of(ctx));
  else
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
  return ctx;
}

void corio_context_unref(corio_context *ctx) {
  if (!ctx || ctx->thread_base)
    return;
  if (ctx->in_task) {
    corio_task_unref(owner_of(ctx));
    return;
  }
  if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
    return;
  map_unref(ctx->map);
  corio__free(ctx, sizeof *ctx);
}

int corio_context_get(const corio_context *ctx, const corio_contextvar *var,
                      void **value) {
  int found;
  uint32_t at;

  if (!ctx || !var)
    return -EINVAL;
  at = map_find(ctx->map, var->id, &found);
  if (!found)
    return CORIO_ENOVALUE;
  if (value)
    *value = ctx->map->entries[at].value;
  return 0;
}

int corio_context_run(corio_context *ctx, int (*fn)(void *arg), void *arg) {
  corio_context *prev;
  int rc;

  if (!ctx || !fn)
    return -EINVAL;
  if (ctx->entered)
    return CORIO_ECONTEXTENTERED;
  prev = corio__context_enter(ctx);
  rc = fn(arg);
  corio__context_leave(ctx, prev);
  return rc;
}

/* ---- variables ----------------------------------------------------------- */

static int new_var(corio_contextvar **out, const char *name, int has_default,
                   void *default_value) {
  corio_contextvar *var;

  if (!out || !name)
    return -EINVAL;
  var = corio__calloc(sizeof *var);
  if (!var)
    return -ENOMEM;
  var->name = corio__strdup(name);
  if (!var->name) {
    corio__free(var, sizeof *var);
    return -ENOMEM;
  }
  var->id = (uint64_t)atomic_fetch_add(&last_var_id, 1) + 1;
  var->has_default = has_default;
  var->default_value = default_value;
  *out = var;
  return 0;
}

int corio_contextvar_create(corio_contextvar **out, const char *name) {
  return new_var(out, name, 0, NULL);
}

int corio_contextvar_create_with_default(corio_contextvar **out,
                                         const char *name,
                                         void *default_value) {
  return new_var(out, name, 1, default_value);
}

void corio_contextvar_free(corio_contextvar *var) {
  if (!var)
    return;
  corio__strfree(var->name);
  corio__free(var, sizeof *var);
}

const char *corio_contextvar_name(const corio_contextvar *var) {
  return var ? var->name : NULL;
}

int corio_contextvar_get(const corio_contextvar *var, void **value) {
  int rc;

  if (!var)
    return -EINVAL;
  rc = corio_context_get(corio_context_current(), var, value);
  if (rc == CORIO_ENOVALUE && var->has_default) {
    if (value)
      *value = var->default_value;
    return 0;
  }
  return rc;
}

void *corio_contextvar_get_or(const corio_contextvar *var, void *fallback) {
  void *value;

  return corio_contextvar_get(var, &value) == 0 ? value : fallback;
}

int corio_contextvar_set(corio_contextvar *var, void *value,
                         corio_context_token *token) {
  corio_context *ctx = corio_context_current();
  struct context_map *map;
  void *old = NULL;
  int had_old, rc;

  if (!var)
    return -EINVAL;
  had_old = corio_context_get(ctx, var, &old) == 0;
  rc = map_change(ctx->map, var->id, value, 0, &map);
  if (rc < 0)
    return rc;
  map_unref(ctx->map);
  ctx->map = map;
  if (token) {
    token->opaque_[0] = context_id(ctx);
    token->opaque_[1] = var->id;
    token->opaque_[2] = (uint64_t)(uintptr_t)old;
    token->opaque_[3] = TOKEN_VALID | (had_old ? TOKEN_HAD_OLD : 0);
  }
  return 0;
}

int corio_contextvar_reset(corio_contextvar *var, corio_context_token *token) {
  corio_context *ctx = corio_context_current();
  struct context_map *map;
  uint64_t flags;
  int rc;

  if (!var || !token)
    return -EINVAL;
  flags = token->opaque_[3];
  if ((flags & 0xFFFFu) != TOKEN_VALID)
    return -EINVAL;
  if (flags & TOKEN_USED)
    return CORIO_ETOKENUSED;
  if (token->opaque_[1] != var->id || token->opaque_[0] != context_id(ctx))
    return -EINVAL;
  rc = map_change(ctx->map, var->id, (void *)(uintptr_t)token->opaque_[2],
                  !(flags & TOKEN_HAD_OLD), &map);
  if (rc < 0)
    return rc;
  map_unref(ctx->map);
  ctx->map = map;
  token->opaque_[3] = flags | TOKEN_USED;
  return 0;
}
