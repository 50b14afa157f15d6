/* OpenSSL, unmodified, over plain blocking sockets in corio tasks with the
 * hooks enabled (docs/hook.md): each client task does socket() and
 * connect(), then SSL_set_fd (OpenSSL's own socket BIO, which calls read
 * and write) and SSL_connect, SSL_write, SSL_read of an echo, all
 * blocking calls that suspend the task instead of the thread. The
 * certificates are made at test time (tests/net/tls_certs.c): the server's
 * is signed by a test CA, and the clients verify it and the name
 * localhost.
 *
 * Cases:
 * - 20 client tasks against a server thread that answers nobody until
 *   every ClientHello has arrived: all 20 tasks are inside SSL_connect at
 *   the same moment (counted by the tasks; no timing involved), then each
 *   echoes 100 KiB through TLS and checks every byte.
 * - Both ends on one thread: an acceptor task (blocking accept) and a
 *   handler task per connection (SSL_accept, SSL_read, SSL_write) serving
 *   20 client tasks; without the hooks this deadlocks at the first call.
 * - A task cancelled inside SSL_read: SSL_read fails with errno ECANCELED
 *   (SSL_ERROR_SYSCALL), the task ends cancelled; and the same through a
 *   timeout scope (-ETIMEDOUT).
 * If the certificates cannot be made the program says why and exits 77. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "corio/hook.h"
#include "corio/task.h"
#include "server_proc.h"
#include "tls_certs.h"

#define CLIENTS 20
#define MESSAGE_SIZE (100 * 1024)
/* Bounds every wait (the server thread's socket timeouts, the tasks'
 * timeout scope), so that broken hooks fail the test instead of hanging
 * it; never reached when things work. */
#define PATIENCE_SECONDS 60

static tls_certs certs;
static SSL_CTX *server_ctx, *client_ctx;

/* ---- contexts and sockets --------------------------------------------------
 */

static int make_contexts(void) {
  server_ctx = SSL_CTX_new(TLS_server_method());
  client_ctx = SSL_CTX_new(TLS_client_method());
  if (!server_ctx || !client_ctx ||
      SSL_CTX_use_certificate_file(server_ctx, certs.server,
                                   SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(server_ctx, certs.key, SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_load_verify_locations(client_ctx, certs.ca, NULL) != 1)
    return -1;
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
  return 0;
}

static void free_contexts(void) {
  SSL_CTX_free(server_ctx);
  SSL_CTX_free(client_ctx);
  server_ctx = client_ctx = NULL;
}

/* A listening socket on a free port of 127.0.0.1 (blocking), or -1. */
static int listen_loopback(int *port) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

/* Kernel timeouts on a server-side socket: a peer that never comes
 * cannot hang the server thread. */
static void set_patience(int fd) {
  struct timeval tv = {PATIENCE_SECONDS, 0};

  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void fill_message(unsigned char *buf, int seed) {
  for (int k = 0; k < MESSAGE_SIZE; k++)
    buf[k] = (unsigned char)((seed * 31 + k * 13 + k / 509) & 0xff);
}

/* SSL_read until `size` bytes or an error: the count read. */
static int read_all(SSL *ssl, unsigned char *buf, int size) {
  int got = 0, n;

  while (got < size && (n = SSL_read(ssl, buf + got, size - got)) > 0)
    got += n;
  return got;
}

static int write_all(SSL *ssl, const unsigned char *buf, int size) {
  return SSL_write(ssl, buf, size) == size;
}

/* What went wrong in an SSL call, for a failure message. */
static const char *ssl_why(SSL *ssl, int ret, char *buf, size_t size) {
  int code = SSL_get_error(ssl, ret);
  unsigned long err = ERR_peek_last_error();

  if (code == SSL_ERROR_SYSCALL)
    snprintf(buf, size, "SSL_ERROR_SYSCALL: %s", strerror(errno));
  else if (err)
    ERR_error_string_n(err, buf, size);
  else
    snprintf(buf, size, "SSL error %d", code);
  return buf;
}

/* One blocking call into OpenSSL for hook_probe: SSL_connect over a
 * socketpair whose other end never answers, its read bounded by a
 * SO_RCVTIMEO of 100 ms. */
static void handshake_unanswered(void *ctx) {
  struct timeval tv = {0, 100 * 1000};
  SSL *ssl = NULL;
  int sv[2];

  (void)ctx;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    hook_probe_failed("socketpair: %s", strerror(errno));
    return;
  }
  if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      !(ssl = SSL_new(client_ctx)) || SSL_set_fd(ssl, sv[0]) != 1)
    hook_probe_failed("probe setup failed");
  else if (SSL_connect(ssl) == 1)
    hook_probe_failed("a handshake with nobody");
  SSL_free(ssl);
  ERR_clear_error();
  close(sv[0]);
  close(sv[1]);
}

/* ---- the client task -------------------------------------------------------
 */

static struct {
  int port;
  int in_connect;      /* tasks inside SSL_connect right now */
  int most_in_connect; /* the most there ever were */
  int echoed[CLIENTS]; /* whole echoes checked byte for byte */
} clients;

/* A plain blocking socket connected to the server, or -1. */
static int connect_blocking(int port) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!HOOK_CHECK(fd >= 0, "socket: %s", strerror(errno)))
    return -1;
  if (!HOOK_CHECK(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
                  "connect: %s", strerror(errno))) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A verified TLS session over fd (SSL_set_fd: OpenSSL's socket BIO),
 * counted in while it handshakes; NULL on failure (fd still open). */
static SSL *tls_connect(int fd) {
  SSL *ssl = SSL_new(client_ctx);
  char why[160];
  int ret;

  if (!HOOK_CHECK(ssl && SSL_set_fd(ssl, fd) == 1 &&
                      SSL_set1_host(ssl, "localhost") == 1,
                  "SSL_new/SSL_set_fd failed")) {
    SSL_free(ssl);
    return NULL;
  }
  ERR_clear_error();
  clients.in_connect++;
  if (clients.in_connect > clients.most_in_connect)
    clients.most_in_connect = clients.in_connect;
  ret = SSL_connect(ssl);
  clients.in_connect--;
  if (!HOOK_CHECK(ret == 1, "SSL_connect: %s",
                  ssl_why(ssl, ret, why, sizeof why))) {
    SSL_free(ssl);
    return NULL;
  }
  HOOK_CHECK(SSL_get_verify_result(ssl) == X509_V_OK,
             "the server's certificate was not verified");
  return ssl;
}

static int echo_client(void *arg, void **result) {
  int i = INT_ARG(arg), fd;
  unsigned char *sent = malloc(MESSAGE_SIZE), *got = malloc(MESSAGE_SIZE);
  SSL *ssl = NULL;

  (void)result;
  if (!HOOK_CHECK(sent && got, "out of memory") || !hook_test_active_here() ||
      (fd = connect_blocking(clients.port)) < 0)
    goto done;
  if ((ssl = tls_connect(fd))) {
    fill_message(sent, i);
    memset(got, 0, MESSAGE_SIZE);
    if (HOOK_CHECK(write_all(ssl, sent, MESSAGE_SIZE), "client %d: SSL_write",
                   i) &&
        HOOK_CHECK(read_all(ssl, got, MESSAGE_SIZE) == MESSAGE_SIZE,
                   "client %d: short echo", i) &&
        HOOK_CHECK(memcmp(sent, got, MESSAGE_SIZE) == 0,
                   "client %d: the echo differs", i))
      clients.echoed[i]++;
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  close(fd);
done:
  free(sent);
  free(got);
  return 0;
}

/* ---- the server thread -----------------------------------------------------
 */

/* A plain thread: no task, so every call in it is the C library's. */
typedef struct server_thread {
  pthread_t thread;
  int listen_fd;
  int connections;
  int all_hellos_first; /* answer nobody before every ClientHello is in */
  int echo;             /* echo MESSAGE_SIZE bytes; else read until EOF */
  int served;           /* connections that went through as asked */
  char failure[200];
} server_thread;

static void server_failed(server_thread *s, const char *what) {
  if (!s->failure[0])
    snprintf(s->failure, sizeof s->failure, "server: %s (%s)", what,
             strerror(errno));
}

/* Waits (bounded) until every fd has bytes to read. */
static int wait_all_readable(const int *fds, int n) {
  struct pollfd p[CLIENTS];
  int ready = 0;

  for (int i = 0; i < n; i++)
    p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
  while (ready < n) {
    int rc = poll(p, (nfds_t)n, PATIENCE_SECONDS * 1000);

    if (rc <= 0)
      return -1;
    for (int i = 0; i < n; i++)
      if (p[i].revents) {
        p[i].events = 0; /* counted once, not polled again */
        p[i].fd = -1;
        ready++;
      }
  }
  return 0;
}

static void serve_one(server_thread *s, int fd, unsigned char *buf) {
  SSL *ssl = SSL_new(server_ctx);

  if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
    server_failed(s, "SSL_accept");
  } else if (s->echo) {
    if (read_all(ssl, buf, MESSAGE_SIZE) == MESSAGE_SIZE &&
        write_all(ssl, buf, MESSAGE_SIZE))
      s->served++;
    else
      server_failed(s, "echo");
  } else {
    /* Nothing to say: waits for the client to go (or the patience). */
    if (SSL_read(ssl, buf, 1) <= 0)
      s->served++;
  }
  if (ssl)
    SSL_shutdown(ssl);
  SSL_free(ssl);
}

static void *serve(void *arg) {
  server_thread *s = arg;
  unsigned char *buf = malloc(MESSAGE_SIZE);
  int fds[CLIENTS], accepted = 0;

  if (!buf) {
    server_failed(s, "out of memory");
    return NULL;
  }
  set_patience(s->listen_fd); /* accept honours SO_RCVTIMEO */
  for (; accepted < s->connections; accepted++) {
    if ((fds[accepted] = accept(s->listen_fd, NULL, NULL)) < 0) {
      server_failed(s, "accept");
      break;
    }
    set_patience(fds[accepted]);
  }
  if (accepted == s->connections && s->all_hellos_first &&
      wait_all_readable(fds, accepted) != 0)
    server_failed(s, "not every ClientHello arrived");
  for (int i = 0; i < accepted; i++) {
    if (!s->failure[0])
      serve_one(s, fds[i], buf);
    close(fds[i]);
  }
  free(buf);
  return NULL;
}

static int server_start(server_thread *s, int connections, int hellos_first,
                        int echo) {
  memset(s, 0, sizeof *s);
  s->connections = connections;
  s->all_hellos_first = hellos_first;
  s->echo = echo;
  if ((s->listen_fd = listen_loopback(&clients.port)) < 0)
    return -1;
  if (pthread_create(&s->thread, NULL, serve, s) != 0) {
    close(s->listen_fd);
    return -1;
  }
  return 0;
}

static void server_join(server_thread *s) {
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
}

/* First in every case: the probe's verdict, and nothing left from the
 * case before. */
static void begin_case(void) {
  hook_test_begin_case();
  memset(&clients, 0, sizeof clients);
}

/* ---- 20 handshakes in flight at once ---------------------------------------
 */

static void test_handshakes_in_flight(void **state) {
  server_thread server;

  (void)state;
  begin_case();
  assert_int_equal(server_start(&server, CLIENTS, 1, 1), 0);
  assert_int_equal(hook_test_run_tasks(echo_client, CLIENTS, PATIENCE_SECONDS),
                   0);
  server_join(&server);
  if (server.failure[0])
    fail_msg("%s", server.failure);
  hook_test_assert_no_failure();
  /* The server answered nobody before all 20 ClientHellos were in: every
   * task of this one thread was inside SSL_connect at once. */
  assert_int_equal(clients.most_in_connect, CLIENTS);
  assert_int_equal(server.served, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(clients.echoed[i], 1);
}

/* ---- both ends on one thread -----------------------------------------------
 */

static int listen_fd_one_thread;
static int handled;

static int handler(void *arg, void **result) {
  int fd = INT_ARG(arg);
  unsigned char *buf = malloc(MESSAGE_SIZE);
  SSL *ssl = SSL_new(server_ctx);
  char why[160];
  int ret = -1;

  (void)result;
  if (HOOK_CHECK(buf && ssl && SSL_set_fd(ssl, fd) == 1, "handler setup") &&
      HOOK_CHECK((ret = SSL_accept(ssl)) == 1, "SSL_accept: %s",
                 ssl_why(ssl, ret, why, sizeof why)) &&
      HOOK_CHECK(read_all(ssl, buf, MESSAGE_SIZE) == MESSAGE_SIZE,
                 "handler: short read") &&
      HOOK_CHECK(write_all(ssl, buf, MESSAGE_SIZE), "handler: SSL_write"))
    handled++;
  if (ssl && ret == 1)
    SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  free(buf);
  return 0;
}

/* Accepts CLIENTS connections with a blocking accept, a handler task for
 * each, and waits for the handlers. */
static int acceptor(void) {
  corio_task *handlers[CLIENTS];
  int n = 0, rc = 0;

  if (!hook_test_active_here())
    return 0;
  for (; n < CLIENTS; n++) {
    int fd = accept(listen_fd_one_thread, NULL, NULL);

    if (!HOOK_CHECK(fd >= 0, "accept: %s", strerror(errno)))
      break;
    if ((rc = corio_spawn(&handlers[n], handler, PTR_ARG(fd))) < 0) {
      close(fd);
      break;
    }
  }
  for (int i = 0; i < n; i++) {
    int handler_rc = corio_task_await(handlers[i], NULL);

    if (rc == 0)
      rc = handler_rc;
    corio_task_unref(handlers[i]);
  }
  return rc;
}

static int one_thread_task(void *arg, void **result) {
  int i = INT_ARG(arg);

  return i < CLIENTS ? echo_client(arg, result) : acceptor();
}

static void test_both_ends_one_thread(void **state) {
  (void)state;
  begin_case();
  handled = 0;
  listen_fd_one_thread = listen_loopback(&clients.port);
  assert_true(listen_fd_one_thread >= 0);
  assert_int_equal(
      hook_test_run_tasks(one_thread_task, CLIENTS + 1, PATIENCE_SECONDS), 0);
  close(listen_fd_one_thread);
  hook_test_assert_no_failure();
  assert_int_equal(handled, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(clients.echoed[i], 1);
}

/* ---- cancellation and timeout scopes in SSL_read ---------------------------
 */

static struct {
  hook_test_stuck task; /* what corio reported */
  int reading;          /* the task is about to call SSL_read */
  int read_ret;         /* SSL_read's return */
  int ssl_error;        /* SSL_get_error */
  int read_errno;       /* errno after SSL_read */
} stuck;

/* A read from a server that says nothing: only a cancellation (the
 * test's or the timeout scope's) ends it. */
static void read_one_byte(void *ctx) {
  SSL *ssl = ctx;
  unsigned char byte;

  stuck.reading = 1;
  ERR_clear_error();
  stuck.read_ret = SSL_read(ssl, &byte, 1);
  stuck.read_errno = errno;
  stuck.ssl_error = SSL_get_error(ssl, stuck.read_ret);
}

static int read_forever(void *arg, void **result) {
  SSL *ssl;
  int fd, rc;

  (void)arg, (void)result;
  if (!hook_test_active_here() || (fd = connect_blocking(clients.port)) < 0)
    return 0;
  if (!(ssl = tls_connect(fd))) {
    close(fd);
    return 0;
  }
  rc = hook_test_stuck_call(&stuck.task, read_one_byte, ssl);
  SSL_free(ssl);
  close(fd);
  return rc;
}

/* The task gives the thread back only by suspending: once it has said it
 * is reading, it is suspended inside SSL_read. */
static int reading(corio_task *task, void *ctx) {
  (void)ctx;
  while (!stuck.reading && !corio_task_done(task))
    if (corio_sleep(0.001) < 0)
      break;
  return stuck.reading;
}

static int cancel_main(void *arg, void **result) {
  (void)arg, (void)result;
  return hook_test_cancel_blocked(read_forever, NULL, reading, NULL);
}

/* Runs main (the test cancels the reading task, or a timeout scope of
 * scope_seconds does) against a server thread that never answers, and
 * checks what OpenSSL and corio made of it: SSL_read failed with errno
 * ECANCELED (SSL_ERROR_SYSCALL). */
static void run_read_case(corio_task_fn main, double scope_seconds) {
  server_thread server;

  begin_case();
  memset(&stuck, 0, sizeof stuck);
  stuck.task.scope_seconds = scope_seconds;
  assert_int_equal(server_start(&server, 1, 0, 0), 0);
  assert_int_equal(corio_run(main, NULL, NULL), 0);
  server_join(&server);
  hook_test_assert_no_failure();
  assert_int_equal(stuck.reading, 1);
  assert_int_equal(stuck.read_ret, -1);
  assert_int_equal(stuck.ssl_error, SSL_ERROR_SYSCALL);
  assert_int_equal(stuck.read_errno, ECANCELED);
  hook_test_assert_stuck(&stuck.task);
  /* The server's read ended when the cancelled client closed. */
  assert_int_equal(server.served, 1);
}

static void test_cancel_in_ssl_read(void **state) {
  (void)state;
  run_read_case(cancel_main, 0);
}

static void test_timeout_scope_in_ssl_read(void **state) {
  (void)state;
  run_read_case(read_forever, 0.2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshakes_in_flight),
      cmocka_unit_test(test_both_ends_one_thread),
      cmocka_unit_test(test_cancel_in_ssl_read),
      cmocka_unit_test(test_timeout_scope_in_ssl_read),
  };
  int rc;

  /* OpenSSL's socket BIO writes with write(): a peer that has gone must
   * give EPIPE, not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  if (tls_certs_make(&certs) != 0) {
    fprintf(stderr, "hook.openssl skipped: no test certificates\n");
    return 77;
  }
  if (make_contexts() != 0) {
    fprintf(stderr, "hook.openssl: the SSL contexts cannot be made\n");
    free_contexts();
    tls_certs_remove(&certs);
    return 1;
  }
  if (hook_test_enable("a read inside OpenSSL", handshake_unanswered, NULL) !=
      0) {
    free_contexts();
    tls_certs_remove(&certs);
    return 1;
  }
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  corio_hook_disable();
  free_contexts();
  tls_certs_remove(&certs);
  return rc;
}
