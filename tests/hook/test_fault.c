/* Fault walks over hooked blocking code: plain socket/connect/accept/
 * read/write/send/recv/poll calls in tasks, the hooks suspending them on
 * the loop. An echo server written as blocking code (an accept task, a
 * task per connection) serves two bystander clients, set up before the
 * fault is armed, while a victim client connects and echoes; the Nth call
 * of one kind fails meanwhile, N = 1, 2, ... until a run completes
 * without reaching it.
 *
 * What the hooked code reaches of corio's fault seam (src/core/fault.h):
 * the allocations and the poller's epoll_ctl/epoll_wait behind every wait
 * it makes. The hooked syscalls themselves go to the C library (real.c):
 * socket, connect, accept, recv and send are walked only where the hooks
 * consult the seam for them (probed at run time: a kind the seam never
 * sees is reported as not walked).
 *
 * For every N at which the fault fired: the hooked call that took it
 * returns -1 with the errno the seam injected (ENOMEM for an allocation or
 * epoll_ctl, EMFILE for socket/accept, ECONNREFUSED for connect,
 * ECONNRESET for recv, EPIPE for send), or the failure is absorbed (an
 * epoll_wait's EINTR); any other failure is its peer's consequence (EOF,
 * a reset); at most one bystander breaks and the others get every byte
 * back in order, then once more unarmed; a fresh client is served; no fd
 * and no allocation is left. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../task/task_check.h"
#include "corio/hook.h"
#include "corio/loop.h"
#include "corio/sync.h"
#include "corio/task.h"

enum {
  NBY = 2,      /* bystander clients */
  CHUNK = 1500, /* bytes of one bystander round */
  VICTIM_ECHOES = 3,
  MAX_HANDLERS = 16,
  /* A failed hooked call's errno is recorded as -errno; these mark what a
   * task saw of its peer instead. */
  PEER_EOF = -100000, /* the peer closed: a read returned 0 early */
  WRONG_BYTES = -100001,
};

/* ---- hooked blocking code --------------------------------------------- */

static unsigned char pattern_byte(unsigned id, size_t i) {
  return (unsigned char)((i * 131 + id * 7 + (i >> 8)) & 0xff);
}

/* -1/errno from a hooked call, as a task's outcome. */
static int failed_call(void) { return -errno; }

/* len bytes in full (a blocking write takes everything). */
static int write_all(int fd, const void *buf, size_t len) {
  ssize_t n = write(fd, buf, len);

  if (n < 0)
    return failed_call();
  return (size_t)n == len ? 0 : PEER_EOF;
}

/* Exactly len bytes: recv with MSG_WAITALL, or poll then read. */
static int read_exactly(int fd, void *buf, size_t len, int use_poll) {
  size_t got = 0;

  while (got < len) {
    ssize_t n;

    if (use_poll) {
      struct pollfd p = {.fd = fd, .events = POLLIN};

      if (poll(&p, 1, -1) < 0)
        return failed_call();
      n = read(fd, (char *)buf + got, len - got);
    } else {
      n = recv(fd, (char *)buf + got, len - got, MSG_WAITALL);
    }
    if (n < 0)
      return failed_call();
    if (n == 0)
      return PEER_EOF;
    got += (size_t)n;
  }
  return 0;
}

static int connect_to(int port, int *out) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

  *out = -1;
  if (fd < 0)
    return failed_call();
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    rc = failed_call();
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

/* ---- the server --------------------------------------------------------- */

struct server {
  int listener;
  int port;
  int live;          /* handler tasks running */
  int accept_errors; /* accept failures it went on after */
  int handler_errors;
  int first_errno; /* of the first failed call on the server's side */
  corio_task *acceptor;
};

struct handler_arg {
  struct server *srv;
  int fd;
};

static struct handler_arg handler_args[MAX_HANDLERS];

/* Echoes until EOF, as any blocking server would. */
static int handler(void *arg, void **result) {
  struct handler_arg *h = arg;
  char buf[4096];
  ssize_t n;

  (void)result;
  while ((n = read(h->fd, buf, sizeof buf)) > 0)
    if (write_all(h->fd, buf, (size_t)n) < 0) {
      n = -1;
      break;
    }
  if (n < 0) {
    if (!h->srv->handler_errors++ && !h->srv->accept_errors)
      h->srv->first_errno = errno;
  }
  close(h->fd);
  h->fd = -1;
  h->srv->live--;
  return 0;
}

static int acceptor(void *arg, void **result) {
  struct server *srv = arg;
  int next = 0;

  (void)result;
  for (;;) {
    int c = accept(srv->listener, NULL, NULL), rc;

    if (c < 0) {
      /* The listener closed: the server is done. Anything else (the
       * injected failure) is logged and accepting goes on. */
      if (errno == EBADF || errno == EINVAL || errno == ECANCELED)
        return 0;
      if (!srv->accept_errors++ && !srv->handler_errors)
        srv->first_errno = errno;
      continue;
    }
    if (next == MAX_HANDLERS) {
      close(c);
      continue;
    }
    handler_args[next].srv = srv;
    handler_args[next].fd = c;
    srv->live++;
    if ((rc = corio_spawn(NULL, handler, &handler_args[next])) < 0) {
      srv->live--;
      if (!srv->handler_errors++ && !srv->accept_errors)
        srv->first_errno = -rc;
      close(c);
      continue;
    }
    next++;
  }
}

static int server_start(struct server *srv) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;

  memset(srv, 0, sizeof *srv);
  srv->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (srv->listener < 0)
    return failed_call();
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(srv->listener, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      listen(srv->listener, 16) < 0 ||
      getsockname(srv->listener, (struct sockaddr *)&sin, &len) < 0)
    return failed_call();
  srv->port = ntohs(sin.sin_port);
  return corio_spawn(&srv->acceptor, acceptor, srv);
}

/* Closing the listener ends the accept task (its accept fails EBADF);
 * the handlers end with their clients' EOF. */
static int server_finish(struct server *srv) {
  int rc = 0;

  if (srv->listener >= 0)
    close(srv->listener);
  srv->listener = -1;
  if (srv->acceptor) {
    rc = corio_task_await(srv->acceptor, NULL);
    corio_task_unref(srv->acceptor);
    srv->acceptor = NULL;
  }
  /* Bounded: every client has closed its end by now. */
  for (int i = 0; i < 30000 && srv->live > 0; i++)
    if (corio_sleep(0.001) < 0)
      break;
  return srv->live == 0 ? rc : -ETIMEDOUT;
}

/* ---- the scene -------------------------------------------------------- */

struct bystander {
  int fd;
  size_t sent;
  int rc;      /* its round while the fault was armed */
  int post_rc; /* its round afterwards */
};

struct scene {
  enum corio__fault_point point;
  long n;
  int setup_rc;
  int fired;
  long calls; /* calls the seam saw in the window */
  int victim_rc;
  int fresh_rc;
  struct bystander by[NBY];
  struct server srv;
  int pending;
  corio_event all_done;
};

/* One round: CHUNK pattern bytes out, their echo back and compared.
 * Bystander 0 waits with recv(MSG_WAITALL), bystander 1 with poll+read. */
static int bystander_round(struct bystander *b, unsigned id) {
  unsigned char out[CHUNK], in[CHUNK];
  int rc;

  for (size_t i = 0; i < CHUNK; i++)
    out[i] = pattern_byte(id, b->sent + i);
  if (id == 0) {
    ssize_t n = send(b->fd, out, CHUNK, MSG_NOSIGNAL);

    if (n < 0)
      return failed_call();
    if (n != CHUNK)
      return PEER_EOF;
  } else if ((rc = write_all(b->fd, out, CHUNK)) < 0) {
    return rc;
  }
  if ((rc = read_exactly(b->fd, in, CHUNK, id == 1)) < 0)
    return rc;
  if (memcmp(in, out, CHUNK) != 0)
    return WRONG_BYTES;
  b->sent += CHUNK;
  return 0;
}

/* A client's whole conversation: connect, echoes (poll before each read),
 * half-close, the server's EOF, close. */
static int victim(int port) {
  char msg[64], buf[64];
  int fd, rc;

  if ((rc = connect_to(port, &fd)) < 0)
    return rc;
  for (int i = 0; i < VICTIM_ECHOES && rc == 0; i++) {
    size_t len = (size_t)snprintf(msg, sizeof msg, "victim says %d\n", i);

    rc = write_all(fd, msg, len);
    if (rc == 0)
      rc = read_exactly(fd, buf, len, 1);
    if (rc == 0 && memcmp(buf, msg, len) != 0)
      rc = WRONG_BYTES;
  }
  if (rc == 0 && shutdown(fd, SHUT_WR) < 0)
    rc = failed_call();
  if (rc == 0) {
    ssize_t n = read(fd, buf, sizeof buf);

    if (n < 0)
      rc = failed_call();
    else if (n > 0)
      rc = WRONG_BYTES;
  }
  close(fd);
  return rc;
}

struct job {
  struct scene *sc;
  int index; /* bystander, or -1: the victim */
};

static int window_task(void *arg, void **result) {
  struct job *j = arg;
  struct scene *sc = j->sc;

  (void)result;
  if (j->index < 0)
    sc->victim_rc = victim(sc->srv.port);
  else
    sc->by[j->index].rc =
        bystander_round(&sc->by[j->index], (unsigned)j->index);
  if (--sc->pending == 0)
    corio_event_set(&sc->all_done);
  return 0;
}

static int setup(struct scene *sc) {
  int rc;

  if ((rc = server_start(&sc->srv)) < 0)
    return rc;
  for (int i = 0; i < NBY; i++) {
    if ((rc = connect_to(sc->srv.port, &sc->by[i].fd)) < 0)
      return rc;
    if ((rc = bystander_round(&sc->by[i], (unsigned)i)) < 0)
      return rc;
  }
  return 0;
}

static int scene_body(void *arg, void **result) {
  struct scene *sc = arg;
  struct job jobs[NBY + 1];
  corio_task *tasks[NBY + 1];
  int ntasks = 0, rc;

  (void)result;
  corio_event_init(&sc->all_done);
  for (int i = 0; i < NBY; i++)
    sc->by[i].fd = -1;
  sc->srv.listener = -1;
  if ((sc->setup_rc = setup(sc)) < 0)
    goto out;
  for (int i = -1; i < NBY; i++) {
    jobs[ntasks].sc = sc;
    jobs[ntasks].index = i;
    if ((sc->setup_rc =
             corio_spawn(&tasks[ntasks], window_task, &jobs[ntasks])) < 0)
      break;
    ntasks++;
  }
  sc->pending = ntasks;
  if (sc->n > 0)
    corio__fault_arm(sc->point, sc->n);
  if (ntasks > 0)
    (void)corio_event_wait(&sc->all_done);
  /* Disarming resets these: read them first. */
  sc->fired = corio__fault_fired(sc->point);
  sc->calls = corio__fault_calls(sc->point);
  corio__fault_arm(sc->point, 0);
  for (int i = 0; i < ntasks; i++) {
    (void)corio_task_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
  if (sc->setup_rc < 0)
    goto out;
  for (int i = 0; i < NBY; i++)
    if (sc->by[i].rc == 0)
      sc->by[i].post_rc = bystander_round(&sc->by[i], (unsigned)i);
  sc->fresh_rc = victim(sc->srv.port);
out:
  /* Bystanders close (an intact one sees the server's EOF after its
   * own), then the server goes. */
  for (int i = 0; i < NBY; i++) {
    struct bystander *b = &sc->by[i];

    if (b->fd < 0)
      continue;
    if (sc->setup_rc == 0 && b->rc == 0 && b->post_rc == 0) {
      char c;

      if (shutdown(b->fd, SHUT_WR) < 0 || read(b->fd, &c, 1) != 0)
        b->post_rc = WRONG_BYTES;
    }
    close(b->fd);
    b->fd = -1;
  }
  rc = server_finish(&sc->srv);
  if (rc < 0 && sc->fresh_rc == 0)
    sc->fresh_rc = rc;
  (void)corio_event_destroy(&sc->all_done);
  return 0;
}

/* ---- the walk ----------------------------------------------------------- */

static const char *point_name(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
    return "alloc";
  case CORIO__FAULT_EPOLL_CTL:
    return "epoll_ctl";
  case CORIO__FAULT_EPOLL_WAIT:
    return "epoll_wait";
  case CORIO__FAULT_SOCKET:
    return "socket";
  case CORIO__FAULT_CONNECT:
    return "connect";
  case CORIO__FAULT_ACCEPT:
    return "accept";
  case CORIO__FAULT_RECV:
    return "recv";
  case CORIO__FAULT_SEND:
    return "send";
  default:
    return "?";
  }
}

/* The errno a hooked call fails with when the seam fails `p` under it;
 * 0: the failure is absorbed (epoll_wait's EINTR: the loop polls again). */
static int injected_errno(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
  case CORIO__FAULT_EPOLL_CTL:
    return ENOMEM;
  case CORIO__FAULT_SOCKET:
  case CORIO__FAULT_ACCEPT:
    return EMFILE;
  case CORIO__FAULT_CONNECT:
    return ECONNREFUSED;
  case CORIO__FAULT_RECV:
    return ECONNRESET;
  case CORIO__FAULT_SEND:
    return EPIPE;
  default:
    return 0;
  }
}

/* What a client may see of a failure on the other side of its
 * connection. */
static int peer_consequence(int rc) {
  return rc == PEER_EOF || rc == -ECONNRESET || rc == -EPIPE;
}

struct tally {
  long walked, intact, victim_hit, bystander_hit, server_hit;
};

static struct tally total;

#define WALK_FAIL(...)                                                         \
  do {                                                                         \
    print_error("hook %s: failing call %ld: ", point_name(point), n);          \
    print_error(__VA_ARGS__);                                                  \
    fail();                                                                    \
  } while (0)

static struct tally walk(enum corio__fault_point point) {
  struct tally t = {0};
  int want = injected_errno(point);

  for (long n = 1;; n++) {
    struct scene sc;
    corio_test_usage before;
    int fds, rc, broken = 0, saw_injected = 0, server_side;

    reset_checks(NULL);
    corio_test_release_pools();
    before = corio_test_usage_now();
    fds = corio_test_open_fds();
    memset(&sc, 0, sizeof sc);
    sc.point = point;
    sc.n = n;
    sc.fresh_rc = 1;
    rc = corio_run(scene_body, &sc, NULL);
    corio__fault_arm(point, 0);
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr,
              "walk hook %s: call %ld fired %d setup %d victim %d "
              "bystanders %d %d / %d %d server accept %d handler %d "
              "fresh %d\n",
              point_name(point), n, sc.fired, sc.setup_rc, sc.victim_rc,
              sc.by[0].rc, sc.by[1].rc, sc.by[0].post_rc, sc.by[1].post_rc,
              sc.srv.accept_errors, sc.srv.handler_errors, sc.fresh_rc);
    if (rc != 0 || sc.setup_rc != 0)
      WALK_FAIL("the run gave %d, its setup %d\n", rc, sc.setup_rc);
    assert_checks_passed();
    if (corio_test_open_fds() != fds)
      WALK_FAIL("%d fds leaked\n", corio_test_open_fds() - fds);
    corio_test_assert_no_leak(before);
    if (sc.fresh_rc != 0)
      WALK_FAIL("a fresh client then failed: %d\n", sc.fresh_rc);
    if (sc.victim_rc > 0 || sc.victim_rc == WRONG_BYTES)
      WALK_FAIL("the victim gave %d\n", sc.victim_rc);
    if (sc.victim_rc == -want)
      saw_injected = 1;
    for (int i = 0; i < NBY; i++) {
      if (sc.by[i].rc > 0 || sc.by[i].rc == WRONG_BYTES)
        WALK_FAIL("bystander %d gave %d\n", i, sc.by[i].rc);
      if (sc.by[i].rc == -want)
        saw_injected = 1;
    }
    server_side = sc.srv.accept_errors + sc.srv.handler_errors;
    for (int i = 0; i < NBY; i++) {
      /* Its handler may take the failure after echoing the window's
       * round: the next round then finds the connection closed. */
      if (sc.by[i].rc < 0 ||
          (server_side && peer_consequence(sc.by[i].post_rc)))
        broken++;
      else if (sc.by[i].post_rc != 0)
        WALK_FAIL("bystander %d came through but then failed: %d\n", i,
                  sc.by[i].post_rc);
    }
    if (!sc.fired) {
      if (sc.victim_rc != 0 || broken || server_side)
        WALK_FAIL("nothing was injected, yet something failed\n");
      return t;
    }
    t.walked++;
    if (broken > 1)
      WALK_FAIL("%d bystanders broke\n", broken);
    if (server_side > 1)
      WALK_FAIL("%d failures on the server's side\n", server_side);
    if (!want && (sc.victim_rc != 0 || broken || server_side))
      WALK_FAIL("an absorbed failure showed\n");
    /* A client's failure is the injected errno itself, or the
     * consequence of one on the server's side. */
    if (sc.victim_rc < 0 && sc.victim_rc != -want &&
        !(server_side && peer_consequence(sc.victim_rc)))
      WALK_FAIL("the victim gave %d, not -%d\n", sc.victim_rc, want);
    for (int i = 0; i < NBY; i++)
      if (sc.by[i].rc < 0 && sc.by[i].rc != -want &&
          !(server_side && peer_consequence(sc.by[i].rc)))
        WALK_FAIL("bystander %d gave %d, not -%d\n", i, sc.by[i].rc, want);
    /* Whatever failed, the chain began with the injected errno. */
    if (server_side && sc.srv.first_errno == want)
      saw_injected = 1;
    if ((sc.victim_rc < 0 || broken || server_side) && !saw_injected)
      WALK_FAIL("nobody saw errno %d: victim %d, server's first %d\n", want,
                sc.victim_rc, sc.srv.first_errno);
    if (!broken)
      t.intact++;
    if (sc.victim_rc < 0)
      t.victim_hit++;
    if (broken)
      t.bystander_hit++;
    if (server_side)
      t.server_hit++;
  }
}

/* Whether hooked code reaches the seam at `point` at all: armed far
 * beyond reach over one unarmed scene, its calls are counted. */
static long probe(enum corio__fault_point point) {
  struct scene sc;

  memset(&sc, 0, sizeof sc);
  sc.point = point;
  sc.n = 1L << 40; /* never reached */
  assert_int_equal(corio_run(scene_body, &sc, NULL), 0);
  assert_checks_passed();
  assert_int_equal(sc.setup_rc, 0);
  assert_int_equal(sc.victim_rc, 0);
  assert_int_equal(sc.fresh_rc, 0);
  return sc.calls;
}

static void report(enum corio__fault_point point, struct tally t) {
  print_message("  %-11s %3ld points, %3ld with every bystander intact, "
                "victim hit %ld, a bystander hit %ld, the server %ld\n",
                point_name(point), t.walked, t.intact, t.victim_hit,
                t.bystander_hit, t.server_hit);
  total.walked += t.walked;
  total.intact += t.intact;
}

static int setup_hooks(void **state) {
  (void)state;
  assert_int_equal(corio_hook_enable(), 0);
  return 0;
}

static int teardown_hooks(void **state) {
  (void)state;
  assert_int_equal(corio_hook_disable(), 0);
  return 0;
}

/* What corio's seam sees of hooked code: the waits' registrations and
 * the loop's polling. A wait allocates nothing through corio (its waiter
 * lives on the task's stack) and the victim's handler task comes from
 * pools the setup filled, so the allocation walk may find no point at
 * all; it is walked for what a change might add. */
static void test_walk_waits(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_EPOLL_CTL, CORIO__FAULT_EPOLL_WAIT, CORIO__FAULT_ALLOC};
  struct tally t[sizeof points / sizeof points[0]];

  (void)state;
  assert_true(probe(CORIO__FAULT_EPOLL_CTL) > 0);
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    t[i] = walk(points[i]);
    report(points[i], t[i]);
  }
  /* Each client's and handler's waits register their fds. */
  assert_true(t[0].walked >= 4);
  assert_true(t[1].walked >= 4);
  assert_true(t[1].intact == t[1].walked);
}

/* The hooked syscalls themselves, where the seam sees them. */
static void test_walk_syscalls(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_SOCKET, CORIO__FAULT_CONNECT, CORIO__FAULT_ACCEPT,
      CORIO__FAULT_RECV, CORIO__FAULT_SEND};

  (void)state;
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    struct tally t;

    if (probe(points[i]) == 0) {
      print_message("  %-11s not walked: the hooked call does not reach "
                    "the fault seam\n",
                    point_name(points[i]));
      continue;
    }
    t = walk(points[i]);
    report(points[i], t);
    assert_true(t.walked >= 1);
  }
}

static void test_most_points_spare_the_bystanders(void **state) {
  (void)state;
  print_message("  total: %ld points, %ld with every bystander intact\n",
                total.walked, total.intact);
  assert_true(total.walked >= 10);
  assert_true(total.intact * 2 > total.walked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_walk_waits, reset_checks),
      cmocka_unit_test_setup(test_walk_syscalls, reset_checks),
      cmocka_unit_test_setup(test_most_points_spare_the_bystanders,
                             reset_checks),
  };
  return cmocka_run_group_tests(tests, setup_hooks, teardown_hooks);
}
