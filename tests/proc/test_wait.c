/* Waiting for children and signalling them: returncodes (exit statuses,
 * minus the signal's number), signals through terminate, kill and
 * send_signal, -ESRCH once reaped, several waiters, cancelled waits and
 * communicates (the child keeps running and stays owned), a child reaped
 * as soon as it exits even when nobody waits, children dropped while
 * running (still reaped: no zombie, no fd left), and loops closed with
 * children running (reported, killed, reaped, nothing left).
 *
 * The same bodies run with the pidfd watcher and, in test_fault, with the
 * fallback thread watcher (see proc_wait_cases.h). */
#include "corio/debug.h"
#include "proc_wait_cases.h"

/* ---- what a dump says of a task waiting for a child ----------------------
 */

struct seen_wait {
  corio_task *task;
  char kind[32];
  char detail[128];
};

static int find_waiter(const corio_task_info *info, void *arg) {
  struct seen_wait *seen = arg;

  if (info->task == seen->task && info->wait_kind) {
    snprintf(seen->kind, sizeof seen->kind, "%s", info->wait_kind);
    snprintf(seen->detail, sizeof seen->detail, "%s", info->wait_detail);
  }
  return 0;
}

static int dump_body(void *arg, void **result) {
  corio_proc_options o = stdio3(PIPE, INHERIT, INHERIT);
  struct seen_wait seen = {0};
  struct waiter w = {NULL, -1};
  char expected[64];
  corio_process *p;
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(w_sh("cat; exit 5", &o, &p), 0);
  if (!p)
    return 0;
  w.p = p;
  CHECK_EQ(corio_spawn(&t, waiter_task, &w), 0);
  seen.task = t;
  /* Until the waiter has suspended in the wait (bounded). */
  for (int i = 0; i < 1000 && !seen.kind[0]; i++) {
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(corio_visit_tasks(NULL, 0, find_waiter, &seen), 0);
  }
  CHECK_STR(seen.kind, "process wait");
  snprintf(expected, sizeof expected, "pid %ld (cat; exit 5)",
           (long)corio_process_pid(p));
  CHECK_STR(seen.detail, expected);
  CHECK_EQ(corio_stream_close(corio_process_stdin(p)), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  CHECK_EQ(w.code, 5);
  corio_task_unref(t);
  corio_process_unref(p);
  return 0;
}

static void test_returncode(void **state) {
  (void)state;
  run_wait_case(returncode_body);
}

static void test_signals(void **state) {
  (void)state;
  run_wait_case(signals_body);
}

static void test_several_waiters(void **state) {
  (void)state;
  run_wait_case(waiters_body);
}

static void test_wait_cancelled(void **state) {
  (void)state;
  run_wait_case(wait_cancelled_body);
}

static void test_communicate_cancelled(void **state) {
  (void)state;
  run_wait_case(communicate_cancelled_body);
}

static void test_reaped_without_wait(void **state) {
  (void)state;
  run_wait_case(reaped_body);
}

static void test_unref_running(void **state) {
  (void)state;
  run_wait_case(unref_running_body);
}

static void test_wait_in_dump(void **state) {
  char name[128];

  (void)state;
  /* The first name libunwind gives starts it up, and it opens a pipe for
   * the process's life (on x86-64, to check addresses are readable): not
   * within run_proc's count of fds. */
  (void)corio_debug_symbol((const void *)(uintptr_t)dump_body, name,
                           sizeof name);
  run_wait_case(dump_body);
}

static void test_loop_closed_with_children(void **state) {
  (void)state;
  check_loop_closed_with_children();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_returncode, reset_checks),
      cmocka_unit_test_setup(test_signals, reset_checks),
      cmocka_unit_test_setup(test_several_waiters, reset_checks),
      cmocka_unit_test_setup(test_wait_cancelled, reset_checks),
      cmocka_unit_test_setup(test_communicate_cancelled, reset_checks),
      cmocka_unit_test_setup(test_reaped_without_wait, reset_checks),
      cmocka_unit_test_setup(test_unref_running, reset_checks),
      cmocka_unit_test_setup(test_wait_in_dump, reset_checks),
      cmocka_unit_test_setup(test_loop_closed_with_children, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
