/* Helpers of the TLS tests: the certificates (made once per program),
 * contexts over them, and child processes (openssl, python3) whose stdin
 * and stdout are corio streams. */
#ifndef CORIO_TESTS_NET_TLS_TEST_H
#define CORIO_TESTS_NET_TLS_TEST_H

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "corio/sync.h"
#include "corio/thread.h"
#include "corio/tls.h"
#include "net_test.h"
#include "tls_certs.h"

extern char **environ;

static tls_certs certs;

static int certs_setup(void **state) {
  (void)state;
  return tls_certs_make(&certs) == 0 ? 0 : -1;
}

static int certs_teardown(void **state) {
  (void)state;
  tls_certs_remove(&certs);
  return 0;
}

/* A server context with `cert` (and the shared leaf key). */
static inline corio_tls_context *server_ctx(const char *cert) {
  corio_tls_context *ctx = NULL;

  CHECK_EQ(corio_tls_context_new(CORIO_TLS_SERVER, &ctx), 0);
  if (ctx)
    CHECK_EQ(corio_tls_context_load_cert_chain(ctx, cert, certs.key), 0);
  return ctx;
}

/* A client context trusting the test CA (verification on, defaults). */
static inline corio_tls_context *client_ctx(void) {
  corio_tls_context *ctx = NULL;

  CHECK_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &ctx), 0);
  if (ctx)
    CHECK_EQ(corio_tls_context_load_verify_locations(ctx, certs.ca, NULL), 0);
  return ctx;
}

/* Connects to 127.0.0.1:port over TLS, checking the name "localhost". */
static inline int tls_connect(corio_tls_context *ctx, int port,
                              corio_stream **out) {
  corio_connect_options o = {0};

  o.tls = ctx;
  o.server_hostname = "localhost";
  return corio_open_connection_ex("127.0.0.1", port, &o, out);
}

static inline int message_has(int err, const char *text) {
  const char *m = corio_fail_message(err);

  if (!m || !strstr(m, text)) {
    fprintf(stderr, "message of %s: \"%s\", wanted \"%s\"\n",
            corio_err_name(err) ? corio_err_name(err) : corio_strerror(err),
            m ? m : "(none)", text);
    return 0;
  }
  return 1;
}

/* ---- corio servers and streams ------------------------------------------ */

/* Counted by the handlers that want to know whether they ran. */
static int handler_calls;

/* Keeps expected failures (handshakes refused on purpose) off stderr. */
static inline void quiet_handler(corio_loop *loop, const corio_loop_error *e,
                                 void *arg) {
  (void)loop, (void)e, (void)arg;
}

static inline int start_tls_server(corio_stream_handler handler, void *arg,
                                   corio_tls_context *ctx,
                                   double handshake_timeout,
                                   corio_server **out) {
  corio_server_options o = {0};

  o.tls = ctx;
  o.tls_handshake_timeout = handshake_timeout;
  return corio_start_server(handler, arg, "127.0.0.1", 0, &o, out);
}

/* The fd count once the streams still exchanging close_notify are done
 * (a server's wait_closed waits for handlers, not for their streams'
 * TLS shutdown): bounded by loop iterations, not by time. */
static inline int fds_settled(int want) {
  for (int i = 0; i < 2000 && open_fds() != want; i++)
    (void)corio_sleep(0.001);
  return open_fds();
}

/* A TLS close waits for the peer's close_notify: done before the fd
 * count is checked. */
static inline void close_stream(corio_stream *s) {
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  corio_stream_unref(s);
}

static inline void stop_server(corio_server *srv) {
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
}

/* The end most cases share: the server stopped, then its two contexts
 * dropped (in the order given), then no fd left behind. */
static inline void finish_case(corio_server *srv, corio_tls_context *first,
                               corio_tls_context *second, int fds) {
  stop_server(srv);
  corio_tls_context_unref(first);
  corio_tls_context_unref(second);
  CHECK_EQ(fds_settled(fds), fds);
}

/* A cmocka test that runs `body` as a loop's main task, then reports the
 * first CHECK that failed in it. */
#define LOOP_TEST(test_name, body)                                             \
  static void test_name(void **state) {                                        \
    (void)state;                                                               \
    assert_int_equal(corio_run(body, NULL, NULL), 0);                          \
    assert_checks_passed();                                                    \
  }

/* A peer that accepts and never speaks: reads until EOF. */
static inline int silent_handler(corio_stream *s, void *arg) {
  char buf[256];
  size_t n;

  (void)arg;
  handler_calls++;
  while (corio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0)
    ;
  return 0;
}

/* Handshakes, then neither answers close_notify nor closes until
 * let_go is set. */
static corio_event let_go;

static inline int mute_handler(corio_stream *s, void *arg) {
  (void)s, (void)arg;
  return corio_event_wait(&let_go);
}

/* A TLS connect as a task of its own (to be cancelled, or left to the
 * loop's end). */
struct connecting {
  corio_tls_context *ctx;
  int port;
  corio_stream *s;
};

static inline int connect_task(void *arg, void **result) {
  struct connecting *c = arg;

  (void)result;
  return tls_connect(c->ctx, c->port, &c->s);
}

/* ---- child processes ----------------------------------------------------- */

typedef struct child {
  pid_t pid;
  corio_stream *in;  /* its stdin (NULL: /dev/null) */
  corio_stream *out; /* its stdout */
} child;

/* Starts argv[0] (from PATH) with stdin and stdout on pipes; stderr goes
 * to /dev/null unless CORIO_TEST_VERBOSE is set. */
static inline int child_start(child *c, char *const argv[]) {
  posix_spawn_file_actions_t fa;
  int in[2], out[2], rc;

  memset(c, 0, sizeof *c);
  if (pipe2(in, O_CLOEXEC) != 0)
    return -errno;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return -errno;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (!getenv("CORIO_TEST_VERBOSE"))
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  rc = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return -rc;
  }
  if ((rc = corio_stream_open_fd(NULL, in[1], NULL, &c->in)) < 0) {
    close(out[0]);
    return rc;
  }
  return corio_stream_open_fd(NULL, out[0], NULL, &c->out);
}

static int wait_child_fn(void *arg, void **result) {
  child *c = arg;
  int status;

  while (waitpid(c->pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  *result = (void *)(intptr_t)status;
  return 0;
}

/* Kills it (if sig), waits on a pool thread, drops the pipes; returns
 * the wait status. */
static inline int child_finish(child *c, int sig) {
  void *status = NULL;
  int rc;

  if (sig)
    kill(c->pid, sig);
  rc = corio_to_thread(wait_child_fn, c, &status);
  corio_stream_unref(c->in);
  corio_stream_unref(c->out);
  c->in = c->out = NULL;
  return rc < 0 ? rc : (int)(intptr_t)status;
}

static inline int have_command(const char *check) {
  char cmd[256];

  snprintf(cmd, sizeof cmd, "%s >/dev/null 2>&1", check);
  return system(cmd) == 0;
}

#endif
