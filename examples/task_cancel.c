/* Cancelling a task: the C twin of seed 001's cancellation example
 * (section 2.2.2), then what else Task.cancel() does.
 *
 *   async def my_task():
 *       print("Task started")
 *       try:
 *           await asyncio.sleep(5)
 *       except asyncio.CancelledError:
 *           print("Task was cancelled!")
 *           raise
 *       print("Task finished")
 *
 *   async def main():
 *       task = asyncio.create_task(my_task())
 *       await asyncio.sleep(2)
 *       task.cancel()
 *       try:
 *           await task
 *       except asyncio.CancelledError:
 *           print("Task has been cancelled")
 *
 * corio_task_cancel(task, msg) is task.cancel(msg): a request, delivered
 * as -ECANCELED by the task's current suspension point (here its sleep),
 * or by its next one. Catching CancelledError is looking at that code;
 * `raise` is returning it, which makes the task cancelled, and an await of
 * a cancelled task returns -ECANCELED. A task that handles the code and
 * goes on is not cancelled. corio_task_cancelling() counts the requests
 * and corio_task_uncancel() withdraws one, as in Python 3.11.
 *
 * The output does not depend on the machine's speed (see example.h): the
 * seed's cancel, due 3 units before my_task's sleep ends, comes first even
 * when the loop runs both in one iteration; the tasks of the other parts,
 * which are cancelled a few loop iterations after they start, sleep
 * EXAMPLE_FOREVER, so that no delay can let one finish first.
 *
 * One difference from asyncio: cancelling a task that awaits another does
 * not cancel the awaited task (in asyncio it does); cancel it too if that
 * is what you want. The last part shows it. */
#include "example.h"

#define EXAMPLE "task_cancel"

/* The seed's my_task. */
static int my_task(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  puts("Task started");
  rc = corio_sleep(5 * EXAMPLE_UNIT);
  if (rc == -ECANCELED) {
    puts("Task was cancelled!");
    return rc; /* raise */
  }
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  puts("Task finished");
  return 0;
}

/* Sleeps until cancelled, and shows the cancellation's message. */
static int with_message(void *arg, void **result) {
  int rc;

  (void)arg;
  (void)result;
  rc = corio_sleep(EXAMPLE_FOREVER); /* ends cancelled */
  if (rc != -ECANCELED)
    return example_task_unexpected(EXAMPLE, "corio_sleep", rc, -ECANCELED);
  printf("with_message: cancelled, message: %s\n",
         corio_task_cancel_message(corio_current_task()));
  return rc;
}

/* Handles the cancellation, withdraws the requests and carries on. */
static int stubborn(void *arg, void **result) {
  corio_task *self = corio_current_task();
  int rc;

  (void)arg;
  rc = corio_sleep(EXAMPLE_FOREVER); /* ends cancelled */
  if (rc != -ECANCELED)
    return example_task_unexpected(EXAMPLE, "corio_sleep", rc, -ECANCELED);
  printf("stubborn: cancelled; cancelling() = %d\n",
         corio_task_cancelling(self));
  printf("stubborn: uncancel() -> %d\n", corio_task_uncancel(self));
  printf("stubborn: uncancel() -> %d\n", corio_task_uncancel(self));
  puts("stubborn: handled, carrying on");
  /* Both requests were one delivery: the next await is not cancelled. */
  rc = corio_sleep(0);
  if (rc < 0)
    return example_task_fail(EXAMPLE, "corio_sleep", rc);
  *result = "finished anyway";
  return 0;
}

static int inner(void *arg, void **result) {
  int rc;

  (void)arg;
  rc = corio_sleep(EXAMPLE_FOREVER); /* ends cancelled */
  if (rc == -ECANCELED)
    puts("inner: cancelled with the task awaiting it");
  if (rc < 0)
    return rc;
  *result = "inner result";
  return 0;
}

static int outer(void *arg, void **result) {
  int rc = corio_await((corio_task *)arg, result);

  if (rc == -ECANCELED)
    puts("outer: cancelled while awaiting inner");
  return rc;
}

/* Prints `call` and spawns fn(arg) into *task. */
static int spawn(corio_task **task, corio_task_fn fn, void *arg,
                 const char *call) {
  int rc;

  printf(">>> %s\n", call);
  rc = corio_spawn(task, fn, arg);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_spawn", rc) : 0;
}

/* `await asyncio.sleep(n)`, printed. */
static int sleep_units(int n) {
  int rc;

  printf(">>> await asyncio.sleep(%d)\n", n);
  rc = corio_sleep(n * EXAMPLE_UNIT);
  return rc < 0 ? example_task_fail(EXAMPLE, "corio_sleep", rc) : 0;
}

/* Prints `call` and cancels task, which must be pending: cancel() returns
 * 1 (True) for a request made. */
static int cancel(corio_task *task, const char *msg, const char *call) {
  int rc;

  printf(">>> %s\n", call);
  rc = corio_task_cancel(task, msg);
  if (rc != 1)
    return example_task_unexpected(EXAMPLE, call, rc, 1);
  puts("True");
  return 0;
}

/* Awaits task, which must end cancelled, and prints CancelledError with
 * the message if there is one; `caught` replaces that line. */
static int await_cancelled(corio_task *task, const char *caught) {
  const char *msg;
  int rc;

  puts(">>> await task");
  rc = corio_await(task, NULL);
  if (rc != -ECANCELED)
    return example_task_unexpected(EXAMPLE, "await task", rc, -ECANCELED);
  msg = corio_task_message(task);
  if (caught)
    puts(caught);
  else
    printf("CancelledError%s%s\n", msg ? ": " : "", msg ? msg : "");
  printf(">>> task.cancelled()\n%s\n",
         corio_task_cancelled(task) ? "True" : "False");
  return 0;
}

static int seed_part(void) {
  corio_task *task;
  int rc;

  if (spawn(&task, my_task, NULL, "task = asyncio.create_task(my_task())"))
    return -EPROTO;
  rc = sleep_units(2);
  if (rc == 0)
    rc = cancel(task, NULL, "task.cancel()");
  if (rc == 0)
    rc = await_cancelled(task, "Task has been cancelled");
  if (rc == 0) {
    /* A task that is done cannot be cancelled any more. */
    puts(">>> task.cancel()  # again, now that it is done");
    rc = corio_task_cancel(task, NULL);
    if (rc == 0)
      puts("False");
    else
      rc = example_task_unexpected(EXAMPLE, "task.cancel()", rc, 0);
  }
  corio_task_unref(task);
  return rc;
}

static int message_part(void) {
  corio_task *task;
  int rc;

  if (spawn(&task, with_message, NULL,
            "task = asyncio.create_task(with_message())"))
    return -EPROTO;
  rc = sleep_units(0);
  if (rc == 0)
    rc = cancel(task, "stop now", "task.cancel(\"stop now\")");
  if (rc == 0)
    rc = await_cancelled(task, NULL);
  corio_task_unref(task);
  return rc;
}

static int carry_on_part(void) {
  corio_task *task;
  void *result = NULL;
  int rc;

  if (spawn(&task, stubborn, NULL, "task = asyncio.create_task(stubborn())"))
    return -EPROTO;
  rc = sleep_units(0);
  if (rc == 0)
    rc = cancel(task, NULL, "task.cancel()");
  if (rc == 0)
    rc = cancel(task, NULL, "task.cancel()");
  if (rc == 0) {
    printf(">>> task.cancelling()\n%d\n", corio_task_cancelling(task));
    puts(">>> await task");
    rc = corio_await(task, &result);
    if (rc == 0)
      printf("%s\n>>> task.cancelled()\n%s\n", (const char *)result,
             corio_task_cancelled(task) ? "True" : "False");
    else
      rc = example_task_unexpected(EXAMPLE, "await task", rc, 0);
  }
  corio_task_unref(task);
  return rc;
}

/* A task cancelled before its first step finishes without running. */
static int unstarted_part(void) {
  corio_task *task;
  int rc;

  if (spawn(&task, my_task, NULL, "task = asyncio.create_task(my_task())"))
    return -EPROTO;
  rc = cancel(task, NULL, "task.cancel()  # before it could start");
  if (rc == 0)
    rc = await_cancelled(task, NULL);
  corio_task_unref(task);
  return rc;
}

static int awaited_part(void) {
  corio_task *inner_task, *outer_task;
  void *result = NULL;
  int rc;

  if (spawn(&inner_task, inner, NULL,
            "inner_task = asyncio.create_task(inner())"))
    return -EPROTO;
  if (spawn(&outer_task, outer, inner_task,
            "task = asyncio.create_task(outer(inner_task))")) {
    corio_task_unref(inner_task);
    return -EPROTO;
  }
  rc = sleep_units(0);
  if (rc == 0)
    rc = cancel(outer_task, NULL, "task.cancel()");
  if (rc == 0)
    rc = await_cancelled(outer_task, NULL);
  /* Cancelling a task cancels what it awaits (asyncio's rule; shield is
   * the way to keep inner running). */
  if (rc == 0) {
    printf(">>> inner_task.cancelled()\n%s\n",
           corio_task_cancelled(inner_task) ? "True" : "False");
    puts(">>> await inner_task");
    rc = corio_await(inner_task, &result);
    if (rc == -ECANCELED) {
      puts("CancelledError");
      rc = 0;
    } else {
      rc = example_task_unexpected(EXAMPLE, "await inner_task", rc, -ECANCELED);
    }
  }
  corio_task_unref(outer_task);
  corio_task_unref(inner_task);
  return rc;
}

static int cancel_main(void *arg, void **result) {
  static const struct {
    const char *title;
    int (*run)(void);
  } parts[] = {
      {"", seed_part},
      {"\n# A message with the request", message_part},
      {"\n# A task that handles the cancellation and carries on",
       carry_on_part},
      {"\n# A task cancelled before it started never runs", unstarted_part},
      {"\n# Cancelling a task that awaits another: the other goes on",
       awaited_part},
  };
  size_t i;
  int rc;

  (void)arg;
  (void)result;
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (parts[i].title[0])
      puts(parts[i].title);
    rc = parts[i].run();
    if (rc < 0)
      return rc;
  }
  return 0;
}

int example_task_cancel(void) {
  int rc;

  puts(">>> asyncio.run(main())");
  rc = corio_run(cancel_main, NULL, NULL);
  return rc < 0 ? example_fail(EXAMPLE, "corio_run", rc) : 0;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_task_cancel)
#endif
