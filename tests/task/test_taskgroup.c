/* Task groups as asyncio.TaskGroup (DESIGN.md §4 rule 7): close waits for
 * every child; the first child failure cancels the other children and the
 * owner's body; every real error is reported, not the cancellations the
 * group caused; the owner is not left cancelled by its group. */
#include <stdio.h>

#include "corio/combine.h"
#include "task_check.h"
#include "task_test.h"

/* ---- children ------------------------------------------------------------ */

/* FOREVER: longer than any test runs. A child, or a body, that sleeps that
 * long is still sleeping whenever the test looks, however slow the
 * machine: only a cancellation ends it. */
#define FOREVER 3600

/* Sleeps (or waits `steps` loop iterations, if not 0), logs its tag, then
 * returns rc (value as its result). A cancelled sleep is returned as it
 * is, unless on_cancel says what to return then. */
struct child {
  double delay;
  int steps;
  int rc;
  intptr_t value;
  char tag;
  struct trace *log;
  int ignore_sleep; /* returns rc whatever the sleep returned */
  int on_cancel;    /* if not 0: returned when the sleep was cancelled */
  double linger;    /* cancelled: sleeps this long more before it ends */
  int sleep_rc;     /* what the sleep returned */
  int started;
};

static int child_body(void *arg, void **result) {
  struct child *c = arg;

  c->started = 1;
  if (c->steps > 0)
    for (int i = 0; i < c->steps && c->sleep_rc == 0; i++)
      c->sleep_rc = corio_sleep(0);
  else
    c->sleep_rc = corio_sleep(c->delay);
  if (c->log)
    trace_add(c->log, c->sleep_rc == 0 ? c->tag : '-');
  if (c->sleep_rc == -ECANCELED && c->linger > 0)
    (void)corio_sleep(c->linger);
  if (c->sleep_rc == -ECANCELED && c->on_cancel)
    return c->on_cancel;
  if (c->sleep_rc < 0 && !c->ignore_sleep)
    return c->sleep_rc;
  *result = CORIO_PTR(c->value);
  return c->rc;
}

static corio_task *spawn_child(corio_taskgroup *g, struct child *c) {
  corio_task *t = NULL;

  CHECK_EQ(corio_taskgroup_spawn(g, &t, child_body, c), 0);
  return t;
}

static void unref_all(corio_task **t, size_t n) {
  for (size_t i = 0; i < n; i++)
    corio_task_unref(t[i]);
}

/* Nothing in these runs may be reported to the loop's handler (an error
 * never retrieved, a child failing after its owner...). */
static struct reports reports;

static void watch_reports(void) {
  memset(&reports, 0, sizeof reports);
  corio_loop_set_exception_handler(corio_loop_running(), capture_report,
                                   &reports);
}

/* The owner after its group: not left cancelled, and it can await. */
static void check_owner_carries_on(void) {
  CHECK_EQ(corio_task_cancelling(corio_current_task()), 0);
  CHECK_EQ(corio_sleep(0.001), 0);
  CHECK_EQ(corio_sleep(0), 0);
}

/* ---- close waits for every child ----------------------------------------- */

static int all_succeed(void *arg, void **result) {
  struct trace log = {""};
  /* They finish B, C, A: after 10, 20 and 30 loop iterations. */
  struct child c[3] = {{.steps = 30, .value = 1, .tag = 'A', .log = &log},
                       {.steps = 10, .value = 2, .tag = 'B', .log = &log},
                       {.steps = 20, .value = 3, .tag = 'C', .log = &log}};
  corio_taskgroup *g;
  corio_task *t[3];
  void *r;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 3; i++)
    t[i] = spawn_child(g, &c[i]);
  CHECK_EQ(corio_sleep(0), 0); /* the children have started */
  trace_add(&log, 'b');        /* the body's end */
  CHECK_EQ(corio_taskgroup_close(g, 0), 0);
  trace_add(&log, 'c');
  CHECK_STR(log.log, "bBCAc");
  for (int i = 0; i < 3; i++) {
    CHECK_TRUE(corio_task_done(t[i]));
    CHECK_EQ(corio_task_result(t[i], &r), 0);
    CHECK_EQ(CORIO_INT(r), i + 1);
  }
  CHECK_EQ(corio_taskgroup_error_count(g), 0);
  CHECK_EQ(corio_taskgroup_error(g, 0, NULL), -EINVAL);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 3);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_close_waits_for_children(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(all_succeed, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* Eager children run at spawn until they first suspend: one that finishes
 * there is counted done at once, and one that fails there fails the group
 * at once. */
static int instant(void *arg, void **result) {
  *result = arg;
  return CORIO_INT(arg) < 0 ? (int)CORIO_INT(arg) : 0;
}

static int eager_children(void *arg, void **result) {
  corio_spawn_options eager = {.eager = 1};
  struct child later = {.delay = 0.01, .value = 3};
  corio_taskgroup *g;
  corio_task *t[3], *who = NULL;
  void *r = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn_ex(g, &t[0], instant, CORIO_PTR(5), &eager),
           0);
  CHECK_TRUE(corio_task_done(t[0]));
  CHECK_EQ(corio_taskgroup_spawn_ex(g, &t[1], child_body, &later, &eager), 0);
  CHECK_TRUE(later.started && !corio_task_done(t[1]));
  CHECK_EQ(corio_taskgroup_close(g, 0), 0);
  CHECK_EQ(corio_task_result(t[0], &r), 0);
  CHECK_EQ(CORIO_INT(r), 5);
  CHECK_EQ(corio_task_result(t[1], &r), 0);
  CHECK_EQ(CORIO_INT(r), 3);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);

  later = (struct child){.delay = FOREVER};
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn_ex(g, &t[0], child_body, &later, &eager), 0);
  CHECK_EQ(corio_taskgroup_spawn_ex(g, &t[1], instant, CORIO_PTR(-EIO), &eager),
           0);
  /* Failed already: no more children, and the body's next await is
   * cancelled. */
  t[2] = NULL;
  CHECK_EQ(corio_taskgroup_spawn(g, &t[2], instant, NULL),
           CORIO_ETASKGROUPSHUTDOWN);
  CHECK_EQ(corio_sleep(FOREVER), -ECANCELED);
  CHECK_EQ(corio_taskgroup_close(g, -ECANCELED), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t[1]);
  CHECK_TRUE(corio_task_cancelled(t[0]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_eager_children(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(eager_children, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- the first failure aborts the group ---------------------------------- */

static int first_failure(void *arg, void **result) {
  struct child c[3] = {{.delay = 0.02, .rc = -EIO},
                       {.delay = FOREVER, .value = 2},
                       {.delay = FOREVER, .value = 3}};
  corio_taskgroup *g;
  corio_task *t[3], *who = NULL;
  int body_rc;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 3; i++)
    t[i] = spawn_child(g, &c[i]);
  /* The body is cancelled at its current await, and close does not wait
   * out the others' sleeps (an hour: the test finishing shows it). */
  body_rc = corio_sleep(FOREVER);
  CHECK_EQ(body_rc, -ECANCELED);
  CHECK_EQ(corio_taskgroup_close(g, body_rc), CORIO_ETASKGROUP);
  /* Only the real error: not the cancellations. */
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t[0]);
  CHECK_EQ(corio_taskgroup_error(g, 1, &who), -EINVAL);
  CHECK_EQ(c[1].sleep_rc, -ECANCELED);
  CHECK_EQ(c[2].sleep_rc, -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t[1]) && corio_task_cancelled(t[2]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 3);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_first_failure_cancels_the_rest(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(first_failure, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static int two_failures(void *arg, void **result) {
  /* A and B fail in the same iteration (whatever their sleeps return);
   * C is cancelled. */
  struct child c[3] = {{.delay = 0.02, .rc = -EIO, .ignore_sleep = 1},
                       {.delay = 0.02, .rc = -EPIPE, .ignore_sleep = 1},
                       {.delay = FOREVER}};
  corio_taskgroup *g;
  corio_task *t[3], *who = NULL;
  int body_rc;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 3; i++)
    t[i] = spawn_child(g, &c[i]);
  body_rc = corio_sleep(FOREVER);
  CHECK_EQ(body_rc, -ECANCELED);
  CHECK_EQ(corio_taskgroup_close(g, body_rc), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 2);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t[0]);
  CHECK_EQ(corio_taskgroup_error(g, 1, &who), -EPIPE);
  CHECK_PTR(who, t[1]);
  CHECK_TRUE(corio_task_cancelled(t[2]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 3);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_simultaneous_failures_all_reported(void **state) {
  (void)state;
  assert_int_equal(run_main(two_failures, NULL), 0);
  assert_checks_passed();
}

/* A child that answers the group's cancellation with an error of its own
 * has a real error: reported with the first one. That child is the last
 * to finish, and the group is freed right after close: last in main(),
 * since a crash here ends the program. */
static int error_on_cancel(void *arg, void **result) {
  struct child c[2] = {{.delay = 0.01, .rc = -EIO},
                       {.delay = FOREVER, .on_cancel = -ENOTCONN}};
  corio_taskgroup *g;
  corio_task *t[2], *who = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 2; i++)
    t[i] = spawn_child(g, &c[i]);
  CHECK_EQ(corio_taskgroup_close(g, corio_sleep(FOREVER)), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 2);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t[0]);
  CHECK_EQ(corio_taskgroup_error(g, 1, &who), -ENOTCONN);
  CHECK_PTR(who, t[1]);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_error_while_cancelled_is_reported(void **state) {
  (void)state;
  assert_int_equal(run_main(error_on_cancel, NULL), 0);
  assert_checks_passed();
}

/* The body has ended and close is waiting when a child fails: the owner
 * is cancelled inside close, and close must withdraw that too. */
static int failure_during_close(void *arg, void **result) {
  struct child c[2] = {{.delay = 0.02, .rc = -EIO}, {.delay = FOREVER}};
  corio_taskgroup *g;
  corio_task *t[2], *who = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 2; i++)
    t[i] = spawn_child(g, &c[i]);
  CHECK_EQ(corio_taskgroup_close(g, 0), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t[0]);
  CHECK_TRUE(corio_task_cancelled(t[1]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_failure_while_close_waits(void **state) {
  (void)state;
  assert_int_equal(run_main(failure_during_close, NULL), 0);
  assert_checks_passed();
}

/* The last child to finish is the one that fails, while close waits. The
 * group is freed only after the owner has awaited again: freed right after
 * close, as usual, the same run touches the freed group (see
 * test_error_while_cancelled_is_reported, last in this program). */
static int last_child_fails(void *arg, void **result) {
  struct child c = {.delay = 0.02, .rc = -EIO};
  corio_taskgroup *g;
  corio_task *t, *who = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  t = spawn_child(g, &c);
  CHECK_EQ(corio_taskgroup_close(g, 0), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, t);
  /* The group is over: it must not cancel its owner any more. */
  check_owner_carries_on();
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(t);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_last_child_fails_while_close_waits(void **state) {
  (void)state;
  assert_int_equal(run_main(last_child_fails, NULL), 0);
  assert_checks_passed();
}

/* ---- spawning while closing, after a failure, after the end -------------- */

struct spawner {
  corio_taskgroup *g;
  struct child later; /* what it spawns */
  corio_task *spawned;
  int spawn_rc;
  double delay;
  int on_cancel_spawn; /* spawn only once cancelled */
};

static int spawner_body(void *arg, void **result) {
  struct spawner *s = arg;
  int rc = corio_sleep(s->delay);

  (void)result;
  if (s->on_cancel_spawn ? rc == -ECANCELED : rc == 0)
    s->spawn_rc =
        corio_taskgroup_spawn(s->g, &s->spawned, child_body, &s->later);
  return rc;
}

static int spawn_while_closing(void *arg, void **result) {
  struct trace log = {""};
  struct spawner s = {.delay = 0.02, .spawn_rc = 1};
  corio_taskgroup *g;
  corio_task *t, *late;

  (void)arg;
  (void)result;
  watch_reports();
  s.later = (struct child){.delay = 0.03, .value = 9, .tag = 'L', .log = &log};
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  s.g = g;
  CHECK_EQ(corio_taskgroup_spawn(g, &t, spawner_body, &s), 0);
  /* The body ends at once: the child spawns while close waits. */
  CHECK_EQ(corio_taskgroup_close(g, 0), 0);
  trace_add(&log, 'c');
  CHECK_EQ(s.spawn_rc, 0);
  CHECK_STR(log.log, "Lc");
  CHECK_TRUE(s.spawned && corio_task_done(s.spawned));
  CHECK_EQ(corio_task_error(s.spawned), 0);
  CHECK_EQ(corio_taskgroup_error_count(g), 0);
  /* The group has finished: no more children. */
  late = NULL;
  CHECK_EQ(corio_taskgroup_spawn(g, &late, child_body, &s.later),
           CORIO_ETASKGROUPFINISHED);
  CHECK_PTR(late, NULL);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(s.spawned);
  corio_task_unref(t);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_spawn_while_closing(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(spawn_while_closing, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static int spawn_after_failure(void *arg, void **result) {
  struct child fails = {.delay = 0.01, .rc = -EIO};
  struct child more = {.delay = 0.001};
  struct spawner s = {.delay = FOREVER, .on_cancel_spawn = 1, .spawn_rc = 1};
  corio_taskgroup *g;
  corio_task *t[2], *late = NULL;
  int body_rc;

  (void)arg;
  (void)result;
  watch_reports();
  s.later = (struct child){.delay = 0.001};
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  s.g = g;
  t[0] = spawn_child(g, &fails);
  CHECK_EQ(corio_taskgroup_spawn(g, &t[1], spawner_body, &s), 0);
  body_rc = corio_sleep(FOREVER);
  CHECK_EQ(body_rc, -ECANCELED);
  /* The body after the failure, and a cancelled child, both refused. */
  CHECK_EQ(corio_taskgroup_spawn(g, &late, child_body, &more),
           CORIO_ETASKGROUPSHUTDOWN);
  CHECK_PTR(late, NULL);
  CHECK_EQ(corio_taskgroup_close(g, body_rc), CORIO_ETASKGROUP);
  CHECK_EQ(s.spawn_rc, CORIO_ETASKGROUPSHUTDOWN);
  CHECK_PTR(s.spawned, NULL);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(more.started + s.later.started, 0);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_spawn_after_failure_refused(void **state) {
  (void)state;
  assert_int_equal(run_main(spawn_after_failure, NULL), 0);
  assert_checks_passed();
}

/* ---- nested groups ------------------------------------------------------- */

/* A child that runs a group of its own around `inner` children. */
struct nested {
  struct child inner[2];
  int close_rc;
  size_t errors;
  int first_error;
};

static int nested_owner(void *arg, void **result) {
  struct nested *n = arg;
  corio_taskgroup *g;
  int rc;

  (void)result;
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return rc;
  for (int i = 0; i < 2; i++)
    CHECK_EQ(corio_taskgroup_spawn(g, NULL, child_body, &n->inner[i]), 0);
  n->close_rc = corio_taskgroup_close(g, 0);
  n->errors = corio_taskgroup_error_count(g);
  n->first_error = corio_taskgroup_error(g, 0, NULL);
  (void)corio_taskgroup_free(g);
  *result = CORIO_PTR(7);
  return n->close_rc;
}

static int nested_groups(void *arg, void **result) {
  struct trace log = {""};
  /* x, started first, finishes after y: 20 loop iterations against 10. */
  struct nested ok = {.inner = {{.steps = 20, .tag = 'x', .log = &log},
                                {.steps = 10, .tag = 'y', .log = &log}}};
  struct nested bad = {.inner = {{.delay = FOREVER, .tag = 'p', .log = &log},
                                 {.delay = 0.02, .rc = -EIO}}};
  struct nested cut = {.inner = {{.delay = FOREVER, .tag = 'q', .log = &log},
                                 {.delay = FOREVER, .tag = 'r', .log = &log}}};
  struct child fails = {.delay = 0.02, .rc = -EPIPE};
  struct child waits = {.delay = FOREVER};
  corio_taskgroup *g;
  corio_task *t[3], *who = NULL;
  void *r = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  /* Inner children all succeed: both groups close with 0. */
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &t[0], nested_owner, &ok), 0);
  CHECK_EQ(corio_taskgroup_close(g, 0), 0);
  CHECK_STR(log.log, "yx");
  CHECK_EQ(ok.close_rc, 0);
  CHECK_EQ(corio_task_result(t[0], &r), 0);
  CHECK_EQ(CORIO_INT(r), 7);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(t[0]);

  /* An inner failure fails the inner group, whose owner fails the outer
   * one: the outer reports the inner group's failure. */
  log.log[0] = 0;
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &t[0], nested_owner, &bad), 0);
  t[1] = spawn_child(g, &waits);
  CHECK_EQ(corio_taskgroup_close(g, corio_sleep(FOREVER)), CORIO_ETASKGROUP);
  CHECK_EQ(bad.close_rc, CORIO_ETASKGROUP);
  CHECK_EQ(bad.errors, 1);
  CHECK_EQ(bad.first_error, -EIO);
  CHECK_EQ(bad.inner[0].sleep_rc, -ECANCELED);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), CORIO_ETASKGROUP);
  CHECK_PTR(who, t[0]);
  CHECK_TRUE(corio_task_cancelled(t[1]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);

  /* An outer failure cancels the inner group's owner while it closes:
   * the inner group cancels its children and ends cancelled. */
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &t[0], nested_owner, &cut), 0);
  t[1] = spawn_child(g, &fails);
  CHECK_EQ(corio_taskgroup_close(g, corio_sleep(FOREVER)), CORIO_ETASKGROUP);
  CHECK_EQ(cut.close_rc, -ECANCELED);
  CHECK_EQ(cut.errors, 0);
  CHECK_EQ(cut.inner[0].sleep_rc, -ECANCELED);
  CHECK_EQ(cut.inner[1].sleep_rc, -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t[0]));
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EPIPE);
  CHECK_PTR(who, t[1]);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  CHECK_STR(log.log, "---");
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_nested_groups(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(nested_groups, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- the owner cancelled from outside ------------------------------------ */

struct owner {
  struct child c[2];
  int in_close; /* cancelled while close waits, else while the body does */
  int body_rc, close_rc;
  size_t errors;
  corio_task *t[2];
};

static int owner_body(void *arg, void **result) {
  struct owner *o = arg;
  corio_taskgroup *g;
  int rc;

  (void)result;
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return rc;
  for (int i = 0; i < 2; i++)
    o->t[i] = spawn_child(g, &o->c[i]);
  o->body_rc = o->in_close ? 0 : corio_sleep(FOREVER);
  o->close_rc = corio_taskgroup_close(g, o->body_rc);
  o->errors = corio_taskgroup_error_count(g);
  (void)corio_taskgroup_free(g);
  return o->close_rc;
}

static int cancel_owner(void *arg, void **result) {
  (void)arg;
  (void)result;
  watch_reports();
  for (int in_close = 0; in_close < 2; in_close++) {
    struct owner o = {.c = {{.delay = FOREVER}, {.delay = FOREVER}},
                      .in_close = in_close};
    corio_task *owner = spawn_or_fail(owner_body, &o);

    CHECK_EQ(corio_sleep(0.02), 0);
    CHECK_EQ(corio_task_cancel(owner, "outside"), 1);
    CHECK_EQ(corio_await(owner, NULL), -ECANCELED);
    CHECK_TRUE(corio_task_cancelled(owner));
    CHECK_EQ(o.body_rc, in_close ? 0 : -ECANCELED);
    CHECK_EQ(o.close_rc, -ECANCELED);
    CHECK_EQ(o.errors, 0);
    for (int i = 0; i < 2; i++) {
      CHECK_EQ(o.c[i].sleep_rc, -ECANCELED);
      CHECK_TRUE(corio_task_cancelled(o.t[i]));
    }
    unref_all(o.t, 2);
    corio_task_unref(owner);
  }
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_owner_cancelled_from_outside(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(cancel_owner, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* Cancelled from outside, but a child answers with a real error: errors
 * come before the cancellation. */
static int cancel_owner_child_errs(void *arg, void **result) {
  struct owner o = {
      .c = {{.delay = FOREVER, .on_cancel = -EIO}, {.delay = FOREVER}}};
  corio_task *owner;

  (void)arg;
  (void)result;
  watch_reports();
  owner = spawn_or_fail(owner_body, &o);
  CHECK_EQ(corio_sleep(0.02), 0);
  CHECK_EQ(corio_task_cancel(owner, NULL), 1);
  CHECK_EQ(corio_await(owner, NULL), CORIO_ETASKGROUP);
  CHECK_EQ(o.close_rc, CORIO_ETASKGROUP);
  CHECK_EQ(o.errors, 1);
  CHECK_TRUE(corio_task_cancelled(o.t[1]));
  unref_all(o.t, 2);
  corio_task_unref(owner);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_outside_cancel_with_child_error(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_owner_child_errs, NULL), 0);
  assert_checks_passed();
}

/* The group aborts (a child failed) and close waits for a child slow to
 * die when the owner is cancelled from outside: close reports the error,
 * but the outside request is not lost: the owner's next await gets it. */
struct late_cancel {
  int close_rc, cancelling, after_rc;
  size_t errors;
  struct child slow; /* lingers once cancelled */
  int in_close;
};

static int owner_of_slow_child(void *arg, void **result) {
  struct late_cancel *lc = arg;
  struct child fails = {.delay = 0.01, .rc = -EIO};
  corio_taskgroup *g;
  corio_task *t[2];
  int body_rc;

  (void)result;
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  t[0] = spawn_child(g, &fails);
  t[1] = spawn_child(g, &lc->slow);
  body_rc = corio_sleep(FOREVER);
  lc->in_close = 1;
  lc->close_rc = corio_taskgroup_close(g, body_rc);
  lc->errors = corio_taskgroup_error_count(g);
  lc->cancelling = corio_task_cancelling(corio_current_task());
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  lc->after_rc = corio_sleep(0.01);
  return lc->after_rc;
}

static int cancel_owner_while_aborting(void *arg, void **result) {
  struct late_cancel lc = {1, -1, 1, 99, {.delay = FOREVER, .linger = 0.1}, 0};
  corio_task *owner;

  (void)arg;
  (void)result;
  watch_reports();
  owner = spawn_or_fail(owner_of_slow_child, &lc);
  /* Until the group has aborted (at 0.01 s) and close waits for the slow
   * child's clean-up: seen in the iteration after, while the clean-up's
   * timer (0.1 s) cannot have fired yet. */
  while ((!lc.in_close || lc.slow.sleep_rc != -ECANCELED) &&
         corio_sleep(0) == 0)
    ;
  CHECK_TRUE(lc.in_close && lc.slow.sleep_rc == -ECANCELED);
  CHECK_TRUE(!corio_task_done(owner));
  CHECK_EQ(corio_task_cancel(owner, "outside"), 1);
  CHECK_EQ(corio_await(owner, NULL), -ECANCELED);
  CHECK_EQ(lc.close_rc, CORIO_ETASKGROUP);
  CHECK_EQ(lc.errors, 1);
  CHECK_EQ(lc.cancelling, 1);
  CHECK_EQ(lc.after_rc, -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(owner));
  corio_task_unref(owner);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_outside_cancel_while_aborting_not_lost(void **state) {
  (void)state;
  assert_int_equal(run_main(cancel_owner_while_aborting, NULL), 0);
  assert_checks_passed();
}

/* ---- the body fails ------------------------------------------------------ */

static int body_fails(void *arg, void **result) {
  struct child c[2] = {{.delay = FOREVER}, {.delay = FOREVER}};
  struct child d[2] = {{.delay = 0.01, .rc = -EPIPE}, {.delay = FOREVER}};
  corio_taskgroup *g;
  corio_task *t[2], *who = (corio_task *)&c;
  int body_rc;

  (void)arg;
  (void)result;
  watch_reports();
  /* The body's own error aborts the children and is listed, task NULL. */
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 2; i++)
    t[i] = spawn_child(g, &c[i]);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(corio_taskgroup_close(g, -EIO), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EIO);
  CHECK_PTR(who, NULL);
  CHECK_EQ(corio_taskgroup_error(g, 1, &who), -EINVAL);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(c[i].sleep_rc, -ECANCELED);
    CHECK_TRUE(corio_task_cancelled(t[i]));
  }
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  check_owner_carries_on();

  /* A child fails, then the body answers the cancellation with an error
   * of its own: both listed, the children's first. */
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  for (int i = 0; i < 2; i++)
    t[i] = spawn_child(g, &d[i]);
  body_rc = corio_sleep(FOREVER);
  CHECK_EQ(body_rc, -ECANCELED);
  CHECK_EQ(corio_taskgroup_close(g, -EIO), CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 2);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EPIPE);
  CHECK_PTR(who, t[0]);
  CHECK_EQ(corio_taskgroup_error(g, 1, &who), -EIO);
  CHECK_PTR(who, NULL);
  CHECK_TRUE(corio_task_cancelled(t[1]));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  unref_all(t, 2);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_body_fails(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  assert_int_equal(run_main(body_fails, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* ---- terminating a group on purpose (seed 001's TerminateTaskGroup) ------ */

#define TERMINATE_GROUP (-ESHUTDOWN)

static int force_terminate(void *arg, void **result) {
  (void)arg;
  (void)result;
  return TERMINATE_GROUP;
}

static int terminate_on_purpose(void *arg, void **result) {
  struct trace log = {""};
  struct child job1 = {.delay = 0.02, .tag = '1', .log = &log};
  struct child job2 = {.delay = FOREVER, .tag = '2', .log = &log};
  corio_taskgroup *g;
  corio_task *t1, *t2, *terminator, *who = NULL;
  int rc;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(&g), 0);
  t1 = spawn_child(g, &job1);
  t2 = spawn_child(g, &job2);
  CHECK_EQ(corio_await(t1, NULL), 0); /* job1 is over, job2 sleeps on */
  CHECK_EQ(corio_taskgroup_spawn(g, &terminator, force_terminate, NULL), 0);
  rc = corio_taskgroup_close(g, 0);
  /* except* TerminateTaskGroup: pass -- only that error, then go on. */
  CHECK_EQ(rc, CORIO_ETASKGROUP);
  CHECK_EQ(corio_taskgroup_error_count(g), 1);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), TERMINATE_GROUP);
  CHECK_PTR(who, terminator);
  CHECK_STR(log.log, "1-");
  CHECK_EQ(corio_task_error(t1), 0);
  CHECK_TRUE(corio_task_cancelled(t2));
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(t1);
  corio_task_unref(t2);
  corio_task_unref(terminator);
  check_owner_carries_on();
  CHECK_EQ(reports.count, 0);
  *result = CORIO_PTR(42);
  return 0;
}

static void test_terminate_on_purpose(void **state) {
  void *r = NULL;
  (void)state;

  assert_int_equal(corio_run(terminate_on_purpose, NULL, &r), 0);
  assert_int_equal(CORIO_INT(r), 42);
  assert_checks_passed();
}

/* ---- misuse -------------------------------------------------------------- */

struct intruder {
  corio_taskgroup *g;
  int close_rc, free_rc;
};

static int intruder_body(void *arg, void **result) {
  struct intruder *in = arg;

  (void)result;
  in->close_rc = corio_taskgroup_close(in->g, 0);
  in->free_rc = corio_taskgroup_free(in->g);
  return 0;
}

static int misuse(void *arg, void **result) {
  struct child c = {.delay = 0.02, .value = 1};
  struct intruder in = {.close_rc = 1, .free_rc = 1};
  corio_taskgroup *g;
  corio_task *t, *other, *who = NULL;

  (void)arg;
  (void)result;
  watch_reports();
  CHECK_EQ(corio_taskgroup_open(NULL), -EINVAL);
  CHECK_EQ(corio_taskgroup_spawn(NULL, &t, child_body, &c), -EINVAL);
  CHECK_EQ(corio_taskgroup_close(NULL, 0), -EINVAL);
  CHECK_EQ(corio_taskgroup_error_count(NULL), 0);
  CHECK_EQ(corio_taskgroup_error(NULL, 0, &who), -EINVAL);
  CHECK_EQ(corio_taskgroup_free(NULL), 0);

  CHECK_EQ(corio_taskgroup_open(&g), 0);
  CHECK_EQ(corio_taskgroup_spawn(g, &t, NULL, &c), -EINVAL);
  t = spawn_child(g, &c);
  /* Not closed yet: not freed, no errors to read. */
  CHECK_EQ(corio_taskgroup_free(g), -EBUSY);
  CHECK_EQ(corio_taskgroup_error(g, 0, &who), -EINVAL);
  CHECK_EQ(corio_taskgroup_error_count(g), 0);
  /* Another task may neither close nor free it. */
  in.g = g;
  other = spawn_or_fail(intruder_body, &in);
  CHECK_EQ(corio_await(other, NULL), 0);
  CHECK_EQ(in.close_rc, CORIO_EINVALSTATE);
  CHECK_EQ(in.free_rc, -EBUSY);
  CHECK_TRUE(!corio_task_done(t)); /* still running, untouched */
  corio_task_unref(other);
  /* The owner closes it, once. */
  CHECK_EQ(corio_taskgroup_close(g, 0), 0);
  CHECK_EQ(corio_task_error(t), 0);
  CHECK_EQ(corio_taskgroup_close(g, 0), CORIO_EINVALSTATE);
  CHECK_EQ(corio_taskgroup_close(g, -EIO), CORIO_EINVALSTATE);
  CHECK_EQ(corio_taskgroup_error_count(g), 0);
  CHECK_EQ(corio_taskgroup_free(g), 0);
  corio_task_unref(t);
  CHECK_EQ(reports.count, 0);
  return 0;
}

static void test_misuse(void **state) {
  corio_taskgroup *g = NULL;
  (void)state;

  assert_int_equal(corio_taskgroup_open(&g), CORIO_ENOTASK);
  assert_null(g);
  assert_int_equal(run_main(misuse, NULL), 0);
  assert_checks_passed();
}

/* ---- allocation failures ------------------------------------------------- */

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

/* 20 children (the array grows past its first 16, some spawns allocate a
 * name), closed normally; then a group one child fails on purpose. Any
 * unexpected outcome is an error. */
#define WALK_CHILDREN 20

static int walked(void *arg, void **result) {
  struct child c[WALK_CHILDREN];
  struct child d[2] = {{.delay = 0.001, .rc = -EPIPE}, {.delay = FOREVER}};
  corio_taskgroup *g;
  corio_task *who;
  int rc, body_rc = 0;

  (void)arg;
  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet, NULL);
  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return rc;
  for (int i = 0; i < WALK_CHILDREN && body_rc == 0; i++) {
    /* Every third one named: its spawn allocates the name. */
    corio_spawn_options o = {.name = i % 3 == 1 ? "named" : NULL};
    c[i] = (struct child){.delay = 0.001 * (i % 3), .value = i};
    body_rc = corio_taskgroup_spawn_ex(g, NULL, child_body, &c[i], &o);
  }
  if (body_rc == 0)
    body_rc = corio_sleep(0.001);
  rc = corio_taskgroup_close(g, body_rc);
  if (rc == CORIO_ETASKGROUP)
    rc = corio_taskgroup_error(g, 0, NULL);
  (void)corio_taskgroup_free(g);
  if (rc < 0)
    return rc;

  rc = corio_taskgroup_open(&g);
  if (rc < 0)
    return rc;
  body_rc = 0;
  for (int i = 0; i < 2 && body_rc == 0; i++)
    body_rc = corio_taskgroup_spawn(g, NULL, child_body, &d[i]);
  if (body_rc == 0)
    body_rc = corio_sleep(FOREVER);
  rc = corio_taskgroup_close(g, body_rc);
  if (rc == CORIO_ETASKGROUP && corio_taskgroup_error_count(g) == 1 &&
      corio_taskgroup_error(g, 0, &who) == -EPIPE && who)
    rc = 0;
  else if (rc == CORIO_ETASKGROUP)
    rc = corio_taskgroup_error(g, corio_taskgroup_error(g, 0, NULL) == -EPIPE,
                               NULL);
  else if (rc == 0)
    rc = -EPROTO;
  (void)corio_taskgroup_free(g);
  return rc;
}

static void test_fault_walk(void **state) {
  long points;
  (void)state;

  assert_int_equal(run_main(walked, NULL), 0);
  points = walk_run(CORIO__FAULT_ALLOC, walked, corio_test_negative);
  assert_true(points >= 10);
  assert_int_equal(run_main(walked, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_close_waits_for_children, reset_checks),
      cmocka_unit_test_setup(test_eager_children, reset_checks),
      cmocka_unit_test_setup(test_first_failure_cancels_the_rest, reset_checks),
      cmocka_unit_test_setup(test_simultaneous_failures_all_reported,
                             reset_checks),
      cmocka_unit_test_setup(test_failure_while_close_waits, reset_checks),
      cmocka_unit_test_setup(test_last_child_fails_while_close_waits,
                             reset_checks),
      cmocka_unit_test_setup(test_spawn_while_closing, reset_checks),
      cmocka_unit_test_setup(test_spawn_after_failure_refused, reset_checks),
      cmocka_unit_test_setup(test_nested_groups, reset_checks),
      cmocka_unit_test_setup(test_owner_cancelled_from_outside, reset_checks),
      cmocka_unit_test_setup(test_outside_cancel_with_child_error,
                             reset_checks),
      cmocka_unit_test_setup(test_outside_cancel_while_aborting_not_lost,
                             reset_checks),
      cmocka_unit_test_setup(test_body_fails, reset_checks),
      cmocka_unit_test_setup(test_terminate_on_purpose, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
      cmocka_unit_test_setup(test_fault_walk, reset_checks),
      cmocka_unit_test_setup(test_error_while_cancelled_is_reported,
                             reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
