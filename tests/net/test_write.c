/* The write side: direct writes, what the kernel does not take is
 * buffered and sent in order, drain's high/low water marks with several
 * drainers, write_eof, close (flushes) and abort (drops), errors on a
 * lost connection, no SIGPIPE. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include "corio/combine.h"
#include "net_test.h"

/* Reads from fd (blocking, on another thread-free path: the test calls it
 * only when the bytes are known to be coming) until n bytes or EOF. */
static size_t peer_read(int fd, char *buf, size_t n) {
  size_t got = 0;

  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  return got;
}

/* A stream whose socket takes little at a time. */
static int small_pair(corio_stream **s, int *peer) {
  int rc = stream_pair(s, peer);
  int small = 4096;

  if (rc == 0) {
    setsockopt(corio_stream_fd(*s), SOL_SOCKET, SO_SNDBUF, &small,
               sizeof small);
    setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  return rc;
}

enum { BIG = 1 << 20 };

struct drainer {
  corio_stream *s;
  int rc;
  int done;
};

static int drain_task(void *arg, void **result) {
  struct drainer *d = arg;

  (void)result;
  d->rc = corio_stream_drain(d->s);
  d->done = 1;
  return 0;
}

struct slow_reader {
  int peer;
  char *got;
  size_t n;
};

/* The peer reads everything on a thread of its own, so the test's loop
 * keeps running: the bytes drain at the kernel's pace, no timing. */
static void *peer_reader(void *arg) {
  struct slow_reader *r = arg;

  r->n = peer_read(r->peer, r->got, BIG + 16);
  return NULL;
}

static int buffered_write_body(void *arg, void **result) {
  struct drainer d[3];
  struct slow_reader r = {0};
  corio_task *t[3];
  pthread_t thread;
  char *data = malloc(BIG);
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  r.got = malloc(BIG + 16);
  CHECK_EQ(small_pair(&s, &peer), 0);
  for (size_t i = 0; i < BIG; i++)
    data[i] = (char)(i * 7 + i / 4096);
  /* write never blocks: what the socket did not take is buffered. */
  CHECK_EQ(corio_stream_write(s, data, BIG), 0);
  CHECK_TRUE(corio_stream_write_buffer_size(s) > 0);
  CHECK_TRUE(corio_stream_write_buffer_size(s) <= BIG);
  CHECK_EQ(corio_stream_write(s, "tail", 4), 0);
  /* Several drainers wait together and all return. */
  for (int i = 0; i < 3; i++) {
    d[i] = (struct drainer){s, 1, 0};
    CHECK_EQ(corio_spawn(&t[i], drain_task, &d[i]), 0);
  }
  CHECK_EQ(yield_n(3), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(d[i].done, 0);
  r.peer = peer;
  CHECK_EQ(pthread_create(&thread, NULL, peer_reader, &r), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(corio_task_await(t[i], NULL), 0);
    CHECK_EQ(d[i].rc, 0);
    corio_task_unref(t[i]);
  }
  /* Drained means at or below the low-water mark. */
  CHECK_TRUE(corio_stream_write_buffer_size(s) <=
             CORIO_STREAM_DEFAULT_LOW_WATER);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(r.n, BIG + 4);
  CHECK_TRUE(memcmp(r.got, data, BIG) == 0);
  CHECK_TRUE(memcmp(r.got + BIG, "tail", 4) == 0);
  close(peer);
  corio_stream_unref(s);
  free(data);
  free(r.got);
  return 0;
}

static void test_buffered_write_and_drainers(void **state) {
  (void)state;
  assert_int_equal(corio_run(buffered_write_body, NULL, NULL), 0);
  assert_checks_passed();
}

static int water_marks_body(void *arg, void **result) {
  static char data[8192];
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(small_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 10, 20), -EINVAL);
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 0, 0), 0);
  /* Fill the socket, so that what follows stays in the buffer. */
  fcntl(peer, F_SETFL, O_NONBLOCK);
  while (corio_stream_write_buffer_size(s) == 0)
    CHECK_EQ(corio_stream_write(s, data, sizeof data), 0);
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 1 << 30, 0), 0);
  /* Below the high-water mark drain returns at once. */
  CHECK_EQ(corio_stream_drain(s), 0);
  {
    corio_timeout tm;
    int rc;

    /* Above it drain waits: with nobody reading, until the timeout. */
    CHECK_EQ(corio_stream_set_write_buffer_limits(s, 1, 0), 0);
    CHECK_EQ(corio_timeout_enter(&tm, 0.01), 0);
    rc = corio_stream_drain(s);
    CHECK_EQ(corio_timeout_exit(&tm, rc), -ETIMEDOUT);
  }
  /* A cancelled drain left the data queued. */
  CHECK_TRUE(corio_stream_write_buffer_size(s) > 0);
  /* Raising the limits wakes nobody wrongly and unpauses. */
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 1 << 30, 1 << 29), 0);
  CHECK_EQ(corio_stream_drain(s), 0);
  CHECK_EQ(corio_stream_abort(s), 0);
  /* Abort dropped the buffer and closed at once. */
  CHECK_EQ(corio_stream_write_buffer_size(s), 0);
  CHECK_EQ(corio_stream_fd(s), -1);
  CHECK_EQ(corio_stream_write(s, "x", 1), CORIO_ESTREAMCLOSED);
  CHECK_EQ(corio_stream_drain(s), -ECONNRESET);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_water_marks_abort(void **state) {
  (void)state;
  assert_int_equal(corio_run(water_marks_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* A drainer woken because close sent everything has succeeded (as
 * asyncio's drain waiter); the next drain reports the closed stream. */
static int close_while_draining_body(void *arg, void **result) {
  struct drainer d;
  struct slow_reader r = {0};
  pthread_t thread;
  corio_task *t;
  char *data = malloc(BIG);
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  r.got = malloc(BIG + 16);
  CHECK_EQ(small_pair(&s, &peer), 0);
  memset(data, 'd', BIG);
  CHECK_EQ(corio_stream_write(s, data, BIG), 0);
  /* The drainer is woken only when the buffer is empty: by the flush
   * that also closes the socket. */
  CHECK_EQ(corio_stream_set_write_buffer_limits(s, 1, 0), 0);
  d = (struct drainer){s, 1, 0};
  CHECK_EQ(corio_spawn(&t, drain_task, &d), 0);
  CHECK_EQ(yield_n(2), 0);
  CHECK_EQ(d.done, 0);
  CHECK_EQ(corio_stream_close(s), 0);
  r.peer = peer;
  CHECK_EQ(pthread_create(&thread, NULL, peer_reader, &r), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(d.rc, 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(r.n, BIG);
  CHECK_EQ(corio_stream_drain(s), -ECONNRESET);
  close(peer);
  corio_stream_unref(s);
  free(data);
  free(r.got);
  return 0;
}

static void test_close_while_draining(void **state) {
  (void)state;
  assert_int_equal(corio_run(close_while_draining_body, NULL, NULL), 0);
  assert_checks_passed();
}

static int eof_close_body(void *arg, void **result) {
  char buf[16] = {0};
  char ab[] = "ab", empty[] = "";
  struct iovec iov[2] = {{ab, 2}, {empty, 0}};
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_can_write_eof(s), 1);
  CHECK_EQ(corio_stream_writev(s, iov, 2), 0);
  {
    corio_bytes rest[2] = {{"c", 1}, {"d", 1}};
    CHECK_EQ(corio_stream_writelines(s, rest, 2), 0);
    CHECK_EQ(corio_stream_writelines(s, NULL, 1), -EINVAL);
  }
  CHECK_EQ(corio_stream_write_eof(s), 0);
  CHECK_EQ(corio_stream_write_eof(s), 0);
  CHECK_EQ(corio_stream_write(s, "x", 1), CORIO_EWRITEEOF);
  CHECK_EQ(peer_read(peer, buf, sizeof buf), 4);
  CHECK_STR(buf, "abcd");
  /* Half-closed: the other direction still works. */
  peer_send(peer, "back");
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readexactly(s, buf, 4, NULL), 0);
  CHECK_STR(buf, "back");
  /* close: reads see what is buffered, then EOF; writes are refused. */
  peer_send(peer, "late");
  CHECK_EQ(wait_buffered(s, 4), 0);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_is_closing(s), 1);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_write(s, "x", 1), CORIO_ESTREAMCLOSED);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, NULL), 0);
  CHECK_STR(buf, "late");
  {
    size_t n = 9;
    CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
    CHECK_EQ(n, 0);
  }
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    CHECK_EQ(corio_stream_peername(s, (struct sockaddr *)&ss, &len),
             CORIO_ESTREAMCLOSED);
  }
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_write_eof_close(void **state) {
  (void)state;
  assert_int_equal(corio_run(eof_close_body, NULL, NULL), 0);
  assert_checks_passed();
}

static int lost_body(void *arg, void **result) {
  char buf[8];
  size_t n;
  corio_stream *s;
  int peer, rc;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  peer_send(peer, "bye");
  CHECK_EQ(wait_buffered(s, 3), 0);
  close(peer);
  /* No SIGPIPE (the test would die): an error instead, and it sticks. */
  rc = corio_stream_write(s, "x", 1);
  CHECK_EQ(rc, -EPIPE);
  CHECK_EQ(corio_stream_write(s, "x", 1), -EPIPE);
  CHECK_EQ(corio_stream_drain(s), -EPIPE);
  /* What had arrived is still read first, then the error. */
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 3);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), -EPIPE);
  corio_stream_unref(s);
  return 0;
}

static void test_lost_connection(void **state) {
  (void)state;
  assert_int_equal(corio_run(lost_body, NULL, NULL), 0);
  assert_checks_passed();
}

static int misuse_body(void *arg, void **result) {
  corio_stream *s;
  char buf[4];
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_read(NULL, buf, 4, NULL), -EINVAL);
  CHECK_EQ(corio_stream_read(s, NULL, 4, NULL), -EINVAL);
  CHECK_EQ(corio_stream_write(NULL, "x", 1), -EINVAL);
  CHECK_EQ(corio_stream_write(s, NULL, 1), -EINVAL);
  CHECK_EQ(corio_stream_writev(s, NULL, 1), -EINVAL);
  CHECK_EQ(corio_stream_writev(s, NULL, -1), -EINVAL);
  CHECK_EQ(corio_stream_drain(NULL), -EINVAL);
  CHECK_EQ(corio_stream_close(NULL), -EINVAL);
  CHECK_EQ(corio_stream_abort(NULL), -EINVAL);
  CHECK_EQ(corio_stream_open_fd(NULL, -1, NULL, &s), -EINVAL);
  {
    corio_stream *f;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    /* A regular file cannot be watched. */
    CHECK_EQ(corio_stream_open_fd(NULL, fd, NULL, &f), -EPERM);
  }
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_misuse(void **state) {
  (void)state;
  assert_int_equal(corio_run(misuse_body, NULL, NULL), 0);
  assert_checks_passed();
}

/* Every fd a stream opened is closed again, whichever way it ended. */
static void test_no_fd_leak(void **state) {
  int before = open_fds();

  (void)state;
  test_buffered_write_and_drainers(state);
  test_write_eof_close(state);
  test_lost_connection(state);
  test_water_marks_abort(state);
  assert_int_equal(open_fds(), before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_buffered_write_and_drainers, reset_checks),
      cmocka_unit_test_setup(test_water_marks_abort, reset_checks),
      cmocka_unit_test_setup(test_write_eof_close, reset_checks),
      cmocka_unit_test_setup(test_close_while_draining, reset_checks),
      cmocka_unit_test_setup(test_lost_connection, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
      cmocka_unit_test_setup(test_no_fd_leak, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
