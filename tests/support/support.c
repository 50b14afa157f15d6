#include "support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sys.h"
#include "corio/coro.h"
#include "corio/loop.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORIO_TEST_HAVE_VALGRIND 1
#endif
#endif

corio_test_usage corio_test_usage_now(void) {
  corio_test_usage u;

  /* Cached empty slabs would make two readings incomparable. */
  corio_test_release_pools();
  u.allocations = corio__alloc_outstanding();
  u.mapped_bytes = corio__sys_mapped_bytes();
  return u;
}

void corio_test_release_pools(void) { corio_coro_pool_trim(); }

void corio_test_assert_no_leak(corio_test_usage before) {
  corio_test_usage now;

  corio_test_release_pools();
  now = corio_test_usage_now();
  assert_int_equal(now.allocations, before.allocations);
  assert_int_equal(now.mapped_bytes, before.mapped_bytes);
}

long corio_test_fault_walk(enum corio__fault_point point, corio_test_op op,
                           void *ctx, void (*check)(int rc)) {
  long n;

  for (n = 1;; n++) {
    corio_test_usage before;
    int rc;

    corio_test_release_pools();
    before = corio_test_usage_now();
    corio__fault_arm(point, n);
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr, "walk: point %d call %ld\n", (int)point, n);
    rc = op(ctx);
    if (!corio__fault_fired(point)) {
      /* The nth call was never reached: every point has been walked. */
      corio__fault_arm(point, 0);
      assert_int_equal(rc, 0);
      return n - 1;
    }
    corio__fault_arm(point, 0);
    /* Failures the code may tolerate (advice) let op succeed. */
    if (check)
      check(rc);
    corio_test_assert_no_leak(before);
  }
}

void corio_test_negative(int rc) { assert_true(rc < 0); }

void corio_test_negative_or_tolerated(int rc) { assert_true(rc <= 0); }

static void *find_backend(void *arg) {
  const char **name = arg;
  corio_loop *loop;

  assert_int_equal(corio_loop_create(&loop), 0);
  *name = corio_loop_backend_name(loop); /* a static string */
  corio_loop_unref(loop);
  return NULL;
}

const char *corio_test_backend(void) {
  static const char *name;
  pthread_t thread;

  if (!name) {
    assert_int_equal(pthread_create(&thread, NULL, find_backend, &name), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
  }
  return name;
}

static void *probe_uring(void *result) {
  static const corio_loop_options uring_only = {CORIO_LOOP_BACKEND_IO_URING,
                                                CORIO_LOOP_NO_FALLBACK};
  corio_loop *loop = NULL;

  *(int *)result = corio_loop_create_with(&loop, &uring_only);
  if (*(int *)result == 0)
    corio_loop_unref(loop);
  return NULL;
}

int corio_test_uring_refused(void) {
  static int probed, refused;
  pthread_t thread;

  if (!probed) {
    assert_int_equal(pthread_create(&thread, NULL, probe_uring, &refused), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    probed = 1;
  }
  return refused;
}

int corio_test_under_valgrind(void) {
#if CORIO_TEST_HAVE_VALGRIND
  if (RUNNING_ON_VALGRIND)
    return 1;
#endif
  return getenv("CORIO_TEST_UNDER_VALGRIND") != NULL;
}

int corio_test_open_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  int n = 0;

  assert_non_null(dir);
  while (readdir(dir))
    n++;
  closedir(dir);
  return n;
}

int corio_test_free_port(int type) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), port = -1;

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
      getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
    port = ntohs(sin.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}
