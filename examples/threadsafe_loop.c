/* A loop in a background thread, given work by the main thread: the C twin
 * of seed 001's complete run_coroutine_threadsafe example (section
 * 2.2.11), then the seed's timeout branch taken for real.
 *
 *   async def example_coroutine():
 *       print("Coroutine started")
 *       await asyncio.sleep(2)
 *       print("Coroutine finished")
 *       return "Task result"
 *
 *   def start_loop(loop):
 *       asyncio.set_event_loop(loop)
 *       loop.run_forever()
 *
 *   loop = asyncio.new_event_loop()
 *   loop_thread = threading.Thread(target=start_loop, args=(loop,))
 *   loop_thread.start()
 *
 *   future = asyncio.run_coroutine_threadsafe(example_coroutine(), loop)
 *   try:
 *       result = future.result(3)    # 3600 here: see below
 *   except asyncio.TimeoutError:
 *       print('The coroutine took too long, cancelling the task...')
 *       future.cancel()
 *   except Exception as exc:
 *       print(f'The coroutine raised an exception: {exc!r}')
 *   else:
 *       print(f'The coroutine returned: {result!r}')
 *
 *   loop.call_soon_threadsafe(loop.stop)
 *   loop_thread.join()
 *
 * corio_loop_create is new_event_loop, and a pthread runs
 * corio_loop_run_forever on it. corio_run_coroutine_threadsafe starts the
 * task function on that loop from the main thread and hands back a
 * corio_threadsafe_future (concurrent.futures.Future), whose result the
 * main thread waits for with a timeout: 0 and the result, the task's
 * error, or -ETIMEDOUT (TimeoutError), after which the task goes on.
 *
 * The second run gives the same coroutine only 1 unit: the wait times
 * out, and corio_threadsafe_future_cancel cancels the future at once (its
 * done callback runs there and then, on the main thread) and asks the
 * loop to cancel the task, whose sleep then returns -ECANCELED. Last,
 * corio_loop_stop_cb sent with corio_loop_call_soon_threadsafe stops the
 * loop; once the thread is joined the main thread closes the loop, which
 * has no task left.
 *
 * The order of the output: the coroutine prints on the loop's thread and
 * main on its own, so main only prints once the coroutine's line before
 * it is out. The result comes after "Coroutine finished", which the task
 * prints before it returns; for the other lines the coroutine posts two
 * semaphores, `started` after its first line and `ended` after its last,
 * and main waits for them: before it starts the 1-unit wait (so that the
 * timeout counts from a started coroutine), and after the cancel, before
 * it reports. Both threads print to the one stdout buffer, in the order
 * of the calls.
 *
 * The output must not depend on the machine's speed (see example.h), and
 * on a loaded machine either thread may get to a wake-up a unit late:
 * - The first run's result must come within the timeout: any timeout a
 *   few units long could run out first, so main gives it 3600 units (3
 *   minutes, more than any run of the test). The second run's coroutine
 *   must still be running when main's 1-unit wait runs out, however late
 *   main gets to that: it sleeps EXAMPLE_FOREVER, not 2 units.
 * - Times are times on the coroutine's schedule, in units since it
 *   started: when each line was due (the end of its sleep, the end of
 *   main's wait), not a reading of the clock, which could be a unit late.
 *   Each is checked against the clock, which must not be early
 *   (example_due). They count from the coroutine's start, not from its
 *   submission, which the loop's thread has to notice first; and main
 *   first runs a silent coroutine (warm_up) through the same paths,
 *   untimed, as code runs slowly the first time under Valgrind. */
#include <pthread.h>
#include <semaphore.h>

#include <corio/thread.h>

#include "example.h"

#define EXAMPLE "threadsafe_loop"

/* One run of example_coroutine. Static: the semaphores are posted on the
 * loop's thread, and must outlive any wait for them. */
struct coro_run {
  int delay;     /* units the coroutine sleeps; FOREVER: EXAMPLE_FOREVER */
  int wait;      /* units main waits for its result */
  sem_t started; /* posted once "Coroutine started" is out */
  sem_t ended;   /* posted once its last line is out */
};

#define FOREVER (-1)

static struct coro_run runs[2] = {{.delay = 2, .wait = 3600},
                                  {.delay = FOREVER, .wait = 1}};
/* When the coroutine started: written on the loop's thread before it
 * posts `started` or finishes, read by main after it waited for either. */
static int64_t start_ns;

/* ---- the loop's thread ----------------------------------------------------
 */

static int example_coroutine(void *arg, void **result) {
  struct coro_run *run = arg;
  int rc;

  start_ns = example_clock_ns();
  puts("Coroutine started");
  sem_post(&run->started);
  rc = corio_sleep(run->delay == FOREVER ? EXAMPLE_FOREVER
                                         : run->delay * EXAMPLE_UNIT);
  if (rc == -ECANCELED) {
    /* main cancels it once its wait has run out */
    printf("Coroutine cancelled (t=%lld): its sleep returned %s\n",
           example_due(EXAMPLE, start_ns, run->wait), example_error_name(rc));
  } else if (rc < 0) {
    (void)example_task_fail(EXAMPLE, "corio_sleep", rc);
  } else {
    printf("Coroutine finished (t=%lld)\n",
           example_due(EXAMPLE, start_ns, run->delay));
    *result = "Task result";
  }
  sem_post(&run->ended);
  return rc;
}

/* Warming up, untimed: a start, a sleep and a finish, so that the timed
 * runs take paths that have run before. */
static int warm_up(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0.001);
}

/* The thread's body: start_loop(loop). */
static void *start_loop(void *loop) {
  corio_loop_set_current(loop); /* asyncio.set_event_loop(loop) */
  return (void *)(intptr_t)corio_loop_run_forever(loop);
}

/* ---- the main thread ------------------------------------------------------
 */

static void wait_for(sem_t *sem) {
  while (sem_wait(sem) < 0 && errno == EINTR)
    ;
}

/* A done callback: here it runs inside cancel, on the main thread. */
static void on_done(corio_threadsafe_future *fut, void *arg) {
  (void)arg;
  printf("done callback: future.cancelled() = %d\n",
         corio_threadsafe_future_cancelled(fut));
}

/* The seed's try/except/else around future.result(run->wait units). */
static int handle_result(corio_threadsafe_future *fut, struct coro_run *run) {
  void *result = NULL;
  int rc =
      corio_threadsafe_future_result(fut, run->wait * EXAMPLE_UNIT, &result);

  if (rc == -ETIMEDOUT) {
    printf("The coroutine took too long, cancelling the task... (t=%lld)\n",
           example_due(EXAMPLE, start_ns, run->wait));
    rc = corio_threadsafe_future_cancel(fut);
    wait_for(&run->ended); /* the task's own report comes first */
    printf("future.cancel() = %d, future.cancelled() = %d, "
           "future.result() = %s\n",
           rc, corio_threadsafe_future_cancelled(fut),
           example_error_name(corio_threadsafe_future_result(fut, 0, NULL)));
    return rc == 1 ? 0 : example_unexpected(EXAMPLE, "future.cancel()", rc, 1);
  }
  if (rc < 0) {
    const char *message = corio_threadsafe_future_message(fut);

    printf("The coroutine raised an exception: %s('%s')\n",
           example_error_name(rc), message ? message : "");
    return 1;
  }
  printf("The coroutine returned: '%s' (t=%lld)\n", (const char *)result,
         example_due(EXAMPLE, start_ns, run->delay));
  return 0;
}

/* Submits run's coroutine to loop and handles its result, waited for at
 * most run->wait units; with watch, adds on_done and waits until the
 * coroutine has started first. */
static int submit(corio_loop *loop, struct coro_run *run, int watch) {
  corio_threadsafe_future *fut;
  int rc, failed;

  rc = corio_run_coroutine_threadsafe(loop, example_coroutine, run, &fut);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_run_coroutine_threadsafe", rc);
  if (watch) {
    rc = corio_threadsafe_future_add_done_callback(fut, on_done, NULL);
    if (rc < 0) {
      (void)corio_threadsafe_future_cancel(fut);
      corio_threadsafe_future_unref(fut);
      return example_fail(EXAMPLE, "add_done_callback", rc);
    }
    wait_for(&run->started);
  }
  failed = handle_result(fut, run);
  corio_threadsafe_future_unref(fut);
  return failed;
}

static int run_parts(corio_loop *loop) {
  corio_threadsafe_future *fut;
  int rc = corio_run_coroutine_threadsafe(loop, warm_up, NULL, &fut);

  if (rc < 0)
    return example_fail(EXAMPLE, "corio_run_coroutine_threadsafe", rc);
  rc = corio_threadsafe_future_result(fut, CORIO_NO_TIMEOUT, NULL);
  corio_threadsafe_future_unref(fut);
  if (rc < 0)
    return example_fail(EXAMPLE, "warm_up", rc);
  puts("# future = asyncio.run_coroutine_threadsafe(example_coroutine(), "
       "loop)\n"
       "# result = future.result(3600)");
  if (submit(loop, &runs[0], 0))
    return 1;
  puts("\n# The same coroutine, with future.result(1): the coroutine "
       "takes longer");
  return submit(loop, &runs[1], 1);
}

/* Stops the loop from this thread, waits for its thread to end and
 * closes the loop. Returns 0, 1 after a report, or -1 if the loop could
 * not be told to stop: its thread still runs it, so it must be left. */
static int stop_and_join(corio_loop *loop, pthread_t thread) {
  void *ret;
  int rc, failed = 0;

  puts("\n# loop.call_soon_threadsafe(loop.stop); loop_thread.join()");
  rc = corio_loop_call_soon_threadsafe(loop, corio_loop_stop_cb, loop);
  if (rc < 0) {
    (void)example_fail(EXAMPLE, "corio_loop_call_soon_threadsafe", rc);
    return -1;
  }
  pthread_join(thread, &ret);
  rc = (int)(intptr_t)ret;
  printf("run_forever returned %s\n", example_error_name(rc));
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_loop_run_forever", rc);
  rc = corio_loop_close(loop);
  if (rc < 0)
    failed = example_fail(EXAMPLE, "corio_loop_close", rc);
  else
    printf("loop closed: %d\n", corio_loop_is_closed(loop));
  return failed;
}

int example_threadsafe_loop(void) {
  corio_loop *loop;
  pthread_t thread;
  int rc, failed, i;

  printf("(t: time on the coroutine's schedule, in units of %d ms since it "
         "started)\n",
         (int)(EXAMPLE_UNIT_NS / 1000000));
  for (i = 0; i < 2; i++) {
    sem_init(&runs[i].started, 0, 0);
    sem_init(&runs[i].ended, 0, 0);
  }
  rc = corio_loop_create(&loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_create", rc);
  rc = pthread_create(&thread, NULL, start_loop, loop);
  if (rc != 0) {
    corio_loop_unref(loop);
    return example_fail(EXAMPLE, "pthread_create", -rc);
  }
  failed = run_parts(loop);
  rc = stop_and_join(loop, thread);
  if (rc < 0)
    return 1;
  if (rc > 0)
    failed = 1;
  corio_loop_unref(loop);
  for (i = 0; i < 2; i++) {
    sem_destroy(&runs[i].started);
    sem_destroy(&runs[i].ended);
  }
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_threadsafe_loop)
#endif
