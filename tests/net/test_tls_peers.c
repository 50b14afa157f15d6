/* corio's TLS against independent peers on 127.0.0.1: `openssl s_server`
 * and `openssl s_client` (OpenSSL's own tools), and Python's ssl module
 * as client and server (1 MiB both ways, a client certificate, ALPN). A
 * peer that cannot be started makes its test say why and skip. */
#include "tls_test.h"

enum { BIG = 1 << 20 };

static int have_openssl(void) { return have_command("openssl version"); }

static int have_python_ssl(void) {
  return have_command("python3 -c 'import ssl'");
}

/* Runs body where the peer (what) can be started; skips, saying so,
 * where it cannot. */
static void run_with_peer(int have_peer, const char *what, corio_task_fn body) {
  if (!have_peer) {
    print_message("[  SKIPPED ] %s cannot be started\n", what);
    skip();
  }
  assert_int_equal(corio_run(body, NULL, NULL), 0);
  assert_checks_passed();
}

/* Reads lines of the child's stdout until one starts with prefix; the
 * rest of that line into rest. */
static int wait_line(child *c, const char *prefix, char *rest, size_t size) {
  char line[256];
  size_t n;
  int rc;

  for (;;) {
    memset(line, 0, sizeof line);
    if ((rc = corio_stream_readline(c->out, line, sizeof line - 1, &n)) < 0)
      return rc;
    if (n == 0)
      return -EPIPE;
    if (strncmp(line, prefix, strlen(prefix)) == 0) {
      const char *p = line + strlen(prefix);
      size_t len = strlen(p);

      if (len >= size)
        return -ENOBUFS;
      memcpy(rest, p, len + 1);
      return 0;
    }
  }
}

/* Reads the child's whole stdout, which must be `want`, then waits for
 * it to exit with status 0. */
static void check_child_output(child *c, const char *want) {
  char out[256] = {0};
  size_t n;

  CHECK_EQ(corio_stream_read_all(c->out, out, sizeof out - 1, &n), 0);
  CHECK_STR(out, want);
  CHECK_EQ(child_finish(c, 0), 0);
}

/* ---- corio client, openssl s_server -------------------------------------- */

static int s_server_body(void *arg, void **result) {
  char *argv[] = {"openssl", "s_server",   "-accept", "127.0.0.1:0",
                  "-cert",   certs.server, "-key",    certs.key,
                  "-www",    "-naccept",   "1",       NULL};
  corio_tls_context *cctx = client_ctx();
  char port[32], reply[8192] = {0};
  corio_stream *s;
  child c;
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  CHECK_EQ(child_start(&c, argv), 0);
  /* "ACCEPT 127.0.0.1:PORT" */
  CHECK_EQ(wait_line(&c, "ACCEPT 127.0.0.1:", port, sizeof port), 0);
  CHECK_EQ(tls_connect(cctx, atoi(port), &s), 0);
  CHECK_STR(corio_stream_tls_version(s), "TLSv1.3");
  CHECK_EQ(corio_stream_write_all(s, "GET / HTTP/1.0\r\n\r\n", 18), 0);
  CHECK_EQ(corio_stream_read_all(s, reply, sizeof reply - 1, &n), 0);
  CHECK_TRUE(strncmp(reply, "HTTP/1.0 200 ok", 15) == 0);
  /* -www lists the session: the cipher corio negotiated is in it. */
  CHECK_TRUE(strstr(reply, corio_stream_tls_cipher(s)) != NULL);
  close_stream(s);
  CHECK_EQ(child_finish(&c, 0), 0);
  corio_tls_context_unref(cctx);
  CHECK_EQ(open_fds(), fds);
  return 0;
}

static void test_openssl_s_server(void **state) {
  (void)state;
  run_with_peer(have_openssl(), "the openssl command", s_server_body);
}

/* ---- corio server, openssl s_client -------------------------------------- */

static int upper_handler(corio_stream *s, void *arg) {
  char line[256];
  size_t n;
  int rc;

  (void)arg;
  if ((rc = corio_stream_readline(s, line, sizeof line, &n)) < 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (line[i] >= 'a' && line[i] <= 'z')
      line[i] = (char)(line[i] - 'a' + 'A');
  return corio_stream_write_all(s, line, n);
}

static int s_client_body(void *arg, void **result) {
  corio_tls_context *sctx = server_ctx(certs.server);
  char target[64];
  char *argv[] = {"openssl",
                  "s_client",
                  "-connect",
                  target,
                  "-CAfile",
                  certs.ca,
                  "-verify_return_error",
                  "-verify_hostname",
                  "localhost",
                  "-servername",
                  "localhost",
                  "-quiet",
                  NULL};
  corio_server *srv;
  child c;

  (void)arg, (void)result;
  CHECK_EQ(start_tls_server(upper_handler, NULL, sctx, 0, &srv), 0);
  snprintf(target, sizeof target, "127.0.0.1:%d", corio_server_port(srv));
  CHECK_EQ(child_start(&c, argv), 0);
  CHECK_EQ(corio_stream_write_all(c.in, "hello tls\n", 10), 0);
  /* s_client prints what the server sent, and ends when it closes. */
  check_child_output(&c, "HELLO TLS\n");
  stop_server(srv);
  corio_tls_context_unref(sctx);
  return 0;
}

static void test_openssl_s_client(void **state) {
  (void)state;
  run_with_peer(have_openssl(), "the openssl command", s_client_body);
}

/* ---- Python ssl client, corio server ------------------------------------- */

/* Sends "size N" and N bytes, reads them back; prints the version and
 * ALPN. */
static const char python_client[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
    "ctx.set_alpn_protocols(['h2', 'http/1.1'])\n"
    "big = bytes(range(256)) * 4096\n"
    "with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as raw:\n"
    "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
    "        s.sendall(b'size %d\\n' % len(big))\n"
    "        got = bytearray()\n"
    "        sent = 0\n"
    "        s.setblocking(True)\n"
    "        while sent < len(big):\n"
    "            sent += s.send(big[sent:sent + 65536])\n"
    "            while len(got) < sent - 100000:\n"
    "                got += s.recv(65536)\n"
    "        while len(got) < len(big):\n"
    "            got += s.recv(65536)\n"
    "        assert bytes(got) == big\n"
    "        print(s.version(), s.selected_alpn_protocol(), flush=True)\n";

static int size_echo_handler(corio_stream *s, void *arg) {
  char line[64], buf[32768];
  size_t n, left;
  int rc;

  (void)arg;
  if ((rc = corio_stream_readline(s, line, sizeof line - 1, &n)) < 0)
    return rc;
  line[n] = 0;
  if (strncmp(line, "size ", 5) != 0)
    return -EPROTO;
  left = strtoul(line + 5, NULL, 10);
  while (left > 0) {
    size_t want = left < sizeof buf ? left : sizeof buf;

    if ((rc = corio_stream_read(s, buf, want, &n)) < 0)
      return rc;
    if (n == 0)
      return CORIO_EINCOMPLETEREAD;
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      return rc;
    left -= n;
  }
  return 0;
}

static int python_client_body(void *arg, void **result) {
  static const char *const alpn[] = {"http/1.1"};
  corio_tls_context *sctx = server_ctx(certs.server);
  char port[16], code[sizeof python_client];
  char *argv[] = {"python3", "-c", code, port, certs.ca, NULL};
  corio_server *srv;
  child c;

  (void)arg, (void)result;
  memcpy(code, python_client, sizeof code);
  CHECK_EQ(corio_tls_context_set_alpn_protocols(sctx, alpn, 1), 0);
  CHECK_EQ(start_tls_server(size_echo_handler, NULL, sctx, 0, &srv), 0);
  snprintf(port, sizeof port, "%d", corio_server_port(srv));
  CHECK_EQ(child_start(&c, argv), 0);
  check_child_output(&c, "TLSv1.3 http/1.1\n");
  stop_server(srv);
  corio_tls_context_unref(sctx);
  return 0;
}

static void test_python_client(void **state) {
  (void)state;
  run_with_peer(have_python_ssl(), "python3 with ssl", python_client_body);
}

/* ---- corio client, Python ssl server ------------------------------------- */

/* Requires a client certificate from the test CA; a line comes back
 * reversed; prints the port, then the client's CN and the ALPN. */
static const char python_server[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ctx.load_verify_locations(sys.argv[3])\n"
    "ctx.verify_mode = ssl.CERT_REQUIRED\n"
    "ctx.set_alpn_protocols(['h2', 'http/1.1'])\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0))\n"
    "ls.listen()\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "raw, _ = ls.accept()\n"
    "s = ctx.wrap_socket(raw, server_side=True)\n"
    "line = b''\n"
    "while not line.endswith(b'\\n'):\n"
    "    line += s.recv(100)\n"
    "s.sendall(line[-2::-1] + b'\\n')\n"
    "cn = dict(x[0] for x in s.getpeercert()['subject'])['commonName']\n"
    "s.unwrap()\n"
    "s.close()\n"
    "print(cn, flush=True)\n";

static int python_server_body(void *arg, void **result) {
  static const char *const alpn[] = {"http/1.1", "h2"};
  corio_tls_context *cctx = client_ctx();
  char code[sizeof python_server];
  char *argv[] = {"python3", "-c",     code, certs.server,
                  certs.key, certs.ca, NULL};
  char line[64] = {0};
  corio_stream *s;
  child c;
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  memcpy(code, python_server, sizeof code);
  CHECK_EQ(corio_tls_context_load_cert_chain(cctx, certs.client, certs.key), 0);
  CHECK_EQ(corio_tls_context_set_alpn_protocols(cctx, alpn, 2), 0);
  CHECK_EQ(child_start(&c, argv), 0);
  CHECK_EQ(corio_stream_readline(c.out, line, sizeof line - 1, &n), 0);
  CHECK_TRUE(n > 1);
  CHECK_EQ(tls_connect(cctx, atoi(line), &s), 0);
  /* Python picks from its own list the first the client offers. */
  CHECK_STR(corio_stream_tls_alpn(s), "h2");
  CHECK_EQ(corio_stream_write_all(s, "abc\n", 4), 0);
  memset(line, 0, sizeof line);
  CHECK_EQ(corio_stream_readline(s, line, sizeof line - 1, &n), 0);
  CHECK_STR(line, "cba\n");
  /* unwrap: Python's close_notify reads as EOF. */
  CHECK_EQ(corio_stream_read(s, line, sizeof line, &n), 0);
  CHECK_EQ(n, 0);
  close_stream(s);
  check_child_output(&c, "client\n");
  corio_tls_context_unref(cctx);
  CHECK_EQ(open_fds(), fds);
  return 0;
}

static void test_python_server(void **state) {
  (void)state;
  run_with_peer(have_python_ssl(), "python3 with ssl", python_server_body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_openssl_s_server, reset_checks),
      cmocka_unit_test_setup(test_openssl_s_client, reset_checks),
      cmocka_unit_test_setup(test_python_client, reset_checks),
      cmocka_unit_test_setup(test_python_server, reset_checks),
  };
  return cmocka_run_group_tests(tests, certs_setup, certs_teardown);
}
