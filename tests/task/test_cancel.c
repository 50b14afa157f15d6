/* Cancellation as in asyncio 3.11 (DESIGN.md §4 rule 4): a request,
 * delivered as -ECANCELED at the current or next suspension point, that a
 * task may handle and go on; counts; and what closing a loop does to
 * tasks still pending. */
#include "task_test.h"

struct sleeper {
  int rc;              /* what its sleep returned */
  int cancelling;      /* corio_task_cancelling() seen inside */
  const char *message; /* the cancel message seen inside */
  int carry_on;        /* handle the cancellation and finish normally */
  int steps;
};

/* Sleeps an hour: only a cancellation ends it within the test. */
static int sleep_long(void *arg, void **result) {
  struct sleeper *s = arg;

  s->rc = corio_sleep(3600);
  s->cancelling = corio_task_cancelling(corio_current_task());
  s->message = corio_task_cancel_message(corio_current_task());
  if (s->carry_on && s->rc == -ECANCELED) {
    assert_int_equal(corio_task_uncancel(corio_current_task()), 0);
    /* Carries on: a later suspension works normally. */
    assert_int_equal(corio_sleep(0), 0);
    *result = CORIO_PTR(5);
    return 0;
  }
  return s->rc;
}

static int cancel_sleeping(void *arg, void **result) {
  struct sleeper s = {0};
  corio_task *t;
  void *r = NULL;

  (void)arg;
  (void)result;
  t = spawn_or_fail(sleep_long, &s);
  assert_int_equal(corio_sleep(0.01), 0);
  assert_int_equal(corio_task_cancel(t, "enough"), 1);
  assert_int_equal(corio_task_cancelling(t), 1);
  assert_false(corio_task_done(t)); /* delivered in a later iteration */
  /* At once: the sleep is an hour long. */
  assert_int_equal(corio_await(t, &r), -ECANCELED);
  assert_int_equal(s.rc, -ECANCELED);
  assert_string_equal(s.message, "enough");
  assert_true(corio_task_cancelled(t));
  assert_string_equal(corio_task_message(t), "enough");
  assert_int_equal(corio_task_error(t), -ECANCELED);
  assert_int_equal(corio_task_cancel(t, NULL), 0); /* done already */
  corio_task_unref(t);

  s = (struct sleeper){.carry_on = 1};
  t = spawn_or_fail(sleep_long, &s);
  assert_int_equal(corio_sleep(0.01), 0);
  assert_int_equal(corio_task_cancel(t, NULL), 1);
  assert_int_equal(corio_await(t, &r), 0);
  assert_int_equal(CORIO_INT(r), 5);
  assert_false(corio_task_cancelled(t));
  assert_int_equal(s.cancelling, 1);
  assert_null(s.message);
  corio_task_unref(t);
  return 0;
}

static void test_cancel_sleeping_task(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_sleeping, NULL), 0);
}

static int never_runs(void *arg, void **result) {
  (void)result;
  ++*(int *)arg;
  return 0;
}

static int cancel_unstarted(void *arg, void **result) {
  int ran = 0;
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(never_runs, &ran);
  assert_int_equal(corio_task_cancel(t, "early"), 1);
  assert_int_equal(corio_task_cancel(t, "earlier"), 1);
  assert_int_equal(corio_task_cancelling(t), 2);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_int_equal(ran, 0);
  assert_string_equal(corio_task_message(t), "earlier");
  corio_task_unref(t);
  return 0;
}

static void test_cancel_before_start(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(cancel_unstarted, NULL), 0);
  corio_test_assert_no_leak(before);
}

/* ---- awaiting ------------------------------------------------------------ */

struct pair {
  corio_task *inner;
  int outer_rc;
};

/* Sleeps an hour: still running whenever the test cancels it. */
static int inner_work(void *arg, void **result) {
  (void)arg;
  *result = CORIO_PTR(9);
  return corio_sleep(3600);
}

static int outer_waits(void *arg, void **result) {
  struct pair *p = arg;

  (void)result;
  p->outer_rc = corio_await(p->inner, NULL);
  return p->outer_rc;
}

/* A task that swallows a cancellation and finishes with a value. */
static int inner_declines(void *arg, void **result) {
  int rc = corio_sleep(3600);

  (void)arg;
  if (rc == -ECANCELED)
    (void)corio_task_uncancel(corio_current_task());
  *result = CORIO_PTR(rc == -ECANCELED ? 11 : 0);
  return 0;
}

/* asyncio: cancelling the awaiter cancels the awaited task
 * (_fut_waiter.cancel()); the awaiter gets the awaited outcome. */
static int cancel_awaiter(void *arg, void **result) {
  struct pair p = {0};
  corio_task *outer;
  void *r;

  (void)arg;
  (void)result;
  p.inner = spawn_or_fail(inner_work, NULL);
  outer = spawn_or_fail(outer_waits, &p);
  /* One iteration runs both first steps: inner sleeps, outer awaits it. */
  assert_int_equal(corio_sleep(0), 0);
  assert_false(corio_task_done(p.inner));
  assert_int_equal(corio_task_cancel(outer, NULL), 1);
  assert_int_equal(corio_task_cancelling(p.inner), 1);
  assert_int_equal(corio_await(outer, NULL), -ECANCELED);
  assert_int_equal(p.outer_rc, -ECANCELED);
  assert_true(corio_task_cancelled(p.inner));
  assert_int_equal(corio_await(p.inner, &r), -ECANCELED);
  corio_task_unref(outer);

  /* The awaited task declines and returns a value: the awaiter receives
   * it and is not cancelled, its cancelling() count stays 1. */
  p.inner = (corio_task_unref(p.inner), spawn_or_fail(inner_declines, NULL));
  outer = spawn_or_fail(outer_waits, &p);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(outer, "stop"), 1);
  assert_int_equal(corio_await(outer, &r), 0);
  assert_int_equal(p.outer_rc, 0);
  assert_int_equal(CORIO_INT(r), 0); /* outer_waits sets no result */
  assert_false(corio_task_cancelled(outer));
  assert_int_equal(corio_task_cancelling(outer), 1);
  assert_int_equal(corio_await(p.inner, &r), 0);
  assert_int_equal(CORIO_INT(r), 11);
  corio_task_unref(outer);

  /* The awaited task cancelled: the awaiter sees -ECANCELED too. */
  p.inner = (corio_task_unref(p.inner), spawn_or_fail(inner_work, NULL));
  outer = spawn_or_fail(outer_waits, &p);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(p.inner, NULL), 1);
  assert_int_equal(corio_await(outer, NULL), -ECANCELED);
  assert_int_equal(corio_task_cancelling(outer), 0);
  corio_task_unref(outer);
  corio_task_unref(p.inner);
  return 0;
}

static void test_cancel_awaiter_cancels_awaited(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_awaiter, NULL), 0);
}

/* ---- requests made while running ----------------------------------------- */

static int cancel_self_then_suspend(void *arg, void **result) {
  corio_future *done, *pending;
  void *r;

  (void)arg;
  (void)result;
  assert_int_equal(corio_future_create(NULL, &done), 0);
  assert_int_equal(corio_future_set_result(done, CORIO_PTR(3)), 0);
  assert_int_equal(corio_task_cancel(corio_current_task(), "self"), 1);
  /* A done future does not suspend: nothing is delivered there. */
  assert_int_equal(corio_future_await(done, &r), 0);
  assert_int_equal(CORIO_INT(r), 3);
  corio_future_unref(done);
  /* The next real suspension is, even a long one, at once (an hour long
   * sleep: the test would not finish otherwise). */
  assert_int_equal(corio_sleep(0), -ECANCELED);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_task_cancel(corio_current_task(), NULL), 1);
  assert_int_equal(corio_sleep(3600), -ECANCELED);
  assert_int_equal(corio_future_create(NULL, &pending), 0);
  assert_int_equal(corio_task_cancel(corio_current_task(), NULL), 1);
  /* A request made while running goes to the future awaited next
   * (asyncio's __step), which ends cancelled. */
  assert_int_equal(corio_future_await(pending, NULL), -ECANCELED);
  assert_true(corio_future_cancelled(pending));
  corio_future_unref(pending);
  /* A request right before returning cancels the task all the same. */
  assert_int_equal(corio_task_cancel(corio_current_task(), "late"), 1);
  return 0;
}

/* uncancel down to zero withdraws a request not delivered yet. */
static int cancel_then_uncancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  assert_int_equal(corio_task_cancel(corio_current_task(), NULL), 1);
  assert_int_equal(corio_task_uncancel(corio_current_task()), 0);
  assert_int_equal(corio_task_uncancel(corio_current_task()), 0);
  return corio_sleep(0);
}

static int running_requests(void *arg, void **result) {
  corio_task *t;

  (void)arg;
  (void)result;
  t = spawn_or_fail(cancel_self_then_suspend, NULL);
  assert_int_equal(corio_await(t, NULL), -ECANCELED);
  assert_true(corio_task_cancelled(t));
  assert_string_equal(corio_task_message(t), "late");
  corio_task_unref(t);
  t = spawn_or_fail(cancel_then_uncancel, NULL);
  assert_int_equal(corio_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_requests_while_running(void **state) {
  (void)state;
  assert_int_equal(run_main(running_requests, NULL), 0);
}

/* ---- woken, then cancelled before it ran ----------------------------------
 */

struct woken {
  corio_future *fut;
  corio_task *waiter;
  int rc;
};

static int await_fut(void *arg, void **result) {
  struct woken *w = arg;

  (void)result;
  w->rc = corio_future_await(w->fut, NULL);
  return 0;
}

static int sleep_zero(void *arg, void **result) {
  (void)result;
  ((struct woken *)arg)->rc = corio_sleep(0);
  return 0;
}

static int woken_then_cancelled(void *arg, void **result) {
  struct woken w = {0};

  (void)arg;
  (void)result;
  /* The future is done, its callbacks queued; the cancel comes first. */
  assert_int_equal(corio_future_create(NULL, &w.fut), 0);
  w.waiter = spawn_or_fail(await_fut, &w);
  assert_int_equal(corio_sleep(0), 0);
  assert_int_equal(corio_future_set_result(w.fut, NULL), 0);
  assert_int_equal(corio_task_cancel(w.waiter, NULL), 1);
  assert_int_equal(corio_await(w.waiter, NULL), 0);
  assert_int_equal(w.rc, -ECANCELED);
  assert_int_equal(corio_future_result(w.fut, NULL), 0);
  corio_task_unref(w.waiter);
  corio_future_unref(w.fut);

  /* A sleep(0) whose step is queued: the cancel replaces its wake-up. */
  w.waiter = spawn_or_fail(sleep_zero, &w);
  assert_int_equal(corio_sleep(0), 0); /* the waiter is in sleep(0) now */
  assert_int_equal(corio_task_cancel(w.waiter, NULL), 1);
  assert_int_equal(corio_await(w.waiter, NULL), 0);
  assert_int_equal(w.rc, -ECANCELED);
  corio_task_unref(w.waiter);
  return 0;
}

static void test_woken_then_cancelled(void **state) {
  (void)state;
  assert_int_equal(run_main(woken_then_cancelled, NULL), 0);
}

/* ---- the end of run, and a loop closed under pending tasks ----------------
 */

struct leftover {
  int rc;
  int cleanup_rc;
};

static int linger(void *arg, void **result) {
  struct leftover *l = arg;

  (void)result;
  l->rc = corio_sleep(3600); /* ended only by run or close */
  /* Clean-up may still suspend while being cancelled by run. */
  l->cleanup_rc = corio_sleep(0);
  return l->rc;
}

static int leave_pending(void *arg, void **result) {
  (void)result;
  assert_int_equal(corio_spawn(NULL, linger, arg), 0);
  return corio_sleep(0.001);
}

static void test_run_cancels_leftovers(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct leftover l = {1, 1};
  (void)state;

  /* Returns at once: run cancels the hour long sleep, it does not wait. */
  assert_int_equal(run_main(leave_pending, &l), 0);
  assert_int_equal(l.rc, -ECANCELED);
  assert_int_equal(l.cleanup_rc, 0);
  corio_test_assert_no_leak(before);
}

static int main_returns(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0);
}

static void test_close_with_pending_tasks(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct reports rep = {0};
  struct leftover l = {1, 1};
  int ran = 0;
  corio_loop *loop;
  corio_task *main_task, *held, *unstarted;
  (void)state;

  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, capture_report, &rep);
  assert_int_equal(
      corio_spawn_ex(&held, linger, &l,
                     &(corio_spawn_options){.loop = loop, .name = "held"}),
      0);
  assert_int_equal(corio_spawn_ex(&main_task, main_returns, NULL,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  assert_int_equal(
      corio_spawn_ex(&unstarted, never_runs, &ran,
                     &(corio_spawn_options){.loop = loop, .name = "late"}),
      0);
  assert_int_equal(corio_loop_close(loop), 0);
  assert_int_equal(rep.count, 2);
  assert_string_equal(rep.last, "Task was destroyed but it is pending!");
  assert_string_equal(rep.last_task_name, "late");
  assert_ptr_equal(rep.last_task, unstarted);
  /* The suspended one was closed: its sleep returned CORIO_ECLOSED and so
   * did the one in its clean-up. */
  assert_int_equal(l.rc, CORIO_ECLOSED);
  assert_int_equal(l.cleanup_rc, CORIO_ECLOSED);
  assert_int_equal(ran, 0);
  assert_true(corio_task_done(held));
  assert_true(corio_task_cancelled(unstarted));
  corio_task_unref(held);
  corio_task_unref(unstarted);
  corio_task_unref(main_task);
  corio_loop_unref(loop);
  corio_test_assert_no_leak(before);
}

/* A task's clean-up, run by the loop's close, closes the loop again or
 * tries to run it: both are refused cleanly. */
struct reentrant {
  corio_loop *loop;
  int close_rc, run_rc, sleep_rc;
};

static int close_again(void *arg, void **result) {
  struct reentrant *r = arg;
  corio_future *f;

  (void)result;
  r->sleep_rc = corio_sleep(3600);
  r->close_rc = corio_loop_close(r->loop);
  r->run_rc = corio_future_create(r->loop, &f);
  if (r->run_rc == 0) {
    r->run_rc = corio_run_until_complete(r->loop, f, NULL);
    corio_future_unref(f);
  }
  return r->sleep_rc;
}

static void test_close_reentered_from_closing_task(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct reentrant r = {NULL, 1, 1, 1};
  struct reports rep = {0};
  corio_task *t, *main_task;
  (void)state;

  assert_int_equal(corio_loop_create(&r.loop), 0);
  corio_loop_set_exception_handler(r.loop, capture_report, &rep);
  assert_int_equal(corio_spawn_ex(&t, close_again, &r,
                                  &(corio_spawn_options){.loop = r.loop}),
                   0);
  assert_int_equal(corio_spawn_ex(&main_task, main_returns, NULL,
                                  &(corio_spawn_options){.loop = r.loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(r.loop, corio_task_future(main_task), NULL), 0);
  assert_int_equal(corio_loop_close(r.loop), 0);
  assert_int_equal(r.sleep_rc, CORIO_ECLOSED);
  assert_int_equal(r.close_rc, 0);
  assert_true(r.run_rc == CORIO_ELOOPCLOSED);
  assert_int_equal(rep.count, 1); /* destroyed but pending, once */
  assert_true(corio_task_cancelled(t));
  corio_task_unref(t);
  corio_task_unref(main_task);
  corio_loop_unref(r.loop);
  corio_test_assert_no_leak(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cancel_sleeping_task),
      cmocka_unit_test(test_cancel_before_start),
      cmocka_unit_test(test_cancel_awaiter_cancels_awaited),
      cmocka_unit_test(test_requests_while_running),
      cmocka_unit_test(test_woken_then_cancelled),
      cmocka_unit_test(test_run_cancels_leftovers),
      cmocka_unit_test(test_close_with_pending_tasks),
      cmocka_unit_test(test_close_reentered_from_closing_task),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
