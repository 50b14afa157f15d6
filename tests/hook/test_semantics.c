/* The hook layer under adversarial use: loops that close while tasks are
 * blocked in hooked calls, poll on closed and regular fds, cancelling a
 * many-fd poll and a pending getaddrinfo, partial counts (slow readers,
 * SO_SNDTIMEO), accept4's flags, dup2 over a blocked fd (and a dup2 that
 * fails), a close while two tasks wait followed by the number's reuse,
 * readers sharing one socket, a close from a plain thread, MSG_PEEK with
 * MSG_WAITALL, a zero-length datagram receive, a Unix connect to a full
 * backlog and concurrent gethostbyname. Every case checks that no fd is
 * left open. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/combine.h"
#include "corio/hook.h"
#include "corio/loop.h"
#include "corio/task.h"

/* ---- helpers ------------------------------------------------------------- */

static void run_case(corio_task_fn body, void *arg) {
  int before = corio_test_open_fds();

  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(body, arg, NULL), 0);
  assert_int_equal(corio_hook_disable(), 0);
  assert_checks_passed();
  assert_int_equal(corio_test_open_fds(), before);
}

static void close_pair(int fds[2]) {
  close(fds[0]);
  close(fds[1]);
}

/* A reader blocked in read(2) (or recv) and what it got. */
struct blocked_read {
  int fd;
  ssize_t n;
  int err;
  char buf[64];
};

static int blocked_read_task(void *arg, void **result) {
  struct blocked_read *b = arg;

  (void)result;
  b->n = read(b->fd, b->buf, sizeof b->buf);
  b->err = b->n < 0 ? errno : 0;
  return 0;
}

/* ---- the loop closes while a task is blocked ------------------------------
 */

/* corio_run's main task returns while another task is blocked in read:
 * the shutdown cancels it (ECANCELED), nothing leaks, and the fd works
 * afterwards, outside any loop and in a new one. */
static int main_leaves_reader(void *arg, void **result) {
  struct blocked_read *b = arg;

  (void)result;
  CHECK_EQ(corio_spawn(NULL, blocked_read_task, b), 0);
  CHECK_EQ(corio_sleep(0.005), 0);
  return 0; /* the reader is still blocked */
}

static int read_after_write(void *arg, void **result) {
  int *fds = arg;
  struct blocked_read b = {.fd = fds[0]};
  corio_task *t;

  (void)result;
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &b), 0);
  CHECK_EQ(corio_sleep(0.005), 0);
  CHECK_EQ(write(fds[1], "again", 5), 5);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(b.n, 5);
  return 0;
}

static void test_run_ends_with_blocked_reader(void **state) {
  int before = corio_test_open_fds();
  int fds[2];
  struct blocked_read b;
  char buf[8];

  (void)state;
  assert_int_equal(pipe(fds), 0);
  b = (struct blocked_read){.fd = fds[0]};
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(main_leaves_reader, &b, NULL), 0);
  assert_checks_passed();
  assert_int_equal(b.n, -1);
  assert_int_equal(b.err, ECANCELED);
  /* Outside any loop: blocking semantics, the data is there. */
  assert_int_equal(write(fds[1], "x", 1), 1);
  assert_int_equal(read(fds[0], buf, sizeof buf), 1);
  assert_int_equal(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  /* A new loop's task waits on it as on any fd (the old loop is gone). */
  reset_checks(NULL);
  assert_int_equal(corio_run(read_after_write, fds, NULL), 0);
  assert_checks_passed();
  assert_int_equal(corio_hook_disable(), 0);
  close_pair(fds);
  assert_int_equal(corio_test_open_fds(), before);
}

/* corio_loop_close with a task blocked in read (and one in a 20-fd poll):
 * their coroutines are closed, the calls fail, a retry does not hang. */
struct closing_reader {
  int fd;
  ssize_t first, second;
  int first_err, second_err;
};

static int closing_reader_task(void *arg, void **result) {
  struct closing_reader *c = arg;
  char buf[8];

  (void)result;
  c->first = read(c->fd, buf, sizeof buf);
  c->first_err = errno;
  /* Blocking code that retries once must not hang on a closing loop. */
  c->second = read(c->fd, buf, sizeof buf);
  c->second_err = errno;
  return 0;
}

#define MANY 20

struct closing_poller {
  int fds[MANY][2];
  int rc, err;
};

static int closing_poll_task(void *arg, void **result) {
  struct closing_poller *p = arg;
  struct pollfd pfd[MANY];

  (void)result;
  for (int i = 0; i < MANY; i++)
    pfd[i] = (struct pollfd){.fd = p->fds[i][0], .events = POLLIN};
  p->rc = poll(pfd, MANY, -1);
  p->err = errno;
  return 0;
}

static int short_main(void *arg, void **result) {
  (void)arg, (void)result;
  return corio_sleep(0.005);
}

static void quiet_handler(corio_loop *loop, const corio_loop_error *e,
                          void *arg) {
  (void)loop, (void)e;
  ++*(int *)arg;
}

static void test_loop_close_with_blocked_calls(void **state) {
  int before = corio_test_open_fds();
  int fds[2], reports = 0;
  struct closing_reader c = {0};
  struct closing_poller *p = calloc(1, sizeof *p);
  corio_loop *loop;
  corio_task *main_task;
  char buf[8];

  (void)state;
  assert_non_null(p);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  for (int i = 0; i < MANY; i++)
    assert_int_equal(pipe(p->fds[i]), 0);
  c.fd = fds[0];
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  corio_loop_set_exception_handler(loop, quiet_handler, &reports);
  assert_int_equal(corio_spawn_ex(NULL, closing_reader_task, &c,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(corio_spawn_ex(NULL, closing_poll_task, p,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(corio_spawn_ex(&main_task, short_main, NULL,
                                  &(corio_spawn_options){.loop = loop}),
                   0);
  assert_int_equal(
      corio_run_until_complete(loop, corio_task_future(main_task), NULL), 0);
  corio_task_unref(main_task);
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_unref(loop);
  assert_int_equal(c.first, -1);
  assert_int_equal(c.first_err, ECANCELED);
  assert_int_equal(c.second, -1);
  assert_int_equal(c.second_err, ECANCELED);
  assert_int_equal(p->rc, -1);
  assert_int_equal(p->err, ECANCELED);
  /* Both fds still work, blocking, outside any loop. */
  assert_int_equal(write(fds[1], "ok", 2), 2);
  assert_int_equal(read(fds[0], buf, sizeof buf), 2);
  assert_int_equal(write(p->fds[MANY - 1][1], "y", 1), 1);
  assert_int_equal(read(p->fds[MANY - 1][0], buf, 1), 1);
  assert_int_equal(corio_hook_disable(), 0);
  close_pair(fds);
  for (int i = 0; i < MANY; i++)
    close_pair(p->fds[i]);
  free(p);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- poll on closed fds and regular files ------------------------------- */

static int poll_odd_fds(void *arg, void **result) {
  char path[] = "/tmp/corio-hook-semantics-XXXXXX";
  int file = mkstemp(path), fds[2], closed;
  struct pollfd p[2];
  fd_set r;

  (void)arg, (void)result;
  CHECK_TRUE(file >= 0);
  unlink(path);
  CHECK_EQ(pipe(fds), 0);
  closed = dup(fds[0]);
  CHECK_EQ(close(closed), 0);
  /* A closed fd: POLLNVAL at once, however long the timeout. */
  p[0] = (struct pollfd){.fd = closed, .events = POLLIN};
  CHECK_EQ(poll(p, 1, -1), 1);
  CHECK_EQ(p[0].revents, POLLNVAL);
  /* A regular file is always ready. */
  p[0] = (struct pollfd){.fd = file, .events = POLLIN | POLLOUT};
  CHECK_EQ(poll(p, 1, -1), 1);
  CHECK_EQ(p[0].revents, POLLIN | POLLOUT);
  /* Mixed with a pipe that never becomes ready (its writer stays open). */
  p[1] = (struct pollfd){.fd = fds[0], .events = POLLIN};
  CHECK_EQ(poll(p, 2, 5000), 1);
  CHECK_EQ(p[1].revents, 0);
  /* A negative fd is ignored; alone, the call is a sleep. */
  p[0] = (struct pollfd){.fd = -1, .events = POLLIN};
  CHECK_EQ(poll(p, 1, 5), 0);
  CHECK_EQ(poll(NULL, 0, 5), 0);
  /* select says EBADF for a closed fd. */
  FD_ZERO(&r);
  FD_SET(closed, &r);
  CHECK_EQ(select(closed + 1, &r, NULL, NULL, NULL), -1);
  CHECK_EQ(errno, EBADF);
  /* And a regular file is readable at once. */
  FD_ZERO(&r);
  FD_SET(file, &r);
  CHECK_EQ(select(file + 1, &r, NULL, NULL, NULL), 1);
  close_pair(fds);
  close(file);
  return 0;
}

static void test_poll_closed_and_regular(void **state) {
  (void)state;
  run_case(poll_odd_fds, NULL);
}

/* ---- cancelling a 20-fd poll (the malloc path) ----------------------------
 */

static int cancel_big_poll(void *arg, void **result) {
  struct closing_poller *p = calloc(1, sizeof *p);
  corio_task *t;
  char c;

  (void)arg, (void)result;
  for (int i = 0; i < MANY; i++)
    CHECK_EQ(pipe(p->fds[i]), 0);
  for (int round = 0; round < 3; round++) {
    CHECK_EQ(corio_spawn(&t, closing_poll_task, p), 0);
    CHECK_EQ(corio_sleep(0.002), 0);
    CHECK_EQ(corio_task_cancel(t, NULL), 1);
    CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
    corio_task_unref(t);
    CHECK_EQ(p->rc, -1);
    CHECK_EQ(p->err, ECANCELED);
  }
  /* The watchers went with the cancelled waits: a new poll sees data. */
  CHECK_EQ(corio_spawn(&t, closing_poll_task, p), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(p->fds[7][1], "z", 1), 1);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(p->rc, 1);
  CHECK_EQ(read(p->fds[7][0], &c, 1), 1);
  for (int i = 0; i < MANY; i++)
    close_pair(p->fds[i]);
  free(p);
  return 0;
}

static void test_cancel_many_fd_poll(void **state) {
  (void)state;
  run_case(cancel_big_poll, NULL);
}

/* ---- cancelling getaddrinfo -------------------------------------------- */

struct lookup {
  int rc, err;
};

static int lookup_task(void *arg, void **result) {
  struct lookup *l = arg;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;

  (void)result;
  l->rc = getaddrinfo("localhost", "80", &hints, &res);
  l->err = errno;
  if (l->rc == 0)
    freeaddrinfo(res);
  return 0;
}

static int cancel_lookups(void *arg, void **result) {
  (void)arg, (void)result;
  for (int i = 0; i < 40; i++) {
    struct lookup l = {-1, 0};
    corio_task *t;

    CHECK_EQ(corio_spawn(&t, lookup_task, &l), 0);
    /* Cancel at different points: queued, running, done. */
    for (int k = 0; k < i % 4; k++)
      CHECK_EQ(corio_sleep(0), 0);
    (void)corio_task_cancel(t, NULL);
    (void)corio_task_await(t, NULL);
    if (corio_task_cancelled(t)) {
      /* Cancelled inside the call: EAI_SYSTEM with ECANCELED... */
      if (l.rc != -1) {
        CHECK_EQ(l.rc, EAI_SYSTEM);
        CHECK_EQ(l.err, ECANCELED);
      }
    } else {
      CHECK_EQ(l.rc, 0); /* ...or it had finished */
    }
    corio_task_unref(t);
  }
  return 0;
}

static void test_cancel_getaddrinfo(void **state) {
  (void)state;
  /* Twice: the second run starts from a fresh executor. */
  run_case(cancel_lookups, NULL);
  run_case(cancel_lookups, NULL);
}

/* ---- partial counts ---------------------------------------------------- */

#define PIPE_BIG (1024 * 1024)

struct slow_pipe {
  int fds[2];
  unsigned char *out, *in;
  ssize_t written;
};

static int slow_pipe_writer(void *arg, void **result) {
  struct slow_pipe *s = arg;

  (void)result;
  s->written = write(s->fds[1], s->out, PIPE_BIG);
  return 0;
}

static int slow_pipe_case(void *arg, void **result) {
  struct slow_pipe s;
  corio_task *w;
  size_t got = 0;
  int reads = 0;

  (void)arg, (void)result;
  s.out = malloc(PIPE_BIG);
  s.in = malloc(PIPE_BIG);
  for (size_t i = 0; i < PIPE_BIG; i++)
    s.out[i] = (unsigned char)(i * 7 + (i >> 11));
  CHECK_EQ(pipe(s.fds), 0);
  CHECK_EQ(corio_spawn(&w, slow_pipe_writer, &s), 0);
  /* The reader takes small pieces with sleeps between them: the writer's
   * one call goes on across many partial kernel writes. */
  while (got < PIPE_BIG) {
    ssize_t n = read(s.fds[0], s.in + got,
                     PIPE_BIG - got < 16384 ? PIPE_BIG - got : 16384);

    CHECK_TRUE(n > 0);
    if (n <= 0)
      break;
    got += (size_t)n;
    if (++reads % 8 == 0)
      CHECK_EQ(usleep(500), 0);
  }
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  CHECK_EQ(s.written, PIPE_BIG);
  CHECK_TRUE(memcmp(s.in, s.out, PIPE_BIG) == 0);
  close_pair(s.fds);
  free(s.out);
  free(s.in);
  return 0;
}

static void test_slow_pipe_reader(void **state) {
  (void)state;
  run_case(slow_pipe_case, NULL);
}

#define SOCK_BIG (8 * 1024 * 1024)

/* SO_SNDTIMEO with nobody reading: the write returns the partial count at
 * the timeout; the next write, with no room at all, EAGAIN. */
static int send_timeout_case(void *arg, void **result) {
  struct timeval tv = {0, 50000};
  unsigned char *buf = malloc(SOCK_BIG), *in = malloc(SOCK_BIG);
  int fds[2];
  ssize_t n, got = 0;

  (void)arg, (void)result;
  for (size_t i = 0; i < SOCK_BIG; i++)
    buf[i] = (unsigned char)(i * 13 + (i >> 9));
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  CHECK_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
  n = write(fds[0], buf, SOCK_BIG);
  CHECK_TRUE(n > 0 && n < SOCK_BIG);
  CHECK_EQ(write(fds[0], buf, SOCK_BIG), -1);
  CHECK_EQ(errno, EAGAIN);
  /* What was counted was sent, in order. */
  CHECK_EQ(shutdown(fds[0], SHUT_WR), 0);
  for (ssize_t k; (k = read(fds[1], in + got, (size_t)(SOCK_BIG - got))) > 0;)
    got += k;
  CHECK_EQ(got, n);
  CHECK_TRUE(n > 0 && memcmp(in, buf, (size_t)n) == 0);
  close_pair(fds);
  free(buf);
  free(in);
  return 0;
}

static void test_send_timeout_partial(void **state) {
  (void)state;
  run_case(send_timeout_case, NULL);
}

/* ---- accept4's flags ---------------------------------------------------- */

struct listener {
  int fd;
  struct sockaddr_in addr;
};

static int open_listener(struct listener *l) {
  socklen_t len = sizeof l->addr;

  memset(&l->addr, 0, sizeof l->addr);
  l->addr.sin_family = AF_INET;
  l->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  l->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (l->fd < 0 ||
      bind(l->fd, (struct sockaddr *)&l->addr, sizeof l->addr) != 0 ||
      listen(l->fd, 8) != 0 ||
      getsockname(l->fd, (struct sockaddr *)&l->addr, &len) != 0)
    return -1;
  return 0;
}

static int connector(void *arg, void **result) {
  struct listener *l = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  (void)result;
  CHECK_EQ(usleep(2000), 0);
  CHECK_EQ(connect(fd, (struct sockaddr *)&l->addr, sizeof l->addr), 0);
  CHECK_EQ(write(fd, "hi", 2), 2);
  CHECK_EQ(usleep(5000), 0);
  close(fd);
  return 0;
}

static int accept4_case(void *arg, void **result) {
  struct listener l;
  corio_task *t;
  char buf[4];
  int c;

  (void)arg, (void)result;
  CHECK_EQ(open_listener(&l), 0);
  /* SOCK_NONBLOCK: the user's own choice, visible and honoured. */
  CHECK_EQ(corio_spawn(&t, connector, &l), 0);
  c = accept4(l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  CHECK_TRUE(c >= 0);
  CHECK_TRUE(fcntl(c, F_GETFL) & O_NONBLOCK);
  CHECK_TRUE(fcntl(c, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(corio_sleep(0.001), 0);
  /* Whatever arrived, an empty buffer says EAGAIN at once, never waits. */
  (void)recv(c, buf, sizeof buf, 0);
  CHECK_EQ(read(c, buf, sizeof buf), -1);
  CHECK_EQ(errno, EAGAIN);
  close(c);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  /* No flags: blocking, and F_GETFL says so even after a hooked wait. */
  CHECK_EQ(corio_spawn(&t, connector, &l), 0);
  c = accept4(l.fd, NULL, NULL, 0);
  CHECK_TRUE(c >= 0);
  CHECK_EQ(fcntl(c, F_GETFD) & FD_CLOEXEC, 0);
  CHECK_EQ(recv(c, buf, 2, MSG_WAITALL), 2);
  CHECK_EQ(read(c, buf, sizeof buf), 0); /* waits for the peer's close */
  CHECK_EQ(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
  close(c);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  close(l.fd);
  return 0;
}

static void test_accept4_flags(void **state) {
  (void)state;
  run_case(accept4_case, NULL);
}

/* connect to a closed loopback port: the kernel's ECONNREFUSED. */
static int refused_case(void *arg, void **result) {
  struct listener l;
  int fd;

  (void)arg, (void)result;
  CHECK_EQ(open_listener(&l), 0);
  close(l.fd); /* the port is free now; nobody listens */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ(connect(fd, (struct sockaddr *)&l.addr, sizeof l.addr), -1);
  CHECK_EQ(errno, ECONNREFUSED);
  close(fd);
  return 0;
}

static void test_connect_refused(void **state) {
  (void)state;
  run_case(refused_case, NULL);
}

/* ---- dup2 over a blocked fd, and a dup2 that fails ----------------------- */

static int dup2_case(void *arg, void **result) {
  int a[2], b[2];
  struct blocked_read r;
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  CHECK_EQ(pipe(b), 0);
  r = (struct blocked_read){.fd = a[0]};
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  /* a[0] now names b's read end: the blocked read fails with EBADF. */
  CHECK_EQ(dup2(b[0], a[0]), a[0]);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.n, -1);
  CHECK_EQ(r.err, EBADF);
  /* The number is the pipe now, blocking as the pipe is. */
  CHECK_EQ(fcntl(a[0], F_GETFL) & O_NONBLOCK, 0);
  r = (struct blocked_read){.fd = a[0]};
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(b[1], "via b", 5), 5);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.n, 5);
  close_pair(a);
  close_pair(b);
  return 0;
}

static void test_dup2_over_blocked_fd(void **state) {
  (void)state;
  run_case(dup2_case, NULL);
}

/* dup2 from an fd that is not open fails and leaves new_fd as it was:
 * still blocking for the user, though the hooks made it non-blocking in
 * the kernel. */
static int failed_dup2_case(void *arg, void **result) {
  int p[2];
  struct blocked_read r;
  corio_task *t;
  struct pollfd pfd;

  (void)arg, (void)result;
  CHECK_EQ(pipe(p), 0);
  pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
  r = (struct blocked_read){.fd = p[0]};
  /* A hooked wait: the kernel's O_NONBLOCK is the hooks' now. */
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(p[1], "1", 1), 1);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.n, 1);
  CHECK_EQ(dup2(1000, p[0]), -1);
  CHECK_EQ(errno, EBADF);
  CHECK_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  /* So a read still waits for data rather than saying EAGAIN. */
  r = (struct blocked_read){.fd = p[0]};
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(p[1], "2", 1), 1);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.n, 1);
  CHECK_EQ(r.err, 0);
  (void)pfd;
  close_pair(p);
  return 0;
}

static void test_failed_dup2_keeps_state(void **state) {
  (void)state;
  run_case(failed_dup2_case, NULL);
}

/* ---- close with two waiters, then the number is reused --------------------
 */

static int watcher_fired(void *arg) {
  ++*(int *)arg;
  return 0;
}

/* Two tasks wait on fd X; a third closes X, opens a new pipe that gets
 * number X and watches it with the loop directly (as a corio stream
 * would). The woken waiters leaving must not take that watcher over or
 * remove it. */
static int close_reuse_case(void *arg, void **result) {
  int old[2], fresh[2], fired = 0;
  struct blocked_read r1, r2;
  corio_task *t1, *t2;
  corio_loop *loop = corio_loop_current();
  char c;

  (void)arg, (void)result;
  CHECK_EQ(pipe(old), 0);
  r1 = (struct blocked_read){.fd = old[0]};
  r2 = (struct blocked_read){.fd = old[0]};
  CHECK_EQ(corio_spawn(&t1, blocked_read_task, &r1), 0);
  CHECK_EQ(corio_spawn(&t2, blocked_read_task, &r2), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(close(old[0]), 0);
  CHECK_EQ(pipe(fresh), 0);
  CHECK_EQ(fresh[0], old[0]); /* the lowest free number, reused */
  CHECK_EQ(corio_loop_add_reader(loop, fresh[0], watcher_fired, &fired), 0);
  CHECK_EQ(corio_task_await(t1, NULL), 0);
  CHECK_EQ(corio_task_await(t2, NULL), 0);
  corio_task_unref(t1);
  corio_task_unref(t2);
  CHECK_EQ(r1.err, EBADF);
  CHECK_EQ(r2.err, EBADF);
  CHECK_EQ(write(fresh[1], "w", 1), 1);
  for (int i = 0; i < 200 && !fired; i++)
    CHECK_EQ(corio_sleep(0.001), 0);
  CHECK_TRUE(fired > 0);
  (void)corio_loop_remove_reader(loop, fresh[0]);
  CHECK_EQ(read(fresh[0], &c, 1), 1);
  close(old[1]);
  close_pair(fresh);
  return 0;
}

static void test_close_two_waiters_then_reuse(void **state) {
  (void)state;
  run_case(close_reuse_case, NULL);
}

/* ---- two readers on one socket ------------------------------------------ */

#define SHARED_BYTES 200

struct shared {
  int fds[2];
  int got[2];
};

struct shared_reader {
  struct shared *s;
  int index;
};

static int shared_reader_task(void *arg, void **result) {
  struct shared_reader *r = arg;
  char c;
  ssize_t n;

  (void)result;
  /* One byte per call, until the writer's shutdown. */
  while ((n = recv(r->s->fds[1], &c, 1, 0)) == 1)
    r->s->got[r->index]++;
  CHECK_EQ(n, 0);
  return 0;
}

static int shared_socket_case(void *arg, void **result) {
  struct shared s = {0};
  struct shared_reader r[2] = {{&s, 0}, {&s, 1}};
  struct timeval tv = {10, 0}; /* a hang fails as EAGAIN, not a timeout */
  corio_task *t[2];

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s.fds), 0);
  CHECK_EQ(setsockopt(s.fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(corio_spawn(&t[i], shared_reader_task, &r[i]), 0);
  for (int i = 0; i < SHARED_BYTES; i++) {
    CHECK_EQ(write(s.fds[0], "b", 1), 1);
    if (i % 3 == 0)
      CHECK_EQ(corio_sleep(0), 0);
  }
  CHECK_EQ(shutdown(s.fds[0], SHUT_WR), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(corio_task_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  CHECK_EQ(s.got[0] + s.got[1], SHARED_BYTES);
  CHECK_TRUE(s.got[0] > 0 && s.got[1] > 0);
  close_pair(s.fds);
  return 0;
}

static void test_two_readers_one_socket(void **state) {
  (void)state;
  run_case(shared_socket_case, NULL);
}

/* ---- a plain thread closes an fd a task is blocked on -------------------- */

static void *close_later(void *arg) {
  struct timespec ts = {0, 20000000};

  nanosleep(&ts, NULL);
  close(*(int *)arg);
  return NULL;
}

static int thread_close_case(void *arg, void **result) {
  int fds[2];
  pthread_t th;
  struct blocked_read r;
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  r = (struct blocked_read){.fd = fds[0]};
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.001), 0);
  CHECK_EQ(pthread_create(&th, NULL, close_later, &fds[0]), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(r.n, -1);
  CHECK_EQ(r.err, EBADF);
  close(fds[1]);
  return 0;
}

static void test_close_from_thread(void **state) {
  (void)state;
  run_case(thread_close_case, NULL);
}

/* ---- MSG_PEEK | MSG_WAITALL -----------------------------------------------
 */

static int peek_sender(void *arg, void **result) {
  int fd = *(int *)arg;

  (void)result;
  CHECK_EQ(send(fd, "abc", 3, 0), 3);
  CHECK_EQ(usleep(5000), 0);
  CHECK_EQ(send(fd, "def", 3, 0), 3);
  return 0;
}

/* TCP: the kernel waits until the whole length can be peeked, and peeking
 * never moves on, so the answer is "abcdef" (never "abcabc"). */
static int peek_waitall_case(void *arg, void **result) {
  struct listener l;
  int client, server;
  char buf[7] = {0};
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(open_listener(&l), 0);
  client = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ(connect(client, (struct sockaddr *)&l.addr, sizeof l.addr), 0);
  server = accept(l.fd, NULL, NULL);
  CHECK_TRUE(server >= 0);
  CHECK_EQ(corio_spawn(&t, peek_sender, &client), 0);
  CHECK_EQ(recv(server, buf, 6, MSG_PEEK | MSG_WAITALL), 6);
  CHECK_STR(buf, "abcdef");
  memset(buf, 0, sizeof buf);
  CHECK_EQ(recv(server, buf, 6, MSG_WAITALL), 6);
  CHECK_STR(buf, "abcdef");
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  close(client);
  close(server);
  close(l.fd);
  return 0;
}

static void test_peek_waitall(void **state) {
  (void)state;
  run_case(peek_waitall_case, NULL);
}

/* ---- a zero-length receive on a datagram socket blocks ---------------- */

static int late_datagram(void *arg, void **result) {
  int *fds = arg;

  (void)result;
  CHECK_EQ(usleep(5000), 0);
  CHECK_EQ(send(fds[0], "d", 1, 0), 1);
  return 0;
}

static int zero_len_dgram_case(void *arg, void **result) {
  int fds[2];
  char c;
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  /* A first wait makes the socket non-blocking underneath. */
  CHECK_EQ(corio_spawn(&t, late_datagram, fds), 0);
  CHECK_EQ(recv(fds[1], &c, 1, 0), 1);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  /* recv with len 0 on a blocking datagram socket waits for a datagram
   * (and consumes it), as the kernel does. */
  CHECK_EQ(corio_spawn(&t, late_datagram, fds), 0);
  CHECK_EQ(recv(fds[1], &c, 0, 0), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  close_pair(fds);
  return 0;
}

static void test_zero_length_datagram_recv(void **state) {
  (void)state;
  run_case(zero_len_dgram_case, NULL);
}

/* ---- connect to a Unix listener with a full backlog -----------------------
 */

struct unix_case {
  struct sockaddr_un addr;
  int listener;
  int accepted;
};

static int slow_acceptor(void *arg, void **result) {
  struct unix_case *u = arg;

  (void)result;
  CHECK_EQ(usleep(20000), 0);
  for (int i = 0; i < 2; i++) {
    int c = accept(u->listener, NULL, NULL);

    CHECK_TRUE(c >= 0);
    if (c >= 0) {
      u->accepted++;
      close(c);
    }
  }
  return 0;
}

/* A blocking connect waits while the backlog is full (the kernel's EAGAIN
 * on a non-blocking socket means "not started", not "in progress") and
 * returns 0 only once connected. */
static int unix_backlog_case(void *arg, void **result) {
  struct unix_case u = {0};
  struct timeval tv = {2, 0};
  char dir[] = "/tmp/corio-hook-XXXXXX";
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  int first, second;
  corio_task *t;

  (void)arg, (void)result;
  CHECK_TRUE(mkdtemp(dir) != NULL);
  u.addr.sun_family = AF_UNIX;
  snprintf(u.addr.sun_path, sizeof u.addr.sun_path, "%s/s", dir);
  u.listener = socket(AF_UNIX, SOCK_STREAM, 0);
  /* A connect that returns without connecting leaves the acceptor's second
   * accept waiting: it fails after this instead of hanging the test. */
  CHECK_EQ(setsockopt(u.listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  CHECK_EQ(bind(u.listener, (struct sockaddr *)&u.addr, sizeof u.addr), 0);
  CHECK_EQ(listen(u.listener, 0), 0);
  first = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CHECK_EQ(connect(first, (struct sockaddr *)&u.addr, sizeof u.addr), 0);
  CHECK_EQ(corio_spawn(&t, slow_acceptor, &u), 0);
  second = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(connect(second, (struct sockaddr *)&u.addr, sizeof u.addr), 0);
  CHECK_EQ(getpeername(second, (struct sockaddr *)&peer, &len), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(u.accepted, 2);
  close(first);
  close(second);
  close(u.listener);
  unlink(u.addr.sun_path);
  rmdir(dir);
  return 0;
}

static void test_unix_connect_full_backlog(void **state) {
  (void)state;
  run_case(unix_backlog_case, NULL);
}

/* ---- gethostbyname from many tasks at once ----------------------------------
 */

static int hostbyname_task(void *arg, void **result) {
  int id = (int)(intptr_t)arg;
  char name[32];

  (void)result;
  for (int i = 0; i < 150; i++) {
    struct in_addr want;
    struct hostent *h;

    snprintf(name, sizeof name, "10.%d.%d.%d", id, i % 250, (i * 7) % 250);
    inet_pton(AF_INET, name, &want);
    h = gethostbyname(name);
    CHECK_TRUE(h != NULL);
    if (!h)
      return 0;
    /* The answer is this task's own, not another lookup's. */
    CHECK_STR(h->h_name, name);
    CHECK_TRUE(memcmp(h->h_addr_list[0], &want, sizeof want) == 0);
  }
  return 0;
}

static int hostbyname_case(void *arg, void **result) {
  corio_task *t[8];

  (void)arg, (void)result;
  for (int i = 0; i < 8; i++)
    CHECK_EQ(corio_spawn(&t[i], hostbyname_task, (void *)(intptr_t)(i + 1)), 0);
  for (int i = 0; i < 8; i++) {
    CHECK_EQ(corio_task_await(t[i], NULL), 0);
    corio_task_unref(t[i]);
  }
  return 0;
}

static void test_concurrent_gethostbyname(void **state) {
  (void)state;
  run_case(hostbyname_case, NULL);
}

/* glibc's gethostbyname answer stays readable (if overwritten) until the
 * next call; blocking code keeps using it across calls that suspend (a
 * connect per address). Another task's lookup meanwhile must not free it
 * under the first task (ASan / Valgrind see a use after free). */
static int hostent_holder(void *arg, void **result) {
  struct hostent *h = gethostbyname("10.9.9.1");

  (void)arg, (void)result;
  CHECK_TRUE(h != NULL);
  if (!h)
    return 0;
  CHECK_EQ(usleep(10000), 0); /* another task looks up meanwhile */
  CHECK_TRUE(strlen(h->h_name) > 0 && h->h_addr_list[0] != NULL);
  return 0;
}

static int hostent_overwriter(void *arg, void **result) {
  (void)arg, (void)result;
  CHECK_EQ(usleep(2000), 0);
  CHECK_TRUE(gethostbyname("10.9.9.2") != NULL);
  return 0;
}

static int hostent_lifetime_case(void *arg, void **result) {
  corio_task *a, *b;

  (void)arg, (void)result;
  CHECK_EQ(corio_spawn(&a, hostent_holder, NULL), 0);
  CHECK_EQ(corio_spawn(&b, hostent_overwriter, NULL), 0);
  CHECK_EQ(corio_task_await(a, NULL), 0);
  CHECK_EQ(corio_task_await(b, NULL), 0);
  corio_task_unref(a);
  corio_task_unref(b);
  return 0;
}

static void test_gethostbyname_result_lifetime(void **state) {
  (void)state;
  run_case(hostent_lifetime_case, NULL);
}

/* ---- a dup made before the hooks set O_NONBLOCK ----------------------------
 */

struct dup_reader {
  int fd;
  ssize_t n;
  int err;
};

static void *dup_thread_read(void *arg) {
  struct dup_reader *d = arg;
  char c;

  d->n = read(d->fd, &c, 1);
  d->err = d->n < 0 ? errno : 0;
  return NULL;
}

/* b = dup(a) shares a's open file. A task's wait on a makes that file
 * non-blocking in the kernel; b, which the user never made non-blocking,
 * must still block in a plain thread. (F_GETFL on b shows the kernel's
 * flag: the table is per fd number, and b was copied before the wait;
 * docs/hook.md says so.) */
static int dup_before_wait_case(void *arg, void **result) {
  int *fds = arg;
  struct blocked_read r = {.fd = fds[0]};
  corio_task *t;

  (void)result;
  CHECK_EQ(corio_spawn(&t, blocked_read_task, &r), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(fds[1], "a", 1), 1);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(r.n, 1);
  return 0;
}

static void test_dup_before_hooked_wait(void **state) {
  int before = corio_test_open_fds();
  int fds[2], copy;
  struct dup_reader d;
  pthread_t th;
  struct timespec ts = {0, 20000000};

  (void)state;
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  copy = dup(fds[0]);
  assert_true(copy >= 0);
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(dup_before_wait_case, fds, NULL), 0);
  assert_checks_passed();
  d = (struct dup_reader){.fd = copy};
  assert_int_equal(pthread_create(&th, NULL, dup_thread_read, &d), 0);
  nanosleep(&ts, NULL);
  assert_int_equal(write(fds[1], "b", 1), 1);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(corio_hook_disable(), 0);
  close(copy);
  close_pair(fds);
  assert_int_equal(corio_test_open_fds(), before);
  assert_int_equal(d.n, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_run_ends_with_blocked_reader, reset_checks),
      cmocka_unit_test_setup(test_loop_close_with_blocked_calls, reset_checks),
      cmocka_unit_test_setup(test_poll_closed_and_regular, reset_checks),
      cmocka_unit_test_setup(test_cancel_many_fd_poll, reset_checks),
      cmocka_unit_test_setup(test_cancel_getaddrinfo, reset_checks),
      cmocka_unit_test_setup(test_slow_pipe_reader, reset_checks),
      cmocka_unit_test_setup(test_send_timeout_partial, reset_checks),
      cmocka_unit_test_setup(test_accept4_flags, reset_checks),
      cmocka_unit_test_setup(test_connect_refused, reset_checks),
      cmocka_unit_test_setup(test_dup2_over_blocked_fd, reset_checks),
      cmocka_unit_test_setup(test_failed_dup2_keeps_state, reset_checks),
      cmocka_unit_test_setup(test_close_two_waiters_then_reuse, reset_checks),
      cmocka_unit_test_setup(test_two_readers_one_socket, reset_checks),
      cmocka_unit_test_setup(test_close_from_thread, reset_checks),
      cmocka_unit_test_setup(test_peek_waitall, reset_checks),
      cmocka_unit_test_setup(test_zero_length_datagram_recv, reset_checks),
      cmocka_unit_test_setup(test_unix_connect_full_backlog, reset_checks),
      cmocka_unit_test_setup(test_dup_before_hooked_wait, reset_checks),
      cmocka_unit_test_setup(test_concurrent_gethostbyname, reset_checks),
      cmocka_unit_test_setup(test_gethostbyname_result_lifetime, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
