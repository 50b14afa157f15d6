/* The hook layer's fd table at its edges (second review): state that must
 * follow the kernel's (an accepted socket inherits its listener's
 * SO_RCVTIMEO; a number reused by an fd the hooks did not create must not
 * inherit the old file's timeout), a dup whose user clears O_NONBLOCK,
 * fds first seen otherwise (a pipe or socket made without the hooks)
 * written in large pieces while the reader is another task on the same
 * thread, and gethostbyname_r's packing into buffers of every size.
 *
 * A case whose bug would block the loop's thread has a rescue thread:
 * if the loop has not finished after a long grace period it unblocks the
 * thread and the case fails instead of hanging. Every case checks that
 * no fd is left open. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/combine.h"
#include "corio/hook.h"
#include "corio/loop.h"
#include "corio/task.h"

/* ---- helpers ------------------------------------------------------------- */

static void run_case(corio_task_fn body, void *arg) {
  assert_int_equal(corio_hook_enable(), 0);
  assert_int_equal(corio_run(body, arg, NULL), 0);
  assert_int_equal(corio_hook_disable(), 0);
  assert_checks_passed();
}

/* fds made straight by the kernel: the hooks never saw them born. */
static int foreign_pipe(int fds[2]) { return (int)syscall(SYS_pipe2, fds, 0); }

static int foreign_socketpair(int fds[2]) {
  return (int)syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds);
}

static void raw_close(int fd) { (void)syscall(SYS_close, fd); }

/* Unblocks a loop thread a bug has blocked in a real call, after a grace
 * period no correct run comes near (the loop only has to switch tasks). */
struct rescue {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done, rescued;
  void (*act)(void *);
  void *arg;
  pthread_t thread;
};

#define RESCUE_AFTER_S 10

static void *rescue_main(void *arg) {
  struct rescue *r = arg;
  struct timespec until;
  int act = 0;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += RESCUE_AFTER_S;
  pthread_mutex_lock(&r->lock);
  while (!r->done)
    if (pthread_cond_timedwait(&r->done_cond, &r->lock, &until) == ETIMEDOUT)
      break;
  if (!r->done)
    act = r->rescued = 1;
  pthread_mutex_unlock(&r->lock);
  if (act) {
    fprintf(stderr, "rescue: the loop's thread is blocked; unblocking it\n");
    r->act(r->arg);
  }
  return NULL;
}

static void rescue_start(struct rescue *r, void (*act)(void *), void *arg) {
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->done_cond, NULL);
  r->done = r->rescued = 0;
  r->act = act;
  r->arg = arg;
  assert_int_equal(pthread_create(&r->thread, NULL, rescue_main, r), 0);
}

/* 1 if the rescue had to act. */
static int rescue_stop(struct rescue *r) {
  pthread_mutex_lock(&r->lock);
  r->done = 1;
  pthread_cond_signal(&r->done_cond);
  pthread_mutex_unlock(&r->lock);
  assert_int_equal(pthread_join(r->thread, NULL), 0);
  pthread_cond_destroy(&r->done_cond);
  pthread_mutex_destroy(&r->lock);
  return r->rescued;
}

/* ---- accept: the accepted socket inherits the listener's SO_RCVTIMEO -- */

/* Linux copies SO_RCVTIMEO/SO_SNDTIMEO from a listener to the sockets it
 * accepts, so a blocking read on one gives EAGAIN after the timeout. The
 * hooked read must too (the timeout scope only keeps a wrong run from
 * hanging). */
static int accepted_timeout_case(void *arg, void **result) {
  struct timeval tv = {0, 20000};
  struct sockaddr_in addr = {.sin_family = AF_INET};
  socklen_t len = sizeof addr;
  corio_timeout scope;
  int listener, client, conn, err;
  ssize_t n;
  char c;

  (void)arg, (void)result;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  listener = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_TRUE(listener >= 0);
  CHECK_EQ(setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  CHECK_EQ(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
  CHECK_EQ(listen(listener, 4), 0);
  CHECK_EQ(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
  client = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_TRUE(client >= 0);
  CHECK_EQ(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
  conn = accept(listener, NULL, NULL);
  CHECK_TRUE(conn >= 0);
  CHECK_EQ(corio_timeout_enter(&scope, 5.0), 0);
  n = read(conn, &c, 1); /* the client sends nothing */
  err = errno;
  CHECK_EQ(corio_timeout_exit(&scope, 0), 0); /* the read timed out first */
  CHECK_EQ(n, -1);
  CHECK_EQ(err, EAGAIN);
  close(conn);
  close(client);
  close(listener);
  return 0;
}

static void test_accepted_socket_inherits_rcvtimeo(void **state) {
  int before = corio_test_open_fds();

  (void)state;
  run_case(accepted_timeout_case, NULL);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- a reused number: no timeout from the file that had it before ------ */

struct reuse {
  int fds[2];
};

static int late_raw_writer(void *arg, void **result) {
  struct reuse *r = arg;

  (void)result;
  CHECK_EQ(corio_sleep(0.05), 0);
  CHECK_EQ(syscall(SYS_write, r->fds[1], "x", 1), 1);
  return 0;
}

/* The read end of a pipe made without the hooks got the number of a
 * socket that had SO_RCVTIMEO 10 ms: a blocking read on the pipe has no
 * timeout and gets the byte written 50 ms later. */
static int reused_number_case(void *arg, void **result) {
  struct reuse *r = arg;
  corio_task *writer;
  ssize_t n;
  char c = 0;

  (void)result;
  CHECK_EQ(corio_spawn(&writer, late_raw_writer, r), 0);
  n = read(r->fds[0], &c, 1);
  CHECK_EQ(n, 1);
  CHECK_EQ(c, 'x');
  CHECK_EQ(corio_task_await(writer, NULL), 0);
  corio_task_unref(writer);
  return 0;
}

static void test_reused_number_forgets_timeout(void **state) {
  int before = corio_test_open_fds();
  struct timeval tv = {0, 10000};
  struct reuse r;
  int s;

  (void)state;
  s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  assert_int_equal(close(s), 0);
  assert_int_equal(foreign_pipe(r.fds), 0);
  if (r.fds[0] != s) {
    raw_close(r.fds[0]);
    raw_close(r.fds[1]);
    skip(); /* the number went elsewhere: nothing to check */
  }
  run_case(reused_number_case, &r);
  close(r.fds[0]);
  close(r.fds[1]);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- a dup whose user clears O_NONBLOCK -------------------------------- */

struct dup_clear {
  int fds[2];
  int copy;
};

struct one_read {
  int fd;
  ssize_t n;
};

static int one_read_task(void *arg, void **result) {
  struct one_read *r = arg;
  char c;

  (void)result;
  r->n = read(r->fd, &c, 1);
  return 0;
}

static int late_writer(void *arg, void **result) {
  int *fd = arg;

  (void)result;
  CHECK_EQ(corio_sleep(0.005), 0);
  CHECK_EQ(write(*fd, "b", 1), 1);
  return 0;
}

/* copy = dup(fds[0]) before any wait. A task's wait on fds[0] makes the
 * shared open file non-blocking; F_GETFL on copy shows it (documented),
 * and the user "fixes" it with F_SETFL. The hooks still think the kernel
 * flag is theirs on fds[0], so the next read there must not block the
 * thread: the writer is another task on it. */
static int dup_clear_case(void *arg, void **result) {
  struct dup_clear *d = arg;
  struct one_read r1 = {.fd = d->fds[0]}, r2 = {.fd = d->fds[0]};
  corio_task *reader, *writer;
  int fl;

  (void)result;
  CHECK_EQ(corio_spawn(&reader, one_read_task, &r1), 0);
  CHECK_EQ(corio_sleep(0.002), 0);
  CHECK_EQ(write(d->fds[1], "a", 1), 1);
  CHECK_EQ(corio_task_await(reader, NULL), 0);
  corio_task_unref(reader);
  CHECK_EQ(r1.n, 1);

  fl = fcntl(d->copy, F_GETFL);
  CHECK_TRUE(fl >= 0);
  CHECK_EQ(fcntl(d->copy, F_SETFL, fl & ~O_NONBLOCK), 0);

  CHECK_EQ(corio_spawn(&writer, late_writer, &d->fds[1]), 0);
  CHECK_EQ(corio_spawn(&reader, one_read_task, &r2), 0);
  CHECK_EQ(corio_task_await(reader, NULL), 0);
  CHECK_EQ(corio_task_await(writer, NULL), 0);
  corio_task_unref(reader);
  corio_task_unref(writer);
  CHECK_EQ(r2.n, 1);
  return 0;
}

static void unblock_with_byte(void *arg) {
  struct dup_clear *d = arg;

  (void)syscall(SYS_write, d->fds[1], "r", 1);
}

static void test_dup_user_clears_nonblock(void **state) {
  int before = corio_test_open_fds();
  struct dup_clear d;
  struct rescue rescue;

  (void)state;
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d.fds), 0);
  d.copy = dup(d.fds[0]);
  assert_true(d.copy >= 0);
  rescue_start(&rescue, unblock_with_byte, &d);
  run_case(dup_clear_case, &d);
  assert_false(rescue_stop(&rescue));
  close(d.copy);
  close(d.fds[0]);
  close(d.fds[1]);
  assert_int_equal(corio_test_open_fds(), before);
}

/* ---- large writes to fds the hooks did not create ---------------------- */

#define BIG (1024 * 1024)

struct big_transfer {
  int fds[2];
  char *out, *in;
  size_t got;
  ssize_t wrote;
};

static int big_writer(void *arg, void **result) {
  struct big_transfer *b = arg;

  (void)result;
  b->wrote = write(b->fds[1], b->out, BIG);
  return 0;
}

static int big_reader(void *arg, void **result) {
  struct big_transfer *b = arg;
  ssize_t n;

  (void)result;
  while (b->got < BIG &&
         (n = read(b->fds[0], b->in + b->got, BIG - b->got)) > 0)
    b->got += (size_t)n;
  return 0;
}

/* A blocking write of 1 MiB to a pipe or socket first seen here, while
 * the reader is another task on the same thread: poll says writable, but
 * the real blocking call cannot finish until the reader runs. The write
 * must let the loop run (the writer starts first). */
static int big_transfer_case(void *arg, void **result) {
  struct big_transfer *b = arg;
  corio_task *writer, *reader;

  (void)result;
  CHECK_EQ(corio_spawn(&writer, big_writer, b), 0);
  CHECK_EQ(corio_spawn(&reader, big_reader, b), 0);
  CHECK_EQ(corio_task_await(writer, NULL), 0);
  close(b->fds[1]); /* a reader robbed by the rescue ends at EOF */
  CHECK_EQ(corio_task_await(reader, NULL), 0);
  corio_task_unref(writer);
  corio_task_unref(reader);
  CHECK_EQ(b->wrote, BIG);
  CHECK_EQ(b->got, BIG);
  CHECK_TRUE(memcmp(b->in, b->out, BIG) == 0);
  return 0;
}

/* Takes everything the blocked writer writes, so its call returns. */
static void drain_big(void *arg) {
  struct big_transfer *b = arg;
  size_t got = 0;
  char buf[65536];
  ssize_t n;

  while (got < BIG && (n = syscall(SYS_read, b->fds[0], buf, sizeof buf)) > 0)
    got += (size_t)n;
}

static void big_transfer(int (*make)(int[2])) {
  int before = corio_test_open_fds();
  struct big_transfer b = {.got = 0};
  struct rescue rescue;
  int rc, rescued;

  assert_int_equal(make(b.fds), 0);
  b.out = malloc(BIG);
  b.in = malloc(BIG);
  assert_non_null(b.out);
  assert_non_null(b.in);
  for (size_t i = 0; i < BIG; i++)
    b.out[i] = (char)(i * 7 + (i >> 12));
  rescue_start(&rescue, drain_big, &b);
  assert_int_equal(corio_hook_enable(), 0);
  rc = corio_run(big_transfer_case, &b, NULL);
  assert_int_equal(corio_hook_disable(), 0);
  rescued = rescue_stop(&rescue);
  close(b.fds[0]);
  free(b.out); /* before any assertion, which would leak them */
  free(b.in);
  assert_int_equal(rc, 0);
  assert_false(rescued);
  assert_checks_passed();
  assert_int_equal(corio_test_open_fds(), before);
}

static void test_big_write_foreign_pipe(void **state) {
  (void)state;
  big_transfer(foreign_pipe);
}

static void test_big_write_foreign_socket(void **state) {
  (void)state;
  big_transfer(foreign_socketpair);
}

/* ---- gethostbyname_r: every buffer size -------------------------------- */

/* In a task the answer is packed into the caller's buffer by the hooks:
 * for every size either ERANGE (nothing written past the buffer: each
 * buffer is its own allocation, which the sanitizers watch) or the right
 * answer inside it. */
static int hostent_sizes_case(void *arg, void **result) {
  int fits = 0;

  (void)arg, (void)result;
  for (size_t len = 0; len <= 320; len += 4) {
    struct hostent he, *out = (struct hostent *)1;
    char *buf = malloc(len ? len : 1);
    int herr = 0, rc;

    CHECK_TRUE(buf != NULL);
    if (!buf)
      break;
    rc = gethostbyname_r("localhost", &he, buf, len, &out, &herr);
    if (rc == ERANGE) {
      CHECK_PTR(out, NULL);
    } else {
      CHECK_EQ(rc, 0);
      CHECK_PTR(out, &he);
      if (out == &he) {
        fits++;
        CHECK_STR(he.h_name, "localhost");
        CHECK_TRUE(he.h_name >= buf && he.h_name < buf + len);
        CHECK_TRUE(he.h_addr_list[0] != NULL);
        CHECK_TRUE((char *)he.h_addr_list >= buf &&
                   (char *)he.h_addr_list < buf + len);
        CHECK_EQ((uintptr_t)he.h_addr_list % sizeof(char *), 0);
      }
    }
    free(buf);
  }
  CHECK_TRUE(fits > 0);
  return 0;
}

static void test_gethostbyname_r_every_size(void **state) {
  struct hostent he, *out = NULL;
  char buf[1024];
  int herr;

  (void)state;
  if (gethostbyname_r("localhost", &he, buf, sizeof buf, &out, &herr) != 0 ||
      !out) {
    printf("localhost does not resolve here: skipped\n");
    skip();
  }
  run_case(hostent_sizes_case, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_accepted_socket_inherits_rcvtimeo,
                             reset_checks),
      cmocka_unit_test_setup(test_reused_number_forgets_timeout, reset_checks),
      cmocka_unit_test_setup(test_dup_user_clears_nonblock, reset_checks),
      cmocka_unit_test_setup(test_big_write_foreign_pipe, reset_checks),
      cmocka_unit_test_setup(test_big_write_foreign_socket, reset_checks),
      cmocka_unit_test_setup(test_gethostbyname_r_every_size, reset_checks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
