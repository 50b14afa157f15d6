/* Datagram endpoints: echo over IPv4 and IPv6, connected and not; the
 * sender's address; ICMP port unreachable on a connected socket; EMSGSIZE;
 * the truncation rules; the receive queue's bound with exact drop counts;
 * the socket options; cancellation and timeouts of a receiver; the send
 * queue under EAGAIN with drain; close, abort and wait_closed; Unix
 * datagram sockets; misuse. Peers are endpoints or plain sockets on
 * loopback, driven so that no result depends on timing. */
#include <sys/un.h>

#include "test_udp.h"

static int ipv6_ok;

/* ---- echo ------------------------------------------------------------------
 */

/* Answers n datagrams to their senders, upper-cased. */
struct echo_server {
  corio_datagram *d;
  int n;
  int rc;
};

static int echo_server_main(void *arg, void **result) {
  struct echo_server *e = arg;
  struct sockaddr_storage from;
  char buf[256];

  (void)result;
  for (int i = 0; i < e->n; i++) {
    socklen_t len = sizeof from;
    size_t n;
    int rc = corio_datagram_recvfrom(e->d, buf, sizeof buf, &n,
                                     (struct sockaddr *)&from, &len);

    if (rc == 0) {
      upper_case(buf, n);
      rc = corio_datagram_sendto(e->d, buf, n, (struct sockaddr *)&from, len);
    }
    if (rc < 0)
      return e->rc = rc;
  }
  return 0;
}

static void echo_family(int family, int connected) {
  struct echo_server e = {NULL, 5, 0};
  struct sockaddr_storage srv, self, from;
  socklen_t srv_len, self_len, from_len;
  corio_datagram *c;
  corio_task *t;
  char buf[64], msg[32];
  size_t n;

  CHECK_EQ(udp_bound(family, NULL, &e.d), 0);
  if (failed.line)
    return;
  srv_len = udp_name(e.d, &srv);
  CHECK_EQ(corio_spawn(&t, echo_server_main, &e), 0);
  if (connected)
    CHECK_EQ(udp_connect_to(&srv, srv_len, &c), 0);
  else
    CHECK_EQ(udp_bound(family, NULL, &c), 0);
  for (int i = 0; i < e.n && !failed.line; i++) {
    snprintf(msg, sizeof msg, "ping %d", i);
    if (connected)
      CHECK_EQ(corio_datagram_send(c, msg, strlen(msg)), 0);
    else
      CHECK_EQ(corio_datagram_sendto(c, msg, strlen(msg),
                                     (struct sockaddr *)&srv, srv_len),
               0);
    from_len = sizeof from;
    CHECK_EQ(corio_datagram_recvfrom(c, buf, sizeof buf - 1, &n,
                                     (struct sockaddr *)&from, &from_len),
             0);
    buf[n] = 0;
    snprintf(msg, sizeof msg, "PING %d", i);
    CHECK_STR(buf, msg);
    /* The answer came from the server's address. */
    CHECK_EQ(from_len, srv_len);
    CHECK_EQ(memcmp(&from, &srv, srv_len), 0);
  }
  CHECK_EQ(corio_await(t, NULL), 0);
  CHECK_EQ(e.rc, 0);
  corio_task_unref(t);
  /* The client's address as the server saw it is its own. */
  self_len = udp_name(c, &self);
  CHECK_EQ(self_len, srv_len);
  CHECK_EQ(port_of_addr(&self) > 0, 1);
  if (connected) {
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;

    CHECK_EQ(corio_datagram_peername(c, (struct sockaddr *)&peer, &peer_len),
             0);
    CHECK_EQ(memcmp(&peer, &srv, srv_len), 0);
  } else {
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;

    CHECK_EQ(corio_datagram_peername(c, (struct sockaddr *)&peer, &peer_len),
             -ENOTCONN);
  }
  corio_datagram_unref(c);
  corio_datagram_unref(e.d);
}

static int echo_body(void *arg, void **result) {
  (void)arg, (void)result;
  echo_family(AF_INET, 1);
  echo_family(AF_INET, 0);
  if (ipv6_ok) {
    echo_family(AF_INET6, 1);
    echo_family(AF_INET6, 0);
  }
  return 0;
}

static void test_echo(void **state) {
  (void)state;
  udp_run(echo_body, NULL);
  if (!ipv6_ok)
    print_message("[  NOTE    ] ::1 cannot be bound: IPv6 echo not run\n");
}

/* By name: local and remote strings, numeric (no thread) and "localhost"
 * (the resolver on the executor); a mismatched family pair fails. */
static int by_name_body(void *arg, void **result) {
  corio_datagram *srv, *c, *u;
  struct sockaddr_storage ss;
  char buf[16];
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(corio_create_datagram_endpoint("127.0.0.1", 0, NULL, 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  udp_name(srv, &ss);
  CHECK_EQ(corio_create_datagram_endpoint("127.0.0.1", 0, "127.0.0.1",
                                          port_of_addr(&ss), NULL, &c),
           0);
  CHECK_EQ(corio_datagram_send(c, "hi", 2), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 2);
  corio_datagram_unref(c);
  /* Resolved by name, the family pinned so the answer is 127.0.0.1. */
  {
    corio_datagram_options o = {.family = AF_INET};

    CHECK_EQ(corio_create_datagram_endpoint(NULL, 0, "localhost",
                                            port_of_addr(&ss), &o, &c),
             0);
    if (!failed.line) {
      CHECK_EQ(corio_datagram_send(c, "hey", 3), 0);
      CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
      CHECK_EQ(n, 3);
      corio_datagram_unref(c);
    }
  }
  /* Neither address: the family must be said. */
  CHECK_EQ(corio_create_datagram_endpoint(NULL, 0, NULL, 0, NULL, &u), -EINVAL);
  {
    corio_datagram_options o = {.family = AF_INET};

    CHECK_EQ(corio_create_datagram_endpoint(NULL, 0, NULL, 0, &o, &u), 0);
    if (!failed.line) {
      /* Unbound until it sends: then the kernel picks a port. */
      CHECK_EQ(corio_datagram_sendto(u, "x", 1, (struct sockaddr *)&ss,
                                     sizeof(struct sockaddr_in)),
               0);
      CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
      corio_datagram_unref(u);
    }
  }
  if (ipv6_ok)
    CHECK_EQ(corio_create_datagram_endpoint("::1", 0, "127.0.0.1",
                                            port_of_addr(&ss), NULL, &u),
             -EADDRNOTAVAIL);
  CHECK_EQ(
      corio_create_datagram_endpoint("127.0.0.1", 70000, NULL, 0, NULL, &u),
      -EINVAL);
  corio_datagram_unref(srv);
  return 0;
}

static void test_by_name(void **state) {
  (void)state;
  udp_run(by_name_body, NULL);
}

/* ---- errors --------------------------------------------------------------
 */

/* A port nobody listens on: bound, read back, released. */
static int dead_port(int family) {
  struct sockaddr_storage ss;
  int fd = plain_udp(family), port;
  socklen_t len = sizeof ss;

  if (fd < 0)
    return -1;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  port = port_of_addr(&ss);
  close(fd);
  return port;
}

/* ICMP port unreachable on a connected socket: the next receive gets
 * -ECONNREFUSED once, and the endpoint stays open and usable. */
static void refused_family(int family) {
  struct sockaddr_storage dead;
  socklen_t len = loopback(family, dead_port(family), &dead);
  corio_datagram *c;
  char buf[8];
  size_t n;

  CHECK_EQ(udp_connect_to(&dead, len, &c), 0);
  if (failed.line)
    return;
  for (int round = 0; round < 2; round++) {
    CHECK_EQ(corio_datagram_send(c, "anyone?", 7), 0);
    CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), -ECONNREFUSED);
    CHECK_EQ(corio_datagram_is_closing(c), 0);
  }
  corio_datagram_unref(c);
}

static int refused_body(void *arg, void **result) {
  (void)arg, (void)result;
  refused_family(AF_INET);
  if (ipv6_ok)
    refused_family(AF_INET6);
  return 0;
}

static void test_icmp_refused(void **state) {
  (void)state;
  udp_run(refused_body, NULL);
}

/* Whether fd reports a pending error or datagram (poll does not take it). */
static int fd_ready(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};

  return poll(&p, 1, timeout_ms) == 1;
}

/* An ICMP error that comes while datagrams are queued is received after
 * them, in the order things happened (asyncio called datagram_received
 * for them before error_received), and only once. */
static int error_order_body(void *arg, void **result) {
  struct sockaddr_storage peer_addr, c_addr;
  socklen_t peer_len, c_len;
  corio_datagram *c;
  char buf[8];
  size_t n;
  int peer = plain_udp(AF_INET), fd;

  (void)arg, (void)result;
  CHECK_TRUE(peer >= 0);
  if (failed.line)
    return 0;
  peer_len = sizeof peer_addr;
  getsockname(peer, (struct sockaddr *)&peer_addr, &peer_len);
  CHECK_EQ(udp_connect_to(&peer_addr, peer_len, &c), 0);
  if (failed.line) {
    close(peer);
    return 0;
  }
  c_len = udp_name(c, &c_addr);
  fd = corio_datagram_fd(c);
  CHECK_EQ(plain_sendto(peer, "one", &c_addr, c_len), 0);
  CHECK_EQ(plain_sendto(peer, "two", &c_addr, c_len), 0);
  YIELD_UNTIL(corio_datagram_queued(c) == 2);
  CHECK_EQ(corio_datagram_queued(c), 2);
  /* The peer goes; the next datagram to it brings ICMP port unreachable.
   * Wait (poll, not the loop) until the kernel has it, then let the loop
   * take it from the socket. */
  close(peer);
  CHECK_EQ(corio_datagram_send(c, "gone?", 5), 0);
  CHECK_TRUE(fd_ready(fd, 10000)); /* a bound against a hang only */
  YIELD_UNTIL(!fd_ready(fd, 0));
  CHECK_EQ(fd_ready(fd, 0), 0);
  if (failed.line) {
    corio_datagram_unref(c);
    return 0;
  }
  CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 3);
  CHECK_EQ(memcmp(buf, "one", 3), 0);
  /* A datagram too large for the buffer stays first, as does the error. */
  CHECK_EQ(corio_datagram_recv(c, buf, 1, &n), -ENOBUFS);
  CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), 0);
  CHECK_EQ(memcmp(buf, "two", 3), 0);
  CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), -ECONNREFUSED);
  CHECK_EQ(corio_datagram_queued(c), 0);
  CHECK_EQ(corio_datagram_is_closing(c), 0);
  corio_datagram_unref(c);
  return 0;
}

static void test_icmp_error_in_order(void **state) {
  (void)state;
  udp_run(error_order_body, NULL);
}

/* Too large for UDP: -EMSGSIZE, nothing sent, the endpoint goes on. */
static int emsgsize_body(void *arg, void **result) {
  corio_datagram *srv, *c;
  struct sockaddr_storage ss;
  socklen_t len;
  char *big = calloc(1, 70000), buf[8];
  size_t n;

  (void)arg, (void)result;
  CHECK_TRUE(big != NULL);
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  if (failed.line) {
    free(big);
    return 0;
  }
  len = udp_name(srv, &ss);
  CHECK_EQ(udp_connect_to(&ss, len, &c), 0);
  CHECK_EQ(corio_datagram_send(c, big, 70000), -EMSGSIZE);
  CHECK_EQ(corio_datagram_send(c, big, 65507), 0);
  CHECK_EQ(corio_datagram_recv(srv, NULL, 0, &n), -ENOBUFS);
  CHECK_EQ(n, 65507);
  CHECK_EQ(corio_datagram_recv(srv, big, 70000, &n), 0);
  CHECK_EQ(n, 65507);
  CHECK_EQ(corio_datagram_send(c, "ok", 2), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 2);
  corio_datagram_unref(c);
  corio_datagram_unref(srv);
  free(big);
  return 0;
}

static void test_emsgsize(void **state) {
  (void)state;
  udp_run(emsgsize_body, NULL);
}

/* A datagram larger than the caller's buffer: -ENOBUFS, its size in
 * *nread, nothing taken. One larger than max_size: cut on arrival,
 * delivered, counted. An empty datagram is a datagram. */
static int truncation_body(void *arg, void **result) {
  corio_datagram_options o = {.max_size = 16};
  struct sockaddr_storage ss;
  socklen_t len;
  corio_datagram *srv;
  char buf[64];
  size_t n;
  int peer = plain_udp(AF_INET);

  (void)arg, (void)result;
  CHECK_TRUE(peer >= 0);
  CHECK_EQ(udp_bound(AF_INET, &o, &srv), 0);
  if (failed.line)
    return 0;
  len = udp_name(srv, &ss);
  CHECK_EQ(plain_sendto(peer, "0123456789", &ss, len), 0);
  CHECK_EQ(plain_sendto(peer, "0123456789abcdefghijklmnop", &ss, len), 0);
  CHECK_EQ(sendto(peer, "", 0, 0, (struct sockaddr *)&ss, len), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, 4, &n), -ENOBUFS);
  CHECK_EQ(n, 10);
  CHECK_EQ(corio_datagram_queued(srv), 3);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 10);
  CHECK_EQ(memcmp(buf, "0123456789", 10), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 16);
  CHECK_EQ(memcmp(buf, "0123456789abcdef", 16), 0);
  CHECK_EQ(corio_datagram_truncated(srv), 1);
  n = 99;
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(corio_datagram_drops(srv), 0);
  corio_datagram_unref(srv);
  close(peer);
  return 0;
}

static void test_truncation(void **state) {
  (void)state;
  udp_run(truncation_body, NULL);
}

/* ---- the receive queue's bound -------------------------------------------
 */

/* N + K datagrams wait in the kernel before the loop looks: one batch
 * takes them all, N are queued, K dropped and counted. Exact: nothing
 * depends on when the loop runs. Then the bytes bound. */
enum { QN = 8, QK = 5 };

static int drops_body(void *arg, void **result) {
  corio_datagram_options o = {.queue_size = QN};
  struct sockaddr_storage ss;
  socklen_t len;
  corio_datagram *srv;
  char buf[32], want[32];
  size_t n;
  int peer = plain_udp(AF_INET);

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, &o, &srv), 0);
  if (failed.line)
    return 0;
  len = udp_name(srv, &ss);
  for (int i = 0; i < QN + QK; i++) {
    snprintf(want, sizeof want, "datagram %d", i);
    CHECK_EQ(plain_sendto(peer, want, &ss, len), 0);
  }
  for (int i = 0; i < QN; i++) {
    CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf - 1, &n), 0);
    buf[n] = 0;
    snprintf(want, sizeof want, "datagram %d", i);
    CHECK_STR(buf, want);
    if (i == 0) {
      CHECK_EQ(corio_datagram_drops(srv), QK);
      CHECK_EQ(corio_datagram_queued(srv), QN - 1);
    }
  }
  CHECK_EQ(corio_datagram_queued(srv), 0);
  CHECK_EQ(corio_datagram_drops(srv), QK);
  /* Room again: the next one is queued. */
  CHECK_EQ(plain_sendto(peer, "after", &ss, len), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf - 1, &n), 0);
  CHECK_EQ(n, 5);
  CHECK_EQ(corio_datagram_drops(srv), QK);
  corio_datagram_unref(srv);

  /* The bytes bound: room for 4 records of 1000 bytes (+ headers and
   * 16-byte addresses) but not 5. */
  {
    corio_datagram_options b = {.queue_bytes = 4 * 1040 + 100,
                                .max_size = 1000};
    char big[1000];

    memset(big, 'x', sizeof big);
    CHECK_EQ(udp_bound(AF_INET, &b, &srv), 0);
    if (failed.line) {
      close(peer);
      return 0;
    }
    len = udp_name(srv, &ss);
    for (int i = 0; i < 6; i++)
      CHECK_EQ(sendto(peer, big, sizeof big, 0, (struct sockaddr *)&ss, len),
               (ssize_t)sizeof big);
    CHECK_EQ(corio_datagram_recv(srv, big, sizeof big, &n), 0);
    CHECK_EQ(corio_datagram_queued(srv), 3);
    CHECK_EQ(corio_datagram_drops(srv), 2);
    corio_datagram_unref(srv);
  }
  /* A queue smaller than one datagram cannot work. */
  {
    corio_datagram_options bad = {.queue_bytes = 100};

    CHECK_EQ(udp_bound(AF_INET, &bad, &srv), -EINVAL);
  }
  close(peer);
  return 0;
}

static void test_queue_drops_exact(void **state) {
  (void)state;
  udp_run(drops_body, NULL);
}

/* ---- options -------------------------------------------------------------
 */

static int options_body(void *arg, void **result) {
  corio_datagram_options o = {.flags = CORIO_DATAGRAM_REUSE_PORT |
                                       CORIO_DATAGRAM_BROADCAST |
                                       CORIO_DATAGRAM_REUSE_ADDRESS};
  corio_datagram *a, *b, *plain;
  struct sockaddr_storage ss;
  socklen_t len;

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, &o, &a), 0);
  CHECK_EQ(udp_bound(AF_INET, NULL, &plain), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(sockopt_int(corio_datagram_fd(a), SOL_SOCKET, SO_REUSEPORT), 1);
  CHECK_EQ(sockopt_int(corio_datagram_fd(a), SOL_SOCKET, SO_BROADCAST), 1);
  CHECK_EQ(sockopt_int(corio_datagram_fd(a), SOL_SOCKET, SO_REUSEADDR), 1);
  CHECK_EQ(sockopt_int(corio_datagram_fd(plain), SOL_SOCKET, SO_REUSEPORT), 0);
  CHECK_EQ(sockopt_int(corio_datagram_fd(plain), SOL_SOCKET, SO_BROADCAST), 0);
  CHECK_EQ(sockopt_int(corio_datagram_fd(plain), SOL_SOCKET, SO_REUSEADDR), 0);
  /* reuse_port: a second socket on the same port. */
  len = udp_name(a, &ss);
  CHECK_EQ(corio_datagram_open_addr(NULL, (struct sockaddr *)&ss, len, NULL, 0,
                                    &o, &b),
           0);
  if (!failed.line)
    corio_datagram_unref(b);
  CHECK_EQ(corio_datagram_open_addr(NULL, (struct sockaddr *)&ss, len, NULL, 0,
                                    NULL, &b),
           -EADDRINUSE);
  /* Unknown flags, an oversized max_size. */
  {
    corio_datagram_options bad = {.flags = 1u << 9};

    CHECK_EQ(udp_bound(AF_INET, &bad, &b), -EINVAL);
    bad.flags = 0;
    bad.max_size = (size_t)64 << 20;
    CHECK_EQ(udp_bound(AF_INET, &bad, &b), -EINVAL);
  }
  corio_datagram_unref(plain);
  corio_datagram_unref(a);
  return 0;
}

static void test_options(void **state) {
  (void)state;
  udp_run(options_body, NULL);
}

/* ---- cancellation and timeouts -------------------------------------------
 */

static int receive_one(void *arg, void **result) {
  char buf[16];
  size_t n;

  (void)result;
  return corio_datagram_recv(arg, buf, sizeof buf, &n);
}

/* A cancelled receiver takes nothing: the datagram that arrives with the
 * cancellation is the next receive's. A timeout scope around a receive
 * gives -ETIMEDOUT, and what arrives later is still there. */
static int cancel_body(void *arg, void **result) {
  struct sockaddr_storage ss;
  socklen_t len;
  corio_datagram *srv;
  corio_task *t;
  corio_timeout scope;
  char buf[16];
  size_t n;
  int peer = plain_udp(AF_INET), rc;

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  if (failed.line)
    return 0;
  len = udp_name(srv, &ss);
  CHECK_EQ(corio_spawn(&t, receive_one, srv), 0);
  CHECK_TRUE(started_and_waiting(t));
  /* A second receiver while one waits. */
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), CORIO_EREADBUSY);
  /* The datagram reaches the kernel, the receiver is cancelled before
   * the loop looks at the socket. */
  CHECK_EQ(plain_sendto(peer, "kept", &ss, len), 0);
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 4);
  CHECK_EQ(memcmp(buf, "kept", 4), 0);
  /* A receiver that waits gets the datagram that arrives. */
  CHECK_EQ(corio_spawn(&t, receive_one, srv), 0);
  CHECK_TRUE(started_and_waiting(t));
  CHECK_EQ(plain_sendto(peer, "also", &ss, len), 0);
  YIELD_UNTIL(corio_task_done(t));
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  /* A timeout scope. */
  CHECK_EQ(corio_timeout_enter(&scope, 0.02), 0);
  rc = corio_datagram_recv(srv, buf, sizeof buf, &n);
  CHECK_EQ(corio_timeout_exit(&scope, rc), -ETIMEDOUT);
  CHECK_EQ(plain_sendto(peer, "late", &ss, len), 0);
  CHECK_EQ(corio_timeout_enter(&scope, 30), 0);
  rc = corio_datagram_recv(srv, buf, sizeof buf, &n);
  CHECK_EQ(corio_timeout_exit(&scope, rc), 0);
  CHECK_EQ(n, 4);
  CHECK_EQ(memcmp(buf, "late", 4), 0);
  /* An expired scope: nothing waits, nothing is taken. */
  CHECK_EQ(plain_sendto(peer, "more", &ss, len), 0);
  CHECK_EQ(corio_timeout_enter(&scope, 0), 0);
  rc = corio_datagram_recv(srv, buf, sizeof buf, &n);
  rc = corio_timeout_exit(&scope, rc);
  CHECK_TRUE(rc == -ETIMEDOUT || rc == 0);
  if (rc == -ETIMEDOUT) {
    CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
    CHECK_EQ(n, 4);
  }
  corio_datagram_unref(srv);
  close(peer);
  return 0;
}

static void test_cancel_and_timeout(void **state) {
  (void)state;
  udp_run(cancel_body, NULL);
}

/* ---- the send queue ------------------------------------------------------
 */

/* A Unix datagram socketpair with a small send buffer: the kernel
 * refuses (EAGAIN) while the receiver has not read (UDP on loopback never
 * does: the sender's buffer is freed as soon as the datagram is handed
 * over, and the receiver's full buffer drops instead). Everything
 * sent arrives, in order; drain waits above the high-water mark. */
enum { SEND_COUNT = 400 };

struct collector {
  corio_datagram *d;
  int got;
  int in_order;
};

static int collect(void *arg, void **result) {
  struct collector *c = arg;
  char buf[600];
  size_t n;

  (void)result;
  c->in_order = 1;
  while (c->got < SEND_COUNT) {
    int rc = corio_datagram_recv(c->d, buf, sizeof buf, &n);

    if (rc < 0)
      return rc;
    if (n != 500 || memcmp(buf, &c->got, sizeof c->got) != 0)
      c->in_order = 0;
    c->got++;
  }
  return 0;
}

static int send_queue_body(void *arg, void **result) {
  struct collector col = {0};
  corio_datagram *tx;
  corio_task *t;
  char msg[500];
  int sv[2], queued = 0, paused = 0;

  (void)arg, (void)result;
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &col.d), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_set_write_buffer_limits(tx, 4000, 1000), 0);
  CHECK_EQ(corio_datagram_set_write_buffer_limits(tx, 10, 20), -EINVAL);
  memset(msg, 'm', sizeof msg);
  /* Not received yet: the kernel's queue fills, then corio's. */
  for (int i = 0; i < SEND_COUNT / 2; i++) {
    memcpy(msg, &i, sizeof i);
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
    if (corio_datagram_write_buffer_size(tx) > 0)
      queued = 1;
  }
  CHECK_TRUE(queued);
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 4000);
  CHECK_EQ(corio_spawn(&t, collect, &col), 0);
  for (int i = SEND_COUNT / 2; i < SEND_COUNT; i++) {
    memcpy(msg, &i, sizeof i);
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
    if (corio_datagram_write_buffer_size(tx) > 4000)
      paused = 1;
    CHECK_EQ(corio_datagram_drain(tx), 0);
    CHECK_TRUE(corio_datagram_write_buffer_size(tx) <= 4000);
  }
  CHECK_TRUE(paused);
  CHECK_EQ(corio_await(t, NULL), 0);
  corio_task_unref(t);
  CHECK_EQ(col.got, SEND_COUNT);
  CHECK_EQ(col.in_order, 1);
  CHECK_EQ(corio_datagram_write_buffer_size(tx), 0);
  CHECK_EQ(corio_datagram_drops(col.d), 0);
  corio_datagram_unref(tx);
  corio_datagram_unref(col.d);
  return 0;
}

static void test_send_queue_drain(void **state) {
  (void)state;
  udp_run(send_queue_body, NULL);
}

/* A drain waiting when the endpoint is aborted: the datagrams it waited
 * for never left, so it fails (and so does a later one) instead of
 * reporting them drained. */
static int drain_task(void *arg, void **result) {
  (void)result;
  return corio_datagram_drain(arg);
}

static int drain_abort_body(void *arg, void **result) {
  corio_datagram *tx;
  corio_task *t;
  char msg[500];
  int sv[2];

  (void)arg, (void)result;
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  if (failed.line) {
    close(sv[1]);
    return 0;
  }
  CHECK_EQ(corio_datagram_set_write_buffer_limits(tx, 2000, 500), 0);
  memset(msg, 'd', sizeof msg);
  for (int i = 0; i < 200 && corio_datagram_write_buffer_size(tx) <= 2000; i++)
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 2000);
  CHECK_EQ(corio_spawn(&t, drain_task, tx), 0);
  CHECK_TRUE(started_and_waiting(t));
  CHECK_EQ(corio_datagram_abort(tx), 0);
  CHECK_EQ(corio_await(t, NULL), CORIO_ESTREAMCLOSED);
  corio_task_unref(t);
  CHECK_EQ(corio_datagram_drain(tx), CORIO_ESTREAMCLOSED);
  corio_datagram_unref(tx);
  close(sv[1]);
  return 0;
}

static void test_drain_abort_fails(void **state) {
  (void)state;
  udp_run(drain_abort_body, NULL);
}

/* ---- closing -------------------------------------------------------------
 */

/* close with datagrams queued: they leave, then the socket closes
 * (wait_closed); abort drops them. A receiver waiting when the endpoint
 * closes gets CORIO_ESTREAMCLOSED; queued datagrams stay readable. */
static int close_body(void *arg, void **result) {
  struct collector col = {0};
  corio_datagram *tx, *srv;
  struct sockaddr_storage ss;
  corio_task *t;
  char msg[500];
  size_t n;
  int sv[2], peer = plain_udp(AF_INET), got = 0;
  socklen_t len;

  (void)arg, (void)result;
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &col.d), 0);
  memset(msg, 'c', sizeof msg);
  for (int i = 0; i < 100; i++) {
    memcpy(msg, &i, sizeof i);
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  }
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 0);
  CHECK_EQ(corio_datagram_close(tx), 0);
  CHECK_EQ(corio_datagram_close(tx), 0);
  CHECK_EQ(corio_datagram_is_closing(tx), 1);
  CHECK_EQ(corio_datagram_send(tx, "x", 1), CORIO_ESTREAMCLOSED);
  CHECK_TRUE(corio_datagram_fd(tx) >= 0); /* still flushing */
  /* Everything still arrives as the receiver reads. */
  while (got < 100) {
    if (corio_datagram_recv(col.d, msg, sizeof msg, &n) < 0)
      break;
    got++;
  }
  CHECK_EQ(got, 100);
  CHECK_EQ(corio_datagram_wait_closed(tx), 0);
  CHECK_EQ(corio_datagram_fd(tx), -1);
  corio_datagram_unref(tx);

  /* abort: what was queued is dropped at once. */
  CHECK_EQ(small_pair(sv), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 0);
  CHECK_EQ(corio_datagram_abort(tx), 0);
  CHECK_EQ(corio_datagram_write_buffer_size(tx), 0);
  CHECK_EQ(corio_datagram_fd(tx), -1);
  CHECK_EQ(corio_datagram_wait_closed(tx), 0);
  CHECK_EQ(corio_datagram_abort(tx), 0);
  len = sizeof ss;
  CHECK_EQ(corio_datagram_sockname(tx, (struct sockaddr *)&ss, &len),
           CORIO_ESTREAMCLOSED);
  corio_datagram_unref(tx);
  close(sv[1]);
  corio_datagram_unref(col.d);

  /* A waiting receiver and close; queued datagrams after close. */
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  len = udp_name(srv, &ss);
  CHECK_EQ(corio_spawn(&t, receive_one, srv), 0);
  CHECK_TRUE(started_and_waiting(t));
  CHECK_EQ(corio_datagram_close(srv), 0);
  CHECK_EQ(corio_await(t, NULL), CORIO_ESTREAMCLOSED);
  corio_task_unref(t);
  corio_datagram_unref(srv);
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  len = udp_name(srv, &ss);
  CHECK_EQ(plain_sendto(peer, "one", &ss, len), 0);
  CHECK_EQ(plain_sendto(peer, "two", &ss, len), 0);
  YIELD_UNTIL(corio_datagram_queued(srv) == 2);
  CHECK_EQ(corio_datagram_close(srv), 0);
  CHECK_EQ(corio_datagram_recv(srv, msg, sizeof msg, &n), 0);
  CHECK_EQ(corio_datagram_recv(srv, msg, sizeof msg, &n), 0);
  CHECK_EQ(n, 3);
  CHECK_EQ(corio_datagram_recv(srv, msg, sizeof msg, &n), CORIO_ESTREAMCLOSED);
  corio_datagram_unref(srv);
  close(peer);
  return 0;
}

static void test_close_abort(void **state) {
  (void)state;
  udp_run(close_body, NULL);
}

/* The last reference closes; queued datagrams still leave. */
static int unref_body(void *arg, void **result) {
  corio_datagram *tx, *rx;
  char msg[500];
  size_t n;
  int sv[2], got = 0;

  (void)arg, (void)result;
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &rx), 0);
  memset(msg, 'u', sizeof msg);
  for (int i = 0; i < 50; i++)
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  CHECK_TRUE(corio_datagram_write_buffer_size(tx) > 0);
  corio_datagram_unref(tx);
  while (got < 50 && corio_datagram_recv(rx, msg, sizeof msg, &n) == 0)
    got++;
  CHECK_EQ(got, 50);
  corio_datagram_unref(rx);
  return 0;
}

static void test_unref_flushes(void **state) {
  (void)state;
  udp_run(unref_body, NULL);
}

/* ---- Unix datagram sockets by path ---------------------------------------
 */

/* A fresh temporary directory in dir (a mkdtemp template) and the paths
 * dir/server and dir/<other_name> in server and other, each of size. */
static int unix_temp_paths(char *dir, char *server, char *other, size_t size,
                           const char *other_name) {
  if (!mkdtemp(dir))
    return -errno;
  snprintf(server, size, "%s/server", dir);
  snprintf(other, size, "%s/%s", dir, other_name);
  return 0;
}

/* A Unix socket address naming path, at its full size. */
static socklen_t unix_address(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
  return (socklen_t)sizeof *sa;
}

static int unix_body(void *arg, void **result) {
  char dir[] = "/tmp/corio-udp-XXXXXX", a[128], b[128], buf[16], from[128];
  struct sockaddr_un sa;
  corio_datagram *srv, *c;
  socklen_t len = sizeof sa;
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(unix_temp_paths(dir, a, b, sizeof a, "client"), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_unix(NULL, a, NULL, NULL, &srv), 0);
  CHECK_EQ(corio_datagram_open_unix(NULL, b, a, NULL, &c), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_send(c, "unix", 4), 0);
  CHECK_EQ(corio_datagram_recvfrom(srv, buf, sizeof buf, &n,
                                   (struct sockaddr *)&sa, &len),
           0);
  CHECK_EQ(n, 4);
  corio_format_address((struct sockaddr *)&sa, len, from, sizeof from);
  CHECK_STR(from, b);
  CHECK_EQ(corio_datagram_sendto(srv, "back", 4, (struct sockaddr *)&sa, len),
           0);
  CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 4);
  corio_datagram_unref(c);
  corio_datagram_unref(srv);
  /* The files went with their endpoints. */
  CHECK_EQ(access(a, F_OK), -1);
  CHECK_EQ(access(b, F_OK), -1);
  /* An abstract name. */
  snprintf(a, sizeof a, "@corio-udp-%d", (int)getpid());
  CHECK_EQ(corio_datagram_open_unix(NULL, a, NULL, NULL, &srv), 0);
  CHECK_EQ(corio_datagram_open_unix(NULL, NULL, a, NULL, &c), 0);
  CHECK_EQ(corio_datagram_send(c, "abs", 3), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 3);
  corio_datagram_unref(c);
  corio_datagram_unref(srv);
  rmdir(dir);
  return 0;
}

static void test_unix(void **state) {
  (void)state;
  udp_run(unix_body, NULL);
}

/* ---- default destinations ------------------------------------------------
 */

/* asyncio's allow_broadcast with a remote address: the remote is where
 * sends go, but the socket is not connected, so datagrams from any host
 * arrive (a connected socket's kernel filter would drop them: the
 * datagram from `other` would never be seen, and the first one received
 * would be the server's). */
static void broadcast_check(corio_datagram *c, corio_datagram *srv, int other) {
  struct sockaddr_storage srv_addr, c_addr, other_addr, from;
  socklen_t srv_len = udp_name(srv, &srv_addr), c_len = udp_name(c, &c_addr);
  socklen_t other_len = sizeof other_addr, from_len = sizeof from;
  char buf[32];
  size_t n;

  getsockname(other, (struct sockaddr *)&other_addr, &other_len);
  CHECK_EQ(corio_datagram_send(c, "to srv", 6), 0);
  CHECK_EQ(corio_datagram_recvfrom(srv, buf, sizeof buf, &n,
                                   (struct sockaddr *)&from, &from_len),
           0);
  CHECK_EQ(n, 6);
  CHECK_EQ(from_len, c_len);
  CHECK_EQ(memcmp(&from, &c_addr, c_len), 0);
  /* Not connected: no peer name (asyncio's peername is None). */
  from_len = sizeof from;
  CHECK_EQ(corio_datagram_peername(c, (struct sockaddr *)&from, &from_len),
           -ENOTCONN);
  CHECK_EQ(plain_sendto(other, "other", &c_addr, c_len), 0);
  CHECK_EQ(
      corio_datagram_sendto(srv, "srv", 3, (struct sockaddr *)&c_addr, c_len),
      0);
  /* Both in the kernel now: the loop's next look queues both. */
  YIELD_UNTIL(corio_datagram_queued(c) == 2);
  CHECK_EQ(corio_datagram_queued(c), 2);
  if (failed.line)
    return;
  from_len = sizeof from;
  CHECK_EQ(corio_datagram_recvfrom(c, buf, sizeof buf, &n,
                                   (struct sockaddr *)&from, &from_len),
           0);
  CHECK_EQ(n, 5);
  CHECK_EQ(memcmp(buf, "other", 5), 0);
  CHECK_EQ(from_len, other_len);
  CHECK_EQ(memcmp(&from, &other_addr, other_len), 0);
  CHECK_EQ(corio_datagram_recv(c, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 3);
  /* Only the remote may be named, as on a connected endpoint. */
  CHECK_EQ(corio_datagram_sendto(c, "x", 1, (struct sockaddr *)&other_addr,
                                 other_len),
           -EISCONN);
  CHECK_EQ(corio_datagram_sendto(c, "again", 5, (struct sockaddr *)&srv_addr,
                                 srv_len),
           0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 5);
}

static int broadcast_body(void *arg, void **result) {
  corio_datagram_options o = {.flags = CORIO_DATAGRAM_BROADCAST};
  struct sockaddr_storage local, srv_addr;
  socklen_t local_len = loopback(AF_INET, 0, &local), srv_len;
  corio_datagram *srv, *c;
  int other = plain_udp(AF_INET);

  (void)arg, (void)result;
  CHECK_TRUE(other >= 0);
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  if (failed.line)
    return 0;
  srv_len = udp_name(srv, &srv_addr);
  CHECK_EQ(corio_datagram_open_addr(NULL, (struct sockaddr *)&local, local_len,
                                    (struct sockaddr *)&srv_addr, srv_len, &o,
                                    &c),
           0);
  if (!failed.line) {
    broadcast_check(c, srv, other);
    corio_datagram_unref(c);
  }
  /* The same by name. */
  CHECK_EQ(corio_create_datagram_endpoint("127.0.0.1", 0, "127.0.0.1",
                                          port_of_addr(&srv_addr), &o, &c),
           0);
  if (!failed.line) {
    broadcast_check(c, srv, other);
    corio_datagram_unref(c);
  }
  corio_datagram_unref(srv);
  close(other);
  return 0;
}

static void test_broadcast_remote_not_connected(void **state) {
  (void)state;
  udp_run(broadcast_body, NULL);
}

/* sendto naming a connected Unix endpoint's own peer is a send, however
 * the address's length was given (sizeof(struct sockaddr_un) here, the
 * kernel's exact length in the peer name); another path is -EISCONN. */
static int unix_peer_body(void *arg, void **result) {
  char dir[] = "/tmp/corio-udp-XXXXXX", a[100], b[100], buf[16];
  struct sockaddr_un sa;
  socklen_t sa_len;
  corio_datagram *srv, *c;
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(unix_temp_paths(dir, a, b, sizeof a, "other"), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_unix(NULL, a, NULL, NULL, &srv), 0);
  CHECK_EQ(corio_datagram_open_unix(NULL, NULL, a, NULL, &c), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_sendto(c, "peer", 4, (struct sockaddr *)&sa,
                                 unix_address(&sa, a)),
           0);
  sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a));
  CHECK_EQ(corio_datagram_sendto(c, "sun", 3, (struct sockaddr *)&sa, sa_len),
           0);
  YIELD_UNTIL(corio_datagram_queued(srv) == 2);
  CHECK_EQ(corio_datagram_queued(srv), 2);
  if (failed.line) {
    corio_datagram_unref(c);
    corio_datagram_unref(srv);
    rmdir(dir);
    return 0;
  }
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 4);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 3);
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", b);
  CHECK_EQ(corio_datagram_sendto(c, "x", 1, (struct sockaddr *)&sa, sizeof sa),
           -EISCONN);
  /* A prefix of the peer's path is another path. */
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", a);
  CHECK_EQ(corio_datagram_sendto(c, "x", 1, (struct sockaddr *)&sa, sa_len - 1),
           -EISCONN);
  corio_datagram_unref(c);
  corio_datagram_unref(srv);
  rmdir(dir);
  return 0;
}

static void test_unix_sendto_peer(void **state) {
  (void)state;
  udp_run(unix_peer_body, NULL);
}

/* A datagram that has to queue behind others gets the error the kernel
 * would give it at once (too large for the Unix socket's send buffer; an
 * address of another family), not a later receive's: nothing queued. */
static int queued_checks_body(void *arg, void **result) {
  char dir[] = "/tmp/corio-udp-XXXXXX", path[100], msg[500];
  static char big[9000];
  struct sockaddr_un sa;
  socklen_t sa_len;
  struct sockaddr_storage inet;
  socklen_t inet_len = loopback(AF_INET, 9, &inet);
  corio_datagram *tx, *rx;
  size_t before;
  int sv[2], plain;

  (void)arg, (void)result;
  memset(msg, 'q', sizeof msg);
  CHECK_EQ(small_pair(sv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &tx), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &rx), 0);
  if (failed.line)
    return 0;
  /* The kernel's verdict with nothing queued (a 4096-byte SO_SNDBUF is
   * 8192 in the kernel: at most 8160 bytes per datagram). */
  CHECK_EQ(corio_datagram_send(tx, big, sizeof big), -EMSGSIZE);
  for (int i = 0; i < 100 && corio_datagram_write_buffer_size(tx) == 0; i++)
    CHECK_EQ(corio_datagram_send(tx, msg, sizeof msg), 0);
  before = corio_datagram_write_buffer_size(tx);
  CHECK_TRUE(before > 0);
  CHECK_EQ(corio_datagram_send(tx, big, sizeof big), -EMSGSIZE);
  CHECK_EQ(corio_datagram_send(tx, big, 4000), 0); /* fits: queued */
  CHECK_EQ(corio_datagram_write_buffer_size(tx), before + 4000);
  CHECK_EQ(corio_datagram_abort(tx), 0);
  corio_datagram_unref(tx);
  corio_datagram_unref(rx);

  /* An unconnected Unix endpoint whose receiver does not read. */
  CHECK_TRUE(mkdtemp(dir) != NULL);
  if (failed.line)
    return 0;
  snprintf(path, sizeof path, "%s/rx", dir);
  plain = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sa_len = unix_address(&sa, path);
  CHECK_EQ(bind(plain, (struct sockaddr *)&sa, sa_len), 0);
  CHECK_EQ(corio_datagram_open_unix(NULL, NULL, NULL, NULL, &tx), 0);
  if (failed.line) {
    close(plain);
    return 0;
  }
  CHECK_EQ(
      corio_datagram_sendto(tx, "x", 1, (struct sockaddr *)&inet, inet_len),
      -EINVAL);
  for (int i = 0; i < 1000 && corio_datagram_write_buffer_size(tx) == 0; i++)
    CHECK_EQ(
        corio_datagram_sendto(tx, msg, 100, (struct sockaddr *)&sa, sa_len), 0);
  before = corio_datagram_write_buffer_size(tx);
  CHECK_TRUE(before > 0);
  CHECK_EQ(
      corio_datagram_sendto(tx, "x", 1, (struct sockaddr *)&inet, inet_len),
      -EINVAL);
  CHECK_EQ(corio_datagram_write_buffer_size(tx), before);
  CHECK_EQ(corio_datagram_abort(tx), 0);
  corio_datagram_unref(tx);
  close(plain);
  unlink(path);
  rmdir(dir);
  return 0;
}

static void test_queued_send_checked(void **state) {
  (void)state;
  udp_run(queued_checks_body, NULL);
}

/* ---- misuse --------------------------------------------------------------
 */

static int misuse_body(void *arg, void **result) {
  struct sockaddr_storage ss, other;
  socklen_t len;
  corio_datagram *srv, *c;
  char buf[8];
  size_t n;
  int fd;

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, NULL, &srv), 0);
  if (failed.line)
    return 0;
  len = udp_name(srv, &ss);
  CHECK_EQ(udp_connect_to(&ss, len, &c), 0);
  /* send on an unconnected endpoint, sendto elsewhere on a connected. */
  CHECK_EQ(corio_datagram_send(srv, "x", 1), -EDESTADDRREQ);
  loopback(AF_INET, port_of_addr(&ss) == 9 ? 10 : 9, &other);
  CHECK_EQ(corio_datagram_sendto(c, "x", 1, (struct sockaddr *)&other, len),
           -EISCONN);
  CHECK_EQ(corio_datagram_sendto(c, "to", 2, (struct sockaddr *)&ss, len), 0);
  CHECK_EQ(corio_datagram_recv(srv, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 2);
  /* An address too short for its family is bad input, not another peer. */
  CHECK_EQ(corio_datagram_sendto(c, "x", 1, (struct sockaddr *)&ss, 8),
           -EINVAL);
  /* NULLs and bad sizes. */
  CHECK_EQ(corio_datagram_send(NULL, "x", 1), -EINVAL);
  CHECK_EQ(corio_datagram_send(c, NULL, 1), -EINVAL);
  corio_datagram_unref(c);
  CHECK_EQ(corio_datagram_sendto(srv, "x", 1, (struct sockaddr *)&ss, 0),
           -EINVAL);
  CHECK_EQ(corio_datagram_recv(NULL, buf, 1, &n), -EINVAL);
  CHECK_EQ(corio_datagram_recv(srv, NULL, 1, &n), -EINVAL);
  CHECK_EQ(
      corio_datagram_recvfrom(srv, buf, 1, &n, (struct sockaddr *)&ss, NULL),
      -EINVAL);
  CHECK_EQ(corio_datagram_drain(NULL), -EINVAL);
  CHECK_EQ(corio_datagram_close(NULL), -EINVAL);
  CHECK_EQ(corio_datagram_wait_closed(NULL), -EINVAL);
  CHECK_EQ(corio_datagram_open_addr(NULL, NULL, 0, NULL, 0, NULL, &c), -EINVAL);
  CHECK_EQ(corio_datagram_open_addr(NULL, (struct sockaddr *)&ss, len, NULL, 0,
                                    NULL, NULL),
           -EINVAL);
  CHECK_EQ(corio_datagram_open_unix(NULL, "", NULL, NULL, &c), -EINVAL);
  CHECK_EQ(corio_datagram_fd(NULL), -1);
  CHECK_EQ(corio_datagram_drops(NULL), 0);
  corio_datagram_unref(NULL);
  /* A stream socket is not a datagram socket; the fd is closed. */
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, fd, NULL, &c), -EPROTOTYPE);
  CHECK_EQ(fcntl(fd, F_GETFD), -1);
  CHECK_EQ(corio_datagram_open_fd(NULL, -1, NULL, &c), -EINVAL);
  corio_datagram_unref(srv);
  {
    corio_datagram_options o = {.family = AF_INET};

    CHECK_EQ(corio_datagram_open_addr(NULL, NULL, 0, NULL, 0, &o, &c), 0);
    CHECK_EQ(corio_datagram_fd(c) >= 0, 1);
    /* Non-blocking and close-on-exec. */
    CHECK_TRUE(fcntl(corio_datagram_fd(c), F_GETFL) & O_NONBLOCK);
    CHECK_TRUE(fcntl(corio_datagram_fd(c), F_GETFD) & FD_CLOEXEC);
    corio_datagram_unref(c);
  }
  return 0;
}

static void test_misuse(void **state) {
  corio_datagram *d = NULL;
  char buf[4];
  size_t n;

  (void)state;
  udp_run(misuse_body, NULL);
  /* Outside a task. */
  assert_int_equal(
      corio_create_datagram_endpoint("127.0.0.1", 0, NULL, 0, NULL, &d),
      CORIO_ENOLOOP);
  assert_int_equal(corio_datagram_recv(d, buf, sizeof buf, &n), -EINVAL);
}

/* ---- the loop closes with endpoints open ---------------------------------
 */

static corio_datagram *left_open[3];
static int left_fds[3];

static int left_open_body(void *arg, void **result) {
  corio_task *t;
  char msg[500];
  int sv[2];

  (void)arg, (void)result;
  CHECK_EQ(udp_bound(AF_INET, NULL, &left_open[0]), 0);
  CHECK_EQ(small_pair(sv), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[0], NULL, &left_open[1]), 0);
  CHECK_EQ(corio_datagram_open_fd(NULL, sv[1], NULL, &left_open[2]), 0);
  if (failed.line)
    return 0;
  memset(msg, 'l', sizeof msg);
  /* One with a send queue, one with a receiver waiting (a task the loop
   * closes), all left open. */
  for (int i = 0; i < 100; i++)
    CHECK_EQ(corio_datagram_send(left_open[1], msg, sizeof msg), 0);
  CHECK_TRUE(corio_datagram_write_buffer_size(left_open[1]) > 0);
  CHECK_EQ(corio_spawn(&t, receive_one, left_open[0]), 0);
  corio_task_unref(t);
  for (int i = 0; i < 3; i++)
    left_fds[i] = corio_datagram_fd(left_open[i]);
  return 0;
}

static void test_loop_close_closes(void **state) {
  int before = open_fds();

  (void)state;
  reset_checks(NULL);
  assert_int_equal(corio_run(left_open_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(corio_datagram_fd(left_open[i]), -1);
    assert_int_equal(corio_datagram_is_closing(left_open[i]), 1);
    corio_datagram_unref(left_open[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo),
      cmocka_unit_test(test_by_name),
      cmocka_unit_test(test_icmp_refused),
      cmocka_unit_test(test_icmp_error_in_order),
      cmocka_unit_test(test_emsgsize),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_queue_drops_exact),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_cancel_and_timeout),
      cmocka_unit_test(test_send_queue_drain),
      cmocka_unit_test(test_drain_abort_fails),
      cmocka_unit_test(test_close_abort),
      cmocka_unit_test(test_unref_flushes),
      cmocka_unit_test(test_unix),
      cmocka_unit_test(test_broadcast_remote_not_connected),
      cmocka_unit_test(test_unix_sendto_peer),
      cmocka_unit_test(test_queued_send_checked),
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_loop_close_closes),
  };

  ipv6_ok = have_ipv6();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
