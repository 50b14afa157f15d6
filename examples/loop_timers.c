/* Callbacks and timers on the event loop: the C twin of this asyncio
 * session (seed 001's event loop basics, done with plain callbacks). The
 * loop runs twice: first the ready queue, then the timers.
 *
 *   loop = asyncio.new_event_loop()
 *   def say(what): print(what)
 *   def soon_1():
 *       print("soon 1")
 *       loop.call_soon(soon_3)
 *   def soon_3(): print("soon 3, scheduled by soon 1: stop"); loop.stop()
 *   def fail(): raise OSError(errno.EIO, "Input/output error")
 *   def handler(loop, context): print("exception handler:", ...)
 *   loop.set_exception_handler(handler)
 *   loop.call_soon(soon_1)
 *   loop.call_later(0, say, "later 0")
 *   loop.call_soon(say, "soon 2")
 *   loop.call_soon(fail)
 *   loop.run_forever()
 *
 *   start = loop.time()
 *   loop.call_later(0.05, say, "later 50 ms")
 *   loop.call_later(0.06, say, "later 60 ms")
 *   h2 = loop.call_at(start + 0.03, say, "at +30 ms")
 *   loop.call_at(start + 0.01, say, "at +10 ms")
 *   h = loop.call_later(0.02, say, "never")
 *   h.cancel(); h.cancel()
 *   end = loop.time() + 0.07
 *   loop.call_at(end, stop)
 *   loop.call_at(end, say, "same deadline as stop")
 *   loop.run_forever()
 *   loop.close()
 *
 * What it shows (asyncio's rules, DESIGN.md section 4 rule 1):
 * - call_soon callbacks run in FIFO order, and one scheduled while the
 *   loop runs callbacks ("soon 3") waits for the next iteration;
 * - a timer that is due joins the ready queue behind what was already
 *   there, so call_later(0) runs after every call_soon made before the
 *   iteration started, even those made after it;
 * - a callback that returns an error goes to the exception handler and
 *   the loop goes on;
 * - timers run in deadline order whatever order they were made in, and
 *   equal deadlines in the order they were made;
 * - a cancelled handle never runs; cancelling twice is harmless;
 * - stop() lets the current iteration finish: "same deadline as stop" is
 *   in that iteration, so it still runs.
 *
 * The output is the order things run in, never a time, and that order
 * does not depend on the machine's speed: the first run has no timer but
 * call_later(0), which is always due in the first iteration, and in the
 * second run every pair of timers is ordered by construction (call_at
 * times share one base; a call_later made after `start` with a longer
 * delay than a call_at's offset is due after it, and so on). Under
 * Valgrind a 10 ms timer made before the first run would already be due
 * in its first iteration and run before "soon 3". Each timer also checks
 * that it did not fire before its deadline. */
#include <errno.h>
#include <stdint.h>

#include "example.h"

#define EXAMPLE "loop_timers"

struct state {
  corio_loop *loop;
  int failed; /* a callback saw something wrong (reported on stderr) */
};

/* One callback's text, and for a timer the loop time (ns) before which it
 * must not run (0 for call_soon). */
struct say {
  struct state *st;
  const char *text;
  int64_t not_before_ns;
};

static int say(void *arg) {
  struct say *s = arg;

  if (s->not_before_ns && corio_loop_time_ns(s->st->loop) < s->not_before_ns) {
    fprintf(stderr, "%s: \"%s\" ran before its deadline\n", EXAMPLE, s->text);
    s->st->failed = 1;
  }
  puts(s->text);
  return 0;
}

static int soon_3(void *arg) {
  struct state *st = arg;

  puts("soon 3, scheduled by soon 1: stop");
  return corio_loop_stop(st->loop);
}

static int soon_1(void *arg) {
  struct state *st = arg;
  int rc;

  puts("soon 1");
  /* The loop is running its ready callbacks: this one waits for the next
   * iteration, behind everything that is ready now. */
  rc = corio_loop_call_soon(st->loop, soon_3, st, NULL);
  if (rc < 0) {
    st->failed = example_fail(EXAMPLE, "corio_loop_call_soon", rc);
    corio_loop_stop(st->loop);
  }
  return rc;
}

/* The C form of a callback that raises: it returns a negative code. */
static int fail(void *arg) {
  (void)arg;
  return -EIO;
}

static int stop(void *arg) {
  struct state *st = arg;

  puts("stop");
  return corio_loop_stop(st->loop);
}

/* A custom handler, as loop.set_exception_handler(handler): it is told
 * the message, the code and which callback failed. */
static void handler(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)arg;
  printf("exception handler: %s: %s (in %s)\n", e->message,
         corio_strerror(e->error), e->callback == fail ? "fail" : "?");
}

static int soon(struct state *st, corio_callback cb, void *arg,
                const char *call) {
  int rc;

  printf(">>> %s\n", call);
  rc = corio_loop_call_soon(st->loop, cb, arg, NULL);
  return rc < 0 ? example_fail(EXAMPLE, call, rc) : 0;
}

/* say(s) after delay seconds; h, if not NULL, receives the handle. */
static int later(struct state *st, double delay, struct say *s,
                 corio_handle **h, const char *call) {
  int rc;

  s->st = st;
  s->not_before_ns = corio_loop_time_ns(st->loop) + (int64_t)(delay * 1e9);
  printf(">>> %s\n", call);
  rc = corio_loop_call_later(st->loop, delay, say, s, h);
  return rc < 0 ? example_fail(EXAMPLE, call, rc) : 0;
}

/* say(s) at loop time `when` (seconds). */
static int at(struct state *st, double when, struct say *s, corio_handle **h,
              const char *call) {
  int rc;

  s->st = st;
  s->not_before_ns = (int64_t)(when * 1e9);
  printf(">>> %s\n", call);
  rc = corio_loop_call_at(st->loop, when, say, s, h);
  return rc < 0 ? example_fail(EXAMPLE, call, rc) : 0;
}

static int run_loop(struct state *st) {
  int rc;

  puts(">>> loop.run_forever()");
  rc = corio_loop_run_forever(st->loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_run_forever", rc);
  return st->failed;
}

/* The first run: the ready queue, call_later(0) and the handler. */
static int ready_queue(struct state *st) {
  static struct say later_0 = {NULL, "later 0", 0};
  static struct say soon_2 = {NULL, "soon 2", 0};

  soon_2.st = st;
  puts(">>> loop.set_exception_handler(handler)");
  corio_loop_set_exception_handler(st->loop, handler, NULL);
  if (soon(st, soon_1, st, "loop.call_soon(soon_1)") ||
      later(st, 0, &later_0, NULL, "loop.call_later(0, say, \"later 0\")") ||
      soon(st, say, &soon_2, "loop.call_soon(say, \"soon 2\")") ||
      soon(st, fail, NULL, "loop.call_soon(fail)"))
    return 1;
  return run_loop(st);
}

/* The second run: timers in deadline order, a cancelled one, and stop.
 * h receives the cancelled handle, h2 the call_at one; the caller
 * releases both. */
static int timers(struct state *st, corio_handle **h, corio_handle **h2) {
  static struct say later_50 = {NULL, "later 50 ms", 0};
  static struct say later_60 = {NULL, "later 60 ms", 0};
  static struct say at_30 = {NULL, "at +30 ms", 0};
  static struct say at_10 = {NULL, "at +10 ms", 0};
  static struct say never = {NULL, "never", 0};
  static struct say after_stop = {NULL, "same deadline as stop", 0};
  double start, end;
  int rc;

  /* call_at takes a time on the loop's clock, in seconds. */
  puts("\n>>> start = loop.time()");
  start = corio_loop_time(st->loop);
  if (later(st, 0.05, &later_50, NULL,
            "loop.call_later(0.05, say, \"later 50 ms\")") ||
      later(st, 0.06, &later_60, NULL,
            "loop.call_later(0.06, say, \"later 60 ms\")") ||
      at(st, start + 0.03, &at_30, h2,
         "h2 = loop.call_at(start + 0.03, say, \"at +30 ms\")"))
    return 1;
  puts(">>> h2.when() - start");
  printf("%.3f\n", corio_handle_when(*h2) - start);
  if (at(st, start + 0.01, &at_10, NULL,
         "loop.call_at(start + 0.01, say, \"at +10 ms\")"))
    return 1;

  /* A handle that is cancelled never runs, and cancelling again (or after
   * it ran) does nothing. */
  if (later(st, 0.02, &never, h, "h = loop.call_later(0.02, say, \"never\")"))
    return 1;
  puts(">>> h.cancel(); h.cancel()");
  corio_handle_cancel(*h);
  corio_handle_cancel(*h);
  puts(">>> h.cancelled()");
  puts(corio_handle_cancelled(*h) ? "True" : "False");

  /* Two timers with the same deadline run in the order they were made,
   * in the same iteration: the stop lets that iteration finish. */
  puts(">>> end = loop.time() + 0.07");
  end = corio_loop_time(st->loop) + 0.07;
  puts(">>> loop.call_at(end, stop)");
  rc = corio_loop_call_at(st->loop, end, stop, st, NULL);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_call_at", rc);
  if (at(st, end, &after_stop, NULL,
         "loop.call_at(end, say, \"same deadline as stop\")"))
    return 1;
  return run_loop(st);
}

static int run(struct state *st, corio_handle **h, corio_handle **h2) {
  static struct say too_late = {NULL, "too late", 0};
  int rc;

  if (ready_queue(st) || timers(st, h, h2))
    return 1;
  puts(">>> loop.close()");
  rc = corio_loop_close(st->loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_close", rc);
  /* A closed loop takes no more callbacks. */
  puts(">>> loop.call_soon(say, \"too late\")");
  too_late.st = st;
  rc = corio_loop_call_soon(st->loop, say, &too_late, NULL);
  if (rc != CORIO_ELOOPCLOSED) {
    fprintf(stderr, "%s: call_soon after close returned %d (%s)\n", EXAMPLE, rc,
            corio_strerror(rc));
    return 1;
  }
  printf("error: %s\n", corio_strerror(rc));
  return 0;
}

int example_loop_timers(void) {
  struct state st = {NULL, 0};
  corio_handle *h = NULL, *h2 = NULL;
  int failed, rc;

  puts(">>> loop = asyncio.new_event_loop()");
  rc = corio_loop_create(&st.loop);
  if (rc < 0)
    return example_fail(EXAMPLE, "corio_loop_create", rc);
  failed = run(&st, &h, &h2);
  /* Handles keep their loop's memory (not the loop) alive: release them,
   * and the loop (which closes it if run() stopped early). */
  corio_handle_unref(h);
  corio_handle_unref(h2);
  corio_loop_unref(st.loop);
  return failed;
}

#ifdef EXAMPLE_STANDALONE
EXAMPLE_MAIN(example_loop_timers)
#endif
