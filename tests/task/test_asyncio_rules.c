/* asyncio's rules that porting real programs found corio breaking: each
 * test states one rule and fails without it (issue 12). Checks inside
 * tasks are recorded (task_check.h) and asserted after the run. */
#include <math.h>

#include "corio/combine.h"
#include "corio/thread.h"
#include "task_check.h"
#include "task_test.h"

/* ---- cancelling a task cancels what it awaits ---------------------------- */

static int await_arg(void *arg, void **result) {
  return corio_future_await(arg, result);
}

static int sleeps_long(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(3600);
}

static int cancel_passes_to_awaited(void *arg, void **result) {
  corio_future *f;
  corio_task *waiter, *inner;
  void *r;

  (void)arg;
  (void)result;
  /* A plain future awaited by the cancelled task is cancelled, with the
   * message. */
  CHECK_EQ(corio_future_create(NULL, &f), 0);
  waiter = spawn_or_fail(await_arg, f);
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_cancel(waiter, "stop"), 1);
  CHECK_TRUE(corio_future_cancelled(f));
  CHECK_STR(corio_future_message(f) ? corio_future_message(f) : "", "stop");
  CHECK_EQ(corio_task_await(waiter, NULL), -ECANCELED);
  corio_task_unref(waiter);
  corio_future_unref(f);
  /* Through a chain of tasks: the innermost is cancelled first. */
  inner = spawn_or_fail(sleeps_long, NULL);
  waiter = spawn_or_fail(await_arg, corio_task_future(inner));
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_cancel(waiter, NULL), 1);
  CHECK_EQ(corio_task_cancelling(inner), 1);
  CHECK_EQ(corio_task_await(waiter, &r), -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(inner));
  corio_task_unref(waiter);
  corio_task_unref(inner);
  return 0;
}

static void test_cancel_passes_to_awaited(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_passes_to_awaited, NULL), 0);
  assert_checks_passed();
}

/* Two tasks awaiting each other: a cancellation stops at the first task
 * met again instead of recursing forever. */
struct cycle {
  corio_task *other;
};

static int await_other(void *arg, void **result) {
  struct cycle *c = arg;
  int rc = corio_sleep(0); /* until both exist */

  return rc < 0 ? rc : corio_task_await(c->other, result);
}

static int cancel_cycle(void *arg, void **result) {
  struct cycle ca, cb;
  corio_task *a, *b;

  (void)arg;
  (void)result;
  a = spawn_or_fail(await_other, &ca);
  b = spawn_or_fail(await_other, &cb);
  ca.other = b;
  cb.other = a;
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_cancel(a, NULL), 1);
  CHECK_EQ(corio_task_cancelling(a), 1); /* one request, counted once */
  CHECK_EQ(corio_task_cancelling(b), 1);
  CHECK_EQ(corio_task_await(a, NULL), -ECANCELED);
  CHECK_EQ(corio_task_await(b, NULL), -ECANCELED);
  corio_task_unref(a);
  corio_task_unref(b);
  return 0;
}

static void test_cancel_cycle_terminates(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_cycle, NULL), 0);
  assert_checks_passed();
}

/* A message passed on is the canceller's copy: cancelling with a string
 * the cancelled task owns (its own message, or an awaited task's) is
 * safe (ASan checks it). */
static int cancel_with_owned_messages(void *arg, void **result) {
  corio_task *a, *b;
  corio_future *g;
  corio_awaitable items[2];

  (void)arg;
  (void)result;
  b = spawn_or_fail(sleeps_long, NULL);
  a = spawn_or_fail(await_arg, corio_task_future(b));
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_cancel(b, "first"), 1);
  CHECK_EQ(corio_task_cancel(b, corio_task_cancel_message(b)), 1);
  CHECK_EQ(corio_task_cancel(a, corio_task_cancel_message(b)), 1);
  CHECK_STR(corio_task_cancel_message(b), "first");
  CHECK_EQ(corio_task_await(a, NULL), -ECANCELED);
  corio_task_unref(a);
  corio_task_unref(b);
  /* A gather passes one message to every child. */
  a = spawn_or_fail(sleeps_long, NULL);
  b = spawn_or_fail(sleeps_long, NULL);
  items[0] = CORIO_AWAIT_TASK(a);
  items[1] = CORIO_AWAIT_TASK(b);
  CHECK_EQ(corio_gather_start(&g, items, 2, 0), 0);
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_cancel(a, "from a"), 1);
  CHECK_EQ(corio_future_cancel(g, corio_task_cancel_message(a)), 1);
  CHECK_STR(corio_task_cancel_message(b), "from a");
  CHECK_EQ(corio_future_await(g, NULL), -ECANCELED);
  corio_future_unref(g);
  corio_task_unref(a);
  corio_task_unref(b);
  return 0;
}

static void test_cancel_messages_are_copied(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_with_owned_messages, NULL), 0);
  assert_checks_passed();
}

/* wait_for's caller cancelled: the inner task's outcome, with or without
 * a timeout, as awaiting it directly (asyncio 3.12). */
static int declines(void *arg, void **result) {
  int rc = corio_sleep(3600);

  (void)arg;
  if (rc == -ECANCELED)
    (void)corio_task_uncancel(corio_current_task());
  *result = CORIO_PTR(42);
  return 0;
}

struct bounded_caller {
  double timeout;
  corio_task *inner;
  int rc;
  void *r;
};

static int waits_for_inner(void *arg, void **result) {
  struct bounded_caller *c = arg;

  (void)result;
  c->rc = corio_wait_for(corio_task_future(c->inner), c->timeout, &c->r);
  return 0;
}

static int wait_for_caller_cancelled(void *arg, void **result) {
  (void)arg;
  (void)result;
  for (int i = 0; i < 2; i++) {
    struct bounded_caller c = {i ? 3600.0 : CORIO_NO_TIMEOUT, NULL, 1, NULL};
    corio_task *caller;

    c.inner = spawn_or_fail(declines, NULL);
    caller = spawn_or_fail(waits_for_inner, &c);
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(corio_task_cancel(caller, NULL), 1);
    CHECK_EQ(corio_task_await(caller, NULL), 0);
    CHECK_EQ(c.rc, 0);
    CHECK_PTR(c.r, CORIO_PTR(42));
    CHECK_EQ(corio_task_cancelling(caller), 1);
    corio_task_unref(caller);
    corio_task_unref(c.inner);
  }
  return 0;
}

static void test_wait_for_caller_cancelled_gets_outcome(void **state) {
  (void)state;
  assert_int_equal(run_main(wait_for_caller_cancelled, NULL), 0);
  assert_checks_passed();
}

/* ---- timeouts of zero or less have expired ------------------------------ */

static int counts_runs(void *arg, void **result) {
  (void)result;
  ++*(int *)arg;
  return 0;
}

static int nonpositive_timeouts(void *arg, void **result) {
  corio_future *f, *done[1], *pending[1];
  corio_as_completed *it;
  corio_timeout scope;
  size_t nd = 9, np = 9;
  corio_task *t;
  int runs = 0;

  (void)arg;
  (void)result;
  CHECK_TRUE(isinf(CORIO_NO_TIMEOUT) && CORIO_NO_TIMEOUT > 0);
  /* wait_for with a task not started: cancelled before it runs. */
  for (int i = 0; i < 2; i++) {
    double timeout = i == 0 ? 0.0 : -1.0;

    t = spawn_or_fail(counts_runs, &runs);
    CHECK_EQ(corio_wait_for(corio_task_future(t), timeout, NULL), -ETIMEDOUT);
    CHECK_TRUE(corio_task_cancelled(t));
    corio_task_unref(t);
  }
  CHECK_EQ(runs, 0);
  CHECK_EQ(corio_wait_for(corio_task_future(corio_current_task()), NAN, NULL),
           -EINVAL);
  /* wait and as_completed: a negative timeout is not "none". */
  CHECK_EQ(corio_future_create(NULL, &f), 0);
  CHECK_EQ(
      corio_wait(&f, 1, -1.0, CORIO_ALL_COMPLETED, done, &nd, pending, &np), 0);
  CHECK_EQ(nd, 0);
  CHECK_EQ(np, 1);
  CHECK_EQ(corio_as_completed_start(&it, &f, 1, -1.0), 0);
  {
    corio_future *next = NULL;
    CHECK_EQ(corio_as_completed_next(it, &next), -ETIMEDOUT);
  }
  corio_as_completed_free(it);
  corio_future_unref(f);
  /* A scope entered with a negative delay. */
  CHECK_EQ(corio_timeout_enter(&scope, -1.0), 0);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(3600)), -ETIMEDOUT);
  CHECK_TRUE(corio_timeout_expired(&scope));
  return 0;
}

static void test_nonpositive_timeouts_have_expired(void **state) {
  (void)state;
  assert_int_equal(run_main(nonpositive_timeouts, NULL), 0);
  assert_checks_passed();
}

/* ---- a deadline in the past fires at the next suspension ---------------- */

static int past_deadline(void *arg, void **result) {
  corio_loop *loop = corio_loop_running();
  corio_timeout scope;

  (void)arg;
  (void)result;
  /* Entered with 0: even sleep(0) is interrupted. */
  CHECK_EQ(corio_timeout_enter(&scope, 0), 0);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(0)), -ETIMEDOUT);
  /* Entered at a past deadline. */
  CHECK_EQ(corio_timeout_enter_at(&scope, corio_loop_time(loop) - 5), 0);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(0)), -ETIMEDOUT);
  /* Rescheduled into the past. */
  CHECK_EQ(corio_timeout_enter(&scope, CORIO_NO_TIMEOUT), 0);
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_timeout_reschedule(&scope, corio_loop_time(loop) - 1), 0);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(0)), -ETIMEDOUT);
  /* Exited before any suspension: it never cancels. */
  CHECK_EQ(corio_timeout_enter(&scope, 0), 0);
  CHECK_EQ(corio_timeout_exit(&scope, 0), 0);
  CHECK_EQ(corio_task_cancelling(corio_current_task()), 0);
  CHECK_EQ(corio_sleep(0), 0);
  return 0;
}

static void test_past_deadline_fires_at_next_suspension(void **state) {
  (void)state;
  assert_int_equal(run_main(past_deadline, NULL), 0);
  assert_checks_passed();
}

/* ---- timeout scope states ------------------------------------------------ */

static int scope_states(void *arg, void **result) {
  corio_loop *loop = corio_loop_running();
  corio_timeout scope, other;
  double when;

  (void)arg;
  (void)result;
  /* Created before entered: timeout(None), entered, then rescheduled. */
  CHECK_EQ(corio_timeout_init(&scope, CORIO_NO_TIMEOUT), 0);
  CHECK_EQ(corio_timeout_reschedule(&scope, 1), CORIO_ETIMEOUTNOTENTERED);
  CHECK_EQ(corio_timeout_start(&scope), 0);
  CHECK_EQ(corio_timeout_start(&scope), CORIO_ETIMEOUTENTERED);
  when = corio_loop_time(loop) + 0.001234567891;
  CHECK_EQ(corio_timeout_reschedule(&scope, when), 0);
  CHECK_TRUE(corio_timeout_when(&scope) == when);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(3600)), -ETIMEDOUT);
  CHECK_EQ(corio_timeout_start(&scope), CORIO_ETIMEOUTEXPIRED);
  CHECK_EQ(corio_timeout_reschedule(&scope, 1), CORIO_ETIMEOUTEXPIRED);
  /* Exited without expiring. */
  CHECK_EQ(corio_timeout_init_at(&other, corio_loop_time(loop) + 100), 0);
  CHECK_EQ(corio_timeout_start(&other), 0);
  CHECK_EQ(corio_timeout_exit(&other, 0), 0);
  CHECK_EQ(corio_timeout_start(&other), CORIO_ETIMEOUTEXITED);
  CHECK_EQ(corio_timeout_reschedule(&other, 1), CORIO_ETIMEOUTEXITED);
  CHECK_EQ(corio_timeout_init(&other, NAN), -EINVAL);
  /* Expiring (fired, not exited): still entered, its deadline passed. */
  CHECK_EQ(corio_timeout_enter(&other, 0), 0);
  {
    int rc = corio_sleep(0);

    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(corio_timeout_start(&other), CORIO_ETIMEOUTENTERED);
    CHECK_EQ(corio_timeout_reschedule(&other, 1), CORIO_ETIMEOUTEXPIRED);
    CHECK_EQ(corio_timeout_exit(&other, rc), -ETIMEDOUT);
  }
  return 0;
}

static void test_timeout_scope_states(void **state) {
  corio_timeout scope = {{0}};
  (void)state;

  assert_int_equal(run_main(scope_states, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_timeout_init(&scope, 1), CORIO_ENOLOOP);
  assert_int_equal(corio_timeout_init_at(&scope, 1), 0);
  assert_int_equal(corio_timeout_start(&scope), CORIO_ENOTASK);
  assert_int_equal(corio_timeout_reschedule(&scope, 2),
                   CORIO_ETIMEOUTNOTENTERED);
  assert_string_equal(corio_err_name(CORIO_ETIMEOUTENTERED),
                      "CORIO_ETIMEOUTENTERED");
}

/* A failed reschedule changes nothing: the old deadline still fires. */
static int noop_cb(void *arg) {
  (void)arg;
  return 0;
}

static int reschedule_enomem(void *arg, void **result) {
  corio_loop *loop = corio_loop_running();
  corio_handle *held[512];
  corio_timeout scope;
  double when;
  int n = 0, rc = 0;

  (void)arg;
  (void)result;
  CHECK_EQ(corio_timeout_enter(&scope, 0.02), 0);
  when = corio_timeout_when(&scope);
  /* Use up the loop's pooled handles until arming needs memory. */
  while (n < 512) {
    corio__fault_arm(CORIO__FAULT_ALLOC, 1);
    rc = corio_timeout_reschedule(&scope, corio_loop_time(loop) + 50);
    corio__fault_arm(CORIO__FAULT_ALLOC, 0);
    if (rc == -ENOMEM)
      break;
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_timeout_reschedule(&scope, when), 0);
    CHECK_EQ(corio_loop_call_later(loop, 100, noop_cb, NULL, &held[n]), 0);
    n++;
  }
  CHECK_EQ(rc, -ENOMEM);
  CHECK_TRUE(corio_timeout_when(&scope) == when);
  CHECK_EQ(corio_timeout_exit(&scope, corio_sleep(3600)), -ETIMEDOUT);
  for (int i = 0; i < n; i++) {
    corio_handle_cancel(held[i]);
    corio_handle_unref(held[i]);
  }
  return 0;
}

static void test_failed_reschedule_changes_nothing(void **state) {
  (void)state;
  assert_int_equal(run_main(reschedule_enomem, NULL), 0);
  assert_checks_passed();
}

/* ---- sleep, gather, shield, handles -------------------------------------- */

static int mark(void *arg) {
  ++*(int *)arg;
  return 0;
}

static int small_rules(void *arg, void **result) {
  corio_loop *loop = corio_loop_running();
  corio_future *f, *outer, *g;
  corio_handle *h;
  corio_outcome none[1];
  double when;
  int marked = 0;

  (void)arg;
  (void)result;
  /* sleep(-1) is sleep(0): one iteration, behind what was ready. */
  CHECK_EQ(corio_loop_call_soon(loop, mark, &marked, NULL), 0);
  CHECK_EQ(corio_sleep(-1), 0);
  CHECK_EQ(marked, 1);
  CHECK_EQ(corio_sleep_ns(-5), 0);
  /* Outcomes are filled even when gather fails before starting, so that
   * clearing them is always safe. */
  {
    corio_awaitable bad = {NULL, NULL, NULL};
    corio_outcome junk[1] = {{-1, NULL, (char *)"not ours"}};

    CHECK_EQ(corio_gather(&bad, 1, junk, 0), -EINVAL);
    CHECK_PTR(junk[0].message, NULL);
    corio_outcomes_clear(junk, 1);
  }
  /* gather of nothing: done at once, empty. */
  CHECK_EQ(corio_gather(NULL, 0, none, 0), 0);
  CHECK_EQ(corio_gather_start(&g, NULL, 0, 0), 0);
  CHECK_TRUE(corio_future_done(g));
  CHECK_EQ(corio_future_error(g), 0);
  corio_future_unref(g);
  /* shield of a done future is that future. */
  CHECK_EQ(corio_future_create(NULL, &f), 0);
  CHECK_EQ(corio_future_set_result(f, CORIO_PTR(3)), 0);
  CHECK_EQ(corio_shield(f, &outer), 0);
  CHECK_PTR(outer, f);
  corio_future_unref(outer);
  corio_future_unref(f);
  /* A handle tells its deadline exactly as given. */
  when = corio_loop_time(loop) + 12.345678912345;
  CHECK_EQ(corio_loop_call_at(loop, when, mark, &marked, &h), 0);
  CHECK_TRUE(corio_handle_when(h) == when);
  CHECK_EQ(corio_handle_when_ns(h), (int64_t)(when * 1e9));
  corio_handle_cancel(h);
  corio_handle_unref(h);
  /* wait and as_completed on oneself: -EDEADLK, as gather and wait_for. */
  {
    corio_future *me = corio_task_future(corio_current_task());
    corio_as_completed *it;

    CHECK_EQ(corio_wait(&me, 1, CORIO_NO_TIMEOUT, CORIO_ALL_COMPLETED, NULL,
                        NULL, NULL, NULL),
             -EDEADLK);
    CHECK_EQ(corio_as_completed_start(&it, &me, 1, CORIO_NO_TIMEOUT), -EDEADLK);
  }
  return 0;
}

static void test_small_rules(void **state) {
  (void)state;
  assert_int_equal(run_main(small_rules, NULL), 0);
  assert_checks_passed();
}

/* ---- gather: later errors count as read --------------------------------- */

/* Fails after a sleep, or once its gate is set if it has one. */
struct failing {
  double delay;
  corio_future *gate;
  int failed;
};

static int fails_after(void *arg, void **result) {
  struct failing *f = arg;
  int rc = f->gate ? corio_future_await(f->gate, NULL) : corio_sleep(f->delay);

  (void)result;
  if (rc < 0)
    return rc;
  f->failed = 1;
  return corio_fail(-EIO, "failed after %g s", f->delay);
}

static int gather_later_errors(void *arg, void **result) {
  /* The second child fails only once the test lets it, after the gather
   * has returned. */
  struct failing first = {0, NULL, 0}, later = {0, NULL, 0};
  corio_awaitable items[2] = {CORIO_AWAIT_FN(fails_after, &first),
                              CORIO_AWAIT_FN(fails_after, &later)};
  corio_outcome out[2];

  (void)arg;
  (void)result;
  CHECK_EQ(corio_future_create(NULL, &later.gate), 0);
  CHECK_EQ(corio_gather(items, 2, out, 0), -EIO);
  CHECK_STR(out[0].message ? out[0].message : "", "failed after 0 s");
  CHECK_EQ(out[1].error, CORIO_EINVALSTATE); /* still running */
  corio_outcomes_clear(out, 2);
  CHECK_PTR(out[0].message, NULL);
  /* The second child fails on its own later; nobody reads it but the
   * gather did read it, as asyncio's does: no report. */
  CHECK_EQ(corio_future_set_result(later.gate, NULL), 0);
  while (!later.failed && corio_sleep(0) == 0)
    ;
  CHECK_TRUE(later.failed);
  CHECK_EQ(corio_sleep(0), 0); /* its done callbacks have run */
  corio_future_unref(later.gate);
  return 0;
}

static void test_gather_later_errors_are_read(void **state) {
  struct reports rep = {0};
  corio_runner *r;
  (void)state;

  assert_int_equal(corio_runner_create(&r), 0);
  corio_loop_set_exception_handler(corio_runner_loop(r), capture_report, &rep);
  assert_int_equal(corio_runner_run(r, gather_later_errors, NULL, NULL), 0);
  assert_int_equal(corio_runner_close(r), 0);
  assert_checks_passed();
  assert_int_equal(rep.count, 0);
}

/* ---- task groups: errors in the order they happened --------------------- */

/* Fails once cancelled by the group (a real error, raised in clean-up). */
static int fails_when_cancelled(void *arg, void **result) {
  int rc = corio_sleep(3600);

  (void)arg;
  (void)result;
  return rc == -ECANCELED ? corio_fail(-EPIPE, "clean-up failed") : rc;
}

static int fails_soon(void *arg, void **result) {
  int rc = corio_sleep(0);

  (void)arg;
  (void)result;
  return rc < 0 ? rc : corio_fail(-EIO, "first");
}

static int group_error_order(void *arg, void **result) {
  corio_taskgroup *g;
  corio_task *slow, *fast, *which = NULL;

  (void)arg;
  (void)result;
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &slow, fails_when_cancelled, NULL), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &fast, fails_soon, NULL), 0);
  CHECK_EQ(corio_taskgroup_close(g, corio_sleep(3600)), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 2);
  CHECK_EQ(corio_taskgroup_error(g, 0, &which), -EIO);
  CHECK_PTR(which, fast);
  CHECK_EQ(corio_taskgroup_error(g, 1, &which), -EPIPE);
  CHECK_PTR(which, slow);
  /* Finished: spawning is refused with its own code. */
  CHECK_EQ(corio_taskgroup_spawn(g, NULL, fails_soon, NULL),
           CORIO_ETASKGROUPFINISHED);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(slow);
  corio_task_unref(fast);
  return 0;
}

static void test_taskgroup_errors_in_order(void **state) {
  (void)state;
  assert_int_equal(run_main(group_error_order, NULL), 0);
  assert_checks_passed();
}

/* ---- messages cross boundaries ------------------------------------------ */

static int fails_with_text(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-ENOENT, "no file %s", "x.conf");
}

static int passes_it_on(void *arg, void **result) {
  corio_task *t = spawn_or_fail(fails_with_text, NULL);
  int rc = corio_task_await(t, result);

  (void)arg;
  corio_task_unref(t);
  return rc; /* the awaited error's message goes with it */
}

static void test_messages_reach_run(void **state) {
  char message[64] = "stale";
  char small[5];
  corio_runner *r;
  (void)state;

  assert_int_equal(
      corio_run_ex(fails_with_text, NULL, NULL, message, sizeof message),
      -ENOENT);
  assert_string_equal(message, "no file x.conf");
  assert_int_equal(
      corio_run_ex(passes_it_on, NULL, NULL, message, sizeof message), -ENOENT);
  assert_string_equal(message, "no file x.conf");
  assert_int_equal(
      corio_run_ex(counts_runs, &(int){0}, NULL, message, sizeof message), 0);
  assert_string_equal(message, "");
  assert_int_equal(corio_runner_create(&r), 0);
  assert_int_equal(
      corio_runner_run_ex(r, fails_with_text, NULL, NULL, small, sizeof small),
      -ENOENT);
  assert_string_equal(small, "no f"); /* cut to fit */
  assert_int_equal(corio_runner_close(r), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_cancel_passes_to_awaited, reset_checks),
      cmocka_unit_test_setup(test_cancel_cycle_terminates, reset_checks),
      cmocka_unit_test_setup(test_cancel_messages_are_copied, reset_checks),
      cmocka_unit_test_setup(test_wait_for_caller_cancelled_gets_outcome,
                             reset_checks),
      cmocka_unit_test_setup(test_nonpositive_timeouts_have_expired,
                             reset_checks),
      cmocka_unit_test_setup(test_past_deadline_fires_at_next_suspension,
                             reset_checks),
      cmocka_unit_test_setup(test_timeout_scope_states, reset_checks),
      cmocka_unit_test_setup(test_failed_reschedule_changes_nothing,
                             reset_checks),
      cmocka_unit_test_setup(test_small_rules, reset_checks),
      cmocka_unit_test_setup(test_gather_later_errors_are_read, reset_checks),
      cmocka_unit_test_setup(test_taskgroup_errors_in_order, reset_checks),
      cmocka_unit_test(test_messages_reach_run),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
