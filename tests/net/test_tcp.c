/* TCP specifics, over real loopback connections: a reset and an EOF in
 * the middle of every read form, partial writes through a tiny send
 * buffer to a slow reader, writers interleaving whole messages, the
 * socket options every connection gets, the listener's options, and many
 * connections served at once with every byte checked. */
#include <pthread.h>

#include "net_robust.h"

/* A corio stream connected to a plain listener, and the peer's end
 * (blocking, driven by the test with syscalls). */
static int tcp_pair(int family, corio_stream **s, int *peer) {
  int port = 0, l = raw_listener(family, &port), rc;

  if (l < 0)
    return l;
  rc = corio_open_connection(loopback_host(family), port, s);
  if (rc == 0) {
    /* The handshake is done: the connection waits in the queue. */
    *peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (*peer < 0) {
      rc = -errno;
      corio_stream_unref(*s);
    }
  }
  close(l);
  return rc;
}

/* ---- the read forms -------------------------------------------------------
 */

struct form_call {
  corio_stream *s;
  enum form form;
  size_t have; /* peek: bytes already seen */
  char buf[64];
  size_t n;
  int rc;
  int done;
};

/* One call of the form, its outcome in fc. None of them is satisfied by
 * "abc" alone (read is, once anything arrives). */
static int form_call(struct form_call *fc) {
  static const corio_bytes seps[2] = {{"\r\n", 2}, {";;", 2}};
  const void *view;

  memset(fc->buf, 0, sizeof fc->buf);
  fc->n = 0;
  switch (fc->form) {
  case F_READ:
    fc->rc = corio_stream_read(fc->s, fc->buf, sizeof fc->buf - 1, &fc->n);
    break;
  case F_READEXACTLY:
    fc->rc = corio_stream_readexactly(fc->s, fc->buf, 10, &fc->n);
    break;
  case F_READUNTIL:
    fc->rc = corio_stream_readuntil(fc->s, "\r\n", 2, fc->buf,
                                    sizeof fc->buf - 1, &fc->n);
    break;
  case F_READUNTIL_ANY:
    fc->rc = corio_stream_readuntil_any(fc->s, seps, 2, fc->buf,
                                        sizeof fc->buf - 1, &fc->n);
    break;
  case F_READLINE:
    fc->rc = corio_stream_readline(fc->s, fc->buf, sizeof fc->buf - 1, &fc->n);
    break;
  case F_READ_ALL:
    fc->rc = corio_stream_read_all(fc->s, fc->buf, sizeof fc->buf - 1, &fc->n);
    break;
  case F_PEEK:
    fc->rc = corio_stream_peek(fc->s, fc->have, &view, &fc->n);
    if (fc->rc == 0 && fc->n) {
      memcpy(fc->buf, view,
             fc->n < sizeof fc->buf ? fc->n : sizeof fc->buf - 1);
      (void)corio_stream_consume(fc->s, fc->n);
    }
    break;
  default:
    fc->rc = -EINVAL;
  }
  fc->done = 1;
  return fc->rc;
}

static int form_task(void *arg, void **result) {
  (void)result;
  (void)form_call(arg);
  return 0;
}

/* Once the reset has reached the stream (it closed its socket), reads
 * what is left: exactly `want`, then the error, which sticks. */
static void check_rest_then_error(corio_stream *s, const char *want,
                                  int error) {
  char buf[64] = {0};
  size_t n = 0;

  YIELD_UNTIL(corio_stream_fd(s) == -1);
  CHECK_EQ(corio_stream_fd(s), -1); /* a lost connection is closed */
  CHECK_EQ(corio_stream_buffered(s), strlen(want));
  if (*want) {
    CHECK_EQ(corio_stream_read(s, buf, sizeof buf - 1, &n), 0);
    CHECK_STR(buf, want);
  }
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), error);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), error);
}

/* The peer sends "abc" and resets, while a reader waits in `form`. With
 * `settle`, the bytes are in the stream's buffer before the reset;
 * without, the reset follows them on the wire at once. */
static void reset_during(enum form form, int settle, int family) {
  struct form_call fc = {0};
  corio_task *t;
  corio_stream *s;
  int peer;
  char busy[4];
  size_t n;

  CHECK_EQ(tcp_pair(family, &s, &peer), 0);
  if (failed.line)
    return;
  fc.s = s;
  fc.form = form;
  if (settle && form != F_READ) {
    /* The bytes are buffered first; the reader then waits for more. */
    peer_send(peer, "abc");
    YIELD_UNTIL(corio_stream_buffered(s) == 3);
    CHECK_EQ(corio_stream_buffered(s), 3);
    fc.have = 3;
  }
  CHECK_EQ(corio_spawn(&t, form_task, &fc), 0);
  CHECK_TRUE(started_and_waiting(t));
  /* It is the stream's reader now (a read that would wait says so). */
  if (corio_stream_buffered(s) == 0)
    CHECK_EQ(corio_stream_read(s, busy, sizeof busy, &n), CORIO_EREADBUSY);
  if (!settle || form == F_READ)
    peer_send(peer, "abc");
  close_with_reset(peer);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  if (form == F_READ) {
    /* The bytes first (the read returns what has come), then the rest
     * of them, then the reset. */
    CHECK_EQ(fc.rc, 0);
    CHECK_TRUE(fc.n >= 1 && fc.n <= 3);
    CHECK_TRUE(memcmp(fc.buf, "abc", fc.n) == 0);
    check_rest_then_error(s, &"abc"[fc.n <= 3 ? fc.n : 3], -ECONNRESET);
  } else if (form == F_PEEK && !settle) {
    /* peek(0) returns as soon as anything is there; the rest then. */
    CHECK_EQ(fc.rc, 0);
    CHECK_TRUE(fc.n >= 1 && fc.n <= 3);
    check_rest_then_error(s, &"abc"[fc.n], -ECONNRESET);
  } else {
    /* The form fails with the reset and consumes nothing. */
    CHECK_EQ(fc.rc, -ECONNRESET);
    check_rest_then_error(s, "abc", -ECONNRESET);
  }
  if (failed.line)
    print_error("form %s, %s, family %d\n", form_name(form),
                settle ? "buffered before the reset" : "bytes with the reset",
                family);
  corio_stream_unref(s);
}

/* Without a reader waiting: the reset is seen by the stream (it closes),
 * the bytes stay readable by any form. */
static void reset_before(enum form form) {
  struct form_call fc = {0};
  corio_stream *s;
  int peer;

  CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
  if (failed.line)
    return;
  peer_send(peer, "abc");
  YIELD_UNTIL(corio_stream_buffered(s) == 3);
  close_with_reset(peer);
  YIELD_UNTIL(corio_stream_fd(s) == -1);
  CHECK_EQ(corio_stream_fd(s), -1);
  CHECK_EQ(corio_stream_buffered(s), 3);
  fc.s = s;
  fc.form = form;
  fc.have = 0;
  form_call(&fc);
  if (form == F_READ || form == F_PEEK) {
    CHECK_EQ(fc.rc, 0);
    CHECK_STR(fc.buf, "abc");
    check_rest_then_error(s, "", -ECONNRESET);
  } else {
    CHECK_EQ(fc.rc, -ECONNRESET);
    check_rest_then_error(s, "abc", -ECONNRESET);
  }
  if (failed.line)
    print_error("form %s, reset before the call\n", form_name(form));
  corio_stream_unref(s);
}

static int reset_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int f = 0; f < F_COUNT && !failed.line; f++) {
    reset_during((enum form)f, 1, AF_INET);
    reset_during((enum form)f, 0, AF_INET);
    reset_before((enum form)f);
    if (have_ipv6())
      reset_during((enum form)f, 1, AF_INET6);
  }
  return 0;
}

static void test_reset_in_every_read_form(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(reset_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- EOF in the middle ------------------------------------------------------
 */

static int eof_body(void *arg, void **result) {
  (void)arg, (void)result;
  for (int f = 0; f < F_COUNT && !failed.line; f++) {
    struct form_call fc = {0};
    corio_task *t;
    corio_stream *s;
    int peer;

    CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
    if (failed.line)
      break;
    fc.s = s;
    fc.form = (enum form)f;
    if (f != F_READ) {
      /* Part of what the form wants is there; it waits for the rest. */
      peer_send(peer, "abc");
      YIELD_UNTIL(corio_stream_buffered(s) == 3);
      CHECK_EQ(corio_stream_buffered(s), 3);
      fc.have = 3;
    }
    CHECK_EQ(corio_spawn(&t, form_task, &fc), 0);
    CHECK_TRUE(started_and_waiting(t));
    shutdown(peer, SHUT_WR);
    CHECK_EQ(corio_task_await(t, NULL), 0);
    corio_task_unref(t);
    switch (f) {
    case F_READ: /* nothing was sent: EOF */
      CHECK_EQ(fc.rc, 0);
      CHECK_EQ(fc.n, 0);
      break;
    case F_READEXACTLY:
    case F_READUNTIL:
    case F_READUNTIL_ANY:
      /* The partial bytes come back with the error. */
      CHECK_EQ(fc.rc, CORIO_EINCOMPLETEREAD);
      CHECK_EQ(fc.n, 3);
      CHECK_STR(fc.buf, "abc");
      break;
    default: /* readline: the last line; read_all: all; peek: the rest */
      CHECK_EQ(fc.rc, 0);
      CHECK_EQ(fc.n, 3);
      CHECK_STR(fc.buf, "abc");
    }
    /* Then EOF for every form, and the other direction still works. */
    fc.have = 0;
    form_call(&fc);
    CHECK_EQ(fc.n, 0);
    CHECK_TRUE(fc.rc == 0 || fc.rc == CORIO_EINCOMPLETEREAD);
    CHECK_EQ(corio_stream_at_eof(s), 1);
    CHECK_EQ(corio_stream_write(s, "back", 4), 0);
    {
      char buf[8] = {0};
      CHECK_EQ(read(peer, buf, sizeof buf), 4);
      CHECK_STR(buf, "back");
    }
    if (failed.line)
      print_error("EOF in form %s\n", form_name(f));
    close(peer);
    corio_stream_unref(s);
  }
  return 0;
}

static void test_eof_in_every_read_form(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(eof_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- partial writes ---------------------------------------------------------
 */

enum { BIG = 4 << 20 };

/* A send buffer of `size` (the kernel doubles it): writes beyond it are
 * partial. (A tiny receive buffer on the peer as well would make the
 * transfer crawl on delayed acknowledgements.) */
static void shrink_sndbuf(corio_stream *s, int size) {
  setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int partial_body(void *arg, void **result) {
  static const size_t sizes[] = {1,    7,     100,    4095, 4096,
                                 4097, 65536, 300000, 13,   1 << 20};
  struct pattern_reader r = {0};
  pthread_t thread;
  corio_stream *s;
  unsigned char *data = malloc(BIG);
  size_t off = 0, max_queued = 0;
  int peer, k = 0;

  (void)arg, (void)result;
  CHECK_TRUE(data != NULL);
  CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
  if (failed.line || !data) {
    free(data);
    return 0;
  }
  shrink_sndbuf(s, 4096);
  pattern_fill(data, BIG, 42, 0);
  r.fd = peer;
  r.id = 42;
  r.chunk = 1000;
  r.quickack = 1;
  CHECK_EQ(pthread_create(&thread, NULL, pattern_reader_main, &r), 0);
  while (off < BIG && !failed.line) {
    size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];

    if (n > BIG - off)
      n = BIG - off;
    if (k % 3 == 0) {
      /* writelines: several buffers in one call. */
      struct iovec iov[3];
      size_t a = n / 3, b = n / 3;

      iov[0] = (struct iovec){data + off, a};
      iov[1] = (struct iovec){data + off + a, b};
      iov[2] = (struct iovec){data + off + a + b, n - a - b};
      CHECK_EQ(corio_stream_writev(s, iov, 3), 0);
      if (corio_stream_write_buffer_size(s) > max_queued)
        max_queued = corio_stream_write_buffer_size(s);
      CHECK_EQ(corio_stream_drain(s), 0);
    } else {
      CHECK_EQ(corio_stream_write(s, data + off, n), 0);
      if (corio_stream_write_buffer_size(s) > max_queued)
        max_queued = corio_stream_write_buffer_size(s);
      CHECK_EQ(corio_stream_drain(s), 0);
    }
    /* drain returned: at or below the low-water mark. */
    CHECK_TRUE(corio_stream_write_buffer_size(s) <=
               CORIO_STREAM_DEFAULT_HIGH_WATER);
    off += n;
  }
  /* The kernel took only part of the big writes. */
  CHECK_TRUE(max_queued > 0);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(r.error, 0);
  CHECK_EQ(r.got, BIG);
  CHECK_EQ(r.bad_at, (size_t)-1);
  close(peer);
  corio_stream_unref(s);
  free(data);
  return 0;
}

static void test_partial_writes_tiny_sndbuf(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(partial_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- writers interleaving
 * ---------------------------------------------------- */

enum { WRITERS = 8, MESSAGES = 60, HEADER = 12 };

struct writer {
  corio_stream *s;
  int id;
  int rc;
};

static size_t message_len(int writer, int seq) {
  return (size_t)((writer * 7919 + seq * 104729) % 30000) + 1;
}

/* A message: 'M', writer id, 2 spare bytes, seq (4 bytes), payload length
 * (4 bytes), then the payload's pattern. */
static int writer_task(void *arg, void **result) {
  struct writer *w = arg;
  unsigned char *msg = malloc(HEADER + 30001);

  (void)result;
  if (!msg)
    return w->rc = -ENOMEM;
  for (int seq = 0; seq < MESSAGES; seq++) {
    uint32_t len = (uint32_t)message_len(w->id, seq), useq = (uint32_t)seq;

    msg[0] = 'M';
    msg[1] = (unsigned char)w->id;
    msg[2] = msg[3] = 0;
    memcpy(msg + 4, &useq, 4);
    memcpy(msg + 8, &len, 4);
    pattern_fill(msg + HEADER, len, (uint64_t)w->id << 20 | (uint64_t)seq, 0);
    if ((w->rc = corio_stream_write_all(w->s, msg, HEADER + len)) < 0)
      break;
    if (seq % 5 == 0 && (w->rc = corio_sleep(0)) < 0)
      break;
  }
  free(msg);
  return w->rc;
}

struct message_reader {
  int fd;
  int next[WRITERS]; /* the seq expected next from each writer */
  int messages;
  int bad; /* first problem: 1 header, 2 order, 3 payload, 4 short */
  int bad_writer, bad_seq;
};

static int read_full(int fd, unsigned char *buf, size_t n) {
  size_t got = 0;

  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return got == 0 ? 0 : -1;
    got += (size_t)r;
    {
      int on = 1; /* see pattern_reader_main */
      setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    }
  }
  return 1;
}

static void *message_reader_main(void *arg) {
  struct message_reader *m = arg;
  unsigned char *buf = malloc(30001);

  for (;;) {
    unsigned char h[HEADER];
    uint32_t seq, len;
    int rc = read_full(m->fd, h, HEADER), id;

    if (rc == 0)
      break;
    if (rc < 0 || h[0] != 'M' || h[1] >= WRITERS) {
      m->bad = rc < 0 ? 4 : 1;
      break;
    }
    id = h[1];
    memcpy(&seq, h + 4, 4);
    memcpy(&len, h + 8, 4);
    if ((int)seq != m->next[id] || len != message_len(id, (int)seq)) {
      m->bad = 2;
      m->bad_writer = id;
      m->bad_seq = (int)seq;
      break;
    }
    if (read_full(m->fd, buf, len) != 1) {
      m->bad = 4;
      break;
    }
    if (pattern_check(buf, len, (uint64_t)id << 20 | seq, 0) != len) {
      m->bad = 3;
      m->bad_writer = id;
      m->bad_seq = (int)seq;
      break;
    }
    m->next[id]++;
    m->messages++;
  }
  /* After a bad message, keep reading to EOF so that the writers are not
   * left blocked on a full buffer (the check fails, it does not hang). */
  if (m->bad)
    while (read_full(m->fd, buf, 1) == 1)
      ;
  free(buf);
  return NULL;
}

static int interleave_body(void *arg, void **result) {
  struct writer w[WRITERS];
  struct message_reader m = {0};
  corio_awaitable kids[WRITERS];
  pthread_t thread;
  corio_stream *s;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
  if (failed.line)
    return 0;
  shrink_sndbuf(s, 4096);
  m.fd = peer;
  CHECK_EQ(pthread_create(&thread, NULL, message_reader_main, &m), 0);
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (struct writer){s, i, 0};
    kids[i] = CORIO_AWAIT_FN(writer_task, &w[i]);
  }
  CHECK_EQ(corio_gather(kids, WRITERS, NULL, 0), 0);
  CHECK_EQ(corio_stream_close(s), 0);
  CHECK_EQ(corio_stream_wait_closed(s), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(m.bad, 0);
  CHECK_EQ(m.bad_writer, 0);
  CHECK_EQ(m.bad_seq, 0);
  CHECK_EQ(m.messages, WRITERS * MESSAGES);
  for (int i = 0; i < WRITERS; i++)
    CHECK_EQ(m.next[i], MESSAGES);
  close(peer);
  corio_stream_unref(s);
  return 0;
}

static void test_writers_interleave_whole_messages(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(interleave_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- socket options
 * ---------------------------------------------------------- */

struct opt_seen {
  int nodelay, keepalive, seen;
};

static int opt_handler(corio_stream *s, void *arg) {
  struct opt_seen *o = arg;
  char buf[8];
  size_t n;

  o->nodelay = sockopt_int(corio_stream_fd(s), IPPROTO_TCP, TCP_NODELAY);
  o->keepalive = sockopt_int(corio_stream_fd(s), SOL_SOCKET, SO_KEEPALIVE);
  o->seen++;
  while (corio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0)
    (void)corio_stream_write(s, buf, n);
  return 0;
}

static int options_body(void *arg, void **result) {
  struct opt_seen seen = {0};
  corio_server_options so = {0};
  corio_connect_options co = {0};
  corio_server *srv;
  corio_stream *s;
  int port, fd;

  (void)arg, (void)result;
  /* Defaults: TCP_NODELAY on both ends, no keepalive. */
  CHECK_EQ(corio_start_server(opt_handler, &seen, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  port = corio_server_port(srv);
  CHECK_EQ(corio_open_connection("127.0.0.1", port, &s), 0);
  fd = corio_stream_fd(s);
  CHECK_EQ(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  CHECK_EQ(echo_once(s, "o"), 0);
  CHECK_EQ(seen.seen, 1);
  CHECK_EQ(seen.nodelay, 1);
  CHECK_EQ(seen.keepalive, 0);
  /* Toggling on a live stream. */
  CHECK_EQ(corio_stream_set_nodelay(s, 0), 0);
  CHECK_EQ(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  CHECK_EQ(corio_stream_set_keepalive(s, 1), 0);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  CHECK_EQ(corio_stream_set_keepalive(s, 0), 0);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  corio_stream_abort(s);
  CHECK_EQ(corio_stream_set_nodelay(s, 1), CORIO_ESTREAMCLOSED);
  corio_stream_unref(s);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);

  /* Keepalive asked on both sides; Nagle left on by the client. */
  so.flags = CORIO_NET_KEEPALIVE;
  co.flags = CORIO_NET_KEEPALIVE | CORIO_NET_NO_NODELAY;
  co.happy_eyeballs_delay = CORIO_NO_TIMEOUT;
  CHECK_EQ(corio_start_server(opt_handler, &seen, "127.0.0.1", 0, &so, &srv),
           0);
  if (failed.line)
    return 0;
  CHECK_EQ(
      corio_open_connection_ex("127.0.0.1", corio_server_port(srv), &co, &s),
      0);
  fd = corio_stream_fd(s);
  CHECK_EQ(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  CHECK_EQ(echo_once(s, "k"), 0);
  CHECK_EQ(seen.seen, 2);
  CHECK_EQ(seen.nodelay, 1);
  CHECK_EQ(seen.keepalive, 1);
  corio_stream_unref(s);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);

  /* A server that leaves Nagle on for its connections. */
  so.flags = CORIO_NET_NO_NODELAY;
  CHECK_EQ(corio_start_server(opt_handler, &seen, "127.0.0.1", 0, &so, &srv),
           0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_open_connection("127.0.0.1", corio_server_port(srv), &s), 0);
  CHECK_EQ(echo_once(s, "n"), 0);
  CHECK_EQ(seen.seen, 3);
  CHECK_EQ(seen.nodelay, 0);
  CHECK_EQ(seen.keepalive, 0);
  corio_stream_unref(s);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_nodelay_keepalive(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(options_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* The listener: its backlog (TCP_INFO reads a listener's limit) and
 * SO_REUSEADDR. */
static int listener_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server_options so = {0};
  corio_server *srv;
  unsigned qlen = 0, qmax = 0;
  int fd;

  (void)arg, (void)result;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, NULL, &srv),
           0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_server_sockets(srv, &fd, 1), 1);
  CHECK_EQ(listen_queue(fd, &qlen, &qmax), 0);
  CHECK_EQ(qmax, 100); /* asyncio's default */
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT), 0);
  corio_server_unref(srv);

  so.backlog = 7;
  so.flags = CORIO_NET_NO_REUSE_ADDRESS;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &so, &srv), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_server_sockets(srv, &fd, 1), 1);
  CHECK_EQ(listen_queue(fd, &qlen, &qmax), 0);
  CHECK_EQ(qmax, 7);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 0);
  CHECK_EQ(echo_client("127.0.0.1", corio_server_port(srv), "b\n"), 0);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  so.backlog = -1;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &so, &srv),
           -EINVAL);
  return 0;
}

static void test_listener_options(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(listener_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* A write after the peer reset: an error, never SIGPIPE (the test would
 * die); the error sticks, drain reports it too. */
static int write_reset_body(void *arg, void **result) {
  static char chunk[65536];
  corio_stream *s;
  int peer, rc = 0;

  (void)arg, (void)result;
  CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
  if (failed.line)
    return 0;
  close_with_reset(peer);
  /* The reset arrives at the stream's socket; writes then fail. */
  for (int i = 0; i < 1000 && rc == 0; i++) {
    rc = corio_stream_write(s, chunk, sizeof chunk);
    if (rc == 0)
      rc = corio_sleep(0);
  }
  CHECK_TRUE(rc == -ECONNRESET || rc == -EPIPE);
  CHECK_EQ(corio_stream_write(s, "x", 1), rc);
  CHECK_EQ(corio_stream_drain(s), rc);
  CHECK_EQ(corio_stream_fd(s), -1);
  corio_stream_unref(s);
  return 0;
}

static void test_write_after_reset(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(write_reset_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- connections that end before they are accepted -------------------------
 */

/* Clients that connect and reset (or close) while the server is not yet
 * accepting: their handlers see the end at once, and the server goes on
 * serving the others. */
static int early_end_body(void *arg, void **result) {
  struct echo_stats st = {0};
  corio_server_options so = {0};
  corio_server *srv;
  int raw[4], port;

  (void)arg, (void)result;
  so.flags = CORIO_NET_NO_START;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &so, &srv), 0);
  if (failed.line)
    return 0;
  port = corio_server_port(srv);
  for (int i = 0; i < 4; i++) {
    struct sockaddr_storage ss;
    socklen_t len = loopback(AF_INET, port, &ss);

    raw[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(connect(raw[i], (struct sockaddr *)&ss, len), 0);
    if (i < 2)
      peer_send(raw[i], "unheard");
  }
  close_with_reset(raw[0]); /* sent, then reset */
  close_with_reset(raw[1]);
  close(raw[2]); /* a plain close: EOF */
  CHECK_EQ(corio_server_start_serving(srv), 0);
  CHECK_EQ(echo_client("127.0.0.1", port, "served\n"), 0);
  YIELD_UNTIL(st.finished == 5 - 1);
  CHECK_EQ(st.finished, 4);
  CHECK_EQ(corio_server_clients(srv), 1); /* raw[3], still open */
  close(raw[3]);
  YIELD_UNTIL(st.finished == 5);
  CHECK_EQ(st.handled, 5);
  CHECK_EQ(server_finish(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_connections_ending_before_accept(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(early_end_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- many connections -------------------------------------------------------
 */

enum { CONNS = 500, ROUNDS = 3 };

struct client {
  int port;
  int id;
  long sent;
};

static int client_task(void *arg, void **result) {
  struct client *c = arg;
  unsigned char out[5000], in[5000];
  corio_stream *s;
  int rc;

  (void)result;
  if ((rc = corio_open_connection("127.0.0.1", c->port, &s)) < 0)
    return rc;
  for (int r = 0; r < ROUNDS && rc == 0; r++) {
    size_t len = (size_t)(c->id * 37 + r * 1009) % sizeof out + 1;
    uint64_t id = (uint64_t)c->id * 10 + (uint64_t)r;

    pattern_fill(out, len, id, 0);
    if ((rc = corio_stream_write_all(s, out, len)) < 0)
      break;
    if ((rc = corio_stream_readexactly(s, in, len, NULL)) < 0)
      break;
    if (pattern_check(in, len, id, 0) != len)
      rc = -EPROTO;
    c->sent += (long)len;
  }
  if (rc == 0) {
    (void)corio_stream_write_eof(s);
    /* The server's end follows ours. */
    if (corio_stream_read(s, in, sizeof in, NULL) < 0)
      rc = -EPROTO;
  }
  corio_stream_unref(s);
  return rc;
}

static int many_body(void *arg, void **result) {
  static struct client clients[CONNS];
  static corio_awaitable kids[CONNS];
  struct echo_stats st = {0};
  corio_server_options so = {0};
  corio_server *srv;
  long sent = 0;

  (void)arg, (void)result;
  /* Room for every SYN at once: a dropped one is retried only after a
   * second. */
  so.backlog = CONNS + 16;
  CHECK_EQ(corio_start_server(echo_handler, &st, "127.0.0.1", 0, &so, &srv), 0);
  if (failed.line)
    return 0;
  for (int i = 0; i < CONNS; i++) {
    clients[i] = (struct client){corio_server_port(srv), i, 0};
    kids[i] = CORIO_AWAIT_FN(client_task, &clients[i]);
  }
  CHECK_EQ(corio_gather(kids, CONNS, NULL, 0), 0);
  for (int i = 0; i < CONNS; i++)
    sent += clients[i].sent;
  CHECK_EQ(server_finish(srv), 0);
  CHECK_EQ(st.handled, CONNS);
  CHECK_EQ(st.finished, CONNS);
  CHECK_EQ(st.got_data, CONNS);
  CHECK_EQ(st.bytes, sent);
  corio_server_unref(srv);
  return 0;
}

static void test_many_connections(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(many_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

/* ---- the reader that lets go on a reset ------------------------------------
 */

static int reset_later(void *arg, void **result) {
  (void)result;
  if (yield_n(3) < 0)
    return -ECANCELED;
  close_with_reset(*(int *)arg);
  return 0;
}

/* The natural way to handle a reset: the reader gets the error and drops
 * the stream at once, then goes on (suspends elsewhere). The reset is
 * seen by the stream's readiness callback, which may wake the reader by
 * running it on the spot: the callback must not outlive the stream. */
static int drop_on_reset_body(void *arg, void **result) {
  corio_task *t;
  corio_stream *s;
  char buf[8];
  size_t n;
  int peer;

  (void)arg, (void)result;
  CHECK_EQ(tcp_pair(AF_INET, &s, &peer), 0);
  if (failed.line)
    return 0;
  CHECK_EQ(corio_spawn(&t, reset_later, &peer), 0);
  CHECK_EQ(corio_stream_read(s, buf, sizeof buf, &n), -ECONNRESET);
  corio_stream_unref(s);
  /* Once this task suspends, the callback that woke it goes on: it must
   * not touch the stream any more (ASan: heap-use-after-free; fixed in
   * 4d89980, where the reader is stepped at once only as on_readable's
   * last action). */
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(corio_task_await(t, NULL), 0);
  corio_task_unref(t);
  return 0;
}

static void test_reader_drops_stream_on_reset(void **state) {
  int before = open_fds();

  (void)state;
  assert_int_equal(corio_run(drop_on_reset_body, NULL, NULL), 0);
  assert_checks_passed();
  assert_int_equal(open_fds(), before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_reset_in_every_read_form, reset_checks),
      cmocka_unit_test_setup(test_eof_in_every_read_form, reset_checks),
      cmocka_unit_test_setup(test_partial_writes_tiny_sndbuf, reset_checks),
      cmocka_unit_test_setup(test_writers_interleave_whole_messages,
                             reset_checks),
      cmocka_unit_test_setup(test_nodelay_keepalive, reset_checks),
      cmocka_unit_test_setup(test_listener_options, reset_checks),
      cmocka_unit_test_setup(test_write_after_reset, reset_checks),
      cmocka_unit_test_setup(test_connections_ending_before_accept,
                             reset_checks),
      cmocka_unit_test_setup(test_many_connections, reset_checks),
      /* Last: a use-after-free here would end the program under ASan. */
      cmocka_unit_test_setup(test_reader_drops_stream_on_reset, reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
