/* corio built with CORIO_TLS=OFF: the TLS tests are skipped (the build
 * says so), and this checks that the TLS API is there and answers
 * -ENOTSUP, with a message that says why. */
#include "corio/tls.h"
#include "net_test.h"

static int no_handler(corio_stream *s, void *arg) {
  (void)s, (void)arg;
  return 0;
}

static int off_body(void *arg, void **result) {
  corio_tls_context *ctx = (corio_tls_context *)&ctx; /* any non-NULL */
  corio_connect_options co = {0};
  corio_server_options so = {0};
  corio_tls_context *made = NULL;
  corio_server *srv;
  corio_stream *s, *peer_stream;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &made), -ENOTSUP);
  CHECK_PTR(made, NULL);
  CHECK_TRUE(corio_fail_message(-ENOTSUP) != NULL &&
             strstr(corio_fail_message(-ENOTSUP), "CORIO_TLS=OFF") != NULL);
  co.tls = ctx;
  CHECK_EQ(corio_open_connection_ex("127.0.0.1", 1, &co, &s), -ENOTSUP);
  so.tls = ctx;
  CHECK_EQ(corio_start_server(no_handler, NULL, "127.0.0.1", 0, &so, &srv),
           -ENOTSUP);
  CHECK_EQ(stream_pair(&peer_stream, &peer), 0);
  CHECK_EQ(corio_stream_start_tls(peer_stream, ctx, NULL), -ENOTSUP);
  CHECK_EQ(corio_stream_is_tls(peer_stream), 0);
  CHECK_PTR(corio_stream_tls_version(peer_stream), NULL);
  corio_stream_unref(peer_stream);
  close(peer);
  return 0;
}

static void test_tls_off(void **state) {
  (void)state;
  print_message("[  NOTE    ] built with CORIO_TLS=OFF: the TLS tests "
                "(net.tls, net.tls_peers, net.tls_fault) are not built\n");
  assert_int_equal(corio_run(off_body, NULL, NULL), 0);
  assert_checks_passed();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_tls_off, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
