/* fd watchers with asyncio's meaning: the callback runs in every iteration
 * while the fd is ready, until removed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop_test.h"

struct reader_ctx {
  corio_loop *loop;
  int fd;
  int calls;
  int remove_after; /* remove itself on this call (0: never) */
  int drain;        /* read what is there */
};

static int on_readable(void *arg) {
  struct reader_ctx *r = arg;
  char buf[64];

  r->calls++;
  if (r->drain)
    (void)read(r->fd, buf, sizeof buf);
  if (r->remove_after && r->calls == r->remove_after)
    assert_int_equal(corio_loop_remove_reader(r->loop, r->fd), 1);
  return 0;
}

static void run_iterations(corio_loop *loop, int n) {
  for (int i = 0; i < n; i++) {
    assert_int_equal(corio_loop_stop(loop), 0);
    assert_int_equal(corio_loop_run_forever(loop), 0);
  }
}

static void test_reader_runs_every_iteration_while_ready(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int p[2];
  struct reader_ctx r = {new_loop(), -1, 0, 0, 0};
  (void)state;

  assert_int_equal(pipe(p), 0);
  r.fd = p[0];
  assert_int_equal(corio_loop_add_reader(r.loop, p[0], on_readable, &r), 0);
  run_iterations(r.loop, 2);
  assert_int_equal(r.calls, 0); /* nothing to read yet */
  assert_int_equal(write(p[1], "x", 1), 1);
  /* Level-triggered: the unread byte keeps it ready. */
  run_iterations(r.loop, 3);
  assert_int_equal(r.calls, 3);
  assert_int_equal(corio_loop_remove_reader(r.loop, p[0]), 1);
  assert_int_equal(corio_loop_remove_reader(r.loop, p[0]), 0);
  run_iterations(r.loop, 2);
  assert_int_equal(r.calls, 3);
  /* Closing the fd after removal is fine. */
  close(p[0]);
  close(p[1]);
  corio_loop_unref(r.loop);
  corio_test_assert_no_leak(before);
}

static void test_reader_removes_itself(void **state) {
  int p[2];
  struct reader_ctx r = {new_loop(), -1, 0, 2, 0};
  (void)state;

  assert_int_equal(pipe(p), 0);
  r.fd = p[0];
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(corio_loop_add_reader(r.loop, p[0], on_readable, &r), 0);
  run_iterations(r.loop, 5);
  assert_int_equal(r.calls, 2);
  close(p[0]);
  close(p[1]);
  corio_loop_unref(r.loop);
}

static void test_replacing_a_reader(void **state) {
  int p[2];
  struct reader_ctx first = {new_loop(), -1, 0, 0, 0};
  struct reader_ctx second = {first.loop, -1, 0, 0, 1};
  (void)state;

  assert_int_equal(pipe(p), 0);
  first.fd = second.fd = p[0];
  assert_int_equal(corio_loop_add_reader(first.loop, p[0], on_readable, &first),
                   0);
  assert_int_equal(
      corio_loop_add_reader(first.loop, p[0], on_readable, &second), 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  run_iterations(first.loop, 2);
  assert_int_equal(first.calls, 0);
  assert_int_equal(second.calls, 1); /* drained the byte */
  assert_int_equal(corio_loop_remove_reader(first.loop, p[0]), 1);
  close(p[0]);
  close(p[1]);
  corio_loop_unref(first.loop);
}

struct writer_ctx {
  corio_loop *loop;
  int fd, calls;
};

static int on_writable(void *arg) {
  struct writer_ctx *w = arg;

  if (++w->calls == 2)
    assert_int_equal(corio_loop_remove_writer(w->loop, w->fd), 1);
  return 0;
}

static void test_writer_and_reader_on_one_fd(void **state) {
  int sv[2];
  struct writer_ctx w = {new_loop(), -1, 0};
  struct reader_ctx r = {w.loop, -1, 0, 0, 1};
  (void)state;

  assert_int_equal(pipe(sv), 0);
  close(sv[0]);
  assert_int_equal(pipe(sv), 0);
  w.fd = sv[1];
  r.fd = sv[0];
  assert_int_equal(corio_loop_add_writer(w.loop, sv[1], on_writable, &w), 0);
  assert_int_equal(corio_loop_add_reader(w.loop, sv[0], on_readable, &r), 0);
  run_iterations(w.loop, 4);
  assert_int_equal(w.calls, 2); /* removed itself on the second call */
  assert_int_equal(r.calls, 0);
  assert_int_equal(write(sv[1], "y", 1), 1);
  run_iterations(w.loop, 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(corio_loop_remove_reader(w.loop, sv[0]), 1);
  assert_int_equal(corio_loop_remove_writer(w.loop, sv[1]), 0);
  close(sv[0]);
  close(sv[1]);
  corio_loop_unref(w.loop);
}

static int noop(void *arg) {
  (void)arg;
  return 0;
}

static void test_bad_fds(void **state) {
  corio_loop *loop = new_loop();
  int p[2];
  (void)state;

  assert_int_equal(corio_loop_add_reader(loop, -1, noop, NULL), -EINVAL);
  assert_int_equal(corio_loop_add_reader(NULL, 0, noop, NULL), -EINVAL);
  assert_int_equal(corio_loop_add_reader(loop, 0, NULL, NULL), -EINVAL);
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  close(p[1]);
  /* Unknown (closed) fds: a named error, nothing registered. */
  assert_int_equal(corio_loop_add_reader(loop, p[0], noop, NULL), -EBADF);
  assert_int_equal(corio_loop_add_writer(loop, p[1], noop, NULL), -EBADF);
  assert_int_equal(corio_loop_remove_reader(loop, p[0]), 0);
  assert_int_equal(corio_loop_remove_writer(loop, 100000), 0);
  assert_int_equal(corio_loop_remove_reader(loop, -1), -EINVAL);
  corio_loop_unref(loop);
}

/* Two fds ready in the same iteration; whichever callback runs first
 * removes (or replaces) the other's watcher, which must then not run. */
struct rivals {
  corio_loop *loop;
  int fd[2];
  int calls[2];
  int replaced;
  int replace; /* replace instead of remove */
};

static int replacement(void *arg) {
  ((struct rivals *)arg)->replaced++;
  return 0;
}

static int rival(struct rivals *r, int me) {
  int other = 1 - me;

  r->calls[me]++;
  if (r->replace)
    assert_int_equal(
        corio_loop_add_reader(r->loop, r->fd[other], replacement, r), 0);
  else
    assert_int_equal(corio_loop_remove_reader(r->loop, r->fd[other]), 1);
  assert_int_equal(corio_loop_remove_reader(r->loop, r->fd[me]), 1);
  return 0;
}

static int rival0(void *arg) { return rival(arg, 0); }
static int rival1(void *arg) { return rival(arg, 1); }

static void run_rivals(int replace) {
  int a[2], b[2];
  struct rivals r = {new_loop(), {-1, -1}, {0, 0}, 0, replace};

  assert_int_equal(pipe(a), 0);
  assert_int_equal(pipe(b), 0);
  r.fd[0] = a[0];
  r.fd[1] = b[0];
  assert_int_equal(write(a[1], "a", 1), 1);
  assert_int_equal(write(b[1], "b", 1), 1);
  assert_int_equal(corio_loop_add_reader(r.loop, a[0], rival0, &r), 0);
  assert_int_equal(corio_loop_add_reader(r.loop, b[0], rival1, &r), 0);
  run_iterations(r.loop, 1);
  /* Exactly one ran; the other was removed or replaced while queued. */
  assert_int_equal(r.calls[0] + r.calls[1], 1);
  assert_int_equal(r.replaced, 0);
  if (replace) {
    run_iterations(r.loop, 1);
    assert_int_equal(r.replaced, 1); /* the replacement runs from now on */
    (void)corio_loop_remove_reader(r.loop, a[0]);
    (void)corio_loop_remove_reader(r.loop, b[0]);
  }
  close(a[0]);
  close(a[1]);
  close(b[0]);
  close(b[1]);
  corio_loop_unref(r.loop);
}

static void test_watcher_removed_while_queued_does_not_run(void **state) {
  (void)state;
  run_rivals(0);
}

static void test_watcher_replaced_while_queued_does_not_run(void **state) {
  (void)state;
  run_rivals(1);
}

static void test_regular_files_are_refused_by_every_poller(void **state) {
  corio_loop *loop = new_loop();
  char path[] = "/tmp/corio-test-XXXXXX";
  int fd = mkstemp(path);
  (void)state;

  assert_true(fd >= 0);
  unlink(path);
  /* Always "ready", so never watched: epoll refuses them, and the loop
   * makes poll(2) do the same. */
  assert_int_equal(corio_loop_add_reader(loop, fd, noop, NULL), -EPERM);
  assert_int_equal(corio_loop_add_writer(loop, fd, noop, NULL), -EPERM);
  assert_int_equal(corio_loop_remove_reader(loop, fd), 0);
  close(fd);
  corio_loop_unref(loop);
}

static void test_many_fds(void **state) {
  enum { N = 200 };
  int pipes[N][2];
  struct reader_ctx r[N];
  corio_loop *loop = new_loop();
  (void)state;

  for (int i = 0; i < N; i++) {
    assert_int_equal(pipe(pipes[i]), 0);
    r[i] = (struct reader_ctx){loop, pipes[i][0], 0, 0, 1};
    assert_int_equal(
        corio_loop_add_reader(loop, pipes[i][0], on_readable, &r[i]), 0);
  }
  for (int i = 0; i < N; i += 2)
    assert_int_equal(write(pipes[i][1], "z", 1), 1);
  run_iterations(loop, 2);
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].calls, i % 2 == 0 ? 1 : 0);
    assert_int_equal(corio_loop_remove_reader(loop, pipes[i][0]), 1);
    close(pipes[i][0]);
    close(pipes[i][1]);
  }
  corio_loop_unref(loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_runs_every_iteration_while_ready),
      cmocka_unit_test(test_reader_removes_itself),
      cmocka_unit_test(test_replacing_a_reader),
      cmocka_unit_test(test_writer_and_reader_on_one_fd),
      cmocka_unit_test(test_bad_fds),
      cmocka_unit_test(test_watcher_removed_while_queued_does_not_run),
      cmocka_unit_test(test_watcher_replaced_while_queued_does_not_run),
      cmocka_unit_test(test_regular_files_are_refused_by_every_poller),
      cmocka_unit_test(test_many_fds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
