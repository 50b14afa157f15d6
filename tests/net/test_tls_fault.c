/* Fault walks over TLS: the Nth OpenSSL object creation (SSL_CTX_new,
 * SSL_new, BIO_new: CORIO__FAULT_TLS), the Nth allocation of corio's,
 * and the Nth recv and send fail, for N = 1, 2, ... until an exchange
 * gets through without reaching an Nth call. Each failure must come back
 * as a negative code, never a crash; no fd and no allocation may be left
 * behind (Valgrind and ASan watch OpenSSL's memory); and the same loop
 * then serves a fresh TLS connection. */
#include "core/alloc.h"
#include "core/fault.h"
#include "corio/combine.h"
#include "tls_test.h"

struct walk {
  enum corio__fault_point point;
  int fired;
  int fresh_rc;
};

static int echo_line(corio_stream *s, void *arg) {
  char line[64];
  size_t n;
  int rc;

  (void)arg;
  if ((rc = corio_stream_readline(s, line, sizeof line, &n)) < 0)
    return rc;
  return corio_stream_write_all(s, line, n);
}

/* Contexts, a TLS server, a TLS connection, a line there and back, and
 * everything closed. Returns the first error. */
static int exchange(void) {
  corio_tls_context *sctx = NULL, *cctx = NULL;
  corio_server_options so = {0};
  corio_connect_options co = {0};
  corio_server *srv = NULL;
  corio_stream *s = NULL;
  char line[64] = {0};
  size_t n;
  int rc;

  if ((rc = corio_tls_context_new(CORIO_TLS_SERVER, &sctx)) < 0 ||
      (rc = corio_tls_context_load_cert_chain(sctx, certs.server, certs.key)) <
          0 ||
      (rc = corio_tls_context_new(CORIO_TLS_CLIENT, &cctx)) < 0 ||
      (rc = corio_tls_context_load_verify_locations(cctx, certs.ca, NULL)) < 0)
    goto done;
  so.tls = sctx;
  if ((rc = corio_start_server(echo_line, NULL, "127.0.0.1", 0, &so, &srv)) < 0)
    goto done;
  co.tls = cctx;
  co.server_hostname = "localhost";
  co.tls_shutdown_timeout = 5;
  if ((rc = corio_open_connection_ex("127.0.0.1", corio_server_port(srv), &co,
                                     &s)) < 0)
    goto done;
  if ((rc = corio_stream_write_all(s, "ping\n", 5)) < 0 ||
      (rc = corio_stream_readline(s, line, sizeof line, &n)) < 0)
    goto done;
  if (n != 5 || memcmp(line, "ping\n", 5) != 0)
    rc = -EPROTO; /* the server's side failed: EOF */
done:
  if (s) {
    (void)corio_stream_close(s);
    (void)corio_stream_wait_closed(s);
    corio_stream_unref(s);
  }
  if (srv) {
    (void)corio_server_close(srv);
    (void)corio_server_wait_closed(srv);
    corio_server_unref(srv);
  }
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(cctx);
  return rc;
}

static int walk_body(void *arg, void **result) {
  struct walk *w = arg;
  corio_timeout guard;
  int rc;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet_handler, NULL);
  /* Only a guard against a hang. */
  rc = corio_timeout_enter(&guard, 20);
  if (rc == 0)
    rc = corio_timeout_exit(&guard, exchange());
  w->fired = corio__fault_fired(w->point);
  corio__fault_arm(w->point, 0);
  w->fresh_rc = exchange();
  return rc;
}

static const char *point_name(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_TLS:
    return "tls";
  case CORIO__FAULT_ALLOC:
    return "alloc";
  case CORIO__FAULT_RECV:
    return "recv";
  case CORIO__FAULT_SEND:
    return "send";
  case CORIO__FAULT_URING_ENTER:
    return "io_uring_enter";
  default:
    return "?";
  }
}

/* Allocations whose loss is absorbed (a message's copy) may let the
 * exchange succeed; so may a send that fails on the server's side after
 * the client has its reply. Everywhere else the error shows. */
static int may_recover(enum corio__fault_point p) {
  return p == CORIO__FAULT_ALLOC || p == CORIO__FAULT_SEND ||
         p == CORIO__FAULT_RECV || p == CORIO__FAULT_URING_ENTER;
}

/* On io_uring (the .uring variant) streams receive and send through the
 * ring: few recv and send calls are left to walk, and the ring's
 * submissions are walked instead (test_walk_uring). */
static int on_uring(void) {
  return strcmp(corio_test_backend(), "io_uring") == 0;
}

static long walk(enum corio__fault_point point) {
  struct walk w = {0};
  long n;

  w.point = point;
  for (n = 1;; n++) {
    corio_test_usage before;
    int fds, rc;

    reset_checks(NULL);
    corio_test_release_pools();
    before = corio_test_usage_now();
    fds = open_fds();
    w.fired = 0;
    w.fresh_rc = 1;
    corio__fault_arm(point, n);
    rc = corio_run(walk_body, &w, NULL);
    if (corio__fault_fired(point))
      w.fired = 1;
    corio__fault_arm(point, 0);
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr, "walk %s: call %ld fired %d rc %d fresh %d\n",
              point_name(point), n, w.fired, rc, w.fresh_rc);
    if (!w.fired) {
      assert_int_equal(rc, 0);
      assert_int_equal(w.fresh_rc, 0);
      assert_checks_passed();
      return n - 1;
    }
    if (rc > 0 || (rc == 0 && !may_recover(point))) {
      print_error("%s: failing call %ld gave %d\n", point_name(point), n, rc);
      fail();
    }
    if (w.fresh_rc != 1 && w.fresh_rc != 0) {
      print_error("%s: after failing call %ld the loop could not serve "
                  "again: %d\n",
                  point_name(point), n, w.fresh_rc);
      fail();
    }
    if (open_fds() != fds) {
      print_error("%s: failing call %ld leaked %d fds\n", point_name(point), n,
                  open_fds() - fds);
      fail();
    }
    corio_test_assert_no_leak(before);
    assert_checks_passed();
  }
}

static void test_walk_tls(void **state) {
  (void)state;
  /* Contexts (2), SSL and BIO on both sides (4): at least 6 points. */
  assert_true(walk(CORIO__FAULT_TLS) >= 6);
}

static void test_walk_alloc(void **state) {
  (void)state;
  assert_true(walk(CORIO__FAULT_ALLOC) > 6);
}

static void test_walk_recv(void **state) {
  long walked = walk(CORIO__FAULT_RECV);

  (void)state;
  if (!on_uring())
    assert_true(walked > 2);
}

static void test_walk_send(void **state) {
  long walked = walk(CORIO__FAULT_SEND);

  (void)state;
  if (!on_uring())
    assert_true(walked > 2);
}

/* The enter of each iteration: a failure stops the run with its error
 * (or, for a removal's submission, is tolerated); corio_run's shutdown
 * cleans up either way. */
static void test_walk_uring(void **state) {
  (void)state;
  if (!on_uring())
    skip();
  assert_true(walk(CORIO__FAULT_URING_ENTER) > 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_tls),   cmocka_unit_test(test_walk_alloc),
      cmocka_unit_test(test_walk_recv),  cmocka_unit_test(test_walk_send),
      cmocka_unit_test(test_walk_uring),
  };
  return cmocka_run_group_tests(tests, certs_setup, certs_teardown);
}
