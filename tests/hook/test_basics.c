/* The hook layer's semantics with plain blocking calls in tasks: sleeps
 * and pipe/socket I/O interleave on one thread, the kernel's blocking
 * rules hold (full writes, MSG_WAITALL, SO_RCVTIMEO, user O_NONBLOCK,
 * F_GETFL), cancellation and timeout scopes reach a blocked call, close
 * fails the waiters with EBADF, errno is per task, poll/select watch
 * several fds, calls outside tasks pass through, and the opt-outs work.
 * Every case checks that no fd is left open. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/combine.h"
#include "corio/hook.h"
#include "corio/loop.h"
#include "corio/net.h"
#include "corio/task.h"

/* ---- helpers
 * ----------------------------------------------------------------- */

/* The order in which tasks reached their steps, as letters. */
static char trace[128];
static size_t trace_len;

static void mark(char c) {
  if (trace_len + 1 < sizeof trace)
    trace[trace_len++] = c;
  trace[trace_len] = 0;
}

static void run_case(corio_task_fn body, void *arg) {
  int before = corio_test_open_fds();

  trace_len = 0;
  trace[0] = 0;
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(body, arg, NULL), 0);
  assert_int_equal(corio_hook_disable(), 0);
  assert_checks_passed();
  assert_int_equal(corio_test_open_fds(), before);
}

static int spawn_all(corio_task_fn fn, void **args, int n, int *rcs) {
  corio_task *tasks[8];

  for (int i = 0; i < n; i++)
    CHECK_EQ(corio_spawn(&tasks[i], fn, args[i]), 0);
  for (int i = 0; i < n; i++) {
    void *res = NULL;

    rcs[i] = corio_task_await(tasks[i], &res);
    corio_task_unref(tasks[i]);
  }
  return 0;
}

/* ---- sleep
 * ------------------------------------------------------------------- */

static int sleeper(void *arg, void **result) {
  (void)result;
  for (int i = 0; i < 3; i++) {
    mark(*(const char *)arg);
    CHECK_EQ(usleep(20000), 0);
  }
  return 0;
}

static int three_sleepers(void *arg, void **result) {
  void *names[3] = {"a", "b", "c"};
  int rcs[3];

  (void)arg, (void)result;
  spawn_all(sleeper, names, 3, rcs);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(rcs[i], 0);
  return 0;
}

static void test_sleep_interleaves(void **state) {
  (void)state;
  run_case(three_sleepers, NULL);
  assert_string_equal(trace, "abcabcabc");
}

static int opted_out_sleeper(void *arg, void **result) {
  CHECK_EQ(corio_hook_task_set(corio_current_task(), 0), 0);
  CHECK_EQ(corio_hook_active(), 0);
  return sleeper(arg, result);
}

static int three_opted_out(void *arg, void **result) {
  void *names[3] = {"a", "b", "c"};
  corio_task *tasks[3];

  (void)arg, (void)result;
  CHECK_EQ(corio_hook_active(), 1);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(corio_spawn(&tasks[i], opted_out_sleeper, names[i]), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(corio_task_await(tasks[i], NULL), 0);
    CHECK_EQ(corio_hook_task_get(tasks[i]), 0);
    corio_task_unref(tasks[i]);
  }
  return 0;
}

/* An opted-out task blocks its thread: no interleaving. */
static void test_task_opt_out(void **state) {
  (void)state;
  run_case(three_opted_out, NULL);
  assert_string_equal(trace, "aaabbbccc");
  assert_int_equal(corio_hook_task_set(NULL, 1), -EINVAL);
}

static void test_disabled_passes_through(void **state) {
  (void)state;
  trace_len = 0;
  assert_int_equal(corio_hook_disable(), 0);
  assert_int_equal(corio_hook_enabled(), 0);
  assert_int_equal(corio_run(three_sleepers, NULL, NULL), 0);
  assert_checks_passed();
  assert_string_equal(trace, "aaabbbccc");
  assert_int_equal(corio_hook_active(), 0); /* not in a task either */
}

static int nanosleep_cancelled(void *arg, void **result) {
  struct timespec req = {30, 0}, rem = {0, 0};

  (void)arg, (void)result;
  CHECK_EQ(nanosleep(&req, &rem), -1);
  CHECK_EQ(errno, ECANCELED);
  CHECK_TRUE(rem.tv_sec > 20); /* the time left, as EINTR would say */
  /* The cancellation is still pending for corio. */
  CHECK_EQ(corio_sleep(0), -ECANCELED);
  return -ECANCELED;
}

static int cancel_sleeper(void *arg, void **result) {
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(corio_spawn(&t, nanosleep_cancelled, NULL), 0);
  CHECK_EQ(corio_sleep(0.01), 0);
  CHECK_EQ(corio_task_cancel(t, "stop"), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  CHECK_EQ(corio_task_cancelled(t), 1);
  corio_task_unref(t);
  return 0;
}

static void test_sleep_cancelled(void **state) {
  (void)state;
  run_case(cancel_sleeper, NULL);
}

static int sleep_in_timeout_scope(void *arg, void **result) {
  corio_timeout scope;
  int rc;

  (void)arg, (void)result;
  CHECK_EQ(corio_timeout_enter(&scope, 0.02), 0);
  rc = sleep(30) == 0 ? 0 : -errno;
  CHECK_EQ(rc, -ECANCELED);
  rc = corio_sleep(0); /* the scope's cancellation, seen by corio */
  CHECK_EQ(corio_timeout_exit(&scope, rc), -ETIMEDOUT);
  return 0;
}

static void test_sleep_timeout_scope(void **state) {
  (void)state;
  run_case(sleep_in_timeout_scope, NULL);
}

/* ---- pipes and sockets
 * ------------------------------------------------------- */

struct pipe_pair {
  int fds[2];
};

static int pipe_reader(void *arg, void **result) {
  struct pipe_pair *p = arg;
  char buf[16] = {0};

  (void)result;
  mark('r');
  CHECK_EQ(read(p->fds[0], buf, sizeof buf), 5);
  mark('R');
  CHECK_STR(buf, "hello");
  return 0;
}

static int pipe_writer(void *arg, void **result) {
  struct pipe_pair *p = arg;

  (void)result;
  mark('w');
  CHECK_EQ(usleep(10000), 0);
  CHECK_EQ(write(p->fds[1], "hello", 5), 5);
  mark('W');
  return 0;
}

static int pipe_case(void *arg, void **result) {
  struct pipe_pair p;
  corio_task *r, *w;

  (void)arg, (void)result;
  CHECK_EQ(pipe(p.fds), 0);
  CHECK_EQ(corio_spawn(&r, pipe_reader, &p), 0);
  CHECK_EQ(corio_spawn(&w, pipe_writer, &p), 0);
  CHECK_EQ(corio_task_await(r, NULL), 0);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  /* The user never asked for O_NONBLOCK: F_GETFL does not show it. */
  CHECK_EQ(fcntl(p.fds[0], F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(fcntl(p.fds[1], F_GETFL) & O_NONBLOCK, 0);
  corio_task_unref(r);
  corio_task_unref(w);
  CHECK_EQ(close(p.fds[0]), 0);
  CHECK_EQ(close(p.fds[1]), 0);
  return 0;
}

static void test_pipe_read_waits(void **state) {
  (void)state;
  run_case(pipe_case, NULL);
  /* The reader waits, the writer runs, then the reader resumes. */
  assert_string_equal(trace, "rwWR");
}

/* ---- large transfer: a blocking write takes everything ----------------------
 */

#define BIG (4 * 1024 * 1024)

struct big {
  int fds[2];
  unsigned char *out, *in;
};

static int big_writer(void *arg, void **result) {
  struct big *b = arg;

  (void)result;
  CHECK_EQ(write(b->fds[0], b->out, BIG), BIG);
  CHECK_EQ(shutdown(b->fds[0], SHUT_WR), 0);
  return 0;
}

static int big_reader(void *arg, void **result) {
  struct big *b = arg;
  size_t got = 0;
  ssize_t n;

  (void)result;
  /* MSG_WAITALL: one call takes it all. */
  n = recv(b->fds[1], b->in, BIG / 2, MSG_WAITALL);
  CHECK_EQ(n, BIG / 2);
  got = n > 0 ? (size_t)n : 0;
  while ((n = read(b->fds[1], b->in + got, BIG - got)) > 0)
    got += (size_t)n;
  CHECK_EQ(n, 0);
  CHECK_EQ(got, BIG);
  return 0;
}

static int big_case(void *arg, void **result) {
  struct big b;
  corio_task *w, *r;

  (void)arg, (void)result;
  b.out = malloc(BIG);
  b.in = malloc(BIG);
  for (size_t i = 0; i < BIG; i++)
    b.out[i] = (unsigned char)(i * 131 + (i >> 13));
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b.fds), 0);
  CHECK_EQ(corio_spawn(&w, big_writer, &b), 0);
  CHECK_EQ(corio_spawn(&r, big_reader, &b), 0);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  CHECK_EQ(corio_task_await(r, NULL), 0);
  CHECK_TRUE(memcmp(b.out, b.in, BIG) == 0);
  corio_task_unref(w);
  corio_task_unref(r);
  close(b.fds[0]);
  close(b.fds[1]);
  free(b.out);
  free(b.in);
  return 0;
}

static void test_full_write_and_waitall(void **state) {
  (void)state;
  run_case(big_case, NULL);
}

/* ---- user O_NONBLOCK and SO_RCVTIMEO
 * ----------------------------------------- */

static int nonblock_and_timeout(void *arg, void **result) {
  int fds[2];
  char c;
  struct timeval tv = {0, 30000};

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  /* The user's own O_NONBLOCK: EAGAIN is theirs, at once. */
  CHECK_EQ(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);
  CHECK_EQ(read(fds[0], &c, 1), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_TRUE(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
  /* Back to blocking, with a receive timeout: EAGAIN after it. */
  CHECK_EQ(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK), 0);
  CHECK_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  double t0 = corio_loop_time(NULL);
  CHECK_EQ(recv(fds[0], &c, 1, 0), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_TRUE(corio_loop_time(NULL) - t0 >= 0.029);
  /* ioctl(FIONBIO) is the same switch. */
  int on = 1;
  CHECK_EQ(ioctl(fds[0], FIONBIO, &on), 0);
  CHECK_TRUE(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
  CHECK_EQ(read(fds[0], &c, 1), -1);
  CHECK_EQ(errno, EAGAIN);
  /* MSG_DONTWAIT on a blocking fd passes through. */
  CHECK_EQ(recv(fds[1], &c, 1, MSG_DONTWAIT), -1);
  CHECK_EQ(errno, EAGAIN);
  close(fds[0]);
  close(fds[1]);
  return 0;
}

static void test_nonblock_and_timeouts(void **state) {
  (void)state;
  run_case(nonblock_and_timeout, NULL);
}

/* ---- cancellation and close
 * --------------------------------------------------- */

static int reader_errno;

static int blocked_reader(void *arg, void **result) {
  int fd = *(int *)arg;
  char c;
  ssize_t n;

  (void)result;
  n = read(fd, &c, 1);
  reader_errno = n < 0 ? errno : 0;
  return 0;
}

static int cancel_and_close(void *arg, void **result) {
  int fds[2];
  corio_task *t;

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  /* Cancelled while blocked: ECANCELED, and the task sees it next. */
  CHECK_EQ(corio_spawn(&t, nanosleep_cancelled, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(corio_spawn(&t, blocked_reader, &fds[0]), 0);
  CHECK_EQ(corio_sleep(0.005), 0);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  /* The body returned 0 after the failed read, but the request stayed
   * pending: the task ends cancelled, as if the read had been an await. */
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  CHECK_EQ(reader_errno, ECANCELED);
  CHECK_EQ(corio_task_cancelled(t), 1);
  corio_task_unref(t);
  /* Closed by another task while blocked: EBADF, no hang. */
  CHECK_EQ(corio_spawn(&t, blocked_reader, &fds[0]), 0);
  CHECK_EQ(corio_sleep(0.005), 0);
  CHECK_EQ(close(fds[0]), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  CHECK_EQ(reader_errno, EBADF);
  corio_task_unref(t);
  /* The number reused at once is a new file: no stale state. */
  int again = dup(fds[1]);
  CHECK_EQ(again, fds[0]);
  CHECK_EQ(fcntl(again, F_GETFL) & O_NONBLOCK, 0);
  close(again);
  close(fds[1]);
  return 0;
}

static void test_cancel_and_close(void **state) {
  (void)state;
  run_case(cancel_and_close, NULL);
}

/* ---- fclose: a close inside the C library
 * ------------------------------------ */

struct fclose_case {
  int fds[2];
};

static int late_writer(void *arg, void **result);

static int fclose_then_reuse(void *arg, void **result) {
  struct fclose_case *c = arg;
  int s[2];
  char ch;
  corio_task *w;
  FILE *f;

  (void)result;
  /* A socket the hooks made non-blocking underneath (a task waited)... */
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
  struct pollfd p = {.fd = s[0], .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 1), 0);
  CHECK_EQ(recv(s[0], &ch, 1, MSG_DONTWAIT), -1);
  /* ...closed by fclose, inside the C library... */
  f = fdopen(s[0], "r");
  CHECK_TRUE(f != NULL);
  CHECK_EQ(fclose(f), 0);
  /* ...and its number taken by a pipe made behind the hooks' back. */
  CHECK_EQ(syscall(SYS_pipe2, c->fds, 0), 0);
  CHECK_EQ(c->fds[0], s[0]);
  /* A blocking read on it must suspend the task, not the thread. */
  CHECK_EQ(corio_spawn(&w, late_writer, &c->fds[1]), 0);
  mark('r');
  CHECK_EQ(read(c->fds[0], &ch, 1), 1);
  mark('R');
  /* A pipe first seen by the hooks keeps its kernel flags (a stale entry
   * from the socket would have made it non-blocking as its own). */
  CHECK_EQ(syscall(SYS_fcntl, c->fds[0], F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  close(s[1]);
  return 0;
}

static void test_fclose_forgets(void **state) {
  struct fclose_case c = {{-1, -1}};
  int before = corio_test_open_fds();

  (void)state;
  trace_len = 0;
  trace[0] = 0;
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(fclose_then_reuse, &c, NULL), 0);
  assert_int_equal(corio_hook_disable(), 0);
  assert_checks_passed();
  /* The writer ran while the reader waited. */
  assert_string_equal(trace, "rwR");
  close(c.fds[0]);
  close(c.fds[1]);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- a read watcher kept after its wait -------------------------------------
 */

static int wait_for_byte(void *arg, void **result) {
  int fd = *(int *)arg;
  char c = 0;

  (void)result;
  CHECK_EQ(read(fd, &c, 1), 1);
  CHECK_EQ(c, 'x');
  return 0;
}

/* Parks a read watcher on fds[0]: a hooked read waits and is woken. */
static void park_read_watcher(int *fds) {
  corio_task *r, *w;

  CHECK_EQ(corio_spawn(&r, wait_for_byte, &fds[0]), 0);
  CHECK_EQ(corio_spawn(&w, late_writer, &fds[1]), 0);
  CHECK_EQ(corio_task_await(r, NULL), 0);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(r);
  corio_task_unref(w);
}

/* The watcher is kept for the fd's next wait, but the fd is closed behind
 * the hooks' back and its number taken by a corio stream on the same
 * loop: the stream must be watched (the loop registers it anew). */
static int kept_watcher_then_stream(void *arg, void **result) {
  int fds[2], raw[2];
  corio_stream *st;
  corio_task *w;
  char buf[2] = {0};
  size_t got = 0;

  (void)arg, (void)result;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  park_read_watcher(fds);
  CHECK_EQ(syscall(SYS_close, fds[0]), 0);
  CHECK_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, raw), 0);
  CHECK_EQ(raw[0], fds[0]);
  CHECK_EQ(corio_stream_open_fd(NULL, raw[0], NULL, &st), 0);
  CHECK_EQ(corio_spawn(&w, late_writer, &raw[1]), 0);
  CHECK_EQ(corio_stream_readexactly(st, buf, 1, &got), 0);
  CHECK_STR(buf, "x");
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  corio_stream_close(st);
  CHECK_EQ(corio_stream_wait_closed(st), 0);
  corio_stream_unref(st);
  close(raw[1]);
  close(fds[1]);
  return 0;
}

static int kept_watcher_first_loop(void *arg, void **result) {
  (void)result;
  park_read_watcher(arg);
  return 0;
}

static int kept_watcher_second_loop(void *arg, void **result) {
  (void)result;
  /* A new loop: the first one's kept watcher went with it. */
  park_read_watcher(arg);
  return 0;
}

static void test_kept_read_watcher(void **state) {
  int fds[2];
  int before = corio_test_open_fds();

  (void)state;
  run_case(kept_watcher_then_stream, NULL);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  run_case(kept_watcher_first_loop, fds);
  run_case(kept_watcher_second_loop, fds);
  close(fds[0]);
  close(fds[1]);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- errno per task
 * ------------------------------------------------------------ */

static int errno_keeper(void *arg, void **result) {
  int mine = (int)(intptr_t)arg;

  (void)result;
  for (int i = 0; i < 5; i++) {
    errno = mine;
    CHECK_EQ(usleep(1000), 0);
    CHECK_EQ(errno, mine);
    errno = mine;
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(errno, mine);
  }
  return 0;
}

static int errno_case(void *arg, void **result) {
  void *values[3] = {(void *)(intptr_t)EPIPE, (void *)(intptr_t)ENOENT,
                     (void *)(intptr_t)EACCES};
  int rcs[3];

  (void)arg, (void)result;
  spawn_all(errno_keeper, values, 3, rcs);
  return 0;
}

static void test_errno_per_task(void **state) {
  (void)state;
  run_case(errno_case, NULL);
}

/* ---- poll and select
 * ------------------------------------------------------------ */

struct poll_case {
  int a[2], b[2];
};

static int late_writer(void *arg, void **result) {
  int fd = *(int *)arg;

  (void)result;
  CHECK_EQ(usleep(10000), 0);
  mark('w');
  CHECK_EQ(write(fd, "x", 1), 1);
  return 0;
}

static int poll_select_case(void *arg, void **result) {
  struct poll_case p;
  corio_task *w;
  char c;

  (void)arg, (void)result;
  CHECK_EQ(pipe(p.a), 0);
  CHECK_EQ(pipe(p.b), 0);
  /* Nothing ready: the timeout passes (the loop keeps running). */
  struct pollfd fds[3] = {{.fd = p.a[0], .events = POLLIN},
                          {.fd = p.b[0], .events = POLLIN},
                          {.fd = p.b[0], .events = POLLIN}}; /* a duplicate */
  CHECK_EQ(poll(fds, 3, 20), 0);
  /* One becomes ready while the task waits. */
  CHECK_EQ(corio_spawn(&w, late_writer, &p.b[1]), 0);
  mark('p');
  CHECK_EQ(poll(fds, 3, -1), 2);
  mark('P');
  CHECK_EQ(fds[0].revents, 0);
  CHECK_EQ(fds[1].revents, POLLIN);
  CHECK_EQ(fds[2].revents, POLLIN);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  CHECK_EQ(read(p.b[0], &c, 1), 1);
  /* select, the same way. */
  CHECK_EQ(corio_spawn(&w, late_writer, &p.a[1]), 0);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p.a[0], &r);
  FD_SET(p.b[0], &r);
  int nfds = (p.a[0] > p.b[0] ? p.a[0] : p.b[0]) + 1;
  CHECK_EQ(select(nfds, &r, NULL, NULL, NULL), 1);
  CHECK_TRUE(FD_ISSET(p.a[0], &r));
  CHECK_TRUE(!FD_ISSET(p.b[0], &r));
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  struct timeval tv = {0, 10000};
  FD_ZERO(&r);
  FD_SET(p.b[0], &r);
  CHECK_EQ(select(nfds, &r, NULL, NULL, &tv), 0);
  CHECK_TRUE(!FD_ISSET(p.b[0], &r));
  /* An epoll fd is watched as readable: ready once a member is. */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = p.b[0]};
  CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, p.b[0], &ev), 0);
  CHECK_EQ(corio_spawn(&w, late_writer, &p.b[1]), 0);
  struct pollfd epfd = {.fd = ep, .events = POLLIN};
  struct timespec forever_ish = {60, 0};
  CHECK_EQ(ppoll(&epfd, 1, &forever_ish, NULL), 1);
  CHECK_EQ(epfd.revents, POLLIN);
  CHECK_EQ(epoll_wait(ep, &ev, 1, 0), 1);
  CHECK_EQ(ev.data.fd, p.b[0]);
  CHECK_EQ(corio_task_await(w, NULL), 0);
  corio_task_unref(w);
  close(ep);
  for (int i = 0; i < 2; i++) {
    close(p.a[i]);
    close(p.b[i]);
  }
  return 0;
}

static void test_poll_and_select(void **state) {
  (void)state;
  run_case(poll_select_case, NULL);
  assert_string_equal(trace, "pwPww");
}

/* ---- TCP: a blocking server and client in tasks on one loop ---------------
 */

struct tcp_case {
  int listener;
  struct sockaddr_in addr;
};

static int tcp_server(void *arg, void **result) {
  struct tcp_case *c = arg;
  char buf[64];
  int fd = accept(c->listener, NULL, NULL);
  ssize_t n;

  (void)result;
  CHECK_TRUE(fd >= 0);
  while ((n = read(fd, buf, sizeof buf)) > 0)
    CHECK_EQ(write(fd, buf, (size_t)n), n);
  close(fd);
  return 0;
}

static int tcp_client(void *arg, void **result) {
  struct tcp_case *c = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  char buf[6] = {0};

  (void)result;
  CHECK_EQ(connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr), 0);
  CHECK_EQ(send(fd, "ping!", 5, 0), 5);
  CHECK_EQ(recv(fd, buf, 5, MSG_WAITALL), 5);
  CHECK_STR(buf, "ping!");
  close(fd);
  return 0;
}

static int tcp_case_main(void *arg, void **result) {
  struct tcp_case c;
  socklen_t len = sizeof c.addr;
  corio_task *s, *cl;

  (void)arg, (void)result;
  memset(&c.addr, 0, sizeof c.addr);
  c.addr.sin_family = AF_INET;
  c.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c.listener = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ(bind(c.listener, (struct sockaddr *)&c.addr, sizeof c.addr), 0);
  CHECK_EQ(listen(c.listener, 8), 0);
  CHECK_EQ(getsockname(c.listener, (struct sockaddr *)&c.addr, &len), 0);
  /* The server blocks in accept first: the client must still run. */
  CHECK_EQ(corio_spawn(&s, tcp_server, &c), 0);
  CHECK_EQ(corio_spawn(&cl, tcp_client, &c), 0);
  CHECK_EQ(corio_task_await(cl, NULL), 0);
  CHECK_EQ(corio_task_await(s, NULL), 0);
  corio_task_unref(s);
  corio_task_unref(cl);
  close(c.listener);
  return 0;
}

static void test_tcp_in_tasks(void **state) {
  (void)state;
  run_case(tcp_case_main, NULL);
}

/* ---- outside tasks: the C library's calls
 * -------------------------------------- */

static void *thread_reader(void *arg) {
  int fd = *(int *)arg;
  char c = 0;

  /* A plain thread: a real blocking read, even with hooks on. */
  return (void *)(intptr_t)(read(fd, &c, 1) == 1 && c == 'z');
}

static int made_nonblocking_then_thread(void *arg, void **result) {
  int *fds = arg;
  char c;
  struct pollfd p = {.fd = fds[0], .events = POLLIN};

  (void)result;
  /* A hooked wait makes the fd non-blocking underneath... */
  CHECK_EQ(poll(&p, 1, 5), 0);
  CHECK_EQ(recv(fds[0], &c, 1, MSG_DONTWAIT), -1);
  return 0;
}

static void test_outside_tasks(void **state) {
  int fds[2];
  pthread_t th;
  void *ok = NULL;
  int before = corio_test_open_fds();

  (void)state;
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_hook_active(), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  reset_checks(NULL);
  assert_int_equal(corio_run(made_nonblocking_then_thread, fds, NULL), 0);
  assert_checks_passed();
  /* ...and a read from a plain thread still blocks until data comes. */
  assert_int_equal(pthread_create(&th, NULL, thread_reader, &fds[0]), 0);
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL); /* outside a task: the real one */
  assert_int_equal(write(fds[1], "z", 1), 1);
  assert_int_equal(pthread_join(th, &ok), 0);
  assert_int_equal((intptr_t)ok, 1);
  close(fds[0]);
  close(fds[1]);
  assert_int_equal(corio_hook_disable(), 0);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- the resolver on the executor
 * ----------------------------------------------- */

static int resolver(void *arg, void **result) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  char host[64];
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

  (void)arg, (void)result;
  mark('g');
  CHECK_EQ(getaddrinfo("localhost", "80", &hints, &res), 0);
  if (res) {
    CHECK_EQ(res->ai_family, AF_INET);
    CHECK_EQ(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);
  }
  CHECK_EQ(getaddrinfo("no-such-host.invalid", NULL, &hints, &res) != 0, 1);
  CHECK_EQ(getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host,
                       NULL, 0, NI_NUMERICHOST),
           0);
  CHECK_STR(host, "127.0.0.1");
  struct hostent *h = gethostbyname("localhost");
  CHECK_TRUE(h != NULL && h->h_addrtype == AF_INET);
  struct hostent ret, *out = NULL;
  char buf[1024];
  int herr = 0;
  CHECK_EQ(gethostbyname_r("localhost", &ret, buf, sizeof buf, &out, &herr), 0);
  CHECK_TRUE(out == &ret);
  mark('G');
  return 0;
}

static int resolver_case(void *arg, void **result) {
  void *unused[2] = {NULL, NULL};
  int rcs[2];

  (void)arg, (void)result;
  spawn_all(resolver, unused, 2, rcs);
  return 0;
}

static void test_resolver(void **state) {
  (void)state;
  run_case(resolver_case, NULL);
  /* Both lookups were in flight at once. */
  assert_string_equal(trace, "ggGG");
}

/* ---- fork: the child runs unhooked
 * ------------------------------------------------ */

static int fork_case(void *arg, void **result) {
  pid_t pid;
  int status = 0;

  (void)arg, (void)result;
  pid = fork();
  if (pid == 0)
    _exit(corio_hook_enabled() == 0 && corio_hook_active() == 0 ? 0 : 1);
  CHECK_TRUE(pid > 0);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_EQ(corio_hook_enabled(), 1); /* the parent keeps them */
  return 0;
}

static void test_fork(void **state) {
  (void)state;
  run_case(fork_case, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_sleep_interleaves, reset_checks),
      cmocka_unit_test_setup(test_task_opt_out, reset_checks),
      cmocka_unit_test_setup(test_disabled_passes_through, reset_checks),
      cmocka_unit_test_setup(test_sleep_cancelled, reset_checks),
      cmocka_unit_test_setup(test_sleep_timeout_scope, reset_checks),
      cmocka_unit_test_setup(test_pipe_read_waits, reset_checks),
      cmocka_unit_test_setup(test_full_write_and_waitall, reset_checks),
      cmocka_unit_test_setup(test_nonblock_and_timeouts, reset_checks),
      cmocka_unit_test_setup(test_cancel_and_close, reset_checks),
      cmocka_unit_test_setup(test_errno_per_task, reset_checks),
      cmocka_unit_test_setup(test_fclose_forgets, reset_checks),
      cmocka_unit_test_setup(test_kept_read_watcher, reset_checks),
      cmocka_unit_test_setup(test_poll_and_select, reset_checks),
      cmocka_unit_test_setup(test_tcp_in_tasks, reset_checks),
      cmocka_unit_test_setup(test_outside_tasks, reset_checks),
      cmocka_unit_test_setup(test_resolver, reset_checks),
      cmocka_unit_test_setup(test_fork, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
