/* libFuzzer harness: the TLS record path of a corio server stream
 * (src/net/tls_stream.c) fed bytes a peer should never send.
 *
 * The first input byte picks the mode; the rest is the peer's bytes.
 * - Handshake (bit 0 clear): the bytes are the client's first flight, sent
 *   raw into a socketpair whose other end is a corio stream doing the
 *   server side of corio_stream_start_tls, then the peer's EOF. The
 *   handshake must fail with an error code.
 * - Records (bit 0 set): a real corio TLS client on the other end (TLS 1.3,
 *   or 1.2 when bit 1 is set) completes the handshake and sends one valid
 *   record ("hello"); then the bytes go raw onto its socket, after that
 *   record, and EOF. The server must read "hello" whole, then EOF or an
 *   error code. Bits 2-3 pick how the server reads (read, readexactly,
 *   readline, read_all).
 * Either way nothing may leak: memory (LeakSanitizer), fds (both ends of
 * the input's socketpair must be closed once its task is done), and
 * OpenSSL's error queue must be left empty (corio clears what it caused).
 *
 * The certificates are made once, at the first input (tests/net/
 * tls_certs.c), and removed at exit. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/error.h>
#include <corio/net.h>
#include <corio/task.h>
#include <corio/tls.h>

#include "fuzz.h"
#include "tls_certs.h"

enum { MAX_PEER_BYTES = 64 * 1024 };

static tls_certs certs;
static corio_tls_context *server_ctx, *client13_ctx, *client12_ctx;
/* The input's socketpair, to check that both ends were closed. */
static int pair[2] = {-1, -1};

static _Noreturn void fail(const char *what, int rc) {
  fprintf(stderr, "tls_record: %s: %d (%s)\n", what, rc, corio_strerror(rc));
  abort();
}

static void check(const char *what, int rc) {
  if (rc < 0)
    fail(what, rc);
}

/* An error must be a negative code corio can name. */
static void check_error(const char *what, int rc) {
  if (rc >= 0 || !corio_strerror(rc))
    fail(what, rc);
}

static void remove_certs(void) {
  corio_tls_context_unref(server_ctx);
  corio_tls_context_unref(client13_ctx);
  corio_tls_context_unref(client12_ctx);
  tls_certs_remove(&certs);
}

static void set_up(void) {
  if (server_ctx)
    return;
  if (tls_certs_make(&certs) < 0)
    fail("tls_certs_make", -1);
  check("server context", corio_tls_context_new(CORIO_TLS_SERVER, &server_ctx));
  check("server certificate",
        corio_tls_context_load_cert_chain(server_ctx, certs.server, certs.key));
  check("client context",
        corio_tls_context_new(CORIO_TLS_CLIENT, &client13_ctx));
  check("client CA",
        corio_tls_context_load_verify_locations(client13_ctx, certs.ca, NULL));
  check("client context",
        corio_tls_context_new(CORIO_TLS_CLIENT, &client12_ctx));
  check("client CA",
        corio_tls_context_load_verify_locations(client12_ctx, certs.ca, NULL));
  check("TLS 1.2 only", corio_tls_context_set_maximum_version(
                            client12_ctx, CORIO_TLS_VERSION_1_2));
  atexit(remove_certs);
}

static void send_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
      return; /* the server gave up on the bytes already sent */
    if (k <= 0)
      fail("send", k < 0 ? -errno : 0);
    p += k;
    n -= (size_t)k;
  }
}

typedef struct input {
  uint8_t mode;
  const uint8_t *bytes;
  size_t len;
} input;

static const corio_tls_options server_options = {NULL, 10.0, 1.0};

/* ---- handshake mode ------------------------------------------------------ */

static int garbage_handshake(const input *in) {
  corio_stream *server;
  int sv[2], rc;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    fail("socketpair", -errno);
  pair[0] = sv[0], pair[1] = sv[1];
  check("open_fd", corio_stream_open_fd(NULL, sv[0], NULL, &server));
  send_all(sv[1], in->bytes, in->len);
  shutdown(sv[1], SHUT_WR);
  rc = corio_stream_start_tls(server, server_ctx, &server_options);
  check_error("a handshake on garbage", rc);
  corio_stream_abort(server);
  corio_stream_unref(server);
  close(sv[1]);
  return 0;
}

/* ---- records mode -------------------------------------------------------- */

typedef struct client_side {
  corio_stream *stream;
  corio_tls_context *ctx;
} client_side;

static int client_handshake(void *arg, void **result) {
  client_side *c = arg;
  corio_tls_options o = {"localhost", 10.0, 1.0};

  (void)result;
  return corio_stream_start_tls(c->stream, c->ctx, &o);
}

/* Reads until EOF or an error the way `how` says: what came, and the
 * code that ended it (0: EOF). */
static int read_to_end(corio_stream *s, int how, char *got, size_t cap,
                       size_t *len) {
  size_t n;
  int rc;

  *len = 0;
  for (;;) {
    switch (how) {
    case 0:
      rc = corio_stream_read(s, got + *len, cap - *len, &n);
      break;
    case 1:
      rc = corio_stream_readexactly(s, got + *len, 1, &n);
      break;
    case 2:
      rc = corio_stream_readline(s, got + *len, cap - *len, &n);
      break;
    default:
      rc = corio_stream_read_all(s, got + *len, cap - *len, &n);
      break;
    }
    *len += n;
    if (rc == CORIO_EINCOMPLETEREAD || (rc == 0 && (n == 0 || how == 3)))
      return 0;
    if (rc < 0)
      break;
    if (*len == cap)
      return -ENOBUFS;
  }
  /* After a connection error the calls that wait for more (all but read)
   * leave what is buffered for a later read; then the error sticks. */
  for (;;) {
    int again = corio_stream_read(s, got + *len, cap - *len, &n);

    *len += n;
    if (again < 0 && again != rc)
      fail("a second error after the first", again);
    if (again < 0 || n == 0 || *len == cap)
      return rc;
  }
}

static int garbage_records(const input *in) {
  client_side c = {NULL, in->mode & 2 ? client12_ctx : client13_ctx};
  corio_stream *server;
  corio_task *client_task;
  char got[64];
  size_t len;
  int sv[2], rc, fd;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    fail("socketpair", -errno);
  pair[0] = sv[0], pair[1] = sv[1];
  check("open_fd", corio_stream_open_fd(NULL, sv[0], NULL, &server));
  check("open_fd", corio_stream_open_fd(NULL, sv[1], NULL, &c.stream));
  check("spawn", corio_spawn(&client_task, client_handshake, &c));
  check("server handshake",
        corio_stream_start_tls(server, server_ctx, &server_options));
  check("client handshake", corio_task_await(client_task, NULL));
  corio_task_unref(client_task);
  check("client write", corio_stream_write(c.stream, "hello", 5));
  check("client drain", corio_stream_drain(c.stream));
  fd = corio_stream_fd(c.stream);
  send_all(fd, in->bytes, in->len);
  shutdown(fd, SHUT_WR);
  rc = read_to_end(server, (in->mode >> 2) & 3, got, sizeof got, &len);
  if (len < 5 || memcmp(got, "hello", 5) != 0)
    fail("the valid record before the garbage was not read whole", (int)len);
  if (rc < 0)
    check_error("records of garbage", rc);
  corio_stream_abort(server);
  corio_stream_unref(server);
  corio_stream_abort(c.stream);
  corio_stream_unref(c.stream);
  return 0;
}

static int run_input(void *arg, void **result) {
  const input *in = arg;

  (void)result;
  set_up();
  return in->mode & 1 ? garbage_records(in) : garbage_handshake(in);
}

/* No fd left behind: nothing else opens fds while an input runs, so
 * both ends of its socketpair must be closed (not reused) by now. */
static void check_fds(void) {
  for (int i = 0; i < 2; i++) {
    if (pair[i] >= 0 && fcntl(pair[i], F_GETFD) >= 0)
      fail("an fd of the input's socketpair was left open", pair[i]);
    pair[i] = -1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = {0, NULL, 0};
  int rc;

  if (size == 0)
    return 0;
  in.mode = data[0];
  in.bytes = data + 1;
  in.len = size - 1 < MAX_PEER_BYTES ? size - 1 : MAX_PEER_BYTES;
  rc = corio_runner_run(fuzz_runner(), run_input, &in, NULL);
  if (rc != 0)
    fail("the input's task", rc);
  if (ERR_peek_error() != 0)
    fail("OpenSSL's error queue left non-empty", (int)ERR_peek_error());
  check_fds();
  return 0;
}
