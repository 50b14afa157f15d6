/* Streams: every read form against bytes that arrive exactly when the
 * test says (the peer is the other end of a socketpair), the limit rules,
 * the zero-copy view, EOF in the middle of each form, and that a
 * cancelled read consumes nothing. */
#include <stdarg.h>
#include <stddef.h>

#include "corio/combine.h"
#include "net_test.h"

static int run(corio_task_fn fn) { return corio_run(fn, NULL, NULL); }

/* ---- read ---------------------------------------------------------------- */

static int read_body(void *arg, void **result) {
  char buf[16];
  size_t n = 99;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_read(s, buf, 0, &n), 0);
  CHECK_EQ(n, 0);
  peer_send(peer, "hello");
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 5);
  CHECK_TRUE(memcmp(buf, "hello", 5) == 0);
  peer_send(peer, "abcdef");
  CHECK_EQ(wait_buffered(s, 6), 0);
  CHECK_EQ(corio_stream_read(s, buf, 4, &n), 0);
  CHECK_EQ(n, 4);
  CHECK_EQ(corio_stream_buffered(s), 2);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 2);
  CHECK_TRUE(memcmp(buf, "ef", 2) == 0);
  CHECK_EQ(corio_stream_at_eof(s), 0);
  shutdown(peer, SHUT_WR);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(corio_stream_at_eof(s), 1);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_read(void **state) {
  (void)state;
  assert_int_equal(run(read_body), 0);
  assert_checks_passed();
}

/* ---- readexactly -----------------------------------------------------------
 */

struct later_send {
  int peer;
  const char *parts[4];
};

/* Sends each part after letting the reader wait one more time. */
static int send_later(void *arg, void **result) {
  struct later_send *ls = arg;

  (void)result;
  for (int i = 0; i < 4 && ls->parts[i]; i++) {
    int rc = yield_n(3);
    if (rc < 0)
      return rc;
    peer_send(ls->peer, ls->parts[i]);
  }
  return 0;
}

static int readexactly_body(void *arg, void **result) {
  struct later_send ls = {0};
  corio_task *sender;
  char buf[16] = {0};
  size_t n = 0;
  corio_stream *s;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &ls.peer), 0);
  ls.parts[0] = "ab";
  ls.parts[1] = "cd";
  ls.parts[2] = "efg";
  CHECK_EQ(corio_spawn(&sender, send_later, &ls), 0);
  CHECK_EQ(corio_stream_readexactly(s, buf, 4, &n), 0);
  CHECK_EQ(n, 4);
  CHECK_TRUE(memcmp(buf, "abcd", 4) == 0);
  CHECK_EQ(corio_task_await(sender, NULL), 0);
  corio_task_unref(sender);
  CHECK_EQ(corio_stream_readexactly(s, buf, 0, &n), 0);
  CHECK_EQ(n, 0);
  /* EOF after 3 of 5: the partial bytes come back with the error. */
  shutdown(ls.peer, SHUT_WR);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readexactly(s, buf, 5, &n), CORIO_EINCOMPLETEREAD);
  CHECK_EQ(n, 3);
  CHECK_STR(buf, "efg");
  CHECK_EQ(corio_stream_readexactly(s, buf, 1, &n), CORIO_EINCOMPLETEREAD);
  CHECK_EQ(n, 0);
  close(ls.peer);
  corio_stream_unref(s);
  return 0;
}

static void test_readexactly(void **state) {
  (void)state;
  assert_int_equal(run(readexactly_body), 0);
  assert_checks_passed();
}

/* ---- readline / readuntil
 * ---------------------------------------------------- */

static int readline_body(void *arg, void **result) {
  struct later_send ls = {0};
  corio_task *sender;
  char buf[32];
  size_t n;
  corio_stream *s;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &ls.peer), 0);
  ls.parts[0] = "li";
  ls.parts[1] = "ne1\nline2\nre";
  ls.parts[2] = "st";
  CHECK_EQ(corio_spawn(&sender, send_later, &ls), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 6);
  CHECK_STR(buf, "line1\n");
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "line2\n");
  CHECK_EQ(corio_task_await(sender, NULL), 0);
  corio_task_unref(sender);
  CHECK_EQ(wait_buffered(s, 4), 0);
  shutdown(ls.peer, SHUT_WR);
  /* At EOF the rest is the last line, then 0 bytes. */
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 4);
  CHECK_STR(buf, "rest");
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  close(ls.peer);
  corio_stream_unref(s);
  return 0;
}

static void test_readline(void **state) {
  (void)state;
  assert_int_equal(run(readline_body), 0);
  assert_checks_passed();
}

static int readuntil_body(void *arg, void **result) {
  struct later_send ls = {0};
  corio_task *sender;
  char buf[64];
  size_t n;
  corio_stream *s;
  corio_bytes seps[2] = {{"yz", 2}, {"axy", 3}};

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &ls.peer), 0);
  /* A multi-byte separator split across arrivals. */
  ls.parts[0] = "GET / HTTP/1.1\r\nHost: a\r\n\r";
  ls.parts[1] = "\nbody";
  CHECK_EQ(corio_spawn(&sender, send_later, &ls), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readuntil(s, "\r\n\r\n", 4, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 27);
  CHECK_STR(buf, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_EQ(corio_task_await(sender, NULL), 0);
  corio_task_unref(sender);
  /* Several separators: the shortest chunk ending with any of them,
   * whatever their order. */
  peer_send(ls.peer, "axyzb");
  CHECK_EQ(wait_buffered(s, 9), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readuntil_any(s, seps, 2, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "bodyaxy");
  /* A chunk that fits the limit but not the caller's buffer: nothing is
   * consumed, and the size needed is reported. */
  peer_send(ls.peer, "0123456789;");
  CHECK_EQ(wait_buffered(s, 13), 0);
  CHECK_EQ(corio_stream_readuntil(s, ";", 1, buf, 4, &n), -ENOBUFS);
  CHECK_EQ(n, 13);
  CHECK_EQ(corio_stream_buffered(s), 13);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readuntil(s, ";", 1, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "zb0123456789;");
  /* EOF before the separator: the rest, consumed, with the error. */
  peer_send(ls.peer, "tail");
  shutdown(ls.peer, SHUT_WR);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n),
           CORIO_EINCOMPLETEREAD);
  CHECK_EQ(n, 4);
  CHECK_STR(buf, "tail");
  /* Bad separators. */
  CHECK_EQ(corio_stream_readuntil(s, "", 0, buf, sizeof buf, &n), -EINVAL);
  CHECK_EQ(corio_stream_readuntil_any(s, seps, 0, buf, sizeof buf, &n),
           -EINVAL);
  CHECK_EQ(corio_stream_readuntil(s, NULL, 1, buf, sizeof buf, &n), -EINVAL);
  close(ls.peer);
  corio_stream_unref(s);
  return 0;
}

static void test_readuntil(void **state) {
  (void)state;
  assert_int_equal(run(readuntil_body), 0);
  assert_checks_passed();
}

/* ---- the limit -------------------------------------------------------------
 */

static int limit_body(void *arg, void **result) {
  char buf[64];
  size_t n;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_limit(s), CORIO_STREAM_DEFAULT_LIMIT);
  CHECK_EQ(corio_stream_set_limit(s, 8), 0);
  CHECK_EQ(corio_stream_limit(s), 8);
  /* No separator within the limit: an error, and the data stays. */
  peer_send(peer, "0123456789abcdef");
  CHECK_EQ(wait_buffered(s, 16), 0);
  CHECK_EQ(corio_stream_readuntil(s, ";", 1, buf, sizeof buf, &n),
           CORIO_ELIMITOVERRUN);
  CHECK_EQ(n, 16);
  CHECK_EQ(corio_stream_buffered(s), 16);
  /* readline drops what it cannot return: here everything buffered. */
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), CORIO_ELIMITOVERRUN);
  CHECK_EQ(corio_stream_buffered(s), 0);
  /* A newline past the limit: the line goes, up to its newline. */
  peer_send(peer, "0123456789\nok\n");
  CHECK_EQ(wait_buffered(s, 14), 0);
  CHECK_EQ(corio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n),
           CORIO_ELIMITOVERRUN);
  CHECK_EQ(n, 10); /* asyncio's consumed: where the separator starts */
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), CORIO_ELIMITOVERRUN);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "ok\n");
  /* A line of exactly the limit plus its separator is fine. */
  peer_send(peer, "01234567\n");
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "01234567\n");
  /* peek at or past the limit cannot be satisfied. */
  {
    const void *view;
    CHECK_EQ(corio_stream_peek(s, 8, &view, &n), CORIO_ELIMITOVERRUN);
  }
  CHECK_EQ(corio_stream_set_limit(s, 0), 0);
  CHECK_EQ(corio_stream_limit(s), CORIO_STREAM_DEFAULT_LIMIT);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_limit(void **state) {
  (void)state;
  assert_int_equal(run(limit_body), 0);
  assert_checks_passed();
}

/* Reading pauses above twice the limit and resumes when a reader wants
 * more: while nobody reads, the buffer stops at the first read past the
 * pause point however much the peer sends. */
static int pause_body(void *arg, void **result) {
  static char chunk[4096];
  char buf[4096];
  size_t n, total = 0;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  CHECK_EQ(corio_stream_set_limit(s, 1024), 0);
  memset(chunk, 'p', sizeof chunk);
  peer_send(peer, "0123456789abcdef0123456789abcdef"); /* 32 bytes */
  total = 32;
  for (long i = 0; i < 1000000 && corio_stream_buffered(s) < 32; i++)
    CHECK_EQ(yield_n(1), 0);
  CHECK_EQ(corio_stream_buffered(s), 32);
  /* Fill the buffer past 2 x 1024 in one read, then the socket itself. */
  for (int i = 0; i < 4; i++)
    if (write(peer, chunk, 1024) == 1024)
      total += 1024;
  for (long i = 0; i < 1000000 && corio_stream_buffered(s) < total; i++)
    CHECK_EQ(yield_n(1), 0);
  CHECK_EQ(corio_stream_buffered(s), total);
  fcntl(peer, F_SETFL, O_NONBLOCK);
  for (;;) {
    ssize_t w = write(peer, chunk, sizeof chunk);
    if (w <= 0)
      break;
    total += (size_t)w;
  }
  CHECK_EQ(corio_sleep(0.02), 0);
  CHECK_EQ(corio_stream_buffered(s), 32 + 4096);
  /* A reader resumes it: everything arrives, in order, nothing lost. */
  shutdown(peer, SHUT_WR);
  CHECK_EQ(corio_stream_readexactly(s, buf, 32, &n), 0);
  total -= 32;
  for (;;) {
    CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
    if (n == 0)
      break;
    for (size_t i = 0; i < n; i++)
      if (buf[i] != 'p')
        CHECK_EQ(buf[i], 'p');
    total -= n;
  }
  CHECK_EQ(total, 0);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_pause_resume(void **state) {
  (void)state;
  assert_int_equal(run(pause_body), 0);
  assert_checks_passed();
}

/* ---- zero copy, read_all ------------------------------------------------ */

static int peek_body(void *arg, void **result) {
  const void *view;
  char buf[8];
  size_t len, n;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  peer_send(peer, "abc");
  CHECK_EQ(corio_stream_peek(s, 0, &view, &len), 0);
  CHECK_TRUE(len >= 1 && len <= 3);
  CHECK_EQ(wait_buffered(s, 3), 0);
  CHECK_EQ(corio_stream_peek(s, 0, &view, &len), 0);
  CHECK_EQ(len, 3);
  CHECK_TRUE(memcmp(view, "abc", 3) == 0);
  CHECK_EQ(corio_stream_consume(s, 1), 0);
  CHECK_EQ(corio_stream_consume(s, 5), -EINVAL);
  CHECK_EQ(corio_stream_peek(s, 0, &view, &len), 0);
  CHECK_EQ(len, 2);
  CHECK_TRUE(memcmp(view, "bc", 2) == 0);
  peer_send(peer, "de");
  /* More than what is seen: waits for the next bytes. */
  CHECK_EQ(corio_stream_peek(s, 2, &view, &len), 0);
  CHECK_TRUE(len > 2);
  CHECK_EQ(corio_stream_consume(s, len), 0);
  /* read_all: everything up to EOF, or -ENOBUFS with nothing taken. */
  peer_send(peer, "0123456789");
  shutdown(peer, SHUT_WR);
  CHECK_EQ(corio_stream_read_all(s, buf, sizeof buf, &n), -ENOBUFS);
  CHECK_EQ(n, 10);
  {
    char big[16] = {0};
    CHECK_EQ(corio_stream_read_all(s, big, sizeof big, &n), 0);
    CHECK_EQ(n, 10);
    CHECK_STR(big, "0123456789");
  }
  CHECK_EQ(corio_stream_peek(s, 0, &view, &len), 0);
  CHECK_EQ(len, 0);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_peek_consume_read_all(void **state) {
  (void)state;
  assert_int_equal(run(peek_body), 0);
  assert_checks_passed();
}

/* ---- cancellation loses nothing ----------------------------------------- */

struct reader {
  corio_stream *s;
  char buf[32];
  size_t n;
  int rc;
};

static int readexactly_task(void *arg, void **result) {
  struct reader *r = arg;

  (void)result;
  r->rc = corio_stream_readexactly(r->s, r->buf, 10, &r->n);
  return r->rc;
}

static int cancel_body(void *arg, void **result) {
  struct reader r = {0};
  corio_task *t;
  char buf[32] = {0};
  size_t n;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&r.s, &peer), 0);
  CHECK_EQ(corio_spawn(&t, readexactly_task, &r), 0);
  CHECK_EQ(yield_n(2), 0);
  /* A second reader while one waits is refused. */
  CHECK_EQ(corio_stream_read(r.s, buf, sizeof buf, &n), CORIO_EREADBUSY);
  peer_send(peer, "12345");
  for (long i = 0; i < 1000000 && corio_stream_buffered(r.s) < 5; i++)
    CHECK_EQ(yield_n(1), 0);
  CHECK_EQ(corio_stream_buffered(r.s), 5);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  CHECK_EQ(r.rc, -ECANCELED);
  CHECK_EQ(r.n, 0);
  /* The five bytes are all still there. */
  CHECK_EQ(corio_stream_readexactly(r.s, buf, 5, &n), 0);
  CHECK_STR(buf, "12345");
  /* Under a timeout scope: the same, as -ETIMEDOUT. */
  peer_send(peer, "678");
  CHECK_EQ(wait_buffered(r.s, 3), 0);
  {
    corio_timeout tm;
    int rc;
    CHECK_EQ(corio_timeout_enter(&tm, 0), 0);
    rc = corio_stream_readexactly(r.s, buf, 10, &n);
    CHECK_EQ(corio_timeout_exit(&tm, rc), -ETIMEDOUT);
  }
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readexactly(r.s, buf, 3, &n), 0);
  CHECK_STR(buf, "678");
  close(peer);
  corio_stream_unref(r.s);
  return 0;
}

static void test_cancelled_read_loses_nothing(void **state) {
  (void)state;
  assert_int_equal(run(cancel_body), 0);
  assert_checks_passed();
}

/* A reader woken by a close stays the stream's reader until it has run:
 * a second task cannot take its bytes in between, and the woken
 * readuntil resumes its search where it was. */
struct until_reader {
  corio_stream *s;
  char buf[16];
  size_t n;
  int rc;
};

static int readuntil_task(void *arg, void **result) {
  struct until_reader *r = arg;

  (void)result;
  r->rc = corio_stream_readuntil(r->s, "\r\n", 2, r->buf, sizeof r->buf, &r->n);
  return 0;
}

static int woken_reader_body(void *arg, void **result) {
  struct until_reader r = {0};
  corio_task *t;
  char buf[16];
  size_t n;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&r.s, &peer), 0);
  peer_send(peer, "abc");
  CHECK_EQ(wait_buffered(r.s, 3), 0);
  CHECK_EQ(corio_spawn(&t, readuntil_task, &r), 0);
  CHECK_EQ(yield_n(2), 0);
  CHECK_EQ(corio_stream_read(r.s, buf, sizeof buf, &n), CORIO_EREADBUSY);
  /* close wakes the reader (queued: this is a task); until it runs the
   * bytes are still its. */
  CHECK_EQ(corio_stream_close(r.s), 0);
  CHECK_EQ(corio_stream_read(r.s, buf, sizeof buf, &n), CORIO_EREADBUSY);
  CHECK_EQ(corio_stream_consume(r.s, 1), CORIO_EREADBUSY);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.rc, CORIO_EINCOMPLETEREAD);
  CHECK_EQ(r.n, 3);
  CHECK_TRUE(memcmp(r.buf, "abc", 3) == 0);
  close(peer);
  corio_stream_unref(r.s);
  return 0;
}

static void test_woken_reader_keeps_its_bytes(void **state) {
  (void)state;
  assert_int_equal(run(woken_reader_body), 0);
  assert_checks_passed();
}

/* At EOF a last line longer than the caller's buffer is not split. */
static int long_last_line_body(void *arg, void **result) {
  char buf[16] = {0};
  size_t n;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(stream_pair(&s, &peer), 0);
  peer_send(peer, "lastline");
  shutdown(peer, SHUT_WR);
  CHECK_EQ(wait_buffered(s, 8), 0);
  CHECK_EQ(corio_stream_readline(s, buf, 4, &n), -ENOBUFS);
  CHECK_EQ(n, 8);
  CHECK_EQ(corio_stream_buffered(s), 8);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "lastline");
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_long_last_line_not_split(void **state) {
  (void)state;
  assert_int_equal(run(long_last_line_body), 0);
  assert_checks_passed();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_read, reset_checks),
      cmocka_unit_test_setup(test_readexactly, reset_checks),
      cmocka_unit_test_setup(test_readline, reset_checks),
      cmocka_unit_test_setup(test_readuntil, reset_checks),
      cmocka_unit_test_setup(test_limit, reset_checks),
      cmocka_unit_test_setup(test_pause_resume, reset_checks),
      cmocka_unit_test_setup(test_peek_consume_read_all, reset_checks),
      cmocka_unit_test_setup(test_cancelled_read_loses_nothing, reset_checks),
      cmocka_unit_test_setup(test_woken_reader_keeps_its_bytes, reset_checks),
      cmocka_unit_test_setup(test_long_last_line_not_split, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
