/* corio_to_thread and corio_run_in_executor: outcomes and messages (also
 * passed on to the awaiting task), misuse, context propagation, parallel
 * jobs, a loop that keeps running, cancellation before and while a job
 * runs (a queued job withdrawn by the cancellation itself; the discard
 * callback), and a loop that closes under a running job. */
#include <unistd.h>

#include "../task/task_check.h"
#include "thread_test.h"

struct job {
  struct gate *gate; /* waited on first, if set */
  atomic_int *hold;  /* or waited for until it is set */
  int sleep_ms;      /* then slept */
  int error;         /* returned instead of a result, if set */
  void *value;       /* the result */
  atomic_int started, done;
};

static void job_init(struct job *j, void *value) {
  memset(j, 0, sizeof *j);
  j->value = value;
  atomic_init(&j->started, 0);
  atomic_init(&j->done, 0);
}

static int job_fn(void *arg, void **result) {
  struct job *j = arg;

  atomic_store(&j->started, 1);
  if (j->gate)
    (void)gate_wait(j->gate);
  if (j->hold)
    (void)thread_wait_flag(j->hold, 1, THREAD_TEST_PATIENCE_S);
  if (j->sleep_ms)
    sleep_ms(j->sleep_ms);
  atomic_store(&j->done, 1);
  if (j->error)
    return j->error;
  *result = j->value;
  return 0;
}

/* Discarded results: the callback may run on a pool thread. */
static atomic_int discards;
static atomic_intptr_t discarded;

static void count_discard(void *result) {
  atomic_store(&discarded, (intptr_t)result);
  atomic_fetch_add(&discards, 1);
}

static void reset_discards(void) {
  atomic_store(&discards, 0);
  atomic_store(&discarded, 0);
}

/* ---- outcomes ------------------------------------------------------------ */

static int fail_with_message(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_fail(-EPROTO, "disk %d is gone", 3);
}

static int return_positive(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 5;
}

/* A message for one error, then another error returned: no message. */
static int fail_other_code(void *arg, void **result) {
  (void)arg;
  (void)result;
  (void)corio_fail(-EIO, "about EIO");
  return -EPIPE;
}

/* A message, then success all the same: the next job on this thread must
 * not inherit it. */
static int fail_then_succeed(void *arg, void **result) {
  (void)arg;
  (void)corio_fail(-EIO, "stale");
  *result = CORIO_PTR(8);
  return 0;
}

static int outcomes_main(void *arg, void **result) {
  corio_executor *ex;
  corio_future *f;
  struct job j;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&j, CORIO_PTR(42));
  CHECK_EQ(corio_to_thread(job_fn, &j, &r), 0);
  CHECK_EQ(CORIO_INT(r), 42);
  CHECK_EQ(atomic_load(&j.done), 1);
  job_init(&j, CORIO_PTR(43));
  CHECK_EQ(corio_to_thread(job_fn, &j, NULL), 0);
  job_init(&j, NULL);
  j.error = -EIO;
  CHECK_EQ(corio_to_thread(job_fn, &j, &r), -EIO);
  CHECK_EQ(corio_to_thread(fail_with_message, NULL, &r), -EPROTO);
  CHECK_EQ(corio_to_thread(return_positive, NULL, &r), -EINVAL);

  /* The messages, read from the futures. One thread: jobs follow each
   * other on it. */
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, fail_with_message, NULL, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), -EPROTO);
  CHECK_EQ(corio_future_error(f), -EPROTO);
  CHECK_TRUE(corio_future_message(f) != NULL);
  if (corio_future_message(f))
    CHECK_STR(corio_future_message(f), "disk 3 is gone");
  corio_future_unref(f);

  CHECK_EQ(corio_run_in_executor(NULL, ex, return_positive, NULL, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), -EINVAL);
  CHECK_TRUE(corio_future_message(f) != NULL &&
             corio_future_message(f)[0] != 0);
  corio_future_unref(f);

  CHECK_EQ(corio_run_in_executor(NULL, ex, fail_other_code, NULL, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), -EPIPE);
  CHECK_PTR(corio_future_message(f), NULL);
  corio_future_unref(f);

  CHECK_EQ(corio_run_in_executor(NULL, ex, fail_then_succeed, NULL, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), 0);
  CHECK_EQ(CORIO_INT(r), 8);
  CHECK_PTR(corio_future_message(f), NULL);
  corio_future_unref(f);
  job_init(&j, NULL);
  j.error = -EIO;
  CHECK_EQ(corio_run_in_executor(NULL, ex, job_fn, &j, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), -EIO);
  CHECK_PTR(corio_future_message(f), NULL);
  corio_future_unref(f);

  CHECK_EQ(corio_executor_threads(ex), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

/* Runs main_fn as corio_run's main task (with the discard count reset
 * first, if asked) and checks what it recorded and that nothing leaked. */
static void run_checked(corio_task_fn main_fn, int with_discards) {
  corio_test_usage before = corio_test_usage_now();

  if (with_discards)
    reset_discards();
  assert_int_equal(run_main(main_fn, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

static void test_outcomes(void **state) {
  (void)state;
  run_checked(outcomes_main, 0);
}

/* An awaited error passes its message on to the awaiting task, as an
 * exception propagates: a body that returns corio_to_thread's (or the
 * awaited job future's) error ends with the message the thread function
 * set with corio_fail. */
static int return_to_thread_error(void *arg, void **result) {
  return corio_to_thread(*(corio_thread_fn *)arg, NULL, result);
}

static int return_awaited_job_error(void *arg, void **result) {
  corio_future *f;
  int rc;

  rc = corio_run_in_executor(NULL, NULL, *(corio_thread_fn *)arg, NULL, &f);
  if (rc < 0)
    return rc;
  rc = corio_future_await(f, result);
  corio_future_unref(f);
  return rc;
}

/* The error is handled and another returned: the message stays behind. */
static int return_other_error(void *arg, void **result) {
  int rc = corio_to_thread(*(corio_thread_fn *)arg, NULL, result);

  return rc == -EPROTO ? -EIO : rc;
}

static void check_task_ends(corio_task_fn body, corio_thread_fn fn, int error,
                            const char *message) {
  corio_task *t = NULL;

  /* fn outlives the task: it is awaited here. */
  CHECK_EQ(corio_spawn(&t, body, &fn), 0);
  if (!t)
    return;
  CHECK_EQ(corio_task_await(t, NULL), error);
  CHECK_EQ(corio_task_error(t), error);
  if (message) {
    CHECK_TRUE(corio_task_message(t) != NULL);
    if (corio_task_message(t))
      CHECK_STR(corio_task_message(t), message);
  } else {
    CHECK_PTR(corio_task_message(t), NULL);
  }
  corio_task_unref(t);
}

static int message_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  check_task_ends(return_to_thread_error, fail_with_message, -EPROTO,
                  "disk 3 is gone");
  check_task_ends(return_awaited_job_error, fail_with_message, -EPROTO,
                  "disk 3 is gone");
  check_task_ends(return_to_thread_error, fail_other_code, -EPIPE, NULL);
  check_task_ends(return_other_error, fail_with_message, -EIO, NULL);
  return 0;
}

static void test_message_reaches_task(void **state) {
  (void)state;
  run_checked(message_main, 0);
}

/* ---- misuse -------------------------------------------------------------- */

struct from_callback {
  int rc;
  corio_loop *loop;
};

static int to_thread_in_callback(void *arg) {
  struct from_callback *c = arg;

  c->rc = corio_to_thread(fail_with_message, NULL, NULL);
  return corio_loop_stop(c->loop);
}

static int misuse_main(void *arg, void **result) {
  corio_future *f = NULL;

  (void)arg;
  (void)result;
  CHECK_EQ(corio_to_thread(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_to_thread_ex(NULL, NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, NULL, NULL, &f), -EINVAL);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, job_fn, NULL, NULL), -EINVAL);
  return 0;
}

static void test_misuse(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct from_callback c = {1, NULL};
  corio_executor *ex;
  corio_future *f = NULL;
  struct job j;
  (void)state;

  job_init(&j, NULL);
  /* Not in a task. */
  assert_int_equal(corio_to_thread(job_fn, &j, NULL), CORIO_ENOTASK);
  assert_int_equal(corio_to_thread_ex(job_fn, &j, count_discard, NULL),
                   CORIO_ENOTASK);
  assert_int_equal(corio_to_thread(NULL, &j, NULL), -EINVAL);
  /* No loop. */
  assert_int_equal(corio_run_in_executor(NULL, NULL, job_fn, &j, &f),
                   CORIO_ENOLOOP);
  assert_int_equal(run_main(misuse_main, NULL), 0);
  assert_checks_passed();
  /* A loop's callback is not a task either. */
  assert_int_equal(corio_loop_create(&c.loop), 0);
  assert_int_equal(
      corio_loop_call_soon(c.loop, to_thread_in_callback, &c, NULL), 0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(c.rc, CORIO_ENOTASK);
  /* A closed loop, with the default executor or an explicit one. */
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_loop_close(c.loop), 0);
  assert_int_equal(corio_run_in_executor(c.loop, NULL, job_fn, &j, &f),
                   CORIO_ELOOPCLOSED);
  assert_int_equal(corio_run_in_executor(c.loop, ex, job_fn, &j, &f),
                   CORIO_ELOOPCLOSED);
  corio_loop_unref(c.loop);
  assert_int_equal(corio_executor_threads(ex), 0);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(atomic_load(&j.started), 0);
  corio_test_assert_no_leak(before);
}

/* ---- contexts ------------------------------------------------------------ */

static corio_contextvar *var;

struct seen {
  int get_rc;
  void *value;
  int set_rc;
  struct gate *gate;
};

/* Reads the variable, then sets it to 9. */
static int read_and_set(void *arg, void **result) {
  struct seen *s = arg;

  if (s->gate)
    (void)gate_wait(s->gate);
  s->value = NULL;
  s->get_rc = corio_contextvar_get(var, &s->value);
  s->set_rc = corio_contextvar_set(var, CORIO_PTR(9), NULL);
  *result = NULL;
  return 0;
}

/* Only reads it. */
static int read_only(void *arg, void **result) {
  struct seen *s = arg;

  s->value = NULL;
  s->get_rc = corio_contextvar_get(var, &s->value);
  *result = NULL;
  return 0;
}

static int set_to(void *arg) { return corio_contextvar_set(var, arg, NULL); }

static int context_main(void *arg, void **result) {
  struct gate gate = GATE_INIT;
  corio_job_options options = {0};
  corio_context *mine, *dropped;
  corio_executor *ex;
  struct seen s, later;
  corio_future *f, *fl;
  void *v = NULL;

  (void)arg;
  (void)result;
  memset(&s, 0, sizeof s);
  memset(&later, 0, sizeof later);
  CHECK_EQ(corio_contextvar_set(var, CORIO_PTR(7), NULL), 0);
  /* to_thread: a copy of the task's context, both ways. */
  CHECK_EQ(corio_to_thread(read_and_set, &s, NULL), 0);
  CHECK_EQ(s.get_rc, 0);
  CHECK_EQ(CORIO_INT(s.value), 7);
  CHECK_EQ(s.set_rc, 0);
  CHECK_EQ(corio_contextvar_get(var, &v), 0);
  CHECK_EQ(CORIO_INT(v), 7);

  /* run_in_executor without a context: the pool thread's own, empty on a
   * new thread. One thread, so the next jobs run where this one did. */
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(corio_loop_current(), ex, read_only, &s, &f),
           0);
  CHECK_PTR(corio_future_loop(f), corio_loop_current());
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, CORIO_ENOVALUE);

  /* A context of the caller's choosing: the job sees it, and its set
   * changes it (Context.run). */
  CHECK_EQ(corio_context_create(&mine), 0);
  CHECK_EQ(corio_context_run(mine, set_to, CORIO_PTR(5)), 0);
  options.context = mine;
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, read_and_set, &s, &options, &f),
           0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, 0);
  CHECK_EQ(CORIO_INT(s.value), 5);
  CHECK_EQ(corio_context_get(mine, var, &v), 0);
  CHECK_EQ(CORIO_INT(v), 9);
  corio_context_unref(mine);
  /* The task's value stayed; the thread went back to no context. */
  CHECK_EQ(corio_contextvar_get(var, &v), 0);
  CHECK_EQ(CORIO_INT(v), 7);
  CHECK_EQ(corio_run_in_executor(NULL, ex, read_only, &s, &f), 0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, CORIO_ENOVALUE);

  /* The job holds its own reference: the caller may drop its own before
   * the job runs. */
  CHECK_EQ(corio_context_create(&dropped), 0);
  CHECK_EQ(corio_context_run(dropped, set_to, CORIO_PTR(11)), 0);
  options.context = dropped;
  later.gate = &gate;
  CHECK_EQ(
      corio_run_in_executor_ex(NULL, ex, read_and_set, &later, &options, &fl),
      0);
  corio_context_unref(dropped);
  gate_open(&gate);
  CHECK_EQ(corio_future_await(fl, NULL), 0);
  corio_future_unref(fl);
  CHECK_EQ(later.get_rc, 0);
  CHECK_EQ(CORIO_INT(later.value), 11);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_context(void **state) {
  corio_test_usage before;
  (void)state;

  assert_int_equal(corio_contextvar_create(&var, "request"), 0);
  before = corio_test_usage_now();
  assert_int_equal(run_main(context_main, NULL), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
  corio_contextvar_free(var);
}

/* Without a context a job runs in the pool thread's own context, as in
 * Python: what a job sets there is still set for the next job on that
 * thread. A job given a context, and a to_thread job (a copy of the
 * task's), do not see it, and leave it as it was. */
static int thread_context_main(void *arg, void **result) {
  corio_job_options options = {0};
  corio_executor *ex;
  corio_context *empty;
  struct seen s;
  corio_future *f;

  (void)arg;
  (void)result;
  memset(&s, 0, sizeof s);
  /* One thread, the loop's default: every job below runs on it. */
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), ex), 0);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, read_and_set, &s, &f), 0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, CORIO_ENOVALUE); /* a new thread's is empty */
  CHECK_EQ(s.set_rc, 0);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, read_only, &s, &f), 0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, 0);
  CHECK_EQ(CORIO_INT(s.value), 9);

  CHECK_EQ(corio_context_create(&empty), 0);
  options.context = empty;
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, read_only, &s, &options, &f),
           0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  corio_context_unref(empty);
  CHECK_EQ(s.get_rc, CORIO_ENOVALUE);
  /* The task never set it. */
  CHECK_EQ(corio_to_thread(read_only, &s, NULL), 0);
  CHECK_EQ(s.get_rc, CORIO_ENOVALUE);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, read_only, &s, &f), 0);
  CHECK_EQ(corio_future_await(f, NULL), 0);
  corio_future_unref(f);
  CHECK_EQ(s.get_rc, 0);
  CHECK_EQ(CORIO_INT(s.value), 9);
  CHECK_EQ(corio_executor_threads(ex), 1);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_no_context_runs_in_thread_context(void **state) {
  corio_test_usage before;
  (void)state;

  assert_int_equal(corio_contextvar_create(&var, "request"), 0);
  before = corio_test_usage_now();
  assert_int_equal(run_main(thread_context_main, NULL), 0);
  assert_checks_passed();
  /* The pool thread's context went with the thread. */
  corio_test_assert_no_leak(before);
  corio_contextvar_free(var);
}

/* ---- concurrency --------------------------------------------------------- */

static int to_thread_task(void *arg, void **result) {
  return corio_to_thread(job_fn, arg, result);
}

/* Releases the jobs once all three have started: run one after another,
 * the first would hold until THREAD_TEST_PATIENCE_S and the others start
 * late. No timing, so a loaded machine cannot fail it. */
struct all_started {
  struct job *j;
  atomic_int *hold;
};

static int release_when_all_started(void *arg, void **result) {
  struct all_started *a = arg;

  (void)result;
  for (int i = 0; i < 3; i++)
    CHECK_TRUE(task_wait_flag(&a->j[i].started, 1, THREAD_TEST_PATIENCE_S));
  atomic_store(a->hold, 1);
  return 0;
}

static int parallel_main(void *arg, void **result) {
  struct job j[3];
  atomic_int hold;
  struct all_started a = {j, &hold};
  corio_awaitable children[4];
  corio_outcome out[4];

  (void)arg;
  (void)result;
  atomic_init(&hold, 0);
  for (int i = 0; i < 3; i++) {
    job_init(&j[i], CORIO_PTR(i + 1));
    j[i].hold = &hold;
    children[i] = CORIO_AWAIT_FN(to_thread_task, &j[i]);
  }
  children[3] = CORIO_AWAIT_FN(release_when_all_started, &a);
  CHECK_EQ(corio_gather(children, 4, out, 0), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(out[i].error, 0);
    CHECK_EQ(CORIO_INT(out[i].result), i + 1);
  }
  return 0;
}

static void test_parallel(void **state) {
  (void)state;
  run_checked(parallel_main, 0);
}

/* Ticks on the loop, and lets the job finish after 5 ticks. */
struct ticks {
  atomic_int n, enough;
};

static int ticker(void *arg, void **result) {
  struct ticks *ticks = arg;

  (void)result;
  for (;;) {
    int rc = corio_sleep(0.005);
    if (rc < 0)
      return rc;
    if (atomic_fetch_add(&ticks->n, 1) + 1 == 5)
      atomic_store(&ticks->enough, 1);
  }
}

static int keeps_running_main(void *arg, void **result) {
  struct job j;
  corio_task *t;
  struct ticks ticks;
  void *r = NULL;

  (void)arg;
  (void)result;
  atomic_init(&ticks.n, 0);
  atomic_init(&ticks.enough, 0);
  job_init(&j, CORIO_PTR(1));
  j.hold = &ticks.enough;
  t = spawn_or_fail(ticker, &ticks);
  /* The job waits for ticks that only a running loop makes (a blocked one
   * would leave it holding until THREAD_TEST_PATIENCE_S, with none). */
  CHECK_EQ(corio_to_thread(job_fn, &j, &r), 0);
  CHECK_TRUE(atomic_load(&ticks.n) >= 5);
  corio_task_cancel(t, NULL);
  CHECK_EQ(corio_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  return 0;
}

static void test_loop_keeps_running(void **state) {
  (void)state;
  run_checked(keeps_running_main, 0);
}

/* ---- cancellation -------------------------------------------------------- */

struct waiter {
  struct job *job;
  int rc;
  void *r;
};

static int waiter_task(void *arg, void **result) {
  struct waiter *w = arg;

  (void)result;
  w->rc = corio_to_thread_ex(job_fn, w->job, count_discard, &w->r);
  return w->rc;
}

/* The task is cancelled while its job waits in the queue (one worker, and
 * it is busy): the job never runs. */
static int cancel_queued_main(void *arg, void **result) {
  struct gate gate = GATE_INIT;
  struct job blocker, queued;
  struct waiter w = {&queued, 1, NULL};
  corio_executor *ex;
  corio_future *fb;
  corio_task *t;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&blocker, CORIO_PTR(1));
  job_init(&queued, CORIO_PTR(2));
  blocker.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), ex), 0);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, job_fn, &blocker, &fb), 0);
  CHECK_TRUE(task_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  t = spawn_or_fail(waiter_task, &w);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(atomic_load(&queued.started), 0);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_await(t, NULL), -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t));
  CHECK_EQ(w.rc, -ECANCELED);
  corio_task_unref(t);
  gate_open(&gate);
  CHECK_EQ(corio_future_await(fb, &r), 0);
  CHECK_EQ(CORIO_INT(r), 1);
  corio_future_unref(fb);
  /* Everything submitted has run once shutdown returns. */
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&queued.started), 0);
  CHECK_EQ(atomic_load(&discards), 0);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_cancel_while_queued(void **state) {
  (void)state;
  run_checked(cancel_queued_main, 1);
}

/* The task is cancelled while its job runs: corio_to_thread returns
 * -ECANCELED at once, the job finishes on its thread, and its result goes
 * to the discard callback, once. An error has no result to discard. */
static int cancel_running_main(void *arg, void **result) {
  struct gate gate = GATE_INIT, gate2 = GATE_INIT;
  struct job running, failing;
  struct waiter w = {&running, 1, NULL}, w2 = {&failing, 1, NULL};
  corio_task *t;

  (void)arg;
  (void)result;
  job_init(&running, CORIO_PTR(123));
  running.gate = &gate;
  t = spawn_or_fail(waiter_task, &w);
  CHECK_TRUE(task_wait_flag(&running.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_await(t, NULL), -ECANCELED);
  CHECK_EQ(w.rc, -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t));
  /* Before the job ended. */
  CHECK_EQ(atomic_load(&running.done), 0);
  CHECK_EQ(atomic_load(&discards), 0);
  corio_task_unref(t);
  gate_open(&gate);
  CHECK_TRUE(task_wait_flag(&discards, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(atomic_load(&running.done), 1);
  CHECK_EQ(atomic_load(&discarded), 123);
  CHECK_EQ(corio_sleep(0.03), 0);
  CHECK_EQ(atomic_load(&discards), 1);

  job_init(&failing, NULL);
  failing.gate = &gate2;
  failing.error = -EIO;
  t = spawn_or_fail(waiter_task, &w2);
  CHECK_TRUE(task_wait_flag(&failing.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  gate_open(&gate2);
  CHECK_TRUE(task_wait_flag(&failing.done, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_sleep(0.03), 0);
  CHECK_EQ(atomic_load(&discards), 1);
  return 0;
}

static void test_cancel_while_running(void **state) {
  corio_test_usage before = corio_test_usage_now();
  (void)state;

  reset_discards();
  assert_int_equal(run_main(cancel_running_main, NULL), 0);
  assert_checks_passed();
  assert_int_equal(atomic_load(&discards), 1);
  corio_test_assert_no_leak(before);
}

/* The task is cancelled after the job's outcome reached the loop but
 * before the task resumed: corio_to_thread returns -ECANCELED (asyncio's
 * rule: a task cancelled once woken is cancelled all the same), and then
 * nobody reads the result, so it must go to the discard callback. Either
 * the result comes back, or it is discarded: never lost.
 *
 * The window: a pipe made readable just before the job posts its outcome
 * is reported by the same poll, ahead of the loop's wake-up (epoll keeps
 * the order things became ready), so its callback runs after the delivery
 * and before the task's next step. */
struct canceller {
  corio_loop *loop;
  int fd;
  corio_task *victim;
  int ran;
};

static int cancel_on_read(void *arg) {
  struct canceller *c = arg;
  char byte;

  (void)!read(c->fd, &byte, 1);
  (void)corio_loop_remove_reader(c->loop, c->fd);
  (void)corio_task_cancel(c->victim, NULL);
  c->ran = 1;
  return 0;
}

static int cancel_after_delivery_main(void *arg, void **result) {
  struct gate gate = GATE_INIT;
  struct job j;
  struct waiter w = {&j, 1, NULL};
  struct canceller c;
  corio_task *t;
  int fds[2];

  (void)arg;
  (void)result;
  job_init(&j, CORIO_PTR(77));
  j.gate = &gate;
  CHECK_EQ(pipe(fds), 0);
  t = spawn_or_fail(waiter_task, &w);
  CHECK_TRUE(task_wait_flag(&j.started, 1, THREAD_TEST_PATIENCE_S));
  c = (struct canceller){corio_loop_current(), fds[0], t, 0};
  CHECK_EQ(corio_loop_add_reader(c.loop, fds[0], cancel_on_read, &c), 0);
  /* With the loop blocked: the pipe, then the job's outcome. */
  CHECK_EQ(write(fds[1], "x", 1), 1);
  gate_open(&gate);
  (void)thread_wait_flag(&j.done, 1, THREAD_TEST_PATIENCE_S);
  sleep_ms(20);
  (void)corio_await(t, NULL);
  corio_task_unref(t);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(c.ran, 1);
  close(fds[0]);
  close(fds[1]);
  if (w.rc == 0) {
    CHECK_EQ(CORIO_INT(w.r), 77);
    CHECK_EQ(atomic_load(&discards), 0);
  } else {
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK_EQ(atomic_load(&discards), 1);
    CHECK_EQ(atomic_load(&discarded), 77);
  }
  return 0;
}

static void test_cancel_after_delivery(void **state) {
  (void)state;
  run_checked(cancel_after_delivery_main, 1);
}

/* corio_future_cancel on a run_in_executor future: before the job starts
 * it never runs; while it runs, the future stays cancelled and the result
 * is discarded once. */
static int future_cancel_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard};
  struct gate gate = GATE_INIT, gate2 = GATE_INIT;
  struct job blocker, queued, running;
  corio_future *fb, *fq, *fr;
  corio_executor *ex;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&blocker, CORIO_PTR(1));
  job_init(&queued, CORIO_PTR(2));
  job_init(&running, CORIO_PTR(3));
  blocker.gate = &gate;
  running.gate = &gate2;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, job_fn, &blocker, &fb), 0);
  CHECK_TRUE(task_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, job_fn, &queued, &options, &fq),
           0);
  CHECK_EQ(corio_future_cancel(fq, "not needed"), 1);
  CHECK_TRUE(corio_future_cancelled(fq));
  CHECK_EQ(corio_future_await(fq, NULL), -ECANCELED);
  gate_open(&gate);
  CHECK_EQ(corio_future_await(fb, &r), 0);
  CHECK_EQ(CORIO_INT(r), 1);

  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, job_fn, &running, &options, &fr),
           0);
  CHECK_TRUE(task_wait_flag(&running.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_future_cancel(fr, NULL), 1);
  gate_open(&gate2);
  CHECK_TRUE(task_wait_flag(&discards, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(atomic_load(&discarded), 3);
  CHECK_TRUE(corio_future_cancelled(fr));
  CHECK_EQ(corio_future_result(fr, &r), -ECANCELED);

  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(atomic_load(&queued.started), 0);
  CHECK_EQ(atomic_load(&discards), 1);
  corio_future_unref(fb);
  corio_future_unref(fq);
  corio_future_unref(fr);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_future_cancel(void **state) {
  (void)state;
  run_checked(future_cancel_main, 1);
}

/* Issue 12: cancellation withdraws a queued job at once, not in a done
 * callback one iteration later. The loop thread gives the pool no chance
 * to lose the race: it opens the busy thread's gate and then blocks in a
 * waiting shutdown, so with a late withdrawal the pool thread always takes
 * the cancelled job next. The job behind it (withdrawn from the middle of
 * the queue) still runs. */
static int cancel_withdraws_at_once_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard};
  struct gate gate = GATE_INIT;
  struct job blocker, cancelled, after;
  corio_future *fb, *fc, *fa;
  corio_executor *ex;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&blocker, CORIO_PTR(1));
  job_init(&cancelled, CORIO_PTR(2));
  job_init(&after, CORIO_PTR(3));
  blocker.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, job_fn, &blocker, &fb), 0);
  CHECK_TRUE(task_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(
      corio_run_in_executor_ex(NULL, ex, job_fn, &cancelled, &options, &fc), 0);
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, job_fn, &after, &options, &fa),
           0);
  CHECK_EQ(corio_future_cancel(fc, "not needed"), 1);
  CHECK_EQ(corio_future_cancel(fc, "twice"), 0);
  gate_open(&gate);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&cancelled.started), 0);
  CHECK_EQ(atomic_load(&after.done), 1);

  CHECK_EQ(corio_future_await(fc, NULL), -ECANCELED);
  CHECK_STR(corio_future_message(fc), "not needed");
  CHECK_EQ(corio_future_await(fb, &r), 0);
  CHECK_EQ(CORIO_INT(r), 1);
  CHECK_EQ(corio_future_await(fa, &r), 0);
  CHECK_EQ(CORIO_INT(r), 3);
  CHECK_EQ(atomic_load(&discards), 0);
  corio_future_unref(fb);
  corio_future_unref(fc);
  corio_future_unref(fa);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_cancel_withdraws_at_once(void **state) {
  (void)state;
  run_checked(cancel_withdraws_at_once_main, 1);
}

struct to_thread_waiter {
  struct job *job;
  atomic_int *submitting;
  int rc;
};

static int to_thread_waiter_task(void *arg, void **result) {
  struct to_thread_waiter *w = arg;

  atomic_store(w->submitting, 1);
  w->rc = corio_to_thread_ex(job_fn, w->job, count_discard, result);
  return w->rc;
}

/* The same through corio_to_thread: cancelling the task passes the
 * cancellation on to the job's future, which withdraws the job before
 * corio_task_cancel returns. */
static int task_cancel_withdraws_at_once_main(void *arg, void **result) {
  struct gate gate = GATE_INIT;
  struct job blocker, queued;
  atomic_int submitting;
  struct to_thread_waiter w = {&queued, &submitting, 1};
  corio_executor *ex;
  corio_future *fb;
  corio_task *t;
  void *r = NULL;

  (void)arg;
  (void)result;
  atomic_init(&submitting, 0);
  job_init(&blocker, CORIO_PTR(1));
  job_init(&queued, CORIO_PTR(2));
  blocker.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), ex), 0);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, job_fn, &blocker, &fb), 0);
  CHECK_TRUE(task_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  t = spawn_or_fail(to_thread_waiter_task, &w);
  /* The flag is set in the step that submits the job and suspends. */
  CHECK_TRUE(task_wait_flag(&submitting, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_task_cancel(t, "stop"), 1);
  gate_open(&gate);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&queued.started), 0);

  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  CHECK_TRUE(corio_task_cancelled(t));
  CHECK_EQ(w.rc, -ECANCELED);
  corio_task_unref(t);
  CHECK_EQ(corio_future_await(fb, &r), 0);
  CHECK_EQ(CORIO_INT(r), 1);
  corio_future_unref(fb);
  CHECK_EQ(atomic_load(&discards), 0);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_task_cancel_withdraws_at_once(void **state) {
  (void)state;
  run_checked(task_cancel_withdraws_at_once_main, 1);
}

/* A job future completed by hand (it is settable) keeps what was set, and
 * its job, still queued, leaves the queue when the future's done callbacks
 * run: it never starts once the loop has had an iteration. */
static int set_by_hand_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard};
  struct gate gate = GATE_INIT;
  struct job blocker, queued;
  corio_future *fb, *fq;
  corio_executor *ex;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&blocker, CORIO_PTR(1));
  job_init(&queued, CORIO_PTR(2));
  blocker.gate = &gate;
  CHECK_EQ(corio_executor_create(&ex, 1), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, job_fn, &blocker, &fb), 0);
  CHECK_TRUE(task_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_run_in_executor_ex(NULL, ex, job_fn, &queued, &options, &fq),
           0);
  CHECK_EQ(corio_future_set_result(fq, CORIO_PTR(9)), 0);
  CHECK_EQ(corio_future_cancel(fq, NULL), 0);
  CHECK_EQ(corio_sleep(0), 0);
  gate_open(&gate);
  CHECK_EQ(corio_executor_shutdown(ex, 0), 0);
  CHECK_EQ(atomic_load(&queued.started), 0);
  CHECK_EQ(corio_future_await(fq, &r), 0);
  CHECK_EQ(CORIO_INT(r), 9);
  CHECK_EQ(corio_future_await(fb, &r), 0);
  CHECK_EQ(CORIO_INT(r), 1);
  CHECK_EQ(atomic_load(&discards), 0);
  corio_future_unref(fb);
  corio_future_unref(fq);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_set_by_hand_withdraws(void **state) {
  (void)state;
  run_checked(set_by_hand_main, 1);
}

/* ---- results nobody can read --------------------------------------------- */

struct read_in_callback {
  int calls, rc;
  void *value;
};

static void read_result(corio_future *fut, void *arg) {
  struct read_in_callback *c = arg;

  c->calls++;
  c->rc = corio_future_result(fut, &c->value);
}

/* From a task: sleeps on the loop until *count, which the loop's thread
 * writes, is at least value; 1 if it got there within
 * THREAD_TEST_PATIENCE_S, else 0. */
static int task_wait_until(const int *count, int value) {
  double deadline = wall_s() + THREAD_TEST_PATIENCE_S;

  while (*count < value) {
    if (wall_s() > deadline || corio_sleep(0.001) < 0)
      return 0;
  }
  return 1;
}

/* A run_in_executor future nobody holds any more (fire and forget): its
 * result is discarded when it arrives, with the loop running. One still
 * held, or with a done callback of the user's, gets it; an error nobody
 * reads is reported as for any future. */
static int unreadable_main(void *arg, void **result) {
  corio_job_options options = {.discard = count_discard};
  struct job a, b, c, d;
  struct read_in_callback cb = {0, 1, NULL};
  struct reports reports = {0};
  corio_future *f;
  void *r = NULL;

  (void)arg;
  (void)result;
  corio_loop_set_exception_handler(corio_loop_current(), capture_report,
                                   &reports);
  job_init(&a, CORIO_PTR(21));
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, job_fn, &a, &options, &f), 0);
  corio_future_unref(f);
  CHECK_TRUE(task_wait_flag(&discards, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(atomic_load(&discarded), 21);

  job_init(&b, CORIO_PTR(22));
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, job_fn, &b, &options, &f), 0);
  CHECK_TRUE(task_wait_flag(&b.done, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_sleep(0.02), 0);
  CHECK_EQ(corio_future_await(f, &r), 0);
  CHECK_EQ(CORIO_INT(r), 22);
  corio_future_unref(f);

  job_init(&c, CORIO_PTR(23));
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, job_fn, &c, &options, &f), 0);
  CHECK_EQ(corio_future_add_done_callback(f, read_result, &cb), 0);
  corio_future_unref(f);
  CHECK_TRUE(task_wait_flag(&c.done, 1, THREAD_TEST_PATIENCE_S));
  CHECK_TRUE(task_wait_until(&cb.calls, 1));
  CHECK_EQ(cb.calls, 1);
  CHECK_EQ(cb.rc, 0);
  CHECK_EQ(CORIO_INT(cb.value), 23);

  job_init(&d, NULL);
  d.error = -EIO;
  CHECK_EQ(corio_run_in_executor_ex(NULL, NULL, job_fn, &d, &options, &f), 0);
  corio_future_unref(f);
  CHECK_TRUE(task_wait_flag(&d.done, 1, THREAD_TEST_PATIENCE_S));
  CHECK_TRUE(task_wait_until(&reports.count, 1));
  CHECK_EQ(reports.count, 1);
  CHECK_EQ(reports.last_error, -EIO);

  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(atomic_load(&discards), 1);
  return 0;
}

static void test_unreadable_results(void **state) {
  (void)state;
  run_checked(unreadable_main, 1);
}

/* ---- the loop closes under a job ----------------------------------------- */

static int nap(void *arg, void **result) {
  (void)arg;
  (void)result;
  return corio_sleep(0.005);
}

/* Runs loop a little, so that it has run and stopped. */
static void run_a_little(corio_loop *loop) {
  corio_spawn_options opts = {.loop = loop};
  corio_task *t;

  assert_int_equal(corio_spawn_ex(&t, nap, NULL, &opts), 0);
  assert_int_equal(corio_run_until_complete(loop, corio_task_future(t), NULL),
                   0);
  corio_task_unref(t);
}

static void run_a_little_and_close(corio_loop *loop) {
  run_a_little(loop);
  assert_int_equal(corio_loop_close(loop), 0);
}

/* The loop closes under a job: its future is cancelled and the job's
 * result is discarded, once: on the pool thread if the job ends after the
 * close (the loop's memory may go before the job ends, or after), on the
 * closing thread if the outcome was waiting in the loop's queue. For the
 * last, the job runs on an executor of one thread with another job queued
 * behind it: that one starts only once the thread is done with the first,
 * its outcome posted, which nothing else shows. */
enum close_when {
  CLOSE_RUNNING,      /* closed, then the job ends */
  CLOSE_RUNNING_LATE, /* closed and unreferenced, then the job ends */
  CLOSE_POSTED        /* the job ended and posted its outcome, then closed */
};

static void closed_under_job(enum close_when when) {
  corio_test_usage before = corio_test_usage_now();
  corio_job_options options = {.discard = count_discard};
  struct gate gate = GATE_INIT;
  corio_executor *ex = NULL; /* the loop's default, unless CLOSE_POSTED */
  corio_loop *loop;
  corio_future *f, *fnext = NULL;
  struct job j, next;

  reset_discards();
  job_init(&j, CORIO_PTR(55));
  job_init(&next, NULL);
  j.gate = &gate;
  assert_int_equal(corio_loop_create(&loop), 0);
  if (when == CLOSE_POSTED)
    assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_run_in_executor_ex(loop, ex, job_fn, &j, &options, &f),
                   0);
  if (when == CLOSE_POSTED) /* no discard callback: not counted */
    assert_int_equal(corio_run_in_executor(loop, ex, job_fn, &next, &fnext), 0);
  assert_true(thread_wait_flag(&j.started, 1, THREAD_TEST_PATIENCE_S));
  run_a_little(loop);
  if (when == CLOSE_POSTED) {
    /* The loop is not running: the outcome waits in its queue, posted
     * once the thread has gone on to the next job. */
    gate_open(&gate);
    assert_true(thread_wait_flag(&next.started, 1, THREAD_TEST_PATIENCE_S));
    assert_int_equal(atomic_load(&j.done), 1);
    assert_false(corio_future_done(f));
  }
  assert_int_equal(corio_loop_close(loop), 0);
  assert_true(corio_future_done(f));
  assert_true(corio_future_cancelled(f));
  corio_future_unref(f);
  if (when == CLOSE_POSTED) {
    assert_int_equal(atomic_load(&discards), 1);
    assert_true(corio_future_done(fnext));
    corio_future_unref(fnext);
    /* Waits for the thread: the next job is settled after it. */
    assert_int_equal(corio_executor_free(ex), 0);
    assert_int_equal(atomic_load(&next.done), 1);
  } else {
    if (when == CLOSE_RUNNING_LATE)
      corio_loop_unref(loop);
    assert_int_equal(atomic_load(&discards), 0);
    gate_open(&gate);
    assert_true(thread_wait_flag(&discards, 1, THREAD_TEST_PATIENCE_S));
    assert_int_equal(atomic_load(&j.done), 1);
  }
  assert_int_equal(atomic_load(&discarded), 55);
  if (when != CLOSE_RUNNING_LATE)
    corio_loop_unref(loop);
  assert_no_leak_soon(before);
  assert_int_equal(atomic_load(&discards), 1);
}

static void test_loop_closed_while_running(void **state) {
  (void)state;
  closed_under_job(CLOSE_RUNNING);
}

static void test_loop_freed_while_running(void **state) {
  (void)state;
  closed_under_job(CLOSE_RUNNING_LATE);
}

static void test_loop_closed_with_outcome_posted(void **state) {
  (void)state;
  closed_under_job(CLOSE_POSTED);
}

/* Closed while the job is queued on a busy executor of the user's: it
 * never runs; the running one's result is discarded. */
static void test_loop_closed_while_queued(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_job_options options = {.discard = count_discard};
  struct gate gate = GATE_INIT;
  struct job blocker, queued;
  corio_executor *ex;
  corio_loop *loop;
  corio_future *fb, *fq;
  (void)state;

  reset_discards();
  job_init(&blocker, CORIO_PTR(1));
  job_init(&queued, CORIO_PTR(2));
  blocker.gate = &gate;
  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, job_fn, &blocker, &options, &fb), 0);
  assert_int_equal(
      corio_run_in_executor_ex(loop, ex, job_fn, &queued, &options, &fq), 0);
  assert_true(thread_wait_flag(&blocker.started, 1, THREAD_TEST_PATIENCE_S));
  run_a_little_and_close(loop);
  assert_true(corio_future_cancelled(fb));
  assert_true(corio_future_cancelled(fq));
  corio_future_unref(fb);
  corio_future_unref(fq);
  corio_loop_unref(loop);
  gate_open(&gate);
  /* Waits for the threads: both jobs are settled after it. */
  assert_int_equal(corio_executor_free(ex), 0);
  assert_int_equal(atomic_load(&queued.started), 0);
  assert_int_equal(atomic_load(&discards), 1);
  assert_int_equal(atomic_load(&discarded), 1);
  assert_no_leak_soon(before);
}

/* A Runner closed while a cancelled to_thread's job still runs: the close
 * waits for it, and its result is discarded once. */
static int leave_job_running(void *arg, void **result) {
  struct waiter *w = arg;

  (void)result;
  CHECK_EQ(corio_spawn(NULL, waiter_task, w), 0);
  CHECK_TRUE(task_wait_flag(&w->job->started, 1, THREAD_TEST_PATIENCE_S));
  return 0;
}

static void test_runner_closed_while_running(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct job j;
  struct waiter w = {&j, 1, NULL};
  corio_runner *runner;
  atomic_int closing;
  (void)state;

  reset_discards();
  atomic_init(&closing, 0);
  job_init(&j, CORIO_PTR(66));
  /* Ends 60 ms into the close. */
  j.hold = &closing;
  j.sleep_ms = 60;
  assert_int_equal(corio_runner_create(&runner), 0);
  assert_int_equal(corio_runner_run(runner, leave_job_running, &w, NULL), 0);
  assert_checks_passed();
  assert_int_equal(atomic_load(&j.done), 0);
  atomic_store(&closing, 1);
  assert_int_equal(corio_runner_close(runner), 0);
  assert_int_equal(w.rc, -ECANCELED);
  assert_int_equal(atomic_load(&j.done), 1);
  assert_int_equal(atomic_load(&discards), 1);
  assert_int_equal(atomic_load(&discarded), 66);
  corio_test_assert_no_leak(before);
}

/* ---- an explicit executor ------------------------------------------------ */

static int explicit_main(void *arg, void **result) {
  corio_executor *ex, *dflt = NULL;
  corio_future *f;
  struct job j;
  void *r = NULL;

  (void)arg;
  (void)result;
  job_init(&j, CORIO_PTR(4));
  CHECK_EQ(corio_executor_create(&ex, 2), 0);
  CHECK_EQ(corio_run_in_executor(NULL, ex, job_fn, &j, &f), 0);
  CHECK_EQ(corio_future_await(f, &r), 0);
  CHECK_EQ(CORIO_INT(r), 4);
  corio_future_unref(f);
  CHECK_EQ(corio_executor_threads(ex), 1);
  CHECK_EQ(corio_loop_default_executor(corio_loop_current(), &dflt), 0);
  CHECK_TRUE(dflt != ex);
  CHECK_EQ(corio_executor_threads(dflt), 0);
  CHECK_EQ(corio_executor_free(ex), 0);
  return 0;
}

static void test_explicit_executor(void **state) {
  (void)state;
  run_checked(explicit_main, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_outcomes, reset_checks),
      cmocka_unit_test_setup(test_message_reaches_task, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
      cmocka_unit_test_setup(test_context, reset_checks),
      cmocka_unit_test_setup(test_no_context_runs_in_thread_context,
                             reset_checks),
      cmocka_unit_test_setup(test_parallel, reset_checks),
      cmocka_unit_test_setup(test_loop_keeps_running, reset_checks),
      cmocka_unit_test_setup(test_cancel_while_queued, reset_checks),
      cmocka_unit_test_setup(test_cancel_while_running, reset_checks),
      cmocka_unit_test_setup(test_cancel_after_delivery, reset_checks),
      cmocka_unit_test_setup(test_future_cancel, reset_checks),
      cmocka_unit_test_setup(test_cancel_withdraws_at_once, reset_checks),
      cmocka_unit_test_setup(test_task_cancel_withdraws_at_once, reset_checks),
      cmocka_unit_test_setup(test_set_by_hand_withdraws, reset_checks),
      cmocka_unit_test_setup(test_unreadable_results, reset_checks),
      cmocka_unit_test_setup(test_loop_closed_while_running, reset_checks),
      cmocka_unit_test_setup(test_loop_freed_while_running, reset_checks),
      cmocka_unit_test_setup(test_loop_closed_with_outcome_posted,
                             reset_checks),
      cmocka_unit_test_setup(test_loop_closed_while_queued, reset_checks),
      cmocka_unit_test_setup(test_runner_closed_while_running, reset_checks),
      cmocka_unit_test_setup(test_explicit_executor, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
