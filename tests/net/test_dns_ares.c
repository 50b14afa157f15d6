/* The c-ares resolver (docs/dns.md) against a real DNS server: dnsmasq,
 * started by the test on a free port of 127.0.0.1 with a hosts file of
 * its own (in a mkdtemp directory) and nothing upstream, so no query
 * leaves the machine. Names under .test that the file lacks are NXDOMAIN
 * (--local=/test/); a UDP socket the test binds and never reads is the
 * server that never answers.
 *
 * Cases: A and AAAA for each family, numeric ports, NXDOMAIN, no data,
 * the silent server (CORIO_EAIAGAIN after the per-try timeout), 1,000
 * lookups in flight from one thread (and no thread made), cancellation
 * and timeout scopes mid-flight, loops closed with lookups in flight,
 * reverse lookups, one loop on c-ares next to one on the system resolver
 * (two threads), corio_open_connection to a name only dnsmasq knows, the
 * selection calls' errors, and fault walks (channel creation, every
 * allocation, c-ares's sockets). Nothing may leak: corio's allocations are
 * counted, c-ares's own are left to ASan and Valgrind.
 *
 * Without dnsmasq, or in a build without c-ares, each case says why and
 * skips. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../thread/thread_test.h"
#include "net_test.h"

extern char **environ;

/* ---- the server -----------------------------------------------------------
 */

#define MANY 1000

static struct {
  pid_t pid;
  int port;
  char dir[64];
  char why[256]; /* why it could not start */
} dns = {.pid = -1};

static int write_hosts(const char *path) {
  FILE *f = fopen(path, "w");

  if (!f)
    return -1;
  fprintf(f, "127.0.0.1 both.test\n::1 both.test\n");
  fprintf(f, "127.0.0.2 v4.test\n::2 v6.test\n");
  for (int i = 0; i < MANY; i++)
    fprintf(f, "127.1.%d.%d n%d.test\n", i / 250, i % 250 + 1, i);
  return fclose(f);
}

/* A query for both.test's A record, answered within the patience: the
 * server is up. */
static int answers(int port) {
  static const unsigned char query[] = {
      0x12, 0x34, 1,   0, 0,   1,   0,   0,   0, 0, 0, 0, 4, 'b',
      'o',  't',  'h', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  unsigned char buf[512];

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    return 0;
  if (sendto(fd, query, sizeof query, 0, (struct sockaddr *)&sin, sizeof sin) ==
          (ssize_t)sizeof query &&
      poll(&p, 1, 200) == 1 && recv(fd, buf, sizeof buf, 0) > 3)
    ok = buf[0] == 0x12 && (buf[3] & 15) == 0;
  close(fd);
  return ok;
}

static int spawn_dnsmasq(int port) {
  char conf[32], hosts[96], portarg[32], log[96];
  char *argv[16];
  int n = 0, rc;
  posix_spawn_file_actions_t fa;

  snprintf(hosts, sizeof hosts, "--addn-hosts=%s/hosts", dns.dir);
  snprintf(portarg, sizeof portarg, "--port=%d", port);
  snprintf(log, sizeof log, "%s/log", dns.dir);
  snprintf(conf, sizeof conf, "--conf-file=/dev/null");
  argv[n++] = "dnsmasq";
  argv[n++] = "-k"; /* foreground: the test reaps it */
  argv[n++] = conf;
  argv[n++] = "--no-resolv";
  argv[n++] = "--no-hosts";
  argv[n++] = hosts;
  argv[n++] = "--listen-address=127.0.0.1";
  argv[n++] = "--bind-interfaces";
  argv[n++] = portarg;
  argv[n++] = "--pid-file=";
  argv[n++] = "--local=/test/";
  argv[n++] = "--cache-size=0";
  argv[n++] = "--log-facility=-";
  /* As root it would become "nobody", who cannot read our directory. */
  if (geteuid() == 0)
    argv[n++] = "--user=root";
  argv[n] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  rc = posix_spawnp(&dns.pid, "dnsmasq", &fa, NULL, argv, environ);
  if (rc != 0) /* root's PATH has sbin; others' may not */
    rc = posix_spawn(&dns.pid, "/usr/sbin/dnsmasq", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    dns.pid = -1;
    snprintf(dns.why, sizeof dns.why, "dnsmasq cannot be run: %s",
             strerror(rc));
  }
  return rc == 0 ? 0 : -1;
}

static void stop_dnsmasq(void) {
  if (dns.pid > 0) {
    kill(dns.pid, SIGTERM);
    waitpid(dns.pid, NULL, 0);
  }
  dns.pid = -1;
}

/* Waits (bounded) until dnsmasq answers, or it exited (the port was taken
 * meanwhile: the caller tries another). */
static int wait_answering(void) {
  for (int i = 0; i < 300; i++) {
    int status;

    if (waitpid(dns.pid, &status, WNOHANG) == dns.pid) {
      dns.pid = -1;
      snprintf(dns.why, sizeof dns.why, "dnsmasq exited (see %s/log)", dns.dir);
      return -1;
    }
    if (answers(dns.port))
      return 0;
  }
  snprintf(dns.why, sizeof dns.why, "dnsmasq never answered");
  stop_dnsmasq();
  return -1;
}

static int start_server(void **state) {
  char path[96];

  (void)state;
  if (!corio_resolver_ares_available()) {
    snprintf(dns.why, sizeof dns.why, "corio was built without c-ares");
    return 0;
  }
  snprintf(dns.dir, sizeof dns.dir, "/tmp/corio-dns-XXXXXX");
  snprintf(path, sizeof path, "%s/hosts", mkdtemp(dns.dir) ? dns.dir : "");
  if (!dns.dir[0] || write_hosts(path) != 0) {
    snprintf(dns.why, sizeof dns.why, "no hosts file in a temporary dir");
    return 0;
  }
  for (int attempt = 0; attempt < 5; attempt++) {
    dns.port = corio_test_free_port(SOCK_DGRAM);
    if (dns.port > 0 && spawn_dnsmasq(dns.port) == 0 && wait_answering() == 0)
      return 0;
    if (dns.pid < 0 && strstr(dns.why, "cannot be run"))
      break;
  }
  if (dns.pid < 0) {
    char log[96], line[200] = "";
    FILE *f;

    snprintf(log, sizeof log, "%s/log", dns.dir);
    if ((f = fopen(log, "r"))) {
      if (!fgets(line, sizeof line, f))
        line[0] = 0;
      fclose(f);
    }
    fprintf(stderr, "dnsmasq: %s %s\n", dns.why, line);
  }
  return 0;
}

static int stop_server(void **state) {
  char path[96];

  (void)state;
  stop_dnsmasq();
  if (dns.dir[0]) {
    snprintf(path, sizeof path, "%s/hosts", dns.dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/log", dns.dir);
    unlink(path);
    rmdir(dns.dir);
  }
  return 0;
}

#define NEED_SERVER()                                                          \
  do {                                                                         \
    if (dns.pid < 0) {                                                         \
      print_message("[  SKIPPED ] %s\n", dns.why);                             \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* ---- helpers ---------------------------------------------------------------
 */

static char servers[64];

/* The options every case starts from: dnsmasq only, no /etc/hosts. */
static corio_resolver_options server_options(void) {
  snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
  return (corio_resolver_options){.servers = servers,
                                  .flags = CORIO_RESOLVER_NO_HOSTS_FILE,
                                  .timeout = 5,
                                  .tries = 2};
}

static int use_server(void) {
  corio_resolver_options o = server_options();

  return corio_loop_use_ares(NULL, &o);
}

static struct addrinfo hints_for(int family) {
  struct addrinfo h;

  memset(&h, 0, sizeof h);
  h.ai_family = family;
  h.ai_socktype = SOCK_STREAM;
  return h;
}

/* The addresses of a result, "a b c" in order, into buf. */
static const char *addresses(const struct addrinfo *res, char *buf,
                             size_t size) {
  size_t used = 0;

  buf[0] = 0;
  for (; res && used < size; res = res->ai_next) {
    char one[80];

    corio_format_address(res->ai_addr, res->ai_addrlen, one, sizeof one);
    used +=
        (size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "", one);
  }
  return buf;
}

static int lookup(const char *host, const char *service, int family, char *buf,
                  size_t size) {
  struct addrinfo h = hints_for(family), *res = NULL;
  int rc = corio_getaddrinfo(host, service, &h, &res);

  if (rc == 0) {
    addresses(res, buf, size);
    corio_freeaddrinfo(res);
  } else {
    CHECK_PTR(res, NULL);
  }
  return rc;
}

/* A UDP socket that is never read: a server that never answers. */
static int silent_server(int *port) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

static int use_silent_capped(int port, double timeout, int tries, int cap) {
  corio_resolver_options o = {.servers = servers,
                              .flags = CORIO_RESOLVER_NO_HOSTS_FILE |
                                       CORIO_RESOLVER_NO_SEARCH,
                              .timeout = timeout,
                              .tries = tries,
                              .max_in_flight = cap};

  snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
  return corio_loop_use_ares(NULL, &o);
}

static int use_silent(int port, double timeout, int tries) {
  return use_silent_capped(port, timeout, tries, 0);
}

static void run_checked(corio_task_fn fn, void *arg) {
  corio_test_usage before = corio_test_usage_now();
  int fds = open_fds();

  assert_int_equal(run_main(fn, arg), 0);
  assert_checks_passed();
  assert_no_leak_soon(before);
  assert_int_equal(open_fds(), fds);
}

/* ---- answers ---------------------------------------------------------------
 */

static int families_main(void *arg, void **result) {
  char buf[256];

  (void)arg, (void)result;
  CHECK_EQ(use_server(), 0);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_ARES);
  CHECK_EQ(lookup("both.test", "80", AF_INET, buf, sizeof buf), 0);
  CHECK_STR(buf, "127.0.0.1:80");
  CHECK_EQ(lookup("both.test", "443", AF_INET6, buf, sizeof buf), 0);
  CHECK_STR(buf, "[::1]:443");
  /* Both families; RFC 6724 puts ::1 first, as glibc does. */
  CHECK_EQ(lookup("both.test", "7", AF_UNSPEC, buf, sizeof buf), 0);
  CHECK_STR(buf, "[::1]:7 127.0.0.1:7");
  CHECK_EQ(lookup("v4.test", NULL, AF_UNSPEC, buf, sizeof buf), 0);
  CHECK_STR(buf, "127.0.0.2:0");
  /* An AAAA question for a name with only an A record. */
  CHECK_EQ(lookup("v4.test", NULL, AF_INET6, buf, sizeof buf), CORIO_EAINODATA);
  /* NXDOMAIN, with c-ares's text as the message. */
  CHECK_EQ(lookup("nx.test", "80", AF_UNSPEC, buf, sizeof buf),
           CORIO_EAINONAME);
  CHECK_TRUE(corio_fail_message(CORIO_EAINONAME) &&
             strstr(corio_fail_message(CORIO_EAINONAME), "nx.test"));
  /* An empty name, as glibc. */
  CHECK_EQ(lookup("", "80", AF_UNSPEC, buf, sizeof buf), CORIO_EAINONAME);
  /* Numeric hosts never reach c-ares. */
  CHECK_EQ(lookup("10.0.0.1", "53", AF_UNSPEC, buf, sizeof buf), 0);
  CHECK_STR(buf, "10.0.0.1:53");
  return 0;
}

static void test_families(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(families_main, NULL);
}

/* Canonical names and the layout freeaddrinfo expects (glibc frees each
 * node and its ai_canonname with free(): ASan and Valgrind would see a
 * mismatch). */
static int canonname_main(void *arg, void **result) {
  struct addrinfo h = hints_for(AF_UNSPEC), *res = NULL;

  (void)arg, (void)result;
  CHECK_EQ(use_server(), 0);
  h.ai_flags = AI_CANONNAME;
  CHECK_EQ(corio_getaddrinfo("both.test", "http", &h, &res), 0);
  if (res) {
    CHECK_STR(res->ai_canonname, "both.test");
    CHECK_EQ(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    CHECK_EQ(res->ai_socktype, SOCK_STREAM);
#ifdef __GLIBC__
    freeaddrinfo(res);
#else
    corio_freeaddrinfo(res);
#endif
  }
  corio_freeaddrinfo(NULL);
  return 0;
}

static void test_canonname(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(canonname_main, NULL);
}

/* The hosts file, when c-ares is told to read it (the default). */
static int hosts_file_main(void *arg, void **result) {
  corio_resolver_options o = server_options();
  char buf[128];

  (void)arg, (void)result;
  o.flags = 0;
  CHECK_EQ(corio_loop_use_ares(NULL, &o), 0);
  CHECK_EQ(lookup("localhost", "1", AF_INET, buf, sizeof buf), 0);
  CHECK_STR(buf, "127.0.0.1:1");
  return 0;
}

static void test_hosts_file(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(hosts_file_main, NULL);
}

/* ---- the silent server ------------------------------------------------------
 */

static int silent_main(void *arg, void **result) {
  int port, fd = silent_server(&port);
  char buf[64];

  (void)arg, (void)result;
  CHECK_TRUE(fd >= 0);
  CHECK_EQ(use_silent(port, 0.05, 1), 0);
  CHECK_EQ(lookup("both.test", NULL, AF_INET, buf, sizeof buf), CORIO_EAIAGAIN);
  CHECK_TRUE(corio_fail_message(CORIO_EAIAGAIN) &&
             strstr(corio_fail_message(CORIO_EAIAGAIN), "both.test"));
  /* The loop can go back to the system resolver once nothing is in
   * flight. */
  CHECK_EQ(corio_loop_use_system_resolver(NULL), 0);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_SYSTEM);
  close(fd);
  return 0;
}

static void test_silent_server(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(silent_main, NULL);
}

/* ---- many in flight
 * ---------------------------------------------------------- */

struct many {
  int done, failed, in_flight, peak;
};

struct probe {
  struct many *m;
  int i;
};

static int one_of_many(void *arg, void **result) {
  struct probe *p = arg;
  char name[32], buf[64], want[64];
  int rc;

  (void)result;
  snprintf(name, sizeof name, "n%d.test", p->i);
  snprintf(want, sizeof want, "127.1.%d.%d:0", p->i / 250, p->i % 250 + 1);
  if (++p->m->in_flight > p->m->peak)
    p->m->peak = p->m->in_flight;
  rc = lookup(name, NULL, AF_INET, buf, sizeof buf);
  p->m->in_flight--;
  if (rc != 0 || strcmp(buf, want) != 0) {
    if (!p->m->failed++)
      fprintf(stderr, "first failure: %s: %s %s\n", name, corio_err_name(rc),
              rc ? corio_fail_message(rc) : buf);
  }
  p->m->done++;
  return 0;
}

static int many_main(void *arg, void **result) {
  static corio_task *tasks[MANY];
  static struct probe probes[MANY];
  struct many m = {0};
  int threads = count_entries("/proc/self/task");

  corio_resolver_options o = server_options();

  (void)arg, (void)result;
  /* A datagram dropped in the burst (a socket buffer full, on either
   * side) is sent again after the per-try timeout. */
  o.timeout = 1;
  o.tries = 5;
  CHECK_EQ(corio_loop_use_ares(NULL, &o), 0);
  for (int i = 0; i < MANY; i++) {
    probes[i] = (struct probe){&m, i};
    CHECK_EQ(corio_spawn(&tasks[i], one_of_many, &probes[i]), 0);
  }
  for (int i = 0; i < MANY; i++) {
    CHECK_EQ(corio_task_await(tasks[i], NULL), 0);
    corio_task_unref(tasks[i]);
  }
  CHECK_EQ(m.done, MANY);
  CHECK_EQ(m.failed, 0);
  /* Every task was in its lookup (with c-ares, or in line behind the
   * default max_in_flight) before the first answer was read: the answers
   * can only arrive in a later loop iteration. */
  CHECK_EQ(m.peak, MANY);
  /* And no thread was made for them. */
  CHECK_EQ(count_entries("/proc/self/task"), threads);
  return 0;
}

static void test_many(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(many_main, NULL);
}

static int lookup_task(void *arg, void **result);

/* ---- the cap on lookups in flight
 * --------------------------------------------- */

/* The test plays the server here: it reads the queries that reach a UDP
 * socket of its own and answers them when it chooses, so what c-ares has
 * outstanding at any moment is exactly what the socket received and the
 * test has not answered. */

#define CAPPED 1000
#define CAP 10

struct query {
  unsigned char buf[512];
  int len, end; /* end: where the question ends */
  struct sockaddr_storage from;
  socklen_t from_len;
  char name[64];
};

/* The name a query asks for ("q7.test"); sets q->end, or returns -1. */
static int parse_question(struct query *q) {
  size_t used = 0;
  int at = 12;

  if (q->len < 12)
    return -1;
  while (at < q->len && q->buf[at]) {
    int n = q->buf[at++];

    if (n > 63 || at + n > q->len || used + (size_t)n + 2 > sizeof q->name)
      return -1;
    if (used)
      q->name[used++] = '.';
    memcpy(q->name + used, q->buf + at, (size_t)n);
    used += (size_t)n;
    at += n;
  }
  q->name[used] = 0;
  q->end = at + 1 + 4; /* the root label, then type and class */
  return q->end <= q->len ? 0 : -1;
}

/* Every query waiting at fd, appended to qs (at most max in all). */
static int take_queries(int fd, struct query *qs, int have, int max) {
  while (have < max) {
    struct query *q = &qs[have];
    ssize_t n;

    q->from_len = sizeof q->from;
    n = recvfrom(fd, q->buf, sizeof q->buf, MSG_DONTWAIT,
                 (struct sockaddr *)&q->from, &q->from_len);
    if (n < 0)
      break;
    q->len = (int)n;
    if (parse_question(q) < 0)
      return -1;
    have++;
  }
  return have;
}

/* One A record for q's name, "qI.test": 127.9.I/250.I%250+1. */
static int answer_query(int fd, const struct query *q) {
  static const unsigned char record[] = {0xc0, 12, 0, 1,  0, 1,
                                         0,    0,  0, 60, 0, 4};
  unsigned char r[sizeof q->buf + sizeof record + 4];
  int i = atoi(q->name + 1);
  unsigned char addr[4] = {127, 9, (unsigned char)(i / 250),
                           (unsigned char)(i % 250 + 1)};
  size_t len = (size_t)q->end;

  memcpy(r, q->buf, len);
  r[2] = 0x81;                     /* a response, recursion desired */
  r[3] = 0x80;                     /* recursion available, no error */
  r[6] = 0, r[7] = 1;              /* one answer */
  r[8] = r[9] = r[10] = r[11] = 0; /* nothing else (no EDNS echoed) */
  memcpy(r + len, record, sizeof record);
  memcpy(r + len + sizeof record, addr, sizeof addr);
  len += sizeof record + sizeof addr;
  return sendto(fd, r, len, 0, (const struct sockaddr *)&q->from,
                q->from_len) == (ssize_t)len
             ? 0
             : -1;
}

static int capped_lookup(void *arg, void **result) {
  int i = (int)(intptr_t)arg, rc;
  char name[32], buf[64], want[64];

  (void)result;
  snprintf(name, sizeof name, "q%d.test", i);
  snprintf(want, sizeof want, "127.9.%d.%d:0", i / 250, i % 250 + 1);
  rc = lookup(name, NULL, AF_INET, buf, sizeof buf);
  if (rc == 0 && strcmp(buf, want) != 0)
    rc = -EPROTO;
  return rc;
}

/* A lookup that waits in line longer than its timeout scope. */
static int late_lookup(void *arg, void **result) {
  corio_timeout scope;
  char buf[64];
  int rc;

  (void)arg, (void)result;
  if ((rc = corio_timeout_enter(&scope, 0.05)) < 0)
    return rc;
  rc = lookup("late.test", NULL, AF_INET, buf, sizeof buf);
  return corio_timeout_exit(&scope, rc);
}

static int cancelled_band(int i) { return i >= 500 && i < 600; }

/* Waits until at least one more query than have is at fd (they reach it
 * through the kernel's backlog, which may run a little later than the
 * send), letting the loop run meanwhile; returns how many there are then
 * (or have, after a bound that is only a sanity stop). */
static int wait_queries(int fd, struct query *qs, int have, int max) {
  for (int i = 0; i < 20000; i++) {
    int n = take_queries(fd, qs, have, max);

    if (n != have)
      return n;
    if ((i < 10 ? yield_n(1) : corio_sleep(0.001)) < 0)
      break;
  }
  return have;
}

/* Checks that held[from..to) ask for the next names in the order the
 * lookups started (the cancelled ones skipped). */
static void check_order(const struct query *held, int from, int to, int *next) {
  for (int i = from; i < to; i++) {
    char want[32];

    while (cancelled_band(*next))
      (*next)++;
    snprintf(want, sizeof want, "q%d.test", (*next)++);
    CHECK_STR(held[i].name, want);
  }
}

/* 1,000 lookups started at once with max_in_flight 10: the server never
 * has more than 10 queries it has not answered, they come in the order
 * the lookups started, a lookup cancelled or timed out while it waits in
 * line never sends one, one cancelled with its query out has its answer
 * freed, and every other lookup gets its answer. */
static int cap_main(void *arg, void **result) {
  static corio_task *tasks[CAPPED];
  static struct query held[CAPPED];
  corio_task *late;
  int port, fd = silent_server(&port), next = 0, answered = 0, n = 0;

  (void)arg, (void)result;
  CHECK_TRUE(fd >= 0);
  CHECK_EQ(use_silent_capped(port, 30, 1, CAP), 0);
  for (int i = 0; i < CAPPED; i++)
    CHECK_EQ(corio_spawn(&tasks[i], capped_lookup, (void *)(intptr_t)i), 0);
  CHECK_EQ(corio_spawn(&late, late_lookup, NULL), 0);
  /* The first ten come; the rest wait in line, the last one until its
   * scope times out (and still no more come). */
  while (n < CAP && !failed.line) {
    int more = wait_queries(fd, held, n, CAPPED);

    CHECK_TRUE(more > n); /* else none came within the sanity bound */
    CHECK_TRUE(more <= CAP);
    n = more;
  }
  CHECK_EQ(corio_task_await(late, NULL), -ETIMEDOUT);
  corio_task_unref(late);
  CHECK_EQ(take_queries(fd, held, n, CAPPED), CAP);
  check_order(held, 0, n, &next);
  /* Cancelled while waiting in line. */
  for (int i = 500; i < 600; i++)
    CHECK_EQ(corio_task_cancel(tasks[i], NULL), 1);
  for (int i = 500; i < 600; i++) {
    CHECK_EQ(corio_task_await(tasks[i], NULL), -ECANCELED);
    corio_task_unref(tasks[i]);
  }
  /* Cancelled with its query out: the answer that comes later is freed
   * by c-ares's callback (ASan and Valgrind see it), and its place in
   * line is given up only then. */
  CHECK_EQ(corio_task_cancel(tasks[3], NULL), 1);
  CHECK_EQ(corio_task_await(tasks[3], NULL), -ECANCELED);
  corio_task_unref(tasks[3]);
  CHECK_EQ(corio_loop_use_system_resolver(NULL), -EBUSY);
  CHECK_EQ(take_queries(fd, held, n, CAPPED), CAP);
  /* Answer what came; more come as the answers free the line, never more
   * than ten unanswered. */
  while (n > 0 && !failed.line) {
    for (int i = 0; i < n; i++)
      CHECK_EQ(answer_query(fd, &held[i]), 0);
    answered += n;
    n = answered < CAPPED - 100 ? wait_queries(fd, held, 0, CAPPED) : 0;
    CHECK_TRUE(n <= CAP);
    check_order(held, 0, n, &next);
  }
  CHECK_EQ(answered, CAPPED - 100);
  for (int i = 0; i < CAPPED && !failed.line; i++) {
    if (cancelled_band(i) || i == 3)
      continue;
    CHECK_EQ(corio_task_await(tasks[i], NULL), 0);
    corio_task_unref(tasks[i]);
  }
  CHECK_EQ(yield_n(3), 0);
  CHECK_EQ(take_queries(fd, held, 0, CAPPED), 0);
  CHECK_EQ(corio_loop_use_system_resolver(NULL), 0);
  close(fd);
  return 0;
}

static void test_cap(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(cap_main, NULL);
}

/* The receive buffer of c-ares's UDP socket is the one corio asks for (4
 * MiB, within net.core.rmem_max): c-ares sets none on sockets opened
 * through socket functions, and the default drops answers to a burst.
 * Looked at while a lookup waits on the silent server (c-ares closes its
 * sockets once no query is left). */
static int rcvbuf_main(void *arg, void **result) {
  int port, fd = silent_server(&port), found = -1, size = 0;
  socklen_t len = sizeof size;
  long rmem_max = -1;
  corio_task *t;
  FILE *f;

  (void)arg, (void)result;
  CHECK_TRUE(fd >= 0);
  CHECK_EQ(use_silent(port, 30, 1), 0);
  CHECK_EQ(corio_spawn(&t, lookup_task, "both.test"), 0);
  CHECK_EQ(yield_n(3), 0);
  for (int s = 3; s < 1024 && found < 0; s++) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int type = 0;
    socklen_t tlen = sizeof type;

    if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
        type == SOCK_DGRAM &&
        getpeername(s, (struct sockaddr *)&peer, &plen) == 0 &&
        peer.sin_family == AF_INET && ntohs(peer.sin_port) == port)
      found = s;
  }
  CHECK_TRUE(found >= 0);
  CHECK_EQ(getsockopt(found, SOL_SOCKET, SO_RCVBUF, &size, &len), 0);
  if ((f = fopen("/proc/sys/net/core/rmem_max", "r"))) {
    if (fscanf(f, "%ld", &rmem_max) != 1)
      rmem_max = -1;
    fclose(f);
  }
  if (rmem_max > 0) {
    long want = rmem_max < (4 << 20) ? rmem_max : (4 << 20);

    /* The kernel doubles what it grants (bookkeeping). */
    CHECK_TRUE(size >= 2 * want);
  } else {
    print_message("net.core.rmem_max unknown: size %d not checked\n", size);
  }
  CHECK_EQ(corio_task_cancel(t, NULL), 1);
  CHECK_EQ(corio_task_await(t, NULL), -ECANCELED);
  corio_task_unref(t);
  close(fd);
  return 0;
}

static void test_receive_buffer(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(rcvbuf_main, NULL);
}

/* ---- cancellation, timeouts, closing
 * ----------------------------------------- */

static int lookup_task(void *arg, void **result) {
  char buf[64];

  (void)result;
  return lookup(arg, NULL, AF_INET, buf, sizeof buf);
}

/* Lookups the silent server never answers (a long per-try timeout), then
 * cancelled: each returns -ECANCELED at once; c-ares still holds its
 * query, whose end (here: the loop's close) frees what is left. */
static int cancel_main(void *arg, void **result) {
  corio_task *t[10];
  int port, fd = silent_server(&port);
  void *value;

  (void)arg, (void)result;
  CHECK_TRUE(fd >= 0);
  CHECK_EQ(use_silent(port, 30, 1), 0);
  for (int i = 0; i < 10; i++)
    CHECK_EQ(corio_spawn(&t[i], lookup_task, "both.test"), 0);
  CHECK_EQ(yield_n(3), 0);
  for (int i = 0; i < 10; i++) {
    CHECK_EQ(corio_task_done(t[i]), 0);
    CHECK_EQ(corio_task_cancel(t[i], NULL), 1);
  }
  for (int i = 0; i < 10; i++) {
    CHECK_EQ(corio_task_await(t[i], &value), -ECANCELED);
    CHECK_TRUE(corio_task_cancelled(t[i]));
    corio_task_unref(t[i]);
  }
  /* Lookups c-ares has not finished: the loop cannot switch now. */
  CHECK_EQ(corio_loop_use_system_resolver(NULL), -EBUSY);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_ARES);
  close(fd);
  return 0;
}

static void test_cancel(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(cancel_main, NULL);
}

/* A timeout scope around a lookup: -ETIMEDOUT at the scope's exit; the
 * same loop then answers from dnsmasq. */
static int timeout_main(void *arg, void **result) {
  int port, fd = silent_server(&port);
  corio_timeout scope;
  char buf[64];
  int rc;

  (void)arg, (void)result;
  CHECK_TRUE(fd >= 0);
  CHECK_EQ(use_silent(port, 30, 1), 0);
  CHECK_EQ(corio_timeout_enter(&scope, 0.05), 0);
  rc = lookup("both.test", NULL, AF_INET, buf, sizeof buf);
  CHECK_EQ(rc, -ECANCELED);
  CHECK_EQ(corio_timeout_exit(&scope, rc), -ETIMEDOUT);
  CHECK_TRUE(corio_timeout_expired(&scope));
  close(fd);
  return 0;
}

static void test_timeout_scope(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(timeout_main, NULL);
}

/* A run whose main task returns while 50 lookups wait on the silent
 * server (8 with c-ares, 42 in line): corio_run cancels them and closes
 * the loop, whose channel calls the 8 back with ARES_EDESTRUCTION. */
static int leave_in_flight_main(void *arg, void **result) {
  int *port = arg;

  (void)result;
  CHECK_EQ(use_silent_capped(*port, 30, 1, 8), 0);
  for (int i = 0; i < 50; i++) {
    corio_task *t;

    CHECK_EQ(corio_spawn(&t, lookup_task, "both.test"), 0);
    corio_task_unref(t);
  }
  return yield_n(3);
}

static void test_close_in_flight(void **state) {
  int port, fd;

  (void)state;
  NEED_SERVER();
  fd = silent_server(&port);
  assert_true(fd >= 0);
  run_checked(leave_in_flight_main, &port);
  close(fd);
}

/* The same with a loop closed under tasks that still wait (no runner to
 * cancel them first: the loop closes them), 3 with c-ares and 17 in
 * line. */
static int start_lookups(void *arg) {
  for (int i = 0; i < 20; i++) {
    corio_task *t;

    if (corio_spawn(&t, lookup_task, arg) < 0)
      return -ENOMEM;
    corio_task_unref(t);
  }
  return 0;
}

static void quiet(corio_loop *loop, const corio_loop_error *e, void *arg) {
  (void)loop, (void)e, (void)arg;
}

static void test_loop_close(void **state) {
  corio_test_usage before = corio_test_usage_now();
  int fds = open_fds(), port, fd = silent_server(&port);
  corio_loop *loop;

  (void)state;
  NEED_SERVER();
  assert_true(fd >= 0);
  assert_int_equal(corio_loop_create(&loop), 0);
  /* Its tasks are destroyed pending, as they should be: not reported. */
  corio_loop_set_exception_handler(loop, quiet, NULL);
  corio_loop_set_current(loop);
  snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
  assert_int_equal(
      corio_loop_use_ares(
          loop, &(corio_resolver_options){.servers = servers,
                                          .flags = CORIO_RESOLVER_NO_HOSTS_FILE,
                                          .timeout = 30,
                                          .max_in_flight = 3}),
      0);
  assert_int_equal(corio_loop_call_soon(loop, start_lookups, "both.test", NULL),
                   0);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(corio_loop_call_soon(loop, corio_loop_stop_cb, loop, NULL),
                     0);
    assert_int_equal(corio_loop_run_forever(loop), 0);
  }
  assert_int_equal(corio_loop_close(loop), 0);
  corio_loop_set_current(NULL);
  corio_loop_unref(loop);
  close(fd);
  assert_no_leak_soon(before);
  assert_int_equal(open_fds(), fds);
}

/* ---- reverse lookups
 * ---------------------------------------------------------- */

static int nameinfo_main(void *arg, void **result) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(22)};
  char host[64], service[32], tiny[4];

  (void)arg, (void)result;
  CHECK_EQ(use_server(), 0);
  inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                             sizeof host, service, sizeof service, 0),
           0);
  CHECK_STR(host, "v4.test");
  CHECK_STR(service, "http");
  inet_pton(AF_INET6, "::2", &sin6.sin6_addr);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin6, sizeof sin6, host,
                             sizeof host, NULL, 0, NI_NAMEREQD),
           0);
  CHECK_STR(host, "v6.test");
  /* A name that does not fit the caller's buffer. */
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, tiny,
                             sizeof tiny, NULL, 0, 0),
           -ENOBUFS);
  /* An address nobody names: the number, unless a name is required. */
  inet_pton(AF_INET, "127.0.0.99", &sin.sin_addr);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                             sizeof host, NULL, 0, 0),
           0);
  CHECK_STR(host, "127.0.0.99");
  CHECK_TRUE(corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                               sizeof host, NULL, 0, NI_NAMEREQD) < 0);
  return 0;
}

/* The address sizes and families glibc's getnameinfo takes, taken the
 * same way with c-ares: a whole sockaddr_storage holding an IPv4 address,
 * one too short for its family, and a Unix socket's (glibc's answer: c-ares
 * knows IP addresses only). */
static int nameinfo_sizes_main(void *arg, void **result) {
  struct sockaddr_storage ss;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/x/y"};
  char host[64], service[32], want_host[64] = "", want_service[32] = "";

  (void)arg, (void)result;
  CHECK_EQ(use_server(), 0);
  memset(&ss, 0, sizeof ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(80);
  inet_pton(AF_INET, "127.0.0.2", &sin->sin_addr);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&ss, sizeof ss, host,
                             sizeof host, service, sizeof service, 0),
           0);
  CHECK_STR(host, "v4.test");
  CHECK_STR(service, "http");
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&ss,
                             sizeof(struct sockaddr_in) - 1, host, sizeof host,
                             NULL, 0, 0),
           CORIO_EAIFAMILY);
  CHECK_EQ(getnameinfo((struct sockaddr *)&sun, sizeof sun, want_host,
                       sizeof want_host, want_service, sizeof want_service, 0),
           0);
  CHECK_EQ(corio_getnameinfo((struct sockaddr *)&sun, sizeof sun, host,
                             sizeof host, service, sizeof service, 0),
           0);
  CHECK_STR(host, want_host);
  CHECK_STR(service, want_service);
  return 0;
}

static void test_nameinfo_sizes(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(nameinfo_sizes_main, NULL);
}

static void test_nameinfo(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(nameinfo_main, NULL);
}

/* ---- two loops, two resolvers
 * -------------------------------------------------- */

struct side {
  int use_ares;
  int rc, resolver;
  char answer[128];
};

static int side_main(void *arg, void **result) {
  struct side *s = arg;

  (void)result;
  if (s->use_ares && (s->rc = use_server()) < 0)
    return 0;
  s->resolver = corio_loop_resolver(NULL);
  /* The system side asks /etc/hosts only: no query leaves the machine. */
  s->rc = lookup(s->use_ares ? "v4.test" : "localhost", "9", AF_INET, s->answer,
                 sizeof s->answer);
  return 0;
}

static void *side_thread(void *arg) {
  (void)corio_run(side_main, arg, NULL);
  return NULL;
}

static void test_two_loops(void **state) {
  struct side a = {.use_ares = 1}, b = {.use_ares = 0};
  pthread_t ta, tb;

  (void)state;
  NEED_SERVER();
  assert_int_equal(pthread_create(&ta, NULL, side_thread, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, side_thread, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.rc, 0);
  assert_int_equal(a.resolver, CORIO_RESOLVER_ARES);
  assert_string_equal(a.answer, "127.0.0.2:9");
  assert_int_equal(b.rc, 0);
  assert_int_equal(b.resolver, CORIO_RESOLVER_SYSTEM);
  assert_string_equal(b.answer, "127.0.0.1:9");
}

/* ---- connecting by a name only dnsmasq knows
 * ------------------------------------ */

static int greet(corio_stream *s, void *arg) {
  (void)arg;
  return corio_stream_write(s, "hi\n", 3);
}

static int connect_main(void *arg, void **result) {
  corio_server *srv;
  corio_stream *s;
  char line[8] = {0};
  size_t n;

  (void)arg, (void)result;
  CHECK_EQ(use_server(), 0);
  CHECK_EQ(corio_start_server(greet, NULL, "127.0.0.1", 0, NULL, &srv), 0);
  /* v4.test is 127.0.0.2, where nobody listens. */
  CHECK_EQ(corio_open_connection("v4.test", corio_server_port(srv), &s),
           -ECONNREFUSED);
  /* both.test: ::1 first (refused), then 127.0.0.1. */
  s = NULL;
  CHECK_EQ(corio_open_connection("both.test", corio_server_port(srv), &s), 0);
  if (s) {
    CHECK_EQ(corio_stream_readline(s, line, sizeof line - 1, &n), 0);
    CHECK_STR(line, "hi\n");
    corio_stream_unref(s);
  }
  s = NULL;
  CHECK_EQ(corio_open_connection("nx.test", corio_server_port(srv), &s),
           CORIO_EAINONAME);
  CHECK_PTR(s, NULL);
  CHECK_EQ(corio_server_close(srv), 0);
  CHECK_EQ(corio_server_wait_closed(srv), 0);
  corio_server_unref(srv);
  return 0;
}

static void test_open_connection(void **state) {
  (void)state;
  NEED_SERVER();
  run_checked(connect_main, NULL);
}

/* ---- choosing: errors and the environment
 * --------------------------------------- */

static int choose_main(void *arg, void **result) {
  corio_resolver_options o = server_options();

  (void)arg, (void)result;
  o.timeout = -1;
  CHECK_EQ(corio_loop_use_ares(NULL, &o), -EINVAL);
  o = server_options();
  o.tries = -1;
  CHECK_EQ(corio_loop_use_ares(NULL, &o), -EINVAL);
  o = server_options();
  o.flags = 1u << 20;
  CHECK_EQ(corio_loop_use_ares(NULL, &o), -EINVAL);
  o = server_options();
  o.servers = "not a server";
  CHECK_EQ(corio_loop_use_ares(NULL, &o), -EINVAL);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_SYSTEM);
  /* Replacing a channel, and going back and forth. */
  CHECK_EQ(use_server(), 0);
  CHECK_EQ(use_server(), 0);
  CHECK_EQ(corio_loop_use_system_resolver(NULL), 0);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_SYSTEM);
  CHECK_EQ(use_server(), 0);
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_ARES);
  return 0;
}

static int env_main(void *arg, void **result) {
  char buf[64];

  (void)arg, (void)result;
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_ARES);
  /* Default options: /etc/hosts first, so no query leaves the machine. */
  CHECK_EQ(lookup("localhost", "5", AF_INET, buf, sizeof buf), 0);
  CHECK_STR(buf, "127.0.0.1:5");
  CHECK_EQ(corio_loop_resolver(NULL), CORIO_RESOLVER_ARES);
  return 0;
}

static void test_choose(void **state) {
  (void)state;
  NEED_SERVER();
  assert_int_equal(corio_resolver_ares_available(), 1);
  assert_int_equal(corio_loop_use_ares(NULL, NULL), -EINVAL); /* no loop */
  assert_int_equal(corio_loop_use_system_resolver(NULL), -EINVAL);
  assert_int_equal(corio_loop_resolver(NULL), -EINVAL);
  run_checked(choose_main, NULL);
  setenv("CORIO_RESOLVER", "ares", 1);
  run_checked(env_main, NULL);
  unsetenv("CORIO_RESOLVER");
}

/* Without c-ares in the build, choosing it says so. */
static void test_without_ares(void **state) {
  corio_loop *loop;

  (void)state;
  if (corio_resolver_ares_available()) {
    print_message("[  SKIPPED ] c-ares is built in\n");
    skip();
  }
  assert_int_equal(corio_loop_create(&loop), 0);
  assert_int_equal(corio_loop_use_ares(loop, NULL), -ENOTSUP);
  assert_int_equal(corio_loop_resolver(loop), CORIO_RESOLVER_SYSTEM);
  corio_loop_unref(loop);
}

/* ---- fault walks
 * ------------------------------------------------------------------ */

/* The first error of a short session: choose c-ares, look names up both
 * ways, an NXDOMAIN. Every failure must come back as an error. */
static int fault_main(void *arg, void **result) {
  struct addrinfo h = hints_for(AF_UNSPEC), *res = NULL;
  struct sockaddr_in sin = {.sin_family = AF_INET};
  corio_resolver_options o = server_options();
  char host[64];
  int rc;

  (void)arg, (void)result;
  o.timeout = 0.5;
  o.tries = 1;
  if ((rc = corio_loop_use_ares(NULL, &o)) < 0)
    return rc;
  if ((rc = corio_getaddrinfo("both.test", "80", &h, &res)) < 0)
    return rc;
  corio_freeaddrinfo(res);
  res = NULL;
  if ((rc = corio_getaddrinfo("nx.test", NULL, &h, &res)) != CORIO_EAINONAME)
    return rc < 0 ? rc : -EPROTO;
  inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
  return corio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host,
                           sizeof host, NULL, 0, NI_NAMEREQD);
}

static int fault_op(void *ctx) {
  int fds = open_fds(), rc = run_main(fault_main, ctx);

  assert_int_equal(open_fds(), fds);
  return rc;
}

static void test_fault_walks(void **state) {
  (void)state;
  NEED_SERVER();
  assert_true(corio_test_fault_walk(CORIO__FAULT_ARES, fault_op, NULL,
                                    corio_test_negative) >= 1);
  /* A socket c-ares wanted only to sort addresses may fail unseen. */
  assert_true(corio_test_fault_walk(CORIO__FAULT_SOCKET, fault_op, NULL,
                                    corio_test_negative_or_tolerated) >= 1);
  assert_true(corio_test_fault_walk(CORIO__FAULT_ALLOC, fault_op, NULL,
                                    corio_test_negative_or_tolerated) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_families, reset_checks),
      cmocka_unit_test_setup(test_canonname, reset_checks),
      cmocka_unit_test_setup(test_hosts_file, reset_checks),
      cmocka_unit_test_setup(test_silent_server, reset_checks),
      cmocka_unit_test_setup(test_many, reset_checks),
      cmocka_unit_test_setup(test_cap, reset_checks),
      cmocka_unit_test_setup(test_receive_buffer, reset_checks),
      cmocka_unit_test_setup(test_cancel, reset_checks),
      cmocka_unit_test_setup(test_timeout_scope, reset_checks),
      cmocka_unit_test_setup(test_close_in_flight, reset_checks),
      cmocka_unit_test_setup(test_loop_close, reset_checks),
      cmocka_unit_test_setup(test_nameinfo, reset_checks),
      cmocka_unit_test_setup(test_nameinfo_sizes, reset_checks),
      cmocka_unit_test_setup(test_two_loops, reset_checks),
      cmocka_unit_test_setup(test_open_connection, reset_checks),
      cmocka_unit_test_setup(test_choose, reset_checks),
      cmocka_unit_test_setup(test_without_ares, reset_checks),
      cmocka_unit_test_setup(test_fault_walks, reset_checks),
  };
  return cmocka_run_group_tests(tests, start_server, stop_server);
}
