/* Fault walks over datagram endpoints: for socket, bind, recv, send,
 * poller registration and every allocation, the Nth call fails for N = 1,
 * 2, ... until a run gets through without reaching an Nth call. Each
 * failure must come back as a negative code (an allocation's loss, or
 * unregistering an fd that is closed anyway, may also be absorbed), with no fd
 * and no allocation left behind, and the same loop must run a fresh exchange
 * right after. */
#include "core/alloc.h"
#include "test_udp.h"

struct walk {
  enum corio__fault_point point;
  int family;
  int fresh_rc; /* the exchange after the failure, on the same loop */
};

/* A server endpoint, a client made by name (numeric: no thread) and
 * connected to it, three echoes, both closed and waited for. Runs in one
 * task, each step after the one it needs, so a failure anywhere shows at
 * once instead of leaving somebody waiting. */
static int exchange(int family) {
  struct sockaddr_storage srv_addr, from;
  corio_datagram *srv, *c;
  char buf[64], msg[32];
  socklen_t len;
  size_t n;
  int rc;

  if ((rc = udp_bound(family, NULL, &srv)) < 0)
    return rc;
  if (!udp_name(srv, &srv_addr)) {
    corio_datagram_unref(srv);
    return -EPROTO;
  }
  rc = corio_create_datagram_endpoint(NULL, 0, loopback_host(family),
                                      port_of_addr(&srv_addr), NULL, &c);
  if (rc < 0) {
    corio_datagram_unref(srv);
    return rc;
  }
  for (int i = 0; i < 3 && rc == 0; i++) {
    snprintf(msg, sizeof msg, "datagram %d", i);
    len = sizeof from;
    rc = corio_datagram_send(c, msg, strlen(msg));
    if (rc == 0)
      rc = corio_datagram_recvfrom(srv, buf, sizeof buf, &n,
                                   (struct sockaddr *)&from, &len);
    if (rc == 0)
      rc = corio_datagram_sendto(srv, buf, n, (struct sockaddr *)&from, len);
    if (rc == 0)
      rc = corio_datagram_recv(c, buf, sizeof buf, &n);
    if (rc == 0 && (n != strlen(msg) || memcmp(buf, msg, n) != 0))
      rc = -EPROTO;
  }
  (void)corio_datagram_close(c);
  (void)corio_datagram_close(srv);
  if (rc == 0)
    rc = corio_datagram_wait_closed(c);
  corio_datagram_unref(c);
  corio_datagram_unref(srv);
  return rc;
}

static int guarded_exchange(int family) {
  corio_timeout guard; /* only against a hang */
  int rc = corio_timeout_enter(&guard, 20);

  return rc < 0 ? rc : corio_timeout_exit(&guard, exchange(family));
}

static int walk_body(void *arg, void **result) {
  struct walk *w = arg;
  int rc = guarded_exchange(w->family);

  (void)result;
  /* The fault fires once: after it the same loop must work again. */
  if (corio__fault_fired(w->point))
    w->fresh_rc = guarded_exchange(w->family);
  return rc;
}

static struct walk current;

static int walk_op(void *ctx) {
  struct walk *w = ctx;
  int fds = open_fds(), rc;

  w->fresh_rc = 0;
  rc = corio_run(walk_body, w, NULL);
  if (open_fds() != fds) {
    print_error("walk %d: %d fds leaked\n", (int)w->point, open_fds() - fds);
    return 1;
  }
  if (w->fresh_rc != 0) {
    print_error("walk %d: the loop did not work again: %d\n", (int)w->point,
                w->fresh_rc);
    return 1;
  }
  return rc;
}

static long walk(enum corio__fault_point point, int family) {
  current.point = point;
  current.family = family;
  /* Warm up pools and lazy state outside the walk. */
  assert_int_equal(walk_op(&current), 0);
  return corio_test_fault_walk(point, walk_op, &current,
                               point == CORIO__FAULT_ALLOC ||
                                       point == CORIO__FAULT_EPOLL_CTL ||
                                       point == CORIO__FAULT_URING_ENTER ||
                                       point == CORIO__FAULT_URING_REGISTER
                                   ? corio_test_negative_or_tolerated
                                   : corio_test_negative);
}

static void test_walk_syscalls(void **state) {
  (void)state;
  assert_true(walk(CORIO__FAULT_SOCKET, AF_INET) >= 2);
  assert_true(walk(CORIO__FAULT_BIND, AF_INET) >= 1);
  /* Each receive (the loop's recvmmsg, at least once per datagram). */
  assert_true(walk(CORIO__FAULT_RECV, AF_INET) >= 6);
  assert_true(walk(CORIO__FAULT_SEND, AF_INET) >= 6);
  /* Registering with the backend: epoll_ctl for each endpoint (poll(2)
   * has no such call). io_uring's registrations are queued and go in with
   * the enter each iteration makes (a failed one stops the run with its
   * error; a removal's is tolerated), after the ring is enabled by the
   * first (a registration: its failure fails the run). */
  if (strcmp(corio_test_backend(), "epoll") == 0)
    assert_true(walk(CORIO__FAULT_EPOLL_CTL, AF_INET) >= 2);
  if (strcmp(corio_test_backend(), "io_uring") == 0) {
    assert_true(walk(CORIO__FAULT_URING_ENTER, AF_INET) >= 2);
    assert_true(walk(CORIO__FAULT_URING_REGISTER, AF_INET) >= 2);
  }
  if (have_ipv6())
    assert_true(walk(CORIO__FAULT_RECV, AF_INET6) >= 6);
}

static void test_walk_allocations(void **state) {
  (void)state;
  /* The loop, the task, the net state, endpoints, scratch, queues... */
  assert_true(walk(CORIO__FAULT_ALLOC, AF_INET) >= 10);
}

/* The send queue's flush (sendmmsg) failing: the datagram is dropped,
 * its error goes to the next receive, the rest still leave. */
static int flush_fault_body(void *arg, void **result) {
  corio_datagram *tx, *rx;
  char msg[500];
  size_t n;
  int sv[2], got = 0, rc;

  (void)arg, (void)result;
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &rx), 0);
  memset(msg, 'f', sizeof msg);
  for (int i = 0; i < 40; i++)
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 0);
  /* The next send call fails: the first flush. */
  corio__fault_arm(CORIO__FAULT_SEND, 1);
  while (got < 39 && (rc = corio_datagram_recv(rx, msg, sizeof msg, &n)) == 0)
    got++;
  CHECK_EQ(corio__fault_fired(CORIO__FAULT_SEND), 1);
  corio__fault_arm(CORIO__FAULT_SEND, 0);
  CHECK_EQ(got, 39);
  YIELD_UNTIL(corio_datagram_write_buffer_size(tx) == 0);
  /* The flush's error is the sender's next receive's. */
  CHECK_EQ(corio_datagram_recv(tx, msg, sizeof msg, &n), -EPIPE);
  corio_datagram_unref(tx);
  corio_datagram_unref(rx);
  return 0;
}

static void test_flush_failure(void **state) {
  (void)state;
  udp_run(flush_fault_body, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk_syscalls),
      cmocka_unit_test(test_walk_allocations),
      cmocka_unit_test(test_flush_failure),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
