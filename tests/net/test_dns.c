/* Name resolution: corio_getaddrinfo and corio_getnameinfo on the default
 * executor and, for numeric hosts, at once; the resolver's errors as
 * corio codes with its text as the task's message; a lookup whose task is
 * cancelled while it is queued, or answered but not yet delivered, or
 * whose job a shutdown drops (nothing leaks: run under ASan or Valgrind);
 * corio_gai_error's table; and the address helpers (corio_format_address,
 * Unix socket names, corio__net_resolve).
 *
 * The network is never used: names come from /etc/hosts ("localhost"),
 * and every failure is one the resolver finds on its own (a numeric-only
 * lookup of a name, a service missing from /etc/services, a bad family). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/un.h>

#include "../task/task_check.h"
#include "../thread/thread_test.h"
#include "corio/net.h"
#include "net/address.h"

static struct addrinfo stream_hints(int flags, int family) {
  struct addrinfo hints;

  memset(&hints, 0, sizeof hints);
  hints.ai_flags = flags;
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  return hints;
}

static int is_loopback(const struct addrinfo *ai) {
  if (ai->ai_family == AF_INET) {
    const struct sockaddr_in *sin = (const void *)ai->ai_addr;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (ai->ai_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
  }
  return 0;
}

static void check_address(const struct addrinfo *ai, const char *want) {
  char text[128];

  CHECK_STR(
      corio_format_address(ai->ai_addr, ai->ai_addrlen, text, sizeof text),
      want);
}

/* Runs main_fn as corio_run's main task and checks what it recorded and
 * that nothing leaked (a pool thread may still be letting go). */
static void run_checked(corio_task_fn main_fn, void *arg) {
  corio_test_usage before = corio_test_usage_now();

  assert_int_equal(run_main(main_fn, arg), 0);
  assert_checks_passed();
  assert_no_leak_soon(before);
}

/* ---- resolving ----------------------------------------------------------- */

static int resolve_main(void *arg, void **result) {
  struct addrinfo hints = stream_hints(0, AF_UNSPEC), *res = NULL;
  int n = 0;

  (void)arg;
  (void)result;
  /* A name from /etc/hosts, on the executor. */
  CHECK_EQ(corio_getaddrinfo("localhost", NULL, &hints, &res), 0);
  CHECK_TRUE(res != NULL);
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next, n++) {
    CHECK_TRUE(is_loopback(ai));
    CHECK_EQ(ai->ai_socktype, SOCK_STREAM);
  }
  CHECK_TRUE(n > 0);
  if (res)
    freeaddrinfo(res);

  /* Numeric hosts and services, at once. */
  res = NULL;
  CHECK_EQ(corio_getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
  if (res) {
    CHECK_EQ(res->ai_family, AF_INET);
    check_address(res, "127.0.0.1:80");
    CHECK_PTR(res->ai_next, NULL);
    freeaddrinfo(res);
  }
  res = NULL;
  CHECK_EQ(corio_getaddrinfo("::1", "8080", &hints, &res), 0);
  if (res) {
    CHECK_EQ(res->ai_family, AF_INET6);
    check_address(res, "[::1]:8080");
    freeaddrinfo(res);
  }
  /* A service alone: the wildcard address. */
  res = NULL;
  hints = stream_hints(AI_PASSIVE, AF_INET);
  CHECK_EQ(corio_getaddrinfo(NULL, "7", &hints, &res), 0);
  if (res) {
    check_address(res, "0.0.0.0:7");
    freeaddrinfo(res);
  }
  return 0;
}

static void test_resolve(void **state) {
  (void)state;
  run_checked(resolve_main, NULL);
}

/* Numeric lookups never reach the executor: its one thread never starts. */
static int numeric_main(void *arg, void **result) {
  corio_executor *ex = arg;
  struct addrinfo hints = stream_hints(0, AF_UNSPEC), *res = NULL;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(443)};
  char host[64], service[16];

  (void)result;
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), ex), 0);
  CHECK_EQ(corio_getaddrinfo("10.1.2.3", "443", &hints, &res), 0);
  if (res)
    freeaddrinfo(res);
  res = NULL;
  CHECK_EQ(corio_getaddrinfo("fe80::1", NULL, &hints, &res), 0);
  if (res)
    freeaddrinfo(res);
  hints = stream_hints(AI_NUMERICHOST, AF_UNSPEC);
  CHECK_EQ(corio_getaddrinfo("localhost", "1", &hints, &res), CORIO_EAINONAME);
  CHECK_PTR(res, NULL);
  inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                             sizeof host, service, sizeof service,
                             NI_NUMERICHOST | NI_NUMERICSERV),
           0);
  CHECK_STR(host, "10.1.2.3");
  CHECK_STR(service, "443");
  CHECK_EQ(corio_executor_threads(ex), 0);
  return 0;
}

static void test_numeric_needs_no_thread(void **state) {
  corio_test_usage before = corio_test_usage_now();
  corio_executor *ex;
  (void)state;

  assert_int_equal(corio_executor_create(&ex, 1), 0);
  assert_int_equal(run_main(numeric_main, ex), 0);
  assert_int_equal(corio_executor_free(ex), 0);
  assert_checks_passed();
  corio_test_assert_no_leak(before);
}

/* corio__net_resolve: what connect and start_server ask for. */
static int net_resolve_main(void *arg, void **result) {
  struct addrinfo *res = NULL;

  (void)arg;
  (void)result;
  CHECK_EQ(corio__net_resolve("127.0.0.1", 8080, AF_UNSPEC, 0, &res), 0);
  if (res) {
    check_address(res, "127.0.0.1:8080");
    CHECK_EQ(res->ai_socktype, SOCK_STREAM);
    CHECK_PTR(res->ai_next, NULL);
    freeaddrinfo(res);
  }
  res = NULL;
  CHECK_EQ(corio__net_resolve("localhost", 65535, AF_INET, 0, &res), 0);
  if (res) {
    check_address(res, "127.0.0.1:65535");
    freeaddrinfo(res);
  }
  /* The wildcard addresses, from NULL or "". */
  res = NULL;
  CHECK_EQ(corio__net_resolve(NULL, 0, AF_INET, 1, &res), 0);
  if (res) {
    check_address(res, "0.0.0.0:0");
    freeaddrinfo(res);
  }
  res = NULL;
  CHECK_EQ(corio__net_resolve("", 99, AF_INET6, 1, &res), 0);
  if (res) {
    check_address(res, "[::]:99");
    freeaddrinfo(res);
  }
  /* And loopback without passive. */
  res = NULL;
  CHECK_EQ(corio__net_resolve(NULL, 1, AF_INET, 0, &res), 0);
  if (res) {
    check_address(res, "127.0.0.1:1");
    freeaddrinfo(res);
  }
  res = NULL;
  CHECK_EQ(corio__net_resolve("127.0.0.1", -1, AF_UNSPEC, 0, &res), -EINVAL);
  CHECK_EQ(corio__net_resolve("127.0.0.1", 65536, AF_UNSPEC, 0, &res), -EINVAL);
  CHECK_EQ(corio__net_resolve("127.0.0.1", 80, AF_UNSPEC, 0, NULL), -EINVAL);
  CHECK_PTR(res, NULL);
  CHECK_EQ(corio__net_resolve("::1", 80, AF_INET, 0, &res), CORIO_EAIFAMILY);
  return 0;
}

static void test_net_resolve(void **state) {
  (void)state;
  run_checked(net_resolve_main, NULL);
}

/* ---- errors and their messages ------------------------------------------- */

struct lookup {
  const char *host, *service;
  struct addrinfo hints;
  int rc;
  struct addrinfo *res;
};

/* A task body that returns corio_getaddrinfo's outcome: its message
 * becomes the task's. */
static int lookup_body(void *arg, void **result) {
  struct lookup *l = arg;

  (void)result;
  l->res = NULL;
  l->rc = corio_getaddrinfo(l->host, l->service, &l->hints, &l->res);
  if (l->res)
    freeaddrinfo(l->res);
  l->res = NULL;
  return l->rc;
}

static void check_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    check_str(text ? text : "(null)", part, "the message", __FILE__, __LINE__);
}

/* The lookup as a task of its own: it ends with error, and its message
 * holds what was looked up and the resolver's text. */
static void check_lookup_fails(const char *host, const char *service,
                               struct addrinfo hints, int error,
                               const char *what, int eai) {
  struct lookup l = {host, service, hints, 1, NULL};
  corio_task *t = NULL;

  CHECK_EQ(corio_spawn(&t, lookup_body, &l), 0);
  if (!t)
    return;
  CHECK_EQ(corio_task_await(t, NULL), error);
  CHECK_EQ(l.rc, error);
  check_contains(corio_task_message(t), what);
  check_contains(corio_task_message(t), gai_strerror(eai));
  corio_task_unref(t);
}

static int errors_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* At once: a name where only a number will do. */
  check_lookup_fails("localhost", NULL, stream_hints(AI_NUMERICHOST, 0),
                     CORIO_EAINONAME, "localhost", EAI_NONAME);
  check_lookup_fails("127.0.0.1", "http", stream_hints(AI_NUMERICSERV, 0),
                     CORIO_EAINONAME, "127.0.0.1, service http", EAI_NONAME);
  check_lookup_fails("127.0.0.1", NULL, stream_hints(0, 12345), CORIO_EAIFAMILY,
                     "127.0.0.1", EAI_FAMILY);
  check_lookup_fails("::1", NULL, stream_hints(0, AF_INET), CORIO_EAIFAMILY,
                     "::1", EAI_ADDRFAMILY);
  /* On the executor: a service /etc/services does not list. */
  check_lookup_fails("localhost", "corio-no-such-service",
                     stream_hints(0, AF_UNSPEC), CORIO_EAISERVICE,
                     "localhost, service corio-no-such-service", EAI_SERVICE);
  check_lookup_fails(NULL, "corio-no-such-service", stream_hints(0, AF_UNSPEC),
                     CORIO_EAISERVICE, "service corio-no-such-service",
                     EAI_SERVICE);
  {
    struct addrinfo bad_type = stream_hints(0, AF_UNSPEC);

    bad_type.ai_socktype = 12345;
    check_lookup_fails("localhost", "80", bad_type, CORIO_EAISERVICE,
                       "localhost", EAI_SOCKTYPE);
    bad_type = stream_hints(0xffff, AF_UNSPEC);
    check_lookup_fails("localhost", NULL, bad_type, -EINVAL, "localhost",
                       EAI_BADFLAGS);
  }
  return 0;
}

static void test_errors_and_messages(void **state) {
  (void)state;
  run_checked(errors_main, NULL);
}

/* ---- getnameinfo --------------------------------------------------------- */

static int nameinfo_main(void *arg, void **result) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
                              .sin6_port = htons(8080)};
  struct sockaddr_in bad;
  char host[NI_MAXHOST], service[NI_MAXSERV], small[4];

  (void)arg;
  (void)result;
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  sin6.sin6_addr = in6addr_loopback;
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                             sizeof host, service, sizeof service,
                             NI_NUMERICHOST | NI_NUMERICSERV),
           0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_STR(service, "80");
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin6, sizeof sin6, host,
                             sizeof host, NULL, 0,
                             NI_NUMERICHOST | NI_NUMERICSERV),
           0);
  CHECK_STR(host, "::1");
  /* The service's name on the executor ("http", or "80" without
   * /etc/services). */
  service[0] = 0;
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                             sizeof host, service, sizeof service,
                             NI_NUMERICHOST),
           0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_TRUE(strcmp(service, "http") == 0 || strcmp(service, "80") == 0);
  /* Too small a buffer: -ENOBUFS, at once or on the executor. */
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, small,
                             sizeof small, NULL, 0, NI_NUMERICHOST),
           -ENOBUFS);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, NULL, 0,
                             small, 2, 0),
           -ENOBUFS);
  /* An unknown family. */
  bad = sin;
  bad.sin_family = AF_APPLETALK;
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&bad, sizeof bad, host,
                             sizeof host, NULL, 0, NI_NUMERICHOST),
           CORIO_EAIFAMILY);
  /* Bad input. */
  CHECK_EQ(corio_getnameinfo(NULL, sizeof sin, host, sizeof host, NULL, 0, 0),
           -EINVAL);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, NULL, 0, NULL,
                             0, 0),
           -EINVAL);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, 1, host, sizeof host,
                             NULL, 0, 0),
           -EINVAL);
  return 0;
}

static void test_getnameinfo(void **state) {
  (void)state;
  run_checked(nameinfo_main, NULL);
}

/* ---- misuse -------------------------------------------------------------- */

struct from_callback {
  int rc, rc_nameinfo;
  corio_loop *loop;
};

static int lookup_in_callback(void *arg) {
  struct from_callback *c = arg;
  struct addrinfo *res = NULL;
  struct sockaddr_in sin = {.sin_family = AF_INET};
  char host[64];

  c->rc = corio_getaddrinfo("127.0.0.1", NULL, NULL, &res);
  c->rc_nameinfo = corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                                     sizeof host, NULL, 0, NI_NUMERICHOST);
  return corio_loop_stop(c->loop);
}

static int misuse_main(void *arg, void **result) {
  struct addrinfo *res = CORIO_PTR(1);

  (void)arg;
  (void)result;
  CHECK_EQ(corio_getaddrinfo("localhost", NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(corio_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
  CHECK_PTR(res, NULL);
  return 0;
}

static void test_misuse(void **state) {
  corio_test_usage before = corio_test_usage_now();
  struct from_callback c = {1, 1, NULL};
  struct sockaddr_in sin = {.sin_family = AF_INET};
  struct addrinfo *res = NULL;
  char host[64];
  (void)state;

  /* Not in a task. */
  assert_int_equal(corio_getaddrinfo("127.0.0.1", NULL, NULL, &res),
                   CORIO_ENOTASK);
  assert_null(res);
  assert_int_equal(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                                     sizeof host, NULL, 0, NI_NUMERICHOST),
                   CORIO_ENOTASK);
  assert_int_equal(corio_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
  assert_int_equal(run_main(misuse_main, NULL), 0);
  assert_checks_passed();
  /* A loop's callback is not a task either. */
  assert_int_equal(corio_loop_create(&c.loop), 0);
  assert_int_equal(corio_loop_call_soon(c.loop, lookup_in_callback, &c, NULL),
                   0);
  assert_int_equal(corio_loop_run_forever(c.loop), 0);
  assert_int_equal(c.rc, CORIO_ENOTASK);
  assert_int_equal(c.rc_nameinfo, CORIO_ENOTASK);
  assert_int_equal(corio_loop_close(c.loop), 0);
  corio_loop_unref(c.loop);
  corio_test_assert_no_leak(before);
}

/* ---- cancellation ---------------------------------------------------------
 * The default executor is one thread, held by a gated job, so that the
 * lookup is queued behind it; a job queued after the lookup shows when
 * the lookup has run. */

struct cancel_case {
  corio_executor *ex;
  struct gate gate;
  atomic_int held; /* the pool thread has taken the gated job */
  corio_future *hold;
  struct lookup lookup;
  corio_task *task;
};

static int wait_gate(void *arg, void **result) {
  struct cancel_case *c = arg;

  (void)result;
  atomic_store(&c->held, 1);
  return gate_wait(&c->gate);
}

static int raise_flag(void *arg, void **result) {
  (void)result;
  atomic_store((atomic_int *)arg, 1);
  return 0;
}

/* Makes ex the default executor, holds its thread and starts a lookup
 * of "localhost" that waits behind it. */
static void start_held_lookup(struct cancel_case *c) {
  c->gate = (struct gate)GATE_INIT;
  atomic_init(&c->held, 0);
  c->lookup = (struct lookup){"localhost", NULL, stream_hints(0, 0), 1, NULL};
  c->hold = NULL;
  c->task = NULL;
  CHECK_EQ(corio_loop_set_default_executor(corio_loop_current(), c->ex), 0);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, wait_gate, c, &c->hold), 0);
  CHECK_EQ(corio_spawn(&c->task, lookup_body, &c->lookup), 0);
  /* Its first step submits the lookup and waits. */
  CHECK_EQ(corio_sleep(0), 0);
  CHECK_EQ(c->lookup.rc, 1);
}

static void finish_case(struct cancel_case *c, int want) {
  if (c->task) {
    CHECK_EQ(corio_task_await(c->task, NULL), want);
    CHECK_EQ(c->lookup.rc, want);
    corio_task_unref(c->task);
  }
  if (c->hold) {
    CHECK_EQ(corio_future_await(c->hold, NULL), 0);
    corio_future_unref(c->hold);
  }
}

/* Cancelled while queued: the task returns at once; the lookup still runs
 * later, and the pool thread frees its answer. */
static int cancel_queued_main(void *arg, void **result) {
  struct cancel_case *c = arg;
  corio_future *after = NULL;
  atomic_int ran;

  (void)result;
  atomic_init(&ran, 0);
  start_held_lookup(c);
  CHECK_EQ(corio_task_cancel(c->task, NULL), 1);
  CHECK_EQ(corio_task_await(c->task, NULL), -ECANCELED);
  CHECK_EQ(c->lookup.rc, -ECANCELED);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, raise_flag, &ran, &after), 0);
  gate_open(&c->gate);
  if (after) {
    CHECK_EQ(corio_future_await(after, NULL), 0);
    corio_future_unref(after);
  }
  CHECK_EQ(atomic_load(&ran), 1);
  finish_case(c, -ECANCELED);
  return 0;
}

/* Cancelled after the pool thread answered, before the answer reached the
 * loop (which this task blocks meanwhile): the task frees it. */
static int cancel_answered_main(void *arg, void **result) {
  struct cancel_case *c = arg;
  corio_future *after = NULL;
  atomic_int ran;

  (void)result;
  atomic_init(&ran, 0);
  start_held_lookup(c);
  CHECK_EQ(corio_run_in_executor(NULL, NULL, raise_flag, &ran, &after), 0);
  gate_open(&c->gate);
  CHECK_TRUE(thread_wait_flag(&ran, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_task_cancel(c->task, NULL), 1);
  if (after) {
    CHECK_EQ(corio_future_await(after, NULL), 0);
    corio_future_unref(after);
  }
  finish_case(c, -ECANCELED);
  return 0;
}

/* A shutdown that cancels pending jobs drops the queued lookup: the task,
 * still waiting, gets -ECANCELED and frees the request. */
static int dropped_by_shutdown_main(void *arg, void **result) {
  struct cancel_case *c = arg;

  (void)result;
  start_held_lookup(c);
  /* Only the lookup is pending: the gated job runs already. */
  CHECK_TRUE(task_wait_flag(&c->held, 1, THREAD_TEST_PATIENCE_S));
  CHECK_EQ(corio_executor_shutdown(c->ex, CORIO_EXECUTOR_NOWAIT |
                                              CORIO_EXECUTOR_CANCEL_PENDING),
           0);
  gate_open(&c->gate);
  finish_case(c, -ECANCELED);
  return 0;
}

static void run_cancel_case(corio_task_fn main_fn) {
  corio_test_usage before = corio_test_usage_now();
  struct cancel_case c;

  memset(&c, 0, sizeof c);
  assert_int_equal(corio_executor_create(&c.ex, 1), 0);
  assert_int_equal(run_main(main_fn, &c), 0);
  assert_int_equal(corio_executor_free(c.ex), 0);
  assert_checks_passed();
  assert_no_leak_soon(before);
}

static void test_cancel_while_queued(void **state) {
  (void)state;
  run_cancel_case(cancel_queued_main);
}

static void test_cancel_after_answer(void **state) {
  (void)state;
  run_cancel_case(cancel_answered_main);
}

static void test_dropped_by_shutdown(void **state) {
  (void)state;
  run_cancel_case(dropped_by_shutdown_main);
}

/* ---- out of memory ------------------------------------------------------- */

/* Every allocation of a run with a lookup on the executor, a failing one
 * and a numeric one fails in turn: each comes back as -ENOMEM, or is
 * tolerated (a message that cannot be formatted is dropped). */
static int walked_lookups(void *arg, void **result) {
  struct addrinfo hints = stream_hints(0, AF_UNSPEC), *res = NULL;
  int rc;

  (void)arg;
  (void)result;
  rc = corio_getaddrinfo("localhost", NULL, &hints, &res);
  if (res)
    freeaddrinfo(res);
  if (rc < 0)
    return rc;
  rc = corio_getaddrinfo("localhost", "corio-no-such-service", &hints, &res);
  if (rc != CORIO_EAISERVICE)
    return rc < 0 ? rc : -ENOTRECOVERABLE;
  rc = corio_getaddrinfo("127.0.0.1", "1", &hints, &res);
  if (res)
    freeaddrinfo(res);
  return rc;
}

static void out_of_memory_or_tolerated(int rc) {
  if (rc != 0 && rc != -ENOMEM)
    print_error("unexpected rc %d (%s)\n", rc, corio_strerror(rc));
  assert_true(rc == 0 || rc == -ENOMEM);
}

static void test_out_of_memory(void **state) {
  (void)state;
  assert_true(walk_run(CORIO__FAULT_ALLOC, walked_lookups,
                       out_of_memory_or_tolerated) > 0);
}

/* ---- corio_gai_error ----------------------------------------------------- */

static void test_gai_error(void **state) {
  (void)state;
  assert_int_equal(corio_gai_error(0), 0);
  assert_int_equal(corio_gai_error(EAI_NONAME), CORIO_EAINONAME);
  assert_int_equal(corio_gai_error(EAI_AGAIN), CORIO_EAIAGAIN);
  assert_int_equal(corio_gai_error(EAI_FAIL), CORIO_EAIFAIL);
  assert_int_equal(corio_gai_error(EAI_NODATA), CORIO_EAINODATA);
  assert_int_equal(corio_gai_error(EAI_FAMILY), CORIO_EAIFAMILY);
  assert_int_equal(corio_gai_error(EAI_ADDRFAMILY), CORIO_EAIFAMILY);
  assert_int_equal(corio_gai_error(EAI_SERVICE), CORIO_EAISERVICE);
  assert_int_equal(corio_gai_error(EAI_SOCKTYPE), CORIO_EAISERVICE);
  assert_int_equal(corio_gai_error(EAI_MEMORY), -ENOMEM);
  assert_int_equal(corio_gai_error(EAI_BADFLAGS), -EINVAL);
  assert_int_equal(corio_gai_error(EAI_OVERFLOW), -ENOBUFS);
  assert_int_equal(corio_gai_error(EAI_INTR), CORIO_EAIOTHER);
  assert_int_equal(corio_gai_error(-12345), CORIO_EAIOTHER);
  /* EAI_SYSTEM: errno says what happened. */
  errno = EMFILE;
  assert_int_equal(corio_gai_error(EAI_SYSTEM), -EMFILE);
  errno = 0;
  assert_int_equal(corio_gai_error(EAI_SYSTEM), CORIO_EAIOTHER);
  /* Every code corio gives has a description. */
  assert_string_equal(corio_err_name(CORIO_EAINODATA), "CORIO_EAINODATA");
}

/* ---- corio_format_address ------------------------------------------------ */

static const char *format(const void *addr, socklen_t len) {
  static char buf[160];

  memset(buf, 'x', sizeof buf);
  return corio_format_address(addr, len, buf, sizeof buf);
}

static void test_format_address(void **state) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  struct sockaddr_storage other = {.ss_family = AF_APPLETALK};
  socklen_t len;
  char small[6] = "zzzzz";
  (void)state;

  inet_pton(AF_INET, "1.2.3.4", &sin.sin_addr);
  assert_string_equal(format(&sin, sizeof sin), "1.2.3.4:80");
  sin6.sin6_addr = in6addr_loopback;
  assert_string_equal(format(&sin6, sizeof sin6), "[::1]:443");
  inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
  sin6.sin6_scope_id = 2;
  assert_string_equal(format(&sin6, sizeof sin6), "[fe80::1%2]:443");
  /* Unix: a path, an abstract name, unnamed. */
  assert_int_equal(corio__net_unix_address("/tmp/corio.sock", &sun, &len), 0);
  assert_string_equal(format(&sun, len), "/tmp/corio.sock");
  assert_string_equal(format(&sun, sizeof sun), "/tmp/corio.sock");
  assert_int_equal(corio__net_unix_address("@corio-test", &sun, &len), 0);
  assert_string_equal(format(&sun, len), "@corio-test");
  assert_string_equal(
      format(&sun, (socklen_t)offsetof(struct sockaddr_un, sun_path)), "");
  /* Unknown, short or absent addresses. */
  assert_string_equal(format(&other, sizeof other), "?");
  assert_string_equal(format(&sin, sizeof sin - 1), "?");
  assert_string_equal(format(&sin, 1), "?");
  assert_string_equal(format(NULL, 0), "?");
  /* Cut to fit, always terminated; a size of 0 writes nothing. */
  assert_ptr_equal(corio_format_address((struct sockaddr *)&sin, sizeof sin,
                                        small, sizeof small),
                   small);
  assert_string_equal(small, "1.2.3");
  assert_int_equal(corio__net_unix_address("@abstract", &sun, &len), 0);
  assert_string_equal(
      corio_format_address((struct sockaddr *)&sun, len, small, sizeof small),
      "@abst");
  small[0] = 'z';
  corio_format_address((struct sockaddr *)&sin, sizeof sin, small, 0);
  assert_int_equal(small[0], 'z');
  assert_null(
      corio_format_address((struct sockaddr *)&sin, sizeof sin, NULL, 10));
}

/* ---- Unix socket names --------------------------------------------------- */

static void test_unix_address(void **state) {
  const socklen_t base = (socklen_t)offsetof(struct sockaddr_un, sun_path);
  struct sockaddr_un sun;
  char path[sizeof sun.sun_path + 2];
  socklen_t len = 0;
  (void)state;

  assert_int_equal(corio__net_unix_address("/run/x", &sun, &len), 0);
  assert_int_equal(sun.sun_family, AF_UNIX);
  assert_string_equal(sun.sun_path, "/run/x");
  assert_int_equal(len, base + 7); /* with its NUL */
  /* Abstract: a leading NUL, exactly the name's bytes. */
  assert_int_equal(corio__net_unix_address("@name", &sun, &len), 0);
  assert_int_equal(sun.sun_path[0], 0);
  assert_memory_equal(sun.sun_path + 1, "name", 4);
  assert_int_equal(len, base + 5);
  /* The longest of each: a path leaves room for its NUL. */
  memset(path, 'p', sizeof path);
  path[sizeof sun.sun_path - 1] = 0;
  assert_int_equal(corio__net_unix_address(path, &sun, &len), 0);
  assert_int_equal(len, base + sizeof sun.sun_path);
  path[sizeof sun.sun_path - 1] = 'p';
  path[sizeof sun.sun_path] = 0;
  assert_int_equal(corio__net_unix_address(path, &sun, &len), -ENAMETOOLONG);
  path[0] = '@';
  assert_int_equal(corio__net_unix_address(path, &sun, &len), 0);
  assert_int_equal(len, base + sizeof sun.sun_path);
  path[sizeof sun.sun_path] = 'p';
  path[sizeof sun.sun_path + 1] = 0;
  assert_int_equal(corio__net_unix_address(path, &sun, &len), -ENAMETOOLONG);
  /* Bad input. */
  assert_int_equal(corio__net_unix_address(NULL, &sun, &len), -EINVAL);
  assert_int_equal(corio__net_unix_address("", &sun, &len), -EINVAL);
  assert_int_equal(corio__net_unix_address("/x", NULL, &len), -EINVAL);
  assert_int_equal(corio__net_unix_address("/x", &sun, NULL), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_resolve, reset_checks),
      cmocka_unit_test_setup(test_numeric_needs_no_thread, reset_checks),
      cmocka_unit_test_setup(test_net_resolve, reset_checks),
      cmocka_unit_test_setup(test_errors_and_messages, reset_checks),
      cmocka_unit_test_setup(test_getnameinfo, reset_checks),
      cmocka_unit_test_setup(test_misuse, reset_checks),
      cmocka_unit_test_setup(test_cancel_while_queued, reset_checks),
      cmocka_unit_test_setup(test_cancel_after_answer, reset_checks),
      cmocka_unit_test_setup(test_dropped_by_shutdown, reset_checks),
      cmocka_unit_test_setup(test_out_of_memory, reset_checks),
      cmocka_unit_test(test_gai_error),
      cmocka_unit_test(test_format_address),
      cmocka_unit_test(test_unix_address),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
