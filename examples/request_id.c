/* A request id in a context variable: the C twin of seed 001's contextvars
 * example (section 2.2.2), then one request per task and a set undone with
 * its token.
 *
 *   request_id = contextvars.ContextVar('request_id')
 *
 *   async def task_with_context():
 *       print(f"Task request_id: {request_id.get()}")
 *       await asyncio.sleep(1)
 *
 *   async def main():
 *       ctx = contextvars.copy_context()
 *       ctx.run(request_id.set, "12345")
 *       task = asyncio.create_task(task_with_context(), context=ctx)
 *       await task
 *
 *   async def handle_request(rid):
 *       request_id.set(rid)
 *       await asyncio.sleep(0)        # the other requests run meanwhile
 *       print(f"request {rid}: request_id.get() -> {request_id.get()}")
 *
 * A corio_contextvar holds a void * (here a string); corio_contextvar_get
 * fails with CORIO_ENOVALUE where Python raises LookupError. Every task
 * runs in a context: a copy of its creator's (so a set in one task is
 * never seen by another, nor by its creator), or the one given in its
 * spawn options, as create_task(..., context=ctx). corio_context_copy()
 * is copy_context() and corio_context_run(ctx, fn, arg) is ctx.run(fn,
 * arg): fn's sets go into ctx. A set hands back a token, and reset with
 * it puts back the value from before the set, once. */
#include <string.h>

#include "example.h"

#define EXAMPLE "request_id"
#define N_REQUESTS 3

static corio_contextvar *request_id;

/* Prints request_id's value, or Python's LookupError. Returns 0 if the
 * outcome is `want` (NULL: no value), else reports it and returns a
 * negative code for the task to finish with. */
static int print_get(const char *prefix, const char *want) {
  void *value = NULL;
  int rc = corio_contextvar_get(request_id, &value);

  if (rc == 0)
    printf("%s%s\n", prefix, (const char *)value);
  else if (rc == CORIO_ENOVALUE)
    printf("%sLookupError: %s\n", prefix, corio_strerror(rc));
  if (rc != (want ? 0 : CORIO_ENOVALUE))
    return example_task_unexpected(EXAMPLE, "request_id.get()", rc,
                                   want ? 0 : CORIO_ENOVALUE);
  if (want && strcmp(value, want) != 0) {
    fprintf(stderr, "%s: request_id.get() gave \"%s\" instead of \"%s\"\n",
            EXAMPLE, (const char *)value, want);
    return -EPROTO;
  }
  return 0;
}

/* request_id.set as a function for corio_context_run. */
static int set_request_id(void *value) {
  return corio_contextvar_set(request_id, value, NULL);
}

static int task_with_context(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  rc = print_get("Task request_id: ", "12345");
  if (rc < 0)
    return rc;
  rc = corio_sleep(EXAMPLE_UNIT);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_sleep", rc) : 0;
}

static int handle_request(void *arg, void **result) {
  const char *rid = arg;
  char prefix[64];
  int rc;

  (void)result;
  printf("request %s: request_id.set(\"%s\")\n", rid, rid);
  rc = corio_contextvar_set(request_id, arg, NULL);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_contextvar_set", rc);
  rc = corio_sleep(0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  snprintf(prefix, sizeof prefix, "request %s: request_id.get() -> ", rid);
  return print_get(prefix, rid);
}

/* The seed's main: a copied context, set with ctx.run, given to a task. */
static int seed_main(void) {
  corio_context *ctx;
  corio_task *task;
  void *value = NULL;
  int rc;

  puts(">>> ctx = contextvars.copy_context()");
  rc = corio_context_copy(&ctx);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_context_copy", rc);
  puts(">>> ctx.run(request_id.set, \"12345\")");
  rc = corio_context_run(ctx, set_request_id, "12345");
  if (rc < 0) {
    corio_context_unref(ctx);
    return example_task_fail(EXAMPLE, "corio_context_run", rc);
  }
  /* The set went into ctx, not into main's own context. */
  puts(">>> request_id.get()");
  rc = print_get("", NULL);
  if (rc == 0) {
    puts(">>> ctx[request_id]");
    rc = corio_context_get(ctx, request_id, &value);
    if (rc == 0)
      puts((const char *)value);
    else
      rc = example_task_fail(EXAMPLE, "corio_context_get", rc);
  }
  if (rc < 0) {
    corio_context_unref(ctx);
    return rc;
  }
  puts(">>> task = asyncio.create_task(task_with_context(), context=ctx)");
  rc = corio_spawn_ex(&task, task_with_context, NULL,
                      &(corio_spawn_options){.context = ctx});
  /* The task holds its own reference to ctx. */
  corio_context_unref(ctx);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_spawn_ex", rc);
  puts(">>> await task");
  rc = corio_await(task, NULL);
  corio_task_unref(task);
  return rc != 0 ? example_task_unexpected(EXAMPLE, "await task", rc, 0) : 0;
}

/* Three requests at once, each task with its own value. */
static int requests(void) {
  static char ids[N_REQUESTS][2] = {"A", "B", "C"};
  corio_task *tasks[N_REQUESTS];
  int failed = 0, i, n, rc;

  puts(">>> tasks = [asyncio.create_task(handle_request(rid))\n"
       "...          for rid in (\"A\", \"B\", \"C\")]");
  for (n = 0; n < N_REQUESTS; n++) {
    rc = corio_spawn(&tasks[n], handle_request, ids[n]);
    if (rc < 0) {
      failed = example_task_fail(EXAMPLE, "corio_spawn", rc);
      break;
    }
  }
  puts(">>> for task in tasks: await task");
  for (i = 0; i < n; i++) {
    rc = corio_await(tasks[i], NULL);
    if (rc != 0)
      failed = example_task_unexpected(EXAMPLE, "await task", rc, 0);
    corio_task_unref(tasks[i]);
  }
  if (failed < 0)
    return failed;
  /* None of the tasks' sets reached main. */
  puts(">>> request_id.get()");
  return print_get("", NULL);
}

/* set() hands back a token; reset(token) restores the value from before
 * the set, here none, and a token serves once. */
static int token_reset(void) {
  corio_context_token token;
  int rc;

  puts(">>> token = request_id.set(\"main\")");
  rc = corio_contextvar_set(request_id, "main", &token);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_contextvar_set", rc);
  puts(">>> request_id.get()");
  rc = print_get("", "main");
  if (rc < 0)
    return rc;
  puts(">>> request_id.reset(token)");
  rc = corio_contextvar_reset(request_id, &token);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_contextvar_reset", rc);
  puts(">>> request_id.get()");
  rc = print_get("", NULL);
  if (rc < 0)
    return rc;
  puts(">>> request_id.reset(token)");
  rc = corio_contextvar_reset(request_id, &token);
  if (rc != CORIO_ETOKENUSED)
    return example_task_unexpected(EXAMPLE, "request_id.reset(token)", rc,
                                   CORIO_ETOKENUSED);
  printf("RuntimeError: %s\n", corio_strerror(rc));
  return 0;
}

static int request_main(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts(">>> request_id.get()");
  rc = print_get("", NULL);
  if (rc == 0)
    rc = seed_main();
  if (rc == 0) {
    puts("\n# One request per task: each task starts with a copy of main's\n"
         "# context, so no task sees another's set");
    rc = requests();
  }
  if (rc == 0) {
    puts("\n# Undoing a set with its token");
    rc = token_reset();
  }
  return rc;
}

int example_request_id(void) {
  int rc;

  puts(">>> request_id = contextvars.ContextVar('request_id')");
  rc = corio_contextvar_create(&request_id, "request_id");
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_contextvar_create", rc);
  puts(">>> asyncio.run(main())");
  rc = corio_run(request_main, NULL, NULL);
  corio_contextvar_free(request_id);
  request_id = NULL;
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_request_id)
#endif
