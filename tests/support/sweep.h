/* The cancellation sweep (issue 18): a scenario (a task making a sequence
 * of corio calls) runs once uncancelled, then once per suspension k of
 * its task with a cancel delivered exactly while the task is suspended
 * there, and once per (k, j) with a second cancel at the j-th suspension
 * of the cleanup that follows the first (bounded by jmax). The scenario
 * checks its own bytes, fds and children after every run.
 *
 * Which suspension the task is at is counted exactly, not sampled by a
 * polling task (which would miss a suspension woken within the iteration
 * it began in): with the loop in debug mode, the loop calls the task
 * layer's callback_begin/end around every callback it runs, and the probe
 * wraps them. Every step of a task runs inside some callback (its queued
 * step, or a readiness/done callback that steps it at once), so after
 * each callback the probe knows whether the target took a step: before
 * the callback it stores a sentinel in the target's wake_value, which
 * every step overwrites before resuming the body (task.c's step()). A
 * step that ended with the task pending is one more suspension; at the
 * chosen one the probe cancels the task, right there, from the loop.
 * A step outside any callback would be seen at the next callback_begin
 * (the sentinel gone): counted, and reported as `unseen` so that a run
 * where the probe could not cancel in time fails instead of passing
 * unswept.
 *
 * On an io_uring loop the completions of the net layer's ops (a stream's
 * recv and send, a server's accept) are no callbacks: the loop calls
 * op->done straight from its poll, and a done that wakes a reader steps
 * it there and then. The probe covers those too, without a hook in src/:
 * after every callback (and every completion) it walks the loop's open
 * streams and servers and points each op's done at a trampoline of its
 * own, which does what callback_begin/end do around the real done. The
 * kernel names the op, not its done, so an op in flight when patched
 * comes back through the trampoline as well; a stream's ops are patched
 * in the callback that made the stream, before any of its ops can
 * complete. A patched op stays patched (the trampoline passes through
 * when no probe is active), so a stream that outlives its loop's sweep
 * is never left with a dangling done. */
#ifndef CORIO_TEST_SWEEP_H
#define CORIO_TEST_SWEEP_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "../task/task_check.h"
#include "corio/net.h"
#include "corio/task.h"
#include "loop/ext.h"
#include "loop/loop_internal.h"
#include "loop/uring.h"
#include "net/server_internal.h"
#include "net/stream_internal.h"
#include "support.h"
#include "task/task_internal.h"

/* No step ever resumes a body with this value. */
#define SWEEP_SENTINEL (INT_MIN + 0x5eed)

typedef struct sweep_probe {
  corio_loop *loop;
  const corio__loop_ext_ops *orig;
  corio__loop_ext_ops ops;
  void *orig_token;
  int depth;
  int active; /* between install and uninstall */
  int saved_debug;
  corio_task *target; /* held */
  long suspensions;   /* of the target so far */
  long cancel_at[2];  /* suspension numbers (1-based); 0: none */
  int reached[2];     /* those cancels were made */
  long unseen;        /* steps outside any callback */
  long nested;        /* callbacks run inside callbacks (not expected) */
  int trace;          /* SWEEP_TRACE=1: each suspension on stderr */
} sweep_probe;

static sweep_probe sweep_probe_now;

/* After a callback, or before one: one step more of the target? */
static inline void sweep_account(sweep_probe *p) {
  corio_task *t = p->target;

  if (!t || t->wake_value == SWEEP_SENTINEL)
    return;
  if (corio_task_done(t)) {
    p->target = NULL;
    corio_task_unref(t);
    return;
  }
  t->wake_value = SWEEP_SENTINEL;
  p->suspensions++;
  if (p->trace)
    fprintf(stderr, "sweep: suspension %ld in %s\n", p->suspensions,
            t->wait && t->wait->kind ? t->wait->kind->name : "?");
  for (int i = 0; i < 2; i++)
    if (p->cancel_at[i] == p->suspensions && !p->reached[i]) {
      p->reached[i] = 1;
      (void)corio_task_cancel(t, "sweep");
    }
}

/* ---- io_uring completions ------------------------------------------------
 */

static inline void sweep_patch_ops(sweep_probe *p);

typedef void (*sweep_done_fn)(corio__uring_op *op, int res, unsigned flags);

/* The distinct real dones seen (recv, send, accept), one trampoline each. */
enum { SWEEP_DONES = 4 };
static sweep_done_fn sweep_done_real[SWEEP_DONES];
/* Ops patched so far (a test may check that the ring's ops were used). */
static long sweep_patched_ops;

/* A completion as a callback: accounted before (a step outside any
 * callback shows) and after (the step the done ran, if any). */
static inline void sweep_done_run(int i, corio__uring_op *op, int res,
                                  unsigned flags) {
  sweep_probe *p = &sweep_probe_now;

  if (!p->active || p->depth > 0) {
    if (p->active)
      p->nested++;
    sweep_done_real[i](op, res, flags);
    return;
  }
  p->depth++;
  if (p->target && p->target->wake_value != SWEEP_SENTINEL) {
    p->unseen++;
    sweep_account(p);
  }
  sweep_done_real[i](op, res, flags); /* may free op's owner */
  p->depth--;
  sweep_account(p);
  sweep_patch_ops(p);
}

#define SWEEP_DONE_TRAMPOLINE(i)                                               \
  static void sweep_done_##i(corio__uring_op *op, int res, unsigned flags) {   \
    sweep_done_run(i, op, res, flags);                                         \
  }
SWEEP_DONE_TRAMPOLINE(0)
SWEEP_DONE_TRAMPOLINE(1)
SWEEP_DONE_TRAMPOLINE(2)
SWEEP_DONE_TRAMPOLINE(3)
static const sweep_done_fn sweep_done_trampolines[SWEEP_DONES] = {
    sweep_done_0, sweep_done_1, sweep_done_2, sweep_done_3};

static inline void sweep_patch_op(corio__uring_op *op) {
  int i;

  if (!op->done)
    return;
  for (i = 0; i < SWEEP_DONES; i++)
    if (op->done == sweep_done_trampolines[i])
      return; /* already */
  for (i = 0; i < SWEEP_DONES; i++)
    if (sweep_done_real[i] == op->done || !sweep_done_real[i])
      break;
  if (i == SWEEP_DONES) {
    fprintf(stderr, "sweep: more kinds of io_uring op than trampolines\n");
    abort();
  }
  sweep_done_real[i] = op->done;
  op->done = sweep_done_trampolines[i];
  sweep_patched_ops++;
}

/* Every op of the loop's io_uring streams and servers goes through a
 * trampoline from now on. */
static inline void sweep_patch_ops(sweep_probe *p) {
  corio__net_loop *net;

  if (!p->active || !p->loop)
    return;
  net = p->loop->ext_data[CORIO__LOOP_EXT_NET];
  if (!net)
    return;
  for (corio_stream *s = net->streams; s; s = s->next)
    if (s->uring) {
      sweep_patch_op(&s->recv_op);
      sweep_patch_op(&s->send_op);
    }
  for (struct corio_server *srv = net->servers; srv; srv = srv->next)
    if (srv->ring)
      for (int i = 0; i < srv->nlisteners; i++)
        sweep_patch_op(&srv->listeners[i].accept_op);
}

static inline void *sweep_callback_begin(corio_loop *loop, void *data,
                                         corio_callback cb, void *arg) {
  sweep_probe *p = &sweep_probe_now;
  void *orig_token = p->orig && p->orig->callback_begin
                         ? p->orig->callback_begin(loop, data, cb, arg)
                         : NULL;

  if (!p->active)
    return orig_token; /* passed through: end gets it back as it is */
  if (p->depth > 0) {
    p->nested++;
    return orig_token;
  }
  p->depth++;
  if (p->target && p->target->wake_value != SWEEP_SENTINEL) {
    p->unseen++;
    sweep_account(p);
  }
  p->orig_token = orig_token;
  return p; /* always claimed, so that callback_end comes */
}

static inline void sweep_callback_end(corio_loop *loop, void *data, void *token,
                                      char *buf, size_t len) {
  sweep_probe *p = &sweep_probe_now;

  if (token != p) {
    if (token)
      p->orig->callback_end(loop, data, token, buf, len);
    return;
  }
  p->depth--;
  sweep_account(p);
  sweep_patch_ops(p);
  token = p->orig_token;
  p->orig_token = NULL;
  if (token)
    p->orig->callback_end(loop, data, token, buf, len);
  else if (buf && len)
    snprintf(buf, len, "a callback");
}

/* From a task on the loop (so the task layer's slot exists): wraps its
 * hooks and turns debug mode on, with slow callbacks never reported (a
 * Valgrind run is slow everywhere). */
static inline void sweep_install(void) {
  sweep_probe *p = &sweep_probe_now;
  corio_loop *loop = corio_loop_current();

  const corio__loop_ext_ops *orig = loop->ext_ops[CORIO__LOOP_EXT_TASK];

  if (orig == &p->ops)
    orig = p->orig; /* installed on this loop before */
  memset(p, 0, sizeof *p);
  p->loop = loop;
  p->orig = orig;
  if (orig)
    p->ops = *orig;
  p->ops.callback_begin = sweep_callback_begin;
  p->ops.callback_end = sweep_callback_end;
  loop->ext_ops[CORIO__LOOP_EXT_TASK] = &p->ops;
  p->active = 1;
  p->trace = getenv("SWEEP_TRACE") != NULL;
  p->saved_debug = corio_loop_get_debug(loop);
  corio_loop_set_debug(loop, 1);
  (void)corio_loop_set_slow_callback_duration(loop, 1e9);
  sweep_patch_ops(p);
}

/* Before the loop closes: the probe passes everything through from now
 * on, the target let go. Its hooks stay registered until the loop is
 * gone: the callback running now was claimed through them, and its
 * callback_end must come to the same ops. */
static inline void sweep_uninstall(void) {
  sweep_probe *p = &sweep_probe_now;

  if (!p->loop)
    return;
  p->active = 0;
  corio_loop_set_debug(p->loop, p->saved_debug);
  if (p->target)
    corio_task_unref(p->target);
  p->target = NULL;
  p->loop = NULL;
}

/* Watches t from now on: a task not started yet (spawned by the caller),
 * or the running task itself from inside its first step (a server's
 * handler: that step counts as begun). */
static inline void sweep_watch(corio_task *t, long cancel1, long cancel2) {
  sweep_probe *p = &sweep_probe_now;

  p->target = corio_task_ref(t);
  p->suspensions = 0;
  p->cancel_at[0] = cancel1;
  p->cancel_at[1] = cancel2;
  p->reached[0] = p->reached[1] = 0;
  p->unseen = p->nested = 0;
  if (t != corio_current_task())
    t->wake_value = SWEEP_SENTINEL;
  sweep_patch_ops(p);
}

/* ---- the sweep ------------------------------------------------------------
 */

/* What one run asks for and what it saw. */
typedef struct sweep_point {
  long cancel_at[2];
  /* filled by the run (copied from the probe at its end) */
  long suspensions;
  int reached[2];
  long unseen, nested;
} sweep_point;

/* Copies the probe's findings into pt; the scenario calls it once its
 * target is done. */
static inline void sweep_collect(sweep_point *pt) {
  sweep_probe *p = &sweep_probe_now;

  pt->suspensions = p->suspensions;
  pt->reached[0] = p->reached[0];
  pt->reached[1] = p->reached[1];
  pt->unseen = p->unseen;
  pt->nested = p->nested;
}

/* ---- what every point checks ----------------------------------------------
 */

/* Runs main on a loop of its own (options NULL: the default one) and
 * checks that the run left no fd and no corio allocation; more_checks,
 * if given, checks what else must be gone (children) before the fds are
 * counted. Returns non-zero once a check failed (task_check.h). */
static inline int sweep_run_point(corio_task_fn main, void *ctx,
                                  const corio_loop_options *options,
                                  void (*more_checks)(void)) {
  corio_test_usage before, after;
  int fds = corio_test_open_fds(), rc;

  corio_test_release_pools();
  before = corio_test_usage_now();
  if (options) {
    corio_runner *runner = NULL;

    rc = corio_runner_create_with(&runner, options);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
      rc = corio_runner_run(runner, main, ctx, NULL);
      CHECK_EQ(corio_runner_close(runner), 0);
    }
  } else {
    rc = corio_run(main, ctx, NULL);
  }
  CHECK_EQ(rc, 0);
  if (more_checks)
    more_checks();
  CHECK_EQ(corio_test_open_fds(), fds);
  corio_test_release_pools();
  after = corio_test_usage_now();
  CHECK_EQ(after.allocations, before.allocations);
  return failed.line != 0;
}

/* The target's outcome at pt: cancelled where a cancel was made (its
 * first error -ECANCELED), finished otherwise, every suspension seen. */
static inline void sweep_check_outcome(const sweep_point *pt, corio_task *t,
                                       int first_rc) {
  CHECK_EQ(pt->unseen, 0);
  CHECK_EQ(pt->nested, 0);
  CHECK_TRUE(corio_task_done(t));
  if (pt->reached[0]) {
    CHECK_EQ(first_rc, -ECANCELED);
    CHECK_TRUE(corio_task_cancelled(t));
  } else {
    CHECK_EQ(first_rc, 0);
    CHECK_EQ(corio_task_error(t), 0);
    /* An uncancelled run went past every point the sweep asked for. */
    CHECK_EQ(pt->cancel_at[0] == 0 || pt->cancel_at[0] > pt->suspensions, 1);
  }
}

/* A peer's sending: in pieces of `piece` bytes, each drained and
 * followed by a turn of the loop, so the target's reads come one piece
 * at a time and suspend in between. */
static inline int sweep_write_in_pieces(corio_stream *s, const void *data,
                                        size_t len, size_t piece) {
  const unsigned char *bytes = data;

  for (size_t at = 0; at < len; at += piece) {
    size_t n = len - at < piece ? len - at : piece;
    int rc = corio_stream_write(s, bytes + at, n);

    if (rc == 0)
      rc = corio_stream_drain(s);
    if (rc == 0)
      rc = corio_sleep(0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Says where the first failed check of a point was. */
static inline void sweep_report(const char *scenario, const sweep_point *pt) {
  if (failed.line)
    print_error("%s: cancel at %ld and %ld: %s:%d: %s\n", scenario,
                pt->cancel_at[0], pt->cancel_at[1], failed.file, failed.line,
                failed.text);
}

/* One whole run of a scenario at pt (its own corio_run, checks inside);
 * returns 0 to go on, non-zero when a check failed. */
typedef int (*sweep_run_fn)(void *ctx, sweep_point *pt);

typedef struct sweep_stats {
  long runs;        /* points run, the uncancelled one included */
  long first;       /* suspensions of the uncancelled run */
  long cleanup_max; /* most cleanup suspensions after a first cancel */
  long second;      /* (k, j) points run */
} sweep_stats;

/* Runs the uncancelled point, every k until a run ends before its k-th
 * suspension (at most kmax), and for each k every j up to the cleanup's
 * suspensions (at most jmax). Returns non-zero on the first failure. */
static inline int sweep_all(const char *name, sweep_run_fn run, void *ctx,
                            long kmax, long jmax, sweep_stats *st) {
  sweep_point pt = {{0, 0}, 0, {0, 0}, 0, 0};

  memset(st, 0, sizeof *st);
  if (run(ctx, &pt))
    return 1;
  st->runs++;
  st->first = pt.suspensions;
  for (long k = 1; k <= kmax; k++) {
    long cleanup;

    memset(&pt, 0, sizeof pt);
    pt.cancel_at[0] = k;
    if (run(ctx, &pt)) {
      print_error("%s: cancelled at suspension %ld\n", name, k);
      return 1;
    }
    st->runs++;
    if (!pt.reached[0])
      break; /* the scenario ended before: every k was swept */
    cleanup = pt.suspensions - k;
    if (cleanup > st->cleanup_max)
      st->cleanup_max = cleanup;
    for (long j = 1; j <= cleanup && j <= jmax; j++) {
      memset(&pt, 0, sizeof pt);
      pt.cancel_at[0] = k;
      pt.cancel_at[1] = k + j;
      if (run(ctx, &pt)) {
        print_error("%s: cancelled at suspension %ld, again %ld later\n", name,
                    k, j);
        return 1;
      }
      st->runs++;
      st->second++;
    }
  }
  print_message("%s: %ld points (uncancelled run: %ld suspensions; "
                "%ld (k, j) points, cleanup up to %ld suspensions)\n",
                name, st->runs, st->first, st->second, st->cleanup_max);
  return 0;
}

#endif
