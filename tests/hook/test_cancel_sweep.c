/* The cancellation sweep over hooked blocking calls (issue 18): a task
 * runs plain blocking code (getaddrinfo of "localhost", socket, connect,
 * usleep, send, poll, read; poll, read and a zero usleep on a pipe) with the
 * hooks on; it runs once uncancelled, then cancelled at each of its suspensions
 * in turn, and for each of those once more at each suspension of its cleanup.
 * See tests/support/sweep.h for how a suspension is pinned down.
 *
 * A hooked call that is cancelled fails with ECANCELED and the
 * cancellation stays pending (docs/hook.md), so every later blocking
 * call would fail at once: the cleanup withdraws it (corio_task_uncancel,
 * as asyncio's timeout does) to read what is left to EOF with blocking
 * calls, then returns -ECANCELED. After every run: the cancelled call
 * failed with ECANCELED, what was read is a prefix of what the peer sent
 * (all of it when the cleanup read to EOF), the peer received a prefix
 * of what was sent (all of what send reported when the cleanup ran to
 * its end), and no fd and no corio allocation is left; ASan and Valgrind
 * runs check the rest of the memory. The peers are corio streams in
 * tasks of the same loop (corio's own calls are never hooked). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/hook.h"
#include "corio/net.h"
#include "corio/task.h"
#include "sweep.h"

static size_t data_len;
static unsigned char *data_out, *data_in;

enum { PIECE = 4096, EXTRA = 64 };

static void fill(unsigned char *buf, size_t len, unsigned seed) {
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)(i * 13 + i / 509 + seed);
}

/* A blocking call's outcome as a corio code: -errno when it failed. */
static int sys_rc(long r) { return r < 0 ? -errno : 0; }

/* Blocking reads of fd to EOF into buf (cap bytes). */
static int read_to_eof(int fd, unsigned char *buf, size_t *len, size_t cap) {
  for (;;) {
    ssize_t n;

    if (*len == cap)
      return -ENOBUFS;
    n = read(fd, buf + *len, cap - *len);
    if (n < 0)
      return -errno;
    if (n == 0)
      return 0;
    *len += (size_t)n;
  }
}

/* ---- a socket client ------------------------------------------------------
 */

struct client_case {
  sweep_point *pt;
  int port;
  /* the blocking client's */
  unsigned char *got;
  size_t got_len, sent;
  int first_rc, cleanup_rc, connected;
  /* the corio peer's */
  unsigned char *peer_got;
  size_t peer_len;
  int peer_rc, handlers;
};

/* Reads what the client sends up to its half-close, then answers in
 * pieces and closes. */
static int client_peer(corio_stream *s, void *arg) {
  struct client_case *c = arg;
  size_t cap = data_len + EXTRA;
  int rc = 0;

  c->handlers++;
  for (;;) {
    size_t n = 0;

    if (c->peer_len == cap) {
      rc = -ENOBUFS;
      break;
    }
    rc = corio_stream_read(s, c->peer_got + c->peer_len, cap - c->peer_len, &n);
    if (rc < 0 || n == 0)
      break;
    c->peer_len += n;
  }
  if (rc == 0)
    rc = sweep_write_in_pieces(s, data_in, data_len, PIECE);
  c->peer_rc = rc;
  return 0;
}

/* The target, all blocking calls: resolve, connect, usleep, send
 * everything, half-close, poll until readable, read to EOF. */
static int client_task(void *arg, void **result) {
  struct client_case *c = arg;
  struct addrinfo hints = {0}, *res = NULL;
  char port[16];
  int rc = 0, fd = -1, gai;

  (void)result;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%d", c->port);
  gai = getaddrinfo("localhost", port, &hints, &res);
  if (gai != 0)
    rc = gai == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
  if (rc == 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    rc = fd < 0 ? -errno : 0;
  }
  if (rc == 0) {
    int size = 8192; /* send blocks while the peer reads */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    rc = sys_rc(connect(fd, res->ai_addr, res->ai_addrlen));
    c->connected = rc == 0;
  }
  if (res)
    freeaddrinfo(res);
  if (rc == 0)
    rc = sys_rc(usleep(100));
  while (rc == 0 && c->sent < data_len) {
    ssize_t n = send(fd, data_out + c->sent, data_len - c->sent, MSG_NOSIGNAL);

    /* A send cancelled after part of it went reports that part; the
     * cancellation stays pending for the next call that would block. */
    if (n > 0)
      c->sent += (size_t)n;
    else
      rc = -errno;
  }
  if (rc == 0)
    rc = sys_rc(shutdown(fd, SHUT_WR));
  if (rc == 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    rc = poll(&pfd, 1, -1) < 0 ? -errno : 0;
  }
  if (rc == 0)
    rc = read_to_eof(fd, c->got, &c->got_len, data_len + EXTRA);
  c->first_rc = rc;
  if (rc < 0 && fd >= 0) {
    /* The cleanup: the cancellation withdrawn, the peer is told we are
     * done sending and what it sends is read to EOF. */
    if (rc == -ECANCELED)
      (void)corio_task_uncancel(corio_current_task());
    (void)shutdown(fd, SHUT_WR);
    c->cleanup_rc = read_to_eof(fd, c->got, &c->got_len, data_len + EXTRA);
  }
  if (fd >= 0)
    close(fd);
  return rc;
}

static int client_main(void *arg, void **result) {
  struct client_case *c = arg;
  corio_server *srv = NULL;
  corio_task *t = NULL;

  (void)result;
  /* main makes its own calls unhooked: only the target is swept. */
  CHECK_EQ(corio_hook_task_set(corio_current_task(), 0), 0);
  sweep_install();
  CHECK_EQ(corio_start_server(client_peer, c, "127.0.0.1", 0, NULL, &srv), 0);
  if (!srv) {
    sweep_uninstall();
    return 0;
  }
  c->port = corio_server_port(srv);
  CHECK_EQ(corio_spawn(&t, client_task, c), 0);
  sweep_watch(t, c->pt->cancel_at[0], c->pt->cancel_at[1]);
  (void)corio_task_await(t, NULL);
  sweep_collect(c->pt);
  (void)corio_server_close(srv);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  sweep_uninstall();
  sweep_check_outcome(c->pt, t, c->first_rc);
  corio_task_unref(t);
  corio_server_unref(srv);
  return 0;
}

static int client_point(void *ctx, sweep_point *pt) {
  struct client_case *c = ctx;
  int whole;

  c->pt = pt;
  c->got_len = c->sent = c->peer_len = 0;
  c->first_rc = c->cleanup_rc = c->peer_rc = 1;
  c->connected = c->handlers = 0;
  sweep_run_point(client_main, c, NULL, NULL);
  whole = c->connected && (c->first_rc == 0 || c->cleanup_rc == 0);
  CHECK_TRUE(c->got_len <= data_len);
  CHECK_TRUE(memcmp(c->got, data_in, c->got_len) == 0);
  CHECK_TRUE(c->peer_len <= c->sent);
  CHECK_TRUE(memcmp(c->peer_got, data_out, c->peer_len) == 0);
  if (whole) {
    CHECK_EQ(c->peer_len, c->sent);
    CHECK_EQ(c->peer_rc, 0);
    CHECK_EQ(c->got_len, data_len);
  }
  if (c->first_rc == 0)
    CHECK_EQ(c->sent, data_len);
  sweep_report("hooked client", pt);
  return failed.line != 0;
}

static void test_socket_client(void **state) {
  struct client_case c;
  sweep_stats st;

  (void)state;
  memset(&c, 0, sizeof c);
  c.got = malloc(data_len + EXTRA);
  c.peer_got = malloc(data_len + EXTRA);
  assert_non_null(c.got);
  assert_non_null(c.peer_got);
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(sweep_all("hooked client", client_point, &c, 400, 8, &st),
                   0);
  assert_int_equal(corio_hook_disable(), 0);
  /* getaddrinfo (the executor) and usleep suspend whatever the timing. */
  assert_true(st.first >= 2);
  free(c.got);
  free(c.peer_got);
  assert_checks_passed();
}

/* ---- a pipe ---------------------------------------------------------------
 */

struct pipe_case {
  sweep_point *pt;
  int rfd, wfd;
  unsigned char *got;
  size_t got_len;
  int first_rc, cleanup_rc, writer_rc;
};

/* The writer: a corio stream on the pipe's write end, in pieces. */
static int pipe_writer(void *arg, void **result) {
  struct pipe_case *c = arg;
  corio_stream *s = NULL;
  int rc = corio_stream_open_fd(NULL, c->wfd, NULL, &s);

  (void)result;
  c->wfd = -1; /* the stream's now */
  if (rc == 0)
    rc = sweep_write_in_pieces(s, data_in, data_len, PIECE);
  c->writer_rc = rc;
  if (s) {
    (void)corio_stream_close(s);
    (void)corio_stream_wait_closed(s);
    corio_stream_unref(s);
  }
  return 0;
}

/* The target: poll, read a piece, sleep, until EOF. */
static int pipe_task(void *arg, void **result) {
  struct pipe_case *c = arg;
  int rc = 0;

  (void)result;
  for (;;) {
    struct pollfd pfd = {c->rfd, POLLIN, 0};
    size_t room;
    ssize_t n;

    if (poll(&pfd, 1, -1) < 0) {
      rc = -errno;
      break;
    }
    if (c->got_len == data_len + EXTRA) {
      rc = -ENOBUFS;
      break;
    }
    room = data_len + EXTRA - c->got_len;
    n = read(c->rfd, c->got + c->got_len, room < PIECE ? room : PIECE);
    if (n <= 0) {
      rc = n < 0 ? -errno : 0;
      break;
    }
    c->got_len += (size_t)n;
    if (usleep(0) < 0) {
      rc = -errno;
      break;
    }
  }
  c->first_rc = rc;
  if (rc == -ECANCELED) {
    (void)corio_task_uncancel(corio_current_task());
    c->cleanup_rc = read_to_eof(c->rfd, c->got, &c->got_len, data_len + EXTRA);
  }
  close(c->rfd);
  c->rfd = -1;
  return rc;
}

static int pipe_main(void *arg, void **result) {
  struct pipe_case *c = arg;
  corio_task *t = NULL, *writer = NULL;
  int fds[2];

  (void)result;
  CHECK_EQ(corio_hook_task_set(corio_current_task(), 0), 0);
  sweep_install();
  CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
  c->rfd = fds[0];
  c->wfd = fds[1];
  CHECK_EQ(corio_spawn(&t, pipe_task, c), 0);
  sweep_watch(t, c->pt->cancel_at[0], c->pt->cancel_at[1]);
  CHECK_EQ(corio_spawn(&writer, pipe_writer, c), 0);
  (void)corio_task_await(t, NULL);
  (void)corio_task_await(writer, NULL);
  sweep_collect(c->pt);
  sweep_uninstall();
  sweep_check_outcome(c->pt, t, c->first_rc);
  corio_task_unref(t);
  corio_task_unref(writer);
  return 0;
}

static int pipe_point(void *ctx, sweep_point *pt) {
  struct pipe_case *c = ctx;
  int whole;

  c->pt = pt;
  c->got_len = 0;
  c->first_rc = c->cleanup_rc = c->writer_rc = 1;
  sweep_run_point(pipe_main, c, NULL, NULL);
  whole = c->first_rc == 0 || c->cleanup_rc == 0;
  CHECK_TRUE(c->got_len <= data_len);
  CHECK_TRUE(memcmp(c->got, data_in, c->got_len) == 0);
  if (whole) {
    CHECK_EQ(c->got_len, data_len);
    CHECK_EQ(c->writer_rc, 0);
  } else {
    /* The reader closed early: the writer may have met EPIPE. */
    CHECK_TRUE(c->writer_rc == 0 || c->writer_rc == -EPIPE);
  }
  sweep_report("hooked pipe", pt);
  return failed.line != 0;
}

static void test_pipe(void **state) {
  struct pipe_case c;
  sweep_stats st;

  (void)state;
  memset(&c, 0, sizeof c);
  c.got = malloc(data_len + EXTRA);
  assert_non_null(c.got);
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(sweep_all("hooked pipe", pipe_point, &c, 400, 8, &st), 0);
  assert_int_equal(corio_hook_disable(), 0);
  assert_true(st.first >= 2); /* the first poll waits for the writer */
  free(c.got);
  assert_checks_passed();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_socket_client, reset_checks),
      cmocka_unit_test_setup(test_pipe, reset_checks),
  };
  int rc;

  signal(SIGPIPE, SIG_IGN);
  /* Fewer pieces under Valgrind: a point per suspension. */
  data_len = (corio_test_under_valgrind() ? 16 : 24) * (size_t)PIECE;
  data_out = malloc(data_len);
  data_in = malloc(data_len);
  assert_non_null(data_out);
  assert_non_null(data_in);
  fill(data_out, data_len, 5);
  fill(data_in, data_len, 11);
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(data_out);
  free(data_in);
  return rc;
}
