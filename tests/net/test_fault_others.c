/* Fault walks with bystanders: the Nth call of one kind (allocation,
 * socket, connect, accept, recv, send, epoll_ctl, epoll_wait, spawn,
 * pipe, pidfd_open) fails while one loop serves several
 * things at once. A victim (a new connection to an echo server, or a new
 * child) runs its whole exchange while bystanders that were set up before
 * the fault was armed (two connections of the same server and a `cat`
 * child, each with an echo of a byte pattern in flight) carry on.
 *
 * The seam counts every call of its kind, so the failure may land in a
 * bystander as well as in the victim. For every N at which it fired:
 * every task ends with 0 or a negative code (never anything else, never a
 * crash); one failure breaks at most one bystander; every other bystander
 * gets its bytes back complete and in order, during the fault and in one
 * more round afterwards; a fresh connection and a fresh child work on the
 * same loop; and once the run is over no fd, no child and no allocation
 * is left. N grows until a run completes without reaching the Nth call.
 * Most points must leave every bystander intact (counted and asserted).
 *
 * The loop is the default one (epoll here: the test is ONE_BACKEND). */
#include "../proc/proc_test.h"
#include "corio/sync.h"
#include "net_robust.h"

/* ---- the scene ---------------------------------------------------------- */

enum victim_kind { VICTIM_CONN, VICTIM_CHILD };

enum {
  NCONN = 2,           /* bystander connections */
  NBY = NCONN + 1,     /* and the bystander child */
  CHUNK = 1500,        /* bytes of one bystander round */
  VICTIM_ECHOES = 3,   /* echoes of the victim connection */
  GUARD_SECONDS = 30,  /* only against a hang: a correct run is far faster */
  BYSTANDER_ID0 = 100, /* pattern ids: bystander i uses BYSTANDER_ID0 + i */
};

struct bystander {
  corio_stream *out, *in; /* writes to out, reads its echo from in */
  corio_process *child;   /* the child bystander */
  uint64_t sent;          /* pattern offset reached */
  int rc;                 /* its round while the fault was armed */
  int post_rc;            /* its round afterwards (unarmed) */
};

struct scene {
  enum corio__fault_point point;
  long n; /* 0: not armed */
  enum victim_kind victim;
  int nby; /* bystanders in this scene: NBY, or NCONN without the child */
  int setup_rc;
  int victim_rc;
  int victim_cut_short; /* its child's input cut short (see victim_child) */
  int fired;
  int fresh_rc;
  struct bystander by[NBY];
  /* the armed window's tasks */
  int pending;
  corio_event all_done;
  corio_server *srv;
  struct echo_stats st;
};

static int reports;

static void count_reports(corio_loop *loop, const corio_loop_error *e,
                          void *arg) {
  (void)loop, (void)e, (void)arg;
  reports++;
}

/* One round of a bystander: CHUNK pattern bytes out, their echo back,
 * compared byte for byte (a wrong or missing byte is -EPROTO). */
static int bystander_round(struct bystander *b, uint64_t id) {
  unsigned char out[CHUNK], in[CHUNK];
  size_t got = 0;
  int rc;

  pattern_fill(out, CHUNK, id, b->sent);
  if ((rc = corio_stream_write_all(b->out, out, CHUNK)) < 0)
    return rc;
  if ((rc = corio_stream_readexactly(b->in, in, CHUNK, &got)) < 0)
    return rc;
  if (got != CHUNK || pattern_check(in, CHUNK, id, b->sent) != CHUNK)
    return -EPROTO;
  b->sent += CHUNK;
  return 0;
}

static const char *const cat_argv[] = {"cat", NULL};

static int start_cat(corio_process **p) {
  corio_proc_options o = stdio3(PIPE, PIPE, DEVNULL);

  return spawn_exec(cat_argv, &o, p);
}

/* The victim connection's whole conversation: connect, echoes,
 * half-close, the server's EOF, close. */
static int victim_connection(struct scene *sc) {
  corio_stream *s;
  int rc = corio_open_connection("127.0.0.1", corio_server_port(sc->srv), &s);

  return rc < 0 ? rc : echo_conversation(s, "victim", VICTIM_ECHOES);
}

/* The victim child: cat fed a line through communicate. A write to its
 * stdin failing with EPIPE (what the seam injects for send) is, as in
 * asyncio, no error: the child's stdin is closed and its output is what
 * it got, a prefix of the line; *cut_short says so. */
static int victim_child(int *cut_short) {
  corio_proc_output out = {0}, err = {0};
  corio_proc_options o = stdio3(PIPE, PIPE, PIPE);
  corio_process *p;
  int rc, code = -1;

  if ((rc = spawn_exec(cat_argv, &o, &p)) < 0)
    return rc;
  rc = communicate_guarded(p, "ping\n", 5, &out, &err, &code);
  if (rc == 0 && code == 0 && err.len == 0 && out.len < 5 &&
      memcmp(out.data, "ping\n", out.len) == 0)
    *cut_short = 1;
  else if (rc == 0 && (code != 0 || !out.data ||
                       strcmp(out.data, "ping\n") != 0 || err.len != 0))
    rc = -EPROTO;
  if (rc < 0) {
    /* Whatever failed, the child is ours to end. */
    (void)corio_process_kill(p);
    (void)wait_guarded(p, NULL);
  }
  corio_proc_output_free(&out);
  corio_proc_output_free(&err);
  corio_process_unref(p);
  return rc;
}

/* A window task: its work under a guard against hangs (the guard's own
 * timer may be the allocation that fails: then that is its error). */
struct job {
  struct scene *sc;
  int index; /* bystander index, or -1 for the victim */
};

static int guarded(struct job *j) {
  struct scene *sc = j->sc;
  corio_timeout guard;
  int rc;

  if ((rc = corio_timeout_enter(&guard, GUARD_SECONDS)) < 0)
    return rc;
  if (j->index < 0)
    rc = sc->victim == VICTIM_CONN ? victim_connection(sc)
                                   : victim_child(&sc->victim_cut_short);
  else
    rc = bystander_round(&sc->by[j->index], BYSTANDER_ID0 + (uint64_t)j->index);
  return corio_timeout_exit(&guard, rc);
}

static int window_task(void *arg, void **result) {
  struct job *j = arg;
  int rc = guarded(j);

  (void)result;
  if (j->index < 0)
    j->sc->victim_rc = rc;
  else
    j->sc->by[j->index].rc = rc;
  if (--j->sc->pending == 0)
    corio_event_set(&j->sc->all_done);
  return 0;
}

/* Before the fault: the server, two connections each with a first round
 * echoed (so their handlers run), a cat child with a first round too. */
static int setup(struct scene *sc) {
  int rc;

  if ((rc = corio_start_server(echo_handler, &sc->st, "127.0.0.1", 0, NULL,
                               &sc->srv)) < 0)
    return rc;
  for (int i = 0; i < NCONN; i++) {
    struct bystander *b = &sc->by[i];

    if ((rc = corio_open_connection("127.0.0.1", corio_server_port(sc->srv),
                                    &b->out)) < 0)
      return rc;
    b->in = b->out;
    if ((rc = bystander_round(b, BYSTANDER_ID0 + (uint64_t)i)) < 0)
      return rc;
  }
  if (sc->nby > NCONN) {
    struct bystander *b = &sc->by[NCONN];

    if ((rc = start_cat(&b->child)) < 0)
      return rc;
    b->out = corio_process_stdin(b->child);
    b->in = corio_process_stdout(b->child);
    if ((rc = bystander_round(b, BYSTANDER_ID0 + NCONN)) < 0)
      return rc;
  }
  return 0;
}

/* After the fault: a bystander that failed is dropped (its child killed);
 * the others end cleanly: a connection sees the server's EOF after its
 * own, the child exits 0 once its stdin is closed, with nothing more on
 * its stdout. Returns the first problem of an intact bystander. */
static int finish_bystander(struct bystander *b, int intact) {
  char extra[16];
  size_t n = 0;
  int rc = 0, code = -1;

  if (b->child) {
    if (!intact) {
      kill_and_drop(b->child);
      b->child = NULL;
      return 0;
    }
    rc = corio_stream_close(b->out);
    if (rc == 0)
      rc = read_to_eof(b->in, extra, sizeof extra, &n);
    if (rc == 0 && n != 0)
      rc = -EPROTO;
    if (rc == 0)
      rc = wait_guarded(b->child, &code);
    else
      (void)corio_process_kill(b->child), (void)wait_guarded(b->child, NULL);
    if (rc == 0 && code != 0)
      rc = -EPROTO;
    corio_process_unref(b->child);
    b->child = NULL;
    return rc;
  }
  if (!b->out)
    return 0;
  if (intact) {
    rc = corio_stream_write_eof(b->out);
    if (rc == 0)
      rc = corio_stream_read(b->in, extra, sizeof extra, &n);
    if (rc == 0 && n != 0)
      rc = -EPROTO;
    (void)corio_stream_close(b->out);
    if (rc == 0)
      rc = corio_stream_wait_closed(b->out);
  } else {
    (void)corio_stream_abort(b->out);
  }
  corio_stream_unref(b->out);
  b->out = b->in = NULL;
  return rc;
}

static int scene_body(void *arg, void **result) {
  struct scene *sc = arg;
  struct job jobs[NBY + 1];
  corio_task *tasks[NBY + 1];
  int ntasks = 0, rc;

  (void)result;
  reports = 0;
  corio_loop_set_exception_handler(corio_loop_running(), count_reports, NULL);
  corio_event_init(&sc->all_done);
  if ((sc->setup_rc = setup(sc)) < 0)
    goto out;
  /* The window: victim and bystanders at once, the fault armed. The
   * tasks exist before it is armed; their first step comes after. */
  for (int i = -1; i < sc->nby; i++) {
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
  /* Disarming resets what fired: read it first. */
  sc->fired = corio__fault_fired(sc->point);
  corio__fault_arm(sc->point, 0);
  for (int i = 0; i < ntasks; i++) {
    (void)corio_task_await(tasks[i], NULL);
    corio_task_unref(tasks[i]);
  }
  if (sc->setup_rc < 0)
    goto out;
  /* The survivors: one more round each, unarmed. */
  for (int i = 0; i < sc->nby; i++)
    if (sc->by[i].rc == 0)
      sc->by[i].post_rc =
          bystander_round(&sc->by[i], BYSTANDER_ID0 + (uint64_t)i);
  /* The same loop serves a fresh connection and a fresh child. */
  {
    enum victim_kind saved = sc->victim;

    sc->victim = VICTIM_CONN;
    sc->fresh_rc = victim_connection(sc);
    sc->victim = VICTIM_CHILD;
    /* (Not under Valgrind: there the bystander child's last round and
     * exit show the same, one spawn cheaper.) */
    if (sc->fresh_rc == 0 && !corio_test_under_valgrind()) {
      int cut_short = 0;

      sc->fresh_rc = victim_child(&cut_short);
      if (cut_short)
        sc->fresh_rc = -EPROTO;
    }
    sc->victim = saved;
  }
out:
  for (int i = 0; i < sc->nby; i++) {
    struct bystander *b = &sc->by[i];
    int intact = sc->setup_rc == 0 && b->rc == 0 && b->post_rc == 0;

    rc = finish_bystander(b, intact);
    if (intact && rc < 0)
      b->post_rc = rc;
  }
  if (sc->srv) {
    /* A victim that failed may leave its handler waiting for more. */
    (void)corio_server_close_clients(sc->srv);
    rc = server_finish(sc->srv);
    if (rc < 0 && sc->fresh_rc == 0)
      sc->fresh_rc = rc;
    corio_server_unref(sc->srv);
    sc->srv = NULL;
  }
  (void)corio_event_destroy(&sc->all_done);
  return 0;
}

/* ---- the walk ----------------------------------------------------------- */

static const char *point_name(enum corio__fault_point p) {
  switch (p) {
  case CORIO__FAULT_ALLOC:
    return "alloc";
  case CORIO__FAULT_SOCKET:
    return "socket";
  case CORIO__FAULT_ACCEPT:
    return "accept";
  case CORIO__FAULT_CONNECT:
    return "connect";
  case CORIO__FAULT_RECV:
    return "recv";
  case CORIO__FAULT_SEND:
    return "send";
  case CORIO__FAULT_EPOLL_CTL:
    return "epoll_ctl";
  case CORIO__FAULT_EPOLL_WAIT:
    return "epoll_wait";
  case CORIO__FAULT_SPAWN:
    return "spawn";
  case CORIO__FAULT_PIPE:
    return "pipe";
  case CORIO__FAULT_PIDFD:
    return "pidfd_open";
  default:
    return "?";
  }
}

/* Failures every layer absorbs by design, where everyone must succeed:
 * epoll_wait's (an EINTR: the loop polls again), accept's (the server
 * backs off and accepts later), pidfd_open's (a watcher thread takes
 * the child). */
static int absorbed(enum corio__fault_point p) {
  return p == CORIO__FAULT_EPOLL_WAIT || p == CORIO__FAULT_ACCEPT ||
         p == CORIO__FAULT_PIDFD;
}

/* Under Valgrind every spawn costs a fork of the whole emulator: the
 * connection walk there runs without the bystander child, which the
 * child walk still has. */
static int scene_bystanders(enum victim_kind victim) {
  return victim == VICTIM_CONN && corio_test_under_valgrind() ? NCONN : NBY;
}

struct tally {
  long walked;     /* points at which the fault fired */
  long intact;     /* ... and every bystander came through */
  long victim_hit; /* ... and the victim got the error */
  long bystander_hit;
};

static struct tally total;

#define WALK_FAIL(...)                                                         \
  do {                                                                         \
    print_error("%s/%s: failing call %ld: ", point_name(point),                \
                victim == VICTIM_CONN ? "conn" : "child", n);                  \
    print_error(__VA_ARGS__);                                                  \
    fail();                                                                    \
  } while (0)

/* Walks `point` with a victim of `kind`; returns its tally. (Every call,
 * even under Valgrind: the whole program takes some 20 s there.) */
static struct tally walk(enum corio__fault_point point,
                         enum victim_kind victim) {
  struct tally t = {0};

  for (long n = 1;; n++) {
    struct scene sc;
    corio_test_usage before;
    int fds, rc, leftovers, broken = 0;

    reset_checks(NULL);
    corio_test_release_pools();
    before = corio_test_usage_now();
    fds = open_fds();
    memset(&sc, 0, sizeof sc);
    sc.point = point;
    sc.n = n;
    sc.victim = victim;
    sc.nby = scene_bystanders(victim);
    sc.fresh_rc = 1;
    rc = corio_run(scene_body, &sc, NULL);
    corio__fault_arm(point, 0);
    leftovers = reap_leftovers();
    if (getenv("CORIO_TEST_WALK_TRACE"))
      fprintf(stderr,
              "walk %s/%s: call %ld fired %d setup %d victim %d "
              "bystanders %d %d %d / %d %d %d fresh %d\n",
              point_name(point), victim == VICTIM_CONN ? "conn" : "child", n,
              sc.fired, sc.setup_rc, sc.victim_rc, sc.by[0].rc, sc.by[1].rc,
              sc.by[2].rc, sc.by[0].post_rc, sc.by[1].post_rc, sc.by[2].post_rc,
              sc.fresh_rc);
    if (rc != 0 || sc.setup_rc != 0)
      WALK_FAIL("the run gave %d, its setup %d\n", rc, sc.setup_rc);
    assert_checks_passed();
    if (leftovers || !no_children())
      WALK_FAIL("a child was left\n");
    if (open_fds() != fds)
      WALK_FAIL("%d fds leaked\n", open_fds() - fds);
    corio_test_assert_no_leak(before);
    if (sc.fresh_rc != 0)
      WALK_FAIL("a fresh connection or child then failed: %d\n", sc.fresh_rc);
    if (sc.victim_rc > 0)
      WALK_FAIL("the victim gave %d\n", sc.victim_rc);
    for (int i = 0; i < NBY; i++) {
      if (sc.by[i].rc > 0 || sc.by[i].rc == -EPROTO)
        WALK_FAIL("bystander %d gave %d\n", i, sc.by[i].rc);
      /* Its server side may take the failure after echoing the
       * window's round: the next round then finds the connection closed
       * (a clean error, never wrong bytes). */
      if (sc.by[i].rc < 0 ||
          (sc.by[i].post_rc < 0 && sc.fired && sc.by[i].post_rc != -EPROTO))
        broken++;
      else if (sc.by[i].post_rc != 0)
        WALK_FAIL("bystander %d came through the fault but then failed: "
                  "%d\n",
                  i, sc.by[i].post_rc);
    }
    if (!sc.fired) {
      /* The Nth call was never reached: the walk is over, and this run
       * had nothing to fail. */
      if (sc.victim_rc != 0 || sc.victim_cut_short || broken)
        WALK_FAIL("nothing was injected, yet the victim gave %d and %d "
                  "bystanders broke\n",
                  sc.victim_rc, broken);
      return t;
    }
    t.walked++;
    /* One injected failure, one casualty at most. */
    if (broken > 1)
      WALK_FAIL("%d bystanders broke\n", broken);
    if (absorbed(point) && (sc.victim_rc != 0 || broken))
      WALK_FAIL("an absorbed failure showed: victim %d, %d bystanders "
                "broke\n",
                sc.victim_rc, broken);
    if (sc.victim_rc == -EPROTO)
      WALK_FAIL("the victim got wrong bytes\n");
    /* Only an injected EPIPE may cut a child's input short. */
    if (sc.victim_cut_short && point != CORIO__FAULT_SEND)
      WALK_FAIL("the victim child's input was cut short\n");

    if (!broken)
      t.intact++;
    if (sc.victim_rc < 0 || sc.victim_cut_short)
      t.victim_hit++;
    if (broken)
      t.bystander_hit++;
  }
}

static void report(const char *what, struct tally t) {
  print_message("  %-22s %3ld points, %3ld with every bystander intact, "
                "victim hit %ld, a bystander hit %ld\n",
                what, t.walked, t.intact, t.victim_hit, t.bystander_hit);
  total.walked += t.walked;
  total.intact += t.intact;
  total.victim_hit += t.victim_hit;
  total.bystander_hit += t.bystander_hit;
}

/* The whole scene once, unarmed: it works, and later runs compare. */
static void warm_up(void) {
  struct scene sc;

  memset(&sc, 0, sizeof sc);
  sc.point = CORIO__FAULT_COUNT - 1; /* never armed here */
  sc.victim = VICTIM_CONN;
  sc.nby = NBY;
  assert_int_equal(corio_run(scene_body, &sc, NULL), 0);
  assert_checks_passed();
  assert_int_equal(sc.setup_rc, 0);
  assert_int_equal(sc.victim_rc, 0);
  assert_int_equal(sc.fresh_rc, 0);
  for (int i = 0; i < NBY; i++) {
    assert_int_equal(sc.by[i].rc, 0);
    assert_int_equal(sc.by[i].post_rc, 0);
  }
  assert_int_equal(reap_leftovers(), 0);
}

/* A victim connection while two other connections and a child echo. */
static void test_walk_connection_victim(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_SOCKET,     CORIO__FAULT_CONNECT, CORIO__FAULT_ACCEPT,
      CORIO__FAULT_RECV,       CORIO__FAULT_SEND,    CORIO__FAULT_EPOLL_CTL,
      CORIO__FAULT_EPOLL_WAIT, CORIO__FAULT_ALLOC};
  struct tally t[sizeof points / sizeof points[0]];

  (void)state;
  warm_up();
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    t[i] = walk(points[i], VICTIM_CONN);
    report(point_name(points[i]), t[i]);
  }
  /* Only the victim makes sockets and connects: it takes each failure. */
  assert_true(t[0].walked >= 1 && t[0].victim_hit == t[0].walked);
  assert_true(t[1].walked >= 1 && t[1].victim_hit == t[1].walked);
  assert_true(t[2].walked >= 1); /* the victim's accept */
  /* Four sides read and write in the window: many of each. */
  assert_true(t[3].walked >= 8);
  assert_true(t[4].walked >= 8);
  assert_true(t[6].walked >= 1);
  assert_true(t[7].walked >= 2); /* the stream, the handler's task... */
}

/* A victim child while two connections and another child echo. */
static void test_walk_child_victim(void **state) {
  static const enum corio__fault_point points[] = {
      CORIO__FAULT_SPAWN,      CORIO__FAULT_PIPE, CORIO__FAULT_PIDFD,
      CORIO__FAULT_RECV,       CORIO__FAULT_SEND, CORIO__FAULT_EPOLL_CTL,
      CORIO__FAULT_EPOLL_WAIT, CORIO__FAULT_ALLOC};
  struct tally t[sizeof points / sizeof points[0]];

  (void)state;
  warm_up();
  /* Under Valgrind, where each spawn forks the emulator, the kinds the
   * connection walk covers already (recv, send, epoll) are left out. */
  int slow = corio_test_under_valgrind();

  memset(t, 0, sizeof t);
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    if (slow &&
        (points[i] == CORIO__FAULT_RECV || points[i] == CORIO__FAULT_SEND ||
         points[i] == CORIO__FAULT_EPOLL_CTL ||
         points[i] == CORIO__FAULT_EPOLL_WAIT))
      continue;
    t[i] = walk(points[i], VICTIM_CHILD);
    report(point_name(points[i]), t[i]);
  }
  /* Only the victim spawns and makes pipes: it takes each failure. */
  assert_true(t[0].walked == 1 && t[0].victim_hit == 1);
  assert_true(t[1].walked >= 3 && t[1].victim_hit == t[1].walked);
  assert_true(t[2].walked == 1);
  assert_true(slow || t[3].walked >= 4);
  assert_true(slow || t[4].walked >= 4);
  assert_true(t[7].walked >= 3);
}

/* Over both walks: most points leave every bystander intact, and each
 * failure that did break one was its own (checked point by point). */
static void test_most_points_spare_the_bystanders(void **state) {
  (void)state;
  print_message("  total: %ld points, %ld with every bystander intact\n",
                total.walked, total.intact);
  assert_true(total.walked >= 30);
  assert_true(total.intact * 2 > total.walked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_walk_connection_victim, reset_checks),
      cmocka_unit_test_setup(test_walk_child_victim, reset_checks),
      cmocka_unit_test_setup(test_most_points_spare_the_bystanders,
                             reset_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
