/* Fault injection over every allocation and syscall of the loop's own
 * code: each failure is a clean error, nothing leaks, and the loop works
 * afterwards. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "loop_test.h"

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop;
  (void)e;
  (void)arg;
}

/* A loop's whole life, using each part once. */
static int loop_life(void *ctx) {
  corio_loop *loop;
  corio_handle *h = NULL;
  int p[2], rc;
  (void)ctx;

  if ((rc = corio_loop_create(&loop)) < 0)
    return rc;
  corio_loop_set_exception_handler(loop, quiet, NULL);
  assert_int_equal(pipe(p), 0);
  if ((rc = corio_loop_call_soon(loop, noop, NULL, NULL)) < 0 ||
      (rc = corio_loop_call_later(loop, 0.001, noop, NULL, &h)) < 0 ||
      (rc = corio_loop_add_reader(loop, p[0], noop, NULL)) < 0 ||
      (rc = corio_loop_add_signal_handler(loop, SIGUSR1, noop, NULL)) < 0 ||
      (rc = corio_loop_call_soon_threadsafe(loop, stop_loop, loop)) < 0)
    goto out;
  rc = corio_loop_run_forever(loop);
out:
  corio_handle_unref(h);
  corio_loop_unref(loop);
  close(p[0]);
  close(p[1]);
  return rc;
}

static int checked_life(void *ctx) {
  int fds = corio_test_open_fds();
  struct sigaction now;
  int rc = loop_life(ctx);

  assert_int_equal(corio_test_open_fds(), fds);
  assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
  /* Only a failed restore (injected: sigaction cannot fail for a signal it
   * just accepted) may leave the loop's disarmed handler in place. */
  if (now.sa_handler != SIG_DFL) {
    assert_true(corio__fault_fired(CORIO__FAULT_SIGACTION));
    signal(SIGUSR1, SIG_DFL);
  }
  return rc;
}

/* Unregistering an fd the loop is about to close, or restoring a signal
 * disposition at close, may fail harmlessly (the handler is disarmed):
 * there a run may succeed (corio_test_negative_or_tolerated). Nothing may
 * leak either way. */

static void test_walk_every_point(void **state) {
  static const struct {
    enum corio__fault_point point;
    void (*check)(int rc);
  } walks[] = {
      {CORIO__FAULT_ALLOC, corio_test_negative},
      {CORIO__FAULT_EPOLL_CREATE, corio_test_negative},
      {CORIO__FAULT_EVENTFD, corio_test_negative},
      {CORIO__FAULT_PIPE, corio_test_negative},
      {CORIO__FAULT_SIGACTION, corio_test_negative_or_tolerated},
      {CORIO__FAULT_FCNTL, corio_test_negative},
      {CORIO__FAULT_FSTAT, corio_test_negative},
      {CORIO__FAULT_EPOLL_CTL, corio_test_negative_or_tolerated},
      {CORIO__FAULT_POLL, corio_test_negative},
      /* io_uring (CORIO_POLLER=io_uring): a refused setup falls back to
       * epoll, so the life may succeed; a failed probe or enable is an
       * error, registering the ring's fd is optional; a failed enter
       * stops the loop with its error, unless it was the removal's
       * submission (tolerated, as the epoll_ctl of a removal). */
      {CORIO__FAULT_URING_SETUP, corio_test_negative_or_tolerated},
      {CORIO__FAULT_URING_REGISTER, corio_test_negative_or_tolerated},
      {CORIO__FAULT_URING_ENTER, corio_test_negative_or_tolerated},
  };
  long total = 0, uring = 0;
  int on_uring = strcmp(corio_test_backend(), "io_uring") == 0;
  (void)state;

  for (size_t i = 0; i < sizeof walks / sizeof walks[0]; i++) {
    long n = corio_test_fault_walk(walks[i].point, checked_life, NULL,
                                   walks[i].check);
    total += n;
    if (walks[i].point >= CORIO__FAULT_URING_SETUP)
      uring += n;
  }
  /* At least the loop, its handle pool, eventfd, pipe and sigaction. */
  assert_true(total >= 5);
  /* On io_uring: setup, probe, enable, ring fd, a wait at least. */
  if (on_uring)
    assert_true(uring >= 5);
  assert_int_equal(loop_life(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_every_point),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
