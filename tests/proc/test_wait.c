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
#include "proc_wait_cases.h"

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
      cmocka_unit_test_setup(test_loop_closed_with_children, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
