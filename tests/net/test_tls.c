/* TLS streams, corio against corio on 127.0.0.1: echo of large data both
 * ways, lines and exact reads across record boundaries (also through a
 * proxy that cuts records into small pieces), many connections at once,
 * the verification failures with their codes and messages, client
 * certificates, ALPN, start_tls, the handshake and shutdown timeouts,
 * abort, cancellation, write_eof, EOF rules, and a loop that closes with
 * TLS streams open. Every case checks that no fd is left behind. */
#include <math.h>
#include <openssl/ssl.h>

#include "corio/combine.h"
#include "corio/sync.h"
#include "tls_test.h"

enum { BIG = (1 << 20) + 12345 };

/* ---- a server ------------------------------------------------------------ */

/* Echoes everything until EOF. */
static int echo_handler(corio_stream *s, void *arg) {
  char buf[16384];
  size_t n;
  int rc;

  (void)arg;
  handler_calls++;
  while ((rc = corio_stream_read(s, buf, sizeof buf, &n)) == 0 && n > 0)
    if ((rc = corio_stream_write_all(s, buf, n)) < 0)
      break;
  return rc == -ECONNRESET ? 0 : rc;
}

/* ---- echo of 1 MiB both ways --------------------------------------------- */

struct sender {
  corio_stream *s;
  const char *data;
  size_t len;
};

static int send_all(void *arg, void **result) {
  struct sender *w = arg;
  size_t done = 0;

  (void)result;
  /* Uneven pieces: records of many sizes. */
  for (size_t piece = 1; done < w->len; piece = piece * 3 + 7) {
    size_t n = piece % 40000 + 1;
    int rc;

    if (n > w->len - done)
      n = w->len - done;
    if ((rc = corio_stream_write_all(w->s, w->data + done, n)) < 0)
      return rc;
    done += n;
  }
  return 0;
}

static int echo_big_body(void *arg, void **result) {
  char *big = malloc(BIG), *back = malloc(BIG);
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  struct sender w;
  corio_server *srv;
  corio_task *t;
  corio_stream *s;
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  for (size_t i = 0; i < BIG; i++)
    big[i] = (char)(i * 131 + i / 4099);
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_TRUE(corio_stream_is_tls(s));
  CHECK_STR(corio_stream_tls_version(s), "TLSv1.3");
  CHECK_TRUE(corio_stream_tls_cipher(s) != NULL);
  CHECK_TRUE(corio_stream_tls_ssl(s) != NULL);
  {
    char subject[128];

    CHECK_EQ(corio_stream_tls_peer_subject(s, subject, sizeof subject), 0);
    CHECK_STR(subject, "CN=localhost");
  }
  w.s = s;
  w.data = big;
  w.len = BIG;
  CHECK_EQ(corio_spawn(&t, send_all, &w), 0);
  CHECK_EQ(corio_stream_readexactly(s, back, BIG, &n), 0);
  CHECK_EQ(n, BIG);
  CHECK_TRUE(memcmp(back, big, BIG) == 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  corio_stream_unref(s);
  finish_case(srv, sctx, cctx, fds);
  free(big);
  free(back);
  return 0;
}

LOOP_TEST(test_echo_big, echo_big_body)

/* ---- record boundaries --------------------------------------------------- */

/* Lines cut at odd places, one record per write, the loop turning
 * between writes. */
static int pieces_handler(corio_stream *s, void *arg) {
  static const char *pieces[] = {"hel", "lo\nwor", "ld\n", "0123",
                                 "456", "789",     "tail"};

  (void)arg;
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    int rc = corio_stream_write_all(s, pieces[i], strlen(pieces[i]));

    if (rc < 0)
      return rc;
    (void)yield_n(2);
  }
  return 0; /* the server closes: close_notify, then EOF */
}

static int boundaries_body(void *arg, void **result) {
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  char buf[64] = {0};
  corio_server *srv;
  corio_stream *s;
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(start_tls_server(pieces_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 6);
  CHECK_TRUE(memcmp(buf, "hello\n", 6) == 0);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_TRUE(n == 6 && memcmp(buf, "world\n", 6) == 0);
  CHECK_EQ(corio_stream_readexactly(s, buf, 10, &n), 0);
  CHECK_TRUE(n == 10 && memcmp(buf, "0123456789", 10) == 0);
  /* close_notify reads as EOF after the rest. */
  CHECK_EQ(corio_stream_readexactly(s, buf, 10, &n), CORIO_EINCOMPLETEREAD);
  CHECK_TRUE(n == 4 && memcmp(buf, "tail", 4) == 0);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_TRUE(corio_stream_at_eof(s));
  corio_stream_unref(s);
  stop_server(srv);
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(cctx);
  return 0;
}

LOOP_TEST(test_record_boundaries, boundaries_body)

/* ---- a proxy that cuts records into pieces ------------------------------- */

struct proxy {
  int target_port;
  corio_event half_sent; /* set once the pause point is reached */
  corio_event go_on;     /* the test lets the rest go */
  size_t pause_at;       /* server->client byte to pause at, 0: none */
  size_t down_total;     /* server->client bytes forwarded */
};

struct pipe_dir {
  corio_stream *from, *to;
  struct proxy *p;
  int pause;
};

static int forward(void *arg, void **result) {
  struct pipe_dir *d = arg;
  size_t total = 0;
  char buf[7];
  size_t n;
  int rc;

  (void)result;
  while ((rc = corio_stream_read(d->from, buf, sizeof buf, &n)) == 0 && n > 0) {
    if (d->pause && d->p->pause_at && total < d->p->pause_at &&
        total + n >= d->p->pause_at) {
      size_t first = d->p->pause_at - total;

      if ((rc = corio_stream_write_all(d->to, buf, first)) < 0)
        break;
      corio_event_set(&d->p->half_sent);
      if ((rc = corio_event_wait(&d->p->go_on)) < 0)
        break;
      if ((rc = corio_stream_write_all(d->to, buf + first, n - first)) < 0)
        break;
    } else if ((rc = corio_stream_write_all(d->to, buf, n)) < 0) {
      break;
    }
    total += n;
    if (d->pause)
      d->p->down_total = total;
    (void)yield_n(1);
  }
  (void)corio_stream_close(d->to);
  return 0;
}

static int proxy_handler(corio_stream *s, void *arg) {
  struct proxy *p = arg;
  struct pipe_dir up, down;
  corio_task *a, *b;
  corio_stream *t;
  int rc;

  if ((rc = corio_open_connection("127.0.0.1", p->target_port, &t)) < 0)
    return rc;
  up = (struct pipe_dir){s, t, p, 0};
  down = (struct pipe_dir){t, s, p, 1};
  CHECK_EQ(corio_spawn(&a, forward, &up), 0);
  CHECK_EQ(corio_spawn(&b, forward, &down), 0);
  (void)corio_task_await(a, NULL);
  (void)corio_task_await(b, NULL);
  corio_task_unref(a);
  corio_task_unref(b);
  corio_stream_unref(t);
  return 0;
}

/* Sends one long line in one record, then EOF. */
static int line_handler(corio_stream *s, void *arg) {
  char line[3001];
  char got[8];
  size_t n;

  (void)arg;
  memset(line, 'x', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  /* Wait for the client's go, so that its reader is in place. */
  if (corio_stream_readexactly(s, got, 3, &n) < 0)
    return 0;
  return corio_stream_write_all(s, line, sizeof line);
}

struct line_reader {
  corio_stream *s;
  char buf[4096];
  size_t n;
};

static int read_line_task(void *arg, void **result) {
  struct line_reader *r = arg;

  (void)result;
  return corio_stream_readline(r->s, r->buf, sizeof r->buf, &r->n);
}

static int mid_record_body(void *arg, void **result) {
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  struct proxy p = {0};
  struct line_reader r = {0};
  corio_server *srv, *px;
  corio_task *t;
  int fds = open_fds();

  (void)arg, (void)result;
  corio_event_init(&p.half_sent);
  corio_event_init(&p.go_on);
  /* No session tickets (through the escape hatch): after the handshake
   * the server sends nothing but the line. */
  CHECK_EQ(SSL_CTX_set_num_tickets(corio_tls_context_ssl_ctx(sctx), 0), 1);
  CHECK_EQ(start_tls_server(line_handler, NULL, sctx, 0, &srv), 0);
  p.target_port = corio_server_port(srv);
  CHECK_EQ(corio_start_server(proxy_handler, &p, "127.0.0.1", 0, NULL, &px), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(px), &r.s), 0);
  /* Pause 1500 bytes into the line's record: the client then holds part
   * of a record, and its reader waits for the rest. */
  p.pause_at = p.down_total + 1500;
  CHECK_EQ(corio_spawn(&t, read_line_task, &r), 0);
  CHECK_EQ(corio_stream_write_all(r.s, "go\n", 3), 0);
  CHECK_EQ(corio_event_wait(&p.half_sent), 0);
  (void)yield_n(5);
  CHECK_EQ(corio_stream_buffered(r.s), 0);
  CHECK_TRUE(!corio_task_done(t));
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  corio_event_set(&p.go_on);
  /* A new reader gets the whole line: nothing was lost. */
  CHECK_EQ(corio_stream_readline(r.s, r.buf, sizeof r.buf, &r.n), 0);
  CHECK_EQ(r.n, 3001);
  CHECK_TRUE(r.buf[0] == 'x' && r.buf[2999] == 'x' && r.buf[3000] == '\n');
  corio_stream_unref(r.s);
  stop_server(px);
  finish_case(srv, sctx, cctx, fds);
  return 0;
}

LOOP_TEST(test_cancel_mid_record, mid_record_body)

/* ---- many connections ---------------------------------------------------- */

enum { CLIENTS = 40 };

struct many {
  corio_tls_context *ctx;
  int port;
  int ok;
};

static int one_client(void *arg, void **result) {
  struct many *m = arg;
  char line[64], back[64] = {0};
  corio_stream *s;
  size_t n;
  int rc;

  (void)result;
  if ((rc = tls_connect(m->ctx, m->port, &s)) < 0)
    return rc;
  snprintf(line, sizeof line, "client %p\n", (void *)&n);
  rc = corio_stream_write_all(s, line, strlen(line));
  if (rc == 0)
    rc = corio_stream_readline(s, back, sizeof back, &n);
  if (rc == 0 && strcmp(line, back) == 0)
    m->ok++;
  close_stream(s);
  return rc;
}

static int many_body(void *arg, void **result) {
  corio_tls_context *sctx = server_ctx(certs.server);
  struct many m = {0};
  corio_task *tasks[CLIENTS];
  corio_server *srv;
  int fds = open_fds();

  (void)arg, (void)result;
  m.ctx = client_ctx();
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0, &srv), 0);
  m.port = corio_server_port(srv);
  for (int i = 0; i < CLIENTS; i++)
    CHECK_EQ(corio_spawn(&tasks[i], one_client, &m), 0);
  for (int i = 0; i < CLIENTS; i++) {
    CHECK_EQ(corio_task_await(tasks[i], NULL), 0);
    corio_task_unref(tasks[i]);
  }
  CHECK_EQ(m.ok, CLIENTS);
  stop_server(srv);
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(m.ctx);
  CHECK_EQ(fds_settled(fds), fds);
  return 0;
}

LOOP_TEST(test_many_connections, many_body)

/* ---- verification -------------------------------------------------------- */

struct verify_case {
  const char *cert;
  const char *hostname;
  int want;
  const char *message;
};

static int verify_body(void *arg, void **result) {
  const struct verify_case *c = arg;
  corio_tls_context *sctx = server_ctx(c->cert), *cctx = client_ctx();
  corio_connect_options o = {0};
  corio_server *srv;
  corio_stream *s = NULL;
  int fds = open_fds(), rc;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet_handler, NULL);
  handler_calls = 0;
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0, &srv), 0);
  o.tls = cctx;
  o.server_hostname = c->hostname;
  rc = corio_open_connection_ex("127.0.0.1", corio_server_port(srv), &o, &s);
  CHECK_EQ(rc, c->want);
  CHECK_PTR(s, NULL);
  CHECK_TRUE(message_has(rc, c->message));
  (void)yield_n(5);
  stop_server(srv);
  CHECK_EQ(handler_calls, 0);
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(cctx);
  CHECK_EQ(fds_settled(fds), fds);
  return 0;
}

static void run_verify(const char *cert, const char *hostname, int want,
                       const char *message) {
  struct verify_case c = {cert, hostname, want, message};

  assert_int_equal(corio_run(verify_body, &c, NULL), 0);
  assert_checks_passed();
}

static void test_verify_expired(void **state) {
  (void)state;
  run_verify(certs.expired, "localhost", CORIO_ETLSVERIFY,
             "certificate verify failed: certificate has expired");
}

static void test_verify_wrong_host(void **state) {
  (void)state;
  run_verify(certs.wrong_host, "localhost", CORIO_ETLSVERIFY,
             "certificate verify failed: hostname mismatch");
}

static void test_verify_self_signed(void **state) {
  (void)state;
  run_verify(certs.self_signed, "localhost", CORIO_ETLSVERIFY,
             "certificate verify failed: self");
}

/* The address itself is checked when it is the name connected to. */
static void test_verify_ip_address(void **state) {
  (void)state;
  run_verify(certs.wrong_host, NULL, CORIO_ETLSVERIFY,
             "certificate verify failed: IP address mismatch");
}

/* ---- client certificates ------------------------------------------------- */

static char seen_subject[128];

static int subject_handler(corio_stream *s, void *arg) {
  (void)arg;
  handler_calls++;
  (void)corio_stream_tls_peer_subject(s, seen_subject, sizeof seen_subject);
  return corio_stream_write_all(s, "hi\n", 3);
}

static int client_cert_body(void *arg, void **result) {
  int with_cert = *(int *)arg;
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  corio_server *srv;
  corio_stream *s;
  char buf[16];
  size_t n;
  int fds = open_fds(), rc;

  (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet_handler, NULL);
  handler_calls = 0;
  seen_subject[0] = 0;
  CHECK_EQ(corio_tls_context_load_verify_locations(sctx, certs.ca, NULL), 0);
  CHECK_EQ(corio_tls_context_set_verify(sctx, CORIO_TLS_VERIFY_REQUIRED), 0);
  if (with_cert)
    CHECK_EQ(corio_tls_context_load_cert_chain(cctx, certs.client, certs.key),
             0);
  CHECK_EQ(start_tls_server(subject_handler, NULL, sctx, 0, &srv), 0);
  /* TLS 1.3: the client's handshake is over before the server has
   * checked its certificate; a refusal shows on the first read. */
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  rc = corio_stream_readline(s, buf, sizeof buf, &n);
  if (with_cert) {
    CHECK_EQ(rc, 0);
    CHECK_EQ(n, 3);
    CHECK_STR(seen_subject, "CN=client");
    CHECK_EQ(handler_calls, 1);
  } else {
    CHECK_EQ(rc, CORIO_ETLS);
    CHECK_TRUE(message_has(rc, "certificate required"));
    CHECK_EQ(handler_calls, 0);
  }
  close_stream(s);
  finish_case(srv, sctx, cctx, fds);
  return 0;
}

static void test_client_cert_missing(void **state) {
  int with_cert = 0;

  (void)state;
  assert_int_equal(corio_run(client_cert_body, &with_cert, NULL), 0);
  assert_checks_passed();
}

static void test_client_cert_given(void **state) {
  int with_cert = 1;

  (void)state;
  assert_int_equal(corio_run(client_cert_body, &with_cert, NULL), 0);
  assert_checks_passed();
}

/* ---- protocol versions --------------------------------------------------- */

static int version_body(void *arg, void **result) {
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  corio_server *srv;
  corio_stream *s = NULL;
  int rc;

  (void)arg, (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet_handler, NULL);
  CHECK_EQ(corio_tls_context_set_maximum_version(sctx, CORIO_TLS_VERSION_1_2),
           0);
  CHECK_EQ(corio_tls_context_set_minimum_version(cctx, CORIO_TLS_VERSION_1_3),
           0);
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0, &srv), 0);
  rc = tls_connect(cctx, corio_server_port(srv), &s);
  CHECK_EQ(rc, CORIO_ETLSVERSION);
  CHECK_TRUE(message_has(rc, "protocol version"));
  /* Both at 1.2: it works, and says so. */
  CHECK_EQ(corio_tls_context_set_minimum_version(cctx, CORIO_TLS_VERSION_1_2),
           0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_STR(corio_stream_tls_version(s), "TLSv1.2");
  corio_stream_unref(s);
  stop_server(srv);
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(cctx);
  return 0;
}

LOOP_TEST(test_version_mismatch, version_body)

/* ---- ALPN ---------------------------------------------------------------- */

static char server_alpn[32];

static int alpn_handler(corio_stream *s, void *arg) {
  const char *p = corio_stream_tls_alpn(s);

  (void)arg;
  snprintf(server_alpn, sizeof server_alpn, "%s", p ? p : "(none)");
  return 0;
}

static int alpn_body(void *arg, void **result) {
  const char *const *server_list = *(const char *const **)arg;
  static const char *const offer[] = {"h2", "http/1.1"};
  corio_tls_context *sctx = server_ctx(certs.server), *cctx = client_ctx();
  corio_server *srv;
  corio_stream *s;
  char buf[4];
  size_t n;

  (void)result;
  server_alpn[0] = 0;
  CHECK_EQ(corio_tls_context_set_alpn_protocols(sctx, server_list, 1), 0);
  CHECK_EQ(corio_tls_context_set_alpn_protocols(cctx, offer, 2), 0);
  CHECK_EQ(start_tls_server(alpn_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0); /* EOF */
  if (strcmp(server_list[0], "http/1.1") == 0) {
    CHECK_STR(corio_stream_tls_alpn(s), "http/1.1");
    CHECK_STR(server_alpn, "http/1.1");
  } else {
    CHECK_PTR(corio_stream_tls_alpn(s), NULL);
    CHECK_STR(server_alpn, "(none)");
  }
  corio_stream_unref(s);
  stop_server(srv);
  corio_tls_context_unref(sctx);
  corio_tls_context_unref(cctx);
  return 0;
}

static void test_alpn(void **state) {
  static const char *const list[] = {"http/1.1"};
  const char *const *p = list;

  (void)state;
  assert_int_equal(corio_run(alpn_body, &p, NULL), 0);
  assert_checks_passed();
}

static void test_alpn_mismatch(void **state) {
  static const char *const list[] = {"spdy/3"};
  const char *const *p = list;

  (void)state;
  assert_int_equal(corio_run(alpn_body, &p, NULL), 0);
  assert_checks_passed();
}

/* ---- start_tls ----------------------------------------------------------- */

static corio_tls_context *starttls_server_ctx;

/* A line in the clear, "STARTTLS", then the echo over TLS. */
static int starttls_handler(corio_stream *s, void *arg) {
  char line[32];
  size_t n;
  int rc;

  (void)arg;
  if ((rc = corio_stream_readline(s, line, sizeof line, &n)) < 0)
    return rc;
  if (n != 9 || memcmp(line, "STARTTLS\n", 9) != 0)
    return -EPROTO;
  if ((rc = corio_stream_write_all(s, "OK\n", 3)) < 0)
    return rc;
  CHECK_TRUE(!corio_stream_is_tls(s));
  if ((rc = corio_stream_start_tls(s, starttls_server_ctx, NULL)) < 0)
    return rc;
  CHECK_TRUE(corio_stream_is_tls(s));
  return echo_handler(s, NULL);
}

static int starttls_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx();
  corio_tls_options o = {0};
  corio_server *srv;
  corio_stream *s;
  char buf[32] = {0};
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  starttls_server_ctx = server_ctx(certs.server);
  CHECK_EQ(
      corio_start_server(starttls_handler, NULL, "127.0.0.1", 0, NULL, &srv),
      0);
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &s), 0);
  CHECK_EQ(corio_stream_write_all(s, "STARTTLS\n", 9), 0);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "OK\n");
  CHECK_EQ(corio_stream_can_write_eof(s), 1);
  /* Misuse first: a server context on a client's stream is the server
   * side; a NULL context is refused. */
  CHECK_EQ(corio_stream_start_tls(s, NULL, NULL), -EINVAL);
  o.server_hostname = "localhost";
  CHECK_EQ(corio_stream_start_tls(s, cctx, &o), 0);
  CHECK_TRUE(corio_stream_is_tls(s));
  CHECK_EQ(corio_stream_can_write_eof(s), 0);
  CHECK_EQ(corio_stream_start_tls(s, cctx, &o), -EINVAL);
  CHECK_EQ(corio_stream_write_all(s, "secret\n", 7), 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "secret\n");
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  corio_stream_unref(s);
  finish_case(srv, starttls_server_ctx, cctx, fds);
  return 0;
}

LOOP_TEST(test_start_tls, starttls_body)

/* ---- timeouts ------------------------------------------------------------ */

static int handshake_timeout_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(certs.server);
  corio_connect_options o = {0};
  corio_server *srv, *tls_srv;
  corio_stream *s = NULL, *plain;
  char buf[8];
  size_t n;
  int fds = open_fds(), rc;

  (void)arg, (void)result;
  corio_loop_set_exception_handler(corio_loop_running(), quiet_handler, NULL);
  /* The client side: the server never answers the ClientHello. */
  CHECK_EQ(corio_start_server(silent_handler, NULL, "127.0.0.1", 0, NULL, &srv),
           0);
  o.tls = cctx;
  o.server_hostname = "localhost";
  o.tls_handshake_timeout = 0.2;
  rc = corio_open_connection_ex("127.0.0.1", corio_server_port(srv), &o, &s);
  CHECK_EQ(rc, -ETIMEDOUT);
  CHECK_PTR(s, NULL);
  CHECK_TRUE(message_has(rc, "handshake timed out"));
  stop_server(srv);
  /* The server side: a client that never sends its hello is dropped and
   * the handler never runs. */
  handler_calls = 0;
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0.2, &tls_srv), 0);
  CHECK_EQ(
      corio_open_connection("127.0.0.1", corio_server_port(tls_srv), &plain),
      0);
  CHECK_EQ(corio_stream_read(plain, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(handler_calls, 0);
  corio_stream_unref(plain);
  finish_case(tls_srv, cctx, sctx, fds);
  return 0;
}

LOOP_TEST(test_handshake_timeout, handshake_timeout_body)

static int shutdown_timeout_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(certs.server);
  corio_connect_options o = {0};
  corio_server *srv;
  corio_stream *s;
  int fds = open_fds();

  (void)arg, (void)result;
  corio_event_init(&let_go);
  CHECK_EQ(start_tls_server(mute_handler, NULL, sctx, 0, &srv), 0);
  o.tls = cctx;
  o.server_hostname = "localhost";
  o.tls_shutdown_timeout = 0.2;
  CHECK_EQ(
      corio_open_connection_ex("127.0.0.1", corio_server_port(srv), &o, &s), 0);
  CHECK_EQ(corio_stream_write_all(s, "x", 1), 0);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_TRUE(corio_stream_is_closing(s));
  /* Returns once the timeout closes the fd. */
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  CHECK_EQ(corio_stream_fd(s), -1);
  corio_stream_unref(s);
  corio_event_set(&let_go);
  finish_case(srv, cctx, sctx, fds);
  return 0;
}

LOOP_TEST(test_shutdown_timeout, shutdown_timeout_body)

/* ---- abort, EOF, write_eof ----------------------------------------------- */

/* Writes a line, then drops the connection without close_notify. */
static int ragged_handler(corio_stream *s, void *arg) {
  int rc = corio_stream_write_all(s, "hi\n", 3);

  (void)arg;
  (void)yield_n(3);
  (void)corio_stream_abort(s);
  return rc;
}

static int abort_eof_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(certs.server);
  corio_server *srv;
  corio_stream *s;
  char buf[16] = {0};
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  CHECK_EQ(start_tls_server(ragged_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_EQ(corio_stream_can_write_eof(s), 0);
  CHECK_EQ(corio_stream_write_eof(s), -ENOTSUP);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "hi\n");
  /* A ragged EOF (no close_notify) reads as EOF, as asyncio's. */
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  /* abort closes at once, no close_notify exchange. */
  CHECK_EQ(corio_stream_abort(s), 0);
  CHECK_EQ(corio_stream_fd(s), -1);
  CHECK_EQ(corio_stream_write(s, "x", 1), CORIO_ESTREAMCLOSED);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  corio_stream_unref(s);
  finish_case(srv, cctx, sctx, fds);
  return 0;
}

LOOP_TEST(test_abort_and_ragged_eof, abort_eof_body)

/* ---- cancellation -------------------------------------------------------- */

static int read_task(void *arg, void **result) {
  corio_stream *s = arg;
  char buf[64];
  size_t n;

  (void)result;
  return corio_stream_read(s, buf, sizeof buf, &n);
}

static int cancel_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(certs.server);
  struct connecting c = {0};
  corio_server *silent, *srv;
  corio_stream *s;
  corio_task *t;
  char buf[16] = {0};
  size_t n;
  int fds = open_fds();

  (void)arg, (void)result;
  /* Cancelled in the handshake: nothing returned, nothing left open. */
  CHECK_EQ(
      corio_start_server(silent_handler, NULL, "127.0.0.1", 0, NULL, &silent),
      0);
  c.ctx = cctx;
  c.port = corio_server_port(silent);
  CHECK_EQ(corio_spawn(&t, connect_task, &c), 0);
  (void)yield_n(5);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  CHECK_PTR(c.s, NULL);
  stop_server(silent);
  /* Cancelled in a read: the bytes that come later are all there. */
  CHECK_EQ(start_tls_server(echo_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), &s), 0);
  CHECK_EQ(corio_spawn(&t, read_task, s), 0);
  (void)yield_n(3);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  CHECK_EQ(corio_stream_write_all(s, "again\n", 6), 0);
  CHECK_EQ(corio_stream_readline(s, buf, sizeof buf, &n), 0);
  CHECK_STR(buf, "again\n");
  close_stream(s);
  finish_case(srv, cctx, sctx, fds);
  return 0;
}

LOOP_TEST(test_cancel, cancel_body)

/* ---- the loop closes with TLS streams open ------------------------------- */

static int left_open_body(void *arg, void **result) {
  corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(certs.server);
  corio_stream **out = arg;
  corio_server *srv;

  (void)result;
  CHECK_EQ(start_tls_server(silent_handler, NULL, sctx, 0, &srv), 0);
  CHECK_EQ(tls_connect(cctx, corio_server_port(srv), out), 0);
  CHECK_EQ(corio_stream_write(*out, "unsent?\n", 8), 0);
  corio_tls_context_unref(cctx);
  corio_tls_context_unref(sctx);
  /* Returns holding the stream and the server: the loop's close must
   * close both, handler included. */
  corio_server_unref(srv);
  return 0;
}

static void test_loop_closes_open_streams(void **state) {
  corio_stream *s = NULL;
  int fds = open_fds();

  (void)state;
  assert_int_equal(corio_run(left_open_body, &s, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), fds);
  corio_stream_unref(s);
}

/* ---- misuse -------------------------------------------------------------- */

static int misuse_body(void *arg, void **result) {
  corio_tls_context *cctx, *sctx = server_ctx(certs.server);
  corio_connect_options co = {0};
  corio_server_options so = {0};
  corio_server *srv;
  corio_stream *s;
  const char *bad[] = {""};

  (void)arg, (void)result;
  CHECK_EQ(corio_tls_context_new(7, &cctx), -EINVAL);
  cctx = client_ctx();
  CHECK_EQ(corio_tls_context_set_alpn_protocols(cctx, bad, 1), -EINVAL);
  CHECK_EQ(corio_tls_context_set_minimum_version(cctx, 5), -EINVAL);
  CHECK_EQ(corio_tls_context_set_verify(cctx, CORIO_TLS_VERIFY_NONE), -EINVAL);
  CHECK_EQ(corio_tls_context_load_cert_chain(cctx, "/nonexistent.pem", NULL),
           -ENOENT);
  CHECK_TRUE(message_has(-ENOENT, "/nonexistent.pem"));
  CHECK_TRUE(corio_tls_context_ssl_ctx(cctx) != NULL);
  /* The wrong role: refused before anything happens. */
  so.tls = cctx;
  CHECK_EQ(corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &so, &srv),
           -EINVAL);
  co.tls = sctx;
  CHECK_EQ(corio_open_connection_ex("127.0.0.1", 1, &co, &s), -EINVAL);
  corio_tls_context_unref(cctx);
  corio_tls_context_unref(sctx);
  return 0;
}

LOOP_TEST(test_misuse, misuse_body)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_echo_big, reset_checks),
      cmocka_unit_test_setup(test_record_boundaries, reset_checks),
      cmocka_unit_test_setup(test_cancel_mid_record, reset_checks),
      cmocka_unit_test_setup(test_many_connections, reset_checks),
      cmocka_unit_test_setup(test_verify_expired, reset_checks),
      cmocka_unit_test_setup(test_verify_wrong_host, reset_checks),
      cmocka_unit_test_setup(test_verify_self_signed, reset_checks),
      cmocka_unit_test_setup(test_verify_ip_address, reset_checks),
      cmocka_unit_test_setup(test_client_cert_missing, reset_checks),
      cmocka_unit_test_setup(test_client_cert_given, reset_checks),
      cmocka_unit_test_setup(test_version_mismatch, reset_checks),
      cmocka_unit_test_setup(test_alpn, reset_checks),
      cmocka_unit_test_setup(test_alpn_mismatch, reset_checks),
      cmocka_unit_test_setup(test_start_tls, reset_checks),
      cmocka_unit_test_setup(test_handshake_timeout, reset_checks),
      cmocka_unit_test_setup(test_shutdown_timeout, reset_checks),
      cmocka_unit_test_setup(test_abort_and_ragged_eof, reset_checks),
      cmocka_unit_test_setup(test_cancel, reset_checks),
      cmocka_unit_test_setup(test_loop_closes_open_streams, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
  };
  return cmocka_run_group_tests(tests, certs_setup, certs_teardown);
}
